//! Data quality: rows read, accepted and rejected per input file, and the
//! rejected rows by reason. Counts are controlled like every other count in
//! a published pack (a small provider's file is not exposed by its row
//! counts); reasons are shown as shares of the controlled total. The exact
//! per-file accounting stays in the warehouse's manifest and the internal pack.

use polars::prelude::*;

use super::table::Table;
use crate::schema::{PERSON_ID, SOURCE, SOURCE_FILE};

/// `superseded`: rows dropped by the duplicates rule (another file sent the
/// same referral): counted as rejected for their file, with their reason.
pub fn tables(
    manifest: DataFrame,
    rejects: Option<DataFrame>,
    superseded: &DataFrame,
) -> anyhow::Result<Vec<Table>> {
    let dropped = superseded
        .clone()
        .lazy()
        .group_by([col(SOURCE_FILE).alias("path")])
        .agg([len().cast(DataType::Int64).alias("_superseded")]);
    let files = manifest
        .lazy()
        .join(
            dropped,
            [col("path")],
            [col("path")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(col("_superseded").fill_null(lit(0i64)))
        .select([
            col("source"),
            col("path"),
            col("rows_read").cast(DataType::Int64),
            (col("rows_accepted").cast(DataType::Int64) - col("_superseded")).alias("accepted"),
            (col("rows_rejected").cast(DataType::Int64) + col("_superseded")).alias("rejected"),
            col("sentinel_dates").cast(DataType::Int64),
        ])
        .sort(["source", "path"], SortMultipleOptions::default())
        .collect()?;
    let files = Table::new(
        "data_quality",
        "Rows read, accepted and rejected by file",
        files,
    )
    .labels(&["source", "path"])
    .counts(&["rows_read"])
    .count_within("accepted", "rows_read")
    .count_within("rejected", "rows_read")
    .counts(&["sentinel_dates"])
    .base("rows_read")
    .share("reject_rate", "rejected", "rows_read");
    let superseded_rejects = superseded
        .clone()
        .lazy()
        .select([
            col(SOURCE).alias("source"),
            lit(PERSON_ID).alias("field"),
            lit("duplicate across files").alias("rule"),
        ])
        .collect()?;
    let rejects = match rejects {
        Some(r) => Some(
            r.lazy()
                .select([col("source"), col("field"), col("rule")])
                .collect()?
                .vstack(&superseded_rejects)?,
        ),
        None => Some(superseded_rejects),
    };
    let reasons = match rejects {
        Some(r) if r.height() > 0 => {
            let total = r.height() as i64;
            r.lazy()
                .group_by([col("source"), col("field"), col("rule")])
                .agg([len().cast(DataType::Int64).alias("rows")])
                .with_column(lit(total).alias("all_rejected"))
                .sort(
                    ["rows", "source", "field", "rule"],
                    SortMultipleOptions::default()
                        .with_order_descending_multi([true, false, false, false]),
                )
                .collect()?
        }
        _ => {
            df!("source" => Vec::<String>::new(), "field" => Vec::<String>::new(), "rule" => Vec::<String>::new(),
                 "rows" => Vec::<i64>::new(), "all_rejected" => Vec::<i64>::new())?
        }
    };
    let reasons = Table::new("reject_reasons", "Rejected rows by reason", reasons)
        .labels(&["source", "field", "rule"])
        .counts(&["rows"])
        .hidden_counts(&["all_rejected"])
        .share("share", "rows", "all_rejected");
    Ok(vec![files, reasons])
}
