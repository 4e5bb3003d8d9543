package infer

import "errors"

// These errors can occur when loading a model.
var (
	// ErrBadContract means the contract is missing, malformed, or impossible.
	ErrBadContract = errors.New("bad model contract")
	// ErrContractMismatch means the model's real inputs or outputs disagree with its contract.
	ErrContractMismatch = errors.New("model does not match its contract")
	// ErrRuntime means ONNX Runtime could not be loaded or refused the model.
	ErrRuntime = errors.New("onnx runtime")
)

// These errors can occur when running a model.
var (
	// ErrNonFinite means the model answered NaN or ±Inf; the window yields no fix.
	ErrNonFinite = errors.New("model output is not finite")
	// ErrNoModel means no model is active.
	ErrNoModel = errors.New("no model loaded")
)
