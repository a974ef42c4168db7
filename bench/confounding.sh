#!/usr/bin/env bash
# How far each DiD of emergency admissions falls from the planted effect when
# who starts is confounded (issue 15): for each seed, `smpeval generate
# --confounded MODE`, then `smpeval run --internal`, then compare the
# unmatched DiD, the matched DiD (prior use from the baseline year) and the
# matched DiD with prior use from the pre window with truth.json's expected DiD.
#   bash bench/confounding.sh [seeds=20] [participants=3000]
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${1:-20}"
N="${2:-3000}"
BIN="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/smpeval"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for mode in latent observed; do
  : > "$WORK/$mode.tsv"
  for seed in $(seq 1 "$SEEDS"); do
    d="$WORK/$mode-$seed"
    "$BIN" generate --out "$d" --participants "$N" --seed "$seed" --confounded "$mode" >/dev/null
    (cd "$d" && SMPEVAL_HMAC_KEY=bench-key-0123456789abcdef0123456789abcdef "$BIN" run pipeline.toml --internal --run-id b >/dev/null 2>&1)
    python3 - "$d" >> "$WORK/$mode.tsv" <<'PY'
import json, sys
d = sys.argv[1]
m = json.load(open(f"{d}/reports/b/metrics.json"))
t = json.load(open(f"{d}/truth.json"))
truth = t["expected_did"]["emergency_admissions"]
def row(rows, key, value):
    for r in rows or []:
        if r.get(key) == value:
            return r
    return {}
un = row(m["did"], "outcome", "emergency_admissions")
ma = row(m.get("did_matched"), "outcome", "emergency_admissions")
pre = row(m.get("sensitivity"), "analysis", "Matched on prior use in the pre window")
out = [truth]
for r in (un, ma, pre):
    e, lo, hi = r.get("estimate"), r.get("ci_low"), r.get("ci_high")
    out += [e if e is not None else float("nan"), int(lo is not None and hi is not None and lo <= truth <= hi)]
print("\t".join(str(x) for x in out))
PY
  done
  python3 - "$mode" "$WORK/$mode.tsv" <<'PY'
import sys, math
mode, path = sys.argv[1], sys.argv[2]
rows = [list(map(float, l.split("\t"))) for l in open(path) if l.strip()]
names = ["unmatched", "matched (baseline-year use)", "matched (pre-window use)"]
print(f"{mode}: {len(rows)} seeds")
print(f"  {'estimate':30s} {'mean |error|':>12s} {'mean error':>11s} {'CI covers':>10s}")
for k, name in enumerate(names):
    errs = [r[1 + 2 * k] - r[0] for r in rows if not math.isnan(r[1 + 2 * k])]
    cover = sum(r[2 + 2 * k] for r in rows)
    if errs:
        print(f"  {name:30s} {sum(abs(e) for e in errs)/len(errs):12.4f} {sum(errs)/len(errs):11.4f} {int(cover):6d}/{len(rows)}")
PY
done
