package api

import (
	"bytes"
	_ "embed"
	"io/fs"
	"net/http"

	"github.com/heimdall/edged/api/schema"
)

// OpenAPIDocument is the OpenAPI 3.1 document of this API, served at
// /api/v1/openapi.json. Its schemas refer to schema/NAME, served beside it.
//
//go:embed openapi.json
var OpenAPIDocument []byte

// AsyncAPIDocument is the AsyncAPI 3 document of edged's MQTT topics, served at
// /api/v1/asyncapi.json. Its payloads refer to schema/NAME, served beside it.
//
//go:embed asyncapi.json
var AsyncAPIDocument []byte

// document serves a file's bytes as JSON (writeBody adds the final newline).
func document(b []byte) http.HandlerFunc {
	b = bytes.TrimRight(b, "\n")
	return func(w http.ResponseWriter, r *http.Request) { writeBody(w, http.StatusOK, b) }
}

// schemaFile answers GET /api/v1/schema/{name} with one file of api/schema.
func schemaFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	b, err := fs.ReadFile(schema.FS, name)
	if err != nil {
		writeError(w, errf(http.StatusNotFound, codeNotFound, "no schema "+name+" (the names are in /api/v1/openapi.json)"))
		return
	}
	writeBody(w, http.StatusOK, bytes.TrimRight(b, "\n"))
}
