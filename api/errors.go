package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// These errors may be wrapped by a ModelManager to choose the response status.
var (
	// ErrNoRollback means there is no previous model to roll back to (409).
	ErrNoRollback = errors.New("no previous model to roll back to")
	// ErrBusy means another reload or rollback is in progress (409).
	ErrBusy = errors.New("a model change is already in progress")
	// ErrUnknownVersion means the version to activate is not installed (404).
	ErrUnknownVersion = errors.New("model version not installed")
)

// Error codes of the JSON error body.
const (
	codeInvalidJSON      = "invalid_json"
	codeInvalidField     = "invalid_field"
	codeMissingField     = "missing_field"
	codeInvalidParam     = "invalid_parameter"
	codeBodyTooLarge     = "body_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeUnauthorized     = "unauthorized"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeUnprocessable    = "unprocessable"
	codeConflict         = "conflict"
	codeUnavailable      = "unavailable"
	codeOverloaded       = "overloaded"
	codeTimeout          = "timeout"
	codeNotReady         = "not_ready"
	codeTooDeep          = "json_too_deep"
	codeInternal         = "internal"
)

// apiError is a failure with the status and code it is answered with.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errf(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

func badField(field, msg string) *apiError {
	return errf(http.StatusBadRequest, codeInvalidField, field+": "+msg)
}

func badParam(name, msg string) *apiError {
	return errf(http.StatusBadRequest, codeInvalidParam, "query parameter "+name+": "+msg)
}

// writeJSON writes v with status. Encoding our own types cannot fail; a failed write means
// the client went away, which nobody can be told about.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal","message":"response encoding failed"}`)
	}
	writeBody(w, status, b)
}

var newline = []byte{'\n'}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(b) // b may be shared (a cached answer): never append to it
	_, _ = w.Write(newline)
}

// writeError answers err: an *apiError as it says, anything else as a 500 that hides details.
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errf(http.StatusInternalServerError, codeInternal, "internal error")
	}
	if ae.Code == codeOverloaded {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, ae.Status, ae)
}
