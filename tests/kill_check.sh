#!/usr/bin/env bash
# The kill test (issue 11): `kill -9` a run at points spread evenly over
#  1. a re-ingest of a changed hospital extract (10% of its rows removed), and
#  2. a report's pack write (the warehouse already holds the new data),
# and after each kill check that
#  - `smpeval report` either refuses (naming the damage and the repair) or gives
#    exactly the old or exactly the new metrics.json (the `run` block of run id
#    and times aside): never anything else (a torn read);
#  - `reports/<pipeline>/latest` names a complete pack with the old or the new
#    metrics.json, and every pack folder there is complete;
#  - the next `smpeval run` ends at the new metrics.json.
# Then it kills the run exactly at each write site of ingest and report (a
# failpoints build pauses there), which lands kills inside the commit steps.
# Usage: bash tests/kill_check.sh   (builds what it needs with cargo)
# Sizes: KILL_POINTS (per phase, default 24), KILL_PARTICIPANTS, KILL_HOSPITAL_ROWS;
# KILL_SITES=0 skips the per-site kills.
set -euo pipefail
cd "$(dirname "$0")/.."
POINTS="${KILL_POINTS:-24}"
PARTICIPANTS="${KILL_PARTICIPANTS:-2000}"
HOSPITAL_ROWS="${KILL_HOSPITAL_ROWS:-300000}"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
# A private copy of the binary: a shared target folder may be rebuilt meanwhile.
TARGET="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
# Kills at each write site need the test-only failpoints (KILL_SITES=0 skips them).
BFP=""
if [ "${KILL_SITES:-1}" = 1 ]; then
  cargo build --release --quiet --features failpoints
  cp "$TARGET/release/smpeval" "$SCRATCH/smpeval-failpoints"
  BFP="$SCRATCH/smpeval-failpoints"
fi
cargo build --release --quiet
cp "$TARGET/release/smpeval" "$SCRATCH/smpeval"
B="$SCRATCH/smpeval"
export SMPEVAL_HMAC_KEY=0f4c9a7e2b1d8c3f6a5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a19080
P=generated

now_ns() { date +%s%N; }
# Prints `old`, `new` or `other` for a metrics.json, ignoring its `run` block.
which_metrics() {
  python3 - "$1" "$SCRATCH/old.json" "$SCRATCH/new.json" <<'PY'
import json, sys
def load(p):
    m = json.load(open(p)); m.pop("run", None); return m
m = load(sys.argv[1])
print("old" if m == load(sys.argv[2]) else "new" if m == load(sys.argv[3]) else "other")
PY
}
# Every pack folder (not the hidden temporaries) must be complete.
packs_complete() {
  local d
  for d in "$1"/reports/$P/*/; do
    [ -e "$d" ] || continue
    for f in metrics.json manifest.json index.html evaluation.xlsx; do
      [ -s "$d/$f" ] || { echo "incomplete pack $d (no $f)"; return 1; }
    done
  done
}

# The base: generated inputs, ingested, with the old pack as `latest`.
"$B" generate --out "$SCRATCH/base" --participants "$PARTICIPANTS" --hospital-rows "$HOSPITAL_ROWS" --seed 11 >/dev/null
(cd "$SCRATCH/base" && "$B" --quiet run pipeline.toml --run-id old)
cp "$SCRATCH/base/reports/$P/old/metrics.json" "$SCRATCH/old.json"
python3 - "$SCRATCH/base/hes_apc.csv" "$SCRATCH/hes_apc.changed.csv" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines(True)
head, rows = lines[0], lines[1:]
open(sys.argv[2], "w").write(head + "".join(r for i, r in enumerate(rows) if i % 10 != 3))
PY

# The reference new state.
cp -a "$SCRATCH/base" "$SCRATCH/ref"
cp "$SCRATCH/hes_apc.changed.csv" "$SCRATCH/ref/hes_apc.csv"
(cd "$SCRATCH/ref" && "$B" --quiet ingest pipeline.toml && "$B" --quiet report pipeline.toml --run-id new)
cp "$SCRATCH/ref/reports/$P/new/metrics.json" "$SCRATCH/new.json"
[ "$(which_metrics "$SCRATCH/new.json")" = new ] || { echo "FAIL: reference"; exit 1; }
cmp -s "$SCRATCH/old.json" "$SCRATCH/new.json" && { echo "FAIL: the change did not change metrics.json"; exit 1; }
# The report-phase base: the new data committed, `latest` still the old pack.
cp -a "$SCRATCH/base" "$SCRATCH/base2"
cp "$SCRATCH/hes_apc.changed.csv" "$SCRATCH/base2/hes_apc.csv"
(cd "$SCRATCH/base2" && "$B" --quiet ingest pipeline.toml)
# How long each phase takes uninterrupted (the fastest of three), so that the
# kill points spread over the whole of it.
time_phase() { # base command...
  local base=$1 best=0 i t0 t1; shift
  for i in 1 2 3; do
    rm -rf "$SCRATCH/t"; cp -a "$base" "$SCRATCH/t"
    [ "$base" = "$SCRATCH/base" ] && cp "$SCRATCH/hes_apc.changed.csv" "$SCRATCH/t/hes_apc.csv"
    t0=$(now_ns); (cd "$SCRATCH/t" && "$B" --quiet "$@"); t1=$(now_ns)
    if [ "$best" = 0 ] || [ $((t1 - t0)) -lt "$best" ]; then best=$((t1 - t0)); fi
  done
  echo "$best"
}
INGEST_NS=$(time_phase "$SCRATCH/base" ingest pipeline.toml)
REPORT_NS=$(time_phase "$SCRATCH/base2" report pipeline.toml --run-id timing)
echo "kill_check: re-ingest takes $((INGEST_NS / 1000000)) ms, report $((REPORT_NS / 1000000)) ms; $POINTS kill points spread over each"

fail=0; killed=0; finished=0
declare -A outcomes=()
# After a kill in folder $2 (label $1, how the run ended $3, when $4): what a
# reader gets, what the report gives, and where the next run ends.
check_after() {
  local label=$1 w=$2 state=$3 when=$4 rc out what latest
  latest=$(which_metrics "$w/reports/$P/latest/metrics.json")
  if [ "$latest" = other ]; then echo "FAIL $label: latest/metrics.json is neither old nor new"; fail=1; fi
  packs_complete "$w" || { echo "FAIL $label"; fail=1; }
  rc=0; out=$(cd "$w" && "$B" --quiet report pipeline.toml --run-id check 2>&1) || rc=$?
  if [ "$rc" = 0 ]; then
    what=$(which_metrics "$w/reports/$P/check/metrics.json")
    [ "$what" = other ] && { echo "FAIL $label: TORN READ: report gave neither the old nor the new metrics"; fail=1; }
  elif grep -q "does not match its manifest" <<<"$out" && grep -q "ingest --repair" <<<"$out"; then
    what=refused
  else
    echo "FAIL $label: report exited $rc: $out"; fail=1; what=error
  fi
  # The next run always ends at the new figures.
  rc=0; out=$(cd "$w" && "$B" --quiet run pipeline.toml --run-id next 2>&1) || rc=$?
  if [ "$rc" != 0 ] || [ "$(which_metrics "$w/reports/$P/next/metrics.json")" != new ]; then
    echo "FAIL $label: the next run did not end at the new metrics (exit $rc): $out"; fail=1
  fi
  outcomes["${label%% *} $what"]=$(( ${outcomes["${label%% *} $what"]:-0} + 1 ))
  printf '  %-26s kill %-22s (%s): latest pack %s, report gave %s, next run new\n' "$label" "$when" "$state" "$latest" "$what"
}
fresh() { # base → a work folder ready for the phase
  local w="$SCRATCH/w"; rm -rf "$w"; cp -a "$1" "$w"
  [ "$1" = "$SCRATCH/base" ] && cp "$SCRATCH/hes_apc.changed.csv" "$w/hes_apc.csv"
  echo "$w"
}
run_phase() { # phase base duration_ns command...
  local phase=$1 base=$2 dur=$3; shift 3
  local i w d rc state
  for i in $(seq 1 "$POINTS"); do
    w=$(fresh "$base")
    d=$(python3 -c "print(f'{$dur * ($i - 0.5) / $POINTS / 1e9:.4f}')")
    (cd "$w" && exec "$B" --quiet "$@" >/dev/null 2>&1) & pid=$!
    sleep "$d"; kill -9 "$pid" 2>/dev/null || true
    rc=0; { wait "$pid"; } 2>/dev/null || rc=$?
    if [ "$rc" = 137 ]; then killed=$((killed + 1)); state=killed; else finished=$((finished + 1)); state="had finished"; fi
    check_after "$phase #$i" "$w" "$state" "at $(python3 -c "print(f'{$d * 1000:.1f}')") ms"
  done
}
# Kills at every write site, exactly: a binary with the test-only failpoints
# pauses there (SMPEVAL_FAILPOINTS=<site>=pause) and is killed while paused.
run_sites() { # phase base sites command...
  local phase=$1 base=$2 sites=$3; shift 3
  local site w rc n
  for site in $sites; do
    w=$(fresh "$base")
    (cd "$w" && SMPEVAL_FAILPOINTS="$site=pause" exec "$BFP" --quiet "$@" >/dev/null 2>"$SCRATCH/err") & pid=$!
    n=0
    until grep -q "failpoint $site: paused" "$SCRATCH/err" 2>/dev/null; do
      if ! kill -0 "$pid" 2>/dev/null || [ "$n" -gt 600 ]; then echo "FAIL $phase at $site: never reached"; fail=1; break; fi
      sleep 0.05; n=$((n + 1))
    done
    kill -9 "$pid" 2>/dev/null || true
    rc=0; { wait "$pid"; } 2>/dev/null || rc=$?
    [ "$rc" = 137 ] && killed=$((killed + 1))
    check_after "$phase at $site" "$w" killed "at $site"
  done
}
run_phase ingest "$SCRATCH/base" "$INGEST_NS" ingest pipeline.toml
run_phase report "$SCRATCH/base2" "$REPORT_NS" report pipeline.toml --run-id killed
if [ -n "$BFP" ]; then
  run_sites ingest "$SCRATCH/base" "ingest.part ingest.rejects ingest.link ingest.manifest ingest.courses ingest.snapshot ingest.publish ingest.current ingest.gc" ingest pipeline.toml
  run_sites report "$SCRATCH/base2" "report.tables report.charts report.xlsx report.html report.metrics report.manifest report.publish report.latest" report pipeline.toml --run-id killed
else
  echo "kill_check: no failpoints build, so no kills at each write site (KILL_SITES=0)"
fi

for k in "${!outcomes[@]}"; do echo "  $k: ${outcomes[$k]}"; done | sort
echo "kill_check: $((killed + finished)) kill points, $killed interrupted a run, $finished came after it had finished"
if [ "$killed" -lt 20 ]; then echo "FAIL: fewer than 20 kills interrupted a run (raise KILL_HOSPITAL_ROWS)"; fail=1; fi
if [ "$fail" = 0 ]; then echo "1 passed, 0 failed (zero torn reads)"; else echo "0 passed, 1 failed"; exit 1; fi
