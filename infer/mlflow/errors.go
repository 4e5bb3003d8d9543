package mlflow

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// These errors classify answers from the server. An *APIError matches them
// with errors.Is, so callers branch without looking at codes or statuses.
var (
	// ErrNotFound means the model, version, run or alias does not exist
	// (RESOURCE_DOES_NOT_EXIST, NOT_FOUND, ENDPOINT_NOT_FOUND or HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrAliasNotFound means the registered model has no such alias. MLflow
	// answers this with 400 INVALID_PARAMETER_VALUE, not 404; an error that
	// matches ErrAliasNotFound also matches ErrNotFound.
	ErrAliasNotFound = errors.New("alias not found")
	// ErrInvalidParameter means the server rejected a request parameter (400).
	ErrInvalidParameter = errors.New("invalid parameter")
	// ErrUnauthenticated means the credentials are missing or wrong (401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied means the credentials are valid but not allowed (403).
	ErrPermissionDenied = errors.New("permission denied")
	// ErrRateLimited means the server asked the client to slow down (429).
	ErrRateLimited = errors.New("rate limited")
	// ErrServer means the server failed (5xx) even after the retries.
	ErrServer = errors.New("server error")
)

// These errors can occur while talking to the server or downloading artifacts.
var (
	// ErrTimeout means the server sent nothing for Config.RequestTimeout.
	ErrTimeout = errors.New("request timed out")
	// ErrBadResponse means a 200 answer could not be decoded or broke a limit.
	ErrBadResponse = errors.New("malformed response")
	// ErrUnsupportedURI means an artifact URI has a form this client cannot
	// fetch over REST (s3://, file://, …) or is malformed.
	ErrUnsupportedURI = errors.New("unsupported artifact uri")
	// ErrUnsafePath means an artifact listing named a path that would escape
	// the destination directory ("..", absolute, backslashes, NUL).
	ErrUnsafePath = errors.New("unsafe artifact path")
	// ErrTruncated means a download ended before the server finished it.
	ErrTruncated = errors.New("download truncated")
	// ErrSizeMismatch means a downloaded file's byte count differs from the
	// file_size in the listing.
	ErrSizeMismatch = errors.New("downloaded size differs from listing")
	// ErrEmptyArtifacts means the artifact directory lists no files.
	ErrEmptyArtifacts = errors.New("no artifacts")
	// ErrTooLarge means the artifact listing declares more bytes than the download may
	// take; nothing past the limit is fetched.
	ErrTooLarge = errors.New("artifacts larger than the download limit")
)

// These errors come from configuration.
var (
	// ErrInvalidConfig means a Config field or MLFLOW_* variable is unusable.
	ErrInvalidConfig = errors.New("invalid mlflow config")
)

// APIError is a non-200 answer from the server. Code is MLflow's error_code
// (for non-JSON bodies it is derived from the status, as MLflow's client does).
type APIError struct {
	HTTPStatus int
	Code       string
	Message    string
}

// Error renders the status, code and message.
func (e *APIError) Error() string {
	return fmt.Sprintf("mlflow: HTTP %d %s: %s", e.HTTPStatus, e.Code, e.Message)
}

// Is maps the error onto the package sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.notFound() || e.aliasNotFound()
	case ErrAliasNotFound:
		return e.aliasNotFound()
	case ErrInvalidParameter:
		return e.HTTPStatus == http.StatusBadRequest && !e.aliasNotFound()
	case ErrUnauthenticated:
		return e.HTTPStatus == http.StatusUnauthorized || e.Code == "UNAUTHENTICATED" || e.Code == "CUSTOMER_UNAUTHORIZED"
	case ErrPermissionDenied:
		return e.HTTPStatus == http.StatusForbidden || e.Code == "PERMISSION_DENIED"
	case ErrRateLimited:
		return e.HTTPStatus == http.StatusTooManyRequests
	case ErrServer:
		return e.HTTPStatus >= 500
	}
	return false
}

func (e *APIError) notFound() bool {
	switch e.Code {
	case "RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "ENDPOINT_NOT_FOUND":
		return true
	}
	return e.HTTPStatus == http.StatusNotFound
}

// aliasNotFound recognises "Registered model alias A not found." (400
// INVALID_PARAMETER_VALUE): the only way MLflow reports a missing alias.
func (e *APIError) aliasNotFound() bool {
	if e.Code != "INVALID_PARAMETER_VALUE" && e.HTTPStatus != http.StatusBadRequest {
		return false
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "alias") && strings.Contains(m, "not found")
}

// codeForStatus derives an error_code for bodies that are not MLflow JSON.
func codeForStatus(status int) string {
	switch {
	case status == http.StatusBadRequest:
		return "BAD_REQUEST"
	case status == http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case status == http.StatusForbidden:
		return "PERMISSION_DENIED"
	case status == http.StatusNotFound:
		return "ENDPOINT_NOT_FOUND"
	case status == http.StatusTooManyRequests:
		return "REQUEST_LIMIT_EXCEEDED"
	case status == http.StatusServiceUnavailable:
		return "TEMPORARILY_UNAVAILABLE"
	case status == http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	case status == http.StatusNotImplemented:
		return "NOT_IMPLEMENTED"
	default:
		return "INTERNAL_ERROR"
	}
}
