package dsp

// RowsHz returns the centre frequency of each feature row, in Hz relative to the conditioned
// signal's 0 Hz (the capture centre + ShiftHz): the weighted mean of the FFT bins the row's
// filter reads. A row whose filter reads no bin (a mel filter narrower than an FFT bin) takes
// the value interpolated between its neighbours. Rows follow the contract's bin order, so
// with "natural" bins they are not sorted. Displays use it to label a frequency axis.
func (f *Frontend) RowsHz() []float64 {
	s := f.s
	out := make([]float64, len(s.fb.rows))
	known := make([]bool, len(out))
	for r, row := range s.fb.rows {
		var sum, wsum float64
		for j, i := range row.idx {
			w := float64(row.wt[j])
			sum += w * s.rowHz[i]
			wsum += w
		}
		if wsum > 0 {
			out[r], known[r] = sum/wsum, true
		}
	}
	// Fill empty rows from the nearest known rows on either side.
	for r := range out {
		if known[r] {
			continue
		}
		lo, hi := r-1, r+1
		for lo >= 0 && !known[lo] {
			lo--
		}
		for hi < len(out) && !known[hi] {
			hi++
		}
		switch {
		case lo >= 0 && hi < len(out):
			out[r] = out[lo] + (out[hi]-out[lo])*float64(r-lo)/float64(hi-lo)
		case lo >= 0:
			out[r] = out[lo]
		case hi < len(out):
			out[r] = out[hi]
		}
	}
	return out
}
