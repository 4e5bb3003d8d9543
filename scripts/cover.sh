#!/bin/sh
# scripts/cover.sh — `make cover`: statement coverage of every package that ships in the edged
# binary, from the unit tests and from the end-to-end tests' runs of the real binary, merged.
#
# The unit tests write raw counters (-test.gocoverdir) into DIR/unit; the end-to-end tests in
# cmd/edged build the binary with -cover and point its GOCOVERDIR at DIR/e2e (E2E_GOCOVERDIR).
# `go tool covdata` merges the two per package; DIR/coverage.txt is the merged profile for
# `go tool cover -html`. The table lists unit, end-to-end and merged figures, and marks a
# package below COVER_MIN (default 80) percent.
#
# usage: scripts/cover.sh [DIR]   (default build/cover); GO, TAGS and TEST_TIMEOUT as in make.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=${1:-build/cover}
go=${GO:-go}
tags=${TAGS:-rtlsdr}
min=${COVER_MIN:-80}
module=$($go list -m)

rm -rf "$dir"
mkdir -p "$dir/unit" "$dir/e2e"
dir=$(cd "$dir" && pwd)

status=0
E2E_GOCOVERDIR="$dir/e2e" $go test -tags "$tags" -timeout "${TEST_TIMEOUT:-30m}" -count=1 \
	-cover -covermode=atomic -coverpkg="$module/..." ./... -args -test.gocoverdir="$dir/unit" \
	>"$dir/test.log" 2>&1 || status=$?
grep -E '^(ok|FAIL|---|panic)' "$dir/test.log" || true

# The packages linked into the binary, without test helpers.
shipped=$($go list -tags "$tags" -deps ./cmd/edged | grep "^$module" | sort)

# percent DIRS: "package percent" lines from covdata. A package without statements gets no
# figure and no line end there, so pairs are picked out of the text, not read line by line.
percent() {
	$go tool covdata percent -i="$1" 2>/dev/null |
		grep -oE '[^[:space:]]+[[:space:]]+coverage: [0-9.]+%' |
		awk '{pct = $3; sub(/%/, "", pct); print $1, pct}'
}
percent "$dir/unit" >"$dir/unit.txt"
percent "$dir/e2e" >"$dir/e2e.txt"
percent "$dir/unit,$dir/e2e" >"$dir/merged.txt"
$go tool covdata textfmt -i="$dir/unit,$dir/e2e" -o "$dir/coverage.txt"

printf '| package | unit | end-to-end | merged |\n|---|---:|---:|---:|\n'
below=0
for p in $shipped; do
	u=$(awk -v p="$p" '$1 == p {print $2}' "$dir/unit.txt")
	e=$(awk -v p="$p" '$1 == p {print $2}' "$dir/e2e.txt")
	m=$(awk -v p="$p" '$1 == p {print $2}' "$dir/merged.txt")
	mark=""
	if [ -z "$u$e$m" ]; then
		printf '| `%s` | – | – | – (no statements) |\n' "${p#"$module"/}"
		continue
	fi
	if [ -z "$m" ] || awk -v m="${m:-0}" -v min="$min" 'BEGIN {exit !(m < min)}'; then
		mark=" (below $min)"
		below=$((below + 1))
	fi
	printf '| `%s` | %s | %s | **%s**%s |\n' "${p#"$module"/}" "${u:-0.0}%" "${e:-0.0}%" "${m:-0.0}%" "$mark"
done
echo
echo "merged profile: $dir/coverage.txt (go tool cover -html=$dir/coverage.txt)"
if [ "$below" -gt 0 ]; then
	echo "$below shipped package(s) below $min %"
fi
if [ "$status" -ne 0 ]; then
	echo "cover: tests failed (exit $status), so these figures miss what the failed tests cover; see $dir/test.log" >&2
	exit "$status"
fi
