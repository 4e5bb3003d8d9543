/*
 * fftw_ref: the C reference for edged's spectrogram throughput (`make bench`).
 *
 * Computes, on one core, what dsp.BenchmarkFrontend/cu8 computes: cu8 IQ → complex float,
 * frames of n_fft 1024 every 512 samples, periodic Hann window, FFTW single-precision forward
 * FFT (FFTW_MEASURE), power |X|² of the onesided bins 0..512, 64 triangular HTK-mel filters over
 * 0..fs/2 (weights evaluated at the bin centres, stored sparse), 10·log10(x + 1e-10).
 * The file is read into memory first and processed `passes` times; only processing is timed.
 *
 * usage: fftw_ref [file.cu8 [passes]]   (no file or "-": 2^18 pseudo-random cu8 samples)
 * prints: "fftw_ref: <wall MS/s> MS/s <thread-CPU MS/s> cpuMS/s (...)"
 */
#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NFFT 1024
#define HOP 512
#define NMEL 64
#define NBINS (NFFT / 2 + 1)

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

int main(int argc, char **argv) {
	const char *path = argc > 1 ? argv[1] : "-";
	int passes = argc > 2 ? atoi(argv[2]) : 20;
	unsigned char *raw;
	size_t nbytes;
	if (strcmp(path, "-") == 0) {
		nbytes = 2u << 18;
		raw = malloc(nbytes);
		unsigned long long s = 0x853c49e6748fea9bULL;
		for (size_t i = 0; i < nbytes; i++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			raw[i] = (unsigned char)(s >> 56);
		}
	} else {
		FILE *fp = fopen(path, "rb");
		if (!fp) {
			perror(path);
			return 1;
		}
		fseek(fp, 0, SEEK_END);
		nbytes = (size_t)ftell(fp);
		fseek(fp, 0, SEEK_SET);
		raw = malloc(nbytes);
		if (fread(raw, 1, nbytes, fp) != nbytes) {
			perror(path);
			return 1;
		}
		fclose(fp);
	}
	size_t n = nbytes / 2;
	if (n < NFFT) {
		fprintf(stderr, "%s: fewer than %d samples\n", path, NFFT);
		return 1;
	}

	float lut[256], win[NFFT];
	for (int i = 0; i < 256; i++) lut[i] = ((float)i - 127.5f) / 127.5f;
	for (int i = 0; i < NFFT; i++) win[i] = (float)(0.5 - 0.5 * cos(2 * M_PI * i / NFFT));

	/* Sparse mel weights over the onesided bins (fs cancels: frequencies in bins). */
	int mstart[NMEL], mlen[NMEL];
	float *mw[NMEL];
	double lo = hz_to_mel(0), hi = hz_to_mel(NFFT / 2.0), pts[NMEL + 2];
	for (int i = 0; i < NMEL + 2; i++) pts[i] = mel_to_hz(lo + i * (hi - lo) / (NMEL + 1));
	for (int m = 0; m < NMEL; m++) {
		mw[m] = calloc(NBINS, sizeof(float));
		mstart[m] = -1;
		mlen[m] = 0;
		for (int k = 0; k < NBINS; k++) {
			double f = k, w = 0;
			if (f >= pts[m] && f <= pts[m + 1] && pts[m + 1] > pts[m]) w = (f - pts[m]) / (pts[m + 1] - pts[m]);
			else if (f > pts[m + 1] && f <= pts[m + 2]) w = (pts[m + 2] - f) / (pts[m + 2] - pts[m + 1]);
			if (w > 0) {
				if (mstart[m] < 0) mstart[m] = k;
				mw[m][mlen[m]++] = (float)w;
			}
		}
		if (mstart[m] < 0) mstart[m] = 0;
	}

	fftwf_complex *in = fftwf_alloc_complex(NFFT), *out = fftwf_alloc_complex(NFFT);
	fftwf_plan plan = fftwf_plan_dft_1d(NFFT, in, out, FFTW_FORWARD, FFTW_MEASURE);
	float *sig = fftwf_alloc_real(2 * n), pw[NBINS], mel[NMEL];
	double checksum = 0;
	size_t frames = 0;

	struct timespec t0, t1, c0, c1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	for (int pass = 0; pass < passes; pass++) {
		for (size_t i = 0; i < n; i++) {
			sig[2 * i] = lut[raw[2 * i]];
			sig[2 * i + 1] = lut[raw[2 * i + 1]];
		}
		for (size_t off = 0; off + NFFT <= n; off += HOP) {
			const float *x = sig + 2 * off;
			for (int i = 0; i < NFFT; i++) {
				in[i][0] = x[2 * i] * win[i];
				in[i][1] = x[2 * i + 1] * win[i];
			}
			fftwf_execute(plan);
			for (int k = 0; k < NBINS; k++) pw[k] = out[k][0] * out[k][0] + out[k][1] * out[k][1];
			for (int m = 0; m < NMEL; m++) {
				float s = 0;
				const float *p = pw + mstart[m], *w = mw[m];
				for (int j = 0; j < mlen[m]; j++) s += w[j] * p[j];
				mel[m] = 10.0f * log10f(s + 1e-10f);
			}
			checksum += mel[frames % NMEL];
			frames++;
		}
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
	double cpu = (c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) * 1e-9;
	double samples = (double)n * passes;
	printf("fftw_ref: %.1f MS/s %.1f cpuMS/s (%.0f samples, %.3f s wall, %.3f s cpu, checksum %.3f)\n",
	       samples / secs / 1e6, samples / cpu / 1e6, samples, secs, cpu, checksum);
	return 0;
}
