#!/usr/bin/env bash
# Prints edged's version from git, as the build stamps it into the binary (-ldflags -X):
#   scripts/version.sh          git describe: v1.2.0 -> 1.2.0; 1.2.0-3-gabc1234 three commits on;
#                               with no v* tag reachable, 0.0.0-<commits>-g<hash>; -dirty when the
#                               work tree has changes
#   scripts/version.sh -deb     the same as a Debian version: 1.2.0+3.gabc1234 (sorts after 1.2.0)
#   scripts/version.sh -commit  the full commit id ("unknown" outside a git checkout)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! git rev-parse --git-dir >/dev/null 2>&1; then
  v=0.0.0-unknown c=unknown
else
  c=$(git rev-parse HEAD)
  if v=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
    v=${v#v}
  else
    v=0.0.0-$(git rev-list --count HEAD)-g$(git rev-parse --short=7 HEAD)
    git diff --quiet HEAD -- 2>/dev/null || v=$v-dirty
  fi
fi
case "${1:-}" in
  "") echo "$v" ;;
  -commit) echo "$c" ;;
  # Upstream versions in Debian may not hold '-' (it separates the Debian revision).
  -deb) echo "$v" | sed -e 's/-/+/' -e 's/-/./g' ;;
  *) echo "usage: scripts/version.sh [-deb|-commit]" >&2; exit 2 ;;
esac
