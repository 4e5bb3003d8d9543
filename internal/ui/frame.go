package ui

import (
	"encoding/json"
	"math"
	"slices"
	"time"

	"github.com/heimdall/edged/internal/pipeline"
)

// geometry maps a stream's features onto display cells: rows sorted by frequency and
// averaged into at most maxCols columns, frames averaged into at most maxLines lines.
type geometry struct {
	gen          uint64
	rows, frames int
	cols, lines  int
	rowCol       []int32   // display column of each feature row
	frameLine    []int32   // display line of each frame
	inv          []float32 // 1 / values averaged into each cell
	windowSec    float64
	minSpan      float64 // smallest colour range, in the features' units
	meta         []byte  // the encoded "meta" event
}

// metaEvent tells the page how to draw the stream's frames.
type metaEvent struct {
	Gen           uint64    `json:"gen"`
	Source        string    `json:"source"`
	CenterFreqHz  float64   `json:"center_freq_hz"`
	ShiftHz       float64   `json:"shift_hz"`
	SampleRateHz  float64   `json:"sample_rate_hz"`
	WindowSeconds float64   `json:"window_seconds"`
	Rows          int       `json:"rows"`
	Frames        int       `json:"frames"`
	Cols          int       `json:"cols"`
	Lines         int       `json:"lines"`
	ColsHz        []float64 `json:"cols_hz"` // each column's centre, relative to the model's 0 Hz
	Log           string    `json:"log"`
	Normalize     string    `json:"normalize"`
	GateSNRDB     float64   `json:"gate_snr_db"`
}

func newGeometry(si pipeline.StreamInfo, gen uint64) *geometry {
	if si.Rows <= 0 || si.Frames <= 0 || len(si.RowsHz) != si.Rows {
		return nil
	}
	g := &geometry{gen: gen, rows: si.Rows, frames: si.Frames,
		cols: min(si.Rows, maxCols), lines: min(si.Frames, maxLines)}
	if si.SampleRateHz > 0 {
		g.windowSec = float64(si.WindowSamples) / si.SampleRateHz
	}
	// Rows in frequency order: "natural" FFT order starts at 0 Hz and wraps to −fs/2.
	order := make([]int, si.Rows)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case si.RowsHz[a] < si.RowsHz[b]:
			return -1
		case si.RowsHz[a] > si.RowsHz[b]:
			return 1
		}
		return 0
	})
	g.rowCol = make([]int32, si.Rows)
	colsHz := make([]float64, g.cols)
	perCol := make([]int, g.cols)
	for p, r := range order {
		c := p * g.cols / si.Rows
		g.rowCol[r] = int32(c)
		colsHz[c] += si.RowsHz[r]
		perCol[c]++
	}
	for c := range colsHz {
		colsHz[c] /= float64(perCol[c])
	}
	g.frameLine = make([]int32, si.Frames)
	perLine := make([]int, g.lines)
	for t := range g.frameLine {
		l := t * g.lines / si.Frames
		g.frameLine[t] = int32(l)
		perLine[l]++
	}
	g.inv = make([]float32, g.cols*g.lines)
	for l := range g.lines {
		for c := range g.cols {
			g.inv[l*g.cols+c] = float32(1 / float64(perLine[l]*perCol[c]))
		}
	}
	switch {
	case si.Normalize != "" && si.Normalize != "none":
		g.minSpan = 1 // standard deviations
	case si.Log == "db":
		g.minSpan = 20
	case si.Log == "ln":
		g.minSpan = 20 * math.Ln10 / 10
	default:
		g.minSpan = 1e-12
	}
	g.meta, _ = json.Marshal(metaEvent{Gen: gen, Source: si.Source, CenterFreqHz: si.CenterFreqHz, ShiftHz: si.ShiftHz,
		SampleRateHz: si.SampleRateHz, WindowSeconds: g.windowSec, Rows: si.Rows, Frames: si.Frames,
		Cols: g.cols, Lines: g.lines, ColsHz: colsHz, Log: si.Log, Normalize: si.Normalize, GateSNRDB: si.GateSNRDB})
	g.meta = sseEvent("meta", g.meta)
	return g
}

// decimate averages features ([row][frame]) into cells ([line][col]).
func (g *geometry) decimate(cells, features []float32) {
	clear(cells)
	for r := range g.rows {
		c := int(g.rowCol[r])
		row := features[r*g.frames : (r+1)*g.frames]
		for t, v := range row {
			cells[int(g.frameLine[t])*g.cols+c] += v
		}
	}
	for i := range cells {
		cells[i] *= g.inv[i]
	}
}

// frame is one display frame: one window, or several merged when they come faster than
// the display rate.
type frame struct {
	g           *geometry
	cells       [maxCols * maxLines]float32
	first, last pipeline.WindowInfo
	n, passed   int
	snr         float64 // the largest finite SNR of the merged windows; NaN if none
}

func (f *frame) add(s *slot) {
	cells := s.cells[:s.g.cols*s.g.lines]
	if f.n == 0 {
		f.g, f.first, f.passed, f.snr = s.g, s.w, 0, math.NaN()
		copy(f.cells[:], cells)
	} else {
		for i, v := range cells {
			f.cells[i] = max(f.cells[i], v)
		}
	}
	f.last = s.w
	f.n++
	if s.w.Passed {
		f.passed++
	}
	if v := s.w.SNRDB; !math.IsNaN(v) && !math.IsInf(v, 0) && (math.IsNaN(f.snr) || v > f.snr) {
		f.snr = v
	}
}

// scale is the adaptive colour range of one stream: lo follows the frames' 5th percentile
// (the noise floor) slowly; hi jumps to a new maximum at once and decays towards the
// frames' maximum slowly, so a burst is shown at full brightness and the next quiet
// windows do not turn into bright noise.
type scale struct {
	gen    uint64
	lo, hi float64
	ok     bool
	sorted []float32
}

func (s *scale) update(cells []float32, minSpan float64) {
	s.sorted = append(s.sorted[:0], cells...)
	s.sorted = slices.DeleteFunc(s.sorted, func(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) })
	if len(s.sorted) == 0 {
		return
	}
	slices.Sort(s.sorted)
	p05 := float64(s.sorted[len(s.sorted)*5/100])
	peak := float64(s.sorted[len(s.sorted)-1])
	if !s.ok {
		s.lo, s.hi, s.ok = p05, peak, true
	} else {
		s.lo += 0.05 * (p05 - s.lo)
		if peak > s.hi {
			s.hi = peak
		} else {
			s.hi += 0.01 * (peak - s.hi)
		}
	}
	s.hi = max(s.hi, s.lo+minSpan)
}

// specEvent is one waterfall frame: lines × cols bytes, 0 at lo and 255 at hi.
type specEvent struct {
	Gen     uint64   `json:"gen"`
	Seq     uint64   `json:"seq"`
	SeqLast uint64   `json:"seq_last"`
	Time    string   `json:"time"`
	Windows int      `json:"windows"`
	Passed  int      `json:"passed"`
	SNRDB   *float64 `json:"snr_db"`
	Lo      float64  `json:"lo"`
	Hi      float64  `json:"hi"`
	Cols    int      `json:"cols"`
	Lines   int      `json:"lines"`
	Pixels  []byte   `json:"px"` // base64
}

func (f *frame) encode(s *scale) []byte {
	g := f.g
	cells := f.cells[:g.cols*g.lines]
	s.update(cells, g.minSpan)
	px := make([]byte, len(cells))
	k := 255 / (s.hi - s.lo)
	for i, v := range cells {
		q := (float64(v) - s.lo) * k
		switch {
		case !(q > 0): // NaN too
			px[i] = 0
		case q >= 255:
			px[i] = 255
		default:
			px[i] = byte(q + 0.5)
		}
	}
	ev := specEvent{Gen: g.gen, Seq: f.first.Seq, SeqLast: f.last.Seq, Time: f.first.Time.UTC().Format(time.RFC3339Nano),
		Windows: f.n, Passed: f.passed, Lo: s.lo, Hi: s.hi, Cols: g.cols, Lines: g.lines, Pixels: px}
	if !math.IsNaN(f.snr) {
		snr := f.snr
		ev.SNRDB = &snr
	}
	b, _ := json.Marshal(ev)
	return sseEvent("spec", b)
}
