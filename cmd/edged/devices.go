package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/heimdall/edged/capture"
)

// runDevices opens an RTL-SDR and reads from it for a moment, like rtl_test: the one-shot
// check an operator runs before starting the daemon.
func runDevices(args []string) error {
	fs := newFlags("devices", "[-device 0|:SERIAL] [-sample-rate RATE] [-center-freq FREQ] [-seconds N]")
	device := fs.String("device", "0", "index, or :SERIAL")
	rate := fs.String("sample-rate", "250k", "sample rate")
	freq := fs.String("center-freq", "433.92M", "centre frequency")
	seconds := fs.Float64("seconds", 1, "how long to read")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := capture.RTLSDRConfig{}
	var err error
	if cfg.Serial, cfg.Index, err = capture.ParseDevice(*device); err != nil {
		return fmt.Errorf("-device: %w", err)
	}
	if cfg.SampleRateHz, err = capture.ParseHz(*rate); err != nil {
		return fmt.Errorf("-sample-rate: %w", err)
	}
	if cfg.CenterFreqHz, err = capture.ParseHz(*freq); err != nil {
		return fmt.Errorf("-center-freq: %w", err)
	}
	src, err := capture.OpenRTLSDR(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*seconds*float64(time.Second)))
	defer cancel()
	buf := make([]complex64, 1<<16)
	for ctx.Err() == nil {
		if _, err := src.Read(ctx, buf); err != nil && ctx.Err() == nil {
			return err
		}
	}
	info, st := src.Info(), src.Stats()
	fmt.Printf("%s: %.0f Hz at %.0f S/s: %d samples delivered, %d dropped, %d lost, %d at the ADC rail\n",
		info.Name, info.CenterFreqHz, info.SampleRateHz, st.Delivered, st.Dropped, st.Lost, st.Overload)
	return nil
}
