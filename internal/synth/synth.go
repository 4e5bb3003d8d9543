// Package synth writes synthetic IQ recordings with bursts at a reference beacon's offset,
// deterministically from a seed, so the whole pipeline has an exact expected answer.
package synth

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Spec describes a recording.
type Spec struct {
	// Format is cu8, cs16 or cf32.
	Format       string
	SampleRateHz float64
	CenterFreqHz float64
	// OffsetHz of the burst tone from the centre.
	OffsetHz float64
	// SNRDB is the burst's power over the total noise power in the recorded band.
	SNRDB float64
	// WindowSamples is the pipeline's window length; bursts sit inside whole windows.
	WindowSamples int
	// Windows is the recording's length in windows.
	Windows int
	// Bursted lists the windows (0-based) that carry a burst. A burst fills the middle half
	// of its window, so it never spills into a neighbour.
	Bursted []int
	Seed    uint64
}

// noiseSigma is the per-component noise std: small enough that a 30 dB burst stays inside
// cu8's full scale.
const noiseSigma = 0.02

// FileName is the rtl_433-style name for the recording: synth_<tag>_<freq>M_<rate>k.<fmt>.
func (s Spec) FileName(tag string) string {
	return fmt.Sprintf("synth_%s_%sM_%sk.%s", tag,
		strconv.FormatFloat(s.CenterFreqHz/1e6, 'f', -1, 64),
		strconv.FormatFloat(s.SampleRateHz/1e3, 'f', -1, 64), s.Format)
}

// Write writes the recording to dir and returns its path.
func Write(dir, tag string, s Spec) (string, error) {
	path := filepath.Join(dir, s.FileName(tag))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	if err := Generate(w, s); err != nil {
		f.Close()
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// Generate writes the samples of s to w.
func Generate(w io.Writer, s Spec) error {
	if s.WindowSamples <= 0 || s.Windows <= 0 || s.SampleRateHz <= 0 {
		return fmt.Errorf("synth: window_samples, windows and sample rate must be > 0")
	}
	if math.Abs(s.OffsetHz) >= s.SampleRateHz/2 {
		return fmt.Errorf("synth: offset %g Hz outside ±rate/2", s.OffsetHz)
	}
	enc, err := encoder(s.Format)
	if err != nil {
		return err
	}
	bursted := map[int]bool{}
	for _, b := range s.Bursted {
		if b < 0 || b >= s.Windows {
			return fmt.Errorf("synth: bursted window %d outside 0..%d", b, s.Windows-1)
		}
		bursted[b] = true
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x5eed))
	amp := math.Sqrt(2 * noiseSigma * noiseSigma * math.Pow(10, s.SNRDB/10))
	step := 2 * math.Pi * s.OffsetHz / s.SampleRateHz
	buf := make([]byte, 0, s.WindowSamples*8)
	for k := 0; k < s.Windows; k++ {
		buf = buf[:0]
		for n := 0; n < s.WindowSamples; n++ {
			i, q := rng.NormFloat64()*noiseSigma, rng.NormFloat64()*noiseSigma
			if bursted[k] && n >= s.WindowSamples/4 && n < 3*s.WindowSamples/4 {
				ph := step * float64(k*s.WindowSamples+n)
				i += amp * math.Cos(ph)
				q += amp * math.Sin(ph)
			}
			buf = enc(buf, i, q)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

func encoder(format string) (func(b []byte, i, q float64) []byte, error) {
	clip := func(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
	switch strings.ToLower(format) {
	case "cu8":
		return func(b []byte, i, q float64) []byte {
			return append(b, byte(clip(math.Round(i*127.5+127.5), 0, 255)), byte(clip(math.Round(q*127.5+127.5), 0, 255)))
		}, nil
	case "cs16":
		return func(b []byte, i, q float64) []byte {
			b = binary.LittleEndian.AppendUint16(b, uint16(int16(clip(math.Round(i*32768), -32768, 32767))))
			return binary.LittleEndian.AppendUint16(b, uint16(int16(clip(math.Round(q*32768), -32768, 32767))))
		}, nil
	case "cf32":
		return func(b []byte, i, q float64) []byte {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i)))
			return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(q)))
		}, nil
	}
	return nil, fmt.Errorf("synth: format %q: want cu8, cs16 or cf32", format)
}

// DemoSpec is how configs.Demo, the recording the embedded defaults replay, was made
// (`make reference`).
var DemoSpec = Spec{Format: "cu8", SampleRateHz: 250000, CenterFreqHz: 433.92e6, OffsetHz: -15625,
	SNRDB: 20, WindowSamples: 16384, Windows: 8, Bursted: []int{1, 3, 5, 7}, Seed: 1}
