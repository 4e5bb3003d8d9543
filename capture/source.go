// Package capture delivers IQ samples from a radio or a recording as complex64, the same way
// for every source, so nothing downstream can tell a replay from a live dongle.
//
// # Basics
//
// OpenFile replays raw I/Q named as rtl_433 names it (ParseName) and SigMF recordings;
// NewRTLTCP and DialRTLTCP read an rtl_tcp server; OpenRTLSDR reads a USB dongle through
// librtlsdr (build tag rtlsdr; without it, ErrNoRTLSDRSupport). Supervise wraps a live source
// so it is reopened with backoff when it stalls, and reports Healthy for readiness and the
// systemd watchdog. Every source keeps Stats: delivered, dropped (our buffers full), lost
// (the sample clock fell behind the wall clock, or a reconnection gap) and overloaded
// (cu8 bytes at 0 or 255). The package registers no metrics; the daemon exports Stats.
//
// # Caveats
//
// A token like "2.4M" in a file name is a centre frequency, as in rtl_433; write a 2.4 MS/s
// rate as "2400k" or "2.4Msps". Lost samples are estimated over 10 s windows with 2 % slack,
// so losses smaller than that per window go uncounted. Overload is counted for cu8 only,
// where the ADC's rails are known. A replay at Pace 0 has Info.Live false and no loss
// estimate.
package capture

import (
	"context"
	"time"
)

// Source is a stream of complex baseband samples.
//
// Read fills buf with up to len(buf) samples, scaled so that full scale is magnitude ~1, and
// returns how many it wrote. It blocks until at least one sample is available, ctx is done,
// or the source fails. A finite source (a recording) returns io.EOF after its last sample; a
// live source never does. Read returns ctx.Err() when ctx ends. Implementations must not
// retain buf. Read is not safe for concurrent use; Close may be called concurrently with
// Read to unblock it.
type Source interface {
	Read(ctx context.Context, buf []complex64) (int, error)
	// Info describes the stream. It is valid from construction on.
	Info() Info
	// Stats returns the sample accounting so far.
	Stats() Stats
	Close() error
}

// Info describes a sample stream.
type Info struct {
	// Name identifies the source in logs and metrics ("file:/path", "rtl_tcp:host:port",
	// "rtlsdr:0").
	Name         string
	CenterFreqHz float64
	SampleRateHz float64
	// Start is the wall-clock time of sample 0 when known (SigMF core:datetime, or the time a
	// live stream started); zero when unknown, in which case fix times are the time of replay.
	Start time.Time
	// Live is true for radios, false for recordings (no pacing, no loss estimation).
	Live bool
	// Format is the raw format the samples arrive in (cu8 for RTL-SDR and rtl_tcp).
	Format Format
	// TotalSamples is the number of samples a recording holds (one pass); 0 for live sources.
	TotalSamples int64
}

// Stats is the sample accounting every source keeps.
type Stats struct {
	// Delivered counts samples handed to Read callers.
	Delivered uint64
	// Dropped counts samples the source received but had to discard because the consumer was
	// too slow (our buffers were full).
	Dropped uint64
	// Lost counts samples the radio should have produced but never arrived (sample clock vs
	// monotonic clock, or a reconnect gap).
	Lost uint64
	// Overload counts samples with an I or Q byte at the ADC's rail (cu8 0 or 255).
	Overload uint64
}
