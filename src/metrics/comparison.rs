//! "Compared with whom?": the matched comparison group (see `matching`), the
//! DiD with the comparison group's index aligned to the starters' wait, the
//! pre-trend (placebo) check and the sensitivity of the primary outcome's DiD
//! to each choice. Every estimate is an individual-level statistic: exact,
//! published to 2 decimals only while each group has at least 10 people.

use chrono::NaiveDate;
use polars::prelude::*;

use super::hospital::{
    self, BASE_ELIGIBLE, ELIGIBLE, FIRST_COMPLETED, GROUP, INDEX, INDEX_PROVIDER, OUTCOMES,
    OUTCOME_KEYS, WAIT_DAYS,
};
use super::matching::{self, did_between, Did};
use super::referrals::{count_where, rows_in};
use super::table::{formulas, Table};
use crate::error::MetricsResult;
use crate::pipeline::Pipeline;

/// The primary outcome (the headline uses its matched DiD).
pub const PRIMARY: &str = "emergency_admissions";

/// DiD rows: a label and the DiD (None where it cannot be estimated).
type Rows = Vec<(String, Option<Did>)>;

/// A table of DiD rows: label, n of each group, exact estimate and half-width.
fn did_table(name: &str, title: &str, rows: Rows) -> MetricsResult<Table> {
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
        .interval(["ci_low", "ci_high"], "estimate", "half", &n))
}

/// Each outcome's DiD as a row, and the primary outcome's DiD.
fn outcome_rows(
    mut did: impl FnMut(&str) -> PolarsResult<Option<Did>>,
) -> PolarsResult<(Rows, Option<Did>)> {
    let mut rows = Vec::new();
    for (o, _) in OUTCOMES {
        rows.push((o.to_string(), did(o)?));
    }
    let primary = rows.iter().find(|r| r.0 == PRIMARY).and_then(|r| r.1);
    Ok((rows, primary))
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

fn is_starter() -> Expr {
    col(GROUP).eq(lit("starters"))
}

fn is_comparison() -> Expr {
    col(GROUP).eq(lit("comparison"))
}

fn change(outcome: &str) -> String {
    format!("{outcome}_change")
}

/// The unweighted DiD of column `x` between starters (those `starters`
/// selects) and the comparison group among the rows of `lf`.
fn plain_did(lf: &LazyFrame, starters: Expr, x: &str) -> PolarsResult<Option<Did>> {
    did_between(lf, starters, is_comparison(), x, lit(1.0))
}

/// Everything of the fair comparison, as tables, plus notes for the pack:
/// the matched DiD (when the comparison group is large enough), the DiD with
/// the comparison group's index aligned to the starters' wait, the pre-trend
/// check, and the sensitivity of the primary outcome's DiD to each choice.
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
) -> MetricsResult<Vec<Table>> {
    let w = p.settings.outcome_window_days;
    let from_baseline = prior_use_from_baseline(outcomes, published, notes)?;
    let eligible = outcomes.clone().lazy().filter(col(ELIGIBLE));
    let n_comparison = rows_in(eligible.clone().filter(is_comparison()))?;
    // Decided on the controlled count, in both packs: a published pack says
    // the count, and a rule on the exact one would show which side of 30 a
    // shown 30 is.
    let shown = crate::disclosure::publish_count(n_comparison as i64).unwrap_or(0);
    let run = p
        .matching
        .enabled
        .unwrap_or(shown >= matching::MIN_COMPARISON as i64);
    let strata = strata(p);
    let run = run && n_comparison > 0;
    let (mut out, matched_primary) = match run {
        true => matched_tables(outcomes, &strata, from_baseline, published)?,
        false => {
            notes.push(format!(
                "Matching did not run: the comparison group has {} eligible people (it needs {}).",
                crate::disclosure::count_in_words(n_comparison as i64, published),
                matching::MIN_COMPARISON
            ));
            (Vec::new(), None)
        }
    };
    let (aligned, aligned_primary) = aligned_table(persons, events, outcomes, w, coverage)?;
    out.push(aligned);
    out.push(placebo_table(outcomes, notes)?);
    let matched_on_pre = match run {
        true => {
            let prior = matching::with_prior_use(everyone(outcomes), false);
            let prior = matching::pool_small_levels(prior, &strata)?;
            matching::weighted_did(&matching::cem(prior, &strata)?, &change(PRIMARY))?
        }
        false => None,
    };
    let rows = vec![
        (
            MAIN_ANALYSIS.to_string(),
            plain_did(&eligible, is_starter(), &change(PRIMARY))?,
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
        (
            "Per protocol: completers only".into(),
            plain_did(
                &eligible,
                is_starter().and(col(FIRST_COMPLETED)),
                &change(PRIMARY),
            )?,
        ),
        (
            format!("{}-day windows", w / 2),
            half_window_did(persons, events, w, coverage)?,
        ),
    ];
    out.push(sensitivity_table(rows, notes)?);
    Ok(out)
}

/// Coarsened exact matching on the strata and prior use: the matched DiD of
/// every outcome, who was matched, and the balance before and after.
/// Returns the tables and the primary outcome's matched DiD.
fn matched_tables(
    outcomes: &DataFrame,
    strata: &[String],
    from_baseline: bool,
    published: bool,
) -> MetricsResult<(Vec<Table>, Option<Did>)> {
    let prior = matching::with_prior_use(everyone(outcomes), from_baseline);
    let weighted = matching::cem(matching::pool_small_levels(prior, strata)?, strata)?;
    let (rows, primary) = outcome_rows(|o| matching::weighted_did(&weighted, &change(o)))?;
    let tables = vec![
        did_table(
            "did_matched",
            "Difference-in-differences against the matched comparison group",
            rows,
        )?,
        matching_table(&weighted, strata, from_baseline)?,
        matching::balance_table(matching::balance(&weighted)?, published),
    ];
    Ok((tables, primary))
}

/// Every person's outcomes, eligible or not (matching keeps the eligible itself).
fn everyone(outcomes: &DataFrame) -> LazyFrame {
    outcomes.clone().lazy()
}

/// Whether matching takes prior use from the baseline year: only where the
/// extract reaches back a full baseline year for at least 80% of the
/// eligible people (otherwise from the pre window, with a note). The note's
/// share is, in a published pack, of the controlled counts (the exact share
/// to 1% gave back the exact count of a group of under 100).
fn prior_use_from_baseline(
    outcomes: &DataFrame,
    published: bool,
    notes: &mut Vec<String>,
) -> MetricsResult<bool> {
    let counts = outcomes
        .clone()
        .lazy()
        .filter(col(ELIGIBLE))
        .select([
            len().cast(DataType::Int64).alias("eligible"),
            col(BASE_ELIGIBLE).sum().cast(DataType::Int64).alias("base"),
        ])
        .collect()?;
    let count =
        |c: &str| -> MetricsResult<i64> { Ok(counts.column(c)?.i64()?.get(0).unwrap_or(0)) };
    let (eligible, base) = (count("eligible")?, count("base")?);
    let share = |b: i64, e: i64| (e > 0).then(|| b as f64 / e as f64);
    let from_baseline = share(base, eligible).unwrap_or(0.0) >= 0.8;
    if !from_baseline {
        let shown = match published {
            true => crate::disclosure::published_share(base, eligible),
            false => share(base, eligible),
        };
        // Shown as 80% or more from the controlled counts, it would read as
        // enough: said as under the limit.
        let how_many = match shown.map(|s| (s * 100.0).round()) {
            Some(pct) if pct < 80.0 => format!("only {pct:.0}%"),
            _ => "fewer than 80%".into(),
        };
        notes.push(format!(
            "The hospital extract reaches back a full baseline year (two years before the index date) for {how_many} of people: matching uses hospital use in the year before the index date instead, which can make the groups regress to different means afterwards."
        ));
    }
    Ok(from_baseline)
}

/// Who was matched: starters and comparison people matched and unmatched,
/// the method, the strata and where prior use came from.
fn matching_table(
    weighted: &DataFrame,
    strata: &[String],
    from_baseline: bool,
) -> MetricsResult<Table> {
    let columns = [
        ("n_starters_matched", is_starter(), true),
        ("n_starters_unmatched", is_starter(), false),
        ("n_comparison_matched", is_comparison(), true),
        ("n_comparison_unmatched", is_comparison(), false),
    ];
    let counts = columns.iter().map(|(name, group, matched)| {
        let m = if *matched {
            col("matched")
        } else {
            col("matched").not()
        };
        count_where(group.clone().and(m), name)
    });
    let strata = strata
        .iter()
        .map(|s| s.trim_start_matches("cov_").replace('_', " "))
        .collect::<Vec<_>>()
        .join(", ");
    let prior = match from_baseline {
        true => "the baseline year before the pre window",
        false => "the pre window",
    };
    let df = weighted
        .clone()
        .lazy()
        .select(counts.collect::<Vec<_>>())
        .collect()?
        .lazy()
        .with_columns([
            lit("coarsened exact matching").alias("method"),
            lit(strata).alias("strata"),
            lit(prior).alias("prior_use_from"),
        ])
        .collect()?;
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    Ok(Table::new("matching", "Matching: who was matched", df)
        .labels(&["method", "strata", "prior_use_from"])
        .counts(&names))
}

/// Index alignment: the comparison group's pseudo-index is the referral
/// date plus the median wait of starters at the same provider (the overall
/// median where a provider has none). Returns the table and the primary
/// outcome's DiD.
fn aligned_table(
    persons: &LazyFrame,
    events: &LazyFrame,
    outcomes: &DataFrame,
    w: i64,
    coverage: (NaiveDate, NaiveDate),
) -> MetricsResult<(Table, Option<Did>)> {
    let started = persons.clone().filter(col("started"));
    let waits = started
        .clone()
        .group_by([col(INDEX_PROVIDER)])
        .agg([col(WAIT_DAYS).median().alias("_median_wait")]);
    let overall = started
        .select([col(WAIT_DAYS).median().alias("_overall_wait")])
        .collect()?
        .column("_overall_wait")?
        .cast(&DataType::Float64)?
        .f64()?
        .get(0)
        .unwrap_or(0.0);
    let pseudo_index = (col("first_referral").cast(DataType::Int32)
        + col("_median_wait")
            .fill_null(lit(overall))
            .round(0, RoundMode::HalfToEven)
            .cast(DataType::Int32))
    .cast(DataType::Date);
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
                .otherwise(pseudo_index)
                .alias(INDEX),
        );
    // Only the comparison group's index moves: the starters' outcomes are
    // the main analysis's (`outcomes`), each group's rows in persons' order.
    // Collected once: each DiD below reads it twice.
    let comparison = aligned.filter(col("started").not());
    let moved = eligible_outcomes(&comparison, events, w, coverage, &OUTCOME_KEYS)?;
    let mut kept = vec![col(GROUP)];
    kept.extend(OUTCOME_KEYS.iter().map(|o| col(change(o))));
    let starters = outcomes
        .clone()
        .lazy()
        .filter(col(ELIGIBLE).and(is_starter()))
        .select(kept.clone());
    let aligned_outcomes = concat([starters, moved.select(kept)], UnionArgs::default())?
        .collect()?
        .lazy();
    let (rows, primary) = outcome_rows(|o| plain_did(&aligned_outcomes, is_starter(), &change(o)))?;
    let table = did_table(
        "did_aligned_index",
        &format!(
            "Difference-in-differences with the comparison group's index at referral + the starters' median wait (overall {overall:.0} days)"
        ),
        rows,
    )?;
    Ok((table, primary))
}

/// The eligible persons' outcomes in the pre and post windows of `w` days
/// (of `outcomes` only), collected.
fn eligible_outcomes(
    persons: &LazyFrame,
    events: &LazyFrame,
    w: i64,
    coverage: (NaiveDate, NaiveDate),
    outcomes: &[&str],
) -> PolarsResult<LazyFrame> {
    let counted = hospital::Counted {
        outcomes,
        baseline: false,
    };
    Ok(
        hospital::person_outcomes_of(persons, events, w, coverage, &counted)?
            .filter(col(ELIGIBLE))
            .collect()?
            .lazy(),
    )
}

/// The primary outcome's DiD in windows of half the pipeline's length.
fn half_window_did(
    persons: &LazyFrame,
    events: &LazyFrame,
    w: i64,
    coverage: (NaiveDate, NaiveDate),
) -> PolarsResult<Option<Did>> {
    let half_year = eligible_outcomes(persons, events, w / 2, coverage, &[PRIMARY])?;
    plain_did(&half_year, is_starter(), &change(PRIMARY))
}

/// Pre-trend (placebo): the same DiD from the baseline year to the pre
/// window, among people eligible for both. An outcome whose interval
/// excludes zero (both groups ≥ 10) gets a warning note.
fn placebo_table(outcomes: &DataFrame, notes: &mut Vec<String>) -> MetricsResult<Table> {
    let placebo = outcomes
        .clone()
        .lazy()
        .filter(col(ELIGIBLE).and(col(BASE_ELIGIBLE)));
    let (rows, _) = outcome_rows(|o| {
        let lf = placebo
            .clone()
            .with_column((col(format!("{o}_pre")) - col(format!("{o}_base"))).alias("_placebo"));
        plain_did(&lf, is_starter(), "_placebo")
    })?;
    let flagged: Vec<String> = OUTCOMES
        .iter()
        .zip(&rows)
        .filter(|(_, (_, d))| {
            matches!(d, Some((e, Some(h), na, nb))
                if *na >= 10.0 && *nb >= 10.0 && (e - h > 0.0 || e + h < 0.0))
        })
        .map(|((_, label), _)| label.to_lowercase())
        .collect();
    if !flagged.is_empty() {
        notes.push(format!(
            "{}before anyone started, starters' and the comparison group's {} were already changing differently (the placebo difference-in-differences excludes zero): the groups were not on parallel paths, and the difference-in-differences may be biased.",
            super::WARNING,
            flagged.join(", ")
        ));
    }
    did_table(
        "placebo_did",
        "Pre-trend check: the difference-in-differences from the baseline year to the year before the index date",
        rows,
    )
}

/// The sensitivity of the primary outcome's DiD to each choice, with a note
/// saying whether every analysis, none or only some find a clear fall.
fn sensitivity_table(rows: Rows, notes: &mut Vec<String>) -> MetricsResult<Table> {
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
    Ok(t)
}

/// The sensitivity table's first analysis: the main DiD, as the `did` table's.
const MAIN_ANALYSIS: &str = "Main: 12-month windows, all starters, unmatched, index at referral";

/// A published pack's sensitivity table starts from the main analysis as
/// the `did` table publishes it (from the controlled totals), not from the
/// exact one: the two would otherwise differ in the same pack, and together
/// narrow the exact totals. `all`: the finalized tables.
pub fn main_row_as_published(all: &mut [Table]) -> PolarsResult<()> {
    let Some(main) = all
        .iter()
        .find(|t| t.name == "sensitivity")
        .and_then(|t| t.find("analysis", MAIN_ANALYSIS))
    else {
        return Ok(());
    };
    let Some(did) = all.iter().find(|t| t.name == "did") else {
        return Ok(());
    };
    let Some(row) = did.find("outcome", PRIMARY) else {
        return Ok(());
    };
    let cells: Vec<(&str, Option<f64>)> = ["estimate", "ci_low", "ci_high"]
        .into_iter()
        .map(|c| (c, did.f64(row, c)))
        .collect();
    let Some(t) = all.iter_mut().find(|t| t.name == "sensitivity") else {
        return Ok(());
    };
    for (c, v) in cells {
        let mut values: Vec<Option<f64>> =
            t.df.column(c)?
                .cast(&DataType::Float64)?
                .f64()?
                .iter()
                .collect();
        values[main] = v;
        t.df.with_column(Column::new(c.into(), values))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DiD row: (estimate, half-width, n starters, n comparison).
    fn row(label: &str, e: f64, h: f64) -> (String, Option<Did>) {
        (label.to_string(), Some((e, Some(h), 20.0, 15.4)))
    }

    #[test]
    fn the_published_main_analysis_is_the_did_tables() {
        let did = Table::new(
            "did",
            "d",
            df!("outcome" => ["ae_attendances", PRIMARY], "estimate" => [0.5, -0.12],
                "ci_low" => [0.1, -0.34], "ci_high" => [0.9, 0.1])
            .unwrap(),
        );
        let sens = Table::new(
            "sensitivity",
            "s",
            df!("analysis" => [MAIN_ANALYSIS, "Matched"], "estimate" => [-0.11, -0.26],
                "ci_low" => [-0.33, -0.56], "ci_high" => [0.11, 0.05])
            .unwrap(),
        );
        let mut all = vec![did, sens];
        main_row_as_published(&mut all).unwrap();
        let s = &all[1];
        assert_eq!(
            ["estimate", "ci_low", "ci_high"].map(|c| s.f64(0, c)),
            [Some(-0.12), Some(-0.34), Some(0.1)]
        );
        assert_eq!(s.f64(1, "estimate"), Some(-0.26), "other rows kept");
    }

    #[test]
    fn a_did_table_rounds_the_group_sizes_and_derives_the_interval() {
        let t = did_table("t", "T", vec![row("a", -0.5, 0.2), ("b".into(), None)]).unwrap();
        assert_eq!(t.f64(0, "n_comparison"), Some(15.0));
        assert_eq!(t.f64(0, "estimate_x"), Some(-0.5));
        assert_eq!(t.f64(1, "n_starters"), None);
        let mut t = t;
        crate::disclosure::finalize(&mut t, false).unwrap();
        let (lo, hi) = (t.f64(0, "ci_low").unwrap(), t.f64(0, "ci_high").unwrap());
        assert!(
            (lo + 0.7).abs() < 1e-12 && (hi + 0.3).abs() < 1e-12,
            "{lo} {hi}"
        );
    }

    #[test]
    fn sensitivity_says_whether_every_analysis_finds_a_fall() {
        let mut notes = Vec::new();
        let all = vec![row("a", -0.5, 0.2), row("b", -0.4, 0.3)];
        let t = sensitivity_table(all, &mut notes).unwrap();
        assert!(
            notes[0].starts_with("Sensitivity: every analysis"),
            "{notes:?}"
        );
        // The label column is called `analysis` here.
        assert_eq!(t.text(1, "analysis"), "b");
        assert!(t.kinds.iter().any(|k| k.0 == "analysis"));
        let some = vec![row("a", -0.5, 0.2), row("b", -0.1, 0.3), ("c".into(), None)];
        sensitivity_table(some, &mut notes).unwrap();
        assert!(
            notes[1].starts_with("Sensitivity: 1 of 2 analyses"),
            "{notes:?}"
        );
        let none = vec![row("a", 0.5, 0.2)];
        sensitivity_table(none, &mut notes).unwrap();
        assert!(
            notes[2].starts_with("Sensitivity: no analysis"),
            "{notes:?}"
        );
    }

    #[test]
    fn prior_use_comes_from_the_baseline_year_only_where_80_percent_have_one() {
        let frame = |base: &[bool]| {
            df!(
                ELIGIBLE => vec![true; base.len()].into_iter().chain([false]).collect::<Vec<_>>(),
                BASE_ELIGIBLE => base.iter().copied().chain([false]).collect::<Vec<_>>(),
            )
            .unwrap()
        };
        let mut notes = Vec::new();
        // 4 of 5 eligible people have a baseline year (the ineligible one does not count).
        let df = frame(&[true, true, true, true, false]);
        assert!(prior_use_from_baseline(&df, false, &mut notes).unwrap());
        assert!(notes.is_empty());
        let df = frame(&[true, true, true, false]);
        assert!(!prior_use_from_baseline(&df, false, &mut notes).unwrap());
        assert!(notes[0].contains("for only 75% of people"), "{notes:?}");
        // Published: of the controlled counts (3 of 4 are [c]: no share).
        assert!(!prior_use_from_baseline(&df, true, &mut notes).unwrap());
        assert!(
            notes[1].contains("for fewer than 80% of people"),
            "{notes:?}"
        );
        // 61 of 88 (69.3%) is shown as 60 of 90 (67%), not 69%.
        let df = frame(&[[true; 61].as_slice(), &[false; 27]].concat());
        assert!(!prior_use_from_baseline(&df, true, &mut notes).unwrap());
        assert!(notes[2].contains("for only 67% of people"), "{notes:?}");
        assert!(!prior_use_from_baseline(&df, false, &mut notes).unwrap());
        assert!(notes[3].contains("for only 69% of people"), "{notes:?}");
    }
}
