#!/usr/bin/env bash
# Installs what edged needs to build, test and package, once: Debian packages when missing,
# and the ONNX Runtime shared library from the npm package onnxruntime-node (the only
# official Linux build the registries reachable from a receiver host or CI serve), checked
# against pinned hashes, for this machine and (on amd64) for arm64.
# Idempotent: a second run changes nothing and says so.
#
#   third_party/onnxruntime/libonnxruntime.so.1          this machine's (EDGED_ORT_LIB, tests)
#   third_party/onnxruntime/<amd64|arm64>/libonnxruntime.so.1   per Debian architecture (make deb)
#
# The packaging part (make deb, the arm64 cross build and its parity test under qemu, make
# systemd-test) is best effort: when it cannot be installed, deps says so and those steps
# skip or fail with a message; building and testing edged itself does not depend on it.
set -euo pipefail

ORT_VERSION=1.24.1
ORT_TGZ_SHA256=57181cf6e6e711b155c5b942d591fd63ded0b5de5c4922d51fd994e7f6ac2772
ORT_X64_SHA256=53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4
ORT_ARM64_SHA256=7954e8bdedb497f830c6a679e818d98399b7f4d81ade1126c3e0be74d28111ab
DEST=${ORT_DIR:-third_party/onnxruntime}
# chromium (headless) and a font run the status page's browser test.
PKGS=(librtlsdr-dev rtl-sdr libfftw3-dev mosquitto mosquitto-clients python3-onnx python3-numpy python3-scipy pkg-config gcc chromium fonts-dejavu-core)
# make deb (debhelper, lintian) and make systemd-test (systemd-nspawn).
PKGS_DEB=(debhelper lintian systemd-container)
# The arm64 build from amd64: cross compiler, arm64 libraries to link and to run under
# qemu-user (libstdc++6 for ONNX Runtime).
PKGS_CROSS=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static libfftw3-dev:arm64 librtlsdr-dev:arm64 libstdc++6:arm64)

say() { printf 'deps: %s\n' "$*" >&2; }
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# apt waits for another apt or dpkg (a second engineer, unattended-upgrades) instead of failing.
apt_() { sudo_ env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }

missing_of() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
  done
}

host_arch=$(dpkg --print-architecture)
mapfile -t missing < <(missing_of "${PKGS[@]}" "${PKGS_DEB[@]}")
cross=()
if [ "$host_arch" = amd64 ]; then
  mapfile -t cross < <(missing_of "${PKGS_CROSS[@]}")
else
  say "the arm64 cross build is set up only on amd64 hosts (this is $host_arch): skipped"
fi
if [ ${#missing[@]} -gt 0 ] || [ ${#cross[@]} -gt 0 ]; then
  updated=
  if [ ${#cross[@]} -gt 0 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    say "adding the arm64 architecture to dpkg (for the cross build's libraries)"
    sudo_ dpkg --add-architecture arm64
  fi
  apt_ update -qq && updated=1
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    apt_ install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ ${#cross[@]} -gt 0 ]; then
    say "installing the arm64 cross toolchain and libraries: ${cross[*]}"
    if [ -z "$updated" ] || ! apt_ install -y -qq --no-install-recommends "${cross[@]}" >/dev/null; then
      say "WARNING: could not install ${cross[*]}: make deb builds no arm64 package and the arm64 parity test skips"
    fi
  fi
else
  say "Debian packages present"
fi

# --- ONNX Runtime -------------------------------------------------------------------------
# Debian architecture -> directory in the npm package and pinned hash.
npm_dir() { case $1 in amd64) echo x64 ;; arm64) echo arm64 ;; esac; }
pinned() { case $1 in amd64) echo "$ORT_X64_SHA256" ;; arm64) echo "$ORT_ARM64_SHA256" ;; esac; }
ok_lib() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

case "$host_arch" in
  amd64) arches=(amd64 arm64) ;;
  arm64) arches=(arm64) ;;
  *) say "no ONNX Runtime build for $host_arch; set EDGED_ORT_LIB to your own libonnxruntime.so"; exit 1 ;;
esac
need=()
for a in "${arches[@]}"; do
  ok_lib "$DEST/$a/libonnxruntime.so.1" "$(pinned "$a")" || need+=("$a")
done
host_lib=$DEST/libonnxruntime.so.1
if [ ${#need[@]} -eq 0 ]; then
  say "ONNX Runtime $ORT_VERSION present for ${arches[*]} in $DEST"
else
  command -v npm >/dev/null || { say "installing npm"; apt_ install -y -qq npm >/dev/null; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  say "fetching onnxruntime-node@$ORT_VERSION with npm pack (about 86 MB)"
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
  tgz=$tmp/onnxruntime-node-$ORT_VERSION.tgz
  got=$(sha256sum "$tgz" | cut -d' ' -f1)
  [ "$got" = "$ORT_TGZ_SHA256" ] || { say "tarball sha256 $got, want $ORT_TGZ_SHA256: refusing it"; exit 1; }
  for a in "${need[@]}"; do
    member=package/bin/napi-v6/linux/$(npm_dir "$a")/libonnxruntime.so.1
    tar -xzf "$tgz" -C "$tmp" "$member"
    ok_lib "$tmp/$member" "$(pinned "$a")" || { say "$a library sha256 differs from the pinned one: refusing it"; exit 1; }
    mkdir -p "$DEST/$a"
    install -m 0644 "$tmp/$member" "$DEST/$a/libonnxruntime.so.1.tmp"
    mv "$DEST/$a/libonnxruntime.so.1.tmp" "$DEST/$a/libonnxruntime.so.1"
    say "installed ONNX Runtime $ORT_VERSION ($a, sha256 verified) at $DEST/$a/libonnxruntime.so.1"
  done
fi
# The host's copy where EDGED_ORT_LIB and the tests look: a hard link, not 35 MB more.
if ! ok_lib "$host_lib" "$(pinned "$host_arch")"; then
  ln -f "$DEST/$host_arch/libonnxruntime.so.1" "$host_lib.tmp" 2>/dev/null ||
    cp "$DEST/$host_arch/libonnxruntime.so.1" "$host_lib.tmp"
  mv "$host_lib.tmp" "$host_lib"
  say "ONNX Runtime for this machine at $host_lib"
fi
