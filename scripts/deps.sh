#!/usr/bin/env bash
# Installs what edged needs to build and test, once: Debian packages when missing, and the
# ONNX Runtime shared library from the npm package onnxruntime-node (the only official Linux
# build the registries reachable from a receiver host or CI serve), checked against pinned hashes.
# Idempotent: a second run changes nothing and says so.
set -euo pipefail

ORT_VERSION=1.24.1
ORT_TGZ_SHA256=57181cf6e6e711b155c5b942d591fd63ded0b5de5c4922d51fd994e7f6ac2772
ORT_X64_SHA256=53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4
ORT_ARM64_SHA256=7954e8bdedb497f830c6a679e818d98399b7f4d81ade1126c3e0be74d28111ab
DEST=${ORT_DIR:-third_party/onnxruntime}
PKGS=(librtlsdr-dev rtl-sdr libfftw3-dev mosquitto mosquitto-clients python3-onnx python3-numpy python3-scipy pkg-config gcc)

say() { printf 'deps: %s\n' "$*" >&2; }
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi

case "$(uname -m)" in
  x86_64) arch=x64; want=$ORT_X64_SHA256 ;;
  aarch64|arm64) arch=arm64; want=$ORT_ARM64_SHA256 ;;
  *) say "no ONNX Runtime build for $(uname -m); set EDGED_ORT_LIB to your own libonnxruntime.so"; exit 1 ;;
esac
lib=$DEST/libonnxruntime.so.1
if [ -f "$lib" ] && [ "$(sha256sum "$lib" | cut -d' ' -f1)" = "$want" ]; then
  say "ONNX Runtime $ORT_VERSION present at $lib"
  exit 0
fi
command -v npm >/dev/null || { say "installing npm"; sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say "fetching onnxruntime-node@$ORT_VERSION with npm pack (about 86 MB)"
(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
tgz=$tmp/onnxruntime-node-$ORT_VERSION.tgz
got=$(sha256sum "$tgz" | cut -d' ' -f1)
[ "$got" = "$ORT_TGZ_SHA256" ] || { say "tarball sha256 $got, want $ORT_TGZ_SHA256: refusing it"; exit 1; }
tar -xzf "$tgz" -C "$tmp" "package/bin/napi-v6/linux/$arch/libonnxruntime.so.1"
got=$(sha256sum "$tmp/package/bin/napi-v6/linux/$arch/libonnxruntime.so.1" | cut -d' ' -f1)
[ "$got" = "$want" ] || { say "library sha256 $got, want $want: refusing it"; exit 1; }
mkdir -p "$DEST"
install -m 0644 "$tmp/package/bin/napi-v6/linux/$arch/libonnxruntime.so.1" "$lib.tmp"
mv "$lib.tmp" "$lib"
say "installed ONNX Runtime $ORT_VERSION ($arch, sha256 verified) at $lib"
