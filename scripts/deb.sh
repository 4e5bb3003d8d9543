#!/usr/bin/env bash
# Builds the Debian packages (`make deb`): build/deb/edged_<version>_<arch>.deb for amd64 and
# arm64, with debhelper, from this source tree, then runs lintian on each, which must report
# no error and no warning (debian/edged.lintian-overrides gives the reason for each tag it
# silences). The version is scripts/version.sh -deb (git describe).
#   ARCHES="amd64"    build only these architectures
#   LINTIAN=0         skip lintian (it takes about a minute per package)
#   SKIP_MISSING=1    skip, saying so, an architecture whose toolchain or libraries are
#                     missing instead of failing (make test on a machine without them)
# Needs what `make deps` installs: debhelper, lintian, and for arm64 the cross toolchain
# and arm64 libraries; ONNX Runtime for each architecture in third_party/onnxruntime/<arch>/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build/deb
arches=${ARCHES:-amd64 arm64}
ver=$(scripts/version.sh -deb)

say() { printf 'deb: %s\n' "$*"; }
die() { printf 'deb: %s\n' "$*" >&2; exit 1; }

for tool in dh dpkg-architecture dpkg-deb lintian; do
  command -v "$tool" >/dev/null || die "$tool not found: run \`make deps\`"
done
mkdir -p "$out"

# notices ARCH: the license and notice files of every Go module linked into edged for ARCH,
# and Go's own, for the package's copyright file.
notices() {
  local goroot dir path version f
  goroot=$(go env GOROOT)
  printf '\n-- Go standard library and runtime (%s)\n\n' "$(go env GOVERSION)"
  cat "$goroot/LICENSE"
  GOARCH=$1 go list -tags rtlsdr -deps -f '{{with .Module}}{{if not .Main}}{{.Dir}} {{.Path}} {{.Version}}{{end}}{{end}}' ./cmd/edged |
    sort -u | while read -r dir path version; do
      printf '\n-- %s %s\n' "$path" "$version"
      found=
      for f in "$dir"/LICENSE* "$dir"/COPYING* "$dir"/NOTICE*; do
        [ -f "$f" ] || continue
        found=1
        if grep -q 'TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION' "$f"; then
          printf '\n%s: Apache License, Version 2.0 (/usr/share/common-licenses/Apache-2.0).\n' "${f##*/}"
        else
          printf '\n%s:\n\n' "${f##*/}"
          cat "$f"
        fi
      done
      [ -n "$found" ] || die "$path $version has no LICENSE, COPYING or NOTICE file: cannot state its license"
    done
}

for arch in $arches; do
  ort_dir=$root/third_party/onnxruntime/$arch
  missing=
  [ -f "$ort_dir/libonnxruntime.so.1" ] || missing="$ort_dir/libonnxruntime.so.1"
  if [ "$arch" != "$(dpkg --print-architecture)" ]; then
    command -v aarch64-linux-gnu-gcc >/dev/null || missing="$missing aarch64-linux-gnu-gcc"
    [ -f /usr/lib/aarch64-linux-gnu/pkgconfig/librtlsdr.pc ] || missing="$missing librtlsdr-dev:$arch"
  fi
  if [ -n "$missing" ]; then
    [ "${SKIP_MISSING:-0}" = 1 ] || die "no $arch package: missing$missing (run \`make deps\`)"
    say "SKIP: no $arch package: missing$missing (make deps installs them)"
    continue
  fi
  stage=$out/stage-$arch
  rm -rf "$stage"
  mkdir -p "$stage"
  say "building edged $ver for $arch"
  scripts/build.sh -a "$arch" -deb -o "$stage/edged"

  cp -r debian "$stage/debian"
  # The changelog carries the version dh_gencontrol stamps, and its date (the commit's)
  # becomes SOURCE_DATE_EPOCH, so the same commit packs the same file dates.
  {
    printf 'edged (%s) unstable; urgency=medium\n\n' "$ver"
    printf '  * Built from commit %.12s by scripts/deb.sh.\n\n' "$(scripts/version.sh -commit)"
    printf ' -- %s  %s\n' "$(sed -n 's/^Maintainer: //p' debian/control)" \
      "$(git log -1 --format=%aD 2>/dev/null || date -R)"
  } >"$stage/debian/changelog"
  { cat debian/copyright.in; notices "$arch"; } >"$stage/debian/copyright"

  cross=()
  [ "$arch" = "$(dpkg --print-architecture)" ] || cross=(CC=aarch64-linux-gnu-gcc)
  (cd "$stage" && env "${cross[@]}" EDGED_SRC="$root" EDGED_BIN="$stage/edged" EDGED_ORT_DIR="$ort_dir" \
    EDGED_OUT="$out" dpkg-architecture -a"$arch" -f -c debian/rules binary) >"$stage/build.log" 2>&1 ||
    { tail -40 "$stage/build.log" >&2; die "debian/rules binary failed for $arch (log: $stage/build.log)"; }
  deb=$out/edged_${ver}_$arch.deb
  [ -f "$deb" ] || die "$deb was not built (log: $stage/build.log)"
  say "built $deb ($(du -h "$deb" | cut -f1)), Depends: $(dpkg-deb -f "$deb" Depends)"
  # The package must carry the very ONNX Runtime whose hash deps.sh checked.
  got=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/edged/libonnxruntime.so.1 | sha256sum | cut -d' ' -f1)
  [ "$got" = "$(sha256sum "$ort_dir/libonnxruntime.so.1" | cut -d' ' -f1)" ] ||
    die "$deb: /usr/lib/edged/libonnxruntime.so.1 differs from the pinned library (sha256 $got)"
  say "ONNX Runtime in the package: sha256 $got (the pinned one)"

  if [ "${LINTIAN:-1}" != 0 ]; then
    # --fail-on error,warning: an info or pedantic tag is shown, not fatal.
    if lintian --fail-on error,warning --display-info --tag-display-limit 0 "$deb" >"$stage/lintian.txt" 2>&1; then
      say "lintian $arch: no error, no warning$( [ -s "$stage/lintian.txt" ] && printf ' (%s info lines)' "$(wc -l <"$stage/lintian.txt")")"
    else
      sed 's/^/  /' "$stage/lintian.txt"
      die "lintian reports errors or warnings for $deb"
    fi
    sed 's/^/  lintian: /' "$stage/lintian.txt"
  fi
done
