#!/usr/bin/env bash
# Regenerates the status page's offline basemap (internal/ui/web/basemap.json and its
# licence) from Natural Earth 1:50m as the npm package world-atlas ships it, fetched with
# `npm pack` and checked against a pinned SHA-256. The output is committed: building and
# testing edged never need this or the network.
set -euo pipefail

VERSION=2.0.2
TGZ_SHA256=032e7765f2ce00edaeafec23ff22bc3b77e42987c257da944cc585b452c05b97

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "world-atlas@$VERSION" >/dev/null)
tgz=$tmp/world-atlas-$VERSION.tgz
got=$(sha256sum "$tgz" | cut -d' ' -f1)
[ "$got" = "$TGZ_SHA256" ] || { echo "basemap: world-atlas-$VERSION.tgz sha256 $got, want $TGZ_SHA256: refusing it" >&2; exit 1; }
go run ./internal/cmd/basemap -tgz "$tgz" -out internal/ui/web
echo "basemap: internal/ui/web/basemap.json from world-atlas@$VERSION" >&2
