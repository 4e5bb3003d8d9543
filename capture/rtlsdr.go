//go:build rtlsdr

package capture

/*
#cgo pkg-config: librtlsdr
#include <stdint.h>
#include <stdlib.h>
#include <rtl-sdr.h>

extern void edgedRTLSDRCallback(unsigned char *buf, uint32_t len, void *ctx);

// edged_read_async passes the Go handle through librtlsdr's void *ctx; the handle is an
// integer, so converting it here keeps Go from treating it as a pointer.
static int edged_read_async(rtlsdr_dev_t *dev, uintptr_t handle, uint32_t buf_num, uint32_t buf_len) {
	return rtlsdr_read_async(dev, (rtlsdr_read_async_cb_t)edgedRTLSDRCallback, (void *)handle, buf_num, buf_len);
}
*/
import "C"

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// rtlSDR is an RTL-SDR dongle read through librtlsdr's async API.
type rtlSDR struct {
	dev    *C.rtlsdr_dev_t
	cfg    RTLSDRConfig
	log    *slog.Logger
	info   Info
	ring   *ring
	handle cgo.Handle
	stats  counters

	closeOnce sync.Once
	closed    atomic.Bool
	done      chan struct{}
	reader    chan struct{} // closed when the read_async goroutine returns
}

// OpenRTLSDR opens a dongle by serial or index, tunes it and starts streaming into a ring of
// buffers. With no dongle (or none matching) it fails with ErrNoDevice.
func OpenRTLSDR(cfg RTLSDRConfig, log *slog.Logger) (Source, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.name(), err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	count := int(C.rtlsdr_get_device_count())
	if count == 0 {
		return nil, fmt.Errorf("%s: %w", cfg.name(), ErrNoDevice)
	}
	index := cfg.Index
	if cfg.Serial != "" {
		cs := C.CString(cfg.Serial)
		i := int(C.rtlsdr_get_index_by_serial(cs))
		C.free(unsafe.Pointer(cs))
		if i < 0 {
			return nil, fmt.Errorf("%s: %w (no serial %q among %d dongles)", cfg.name(), ErrNoDevice, cfg.Serial, count)
		}
		index = i
	} else if index >= count {
		return nil, fmt.Errorf("%s: %w (index %d, %d dongles present)", cfg.name(), ErrNoDevice, index, count)
	}
	var dev *C.rtlsdr_dev_t
	if r := C.rtlsdr_open(&dev, C.uint32_t(index)); r < 0 {
		return nil, fmt.Errorf("%s: rtlsdr_open failed (%d): is the DVB driver loaded (blacklist dvb_usb_rtl28xxu) or another program using the dongle?", cfg.name(), int(r))
	}
	s := &rtlSDR{dev: dev, cfg: cfg, log: log, done: make(chan struct{}), reader: make(chan struct{})}
	if err := s.tune(); err != nil {
		C.rtlsdr_close(dev)
		return nil, fmt.Errorf("%s: %w", cfg.name(), err)
	}
	s.info = Info{
		Name:         cfg.name(),
		CenterFreqHz: float64(C.rtlsdr_get_center_freq(dev)),
		SampleRateHz: float64(C.rtlsdr_get_sample_rate(dev)),
		Start:        time.Now().UTC(),
		Live:         true,
		Format:       FormatCU8,
	}
	s.ring = newRing(cfg.Buffers, cfg.BufferBytes, s.info.SampleRateHz, &s.stats)
	s.handle = cgo.NewHandle(s.ring)
	go func() {
		defer close(s.reader)
		r := C.edged_read_async(dev, C.uintptr_t(s.handle), C.uint32_t(cfg.Buffers), C.uint32_t(cfg.BufferBytes))
		var err error
		if r < 0 {
			err = fmt.Errorf("%s: %w: rtlsdr_read_async returned %d", cfg.name(), ErrDeviceLost, int(r))
		} else if !s.closed.Load() {
			err = fmt.Errorf("%s: %w: async reading stopped", cfg.name(), ErrDeviceLost)
		}
		s.ring.end(err)
	}()
	log.Info("rtlsdr streaming", "device", cfg.name(), "index", index, "center_freq_hz", s.info.CenterFreqHz, "sample_rate_hz", s.info.SampleRateHz)
	return s, nil
}

// tune applies cfg.Tuning to the open device. A setting the dongle refuses is a
// configuration fault (ErrBadConfig): reopening the same dongle will not change its answer.
func (s *rtlSDR) tune() error {
	t, dev := s.cfg.Tuning, s.dev
	if r := C.rtlsdr_set_sample_rate(dev, C.uint32_t(math.Round(t.SampleRateHz))); r < 0 {
		return fmt.Errorf("%w: sample rate %v S/s refused (%d)", ErrBadConfig, t.SampleRateHz, int(r))
	}
	if t.DirectSampling != DirectSamplingOff {
		if r := C.rtlsdr_set_direct_sampling(dev, C.int(t.DirectSampling)); r < 0 {
			return fmt.Errorf("%w: direct sampling %d refused (%d)", ErrBadConfig, t.DirectSampling, int(r))
		}
	}
	if t.OffsetTuning {
		if r := C.rtlsdr_set_offset_tuning(dev, 1); r < 0 {
			return fmt.Errorf("%w: offset tuning refused (%d); only E4000 tuners have it", ErrBadConfig, int(r))
		}
	}
	if r := C.rtlsdr_set_center_freq(dev, C.uint32_t(math.Round(t.CenterFreqHz))); r < 0 {
		return fmt.Errorf("%w: centre frequency %v Hz refused (%d)", ErrBadConfig, t.CenterFreqHz, int(r))
	}
	// -2 means "already at this correction", not a failure.
	if r := C.rtlsdr_set_freq_correction(dev, C.int(t.PPM)); r < 0 && r != -2 {
		return fmt.Errorf("%w: ppm %d refused (%d)", ErrBadConfig, t.PPM, int(r))
	}
	if t.GainMode == GainManual {
		if r := C.rtlsdr_set_tuner_gain_mode(dev, 1); r < 0 {
			return fmt.Errorf("%w: manual gain mode refused (%d)", ErrBadConfig, int(r))
		}
		n := int(C.rtlsdr_get_tuner_gains(dev, nil))
		if n <= 0 {
			return fmt.Errorf("tuner lists no gains")
		}
		gains := make([]C.int, n)
		C.rtlsdr_get_tuner_gains(dev, &gains[0])
		g := make([]int, n)
		for i := range gains {
			g[i] = int(gains[i])
		}
		best := nearestGain(g, t.GainDB)
		if r := C.rtlsdr_set_tuner_gain(dev, C.int(best)); r < 0 {
			return fmt.Errorf("%w: gain %.1f dB refused (%d)", ErrBadConfig, float64(best)/10, int(r))
		}
		s.log.Info("rtlsdr gain", "requested_db", t.GainDB, "set_db", float64(best)/10)
	} else if r := C.rtlsdr_set_tuner_gain_mode(dev, 0); r < 0 {
		return fmt.Errorf("auto gain mode refused (%d)", int(r))
	}
	agc := C.int(0)
	if t.AGC {
		agc = 1
	}
	if r := C.rtlsdr_set_agc_mode(dev, agc); r < 0 {
		return fmt.Errorf("RTL AGC refused (%d)", int(r))
	}
	bias := C.int(0)
	if t.BiasTee {
		bias = 1
	}
	if r := C.rtlsdr_set_bias_tee(dev, bias); r < 0 && t.BiasTee {
		return fmt.Errorf("%w: bias tee refused (%d)", ErrBadConfig, int(r))
	}
	if r := C.rtlsdr_reset_buffer(dev); r < 0 {
		return fmt.Errorf("reset buffer failed (%d)", int(r))
	}
	return nil
}

func (s *rtlSDR) Info() Info   { return s.info }
func (s *rtlSDR) Stats() Stats { return s.stats.snapshot() }

// Read returns buffered samples; it fails with ErrDeviceLost when the dongle stops.
func (s *rtlSDR) Read(ctx context.Context, buf []complex64) (int, error) {
	return s.ring.read(ctx, buf, s.done)
}

// Close stops streaming and releases the dongle.
func (s *rtlSDR) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.done)
		// cancel_async is a no-op until read_async has started, so repeat it until the
		// reading goroutine has really returned.
		for stopped := false; !stopped; {
			C.rtlsdr_cancel_async(s.dev)
			select {
			case <-s.reader:
				stopped = true
			case <-time.After(50 * time.Millisecond):
			}
		}
		C.rtlsdr_close(s.dev)
		s.handle.Delete()
	})
	return nil
}
