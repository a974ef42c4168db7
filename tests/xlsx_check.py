"""Reads an evaluation.xlsx back with openpyxl and checks its layout."""
import sys

import openpyxl
from openpyxl.utils.cell import range_boundaries

path = sys.argv[1]
book = openpyxl.load_workbook(path)
names = book.sheetnames
problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


check(names[:3] == ["Cover", "Contents", "Notes"], f"first sheets {names[:3]}")
cover = book["Cover"]
text = [str(c.value) for row in cover.iter_rows() for c in row if c.value is not None]
check(cover["A1"].value and "evaluation" in cover["A1"].value.lower(), f"cover title {cover['A1'].value!r}")
for heading in ["Period covered", "Source", "Disclosure control", "Contact"]:
    check(heading in text, f"cover has no {heading!r}")
check(any("disclosure control" in t.lower() and "[c]" in t for t in text), "cover has no disclosure statement")

contents = book["Contents"]
listed = [r[0] for r in contents.iter_rows(min_row=4, values_only=True) if r[0]]
tables = names[3:]
check(listed == tables, f"contents lists {len(listed)} sheets, the workbook has {len(tables)}")
check(len(contents.tables) == 1, "contents is not an Excel Table")

notes = book["Notes"]
symbols = [r[0] for r in notes.iter_rows(min_row=4, values_only=True)]
for s in ["[c]", "[x]", "[z]"]:
    check(s in symbols, f"notes do not explain {s}")
check(len(notes.tables) == 1, "notes is not an Excel Table")

numbers = 0
for name in tables:
    ws = book[name]
    check(bool(ws["A1"].value), f"{name}: no title in A1")
    check(len(ws.tables) == 1, f"{name}: {len(ws.tables)} Excel Tables, expected 1")
    for t in ws.tables.values():
        min_col, min_row, max_col, max_row = range_boundaries(t.ref)
        check(min_row == 3 and min_col == 1, f"{name}: table starts at {t.ref}")
        header = [ws.cell(min_row, c).value for c in range(min_col, max_col + 1)]
        check(header == [c.name for c in t.tableColumns], f"{name}: header row differs from the table's columns")
        check(all(h is not None and str(h).strip() for h in header), f"{name}: an empty header")
        check(t.headerRowCount in (None, 1), f"{name}: {t.headerRowCount} header rows")
        # The first column labels the rows (an IMD quintile "1" is a group, not a number).
        for row in ws.iter_rows(min_row=min_row + 1, max_row=max_row, values_only=True):
            for v in row[1:]:
                if isinstance(v, (int, float)):
                    numbers += 1
                elif isinstance(v, str) and v.strip().replace(",", "").replace(".", "", 1).isdigit():
                    problems.append(f"{name}: number stored as text {v!r}")

check(numbers > 100, f"only {numbers} numeric cells")
print(f"openpyxl: {len(names)} sheets (cover, contents, notes, {len(tables)} tables), {numbers} numbers stored as numbers")
for p in problems[:20]:
    print(f"  {p}")
print("1 passed, 0 failed" if not problems else "0 passed, 1 failed")
sys.exit(1 if problems else 0)
