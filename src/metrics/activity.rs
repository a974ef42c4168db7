//! Activity, completion, retention and equity (SPEC 4). Unit: referrals.

use polars::prelude::*;

use super::referrals::*;
use super::table::Table;
use crate::schema::*;
use crate::stats;

fn counts() -> [Expr; 4] {
    [
        len().cast(DataType::Int64).alias("referrals"),
        col(STARTER).sum().cast(DataType::Int64).alias("starters"),
        col(COMPLETER)
            .sum()
            .cast(DataType::Int64)
            .alias("completers"),
        col(COURSE_KEY)
            .filter(col(STARTER))
            .n_unique()
            .cast(DataType::Int64)
            .alias("courses"),
    ]
}

/// Referrals, starters, completers and courses run (≥1 starter), overall or by `by`.
/// Courses are counted once per provider and course id.
pub fn activity(referrals: &LazyFrame, by: Option<&str>) -> PolarsResult<DataFrame> {
    match by {
        None => referrals.clone().select(counts()).collect(),
        Some(b) => referrals
            .clone()
            .group_by([col(b)])
            .agg(counts())
            .sort([b], SortMultipleOptions::default())
            .collect(),
    }
}

/// Adds completion rate = completers / starters with a Wilson 95% interval.
pub fn with_completion_rate(df: DataFrame) -> PolarsResult<DataFrame> {
    let s = df.column("starters")?.cast(&DataType::Float64)?;
    let c = df.column("completers")?.cast(&DataType::Float64)?;
    let (s, c) = (s.f64()?, c.f64()?);
    let mut rate = Vec::new();
    let mut lo = Vec::new();
    let mut hi = Vec::new();
    for i in 0..df.height() {
        let w = match (c.get(i), s.get(i)) {
            (Some(x), Some(n)) => stats::wilson(x, n, 0.95),
            _ => None,
        };
        rate.push(w.map(|w| w.estimate));
        lo.push(w.map(|w| w.low));
        hi.push(w.map(|w| w.high));
    }
    let mut df = df;
    df.with_column(Column::new("rate".into(), rate))?;
    df.with_column(Column::new("ci_low".into(), lo))?;
    df.with_column(Column::new("ci_high".into(), hi))?;
    Ok(df)
}

/// Completion (overall or by `by`): starters, completers, rate, Wilson 95% CI.
pub fn completion(referrals: &LazyFrame, by: Option<&str>) -> PolarsResult<DataFrame> {
    let df = activity(referrals, by)?;
    let keep: Vec<&str> = by.into_iter().chain(["starters", "completers"]).collect();
    with_completion_rate(df.select(keep)?)
}

pub fn completion_table(name: &str, title: &str, df: DataFrame) -> Table {
    Table::new(name, title, df)
        .counts(&["referrals", "starters", "completers"])
        .derived("starters", &["rate", "ci_low", "ci_high"])
}

/// % of starters attending each session 1–6. Where a provider sends a register,
/// its marks count; where it sends only a total, a starter with k sessions is
/// taken to have attended sessions 1..k.
pub fn retention(referrals: &LazyFrame) -> PolarsResult<DataFrame> {
    let starters = referrals.clone().filter(col(STARTER));
    let aggs: Vec<Expr> = SESSIONS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            when(col(*s).is_not_null())
                .then(col(*s).cast(DataType::Int32).eq(lit(1)))
                .otherwise(
                    col(SESSIONS_ATTENDED)
                        .cast(DataType::Int32)
                        .gt_eq(lit(i as i32 + 1)),
                )
                .sum()
                .cast(DataType::Int64)
                .alias(format!("s{}", i + 1))
        })
        .chain([len().cast(DataType::Int64).alias("starters")])
        .collect();
    let wide = starters.select(aggs).collect()?;
    let n = wide.column("starters")?.i64()?.get(0).unwrap_or(0);
    let mut session = Vec::new();
    let mut attended = Vec::new();
    let mut rate = Vec::new();
    for i in 1..=6 {
        let a = wide.column(&format!("s{i}"))?.i64()?.get(0).unwrap_or(0);
        session.push(i as i64);
        attended.push(a);
        rate.push((n > 0).then(|| a as f64 / n as f64));
    }
    df!("session" => session, "starters" => vec![n; 6], "attended" => attended, "rate" => rate)
}

/// The equity dimensions of SPEC 4, with the column each is read from.
pub const EQUITY: &[(&str, &str, &str)] = &[
    (
        "imd_quintile",
        IMD_QUINTILE,
        "IMD quintile (1 = most deprived)",
    ),
    ("ethnicity_group", ETHNICITY_GROUP, "Ethnic group"),
    ("sex", SEX, "Sex"),
    ("age_band", AGE_GROUP, "Age band"),
    ("course_language", COURSE_LANGUAGE, "Course language"),
    ("referral_source", REFERRAL_SOURCE, "Referral source"),
];
