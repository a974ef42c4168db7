#!/usr/bin/env bash
# Speed and memory at scale (issue 13): generates W-ICB with `smpeval generate`
# (100,000 referrals, 10M hospital rows by default), then times, one after the
# other, with /usr/bin/time -v:
#   (a) smpeval run --internal on a fresh warehouse
#   (b) smpeval report --internal on the built warehouse
#   (c) smpeval run --internal again, nothing changed (and its ingest part)
#   (d) a DuckDB script computing the core figures from the same inputs
#       (bench/duckdb_figures.py: activity, completion, hospital pre/post per
#       group, unmatched DiD, PAM paired change)
#   (e) the floor: Python polars reading every CSV input fully, typed
#       (bench/polars_floor.py)
# and prints wall, CPU (user+sys) and peak RSS for each, the ratios smpeval ÷
# DuckDB and smpeval ÷ floor, and a check that smpeval's metrics.json and
# DuckDB's figures agree (counts exactly, means and rates to 1e-9).
#
#   bash bench/run.sh                                   # W-ICB
#   PARTICIPANTS=20000 HOSPITAL_ROWS=1000000 bash bench/run.sh   # a quick run
#
# Environment:
#   SMPEVAL_BIN     the binary (default ${CARGO_TARGET_DIR:-target}/release/smpeval;
#                   build it first with `cargo build --release`)
#   PARTICIPANTS    referrals to generate (default 100000)
#   HOSPITAL_ROWS   hospital rows to generate (default 10000000)
#   SEED            generator seed (default 1)
#   BENCH_DIR       work folder (default: a new temporary folder, removed at the end)
#   KEEP=1          keep the work folder (inputs, warehouse, packs, timings)
#   BENCH_VENV      the Python virtualenv for DuckDB and polars (made if missing;
#                   default ${XDG_CACHE_HOME:-$HOME/.cache}/smpeval-bench-venv)
#   SMPEVAL_HMAC_KEY  the key for the runs (default: a fixed benchmark key; synthetic data)
#
# Exit status: 0 when every run succeeded and the figures agree, 1 otherwise.
# The timings are benchmark figures, not tests: machines are noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

PARTICIPANTS="${PARTICIPANTS:-100000}"
HOSPITAL_ROWS="${HOSPITAL_ROWS:-10000000}"
SEED="${SEED:-1}"
BIN="${SMPEVAL_BIN:-${CARGO_TARGET_DIR:-target}/release/smpeval}"
if [ ! -x "$BIN" ]; then
  echo "bench/run.sh: no smpeval binary at $BIN: run \`cargo build --release\` first or set SMPEVAL_BIN" >&2
  exit 1
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
export SMPEVAL_HMAC_KEY="${SMPEVAL_HMAC_KEY:-bench-key-0123456789abcdef0123456789abcdef}"

# GNU time (the `time` package) for wall, CPU and peak RSS.
if [ ! -x /usr/bin/time ]; then
  echo "bench/run.sh: installing GNU time (apt-get install time)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq time >/dev/null
fi

# DuckDB and polars from PyPI, in a virtualenv of our own.
VENV="${BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/smpeval-bench-venv}"
if ! "$VENV/bin/python" -c "import duckdb, polars, fastexcel, pyarrow" 2>/dev/null; then
  echo "bench/run.sh: making the virtualenv $VENV (duckdb, polars, fastexcel, pyarrow from PyPI)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet duckdb polars fastexcel pyarrow
fi
PY="$VENV/bin/python"

if [ -n "${BENCH_DIR:-}" ]; then
  W="$BENCH_DIR"; mkdir -p "$W"
else
  W="$(mktemp -d)"
fi
if [ "${KEEP:-0}" != 1 ] && [ -z "${BENCH_DIR:-}" ]; then
  trap 'rm -rf "$W"' EXIT
fi
D="$W/data"; T="$W/times"
rm -rf "$D" "$T"; mkdir -p "$T"

echo "smpeval: $BIN ($("$BIN" --version 2>/dev/null || echo 'version unknown'))"
echo "python:  $("$PY" -c 'import duckdb, polars, sys; print(f"duckdb {duckdb.__version__}, polars {polars.__version__}, python {sys.version.split()[0]}")')"
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "work:    $W"
echo
echo "generating: --participants $PARTICIPANTS --hospital-rows $HOSPITAL_ROWS --seed $SEED"
/usr/bin/time -v -o "$T/generate" "$BIN" generate --out "$D" --participants "$PARTICIPANTS" \
  --hospital-rows "$HOSPITAL_ROWS" --seed "$SEED" >/dev/null
hosp_lines=$(( $(cat "$D"/hes_*.csv | wc -l) - $(ls "$D"/hes_*.csv | wc -l) ))
echo "input: $(du -sh "$D" | cut -f1) ($(du -ch "$D"/hes_*.csv | tail -1 | cut -f1) hospital CSV), $hosp_lines hospital rows, $(( $(wc -l < "$D/pam_scores.csv") - 1 )) PAM rows"
sync

fail=0
step() { # name, then the command; stdout and stderr to $T/<name>.out / .err
  local name="$1"; shift
  echo "running ($name): $*" | sed "s#$BIN#smpeval#; s#$D/##g; s#$ROOT/##g"
  busy > "$T/$name.busy0"
  if ! /usr/bin/time -v -o "$T/$name" "$@" >"$T/$name.out" 2>"$T/$name.err"; then
    echo "  FAILED: see $T/$name.err" >&2; tail -5 "$T/$name.err" >&2; fail=1
  fi
  busy > "$T/$name.busy1"
}
# CPU seconds used by the whole machine so far (user+nice+system+irq+softirq+steal):
# the difference over a step, less the step's own CPU, is what other processes
# took meanwhile (the machine is shared; a noisy neighbour shows here).
busy() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / {print ($2+$3+$4+$7+$8+$9)/hz}' /proc/stat; }

# (a)-(c): smpeval, from the generated folder (the pipeline's paths are relative to it).
step a "$BIN" run "$D/pipeline.toml" --internal --run-id bench-a
step b "$BIN" report "$D/pipeline.toml" --internal --run-id bench-b
date +%s.%N > "$T/c.start"
step c "$BIN" --log-format json run "$D/pipeline.toml" --internal --run-id bench-c
# (d) DuckDB, (e) the polars floor.
step d "$PY" "$ROOT/bench/duckdb_figures.py" "$D" "$W/duckdb.json"
step e "$PY" "$ROOT/bench/polars_floor.py" "$D"

echo
"$PY" - "$T" "$PARTICIPANTS" "$hosp_lines" <<'PY'
import calendar, json, os, re, sys
from datetime import datetime
t, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def parse(name):
    p = os.path.join(t, name)
    if not os.path.exists(p):
        return None
    s = open(p).read()
    def g(pat):
        mm = re.search(pat, s)
        return mm.group(1) if mm else None
    wall = g(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)")
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    try:
        others = float(open(p + ".busy1").read()) - float(open(p + ".busy0").read())
    except OSError:
        others = float("nan")
    cpu = float(g(r"User time \(seconds\): (\S+)")) + float(g(r"System time \(seconds\): (\S+)"))
    return {"wall": secs, "others": max(others - cpu, 0.0), "cpu": float(g(r"User time \(seconds\): (\S+)")) + float(g(r"System time \(seconds\): (\S+)")),
            "rss": int(g(r"Maximum resident set size \(kbytes\): (\d+)")) / 1024 / 1024,
            "exit": int(g(r"Exit status: (\d+)") or -1)}

rows = [("a", "smpeval run --internal (fresh warehouse)"),
        ("b", "smpeval report --internal (built warehouse)"),
        ("c", "smpeval run --internal (nothing changed)"),
        ("d", "DuckDB script, core figures (whole Python process)"),
        ("e", "floor: polars reads every CSV, typed (whole process)")]
r = {k: parse(k) for k, _ in rows}
print(f"W: {n:,} referrals, {m:,} hospital rows")
print(f"| {'':3} | {'workload':52} | {'wall s':>7} | {'CPU s':>7} | {'peak RSS GiB':>12} | exit | {'other procs CPU s':>17} |")
print(f"|{'-'*5}|{'-'*54}|{'-'*9}|{'-'*9}|{'-'*14}|------|{'-'*19}|")
for k, label in rows:
    x = r[k]
    if x:
        print(f"| ({k}) | {label:52} | {x['wall']:7.2f} | {x['cpu']:7.2f} | {x['rss']:12.2f} | {x['exit']:4d} | {x['others']:17.2f} |")
print("(CPU = user + sys of the process tree; other procs CPU = CPU seconds the rest of the machine used during the step)")
# The ingest part of (c): from launch to its first report-step log line.
try:
    start = float(open(os.path.join(t, "c.start")).read())
    for line in open(os.path.join(t, "c.err")):
        j = json.loads(line)
        if j.get("step") == "report":
            stamp = j["time"].rstrip("Z")
            ts = calendar.timegm(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").timetuple()) \
                + int(stamp.split(".")[1]) / 1000
            print(f"(c) ingest part (launch to the first report log line): {ts - start:.3f} s   [target ≤ 0.2 s]")
            break
except Exception as e:
    print(f"(c) ingest part: not measured ({e})")
print()
def ratio(a, b, key):
    return r[a][key] / r[b][key] if r.get(a) and r.get(b) and r[b][key] else float("nan")
print(f"| {'ratio':42} | {'wall':>6} | {'CPU':>6} | {'RSS':>6} | target (wall) |")
print(f"|{'-'*44}|{'-'*8}|{'-'*8}|{'-'*8}|---------------|")
for a, b, label, target in [("a", "d", "(a) smpeval run ÷ (d) DuckDB", "≤ 1.0×"),
                            ("a", "e", "(a) smpeval run ÷ (e) floor", "≤ 1.5×"),
                            ("b", "d", "(b) smpeval report ÷ (d) DuckDB", "≤ 0.25×"),
                            ("c", "d", "(c) smpeval re-run ÷ (d) DuckDB", ""),
                            ("d", "e", "(d) DuckDB ÷ (e) floor", "")]:
    print(f"| {label:42} | {ratio(a, b, 'wall'):5.2f}× | {ratio(a, b, 'cpu'):5.2f}× | {ratio(a, b, 'rss'):5.2f}× | {target:13} |")
if r.get("a"):
    ok = "meets" if r["a"]["rss"] <= 2.0 else "misses"
    print(f"(a) peak RSS {r['a']['rss']:.2f} GiB {ok} the 2 GiB target")
PY

echo
# Agreement: each smpeval pack's metrics.json against DuckDB's figures.
for id in bench-a bench-b bench-c; do
  mj="$D/reports/generated/$id/metrics.json"
  if [ ! -f "$mj" ] || [ ! -f "$W/duckdb.json" ]; then
    echo "agreement ($id): not checked (missing $( [ -f "$mj" ] && echo "$W/duckdb.json" || echo "$mj"))"; fail=1; continue
  fi
  printf '(%s) ' "${id#bench-}"
  notes=(); [ "$id" = bench-a ] || notes=(--no-notes)
  "$PY" "$ROOT/bench/compare_figures.py" "$mj" "$W/duckdb.json" "${notes[@]}" || fail=1
done
if [ "${KEEP:-0}" = 1 ] || [ -n "${BENCH_DIR:-}" ]; then echo "kept: $W"; fi
exit "$fail"
