#!/usr/bin/env bash
# Speed and memory at scale: generate N referrals and M hospital rows, then
# time validate, ingest, a no-op re-ingest and the report. Prints figures;
# asserts nothing.
#   bench/ingest.sh [participants] [hospital_rows]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-20000}"; M="${2:-1000000}"
cargo build --release --quiet
BIN="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/smpeval"
D="$(mktemp -d)"; trap 'rm -rf "$D"' EXIT
/usr/bin/time -f "generate: %e s, peak %M KiB" "$BIN" generate --out "$D" --participants "$N" --hospital-rows "$M" --seed 1 >/dev/null
echo "input: $(du -sh "$D" | cut -f1), $(cat "$D"/hes_*.csv | wc -l) hospital lines"
/usr/bin/time -o "$D/t" -f "validate: %e s, peak %M KiB" "$BIN" validate "$D/pipeline.toml" >/dev/null 2>&1; cat "$D/t"
/usr/bin/time -o "$D/t" -f "ingest (first): %e s, peak %M KiB" "$BIN" ingest "$D/pipeline.toml" >/dev/null 2>&1; cat "$D/t"
/usr/bin/time -o "$D/t" -f "ingest (unchanged, no-op): %e s, peak %M KiB" "$BIN" ingest "$D/pipeline.toml" >/dev/null 2>&1; cat "$D/t"
echo "warehouse: $(du -sh "$D/warehouse" | cut -f1)"
/usr/bin/time -o "$D/t" -f "report (evaluation + pack): %e s, peak %M KiB" "$BIN" report "$D/pipeline.toml" --run-id bench >/dev/null 2>&1; cat "$D/t"
echo "pack: $(du -sh "$D/reports/generated/bench" | cut -f1)"
