#!/usr/bin/env bash
# `make systemd-test`: the amd64 package under a real systemd. Boots a volatile container of
# this machine (systemd-nspawn -D / --volatile=yes: a tmpfs root with this machine's /usr,
# overlaid writable, and a copy of the dpkg database), installs this tree's
# build/deb/edged_<version>_amd64.deb with dpkg and checks, printing each figure:
#   install    edged version; unit installed but not enabled; config quiet on stdout
#   ready      READY=1 (unit active) at most 1 s after the first fix; STATUS= line
#   fixes      fixes reach a mosquitto in the container
#   reload     accepted: same PID; refused (bad config): `systemctl reload` fails, same PID,
#              the warning visible with `journalctl -p warning`
#   watchdog   a stalled rtl_tcp source gets edged killed by the watchdog and restarted
#   stop       with the broker hung (SIGSTOP) and fixes in flight: stop <= 5 s, result success
#   exit 78    a bad config: exit status 78, no restart loop, the error at priority err
#   purge      dpkg --purge leaves nothing it installed, nor edged's state
# Skips (exit 0, saying why) where this cannot run: not root, no systemd-nspawn, no package,
# or a container that does not boot. DEB=FILE tests that package instead of this tree's. Test drop-ins shorten WatchdogSec (5 s) and RestartSec
# (1 s) so the test takes about two minutes; everything else is the shipped unit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { printf 'systemd-test: %s\n' "$*"; }
skip() { say "SKIP: $*"; exit 0; }
fail() { say "FAIL: $*"; failed=1; }
failed=0

[ "$(id -u)" -eq 0 ] || skip "needs root (systemd-nspawn)"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn not found (make deps installs systemd-container)"
command -v nsenter >/dev/null || skip "nsenter not found"
deb=${DEB:-build/deb/edged_$(scripts/version.sh -deb)_amd64.deb} # DEB=FILE: another package
[ -f "$deb" ] || skip "no $deb: run \`make deb\` (ARCHES=amd64 for this one)"
debver=$(dpkg-deb -f "$deb" Version)

work=$(mktemp -d /var/tmp/edged-systemd-test.XXXXXX)
machine=edged-test-$$
nspawn_pid=
cleanup() {
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$nspawn_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- Boot -----------------------------------------------------------------------------
# A fresh machine id: no first-boot presets copied from this host's /etc, so none of its
# services start in the container. /usr is overlaid so that dpkg can write to it; the dpkg
# database is a copy, so the host's is never touched.
systemd-id128 new >"$work/machine-id"
mkdir -p "$work/dpkg" "$work/srv"
cp -a /var/lib/dpkg/. "$work/dpkg/"
# The container's users and groups are systemd's basic set: overrides naming the host's
# other groups (ssl-cert...) would stop dpkg, and edged has none.
: >"$work/dpkg/statoverride"
cp "$deb" "$work/srv/"
cat >"$work/srv/mosquitto.conf" <<'EOF'
listener 1883 127.0.0.1
allow_anonymous true
persistence false
EOF
# An rtl_tcp server speaking the protocol (12-byte RTL0 header, then cu8 noise at 250 kS/s);
# SIGSTOP stalls it with the connection open.
cat >"$work/srv/rtl_tcp.py" <<'EOF'
import os, socket, struct, threading, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 1234)); srv.listen(4)
def serve(c):
    try:
        c.sendall(b"RTL0" + struct.pack(">II", 5, 29))
        threading.Thread(target=lambda: [c.recv(5) for _ in iter(int, 1)], daemon=True).start()
        chunk = bytes(127 + (b % 7) - 3 for b in os.urandom(10000))  # 20 ms at 250 kS/s
        while True:
            c.sendall(chunk); time.sleep(0.02)
    except OSError:
        c.close()
while True:
    c, _ = srv.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
systemd-nspawn -q -D / --volatile=yes -M "$machine" --register=no --keep-unit --private-network \
  --console=read-only --bind-ro="$work/machine-id:/etc/machine-id" --overlay=/usr::/usr \
  --bind="$work/dpkg:/var/lib/dpkg" --bind-ro="$work/srv:/srv/edged-test" \
  -b systemd.mask=systemd-machine-id-commit.service >"$work/console.log" 2>&1 &
nspawn_pid=$!
pid1=
for _ in $(seq 300); do
  kill -0 "$nspawn_pid" 2>/dev/null || break
  for c in $(pgrep -P "$nspawn_pid" || true); do
    grep -q $'^NSpid:\t[0-9]*\t1$' "/proc/$c/status" 2>/dev/null && pid1=$c
  done
  [ -n "$pid1" ] && break
  sleep 0.1
done
if [ -z "$pid1" ]; then
  tail -5 "$work/console.log" | sed 's/^/  /'
  skip "systemd-nspawn could not boot a container here"
fi
# Commands in the container get a clean environment: the host's (EDGED_ORT_LIB exported by
# the Makefile, paths into a checkout the container cannot see) must not leak into edged.
ct() { nsenter --target "$pid1" --all env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
# "offline" until the container's systemd has set itself up; then --wait waits for the boot.
state=offline
for _ in $(seq 300); do
  state=$(timeout 90 nsenter --target "$pid1" --all systemctl is-system-running --wait 2>/dev/null || true)
  [ "$state" = offline ] || [ -z "$state" ] || break
  sleep 0.1
done
case "$state" in
  running|degraded) say "container booted ($(ct systemctl --version | head -1), state $state)" ;;
  *) tail -5 "$work/console.log" | sed 's/^/  /'; skip "the container's systemd did not finish booting (state '$state')" ;;
esac
# seconds.fraction of the journal entries of unit $1 matching $2 (first one).
# (awk reads to the end: an early exit would SIGPIPE journalctl and, with pipefail, the test.)
jtime() { ct journalctl -u "$1" -o short-unix --no-pager | awk -v s="$2" 'index($0, s) && !t { t = $1 } END { print t }'; }
prop() { ct systemctl show -p "$2" --value "$1"; }
wait_for() { # wait_for SECONDS WHAT COMMAND...: poll COMMAND every 0.2 s
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { fail "$what: not within ${limit}s"; return 1; }
    sleep 0.2
  done
}

# --- Install ---------------------------------------------------------------------------
if ct dpkg -i "/srv/edged-test/$(basename "$deb")" >"$work/dpkg-i.log" 2>&1; then
  say "ok: dpkg -i $(basename "$deb")"
else
  sed 's/^/  /' "$work/dpkg-i.log"; fail "dpkg -i"; exit 1
fi
ct dpkg -L edged | sort >"$work/files"
ver=$(ct edged version)
printf '%s\n' "$ver" | sed 's/^/  /'
grep -q "^edged ${debver%%+*}" <<<"$ver" && grep -q '^onnxruntime 1.24.1 /usr/lib/edged/libonnxruntime.so.1$' <<<"$ver" &&
  say "ok: edged version names the package's version and the bundled ONNX Runtime" ||
  fail "edged version: want ${debver%%+*}… and onnxruntime 1.24.1 from /usr/lib/edged"
[ "$(ct systemctl is-enabled edged || true)" = disabled ] && [ "$(prop edged ActiveState)" = inactive ] &&
  say "ok: edged.service installed, not enabled, not started" || fail "edged.service enabled or started by dpkg -i"
ct grep -q '^  print: none$' /etc/edged/edged.yaml && say "ok: /etc/edged/edged.yaml has fix.print: none" ||
  fail "/etc/edged/edged.yaml prints fixes on stdout"
ct systemctl enable --quiet edged || fail "systemctl enable edged"

# Test drop-ins (runtime, removed before purge): quick watchdog and restart.
ct mkdir -p /run/systemd/system/edged.service.d
ct sh -c 'printf "[Service]\nWatchdogSec=5\nRestartSec=1\n" >/run/systemd/system/edged.service.d/test.conf'
ct systemctl daemon-reload
ct systemd-run -q --unit=test-broker /usr/sbin/mosquitto -c /srv/edged-test/mosquitto.conf || fail "mosquitto"
ct systemd-run -q --unit=test-rtltcp /usr/bin/python3 /srv/edged-test/rtl_tcp.py || fail "the rtl_tcp server"
# /etc/default/edged is the operator's: point edged at the broker; fixes also on stdout, so
# the journal dates the first one.
setenv() { ct sh -c "printf '%s\n' $* >/etc/default/edged"; }
setenv EDGED_RECEIVER_ID=rx-nspawn EDGED_MQTT_BROKER=tcp://127.0.0.1:1883 EDGED_FIX_PRINT=stdout

# --- Ready -------------------------------------------------------------------------------
t0=$(date +%s.%N)
ct systemctl start edged || fail "systemctl start edged"
t1=$(date +%s.%N)
# Fixes are printed once committed, and commits are grouped: the first may follow READY=1.
first_fix_logged() { [ -n "$(jtime edged '{"type":"Feature"')" ]; }
wait_for 30 "a first fix in the journal" first_fix_logged || true
first_fix=$(jtime edged '{"type":"Feature"')
ready=$(jtime edged 'Started edged.service')
if [ -n "$first_fix" ] && [ -n "$ready" ]; then
  lag=$(awk -v a="$ready" -v b="$first_fix" 'BEGIN { printf "%.3f", a - b }')
  say "start: systemctl start took $(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f", a - b }') s; READY=1 (unit active) $lag s after the first fix"
  awk -v l="$lag" 'BEGIN { exit !(l <= 1.0) }' && say "ok: READY=1 within 1 s of the first fix" ||
    fail "READY=1 came $lag s after the first fix"
else
  fail "no first fix ($first_fix) or no 'Started' ($ready) in the journal"
fi
status=$(prop edged StatusText)
say "status: $status"
grep -q '^source .*: delivering; model edged-reference-beacon .*; uplink ' <<<"$status" && say "ok: STATUS= names source, model, uplink" ||
  fail "STATUS= '$status'"

# --- Fixes flowing -------------------------------------------------------------------------
n=$(ct timeout 30 mosquitto_sub -h 127.0.0.1 -t 'heimdall/rx-nspawn/fix' -C 5 -W 30 2>/dev/null | grep -c '"type":"Feature"' || true)
[ "$n" = 5 ] && say "ok: fixes flow to MQTT (5 received on heimdall/rx-nspawn/fix)" || fail "$n fixes on MQTT within 30 s, want 5"

# --- Reload ----------------------------------------------------------------------------------
pid=$(prop edged MainPID)
ct sed -i 's/^  snr_db: 10$/  snr_db: 11/' /etc/edged/edged.yaml
ct systemctl reload edged && [ "$(prop edged MainPID)" = "$pid" ] && say "ok: systemctl reload accepted, same PID $pid" ||
  fail "accepted reload (PID $pid -> $(prop edged MainPID))"
ct sed -i 's/^  vertices: 64$/  vertices: 3/' /etc/edged/edged.yaml
if out=$(ct systemctl reload edged 2>&1); then
  fail "systemctl reload of a bad config succeeded"
else
  say "ok: systemctl reload of a bad config fails: $(head -1 <<<"$out")"
fi
[ "$(prop edged MainPID)" = "$pid" ] && [ "$(prop edged ActiveState)" = active ] && say "ok: edged still active, same PID" ||
  fail "edged after a refused reload: $(prop edged ActiveState), PID $(prop edged MainPID)"
warn=$(ct journalctl -u edged -p warning -o cat --no-pager | grep -F 'reload refused' | head -1 || true)
[ -n "$warn" ] && say "ok: journalctl -u edged -p warning: $warn" || fail "no 'reload refused' at priority warning"
ct sed -i 's/^  vertices: 3$/  vertices: 64/' /etc/edged/edged.yaml

# --- Watchdog ----------------------------------------------------------------------------------
setenv EDGED_RECEIVER_ID=rx-nspawn EDGED_SOURCE_KIND=rtl_tcp EDGED_SOURCE_RTL_TCP_ADDRESS=127.0.0.1:1234 EDGED_SOURCE_STALL_TIMEOUT_SECONDS=1
ct systemctl restart edged || fail "restart with the rtl_tcp source"
pid=$(prop edged MainPID)
restarts=$(prop edged NRestarts)
ct systemctl kill -s STOP test-rtltcp
t0=$SECONDS
wait_for 60 "watchdog restart after the stalled source" sh -c "[ \"\$(nsenter --target $pid1 --all systemctl show -p NRestarts --value edged)\" -gt $restarts ]" &&
  say "ok: the stalled source was restarted by the watchdog after $((SECONDS - t0)) s: $(ct journalctl -u edged -o cat --no-pager | grep -m1 -i 'watchdog timeout')"
ct systemctl kill -s CONT test-rtltcp
wait_for 30 "active again after the watchdog restart" sh -c "[ \"\$(nsenter --target $pid1 --all systemctl show -p ActiveState --value edged)\" = active ]" &&
  say "ok: active again with PID $(prop edged MainPID) (was $pid)"

# --- Stop with a hung broker ----------------------------------------------------------------------
setenv EDGED_RECEIVER_ID=rx-nspawn EDGED_MQTT_BROKER=tcp://127.0.0.1:1883 EDGED_MQTT_CONNECT_TIMEOUT_SECONDS=25 EDGED_SOURCE_FILE_PACE=4
ct systemctl restart edged || fail "restart with the broker"
wait_for 30 "uplink connected" sh -c "nsenter --target $pid1 --all systemctl show -p StatusText --value edged | grep -q 'uplink connected'"
ct systemctl kill -s STOP test-broker
# /metrics over bash's /dev/tcp: no HTTP client needed in the container.
metrics() { ct bash -c 'exec 3<>/dev/tcp/127.0.0.1/9717 && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3'; }
inflight() { metrics | grep -q '^edged_mqtt_inflight_fixes [1-9]'; }
wait_for 30 "fixes in flight to the hung broker" inflight
t0=$(date +%s.%N)
ct systemctl stop edged
took=$(awk -v b="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - b }')
result=$(prop edged Result) status=$(prop edged ExecMainStatus)
say "stop: systemctl stop took $took s with the broker hung (result $result, exit status $status)"
awk -v t="$took" 'BEGIN { exit !(t <= 5) }' && [ "$result" = success ] && say "ok: stop <= 5 s with a hung broker, clean" ||
  fail "stop with a hung broker: $took s, result $result"
ct systemctl kill -s CONT test-broker

# --- Bad config: exit 78, no loop ----------------------------------------------------------------------
setenv EDGED_RECEIVER_ID=rx-nspawn
ct sed -i 's/^  vertices: 64$/  vertices: 3/' /etc/edged/edged.yaml
restarts=$(prop edged NRestarts)
ct systemctl start edged 2>/dev/null && fail "edged started with a bad config"
sleep 3 # three RestartSec=1 periods: a restart loop would show in NRestarts
st=$(prop edged ExecMainStatus) now=$(prop edged NRestarts) active=$(prop edged ActiveState)
[ "$st" = 78 ] && [ "$now" = "$restarts" ] && [ "$active" = failed ] &&
  say "ok: bad config: exit status 78, $active, no restart (NRestarts $now)" ||
  fail "bad config: status $st, NRestarts $restarts -> $now, $active"
err=$(ct journalctl -u edged -p err -o cat --no-pager | grep -F 'fix.vertices' | tail -1 || true)
[ -n "$err" ] && say "ok: journalctl -u edged -p err: $err" || fail "the config error is not at priority err"
say "journalctl -u edged -p warning (all of it):"
ct journalctl -u edged -p warning -o short-precise --no-pager | sed 's/^/  /' | cut -c1-220

# --- Purge -----------------------------------------------------------------------------------------
ct rm -rf /run/systemd/system/edged.service.d
ct systemctl reset-failed edged 2>/dev/null || true
ct dpkg --purge edged >"$work/purge.log" 2>&1 || { sed 's/^/  /' "$work/purge.log"; fail "dpkg --purge"; }
left=()
while read -r f; do
  case $f in /.|/etc|/etc/default|/etc/modprobe.d|/lib|/lib/systemd|/lib/systemd/system|/lib/udev|/lib/udev/rules.d|/usr|/usr/bin|/usr/lib|/usr/share|/usr/share/doc|/usr/share/man|/usr/share/man/man1|/usr/share/metainfo) continue ;; esac
  ct test -e "$f" && left+=("$f")
done <"$work/files"
for f in /etc/edged /var/lib/edged /var/lib/private/edged /etc/systemd/system/multi-user.target.wants/edged.service; do
  ct test -e "$f" -o -L "$f" && left+=("$f")
done
[ ${#left[@]} -eq 0 ] && say "ok: dpkg --purge left nothing of $(wc -l <"$work/files") paths, nor state or enable links" ||
  fail "left after purge: ${left[*]}"

[ "$failed" -eq 0 ] && say "PASS" || { say "FAILED"; exit 1; }
