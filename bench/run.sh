#!/bin/sh
# bench/run.sh — `make bench`: spectrogram throughput of edged's dsp package against a C
# reference using FFTW directly (bench/fftw_ref.c), same parameters: cu8 in, n_fft 1024,
# hop 512, periodic Hann, power, 64 HTK-mel filters, 10·log10; one core each.
#
# The two alternate for ROUNDS rounds (default 7) and the medians are printed, as wall-clock
# and as thread-CPU throughput: on a shared machine other processes inflate wall time, and
# CPU time is the fairer per-core figure. Input: BENCH_CU8, else the g001 recording from
# ../shared/testdata/iq-real, else synthetic samples.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds=${ROUNDS:-7}
input=${BENCH_CU8:-$root/../shared/testdata/iq-real/rtl_433/g001_433.92M_250k.cu8}
[ -f "$input" ] || input=-

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
gcc -O2 -Wall -o bench/fftw_ref bench/fftw_ref.c -lfftw3f -lm
go test -c -o "$tmp/dsp.test" ./dsp/

i=0
while [ "$i" -lt "$rounds" ]; do
	bench/fftw_ref "$input" 20 >>"$tmp/c.txt"
	(cd dsp && BENCH_CU8=$( [ "$input" = - ] && echo none || echo "$input") \
		"$tmp/dsp.test" -test.run '^$' -test.bench 'BenchmarkFrontend/cu8$' \
		-test.benchtime 400x -test.benchmem) >>"$tmp/go.txt"
	i=$((i + 1))
done

# median FILE PATTERN UNIT: the median of the number just before UNIT on lines matching PATTERN.
median() {
	grep "$2" "$1" | awk -v unit="$3" '{for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1)}' |
		sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2}'
}
c_wall=$(median "$tmp/c.txt" fftw_ref MS/s)
c_cpu=$(median "$tmp/c.txt" fftw_ref cpuMS/s)
g_wall=$(median "$tmp/go.txt" BenchmarkFrontend MS/s)
g_cpu=$(median "$tmp/go.txt" BenchmarkFrontend cpuMS/s)
g_allocs=$(median "$tmp/go.txt" BenchmarkFrontend allocs/op)

echo "spectrogram: cu8 in, n_fft 1024, hop 512, Hann, power, 64 mel, log10; one core; median of $rounds rounds"
echo "input: $input"
printf '  C  fftw_ref (FFTW float, gcc -O2):    %7.1f MS/s wall  %7.1f MS/s cpu\n' "$c_wall" "$c_cpu"
printf '  Go dsp.Frontend.Features (+Measure):  %7.1f MS/s wall  %7.1f MS/s cpu  %s allocs/window\n' "$g_wall" "$g_cpu" "$g_allocs"
awk -v gw="$g_wall" -v cw="$c_wall" -v gc="$g_cpu" -v cc="$c_cpu" \
	'BEGIN {printf "  ratio Go/C:                           %7.2f wall       %7.2f cpu   (target >= 0.80; >= 100 MS/s per core)\n", gw/cw, gc/cc}'
echo
echo "other dsp benchmarks (one run each):"
(cd dsp && "$tmp/dsp.test" -test.run '^$' -test.bench 'BenchmarkFrontend/complex64$|BenchmarkHeimdall|BenchmarkConditioner' \
	-test.benchtime 1s -test.benchmem) | grep '^Benchmark'
