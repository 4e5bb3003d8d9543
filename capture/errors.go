package capture

import "errors"

// These errors describe a recording or its name that edged cannot replay.
var (
	// ErrUnknownFormat means neither a FORMAT: prefix, the extension nor a flag gave a raw
	// sample format edged reads (cu8, cs8, cs16, cf32 or an rtl_433 alias).
	ErrUnknownFormat = errors.New("unknown sample format")
	// ErrUnsupportedFormat means the name asks for a format rtl_433 knows but edged does not
	// replay (cs32, one-channel or demodulated formats).
	ErrUnsupportedFormat = errors.New("unsupported sample format")
	// ErrContradictoryName means a file name carries two different centre frequencies, two
	// different sample rates or two different formats.
	ErrContradictoryName = errors.New("contradictory tokens in file name")
	// ErrBadName means a file name token is unusable (a zero sample rate, say).
	ErrBadName = errors.New("bad token in file name")
	// ErrNoSampleRate means the sample rate is known from neither the name, the metadata nor a
	// flag.
	ErrNoSampleRate = errors.New("sample rate unknown (pass -sample-rate)")
	// ErrEmptyFile means the recording holds no samples.
	ErrEmptyFile = errors.New("empty recording")
	// ErrTruncated means the recording's size is not a whole number of samples.
	ErrTruncated = errors.New("size is not a whole number of samples")
)

// These errors describe SigMF recordings edged cannot replay.
var (
	// ErrBadSigMF means a .sigmf-meta is not valid SigMF metadata.
	ErrBadSigMF = errors.New("invalid SigMF metadata")
	// ErrUnsupportedDatatype means core:datatype is not one of cu8, ci8, ci16_le, cf32_le.
	ErrUnsupportedDatatype = errors.New("unsupported SigMF datatype")
	// ErrMultiChannel means core:num_channels is above 1; edged reads one IQ stream.
	ErrMultiChannel = errors.New("multi-channel SigMF recordings are not supported")
	// ErrMissingData means a SigMF recording has no data file or archive member.
	ErrMissingData = errors.New("SigMF data missing")
)

// These errors come from live sources.
var (
	// ErrNoDevice means no RTL-SDR dongle is attached (or none matches the selection).
	ErrNoDevice = errors.New("no RTL-SDR device found")
	// ErrNoRTLSDRSupport means the binary was built without the rtlsdr build tag.
	ErrNoRTLSDRSupport = errors.New("edged built without RTL-SDR support")
	// ErrDeviceLost means a live source stopped delivering and could not be restarted inside
	// the source itself.
	ErrDeviceLost = errors.New("device lost")
	// ErrStalled means no samples arrived for the configured stall timeout.
	ErrStalled = errors.New("no samples within the stall timeout")
	// ErrNotRTLTCP means the peer did not send the 12-byte "RTL0" greeting.
	ErrNotRTLTCP = errors.New("peer is not an rtl_tcp server")
	// ErrBadConfig means a source configuration is invalid; the message names the field.
	ErrBadConfig = errors.New("invalid capture configuration")
	// ErrClosed means the source was closed.
	ErrClosed = errors.New("source closed")
)
