//! Data quality: rows read, accepted and rejected per input file, and the
//! rejected rows by reason. Counts are controlled like every other count in
//! a published pack (a small provider's file is not exposed by its row
//! counts); reasons are shown as shares of the controlled total. The exact
//! per-file accounting stays in the warehouse's manifest and the internal pack.

use polars::prelude::*;

use super::referrals::left_join;
use super::table::Table;
use crate::schema::{PROVIDER_ID, SOURCE_FILE};

/// `superseded`: rows accepted at ingest that the duplicates rule then set
/// aside (another file sent the same referral): shown beside each file's
/// counts, which are the ingest's (`validate`, the run log and the manifest
/// give the same), not counted as rejected.
pub fn tables(
    manifest: DataFrame,
    rejects: Option<DataFrame>,
    superseded: &DataFrame,
    published: bool,
) -> crate::error::MetricsResult<Vec<Table>> {
    let dropped = superseded
        .clone()
        .lazy()
        .group_by([col(SOURCE_FILE).alias("path")])
        .agg([len().cast(DataType::Int64).alias("_superseded")]);
    let files = left_join(manifest.lazy(), dropped, "path")
        .with_column(col("_superseded").fill_null(lit(0i64)))
        .select([
            col("source"),
            col("path"),
            col("rows_read").cast(DataType::Int64),
            col("rows_accepted").cast(DataType::Int64).alias("accepted"),
            col("rows_rejected").cast(DataType::Int64).alias("rejected"),
            col("_superseded").alias(SUPERSEDED),
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
    .count_within(SUPERSEDED, "accepted")
    .counts(&["sentinel_dates"])
    .base("rows_read")
    .share("reject_rate", "rejected", "rows_read");
    let reasons = reasons_table(rejects, published)?;
    Ok(vec![files, reasons])
}

/// A file's accepted rows set aside for another file's copy of the referral.
pub const SUPERSEDED: &str = "superseded";

/// Rejected rows by source, field and rule, with each reason's share of all
/// rejected rows: commonest first, but in a published pack in the order of
/// source, field and rule (an order by the exact counts would rank reasons
/// whose counts are hidden).
fn reasons_table(
    rejects: Option<DataFrame>,
    published: bool,
) -> crate::error::MetricsResult<Table> {
    let rejects = match rejects {
        Some(r) => Some(
            r.lazy()
                .select([col("source"), col("field"), col("rule")])
                .collect()?,
        ),
        None => None,
    };
    let order: &[&str] = match published {
        true => &["source", "field", "rule"],
        false => &["rows", "source", "field", "rule"],
    };
    let reasons = match rejects {
        Some(r) if r.height() > 0 => {
            let total = r.height() as i64;
            r.lazy()
                .group_by([col("source"), col("field"), col("rule")])
                .agg([len().cast(DataType::Int64).alias("rows")])
                .with_column(lit(total).alias("all_rejected"))
                .sort(
                    order.to_vec(),
                    SortMultipleOptions::default().with_order_descending_multi(
                        order.iter().map(|c| *c == "rows").collect::<Vec<_>>(),
                    ),
                )
                .collect()?
        }
        _ => {
            df!("source" => Vec::<String>::new(), "field" => Vec::<String>::new(), "rule" => Vec::<String>::new(),
                 "rows" => Vec::<i64>::new(), "all_rejected" => Vec::<i64>::new())?
        }
    };
    Ok(
        Table::new("reject_reasons", "Rejected rows by reason", reasons)
            .labels(&["source", "field", "rule"])
            .counts(&["rows"])
            .hidden_counts(&["all_rejected"])
            .share("share", "rows", "all_rejected"),
    )
}

/// Each provider's rows of returns: accepted (those the duplicates rule set
/// aside for another file's copy included, as in the by-file table),
/// rejected (with a reason) and the reject rate, for the scorecard. Rejected
/// rows whose provider could not be read are not anyone's and stay in the
/// by-file table only.
pub fn by_provider(
    kept: LazyFrame,
    rejects: Option<&DataFrame>,
    superseded: &DataFrame,
    dims: &super::referrals::Dimensions,
) -> crate::error::MetricsResult<Table> {
    let count = |lf: LazyFrame, name: &str| {
        lf.filter(col(PROVIDER_ID).is_not_null())
            .with_column(super::referrals::declared(PROVIDER_ID, &dims.providers))
            .group_by([col(PROVIDER_ID)])
            .agg([len().cast(DataType::Int64).alias(name)])
    };
    let accepted = count(
        concat(
            [
                kept.select([col(PROVIDER_ID)]),
                superseded.clone().lazy().select([col(PROVIDER_ID)]),
            ],
            UnionArgs::default(),
        )?,
        "accepted",
    );
    let rejected = match rejects.filter(|r| r.column("provider").is_ok()) {
        Some(r) => r
            .clone()
            .lazy()
            .select([col("provider").cast(DataType::String).alias(PROVIDER_ID)]),
        None => df!(PROVIDER_ID => Vec::<String>::new())?.lazy(),
    };
    let rejected = count(rejected, "rejected");
    let df = accepted
        .join(
            rejected,
            [col(PROVIDER_ID)],
            [col(PROVIDER_ID)],
            JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns),
        )
        .with_columns([
            col("accepted").fill_null(lit(0i64)),
            col("rejected").fill_null(lit(0i64)),
        ])
        .select([
            col(PROVIDER_ID),
            (col("accepted") + col("rejected")).alias("rows_read"),
            col("rejected"),
        ])
        .collect()?;
    // Every declared provider is listed, whether or not it sent a row.
    let t = super::provider_table(
        "rejects_by_provider",
        "Rows of returns read and rejected by provider",
        df,
        dims,
    )?
    .counts(&["rows_read"])
    .count_within("rejected", "rows_read")
    .base("rows_read")
    .share("reject_rate", "rejected", "rows_read");
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_counts_are_the_ingests_with_its_repeats_beside_them() {
        let manifest = df!(
            "source" => ["r", "r"],
            "path" => ["a.csv", "b.csv"],
            "rows_read" => [40u64, 40],
            "rows_accepted" => [40u64, 38],
            "rows_rejected" => [0u64, 2],
            "sentinel_dates" => [0u64, 0],
        )
        .unwrap();
        // Ten of a.csv's rows are also in b.csv, whose copies the rule keeps.
        let superseded = df!(SOURCE_FILE => vec!["a.csv"; 10]).unwrap();
        let mut t = tables(manifest, None, &superseded, false)
            .unwrap()
            .remove(0);
        crate::disclosure::finalize(&mut t, false).unwrap();
        assert_eq!(t.f64(0, "accepted"), Some(40.0));
        assert_eq!(t.f64(0, "rejected"), Some(0.0));
        assert_eq!(t.f64(0, SUPERSEDED), Some(10.0));
        assert_eq!(t.f64(0, "reject_rate"), Some(0.0));
        assert_eq!(t.f64(1, "rejected"), Some(2.0));
        assert_eq!(t.f64(1, SUPERSEDED), Some(0.0));
    }

    #[test]
    fn a_published_pack_lists_reasons_in_name_order_not_by_hidden_counts() {
        let rejects = df!(
            "source" => ["r", "r", "r", "p"],
            "field" => ["sex", "sex", "sex", "score"],
            "rule" => ["code", "code", "code", "range"],
        )
        .unwrap();
        let order = |published| {
            let t = tables(
                df!("source" => ["r"], "path" => ["a"], "rows_read" => [4u64],
                "rows_accepted" => [0u64], "rows_rejected" => [4u64], "sentinel_dates" => [0u64])
                .unwrap(),
                Some(rejects.clone()),
                &df!(SOURCE_FILE => Vec::<String>::new()).unwrap(),
                published,
            )
            .unwrap()
            .remove(1);
            (0..t.height())
                .map(|i| t.text(i, "source"))
                .collect::<Vec<_>>()
        };
        assert_eq!(order(false), ["r", "p"], "commonest first");
        assert_eq!(order(true), ["p", "r"], "by name");
    }

    #[test]
    fn reject_rate_by_provider_counts_rejects_not_repeats() {
        let kept = df!(PROVIDER_ID => ["A", "A", "A", "B"]).unwrap().lazy();
        let rejects = df!("provider" => [Some("A"), Some("B"), None, Some("zz")]).unwrap();
        let superseded = df!(PROVIDER_ID => ["B"]).unwrap();
        let dims = super::super::referrals::Dimensions {
            providers: vec!["A".into(), "B".into(), "C".into()],
            languages: vec![],
            age_bands: vec![],
        };
        let mut t = by_provider(kept, Some(&rejects), &superseded, &dims).unwrap();
        crate::disclosure::finalize(&mut t, false).unwrap();
        // A: 3 accepted + 1 rejected; B: 1 kept + 1 set aside as a repeat
        // (2 accepted) + 1 rejected;
        // C declared with no rows; an undeclared code is Other; no provider is no one's.
        let rows: Vec<String> = (0..t.height()).map(|i| t.text(i, PROVIDER_ID)).collect();
        assert_eq!(rows, ["A", "B", "C", "Other"]);
        assert_eq!(t.f64(0, "rows_read"), Some(4.0));
        assert_eq!(t.f64(0, "reject_rate"), Some(0.25));
        assert_eq!(t.f64(1, "rows_read"), Some(3.0));
        assert_eq!(t.f64(1, "rejected"), Some(1.0));
        assert_eq!(t.f64(2, "rows_read"), Some(0.0));
        assert_eq!(t.f64(3, "rejected"), Some(1.0));
    }
}
