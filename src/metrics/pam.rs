//! PAM change for starters (SPEC 4): baseline = the latest score in
//! [index − 90 d, index + 7 d]; follow-up = the earliest in [index + 35 d,
//! index + 365 d] (pipeline settings). Only persons with both are paired.

use polars::prelude::*;

use super::hospital::{INDEX, INDEX_PROVIDER};
use super::referrals::days;
use crate::pipeline::Settings;
use crate::schema::*;

/// One row per paired starter: pre/post score and level, change, provider.
pub fn paired(persons: &LazyFrame, pam: &LazyFrame, s: &Settings) -> LazyFrame {
    let starters = persons.clone().filter(col("started")).select([
        col(PERSON_ID),
        col(INDEX),
        col(INDEX_PROVIDER),
    ]);
    let scored = pam
        .clone()
        .join(
            starters.clone(),
            [col(PERSON_ID)],
            [col(PERSON_ID)],
            JoinArgs::new(JoinType::Inner),
        )
        .with_column((days(col(ASSESSMENT_DATE)) - days(col(INDEX))).alias("offset"))
        .sort(
            [PERSON_ID, ASSESSMENT_DATE, SOURCE_LINE],
            SortMultipleOptions::default(),
        );
    let pre = scored
        .clone()
        .filter(
            col("offset")
                .gt_eq(lit(-(s.pam_pre_days_before as i32)))
                .and(col("offset").lt_eq(lit(s.pam_pre_days_after as i32))),
        )
        .group_by_stable([col(PERSON_ID)])
        .agg([
            col(SCORE).last().alias("score_pre"),
            col(LEVEL).last().alias("level_pre"),
        ]);
    let post = scored
        .filter(
            col("offset")
                .gt_eq(lit(s.pam_post_days_from as i32))
                .and(col("offset").lt_eq(lit(s.pam_post_days_to as i32))),
        )
        .group_by_stable([col(PERSON_ID)])
        .agg([
            col(SCORE).first().alias("score_post"),
            col(LEVEL).first().alias("level_post"),
        ]);
    starters
        .join(
            pre,
            [col(PERSON_ID)],
            [col(PERSON_ID)],
            JoinArgs::new(JoinType::Inner),
        )
        .join(
            post,
            [col(PERSON_ID)],
            [col(PERSON_ID)],
            JoinArgs::new(JoinType::Inner),
        )
        .with_column((col("score_post") - col("score_pre")).alias("change"))
}

/// n, means, mean change with a t CI, % up ≥1 level, % up ≥3 points.
pub fn summary(paired: &LazyFrame) -> PolarsResult<DataFrame> {
    let df = paired
        .clone()
        .select([
            len().cast(DataType::Int64).alias("n_paired"),
            col("score_pre").mean().alias("mean_pre"),
            col("score_post").mean().alias("mean_post"),
            col("change").mean().alias("change"),
            col("change").std(1).alias("sd_change"),
            col("level_post")
                .gt(col("level_pre"))
                .cast(DataType::Float64)
                .mean()
                .alias("pct_up_one_level"),
            col("change")
                .gt_eq(lit(3.0))
                .cast(DataType::Float64)
                .mean()
                .alias("pct_up_3_points"),
        ])
        .collect()?;
    let n = df.column("n_paired")?.i64()?.get(0).unwrap_or(0) as f64;
    let mean = df.column("change")?.f64()?.get(0).unwrap_or(f64::NAN);
    let sd = df.column("sd_change")?.f64()?.get(0).unwrap_or(f64::NAN);
    let ci = crate::stats::mean_interval(n, mean, sd, 0.95);
    let mut df = df.drop("sd_change")?;
    df.with_column(Column::new("ci_low".into(), [ci.map(|c| c.low)]))?;
    df.with_column(Column::new("ci_high".into(), [ci.map(|c| c.high)]))?;
    Ok(df)
}

/// 4×4 counts: baseline level (rows) → follow-up level (columns).
pub fn transitions(paired: &LazyFrame) -> PolarsResult<[[i64; 4]; 4]> {
    let df = paired
        .clone()
        .group_by([col("level_pre"), col("level_post")])
        .agg([len().cast(DataType::Int64).alias("n")])
        .collect()?;
    let mut t = [[0i64; 4]; 4];
    let a = df.column("level_pre")?.cast(&DataType::Int64)?;
    let b = df.column("level_post")?.cast(&DataType::Int64)?;
    let n = df.column("n")?.i64()?.clone();
    for i in 0..df.height() {
        if let (Some(x), Some(y), Some(c)) = (a.i64()?.get(i), b.i64()?.get(i), n.get(i)) {
            if (1..=4).contains(&x) && (1..=4).contains(&y) {
                t[(x - 1) as usize][(y - 1) as usize] = c;
            }
        }
    }
    Ok(t)
}

/// Mean change by baseline level.
pub fn by_baseline(paired: &LazyFrame) -> PolarsResult<DataFrame> {
    let levels = df!("baseline_level" => [1i32, 2, 3, 4])?.lazy();
    let agg = paired
        .clone()
        .group_by([col("level_pre")
            .cast(DataType::Int32)
            .alias("baseline_level")])
        .agg([
            len().cast(DataType::Int64).alias("n"),
            col("change").mean().alias("mean_change"),
        ]);
    levels
        .join(
            agg,
            [col("baseline_level")],
            [col("baseline_level")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(col("n").fill_null(lit(0i64)))
        .sort(["baseline_level"], SortMultipleOptions::default())
        .collect()
}

/// Paired n and mean change per provider of the index course.
pub fn by_provider(paired: &LazyFrame) -> PolarsResult<DataFrame> {
    paired
        .clone()
        .group_by([col(INDEX_PROVIDER).alias(PROVIDER_ID)])
        .agg([
            len().cast(DataType::Int64).alias("pam_n"),
            col("change").mean().alias("pam_change"),
        ])
        .sort([PROVIDER_ID], SortMultipleOptions::default())
        .collect()
}
