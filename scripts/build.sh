#!/usr/bin/env bash
# Builds bin/edged, stamped with its version (scripts/version.sh) through -ldflags, for this
# machine or, from amd64, for arm64 with the cross toolchain `make deps` installs:
#   scripts/build.sh [-a amd64|arm64] [-o OUT] [-deb] [go build flags...]
# -deb adds what a Debian package wants: a position-independent executable, and the C
# parts (cgo) built with dpkg-buildflags' hardening (fortify, stack protector, relro, now).
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(dpkg --print-architecture 2>/dev/null || go env GOARCH)
arch=$host out=bin/edged deb=
while [ $# -gt 0 ]; do
  case $1 in
    -a) arch=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    -deb) deb=1; shift ;;
    *) break ;;
  esac
done
die() { printf 'build: %s\n' "$*" >&2; exit 1; }

export CGO_ENABLED=1 GOARCH=$arch
case $arch in
  "$host") ;;
  arm64)
    [ "$host" = amd64 ] || die "cross builds only from amd64 (this is $host)"
    command -v aarch64-linux-gnu-gcc >/dev/null || die "aarch64-linux-gnu-gcc missing: run \`make deps\`"
    [ -f /usr/lib/aarch64-linux-gnu/pkgconfig/librtlsdr.pc ] || die "librtlsdr-dev:arm64 missing: run \`make deps\`"
    export CC=aarch64-linux-gnu-gcc
    # Only the arm64 .pc files, so cgo links the arm64 libraries, never the host's.
    export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig PKG_CONFIG_PATH=
    ;;
  *) die "no build for architecture $arch (amd64 or arm64)" ;;
esac

flags=(-tags "${TAGS:-rtlsdr}" -trimpath)
if [ -n "$deb" ]; then
  flags+=(-buildmode=pie)
  export DEB_HOST_ARCH=$arch DEB_BUILD_MAINT_OPTIONS=hardening=+all
  CGO_CPPFLAGS=$(dpkg-buildflags --get CPPFLAGS)
  CGO_CFLAGS=$(dpkg-buildflags --get CFLAGS)
  CGO_LDFLAGS=$(dpkg-buildflags --get LDFLAGS)
  export CGO_CPPFLAGS CGO_CFLAGS CGO_LDFLAGS
fi
ldflags="-X main.buildVersion=$(scripts/version.sh) -X main.buildCommit=$(scripts/version.sh -commit)"
mkdir -p "$(dirname "$out")"
exec go build "${flags[@]}" -ldflags "$ldflags" -o "$out" "$@" ./cmd/edged
