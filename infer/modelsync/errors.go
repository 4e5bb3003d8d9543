package modelsync

import "errors"

// These errors can occur while installing a version. Each maps to a failure
// reason in Stats.
var (
	// ErrChecksum means the entry file's SHA-256 differs from the version tag
	// edged.sha256 (or a file's from its sha256.<path> tag).
	ErrChecksum = errors.New("sha256 mismatch")
	// ErrBadModelDir means the downloaded directory has no usable entry file
	// or an unreadable MLmodel.
	ErrBadModelDir = errors.New("bad model directory")
	// ErrVerify wraps the Verifier's refusal (ORT load, contract, smoke inference).
	ErrVerify = errors.New("verification failed")
	// ErrActivate wraps the Activator's refusal; the previous model keeps serving.
	ErrActivate = errors.New("activation failed")
)

// These errors can occur on operator commands and at startup.
var (
	// ErrInvalidConfig means a Config field is out of range.
	ErrInvalidConfig = errors.New("invalid modelsync config")
	// ErrNotInstalled means the requested version is not on disk.
	ErrNotInstalled = errors.New("version not installed")
	// ErrNoPrevious means there is no installed version to roll back to.
	ErrNoPrevious = errors.New("no previous version to roll back to")
	// ErrState means the persisted state could not be read or written.
	ErrState = errors.New("model state")
)
