#!/usr/bin/env bash
# Compares two packs' text files (CSV, JSON, TXT, SVG, HTML) with their run
# ids and ISO times taken out: for checking that a refactor changes nothing.
#   bash bench/packdiff.sh reports/sample/before reports/sample/after
# Use run ids that cannot occur elsewhere in a pack (not "a" or "d1").
# Exit status: 0 when the file lists and every text file agree, 1 otherwise.
set -euo pipefail
A=$1; B=$2
id() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['run']['id'])" "$1/metrics.json"; }
ra=$(id "$A"); rb=$(id "$B")
norm() { sed "s/$1/RUN/g; s/20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:.]*Z/TIME/g" "$2"; }
status=0
if diff <(cd "$A" && find . -type f | sort) <(cd "$B" && find . -type f | sort); then
  echo "same file list"
else
  status=1
fi
n=0
while IFS= read -r f; do
  if [ -f "$B/$f" ] && ! cmp -s <(norm "$ra" "$A/$f") <(norm "$rb" "$B/$f"); then
    echo "DIFF $f"; n=$((n+1))
  fi
done < <(cd "$A" && find . -type f \( -name "*.csv" -o -name "*.json" -o -name "*.txt" -o -name "*.svg" -o -name "*.html" \) | sort)
for f in "$A"/charts/*.png; do
  [ -e "$f" ] || continue
  cmp -s "$f" "$B/charts/$(basename "$f")" || { echo "DIFF charts/$(basename "$f")"; n=$((n+1)); }
done
echo "$n files differ (run ids and times aside)"
[ "$n" -eq 0 ] || status=1
exit $status
