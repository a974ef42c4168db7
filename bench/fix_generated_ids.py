"""Works around a bug in `smpeval generate` (src/generate/mod.rs, the
"Background" loop): the never-referred people who pad the hospital extract
get NHS numbers from nhs::with_check_digit(998_000_000 + k), which has ten
digits once k reaches 2,000,000, so every background person after the first
~1.8M gets an 11-digit "NHS number" that smpeval rightly rejects. At W-ICB
size (10M hospital rows) 60% of the APC rows are then rejected and the run
fails on max_reject_rate before writing anything.

This rewrites each 11-digit identifier in the hospital CSVs to a valid
10-digit NHS number outside the generator's ranges (997..., 998..., 999...):
first nine digits p + x, where x = the 11-digit value's first ten digits
minus 1,000,000,000 (< 20M at any size the bench runs) and p the first of
900M, 920M, 940M, 960M whose Modulus 11 check digit is not 10. The mapping is
one-to-one, so spells, events per person and every figure are unchanged; only
never-referred people are touched. A no-op when no identifier has 11 digits.

    python bench/fix_generated_ids.py <generated dir>
"""

import os
import sys

import polars as pl

d = sys.argv[1]
WEIGHTS = [10, 9, 8, 7, 6, 5, 4, 3, 2]


def nine_digit_fix(ids: pl.Expr) -> pl.Expr:
    x = ids.str.slice(0, 10).cast(pl.Int64) - 1_000_000_000
    out = None
    for prefix in (960_000_000, 940_000_000, 920_000_000, 900_000_000):
        nine = (x + prefix).cast(pl.String)
        total = sum(nine.str.slice(i, 1).cast(pl.Int64) * w for i, w in enumerate(WEIGHTS))
        check = 11 - total % 11
        check = pl.when(check == 11).then(0).otherwise(check)
        cand = pl.when(check != 10).then(nine + check.cast(pl.String))
        out = cand if out is None else cand.fill_null(out)  # 900M first, then 920M, ...
    return out


total_fixed = 0
for name in ("hes_apc.csv", "hes_ae.csv", "hes_op.csv"):
    path = os.path.join(d, name)
    if not os.path.exists(path):
        continue
    df = pl.read_csv(path, infer_schema=False)
    bad = df["NHSNO"].str.len_chars() == 11
    n = int(bad.sum())
    if n == 0:
        continue
    x_max = df.filter(bad).select(pl.col("NHSNO").str.slice(0, 10).cast(pl.Int64).max()).item() - 1_000_000_000
    assert x_max < 20_000_000, "too many background people for this work-around"
    fixed = df.with_columns(
        pl.when(pl.col("NHSNO").str.len_chars() == 11)
        .then(nine_digit_fix(pl.col("NHSNO")))
        .otherwise(pl.col("NHSNO"))
        .alias("NHSNO"))
    assert fixed["NHSNO"].null_count() == 0, "no valid replacement for some identifier"
    assert fixed["NHSNO"].str.len_chars().max() == 10
    before = df.filter(bad).select(pl.col("NHSNO").n_unique()).item()
    after = fixed.filter(bad).select(pl.col("NHSNO").n_unique()).item()
    assert before == after, "the mapping must be one-to-one"
    assert not fixed.filter(bad)["NHSNO"].is_in(df.filter(~bad)["NHSNO"].unique().implode()).any()
    tmp = path + ".tmp"
    fixed.write_csv(tmp, null_value="")
    os.replace(tmp, path)
    total_fixed += n
if total_fixed:
    print(f"fix_generated_ids: rewrote {total_fixed} 11-digit background NHS numbers "
          "(smpeval generate bug: 998_000_000 + k overflows nine digits) to valid 10-digit ones")
