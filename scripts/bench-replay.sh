#!/usr/bin/env bash
# End-to-end replay speed: `edged replay` runs a 2.4 MS/s recording (the reference model's
# beacon C bursting in every other window) through the whole pipeline — resampling, STFT, gate,
# ONNX Runtime, ellipses, bbolt commits and MQTT QoS 1 to a local mosquitto — and the time from
# start until the broker has acknowledged every fix is compared with the recording's length.
# Prints the median of ROUNDS runs (default 3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds=${ROUNDS:-3}
seconds=${SECONDS_OF_IQ:-60}
tmp=$(mktemp -d)
cleanup() { [ -n "${mpid:-}" ] && kill "$mpid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$tmp/mosquitto.conf"
/usr/sbin/mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
mpid=$!

windows=$((seconds * 250000 / 16384))
rec=$(bin/edged synth -beacon C -sample-rate 2400k -windows "$windows" -bursts odd -snr-db 20 -out "$tmp")
samples=$(( $(stat -c %s "$rec") / 2 ))

times=()
for i in $(seq 1 "$rounds"); do
	rm -f "$tmp/fixes.db"
	start=$(date +%s.%N)
	# -db commits every fix to bbolt; -mqtt publishes them at QoS 1 and returns once the
	# broker has acknowledged them all.
	bin/edged replay -receiver-id bench -db "$tmp/fixes.db" -mqtt "tcp://127.0.0.1:$port" "$rec" >"$tmp/fixes.jsonl"
	end=$(date +%s.%N)
	t=$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')
	times+=("$t")
	printf 'run %d: %.2f s for %.1f s of IQ, %d fixes\n' "$i" "$t" "$(awk -v n="$samples" 'BEGIN{print n/2400000}')" "$(wc -l <"$tmp/fixes.jsonl")"
done
median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')
awk -v m="$median" -v n="$samples" 'BEGIN {printf "replay 2.4 MS/s end to end (store + MQTT QoS 1): median %.2f s for %.1f s of IQ = %.1fx real time (%.1f MS/s), start-up included\n", m, n/2400000, n/2400000/m, n/m/1e6}'
