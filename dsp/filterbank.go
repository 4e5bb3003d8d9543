package dsp

import (
	"cmp"
	"math"
	"slices"
)

// filterbank maps spectrum rows to output rows. Each output row is a weighted sum of a few
// spectrum rows; rows are sparse because triangles and bands cover few bins.
type filterbank struct {
	rows []fbRow
}

type fbRow struct {
	idx []int32   // spectrum row indices
	wt  []float32 // their weights
}

// newFilterbank builds the filterbank fb over spectrum rows whose centre frequencies are rowHz.
func newFilterbank(fb Filterbank, rowHz []float64) (filterbank, error) {
	switch fb.Kind {
	case "linear":
		return linearFilterbank(fb, rowHz)
	case "mel":
		return melFilterbank(fb, rowHz), nil
	default:
		// resolve checked first_bin + bins against the spectrum rows.
		out := filterbank{rows: make([]fbRow, fb.Bins)}
		for r := range out.rows {
			out.rows[r] = fbRow{idx: []int32{int32(fb.FirstBin + r)}, wt: []float32{1}}
		}
		return out, nil
	}
}

// linearFilterbank averages the rows whose centre falls in each of fb.Bins equal bands.
func linearFilterbank(fb Filterbank, rowHz []float64) (filterbank, error) {
	width := (fb.FMaxHz - fb.FMinHz) / float64(fb.Bins)
	out := filterbank{rows: make([]fbRow, fb.Bins)}
	for i, f := range rowHz {
		if f < fb.FMinHz || f > fb.FMaxHz {
			continue
		}
		b := min(int((f-fb.FMinHz)/width), fb.Bins-1) // f == f_max belongs to the last band
		out.rows[b].idx = append(out.rows[b].idx, int32(i))
	}
	for b := range out.rows {
		n := len(out.rows[b].idx)
		if n == 0 {
			lo := fb.FMinHz + float64(b)*width
			return filterbank{}, fieldErr("filterbank.bins", "linear band %d (%.6g to %.6g Hz) holds no FFT bin: use fewer bins or a larger n_fft",
				b, lo, lo+width)
		}
		out.rows[b].wt = make([]float32, n)
		for j := range out.rows[b].wt {
			out.rows[b].wt[j] = float32(1 / float64(n))
		}
	}
	return out, nil
}

func hzToMel(f float64, scale string) float64 {
	if scale == "slaney" { // librosa: linear below 1 kHz, logarithmic above
		const fsp, minLogHz, minLogMel = 200.0 / 3, 1000.0, 15.0
		if f < minLogHz {
			return f / fsp
		}
		return minLogMel + math.Log(f/minLogHz)/(math.Log(6.4)/27)
	}
	return 2595 * math.Log10(1+f/700)
}

func melToHz(m float64, scale string) float64 {
	if scale == "slaney" {
		const fsp, minLogHz, minLogMel = 200.0 / 3, 1000.0, 15.0
		if m < minLogMel {
			return m * fsp
		}
		return minLogHz * math.Exp((m-minLogMel)*(math.Log(6.4)/27))
	}
	return 700 * (math.Pow(10, m/2595) - 1)
}

// melFilterbank builds triangular filters with corners equally spaced in mel between f_min and
// f_max, evaluated at each row's centre frequency (librosa, torchaudio and Heimdall's training
// features.py all do this; filters narrower than a bin come out empty, as Heimdall's 4 do).
// Each filter visits only the rows inside its triangle (found by binary search over the rows
// sorted by frequency), so the cost grows with rows + bins, not rows × bins.
func melFilterbank(fb Filterbank, rowHz []float64) filterbank {
	lo, hi := hzToMel(fb.FMinHz, fb.Scale), hzToMel(fb.FMaxHz, fb.Scale)
	pts := make([]float64, fb.Bins+2)
	step := (hi - lo) / float64(fb.Bins+1)
	for i := range pts { // numpy.linspace
		pts[i] = melToHz(lo+float64(i)*step, fb.Scale)
	}
	pts[len(pts)-1] = melToHz(hi, fb.Scale)
	byHz := make([]int32, len(rowHz))
	for i := range byHz {
		byHz[i] = int32(i)
	}
	slices.SortStableFunc(byHz, func(a, b int32) int { return cmp.Compare(rowHz[a], rowHz[b]) })
	out := filterbank{rows: make([]fbRow, fb.Bins)}
	for m := range out.rows {
		fl, fc, fr := pts[m], pts[m+1], pts[m+2]
		norm := 1.0
		if fb.Norm == "slaney" {
			norm = 2 / (fr - fl)
		}
		row := &out.rows[m]
		first, _ := slices.BinarySearchFunc(byHz, fl, func(i int32, f float64) int { return cmp.Compare(rowHz[i], f) })
		for _, i := range byHz[first:] {
			f := rowHz[i]
			if f > fr {
				break
			}
			var w float64
			switch {
			case f >= fl && f <= fc && fc > fl:
				w = (1 / (fc - fl)) * (f - fl)
			case f > fc && f <= fr:
				w = (1 / (fr - fc)) * (fr - f)
			}
			if w > 0 {
				row.idx = append(row.idx, i)
				row.wt = append(row.wt, float32(w*norm))
			}
		}
		// Rows in spectrum order, as the frontend's runs of consecutive bins expect.
		if !slices.IsSorted(row.idx) {
			sortRow(row)
		}
	}
	return out
}

// sortRow orders a filter's taps by spectrum row.
func sortRow(row *fbRow) {
	perm := make([]int, len(row.idx))
	for i := range perm {
		perm[i] = i
	}
	slices.SortFunc(perm, func(a, b int) int { return cmp.Compare(row.idx[a], row.idx[b]) })
	idx, wt := make([]int32, len(perm)), make([]float32, len(perm))
	for j, p := range perm {
		idx[j], wt[j] = row.idx[p], row.wt[p]
	}
	row.idx, row.wt = idx, wt
}
