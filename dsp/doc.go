// Package dsp turns IQ into exactly the features a model's contract asks for: frequency
// shift and resampling to the contract rate, STFT, filterbank, log and normalisation, plus a
// signal gate measuring each window's SNR. It is pure computation on slices: no I/O.
package dsp
