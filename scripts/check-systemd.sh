#!/usr/bin/env bash
# Checks what edged ships for systemd, offline (no running systemd needed: works in a
# CI container where systemd is not PID 1):
#   1. `systemd-analyze verify` of systemd/edged.service is clean: exit 0 and not one
#      line of output about the unit (verify exits 0 on "Invalid syntax, ignoring" and
#      unknown keys, so its output counts, not only its status);
#   2. `systemd-analyze security --offline=yes` rates it at most MAX_EXPOSURE (2.0);
#   3. the udev rule parses (`udevadm verify` on systemd >= 253, `udevadm test` in a
#      private mount namespace on 252; skipped without udev) and the modprobe file
#      holds only `blacklist MODULE` lines.
# Exits non-zero when a check fails; exits 0 with a SKIP line when systemd-analyze is
# absent. Usage: scripts/check-systemd.sh [UNIT_FILE]   (MAX_EXPOSURE=1.5 to tighten)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
unit=${1:-$root/systemd/edged.service}
rules=$root/systemd/60-edged-rtlsdr.rules
blacklist=$root/systemd/blacklist-edged-rtlsdr.conf
max=${MAX_EXPOSURE:-2.0}
name=$(basename "$unit")

say() { printf 'check-systemd: %s\n' "$*"; }
fail=0

if ! command -v systemd-analyze >/dev/null 2>&1; then
  say "SKIP: systemd-analyze not found (install the systemd package to run these checks)"
  exit 0
fi
say "$(systemd-analyze --version | head -1)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- 1. verify ------------------------------------------------------------------
# verify insists that every Exec*= program exists and is executable. The unit names
# /usr/local/bin/edged, which a CI machine or a fresh checkout does not have, so verify
# a copy (same file name: the unit name matters) in which each missing program is
# replaced by an executable stub in $tmp; nothing else in the copy changes.
cp "$unit" "$tmp/$name"
printf '#!/bin/sh\nexit 0\n' >"$tmp/stub"
chmod 0755 "$tmp/stub"
while IFS= read -r prog; do
  [ -x "$prog" ] && continue
  stub=$tmp/bin$prog
  mkdir -p "$(dirname "$stub")"
  cp "$tmp/stub" "$stub"
  # Replace the program only where it starts an Exec*= command (after optional prefixes).
  sed -i -E "s#^(Exec[A-Za-z]*=[-@:+!]*)$prog( |\$)#\1$stub\2#" "$tmp/$name"
  say "verify: $prog is not installed here; verifying a copy that runs a stub instead"
done < <(sed -n -E 's/^Exec[A-Za-z]*=[-@:+!]*(\/[^ ]+).*/\1/p' "$unit" | sort -u)

set +e
verify_out=$(systemd-analyze verify --man=no "$tmp/$name" 2>&1)
verify_rc=$?
set -e
# Lines about other units of the host (a broken vendor unit) are shown, not counted.
ours=$(printf '%s\n' "$verify_out" | grep -F -e "$name" -e "$tmp" || true)
[ -n "$verify_out" ] && printf '%s\n' "$verify_out" | sed 's/^/  verify: /'
if [ "$verify_rc" -ne 0 ] || [ -n "$ours" ]; then
  say "FAIL: systemd-analyze verify $name (exit $verify_rc)"
  fail=1
else
  say "ok: systemd-analyze verify $name is clean"
fi

# --- 2. security ------------------------------------------------------------------
# --threshold takes the exposure times ten (2.0 -> 20); the offline review reads the
# unit file itself (drop-ins installed on this host for the same name apply too).
threshold=$(awk -v m="$max" 'BEGIN { printf "%d", m * 10 + 0.5 }')
set +e
sec_out=$(systemd-analyze security --offline=yes --threshold="$threshold" --no-pager "$unit" 2>&1)
sec_rc=$?
set -e
exposure=$(printf '%s\n' "$sec_out" | sed -n -E 's/.*Overall exposure level for [^:]*: ([0-9.]+).*/\1/p' | tail -1)
printf '%s\n' "$sec_out" | grep -E '^✗|Overall' | sed 's/^/  security: /' || true
if [ -z "$exposure" ]; then
  printf '%s\n' "$sec_out" | sed 's/^/  security: /'
  say "FAIL: systemd-analyze security printed no exposure level (exit $sec_rc)"
  fail=1
elif [ "$sec_rc" -ne 0 ] || ! awk -v e="$exposure" -v m="$max" 'BEGIN { exit !(e <= m) }'; then
  say "FAIL: exposure $exposure is above $max (systemd-analyze security exit $sec_rc)"
  fail=1
else
  say "ok: exposure $exposure <= $max"
fi

# --- 3. udev rule and modprobe blacklist ----------------------------------------------
if [ -f "$rules" ]; then
  rn=$(basename "$rules")
  if command -v udevadm >/dev/null 2>&1 && udevadm verify --help >/dev/null 2>&1; then
    if udevadm verify "$rules"; then say "ok: udevadm verify $rn"
    else say "FAIL: udevadm verify $rn"; fail=1; fi
  elif command -v udevadm >/dev/null 2>&1 && command -v unshare >/dev/null 2>&1 \
      && [ "$(id -u)" -eq 0 ] && [ -d /etc/udev/rules.d ] && [ -e /sys/class/net/lo ]; then
    # systemd 252 has no `udevadm verify`, but `udevadm test` parses every rules file
    # and names the bad lines. Run it in a private mount namespace where
    # /etc/udev/rules.d holds only our rule: the host is left untouched.
    mkdir -p "$tmp/rules.d"
    cp "$rules" "$tmp/rules.d/"
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh
    udev_out=$(unshare -m sh -c 'mount --bind "$1" /etc/udev/rules.d && udevadm test /sys/class/net/lo' \
      sh "$tmp/rules.d" 2>&1 || true)
    if ! printf '%s\n' "$udev_out" | grep -q "Reading rules file: /etc/udev/rules.d/$rn"; then
      say "skip: udevadm test did not read $rn here"
    elif printf '%s\n' "$udev_out" | grep -F "$rn" | grep -v 'Reading rules file' | sed 's/^/  udev: /' | grep .; then
      say "FAIL: udevadm test reports problems in $rn"; fail=1
    else
      say "ok: udevadm test parses $rn without complaint"
    fi
  else
    say "skip: no udevadm verify (systemd >= 253), nor udevadm test + unshare as root"
  fi
  for id in 2832 2838; do
    grep -q "ATTR{idProduct}==\"$id\"" "$rules" || { say "FAIL: no rule for 0bda:$id"; fail=1; }
  done
fi
if [ -f "$blacklist" ]; then
  bad=$(grep -v -E '^[[:space:]]*(#|$)' "$blacklist" | grep -v -E '^blacklist [a-z0-9_]+$' || true)
  if [ -n "$bad" ]; then say "FAIL: unexpected lines in $(basename "$blacklist"): $bad"; fail=1
  elif ! grep -q '^blacklist dvb_usb_rtl28xxu$' "$blacklist"; then say "FAIL: dvb_usb_rtl28xxu not blacklisted"; fail=1
  else say "ok: $(basename "$blacklist")"; fi
fi

exit "$fail"
