#!/usr/bin/env bash
# Checks edged's integrator and operator kit with the tools of each ecosystem, installing
# them first when missing (pinned, under build/, never in the source tree):
#   - api/openapi.json:   Redocly CLI's lint (scripts/lint/redocly.yaml);
#   - api/asyncapi.json:  the AsyncAPI initiative's parser (scripts/lint/asyncapi-validate.mjs);
#   - monitoring/prometheus/*.yml: promtool check rules, then promtool test rules (a unit test
#     per alert).
# The npm packages come from scripts/lint/package-lock.json (npm ci: exact versions and
# integrity hashes) into build/lint; promtool is taken from Debian's prometheus package,
# extracted alone into build/tools (the package would also install and start a Prometheus
# server, which neither CI nor a developer's machine needs). Each is reinstalled only when
# its pin changes.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'check-kit: %s\n' "$*" >&2; }
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

LINT=build/lint
TOOLS=build/tools
# Redocly otherwise reports usage and looks for updates over the network.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
PROM_DEB=prometheus # Debian 12: 2.42.0+ds; promtool's rule tests are stable since 2.x

install_npm_tools() {
  command -v npm >/dev/null || { say "installing npm"; sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
  if [ -d "$LINT/node_modules" ] && cmp -s scripts/lint/package-lock.json "$LINT/package-lock.json"; then
    return
  fi
  say "installing the pinned linters into $LINT (npm ci)"
  rm -rf "$LINT"
  mkdir -p "$LINT"
  cp scripts/lint/package.json scripts/lint/package-lock.json scripts/lint/.npmrc "$LINT/"
  (cd "$LINT" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
}

install_promtool() {
  local want have
  want=$(apt-cache policy "$PROM_DEB" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$want" ] || [ "$want" = "(none)" ]; then
    say "updating the package lists to find $PROM_DEB"
    sudo_ apt-get update -qq
    want=$(apt-cache policy "$PROM_DEB" | awk '/Candidate:/ {print $2}')
  fi
  have=$(cat "$TOOLS/promtool.version" 2>/dev/null || true)
  if [ -x "$TOOLS/promtool" ] && [ "$have" = "$want" ]; then
    return
  fi
  say "extracting promtool from Debian's $PROM_DEB $want into $TOOLS"
  local tmp
  tmp=$(mktemp -d)
  chmod 0755 "$tmp"
  (cd "$tmp" && apt-get download -qq "$PROM_DEB=$want" 2>/dev/null)
  mkdir -p "$TOOLS"
  dpkg-deb --fsys-tarfile "$tmp"/"$PROM_DEB"_*.deb | tar -x -O ./usr/bin/promtool >"$TOOLS/promtool.tmp"
  rm -rf "$tmp"
  chmod 0755 "$TOOLS/promtool.tmp"
  mv "$TOOLS/promtool.tmp" "$TOOLS/promtool"
  echo "$want" >"$TOOLS/promtool.version"
}

install_npm_tools
cp scripts/lint/asyncapi-validate.mjs "$LINT/"

say "redocly lint api/openapi.json"
if ! out=$("$LINT/node_modules/.bin/redocly" lint --config scripts/lint/redocly.yaml api/openapi.json 2>&1); then
  echo "$out" >&2
  exit 1
fi
if grep -qi 'warning' <<<"$out"; then
  echo "$out" >&2
  say "api/openapi.json: Redocly warns; the document must lint clean"
  exit 1
fi

say "AsyncAPI parser: api/asyncapi.json"
node "$LINT/asyncapi-validate.mjs" api/asyncapi.json

if [ -d monitoring/prometheus ]; then
  install_promtool
  say "promtool check rules, promtool test rules"
  "$TOOLS/promtool" check rules monitoring/prometheus/alerts.yml
  (cd monitoring/prometheus && "../../$TOOLS/promtool" test rules alerts_test.yml)
fi
say "ok"
