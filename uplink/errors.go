package uplink

import "errors"

// This error is returned by Validate and New.
var (
	// ErrInvalidConfig means a Config field is missing or out of range; the message names
	// the yaml key.
	ErrInvalidConfig = errors.New("invalid uplink config")
)

// These errors classify a failed connection attempt. Run does not return them (it keeps
// retrying); they appear wrapped in logs, in Stats.LastConnectError and, as their Reason,
// in Stats.ConnectFailures.
var (
	// ErrNotAuthorised means the broker refused the credentials or the client (CONNACK 4
	// or 5; mosquitto answers 5 to a wrong password in MQTT 3.1.1).
	ErrNotAuthorised = errors.New("broker refused: not authorised (check username, password and ACL)")
	// ErrTLS means the TLS handshake failed, e.g. the broker's certificate is not signed
	// by the configured CA or does not match server_name.
	ErrTLS = errors.New("TLS handshake failed")
	// ErrUnreachable means no TCP connection could be made (refused, no route, DNS).
	ErrUnreachable = errors.New("broker unreachable")
	// ErrRefused means the broker answered CONNACK with another refusal (protocol
	// version, client identifier, server unavailable).
	ErrRefused = errors.New("broker refused the connection")
	// ErrTimeout means the connection attempt took longer than connect_timeout_seconds.
	ErrTimeout = errors.New("connect timed out")
)

// ErrConnectionLost ends a session when the broker connection drops; Run reconnects.
var ErrConnectionLost = errors.New("connection to broker lost")
