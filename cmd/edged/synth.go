package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/internal/synth"
	"github.com/heimdall/edged/models/reference"
)

func runSynth(args []string) error {
	fs := newFlags("synth", "[flags]")
	beacon := fs.String("beacon", "D", "reference beacon A…H whose offset the bursts use")
	format := fs.String("format", "cu8", "cu8, cs16 or cf32")
	rate := fs.String("sample-rate", "250k", "sample rate")
	freq := fs.String("center-freq", "433.92M", "centre frequency written into the name")
	snr := fs.Float64("snr-db", 20, "burst power over total noise power, dB")
	windows := fs.Int("windows", 8, "length, in windows of the reference model")
	bursted := fs.String("bursts", "odd", "bursted windows: odd, even, all, none, or a list like 1,4,5")
	seed := fs.Uint64("seed", 1, "random seed; the same seed writes the same bytes")
	dir := fs.String("out", ".", "output directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := reference.Lookup(*beacon)
	if err != nil {
		return err
	}
	rateHz, err := capture.ParseHz(*rate)
	if err != nil {
		return fmt.Errorf("-sample-rate: %w", err)
	}
	freqHz, err := capture.ParseHz(*freq)
	if err != nil {
		return fmt.Errorf("-center-freq: %w", err)
	}
	c, err := infer.EmbeddedContract(reference.Model)
	if err != nil {
		return err
	}
	// One reference window in capture samples, so bursts sit inside the windows the
	// pipeline will cut even when the capture rate differs from the model's.
	win := int(float64(c.Preprocess.WindowSamples) * rateHz / c.Preprocess.SampleRateHz)
	list, err := parseBursts(*bursted, *windows)
	if err != nil {
		return err
	}
	spec := synth.Spec{Format: *format, SampleRateHz: rateHz, CenterFreqHz: freqHz, OffsetHz: b.OffsetHz,
		SNRDB: *snr, WindowSamples: win, Windows: *windows, Bursted: list, Seed: *seed}
	path, err := synth.Write(*dir, b.Name, spec)
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

func parseBursts(s string, windows int) ([]int, error) {
	var out []int
	switch s {
	case "none":
		return nil, nil
	case "odd", "even", "all":
		for k := 0; k < windows; k++ {
			if s == "all" || (k%2 == 1) == (s == "odd") {
				out = append(out, k)
			}
		}
		return out, nil
	}
	for _, f := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 0 || k >= windows {
			return nil, fmt.Errorf("-bursts: %q is not a window in 0..%d", f, windows-1)
		}
		out = append(out, k)
	}
	return out, nil
}
