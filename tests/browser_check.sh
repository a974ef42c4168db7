#!/usr/bin/env bash
# The browser test: run the sample pipeline into a scratch folder, then open
# its index.html in headless Chromium (Debian's package, installed here if
# missing) with the network off. Leaves the PDF and a screenshot in
# $BROWSER_OUT (default: a scratch folder) for a person to look at. axe-core
# (npm) checks the page against WCAG 2.2 A/AA; any serious or critical
# violation fails the check.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
BIN="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/smpeval"
if ! command -v chromium >/dev/null; then
  echo "installing Debian's chromium"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
fi
NODE_DIR="${SMPEVAL_NODE_CACHE:-${HOME:-/tmp}/.cache/smpeval-browser}"
if [ ! -d "$NODE_DIR/node_modules/playwright-core" ] || [ ! -f "$NODE_DIR/node_modules/axe-core/axe.min.js" ]; then
  mkdir -p "$NODE_DIR"
  npm install --silent --no-audit --no-fund --prefix "$NODE_DIR" playwright-core@1 axe-core@4 >/dev/null
fi
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
OUT="${BROWSER_OUT:-$SCRATCH/out}"
mkdir -p "$OUT"
cp -r pipelines sample_data "$SCRATCH/"
(cd "$SCRATCH" && "$BIN" run pipelines/sample.toml --run-id browser >/dev/null 2>&1)
cp "$ROOT/tests/browser/check.mjs" "$NODE_DIR/check.mjs"
node "$NODE_DIR/check.mjs" "$SCRATCH/reports/sample/browser/index.html" "$OUT/pack.pdf" "$OUT/pack.png"
