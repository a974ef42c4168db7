#!/usr/bin/env bash
# An independent reader: ingest the sample into a scratch folder and read every
# warehouse table with DuckDB's read_parquet (hive partitions included), the
# way README says an outside reader must: the folder CURRENT names,
# <warehouse>/versions/<CURRENT>/, read once at the start.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/smpeval"
if ! python3 -c "import duckdb" 2>/dev/null; then
  python3 -m pip install --quiet duckdb >/dev/null 2>&1 || { echo "SKIPPED: duckdb could not be installed from PyPI"; exit 0; }
fi
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
cp -r pipelines sample_data "$SCRATCH/"
(cd "$SCRATCH" && "$BIN" ingest pipelines/sample.toml >/dev/null 2>&1)
python3 - "$SCRATCH/warehouse/sample" <<'PY'
import sys, duckdb
root = sys.argv[1]
w = f"{root}/versions/" + open(f"{root}/CURRENT").read().strip()
total = duckdb.sql(f"select count(*) from read_parquet('{w}/**/*.parquet', union_by_name=true)").fetchall()[0][0]
m = duckdb.sql(f"select path, rows_read, rows_accepted, rows_rejected from read_parquet('{w}/manifest/*.parquet')").fetchall()
assert m, "empty manifest"
for path, r, a, j in m:
    assert r == a + j, (path, r, a, j)
ev = duckdb.sql(f"select setting, count(*) from read_parquet('{w}/hospital_events/**/*.parquet', hive_partitioning=true) group by 1 order by 1").fetchall()
assert [s for s, _ in ev] == ["ae", "apc", "op"], ev
# Every table's rows as the version's own list (snapshot.json) records them.
import json
listed = {}
for f in json.load(open(f"{w}/snapshot.json"))["files"]:
    listed[f["table"]] = listed.get(f["table"], 0) + f["rows"]
for table, rows in listed.items():
    got = duckdb.sql(f"select count(*) from read_parquet('{w}/{table}/**/*.parquet', union_by_name=true)").fetchall()[0][0]
    assert got == rows, (table, got, rows)
print(f"duckdb: {total} rows across the warehouse; {len(m)} manifest rows balance; hospital settings {ev}")
print("1 passed, 0 failed")
PY
