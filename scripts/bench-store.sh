#!/usr/bin/env bash
# What edged writes to its disk (an SD card, on most receiver hosts): the daemon runs its
# embedded demo (beacon D in every other 65 ms window, ~7.6 fixes/s at real time) on its
# default configuration, and the bytes the kernel counts as written by the process
# (/proc/PID/io write_bytes) are divided by the fixes committed, over SECONDS (default 60)
# at real time and as fast as it goes, from a fresh file, with a broker, and on a file
# already at its retention bounds. Then the file's size after FIXES (default 1,000,000)
# fixes against the live data it holds, the predict cache after 100,000 fresh answers
# against store.cache_max_bytes, and the file when every bound is reached at once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${SECONDS_OF_DEMO:-60}
fixes=${FIXES:-1000000}
predicts=${PREDICTS:-100000}
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

[ -x bin/edged ] || { echo "bench-store: build bin/edged first (make build)" >&2; exit 1; }
go build -o "$tmp/storebench" ./internal/cmd/storebench
go build -tags "${TAGS:-rtlsdr}" -o "$tmp/loadtest" ./internal/cmd/loadtest
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() { curl -sf "http://$1/metrics" | awk -v m="$2" '$1 == m {printf "%.0f\n", $2}'; }
write_bytes() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }

# run NAME PACE STATE [VAR=value...]: start the daemon on the demo; sets $pid, $wcpid
# (the stdout counter) and $addr.
run() {
	local name=$1 pace=$2 state=$3
	shift 3
	addr=127.0.0.1:$(free_port)
	mkfifo "$tmp/$name.out"
	# stdout goes through a pipe to wc: fixes printed to a file would count as written.
	wc -lc <"$tmp/$name.out" >"$tmp/$name.wc" &
	wcpid=$!
	env EDGED_STATE_DIR="$state" EDGED_HTTP_LISTEN="$addr" EDGED_SOURCE_FILE_PACE="$pace" "$@" \
		bin/edged run >"$tmp/$name.out" 2> >(cat >"$tmp/$name.log") &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 300); do
		n=$(metric "$addr" edged_fixes_total || true)
		[ -n "$n" ] && [ "$n" -gt 0 ] && return 0
		sleep 0.1
	done
	echo "bench-store: $name: no fix committed within 30 s" >&2
	cat "$tmp/$name.log" >&2
	exit 1
}

stop() {
	kill "$pid"
	wait "$pid" || true
}

# measure NAME LABEL: bytes written per fix over $seconds, from just after a commit (run
# returns at the first) to just after the first commit once $seconds have passed, so the
# bytes and the fixes counted are those of the same commits.
measure() {
	local name=$1 label=$2 w0 n0 s0 w1 n1 s1 mid t0 t1
	t0=$(date +%s.%N) w0=$(write_bytes "$pid") n0=$(metric "$addr" edged_fixes_total) s0=$(metric "$addr" edged_store_written_bytes_total)
	sleep "$seconds"
	mid=$(metric "$addr" edged_fixes_total)
	for _ in $(seq 300); do
		[ "$(metric "$addr" edged_fixes_total)" -gt "$mid" ] && break
		sleep 0.1
	done
	t1=$(date +%s.%N) w1=$(write_bytes "$pid") n1=$(metric "$addr" edged_fixes_total) s1=$(metric "$addr" edged_store_written_bytes_total)
	stop
	wait "$wcpid" # it writes its count once edged has closed the pipe
	read -r lines chars <"$tmp/$name.wc"
	awk -v name="$label" -v w=$((w1 - w0)) -v n=$((n1 - n0)) -v s=$((s1 - s0)) -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" -v json=$((chars / lines)) \
		'BEGIN {printf "%-34s %6.1f fixes/s  %6.0f B/fix written (kernel)  %6.0f B/fix (store counter)  = %.2fx the %d-byte fix JSON\n",
			name, n/t, w/n, s/n, w/n/json, json}' | tee -a "$tmp/summary"
}

echo "store benchmark: $seconds s per run, load average $(cut -d' ' -f1-3 /proc/loadavg)"
run fresh-pace1 1 "$tmp/s1"
measure fresh-pace1 "demo, real time (pace 1)"
run fresh-pace0 0 "$tmp/s2"
measure fresh-pace0 "demo, as fast as it goes (pace 0)"

mport=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$mport" >"$tmp/mosquitto.conf"
/usr/sbin/mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
pids+=("$!")
run broker-pace1 1 "$tmp/s3" EDGED_MQTT_BROKER="tcp://127.0.0.1:$mport"
measure broker-pace1 "demo, real time, MQTT broker"

echo "filling a store with $fixes fixes (default retention, 256 per commit)..."
mkdir -p "$tmp/s4"
"$tmp/storebench" -db "$tmp/s4/edged.db" -fixes "$fixes" -batch 256 | tee "$tmp/fill.txt"
run steady-pace1 1 "$tmp/s4"
measure steady-pace1 "demo, real time, store at retention"

echo "caching $predicts fresh predict answers through the API..."
run cache 1 "$tmp/s4" EDGED_FIX_PRINT=none
"$tmp/loadtest" -url "http://$addr" -clients 16 -fresh 1 -requests "$predicts" -duration 30m | tee "$tmp/loadtest.txt"
cache=$(metric "$addr" edged_store_cache_bytes) evicted=$(metric "$addr" edged_store_cache_evictions_total)
stop
"$tmp/storebench" -db "$tmp/s4/edged.db" >"$tmp/after.txt"
cap=$(awk '$1 == "cache_max_bytes:" {print $2}' configs/edged.yaml)
file=$(awk '$1 == "file_bytes" {print $2}' "$tmp/after.txt")
live=$(awk '$1 == "live_bytes" {print $2}' "$tmp/after.txt")

echo "worst case: a broker that never answers (outbox at its bounds) and a full cache..."
"$tmp/storebench" -db "$tmp/s5.db" -fixes "$fixes" -batch 256 -outbox -cache "$predicts" | tee "$tmp/worst.txt"

echo
echo "== summary (load average $(cut -d' ' -f1-3 /proc/loadavg))"
cat "$tmp/summary"
awk '$1 == "file_bytes" {f = $2} $1 == "live_bytes" {l = $2} $1 == "fixes_kept" {k = $2}
	END {printf "after %s fixes at default retention: file %.1f MB, live data %.1f MB (%d fixes kept) = %.2fx\n", "'"$fixes"'", f/1e6, l/1e6, k, f/l}' "$tmp/fill.txt"
awk -v c="$cache" -v cap="$cap" -v e="$evicted" -v f="$file" -v l="$live" -v n="$predicts" \
	'BEGIN {printf "after %d fresh predicts: cache %.1f MB of its %.1f MB cap (%d evicted); file %.1f MB, live %.1f MB = %.2fx\n", n, c/1e6, cap/1e6, e, f/1e6, l/1e6, f/l}'
awk '$1 == "file_bytes" {f = $2} $1 == "live_bytes" {l = $2} $1 == "outbox" {o = $2; ob = $4}
	END {printf "worst case, outbox full (%d fixes, %.1f MB) and cache full: file %.1f MB (limit 256 MB), live %.1f MB = %.2fx\n", o, ob/1e6, f/1e6, l/1e6, f/l}' "$tmp/worst.txt"
