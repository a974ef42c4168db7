#!/usr/bin/env bash
# An independent reader of the workbook: run the sample pipeline into a
# scratch folder, then read evaluation.xlsx back with openpyxl (from PyPI, in
# a virtual environment) and check the layout of the Government Analysis
# Function's "Releasing statistics in spreadsheets": cover, contents and notes
# sheets, and one Excel Table with one header row on every table sheet.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/smpeval"
VENV="${SMPEVAL_VENV:-${HOME:-/tmp}/.cache/smpeval-venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import openpyxl" 2>/dev/null; then
  python3 -m venv "$VENV" >/dev/null 2>&1 || { echo "SKIPPED: python3 -m venv is not available"; exit 0; }
  "$VENV/bin/python" -m pip install --quiet openpyxl >/dev/null 2>&1 || { echo "SKIPPED: openpyxl could not be installed from PyPI"; exit 0; }
fi
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
cp -r pipelines sample_data "$SCRATCH/"
(cd "$SCRATCH" && "$BIN" run pipelines/sample.toml --run-id x >/dev/null 2>&1)
"$VENV/bin/python" tests/xlsx_check.py "$SCRATCH/reports/sample/x/evaluation.xlsx"
