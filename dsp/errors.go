package dsp

import "errors"

// These errors are returned when a contract's preprocessing is checked (Validate,
// NewConditioner, NewFrontend). The concrete error is a *FieldError naming the field.
var (
	// ErrInvalidParams means a Params field is out of range or inconsistent with another.
	ErrInvalidParams = errors.New("invalid preprocessing parameters")
	// ErrRatio means the capture rate cannot be resampled to the contract rate with a small
	// rational factor L/M.
	ErrRatio = errors.New("resampling ratio cannot be met")
)

// These errors are returned per window by Frontend.Features.
var (
	// ErrWindowLength means the window passed to Features is not WindowSamples long.
	ErrWindowLength = errors.New("window length does not match window_samples")
	// ErrDstLength means dst is not freqRows*frames long.
	ErrDstLength = errors.New("feature buffer length does not match the feature shape")
)

// These errors are returned by ReadNPY and WriteNPY.
var (
	// ErrNPY means a .npy stream is malformed or uses a layout this package does not read.
	ErrNPY = errors.New("bad .npy data")
)

// FieldError is a validation failure of one Params field, named by its JSON path
// (for example "stft.hop").
type FieldError struct {
	Field string // JSON path of the field, e.g. "filterbank.f_max_hz"
	Msg   string // what is wrong, e.g. "must be > 0, got 0"
	Err   error  // ErrInvalidParams or ErrRatio
}

// Error returns "<field>: <message>".
func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns the sentinel class (ErrInvalidParams or ErrRatio).
func (e *FieldError) Unwrap() error { return e.Err }
