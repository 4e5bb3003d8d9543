// Package schema holds the JSON Schemas (draft 2020-12) of everything edged sends and
// accepts: the fix (a GeoJSON Feature) and its collection, the MQTT availability and model
// messages, the predict and batch bodies and answers, the model answers, the probes' bodies
// and the error body. The files are the reference; this package only embeds them, so
// that the HTTP API can serve them under /api/v1/schema/ and tests can validate against
// exactly what is served.
//
// Schemas refer to each other by relative file name ("fix.json"), so they resolve the same
// way from this folder, from the OpenAPI document one level up, and over HTTP.
//
// They are written for draft 2020-12 and read correctly, if less strictly, as draft-07 (the
// AsyncAPI document's schema format): a tuple is prefixItems beside items of the common
// type and maxItems, never items: false, and unevaluatedProperties is only a tightening.
package schema

import "embed"

// FS holds every schema file, by its base name.
//
//go:embed *.json
var FS embed.FS
