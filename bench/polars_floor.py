"""The floor for bench/run.sh: Python polars reading every CSV input of a
generated folder fully, typed (identifiers as text, dates parsed, numbers as
numbers), and nothing else. The XLSX return is not read (it is not a CSV).

    python bench/polars_floor.py <generated dir>
"""

import os
import sys

import polars as pl

d = sys.argv[1]
f = lambda name: os.path.join(d, name)
iso = lambda *cols: [pl.col(c).str.to_date("%Y-%m-%d", strict=False) for c in cols]
dmy = lambda *cols: [pl.col(c).str.to_date("%d/%m/%Y", strict=False) for c in cols]
text = pl.String
rows = 0
frames = [
    pl.read_csv(f("hes_apc.csv"), schema_overrides={"NHSNO": text, "ADMIMETH": text, "DISDATE": text,
                                                    "ADMIDATE": text, "EPIORDER": pl.Int32})
    .with_columns(iso("ADMIDATE", "DISDATE")),
    pl.read_csv(f("hes_ae.csv"), schema_overrides={"NHSNO": text, "ARRIVALDATE": text, "AEDEPTTYPE": text})
    .with_columns(iso("ARRIVALDATE")),
    pl.read_csv(f("hes_op.csv"), schema_overrides={"NHSNO": text, "APPTDATE": text, "ATTENDED": text})
    .with_columns(iso("APPTDATE")),
    pl.read_csv(f("pam_scores.csv"), schema_overrides={"NHS Number": text, "Assessment Date": text,
                                                       "PAM Score": pl.Float64, "PAM Level": pl.Int32})
    .with_columns(dmy("Assessment Date")),
    pl.read_csv(f("northside_returns.csv"), encoding="utf8-lossy", infer_schema=False)
    .with_columns(dmy("Course Start", "Referred On"))
    .with_columns(pl.col("Sessions Attended").cast(pl.Int32, strict=False)),
    pl.read_csv(f("westcombe_register.csv"), separator=";", infer_schema=False)
    .with_columns(iso("start", "ref_date")),
]
for df in frames:
    rows += df.height
print(f"polars floor: {rows} rows read from {len(frames)} CSV files")
