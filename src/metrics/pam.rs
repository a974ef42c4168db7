//! PAM change for starters (SPEC 4): baseline = the latest score in
//! [index − 90 d, index + 7 d]; follow-up = the earliest in [index + 35 d,
//! index + 365 d] (pipeline settings). Only persons with both are paired.

use polars::prelude::*;

use super::hospital::{INDEX, INDEX_PROVIDER};
use super::referrals::{days, left_join, rows_as};
use super::table::{formulas, Table};
use crate::error::MetricsResult;
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
        .agg([col(SCORE).last().alias("score_pre")]);
    let post = scored
        .filter(
            col("offset")
                .gt_eq(lit(s.pam_post_days_from as i32))
                .and(col("offset").lt_eq(lit(s.pam_post_days_to as i32))),
        )
        .group_by_stable([col(PERSON_ID)])
        .agg([col(SCORE).first().alias("score_post")]);
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
        .with_columns(levels_and_change(s.pam_level4_cut))
}

/// Hibbard PAM level from a score (SPEC 1.3): 1 if ≤ 47.0, 2 if ≤ 55.1, 3
/// if ≤ the 3/4 cut, else 4; null where the score is. Compared on the score
/// as given: a score read from "55.1" is the same double as the cut, so the
/// boundaries are inclusive, and a score with more decimals (47.04) is
/// levelled as written. The one rule for ingest's check of a given level and
/// for the pack, where levels are derived at report time with the *current*
/// cut (never read from the warehouse), so a changed cut changes the tables
/// without a re-ingest.
pub fn level_of(score: Expr, cut_3_4: f64) -> Expr {
    when(score.clone().lt_eq(lit(PAM_CUT_1_2)))
        .then(lit(1i32))
        .when(score.clone().lt_eq(lit(PAM_CUT_2_3)))
        .then(lit(2i32))
        .when(score.clone().lt_eq(lit(cut_3_4)))
        .then(lit(3i32))
        .when(score.is_not_null())
        .then(lit(4i32))
        .otherwise(lit(NULL).cast(DataType::Int32))
}

/// A score in millionths of a point, a whole number: a gain is compared on
/// these, so a gain of exactly 3.0 is never lost to binary floating point
/// (33.3 − 30.3 = 2.9999999999999964) whatever decimals scores are given to
/// (up to six).
fn millionths(score: Expr) -> Expr {
    (score * lit(1e6))
        .round(0, RoundMode::HalfToEven)
        .cast(DataType::Int64)
}

fn levels_and_change(cut_3_4: f64) -> Vec<Expr> {
    let gain = millionths(col("score_post")) - millionths(col("score_pre"));
    vec![
        level_of(col("score_pre"), cut_3_4).alias("level_pre"),
        level_of(col("score_post"), cut_3_4).alias("level_post"),
        gain.gt_eq(lit(GAIN_POINTS * 1_000_000))
            .alias("up_3_points"),
        (col("score_post") - col("score_pre")).alias("change"),
    ]
}

/// A gain of at least this many points counts as "gaining ≥ 3 points".
pub const GAIN_POINTS: i64 = 3;

/// One row: n paired, the exact means (hidden; published under the n rule),
/// the t half-width, and the counts up one level and up ≥ 3 points.
pub fn summary(paired: &LazyFrame) -> PolarsResult<DataFrame> {
    let df = paired
        .clone()
        .select([
            rows_as("n_paired"),
            col("score_pre").mean().alias("mean_pre_x"),
            col("score_post").mean().alias("mean_post_x"),
            col("change").mean().alias("change_x"),
            col("change").std(1).alias("sd_change"),
            col("level_post")
                .gt(col("level_pre"))
                .sum()
                .cast(DataType::Int64)
                .alias("n_up_one_level"),
            col("up_3_points")
                .sum()
                .cast(DataType::Int64)
                .alias("n_up_3_points"),
        ])
        .collect()?;
    let n = df.column("n_paired")?.i64()?.get(0).unwrap_or(0) as f64;
    let sd = df.column("sd_change")?.f64()?.get(0).unwrap_or(f64::NAN);
    let half = crate::stats::t_half_width(n, sd, 0.95);
    let mut df = df.drop("sd_change")?;
    df.with_column(Column::new("ci_half".into(), [half]))?;
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

/// n and the exact mean change by baseline level (every level, n 0 where none).
pub fn by_baseline(paired: &LazyFrame) -> PolarsResult<DataFrame> {
    let levels = df!("baseline_level" => [1i32, 2, 3, 4])?.lazy();
    let agg = paired
        .clone()
        .group_by([col("level_pre")
            .cast(DataType::Int32)
            .alias("baseline_level")])
        .agg([rows_as("n"), col("change").mean().alias("mean_change_x")]);
    left_join(levels, agg, "baseline_level")
        .with_column(col("n").fill_null(lit(0i64)))
        .sort(["baseline_level"], SortMultipleOptions::default())
        .collect()
}

/// Paired n, exact mean change and t half-width per provider of the index course.
pub fn by_provider(paired: &LazyFrame) -> PolarsResult<DataFrame> {
    let df = paired
        .clone()
        .group_by([col(INDEX_PROVIDER).alias(PROVIDER_ID)])
        .agg([
            len().cast(DataType::Int64).alias("pam_n"),
            col("change").mean().alias("pam_change_x"),
            col("change").std(1).alias("sd"),
        ])
        .sort([PROVIDER_ID], SortMultipleOptions::default())
        .collect()?;
    let n = df.column("pam_n")?.cast(&DataType::Float64)?;
    let sd = df.column("sd")?.cast(&DataType::Float64)?;
    let half: Vec<Option<f64>> = n
        .f64()?
        .iter()
        .zip(sd.f64()?.iter())
        .map(|(n, sd)| crate::stats::t_half_width(n.unwrap_or(0.0), sd.unwrap_or(f64::NAN), 0.95))
        .collect();
    let mut df = df.drop("sd")?;
    df.with_column(Column::new("pam_half".into(), half))?;
    Ok(df)
}

/// The PAM scores of the warehouse, or none (with a note saying so).
pub fn scores_or_empty(
    scores: Option<DataFrame>,
    notes: &mut Vec<String>,
) -> MetricsResult<LazyFrame> {
    if let Some(df) = scores {
        return Ok(df.lazy());
    }
    notes.push("No PAM scores in the warehouse: PAM figures are empty.".into());
    let empty = |name: &str, dtype: &DataType| Column::new_empty(name.into(), dtype);
    Ok(DataFrame::new(
        0,
        vec![
            empty(PERSON_ID, &DataType::String),
            empty(ASSESSMENT_DATE, &DataType::Date),
            empty(SCORE, &DataType::Float64),
            empty(SOURCE_LINE, &DataType::UInt32),
        ],
    )?
    .lazy())
}

/// Decimal places of a published PAM mean, change or interval bound: one.
/// Scores are often whole numbers (or given to one place); a mean of whole
/// numbers to 2 places beside an n rounded to 5 leaves few n it can be the
/// mean of, often one for 8–12 people (disclosure review s17), and the two
/// bounds of an interval give its centre to their places as well.
pub const PAM_DECIMALS: i32 = 1;

/// A statistic shown as it was computed ([`PAM_DECIMALS`]), while `n` ≥ 10.
fn shown(t: Table, name: &str, from: &str, n: &str) -> Table {
    t.statistic(name, &[from], formulas::identity, &[n], PAM_DECIMALS)
}

/// PAM of paired starters: the summary, the level transitions and levels,
/// the change by baseline level and by provider.
pub fn tables(paired: &LazyFrame, dims: &super::Dimensions) -> MetricsResult<Vec<Table>> {
    let t = transitions(paired)?;
    let [transitions, levels] = level_tables(&t)?;
    Ok(vec![
        summary_table(paired)?,
        transitions,
        levels,
        by_baseline_table(paired)?,
        by_provider_table(paired, dims)?,
    ])
}

/// The PAM summary: paired starters, mean scores before and after, the mean
/// change with its Student-t 95% interval, and the shares gaining a level or
/// 3 points.
fn summary_table(paired: &LazyFrame) -> MetricsResult<Table> {
    let t = Table::new(
        "pam_summary",
        "PAM: paired baseline and follow-up scores of starters",
        summary(paired)?,
    )
    .counts(&["n_paired"])
    .count_within("n_up_one_level", "n_paired")
    .count_within("n_up_3_points", "n_paired")
    .hidden(&["mean_pre_x", "mean_post_x", "change_x", "ci_half"]);
    let t = shown(t, "mean_pre", "mean_pre_x", "n_paired");
    let t = shown(t, "mean_post", "mean_post_x", "n_paired");
    Ok(shown(t, "change", "change_x", "n_paired")
        .interval_to(
            ["ci_low", "ci_high"],
            "change",
            "ci_half",
            &["n_paired"],
            PAM_DECIMALS,
        )
        .share("pct_up_one_level", "n_up_one_level", "n_paired")
        .share("pct_up_3_points", "n_up_3_points", "n_paired"))
}

/// The level at baseline (rows) against the level at follow-up (columns),
/// and the count at each level at baseline and at follow-up.
fn level_tables(t: &[[i64; 4]; 4]) -> MetricsResult<[Table; 2]> {
    let row = |k: usize| t.iter().map(|r| r[k]).collect::<Vec<_>>();
    let totals: Vec<i64> = t.iter().map(|r| r.iter().sum()).collect();
    let transitions = Table::new(
        "pam_transitions",
        "PAM level at baseline (rows) and follow-up (columns)",
        df!(
            "baseline_level" => [1i32, 2, 3, 4], "baseline_total" => totals.clone(),
            "to_level_1" => row(0), "to_level_2" => row(1), "to_level_3" => row(2), "to_level_4" => row(3),
        )?,
    )
    .exact(&["baseline_level"])
    .hidden_counts(&["baseline_total"])
    .count_within("to_level_1", "baseline_total")
    .count_within("to_level_2", "baseline_total")
    .count_within("to_level_3", "baseline_total")
    .count_within("to_level_4", "baseline_total")
    .base("baseline_total");
    let follow: Vec<i64> = (0..4).map(|c| t.iter().map(|r| r[c]).sum()).collect();
    let levels = Table::new(
        "pam_levels",
        "PAM level at baseline and follow-up (paired starters)",
        df!("level" => [1i32, 2, 3, 4], "baseline" => totals, "follow_up" => follow)?,
    )
    .exact(&["level"])
    .counts(&["baseline", "follow_up"]);
    Ok([transitions, levels])
}

/// The mean change in score by baseline level.
fn by_baseline_table(paired: &LazyFrame) -> MetricsResult<Table> {
    let df = by_baseline(paired)?;
    let t = Table::new("pam_by_baseline", "Mean PAM change by baseline level", df)
        .exact(&["baseline_level"])
        .counts(&["n"])
        .hidden(&["mean_change_x"])
        .base("n");
    Ok(shown(t, "mean_change", "mean_change_x", "n"))
}

/// The mean change in score by provider, with its Student-t 95% interval:
/// every declared provider listed, one with no paired starters shown like
/// one with a few (`[c]`).
fn by_provider_table(paired: &LazyFrame, dims: &super::Dimensions) -> MetricsResult<Table> {
    let df = by_provider(paired)?;
    let t = super::provider_table("pam_by_provider", "PAM change by provider", df, dims)?
        .counts(&["pam_n"])
        .hidden(&["pam_change_x", "pam_half"])
        .base("pam_n");
    Ok(shown(t, "pam_change", "pam_change_x", "pam_n").interval_to(
        ["pam_ci_low", "pam_ci_high"],
        "pam_change",
        "pam_half",
        &["pam_n"],
        PAM_DECIMALS,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_with_no_paired_starters_looks_like_one_with_a_few() {
        let dims = super::super::Dimensions {
            providers: vec!["AAA".into(), "BBB".into(), "CCC".into()],
            languages: vec![],
            age_bands: vec![],
        };
        // AAA 12 paired starters, BBB 2, CCC none.
        let mut providers = vec!["AAA"; 12];
        providers.extend(["BBB"; 2]);
        let change: Vec<f64> = (0..14).map(|i| i as f64).collect();
        let paired = df!(INDEX_PROVIDER => providers, "change" => change)
            .unwrap()
            .lazy();
        let mut t = by_provider_table(&paired, &dims).unwrap();
        crate::disclosure::finalize(&mut t, true).unwrap();
        let n: Vec<String> = (0..t.height()).map(|i| t.text(i, "pam_n")).collect();
        let hidden: Vec<bool> = (0..3).map(|i| t.is_suppressed(i, "pam_n")).collect();
        assert_eq!(
            (&n[..1], hidden),
            (&["10".to_string()][..], vec![false, true, true])
        );
    }

    #[test]
    fn a_published_pam_mean_of_whole_scores_does_not_give_back_its_n() {
        // 12 paired starters with whole-number scores (published n: 10).
        // Their mean before, 553/12 = 46.083, to 2 places (46.08) is the
        // mean of whole numbers only for n = 12 of 8 to 12; to 1 place
        // (46.1), for every one of them.
        let pre = [
            40.0, 41.0, 44.0, 45.0, 46.0, 46.0, 47.0, 47.0, 48.0, 49.0, 50.0, 50.0,
        ];
        let post: Vec<f64> = pre.iter().map(|x| x + 3.0).collect();
        let paired = gains(&pre, &post, 67.0).lazy();
        let mut t = summary_table(&paired).unwrap();
        crate::disclosure::finalize(&mut t, true).unwrap();
        let mean = t.f64(0, "mean_pre").unwrap();
        assert_eq!(mean, 46.1);
        let fits = |n: i32| {
            let (lo, hi) = ((mean - 0.05) * n as f64, (mean + 0.05) * n as f64);
            lo.ceil() <= hi.floor()
        };
        assert_eq!((8..=12).filter(|n| fits(*n)).count(), 5);
        // The interval's bounds are to 1 place too (their centre would
        // give the change to 2).
        for c in ["change", "ci_low", "ci_high"] {
            let v = t.f64(0, c).unwrap();
            assert!(((v * 10.0).round() - v * 10.0).abs() < 1e-9, "{c} {v}");
        }
    }

    fn gains(pre: &[f64], post: &[f64], cut: f64) -> DataFrame {
        df!("score_pre" => pre, "score_post" => post)
            .unwrap()
            .lazy()
            .with_columns(levels_and_change(cut))
            .collect()
            .unwrap()
    }

    #[test]
    fn a_gain_of_exactly_three_points_counts_from_any_baseline() {
        // In binary floating point 33.3 − 30.3 = 2.9999999999999964 < 3.0;
        // in millionths 33300000 − 30300000 = 3000000. Scores with two
        // decimals too; 2.99 and 2.96 are not gains of 3.
        let pre = [30.3, 40.1, 47.0, 55.1, 60.7, 71.2, 2.9, 30.33, 50.0, 50.04];
        let post = [33.3, 43.1, 50.0, 58.1, 63.7, 74.2, 5.9, 33.33, 52.99, 53.0];
        let df = gains(&pre, &post, 67.0);
        let up = df.column("up_3_points").unwrap().bool().unwrap();
        let up: Vec<_> = up.iter().collect();
        assert_eq!(up[..8], [Some(true); 8]);
        assert_eq!(up[8..], [Some(false); 2]);
        let s = summary(&df.clone().lazy()).unwrap();
        assert_eq!(
            s.column("n_up_3_points").unwrap().i64().unwrap().get(0),
            Some(8)
        );
        // The change is the scores' difference as given: the mean change is
        // the mean after less the mean before.
        let c = df.column("change").unwrap().f64().unwrap();
        assert!((c.get(9).unwrap() - 2.96).abs() < 1e-12);
        let mean = |n: &str| s.column(n).unwrap().f64().unwrap().get(0).unwrap();
        assert!((mean("change_x") - (mean("mean_post_x") - mean("mean_pre_x"))).abs() < 1e-12);
    }

    #[test]
    fn levels_follow_the_current_cut() {
        // 70.0 is level 3 under the 72.4 cut and level 4 under 67.0.
        let a = gains(&[70.0], &[70.0], 67.0);
        let b = gains(&[70.0], &[70.0], 72.4);
        let lv = |d: &DataFrame| d.column("level_pre").unwrap().i32().unwrap().get(0);
        assert_eq!(lv(&a), Some(4));
        assert_eq!(lv(&b), Some(3));
        // The published boundaries are inclusive: 47.0 → 1, 55.1 → 2; a
        // score with two decimals is levelled as written: 47.04 → 2.
        let c = gains(&[47.0, 55.1, 47.1, 47.04], &[0.0; 4], 67.0);
        let l: Vec<_> = c
            .column("level_pre")
            .unwrap()
            .i32()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(l, vec![Some(1), Some(2), Some(2), Some(2)]);
    }
}
