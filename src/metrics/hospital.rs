//! Hospital use before and after the index date, per person (SPEC 4).
//!
//! Index: a person's first started course's start date (participants) or first
//! referral date (comparison: referred, never started). Pre window
//! [index − W, index), post window [index, index + W). A person is eligible only
//! if both windows lie inside the extract's coverage; the others are counted as
//! "insufficient follow-up". Events are placed in a window by their admission,
//! arrival or appointment date.

use chrono::NaiveDate;
use polars::prelude::*;

use super::referrals::*;
use crate::schema::*;
use crate::stats;

pub const GROUP: &str = "group";
pub const INDEX: &str = "index_date";
pub const INDEX_PROVIDER: &str = "index_provider";
pub const FIRST_COMPLETED: &str = "completed_first_course";
pub const ELIGIBLE: &str = "eligible";

/// (outcome key, label, unit cost key in the pipeline or "").
pub const OUTCOMES: &[(&str, &str)] = &[
    ("emergency_admissions", "Emergency admissions"),
    ("ae_attendances", "A&E attendances"),
    ("emergency_bed_days", "Emergency bed days"),
    ("elective_admissions", "Elective admissions"),
    ("outpatient_attendances", "Outpatient attendances"),
];

/// One row per person: group, index date, provider of the index course, and
/// whether they completed their first started course.
pub fn persons(referrals: &LazyFrame) -> LazyFrame {
    referrals
        .clone()
        .sort(
            [PERSON_ID, COURSE_START_DATE, REFERRAL_DATE],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .group_by_stable([col(PERSON_ID)])
        .agg([
            col(STARTER).any(true).alias("started"),
            col(COURSE_START_DATE)
                .filter(col(STARTER))
                .min()
                .alias("first_start"),
            col(REFERRAL_DATE).min().alias("first_referral"),
            col(COMPLETER)
                .filter(col(STARTER))
                .first()
                .alias(FIRST_COMPLETED),
            col(PROVIDER_ID)
                .filter(col(STARTER))
                .first()
                .alias("start_provider"),
            col(PROVIDER_ID).first().alias("referral_provider"),
        ])
        .with_columns([
            when(col("started"))
                .then(col("first_start"))
                .otherwise(col("first_referral"))
                .alias(INDEX),
            when(col("started"))
                .then(col("start_provider"))
                .otherwise(col("referral_provider"))
                .alias(INDEX_PROVIDER),
            when(col("started"))
                .then(lit("starters"))
                .otherwise(lit("comparison"))
                .alias(GROUP),
            col(FIRST_COMPLETED).fill_null(lit(false)),
        ])
}

/// Per-person event counts in the pre and post windows, for every person
/// (zero where they had none), with eligibility.
pub fn person_outcomes(
    persons: &LazyFrame,
    events: &LazyFrame,
    window_days: i64,
    coverage: (NaiveDate, NaiveDate),
) -> LazyFrame {
    let w = window_days as i32;
    let (cov_start, cov_end) = (day_number(coverage.0), day_number(coverage.1));
    let idx = days(col(INDEX));
    let p = persons.clone().with_column(
        (idx.clone() - lit(w))
            .gt_eq(lit(cov_start))
            .and((idx + lit(w) - lit(1)).lt_eq(lit(cov_end)))
            .alias(ELIGIBLE),
    );
    let ev = events
        .clone()
        .join(
            p.clone().select([col(PERSON_ID), col(INDEX)]),
            [col(PERSON_ID)],
            [col(PERSON_ID)],
            JoinArgs::new(JoinType::Inner),
        )
        .with_columns([
            (days(col(EVENT_DATE)) - days(col(INDEX))).alias("offset"),
            col(SETTING)
                .eq(lit("apc"))
                .and(col(ADMISSION_TYPE).eq(lit("emergency")))
                .alias("emergency"),
        ]);
    let pre = col("offset").gt_eq(lit(-w)).and(col("offset").lt(lit(0)));
    let post = col("offset").gt_eq(lit(0)).and(col("offset").lt(lit(w)));
    // Bed days = discharge − admission (0 for a same-day stay; 0 where the discharge is unknown).
    let bed_days = (days(col(DISCHARGE_DATE)) - days(col(EVENT_DATE)))
        .clip_min(lit(0))
        .fill_null(lit(0));
    let indicators: Vec<(&str, Expr)> = vec![
        (
            "emergency_admissions",
            col("emergency").cast(DataType::Int32),
        ),
        (
            "ae_attendances",
            col(SETTING).eq(lit("ae")).cast(DataType::Int32),
        ),
        (
            "emergency_bed_days",
            when(col("emergency")).then(bed_days).otherwise(lit(0)),
        ),
        (
            "elective_admissions",
            col(SETTING)
                .eq(lit("apc"))
                .and(col(ADMISSION_TYPE).eq(lit("elective")))
                .cast(DataType::Int32),
        ),
        (
            "outpatient_attendances",
            col(SETTING)
                .eq(lit("op"))
                .and(col(ATTENDANCE_OUTCOME).eq(lit("attended")))
                .cast(DataType::Int32),
        ),
    ];
    let mut aggs = Vec::new();
    for (name, ind) in &indicators {
        let ind = ind.clone().fill_null(lit(0));
        aggs.push(
            ind.clone()
                .filter(pre.clone())
                .sum()
                .cast(DataType::Float64)
                .alias(format!("{name}_pre")),
        );
        aggs.push(
            ind.filter(post.clone())
                .sum()
                .cast(DataType::Float64)
                .alias(format!("{name}_post")),
        );
    }
    let per_person = ev.group_by([col(PERSON_ID)]).agg(aggs);
    let mut fill = Vec::new();
    for (name, _) in &indicators {
        for s in ["pre", "post"] {
            fill.push(col(format!("{name}_{s}")).fill_null(lit(0.0)));
        }
        fill.push(
            (col(format!("{name}_post")).fill_null(lit(0.0))
                - col(format!("{name}_pre")).fill_null(lit(0.0)))
            .alias(format!("{name}_change")),
        );
    }
    p.join(
        per_person,
        [col(PERSON_ID)],
        [col(PERSON_ID)],
        JoinArgs::new(JoinType::Left),
    )
    .with_columns(fill)
}

/// Persons, eligible persons and those with insufficient follow-up, per group.
pub fn follow_up(outcomes: &LazyFrame) -> PolarsResult<DataFrame> {
    let groups = group_frames(outcomes);
    let mut g = Vec::new();
    let mut persons = Vec::new();
    let mut eligible = Vec::new();
    for (name, lf) in groups {
        let df = lf
            .select([
                len().cast(DataType::Int64).alias("persons"),
                col(ELIGIBLE).sum().cast(DataType::Int64).alias("eligible"),
            ])
            .collect()?;
        g.push(name);
        persons.push(df.column("persons")?.i64()?.get(0).unwrap_or(0));
        eligible.push(df.column("eligible")?.i64()?.get(0).unwrap_or(0));
    }
    let insufficient: Vec<i64> = persons.iter().zip(&eligible).map(|(p, e)| p - e).collect();
    df!(GROUP => g, "persons" => persons, "eligible" => eligible, "insufficient_follow_up" => insufficient)
}

/// The three groups: starters, completers (of their first started course), comparison.
fn group_frames(outcomes: &LazyFrame) -> Vec<(&'static str, LazyFrame)> {
    vec![
        (
            "starters",
            outcomes.clone().filter(col(GROUP).eq(lit("starters"))),
        ),
        (
            "completers",
            outcomes
                .clone()
                .filter(col(GROUP).eq(lit("starters")).and(col(FIRST_COMPLETED))),
        ),
        (
            "comparison",
            outcomes.clone().filter(col(GROUP).eq(lit("comparison"))),
        ),
    ]
}

/// n, mean and variance of one outcome's pre, post and change among eligible persons.
pub struct Moments {
    pub n: f64,
    pub mean_pre: f64,
    pub mean_post: f64,
    pub mean_change: f64,
    pub var_change: f64,
}

fn moments(lf: LazyFrame, outcome: &str) -> PolarsResult<Moments> {
    let df = lf
        .filter(col(ELIGIBLE))
        .select([
            len().cast(DataType::Float64).alias("n"),
            col(format!("{outcome}_pre")).mean().alias("pre"),
            col(format!("{outcome}_post")).mean().alias("post"),
            col(format!("{outcome}_change")).mean().alias("change"),
            col(format!("{outcome}_change")).var(1).alias("var"),
        ])
        .collect()?;
    let get = |c: &str| -> PolarsResult<f64> {
        Ok(df
            .column(c)?
            .cast(&DataType::Float64)?
            .f64()?
            .get(0)
            .unwrap_or(f64::NAN))
    };
    Ok(Moments {
        n: get("n")?,
        mean_pre: get("pre")?,
        mean_post: get("post")?,
        mean_change: get("change")?,
        var_change: get("var")?,
    })
}

/// Per group and outcome: n, mean pre, mean post, mean paired change with a
/// Student-t 95% CI, and % change (post vs pre means).
pub fn pre_post(outcomes: &LazyFrame) -> PolarsResult<DataFrame> {
    let mut cols: (Vec<String>, Vec<String>, Vec<i64>) = Default::default();
    let mut nums: [Vec<Option<f64>>; 6] = Default::default();
    for (group, lf) in group_frames(outcomes) {
        for (outcome, _) in OUTCOMES {
            let m = moments(lf.clone(), outcome)?;
            let ci = stats::mean_interval(m.n, m.mean_change, m.var_change.sqrt(), 0.95);
            cols.0.push(group.into());
            cols.1.push((*outcome).into());
            cols.2.push(m.n as i64);
            let ok = |x: f64| (m.n > 0.0 && x.is_finite()).then_some(x);
            nums[0].push(ok(m.mean_pre));
            nums[1].push(ok(m.mean_post));
            nums[2].push(ok(m.mean_change));
            nums[3].push(ci.map(|c| c.low));
            nums[4].push(ci.map(|c| c.high));
            nums[5].push(ok((m.mean_post - m.mean_pre) / m.mean_pre));
        }
    }
    let [pre, post, change, lo, hi, pct] = nums;
    df!(
        GROUP => cols.0, "outcome" => cols.1, "n" => cols.2,
        "mean_pre" => pre, "mean_post" => post, "change" => change,
        "ci_low" => lo, "ci_high" => hi, "pct_change" => pct
    )
}

/// Difference-in-differences per outcome: starters' mean change minus the
/// comparison group's, with a Welch 95% CI.
pub fn did(outcomes: &LazyFrame) -> PolarsResult<DataFrame> {
    let groups = group_frames(outcomes);
    let (starters, comparison) = (&groups[0].1, &groups[2].1);
    let mut names = Vec::new();
    let (mut est, mut lo, mut hi, mut n1, mut n2) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (outcome, _) in OUTCOMES {
        let a = moments(starters.clone(), outcome)?;
        let b = moments(comparison.clone(), outcome)?;
        let i = stats::welch_difference(
            a.n,
            a.mean_change,
            a.var_change,
            b.n,
            b.mean_change,
            b.var_change,
            0.95,
        );
        names.push((*outcome).to_string());
        est.push(i.map(|i| i.estimate));
        lo.push(i.map(|i| i.low));
        hi.push(i.map(|i| i.high));
        n1.push(a.n as i64);
        n2.push(b.n as i64);
    }
    df!("outcome" => names, "estimate" => est, "ci_low" => lo, "ci_high" => hi, "n_starters" => n1, "n_comparison" => n2)
}
