package store

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// benchFixes makes n fixes with ~600-byte bodies (a 64-vertex GeoJSON ellipse is
// larger; 600 B keeps the figure comparable with earlier runs).
func benchFixes(from, n int) []Fix {
	body := bytes.Repeat([]byte("x"), 600)
	out := make([]Fix, n)
	for i := range out {
		out[i] = Fix{
			ID:       fmt.Sprintf("rx1:%d", (from+i)*4096),
			Receiver: "rx1",
			Time:     t0.Add(time.Duration(from+i) * time.Millisecond),
			Body:     body,
		}
	}
	return out
}

// BenchmarkCommit commits fixes in one transaction per batch (the pipeline's path) and,
// as "batched-parallel", one fix per call from 16 goroutines through CommitBatched.
func BenchmarkCommit(b *testing.B) {
	for _, batch := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			db := openTest(b, Options{}, nil)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i += batch {
				n := min(batch, b.N-i)
				if _, err := db.Commit(benchFixes(i, n)...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fixes/s")
		})
	}
	b.Run("batched-parallel", func(b *testing.B) {
		db := openTest(b, Options{}, nil)
		const workers = 16
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < b.N; i += workers {
					if _, err := db.CommitBatched(benchFixes(i, 1)...); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fixes/s")
	})
}
