package infer

import (
	"context"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/heimdall/edged/models/reference"
)

// BenchmarkPredictReference is one window through the reference model as the pipeline runs
// it (Engine.Predict, batch of 1), with P50 and P99 latency reported beside ns/op.
func BenchmarkPredictReference(b *testing.B) {
	m := loadReference(b)
	e := NewEngine(m)
	jobs := []Job{{ID: "rx:0", Features: beaconFeatures(3, 20)}}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := e.Predict(context.Background(), jobs); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRawORT is the same model run bare through onnxruntime_go with pre-bound tensors:
// the floor edged's own overhead is measured against (PredictReference − RawORT).
func BenchmarkRawORT(b *testing.B) {
	if err := Init(""); err != nil {
		b.Fatal(err)
	}
	in, _ := ort.NewTensor(ort.NewShape(1, 1, 64, 63), beaconFeatures(3, 20))
	defer in.Destroy()
	pos, _ := ort.NewEmptyTensor[float32](ort.NewShape(1, 2))
	unc, _ := ort.NewEmptyTensor[float32](ort.NewShape(1, 3))
	conf, _ := ort.NewEmptyTensor[float32](ort.NewShape(1, 1))
	defer pos.Destroy()
	defer unc.Destroy()
	defer conf.Destroy()
	so, _ := ort.NewSessionOptions()
	so.SetIntraOpNumThreads(1)
	defer so.Destroy()
	s, err := ort.NewAdvancedSessionWithONNXData(reference.Model, []string{"spectrogram"},
		[]string{"position", "uncertainty", "confidence"}, []ort.Value{in}, []ort.Value{pos, unc, conf}, so)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Destroy()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := s.Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredictBatch8 runs eight queued windows in one call, as the pipeline does when
// windows pile up behind a slow model.
func BenchmarkPredictBatch8(b *testing.B) {
	m := loadReference(b)
	feats := make([][]float32, 8)
	for i := range feats {
		feats[i] = beaconFeatures(i, 20)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, _, err := m.Predict(context.Background(), feats); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*8), "ns/window")
}

// BenchmarkPack packs a fix for the store and renders it back as the uplink and the API
// do.
func BenchmarkPack(b *testing.B) {
	f := randomFeature(b, rand.New(rand.NewPCG(7, 8)))
	full, _ := f.Marshal()
	packed, _ := f.Pack()
	b.ReportMetric(float64(len(packed)), "packed-bytes")
	b.ReportMetric(float64(len(full)), "json-bytes")
	b.Run("pack", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.Pack(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unpack", func(b *testing.B) {
		for b.Loop() {
			if _, err := Unpack(packed); err != nil {
				b.Fatal(err)
			}
		}
	})
}
