package ui

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/internal/pipeline"
	"github.com/heimdall/edged/internal/synth"
	"github.com/heimdall/edged/models/reference"
	"github.com/heimdall/edged/store"
)

// BenchmarkPipelineWithPages measures what live status pages cost the pipeline: each
// iteration replays a 2.4 MS/s cu8 recording (beacon C bursting in every other window)
// through the whole pipeline into bbolt twice, with the hub as its tap, once with no page
// and once with 5 pages reading the live feed over loopback HTTP, and reports both
// throughputs and their ratio ("pages-ratio", the target is ≥ 0.9). The runs alternate
// (ABBA) so that a change in the machine's load affects both alike.
func BenchmarkPipelineWithPages(b *testing.B) {
	dir := b.TempDir()
	const rate, windows, pages = 2.4e6, 64, 5
	path, err := synth.Write(dir, "C", synth.Spec{Format: "cu8", SampleRateHz: rate, CenterFreqHz: 433.92e6,
		OffsetHz: -46875, SNRDB: 20, WindowSamples: 16384 * 48 / 5, Windows: windows, Bursted: []int{1, 3, 5, 7, 9, 11}, Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	m, err := infer.Load(infer.Source{Data: reference.Model}, infer.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	engine := infer.NewEngine(m)
	db, err := store.Open(filepath.Join(dir, "edged.db"), store.Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	h, err := NewHub(Config{}, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)
	srv := httptest.NewServer(h.Handler(db, nil))
	defer srv.Close()

	replay := func() time.Duration {
		src, err := capture.OpenFile(path, capture.FileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		p, err := pipeline.New(pipeline.Config{ReceiverID: "bench", GateSNRDB: 10, Tap: h}, src, engine, db, nil, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := p.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		if p.Stats().Fixes.Load() == 0 {
			b.Fatal("no fix: the benchmark would measure nothing")
		}
		return time.Since(t0)
	}
	var without, with time.Duration
	b.ResetTimer()
	withPages := func() time.Duration {
		b.StopTimer()
		stop := attachPages(b, srv.URL, h, pages)
		b.StartTimer()
		d := replay()
		b.StopTimer()
		stop()
		b.StartTimer()
		return d
	}
	for i := range b.N {
		// ABBA order: a load that rises or falls during the benchmark weighs on both alike.
		if i%2 == 0 {
			without += replay()
			with += withPages()
		} else {
			with += withPages()
			without += replay()
		}
	}
	samples := float64(windows*16384*48/5) * float64(b.N)
	b.ReportMetric(samples/without.Seconds()/1e6, "MS/s-no-pages")
	b.ReportMetric(samples/with.Seconds()/1e6, "MS/s-5-pages")
	b.ReportMetric(without.Seconds()/with.Seconds(), "pages-ratio")
}

// attachPages connects n pages that read the live feed as fast as a browser would take
// it, and returns a func that disconnects them.
func attachPages(b *testing.B, url string, h *Hub, n int) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, n)
	for range n {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/ui/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			done <- struct{}{}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); h.Clients() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d pages joined, want %d", h.Clients(), n)
		}
	}
	return func() {
		cancel()
		for range n {
			<-done
		}
		for deadline := time.Now().Add(10 * time.Second); h.Clients() != 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("%d pages still joined", h.Clients())
			}
		}
	}
}
