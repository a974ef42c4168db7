//! Year on year: completion and cost per completer by financial year, with
//! the change in completion on the year before (Newcombe's hybrid score
//! interval for a difference of two proportions, built from the two Wilson
//! intervals), and the months with no course start. Completion leaves out
//! the starters on courses still in progress; the cost per completer divides
//! the year's cost (to the penny) by all its completers, shown beside it. Computed from the
//! finalized tables, so in a published pack from the rounded counts.

use chrono::NaiveDate;
use polars::prelude::*;

use super::cost::{is_unit_based, line_cost, period_years, Volumes};
use super::table::Table;
use crate::pipeline::{CostBasis, Pipeline};
use crate::stats;

/// Newcombe (1998) method 10: p2 − p1 with a 95% interval from the Wilson
/// intervals of each proportion.
pub fn newcombe_difference(x1: f64, n1: f64, x2: f64, n2: f64) -> Option<stats::Interval> {
    let a = stats::wilson(x1, n1, 0.95)?;
    let b = stats::wilson(x2, n2, 0.95)?;
    let d = b.estimate - a.estimate;
    Some(stats::Interval {
        estimate: d,
        low: d - ((b.estimate - b.low).powi(2) + (a.high - a.estimate).powi(2)).sqrt(),
        high: d + ((b.high - b.estimate).powi(2) + (a.estimate - a.low).powi(2)).sqrt(),
    })
}

/// The financial year "2023/24" as dates, from its start month.
fn fy_dates(label: &str, start_month: u32) -> Option<(NaiveDate, NaiveDate)> {
    let y: i32 = label.get(..4)?.parse().ok()?;
    let a = NaiveDate::from_ymd_opt(y, start_month, 1)?;
    let b = NaiveDate::from_ymd_opt(y + 1, start_month, 1)?.pred_opt()?;
    Some((a, b))
}

/// Completion, change on the year before and cost per completer by financial year.
pub fn table(
    p: &Pipeline,
    tables: &[Table],
    period: (NaiveDate, NaiveDate),
) -> crate::error::MetricsResult<Vec<Table>> {
    let find = |n: &str| tables.iter().find(|t| t.name == n);
    let (Some(comp), Some(act)) = (
        find("completion_by_financial_year"),
        find("activity_by_financial_year"),
    ) else {
        return Ok(vec![]);
    };
    let mut years = Vec::new();
    let mut cols: [Vec<Option<f64>>; 9] = Default::default();
    let pennies = |x: f64| (x * 100.0).round() / 100.0;
    let mut prev: Option<(f64, f64)> = None;
    for i in 0..comp.height() {
        let fy = comp.text(i, "financial_year");
        let (s, c) = (comp.f64(i, "starters"), comp.f64(i, "completers"));
        let change = match (prev, s, c) {
            (Some((pc, ps)), Some(s), Some(c)) => newcombe_difference(pc, ps, c, s),
            _ => None,
        };
        prev = s.zip(c).map(|(s, c)| (c, s));
        let (cost, act_completers) = year_cost(p, act, &fy, period);
        years.push(fy);
        for (k, v) in [
            s,
            c,
            comp.f64(i, "rate"),
            change.map(|x| x.estimate),
            change.map(|x| x.low),
            change.map(|x| x.high),
            cost.map(pennies),
            act_completers,
            cost.zip(act_completers)
                .and_then(|(x, n)| (n > 0.0).then(|| pennies(x / n))),
        ]
        .into_iter()
        .enumerate()
        {
            cols[k].push(v);
        }
    }
    let [s, c, rate, d, dl, dh, cost, all, per] = cols;
    let df = df!(
        "financial_year" => years, "starters" => s, "completers" => c, "rate" => rate,
        "change_on_last_year" => d, "change_ci_low" => dl, "change_ci_high" => dh,
        "cost" => cost, "all_completers" => all, "cost_per_completer" => per,
    )?;
    let mut t = Table::new(
        "year_on_year",
        "Year on year: completion and cost per completer by financial year",
        df,
    )
    .labels(&["financial_year"])
    .exact(&[
        "starters",
        "completers",
        "rate",
        "change_on_last_year",
        "change_ci_low",
        "change_ci_high",
        "all_completers",
    ])
    .money(&["cost", "cost_per_completer"]);
    t.counts = vec!["starters".into(), "completers".into()];
    for i in 0..t.height() {
        for c in ["starters", "completers"] {
            if comp.is_suppressed(i, c) {
                t.suppressed.insert((i, c.into()));
            }
        }
        let j = act.find("financial_year", &t.text(i, "financial_year"));
        if j.is_some_and(|j| act.is_suppressed(j, "completers")) {
            t.suppressed.insert((i, "all_completers".into()));
        }
    }
    Ok(vec![t])
}

/// The first cost line priced at one provider's own units, if any.
fn one_providers_unit_line(p: &Pipeline) -> Option<&crate::pipeline::CostLine> {
    p.cost_lines
        .iter()
        .find(|l| l.provider.is_some() && is_unit_based(l.basis))
}

/// Why year on year shows no cost, where it shows none for every year.
pub fn cost_note(p: &Pipeline) -> Option<String> {
    let line = one_providers_unit_line(p)?;
    Some(format!(
        "Year on year shows no cost: the cost line \"{}\" is priced at provider {}'s own units, which no table gives by year.",
        line.item,
        line.provider.as_deref().unwrap_or_default()
    ))
}

/// A financial year's cost and completers: time-based lines for the part of
/// the year in the period, unit-based lines for the year's own units. A
/// unit-based line of one provider is priced at that provider's units,
/// which no table gives by year: with one, the year's cost is not known
/// (it is not priced at every provider's units, which overstated it).
fn year_cost(
    p: &Pipeline,
    act: &Table,
    fy: &str,
    period: (NaiveDate, NaiveDate),
) -> (Option<f64>, Option<f64>) {
    // The year's cost: time-based lines for the part of the year in the
    // period, unit-based lines for the year's own units.
    let j = act.find("financial_year", fy);
    let vol = j.and_then(|j| Volumes::of(act, j));
    let overlap = fy_dates(fy, p.settings.financial_year_start_month).map(|(a, b)| {
        let (a, b) = (a.max(period.0), b.min(period.1));
        if a <= b {
            period_years(a, b)
        } else {
            0.0
        }
    });
    let act_completers = j.and_then(|j| act.f64(j, "completers"));
    if one_providers_unit_line(p).is_some() {
        return (None, act_completers);
    }
    let cost: Option<f64> = p
        .cost_lines
        .iter()
        .map(|l| match l.basis {
            CostBasis::PerYear | CostBasis::OneOff | CostBasis::Contract => {
                overlap.map(|y| line_cost(l, y, Volumes::default()))
            }
            _ => vol.map(|v| line_cost(l, 0.0, v)),
        })
        .sum();
    // Shown whether or not the year's other volumes are (a suppressed
    // course count leaves the cost unknown, not the completers).
    (cost, act_completers)
}

/// The change in each outcome's difference in differences on the year
/// before, from the published yearly figures: the two years' cohorts are
/// different people, so the interval combines the two years' half-widths
/// (√(h₁² + h₂²), a normal approximation to their t intervals). Years whose
/// figure is hidden (fewer than 10 people in a group) have no change.
pub fn did_changes(tables: &[Table]) -> crate::error::MetricsResult<Vec<Table>> {
    let Some(t) = tables.iter().find(|t| t.name == "did_by_financial_year") else {
        return Ok(vec![]);
    };
    let (mut years, mut outcomes, mut change, mut lo, mut hi) =
        (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..t.height() {
        let (fy, outcome) = (t.text(i, "financial_year"), t.text(i, "outcome"));
        let Some(prev) = (0..i).rev().find(|&j| t.text(j, "outcome") == outcome) else {
            continue;
        };
        let est = |k: usize| -> Option<(f64, f64)> {
            let (e, l, h) = (
                t.f64(k, "estimate")?,
                t.f64(k, "ci_low")?,
                t.f64(k, "ci_high")?,
            );
            Some((e, (h - l) / 2.0))
        };
        let d = est(i)
            .zip(est(prev))
            .map(|((e2, h2), (e1, h1))| (e2 - e1, (h1 * h1 + h2 * h2).sqrt()));
        // Shown to 2 decimal places, like the yearly figures it comes from.
        let r = |x: f64| (x * 100.0).round() / 100.0;
        years.push(format!("{} on {}", fy, t.text(prev, "financial_year")));
        outcomes.push(outcome);
        change.push(d.map(|(d, _)| r(d)));
        lo.push(d.map(|(d, h)| r(d - h)));
        hi.push(d.map(|(d, h)| r(d + h)));
    }
    let df = df!(
        "financial_year" => years, "outcome" => outcomes,
        "change_on_last_year" => change, "change_ci_low" => lo, "change_ci_high" => hi,
    )?;
    Ok(vec![Table::new(
        "did_year_on_year",
        "Difference in differences: change on the year before",
        df,
    )
    .labels(&["financial_year", "outcome"])
    .exact(&[
        "change_on_last_year",
        "change_ci_low",
        "change_ci_high",
    ])])
}

/// Months of the period in which no course started (from the finalized monthly counts).
pub fn months_without_a_start(tables: &[Table]) -> Vec<String> {
    tables
        .iter()
        .find(|t| t.name == super::trend::NAME)
        .map(|t| {
            (0..t.height())
                .filter(|&i| t.f64(i, "starters") == Some(0.0))
                .map(|i| t.text(i, "month"))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_cost_with_one_providers_unit_line_is_not_known() {
        let mut p = crate::ingest::test_pipeline("");
        let line = |provider: Option<&str>, basis| crate::pipeline::CostLine {
            item: "x".into(),
            amount: 10.0,
            basis,
            years: None,
            provider: provider.map(String::from),
            price_year: None,
            uplift: 1.0,
        };
        let act = Table::new(
            "activity_by_financial_year",
            "",
            df!("financial_year" => ["2023/24"], "referrals" => [50.0], "starters" => [40.0],
                "completers" => [30.0], "courses" => [4.0])
            .unwrap(),
        );
        let period = (
            NaiveDate::from_ymd_opt(2023, 4, 1).unwrap(),
            NaiveDate::from_ymd_opt(2024, 3, 31).unwrap(),
        );
        p.cost_lines = vec![
            line(None, CostBasis::PerStarter),
            line(Some("A"), CostBasis::PerYear),
        ];
        // £10 a starter for 40 starters, and £10 for the year.
        assert_eq!(
            year_cost(&p, &act, "2023/24", period),
            (Some(410.0), Some(30.0))
        );
        // £10 a starter of provider A only: A's starters that year are not
        // published, so the cost is not known (it was 40 × £10 more).
        assert_eq!(cost_note(&p), None);
        p.cost_lines.push(line(Some("A"), CostBasis::PerStarter));
        assert_eq!(year_cost(&p, &act, "2023/24", period), (None, Some(30.0)));
        assert!(cost_note(&p)
            .unwrap()
            .contains("\"x\" is priced at provider A's own units, which no table gives by year"));
    }

    #[test]
    fn newcombe_hand_worked() {
        // Newcombe (1998) example: 56/70 vs 48/80 → difference −0.2000? No: we
        // compute p2 − p1 = 48/80 − 56/70 = 0.6 − 0.8 = −0.2, interval
        // −0.3339 to −0.0524 (Newcombe's table II, method 10, for 56/70 − 48/80
        // = 0.2: 0.0524 to 0.3339, sign reversed here).
        let d = newcombe_difference(56.0, 70.0, 48.0, 80.0).unwrap();
        assert!((d.estimate + 0.2).abs() < 1e-12);
        assert!((d.low + 0.3339).abs() < 1e-4, "{d:?}");
        assert!((d.high + 0.0524).abs() < 1e-4, "{d:?}");
    }

    #[test]
    fn did_change_on_last_year_hand_worked() {
        // 2022/23: −0.10 (−0.40 to 0.20), half 0.30; 2023/24: −0.50 (−0.90 to
        // −0.10), half 0.40. Change −0.40 ± √(0.09 + 0.16) = ± 0.5.
        let t = Table::new(
            "did_by_financial_year",
            "",
            df!(
                "financial_year" => ["2022/23", "2022/23", "2023/24", "2023/24"],
                "outcome" => ["emergency_admissions", "ae_attendances", "emergency_admissions", "ae_attendances"],
                "estimate" => [Some(-0.1), Some(0.2), Some(-0.5), None],
                "ci_low" => [Some(-0.4), Some(0.0), Some(-0.9), None],
                "ci_high" => [Some(0.2), Some(0.4), Some(-0.1), None],
            )
            .unwrap(),
        );
        let out = &did_changes(&[t]).unwrap()[0];
        assert_eq!(out.height(), 2);
        assert_eq!(out.text(0, "financial_year"), "2023/24 on 2022/23");
        assert!((out.f64(0, "change_on_last_year").unwrap() + 0.4).abs() < 1e-12);
        assert!((out.f64(0, "change_ci_low").unwrap() + 0.9).abs() < 1e-12);
        assert!((out.f64(0, "change_ci_high").unwrap() - 0.1).abs() < 1e-12);
        // A hidden year has no change.
        assert_eq!(out.f64(1, "change_on_last_year"), None);
    }

    #[test]
    fn financial_year_dates() {
        let (a, b) = fy_dates("2023/24", 4).unwrap();
        assert_eq!(a, NaiveDate::from_ymd_opt(2023, 4, 1).unwrap());
        assert_eq!(b, NaiveDate::from_ymd_opt(2024, 3, 31).unwrap());
    }
}
