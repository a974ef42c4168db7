//! "Compared with whom?": the matched comparison group (see `matching`), the
//! DiD with the comparison group's index aligned to the starters' wait, the
//! pre-trend (placebo) check and the sensitivity of the primary outcome's DiD
//! to each choice. Every estimate is an individual-level statistic: exact,
//! published to 2 decimals only while each group has at least 10 people.

use chrono::NaiveDate;
use polars::prelude::*;

use super::hospital::{
    self, BASE_ELIGIBLE, ELIGIBLE, FIRST_COMPLETED, GROUP, INDEX, INDEX_PROVIDER, OUTCOMES,
    WAIT_DAYS,
};
use super::matching::{self, did_between, Did};
use super::table::{formulas, Table};
use crate::pipeline::Pipeline;

/// The primary outcome (the headline uses its matched DiD).
pub const PRIMARY: &str = "emergency_admissions";

/// A table of DiD rows: label, n of each group, exact estimate and half-width.
fn did_table(name: &str, title: &str, rows: Vec<(String, Option<Did>)>) -> anyhow::Result<Table> {
    let df = df!(
        "outcome" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "n_starters" => rows.iter().map(|r| r.1.map(|x| x.2.round() as i64)).collect::<Vec<_>>(),
        "n_comparison" => rows.iter().map(|r| r.1.map(|x| x.3.round() as i64)).collect::<Vec<_>>(),
        "estimate_x" => rows.iter().map(|r| r.1.map(|x| x.0)).collect::<Vec<_>>(),
        "half" => rows.iter().map(|r| r.1.and_then(|x| x.1)).collect::<Vec<_>>(),
    )?;
    let n = ["n_starters", "n_comparison"];
    Ok(Table::new(name, title, df)
        .labels(&["outcome"])
        .counts(&n)
        .hidden(&["estimate_x", "half"])
        .statistic("estimate", &["estimate_x"], formulas::identity, &n, 2)
        .statistic("ci_low", &["estimate", "half"], formulas::minus, &n, 2)
        .statistic("ci_high", &["estimate", "half"], formulas::plus, &n, 2))
}

fn strata(p: &Pipeline) -> Vec<String> {
    match &p.matching.strata {
        Some(s) => s.iter().map(|c| format!("cov_{c}")).collect(),
        None => matching::DEFAULT_STRATA
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

/// Everything of the fair comparison, as tables, plus notes for the pack.
/// `outcomes`: every person's hospital use in the pipeline's window (from
/// `hospital::person_outcomes`), computed once by the caller.
pub fn tables(
    p: &Pipeline,
    persons: &LazyFrame,
    events: &LazyFrame,
    outcomes: &DataFrame,
    coverage: (NaiveDate, NaiveDate),
    published: bool,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<Table>> {
    let w = p.settings.outcome_window_days;
    let eligible = outcomes.clone().lazy().filter(col(ELIGIBLE));
    let share_base = eligible
        .clone()
        .select([col(BASE_ELIGIBLE).cast(DataType::Float64).mean().alias("x")])
        .collect()?
        .column("x")?
        .f64()?
        .get(0)
        .unwrap_or(0.0);
    // Prior use from the baseline year where the extract covers most people.
    let from_baseline = share_base >= 0.8;
    if !from_baseline {
        notes.push(format!(
            "The hospital extract reaches back a full baseline year (two years before the index date) for only {:.0}% of people: matching uses hospital use in the year before the index date instead, which can make the groups regress to different means afterwards.",
            share_base * 100.0
        ));
    }
    let with_prior = matching::with_prior_use(outcomes.clone().lazy(), from_baseline);
    let n_comparison = eligible
        .clone()
        .filter(col(GROUP).eq(lit("comparison")))
        .select([len().alias("n")])
        .collect()?
        .column("n")?
        .cast(&DataType::Int64)?
        .i64()?
        .get(0)
        .unwrap_or(0) as usize;
    let run = p
        .matching
        .enabled
        .unwrap_or(n_comparison >= matching::MIN_COMPARISON);
    let mut out = Vec::new();
    let is_s = col(GROUP).eq(lit("starters"));
    let is_c = col(GROUP).eq(lit("comparison"));
    let change = |o: &str| format!("{o}_change");
    let strata = strata(p);
    let mut matched_primary = None;
    if run && n_comparison > 0 {
        let weighted = matching::cem(with_prior.clone(), &strata)?;
        let mut rows = Vec::new();
        for (o, _) in OUTCOMES {
            let d = matching::weighted_did(&weighted, &change(o))?;
            if *o == PRIMARY {
                matched_primary = d;
            }
            rows.push((o.to_string(), d));
        }
        out.push(did_table(
            "did_matched",
            "Difference-in-differences against the matched comparison group",
            rows,
        )?);
        let counts = weighted
            .clone()
            .lazy()
            .select([
                is_s.clone()
                    .and(col("matched"))
                    .sum()
                    .cast(DataType::Int64)
                    .alias("n_starters_matched"),
                is_s.clone()
                    .and(col("matched").not())
                    .sum()
                    .cast(DataType::Int64)
                    .alias("n_starters_unmatched"),
                is_c.clone()
                    .and(col("matched"))
                    .sum()
                    .cast(DataType::Int64)
                    .alias("n_comparison_matched"),
                is_c.clone()
                    .and(col("matched").not())
                    .sum()
                    .cast(DataType::Int64)
                    .alias("n_comparison_unmatched"),
            ])
            .collect()?
            .lazy()
            .with_columns([
                lit("coarsened exact matching").alias("method"),
                lit(strata
                    .iter()
                    .map(|s| s.trim_start_matches("cov_").replace('_', " "))
                    .collect::<Vec<_>>()
                    .join(", "))
                .alias("strata"),
                lit(if from_baseline {
                    "the baseline year before the pre window"
                } else {
                    "the pre window"
                })
                .alias("prior_use_from"),
            ])
            .collect()?;
        out.push(
            Table::new("matching", "Matching: who was matched", counts)
                .labels(&["method", "strata", "prior_use_from"])
                .counts(&[
                    "n_starters_matched",
                    "n_starters_unmatched",
                    "n_comparison_matched",
                    "n_comparison_unmatched",
                ]),
        );
        out.push(matching::balance_table(
            matching::balance(&weighted)?,
            published,
        ));
    } else {
        notes.push(format!(
            "Matching did not run: the comparison group has {} eligible people (it needs {}).",
            crate::disclosure::count_in_words(n_comparison as i64, published),
            matching::MIN_COMPARISON
        ));
    }

    // Index alignment: the comparison group's pseudo-index is the referral
    // date plus the median wait of starters at the same provider (the
    // overall median where a provider has none).
    let waits = persons
        .clone()
        .filter(col("started"))
        .group_by([col(INDEX_PROVIDER)])
        .agg([col(WAIT_DAYS).median().alias("_median_wait")]);
    let overall = persons
        .clone()
        .filter(col("started"))
        .select([col(WAIT_DAYS).median().alias("_overall_wait")])
        .collect()?
        .column("_overall_wait")?
        .cast(&DataType::Float64)?
        .f64()?
        .get(0)
        .unwrap_or(0.0);
    let aligned = persons
        .clone()
        .join(
            waits,
            [col(INDEX_PROVIDER)],
            [col(INDEX_PROVIDER)],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(
            when(col("started"))
                .then(col(INDEX))
                .otherwise(
                    (col("first_referral").cast(DataType::Int32)
                        + col("_median_wait")
                            .fill_null(lit(overall))
                            .round(0, RoundMode::HalfToEven)
                            .cast(DataType::Int32))
                    .cast(DataType::Date),
                )
                .alias(INDEX),
        );
    // Collected once: each DiD below reads it twice.
    let aligned_outcomes = hospital::person_outcomes(&aligned, events, w, coverage)
        .filter(col(ELIGIBLE))
        .collect()?
        .lazy();
    let mut rows = Vec::new();
    let mut aligned_primary = None;
    for (o, _) in OUTCOMES {
        let d = did_between(
            &aligned_outcomes,
            is_s.clone(),
            is_c.clone(),
            &change(o),
            lit(1.0),
        )?;
        if *o == PRIMARY {
            aligned_primary = d;
        }
        rows.push((o.to_string(), d));
    }
    out.push(did_table(
        "did_aligned_index",
        &format!(
            "Difference-in-differences with the comparison group's index at referral + the starters' median wait (overall {overall:.0} days)"
        ),
        rows,
    )?);

    // Pre-trend (placebo): the same DiD on the baseline year vs the pre window.
    let placebo = outcomes
        .clone()
        .lazy()
        .filter(col(ELIGIBLE).and(col(BASE_ELIGIBLE)));
    let mut rows = Vec::new();
    let mut flagged = Vec::new();
    for (o, label) in OUTCOMES {
        let lf = placebo
            .clone()
            .with_column((col(format!("{o}_pre")) - col(format!("{o}_base"))).alias("_placebo"));
        let d = did_between(&lf, is_s.clone(), is_c.clone(), "_placebo", lit(1.0))?;
        if let Some((e, Some(h), na, nb)) = d {
            if na >= 10.0 && nb >= 10.0 && (e - h > 0.0 || e + h < 0.0) {
                flagged.push(label.to_lowercase());
            }
        }
        rows.push((o.to_string(), d));
    }
    if !flagged.is_empty() {
        notes.push(format!(
            "Warning: before anyone started, starters' and the comparison group's {} were already changing differently (the placebo difference-in-differences excludes zero): the groups were not on parallel paths, and the difference-in-differences may be biased.",
            flagged.join(", ")
        ));
    }
    out.push(did_table(
        "placebo_did",
        "Pre-trend check: the difference-in-differences from the baseline year to the year before the index date",
        rows,
    )?);

    // Sensitivity of the primary outcome's DiD.
    let primary = change(PRIMARY);
    let elig_lf = outcomes.clone().lazy().filter(col(ELIGIBLE));
    let main = did_between(&elig_lf, is_s.clone(), is_c.clone(), &primary, lit(1.0))?;
    let per_protocol = did_between(
        &elig_lf,
        is_s.clone().and(col(FIRST_COMPLETED)),
        is_c.clone(),
        &primary,
        lit(1.0),
    )?;
    let half_year = hospital::person_outcomes(persons, events, w / 2, coverage)
        .filter(col(ELIGIBLE))
        .collect()?
        .lazy();
    let six = did_between(&half_year, is_s.clone(), is_c.clone(), &primary, lit(1.0))?;
    let matched_on_pre = if run && n_comparison > 0 {
        let wtd = matching::cem(
            matching::with_prior_use(outcomes.clone().lazy(), false),
            &strata,
        )?;
        matching::weighted_did(&wtd, &primary)?
    } else {
        None
    };
    let rows = vec![
        (
            "Main: 12-month windows, all starters, unmatched, index at referral".to_string(),
            main,
        ),
        (
            "Matched (prior use from the baseline year where covered)".into(),
            matched_primary,
        ),
        (
            "Matched on prior use in the pre window".into(),
            matched_on_pre,
        ),
        (
            "Comparison index aligned to the starters' wait".into(),
            aligned_primary,
        ),
        ("Per protocol: completers only".into(), per_protocol),
        (format!("{}-day windows", w / 2), six),
    ];
    let verdicts: Vec<bool> = rows
        .iter()
        .filter_map(|(_, d)| d.and_then(|(e, h, _, _)| h.map(|h| e + h < 0.0)))
        .collect();
    if !verdicts.is_empty() {
        let falls = verdicts.iter().filter(|x| **x).count();
        notes.push(if falls == verdicts.len() {
            "Sensitivity: every analysis of emergency admissions finds a clear fall; the conclusion holds.".to_string()
        } else if falls == 0 {
            "Sensitivity: no analysis of emergency admissions finds a clear fall; the conclusion (no clear difference) holds.".to_string()
        } else {
            format!(
                "Sensitivity: {falls} of {} analyses of emergency admissions find a clear fall; the conclusion depends on the choices made.",
                verdicts.len()
            )
        });
    }
    let mut t = did_table(
        "sensitivity",
        "Sensitivity of the emergency admissions difference-in-differences",
        rows,
    )?;
    t.df.rename("outcome", "analysis".into())?;
    for k in t.kinds.iter_mut() {
        if k.0 == "outcome" {
            k.0 = "analysis".into();
        }
    }
    out.push(t);
    Ok(out)
}
