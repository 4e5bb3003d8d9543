package pipeline

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/internal/synth"
	"github.com/heimdall/edged/store"
)

// BenchmarkReplay2400k replays a 2.4 MS/s cu8 recording (beacon C bursting in every other
// reference window) through the whole pipeline: conversion, resampling to 250 kS/s, STFT,
// gate, inference, ellipse, and commits to bbolt. It reports how many times faster than real
// time that runs ("x-realtime") and the capture samples per second.
func BenchmarkReplay2400k(b *testing.B) {
	dir := b.TempDir()
	const rate, windows = 2.4e6, 64
	path, err := synth.Write(dir, "C", synth.Spec{Format: "cu8", SampleRateHz: rate, CenterFreqHz: 433.92e6,
		OffsetHz: -46875, SNRDB: 20, WindowSamples: 16384 * 48 / 5, Windows: windows, Bursted: []int{1, 3, 5, 7, 9, 11}, Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	e := engine(b)
	db, err := store.Open(filepath.Join(dir, "edged.db"), store.Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	samples := float64(windows * 16384 * 48 / 5)
	b.ResetTimer()
	for range b.N {
		src, err := capture.OpenFile(path, capture.FileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		p, err := New(Config{ReceiverID: "bench", GateSNRDB: 10}, src, e, db, nil, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		src.Close()
		if p.Stats().Fixes.Load() == 0 {
			b.Fatal("no fix: the benchmark would measure nothing")
		}
	}
	perRun := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(samples/rate/perRun, "x-realtime")
	b.ReportMetric(samples/perRun/1e6, "MS/s")
}
