#!/usr/bin/env bash
# Installs edged as a systemd service (`make install` runs it after `make build`):
#   $PREFIX/bin/edged                            from bin/edged             (EDGED_BIN=)
#   $PREFIX/lib/edged/libonnxruntime.so.1        from third_party/onnxruntime/ (ORT_DIR=)
#   $DOCDIR/README.systemd.md, edged.yaml.example  (DOCDIR=$PREFIX/share/doc/edged)
#   /etc/edged/edged.yaml                        from configs/edged.yaml with fix.print: none
#                                                (the journal needs no copy of every fix),
#                                                ONLY IF ABSENT
#   /etc/default/edged                           from systemd/edged.default, ONLY IF ABSENT
#   $UNITDIR/edged.service                       (UNITDIR=/etc/systemd/system)
#   $UDEVDIR/60-edged-rtlsdr.rules               (UDEVDIR=/etc/udev/rules.d)
#   /etc/modprobe.d/blacklist-edged-rtlsdr.conf
# Everything goes under $DESTDIR when it is set (packaging, tests); then nothing on this
# host is touched: no systemctl, no udevadm, no groupadd. PREFIX defaults to /usr/local;
# another PREFIX is written into the unit's paths. An operator's config is never
# overwritten: the shipped one is always at share/doc/edged/edged.yaml.example to diff.
# It does not enable or start the service; it prints how.
set -euo pipefail

cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
UNITDIR=${UNITDIR:-/etc/systemd/system}
UDEVDIR=${UDEVDIR:-/etc/udev/rules.d}
DOCDIR=${DOCDIR:-$PREFIX/share/doc/edged}
EDGED_BIN=${EDGED_BIN:-bin/edged}
ORT_DIR=${ORT_DIR:-third_party/onnxruntime}
ORT_LIB=$ORT_DIR/libonnxruntime.so.1

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

case "$PREFIX" in /*) ;; *) die "PREFIX must be absolute, not $PREFIX" ;; esac
[ -x "$EDGED_BIN" ] || die "$EDGED_BIN not found: run \`make build\` first"
[ -f "$ORT_LIB" ] || die "$ORT_LIB not found: run \`make deps\` (scripts/deps.sh) first"
for f in configs/edged.yaml systemd/edged.service systemd/edged.default \
         systemd/60-edged-rtlsdr.rules systemd/blacklist-edged-rtlsdr.conf systemd/README.md; do
  [ -f "$f" ] || die "$f missing: run from an edged source tree"
done
if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  die "installing into / needs root (or set DESTDIR=/some/staging/dir)"
fi

# put SRC DEST MODE [LABEL]: copy atomically (a running edged keeps its old inode).
put() {
  local src=$1 dst=$DESTDIR$2 mode=$3
  install -d -m 0755 "$(dirname "$dst")"
  install -m "$mode" "$src" "$dst.new.$$"
  mv -f "$dst.new.$$" "$dst"
  say "${4:-$src} -> $dst"
}
# put_once SRC DEST MODE: only when DEST does not exist yet.
put_once() {
  if [ -e "$DESTDIR$2" ]; then
    say "$DESTDIR$2 exists: kept (the shipped version is in $DESTDIR$DOCDIR/)"
  else
    put "$@"
  fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

put "$EDGED_BIN" "$PREFIX/bin/edged" 0755
put "$ORT_LIB" "$PREFIX/lib/edged/libonnxruntime.so.1" 0644
# The installed config is the annotated default with fix.print: none. The default prints
# every fix on stdout (what `make run` shows); under systemd that is about 1.5 GiB a day
# into the journal, while bbolt, MQTT and the API still get every fix.
sed 's/^  print: stdout$/  print: none/' configs/edged.yaml >"$tmp/edged.yaml"
grep -q '^  print: none$' "$tmp/edged.yaml" || die "configs/edged.yaml: no \`fix.print: stdout\` line to turn off"
# The unit and the environment file name /usr/local paths; rewrite them for another PREFIX.
sed "s#/usr/local/#${PREFIX%/}/#g" systemd/edged.service >"$tmp/edged.service"
sed "s#/usr/local/#${PREFIX%/}/#g" systemd/edged.default >"$tmp/edged.default"

put systemd/README.md "$DOCDIR/README.systemd.md" 0644
put "$tmp/edged.yaml" "$DOCDIR/edged.yaml.example" 0644 "configs/edged.yaml (fix.print: none)"
put "$tmp/edged.default" "$DOCDIR/edged.default.example" 0644 "systemd/edged.default"
put "$tmp/edged.service" "$UNITDIR/edged.service" 0644 "systemd/edged.service (paths under $PREFIX)"
put systemd/60-edged-rtlsdr.rules "$UDEVDIR/60-edged-rtlsdr.rules" 0644
put systemd/blacklist-edged-rtlsdr.conf /etc/modprobe.d/blacklist-edged-rtlsdr.conf 0644

# Config: world-readable (the service runs as a transient user and the file holds no
# secrets: edged refuses a `password:` key), root-owned, never overwritten.
install -d -m 0755 "$DESTDIR/etc/edged"
put_once "$tmp/edged.yaml" /etc/edged/edged.yaml 0644 "configs/edged.yaml (fix.print: none)"
put_once "$tmp/edged.default" /etc/default/edged 0644 "systemd/edged.default"

if [ -n "$DESTDIR" ]; then
  say "DESTDIR set: systemd, udev and groups on this host left alone"
  exit 0
fi

# --- Live system only ------------------------------------------------------------
# The unit and the udev rule use the group plugdev (Debian has it; others may not).
if ! getent group plugdev >/dev/null; then
  groupadd --system plugdev
  say "created system group plugdev"
fi
if ! ldd "$PREFIX/bin/edged" 2>/dev/null | grep -q 'librtlsdr.*=> /'; then
  if ldd "$PREFIX/bin/edged" 2>/dev/null | grep -q librtlsdr; then
    say "WARNING: $PREFIX/bin/edged needs librtlsdr, not found here: apt-get install librtlsdr0"
  fi
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  say "systemctl daemon-reload"
else
  say "systemd is not running here: no daemon-reload"
fi
if command -v udevadm >/dev/null && udevadm control --reload 2>/dev/null; then
  udevadm trigger --subsystem-match=usb --attr-match=idVendor=0bda || true
  say "udev rules reloaded (re-plug a dongle that was claimed by the DVB driver)"
else
  say "udevd is not running here: the rule applies from its next start"
fi
if lsmod 2>/dev/null | grep -q '^dvb_usb_rtl28xxu'; then
  say "NOTE: dvb_usb_rtl28xxu is loaded: reboot, or \`modprobe -r dvb_usb_rtl28xxu\` and re-plug"
fi
cat <<EOF
install: done. Next:
  edit /etc/edged/edged.yaml (source.kind: rtlsdr, mqtt.broker, receiver_id), then
  $PREFIX/bin/edged check-config /etc/edged/edged.yaml
  systemctl enable --now edged        # or: systemctl restart edged after an upgrade
  journalctl -u edged -f
EOF
