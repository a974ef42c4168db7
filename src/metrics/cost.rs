//! The cost model (SPEC 1.4, 4): cost lines over the evaluation period, cost
//! per referral / starter / completer / course, and savings from the
//! difference-in-differences.

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;

use super::table::Table;
use crate::pipeline::{Apportion, CostBasis, CostLine, Pipeline, UnitCosts};
use crate::schema::PROVIDER_ID;

/// Volumes a cost line is applied to (None: suppressed in a published pack).
#[derive(Debug, Clone, Copy, Default)]
pub struct Volumes {
    pub referrals: f64,
    pub starters: f64,
    pub completers: f64,
    pub courses: f64,
}

impl Volumes {
    /// The volumes of one row of a finalized activity table, or None when any is suppressed.
    pub fn of(t: &Table, row: usize) -> Option<Volumes> {
        Some(Volumes {
            referrals: t.f64(row, "referrals")?,
            starters: t.f64(row, "starters")?,
            completers: t.f64(row, "completers")?,
            courses: t.f64(row, "courses")?,
        })
    }
    fn by(self, a: Apportion) -> f64 {
        match a {
            Apportion::Starters => self.starters,
            Apportion::Completers => self.completers,
            Apportion::Courses => self.courses,
        }
    }
}

/// The period in years: whole calendar months from `start` to the day after
/// `end`, plus any part month as a share of that month's days, ÷ 12. So
/// 2021-04-01 to 2024-03-31 is exactly 3.0 years (a `per_year` line costs
/// exactly three times its amount), whatever the leap days.
pub fn period_years(start: NaiveDate, end: NaiveDate) -> f64 {
    let stop = end.succ_opt().unwrap_or(end);
    let mut months = (stop.year() - start.year()) * 12 + stop.month() as i32 - start.month() as i32;
    let mut anchor = add_months(start, months);
    if anchor > stop {
        months -= 1;
        anchor = add_months(start, months);
    }
    let next = add_months(start, months + 1);
    let part = (stop - anchor).num_days() as f64 / (next - anchor).num_days().max(1) as f64;
    (months as f64 + part) / 12.0
}

fn add_months(d: NaiveDate, months: i32) -> NaiveDate {
    d.checked_add_months(chrono::Months::new(months.max(0) as u32))
        .unwrap_or(d)
}

pub fn is_unit_based(b: CostBasis) -> bool {
    matches!(
        b,
        CostBasis::PerCourse | CostBasis::PerStarter | CostBasis::PerCompleter
    )
}

/// Cost lines, the cost summary and the cost by provider, from the finalized
/// activity tables (in a published pack, the rounded volumes).
///
/// A line that names a provider is that provider's. A unit-based line
/// (`per_course`, `per_starter`, `per_completer`) that names none is charged
/// to each provider by its own units; a time-based one (`per_year`,
/// `one_off`) is shared by the pipeline's `apportion` rule (default starters).
pub fn tables(
    p: &Pipeline,
    tables: &[Table],
    period_years: f64,
    notes: &mut Vec<String>,
) -> crate::error::MetricsResult<Vec<Table>> {
    let find = |n: &str| tables.iter().find(|t| t.name == n);
    let overall = find("activity_overall").and_then(|t| Volumes::of(t, 0));
    let by_provider = find("activity_by_provider");
    let provider_rows: Vec<(String, Option<Volumes>)> = by_provider
        .map(|t| {
            (0..t.height())
                .map(|i| (t.text(i, PROVIDER_ID), Volumes::of(t, i)))
                .collect()
        })
        .unwrap_or_default();
    let (lines, total, provider_lines) =
        lines_table(p, overall, &provider_rows, period_years, notes)?;
    let ov = overall.unwrap_or_default();
    let count = |x: f64| overall.map(|_| x as i64);
    let summary = Table::new(
        "cost_summary",
        "Cost per referral, starter, completer and course",
        df!(
            "total" => [total], "period_years" => [period_years],
            "referrals" => [count(ov.referrals)], "starters" => [count(ov.starters)],
            "completers" => [count(ov.completers)], "courses" => [count(ov.courses)],
            "benchmark_per_participant" => [BENCHMARK_PER_PARTICIPANT],
            "benchmark_per_completer" => [BENCHMARK_PER_COMPLETER],
        )?,
    )
    .money(&["total"])
    .exact(&[
        "period_years",
        "benchmark_per_participant",
        "benchmark_per_completer",
    ])
    .counts(&["referrals", "starters", "completers", "courses"])
    .money_per("per_referral", "total", "referrals")
    .money_per("per_starter", "total", "starters")
    .money_per("per_completer", "total", "completers")
    .money_per("per_course", "total", "courses");

    let by_provider = provider_costs(p, &provider_rows, overall, period_years)?;
    let by_programme = programme_costs(
        p,
        find("activity_by_programme"),
        overall,
        period_years,
        provider_lines,
    )?;
    Ok(vec![
        lines,
        summary,
        by_provider,
        by_programme,
        unit_costs_table(p)?,
    ])
}

/// The cost lines over the period, with the total and the part that names
/// a provider. A unit-based line whose volumes are suppressed has its cost
/// hidden (and so has the total).
#[allow(clippy::type_complexity)]
fn lines_table(
    p: &Pipeline,
    overall: Option<Volumes>,
    provider_rows: &[(String, Option<Volumes>)],
    period_years: f64,
    notes: &mut Vec<String>,
) -> crate::error::MetricsResult<(Table, Option<f64>, Option<f64>)> {
    note_absent_providers(p, provider_rows, notes);
    let costs: Vec<Option<f64>> = p
        .cost_lines
        .iter()
        .map(|line| cost_in_period(line, overall, provider_rows, period_years))
        .collect();
    let total: Option<f64> = costs.iter().copied().sum();
    let provider_lines: Option<f64> = p
        .cost_lines
        .iter()
        .zip(&costs)
        .filter(|(l, _)| l.provider.is_some())
        .map(|(_, c)| *c)
        .sum();
    let suppressed: Vec<usize> = (0..costs.len()).filter(|k| costs[*k].is_none()).collect();
    let mut lines = Table::new(
        "cost_lines",
        "Cost lines over the evaluation period",
        lines_frame(p, costs)?,
    )
    .labels(&["item", "basis", "price_year", "provider"])
    .money(&["amount", "amount_at_price_base", "cost_in_period"]);
    for k in suppressed {
        lines.suppressed.insert((k, "cost_in_period".into()));
        notes.push(suppressed_line_note(&p.cost_lines[k]));
    }
    Ok((lines, total, provider_lines))
}

/// Why a cost line is `[c]`, and what it hides with it.
fn suppressed_line_note(line: &CostLine) -> String {
    let whose = match &line.provider {
        Some(id) => format!("provider {id}'s own"),
        None => "the programme's".into(),
    };
    format!(
        "The cost line \"{}\" is priced at {whose} counts, some of which are too few to publish (shown as [c]): it is not shown, and nor is the total cost, or any figure made from it (cost per starter and per completer, the value for money).",
        line.item
    )
}

/// A note for each cost line naming a provider with no referrals in the period.
fn note_absent_providers(
    p: &Pipeline,
    provider_rows: &[(String, Option<Volumes>)],
    notes: &mut Vec<String>,
) {
    let present: Vec<&String> = provider_rows
        .iter()
        .filter(|(_, v)| v.is_none_or(|v| v.referrals > 0.0))
        .map(|(id, _)| id)
        .collect();
    for line in &p.cost_lines {
        if let Some(id) = &line.provider {
            if !present.contains(&id) {
                notes.push(format!(
                    "The cost line \"{}\" names provider {id}, which has no referrals in the period: it adds to the total but to no provider.",
                    line.item
                ));
            }
        }
    }
}

/// A cost line's cost over the period: a unit-based line naming a provider
/// at that provider's volumes (none where the provider has no row), any
/// other at the overall volumes; None where the volumes it needs are
/// suppressed (a provider's 1–7 starters priced as none would understate
/// the total: it is suppressed instead).
fn cost_in_period(
    line: &CostLine,
    overall: Option<Volumes>,
    provider_rows: &[(String, Option<Volumes>)],
    period_years: f64,
) -> Option<f64> {
    let provider_vol = |id: &str| match provider_rows.iter().find(|(p, _)| p == id) {
        Some((_, shown)) => *shown,
        None => Some(Volumes::default()),
    };
    let v = match &line.provider {
        Some(id) if is_unit_based(line.basis) => provider_vol(id),
        _ => overall,
    };
    match v {
        Some(v) => Some(line_cost(line, period_years, v)),
        None if !is_unit_based(line.basis) => {
            Some(line_cost(line, period_years, Volumes::default()))
        }
        None => None,
    }
}

/// The cost lines as the table shows them, with their cost in the period.
fn lines_frame(p: &Pipeline, costs: Vec<Option<f64>>) -> PolarsResult<DataFrame> {
    let lines = &p.cost_lines;
    let items: Vec<String> = lines
        .iter()
        .map(|l| crate::ingest::nhs::mask_text(&l.item).into_owned())
        .collect();
    let bases: Vec<&str> = lines.iter().map(|l| l.basis.name()).collect();
    let amounts: Vec<f64> = lines.iter().map(|l| l.amount).collect();
    let years: Vec<String> = lines
        .iter()
        .map(|l| {
            l.price_year
                .as_deref()
                .and_then(crate::pipeline::prices::PriceYear::parse)
                .map(|y| y.label())
                .unwrap_or_default()
        })
        .collect();
    let at_base: Vec<f64> = lines.iter().map(|l| l.amount * l.uplift).collect();
    let who: Vec<String> = lines
        .iter()
        .map(|l| {
            l.provider
                .as_deref()
                .map(|c| p.provider_name(c))
                .unwrap_or_default()
        })
        .collect();
    df!("item" => items, "basis" => bases, "amount" => amounts, "price_year" => years,
        "amount_at_price_base" => at_base, "provider" => who, "cost_in_period" => costs)
}

/// Each programme's cost (commissioners buy them separately): the general
/// unit-based lines by the programme's own courses, starters or completers,
/// the general time-based lines shared by the apportion rule. Lines naming a
/// provider are shown in one row of their own, not split by programme.
fn programme_costs(
    p: &Pipeline,
    activity: Option<&Table>,
    overall: Option<Volumes>,
    period_years: f64,
    provider_lines: Option<f64>,
) -> crate::error::MetricsResult<Table> {
    let rule = p.settings.apportion;
    let rows: Vec<(String, Option<Volumes>)> = activity
        .map(|t| {
            (0..t.height())
                .map(|i| (t.text(i, crate::schema::PROGRAMME), Volumes::of(t, i)))
                .collect()
        })
        .unwrap_or_default();
    let share_total = share_base(&rows, overall, rule);
    let (mut names, mut cost, mut completers, mut hidden) = (vec![], vec![], vec![], vec![]);
    for (i, (name, v)) in rows.iter().enumerate() {
        let mut c = Some(0.0);
        for line in p.cost_lines.iter().filter(|l| l.provider.is_none()) {
            let part = match (v, is_unit_based(line.basis)) {
                (Some(v), true) => Some(line_cost(line, period_years, *v)),
                (Some(v), false) if share_total > 0.0 => Some(
                    line_cost(line, period_years, Volumes::default()) * v.by(rule) / share_total,
                ),
                (Some(_), false) => Some(0.0),
                (None, _) => None,
            };
            c = c.zip(part).map(|(a, b)| a + b);
        }
        if c.is_none() {
            hidden.push(i);
        }
        names.push(name.clone());
        cost.push(c);
        completers.push(v.map(|v| v.completers as i64));
    }
    if p.cost_lines.iter().any(|l| l.provider.is_some()) {
        names.push("Provider-specific lines (not split by programme)".into());
        if provider_lines.is_none() {
            hidden.push(names.len() - 1);
        }
        cost.push(provider_lines);
        completers.push(None);
    }
    cost_table(
        Table::new(
            "cost_by_programme",
            &format!(
                "Cost by programme (general costs; yearly costs shared by {})",
                rule.name()
            ),
            df!(crate::schema::PROGRAMME => names, "cost" => cost, "completers" => completers)?,
        )
        .labels(&[crate::schema::PROGRAMME]),
        hidden,
    )
}

/// A cost-by-group table: its cost (hidden where a volume it rests on is),
/// completers and cost per completer.
fn cost_table(t: Table, hidden: Vec<usize>) -> crate::error::MetricsResult<Table> {
    let mut t = t.money(&["cost"]).counts(&["completers"]).money_per(
        "cost_per_completer",
        "cost",
        "completers",
    );
    for i in hidden {
        t.suppressed.insert((i, "cost".into()));
    }
    Ok(t)
}

/// Each provider's cost: its own lines, its own units of the general
/// unit-based lines, and its share (by the apportion rule) of the general
/// time-based lines. A row "Not allocated" holds lines naming a provider with
/// no referrals, so the column adds up to the total (exactly, in an internal
/// pack; a published pack's rounded volumes may not add up exactly).
/// What a group's share of the time-based costs is taken of: the overall
/// volume (controlled, in a published pack), so that a group's share is the
/// same whether or not another group's volume is hidden; the groups' own sum
/// where the overall volume is itself hidden.
fn share_base(
    rows: &[(String, Option<Volumes>)],
    overall: Option<Volumes>,
    rule: Apportion,
) -> f64 {
    match overall {
        Some(o) => o.by(rule),
        None => rows.iter().filter_map(|(_, v)| v.map(|v| v.by(rule))).sum(),
    }
}

fn provider_costs(
    p: &Pipeline,
    rows: &[(String, Option<Volumes>)],
    overall: Option<Volumes>,
    period_years: f64,
) -> crate::error::MetricsResult<Table> {
    let rule = p.settings.apportion;
    let share_total = share_base(rows, overall, rule);
    let mut ids = Vec::new();
    let mut names = Vec::new();
    let mut cost = Vec::new();
    let mut completers = Vec::new();
    let mut hidden = Vec::new();
    for (i, (id, v)) in rows.iter().enumerate() {
        let mut c = Some(0.0);
        for line in &p.cost_lines {
            let part = match (&line.provider, is_unit_based(line.basis)) {
                (Some(own), true) if own == id => v.map(|v| line_cost(line, period_years, v)),
                (Some(own), false) if own == id => {
                    Some(line_cost(line, period_years, Volumes::default()))
                }
                (Some(_), _) => Some(0.0),
                (None, true) => v.map(|v| line_cost(line, period_years, v)),
                (None, false) => match v {
                    Some(v) if share_total > 0.0 => Some(
                        line_cost(line, period_years, Volumes::default()) * v.by(rule)
                            / share_total,
                    ),
                    Some(_) => Some(0.0),
                    None => None,
                },
            };
            c = c.zip(part).map(|(a, b)| a + b);
        }
        if c.is_none() {
            hidden.push(i);
        }
        ids.push(id.clone());
        names.push(p.provider_name(id));
        cost.push(c);
        completers.push(v.map(|v| v.completers as i64));
    }
    let known: Vec<&String> = rows.iter().map(|(id, _)| id).collect();
    let orphan: f64 = p
        .cost_lines
        .iter()
        .filter(|l| l.provider.as_ref().is_some_and(|id| !known.contains(&id)))
        .map(|l| line_cost(l, period_years, Volumes::default()))
        .sum();
    if orphan > 0.0 {
        ids.push("not_allocated".into());
        names.push("Not allocated (provider with no referrals)".into());
        cost.push(Some(orphan));
        completers.push(Some(0));
    }
    cost_table(
        Table::new(
            "cost_by_provider",
            &format!(
                "Cost by provider (general time-based costs shared by {})",
                rule.name()
            ),
            df!(PROVIDER_ID => ids, "provider" => names, "cost" => cost, "completers" => completers)?,
        )
        .labels(&[PROVIDER_ID, "provider"]),
        hidden,
    )
}

/// The cost of one line over a period of `years` at the given volumes, at
/// the price base (the amount × its uplift). `per_year` and `contract` lines
/// run for the period; `one_off` lines are spread evenly over
/// their own life (`years` of the line) and the period takes its share.
pub fn line_cost(line: &CostLine, period_years: f64, v: Volumes) -> f64 {
    let amount = line.amount * line.uplift;
    match line.basis {
        CostBasis::PerYear | CostBasis::Contract => amount * period_years,
        CostBasis::OneOff => amount / line.years.unwrap_or(1.0) * period_years,
        CostBasis::PerCourse => amount * v.courses,
        CostBasis::PerStarter => amount * v.starters,
        CostBasis::PerCompleter => amount * v.completers,
    }
}

/// (outcome, unit cost) pairs that are costed as savings. Emergency bed days
/// are reported but not costed: the spell cost covers the stay.
pub fn costed_outcomes(u: &UnitCosts) -> Vec<(&'static str, f64)> {
    vec![
        ("emergency_admissions", u.non_elective_spell),
        ("ae_attendances", u.ae_attendance),
        ("outpatient_attendances", u.outpatient_attendance),
    ]
}

/// The unit costs the value is priced at: source, price year, the amount as
/// published and at the price base.
pub fn unit_costs_table(p: &Pipeline) -> crate::error::MetricsResult<Table> {
    let l = &p.unit_cost_lines;
    let df = df!(
        "outcome" => l.iter().map(|u| super::summary::outcome_words(u.outcome)).collect::<Vec<_>>(),
        "source" => l.iter().map(|u| u.source.clone()).collect::<Vec<_>>(),
        "price_year" => l.iter().map(|u| u.price_year.map(|y| y.label()).unwrap_or_else(|| "not stated".into())).collect::<Vec<_>>(),
        "unit_cost" => l.iter().map(|u| u.amount).collect::<Vec<_>>(),
        "unit_cost_at_price_base" => l.iter().map(|u| u.at_price_base).collect::<Vec<_>>(),
    )?;
    Ok(Table::new(
        "unit_costs",
        "Unit costs the hospital activity is priced at",
        df,
    )
    .labels(&["outcome", "source", "price_year"])
    .money(&["unit_cost", "unit_cost_at_price_base"]))
}

/// One sentence on the prices the money figures are at, for the pack's cost
/// section and limitations.
pub fn prices_sentence(p: &Pipeline) -> String {
    use crate::pipeline::prices;
    let mut years: Vec<String> = p
        .cost_lines
        .iter()
        .filter_map(|l| l.price_year.as_deref().and_then(prices::PriceYear::parse))
        .chain(p.unit_cost_lines.iter().filter_map(|u| u.price_year))
        .map(|y| y.label())
        .collect();
    years.sort();
    years.dedup();
    match p.settings.price_base {
        Some(b) => format!(
            "Prices: every amount is at {} prices, uplifted from its own price year ({}) with the {}.",
            b.label(),
            years.join(", "),
            prices::DEFLATOR_SOURCE
        ),
        None if years.len() > 1 => format!(
            "Prices: amounts are as given, from different price years ({}), and are not adjusted for inflation; a price base would put them all at one year's prices.",
            years.join(", ")
        ),
        None => "Prices: amounts are as given, not adjusted for inflation.".into(),
    }
}

/// Seed benchmarks shown beside the costs.
/// NESTA (2013): a volunteer-led CDSMP costs as little as £44 per participant.
pub const BENCHMARK_PER_PARTICIPANT: f64 = 44.0;
/// Dudley: £120,000 a year for about 500 completions (£240 per completion).
pub const BENCHMARK_PER_COMPLETER: f64 = 240.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_in_whole_months() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        // 2021-04-01..2024-03-31: 36 whole months, a leap day inside, exactly 3 years.
        assert_eq!(period_years(d(2021, 4, 1), d(2024, 3, 31)), 3.0);
        assert_eq!(period_years(d(2022, 4, 1), d(2023, 3, 31)), 1.0);
        // Half of April (15 of 30 days) after 12 whole months.
        assert!((period_years(d(2022, 4, 1), d(2023, 4, 15)) - 12.5 / 12.0).abs() < 1e-12);
    }

    fn line(amount: f64, basis: CostBasis, years: Option<f64>) -> CostLine {
        CostLine {
            item: "x".into(),
            amount,
            basis,
            years,
            provider: None,
            price_year: None,
            uplift: 1.0,
        }
    }

    #[test]
    fn a_providers_unit_cost_line_is_suppressed_with_its_volumes_not_priced_at_none() {
        let handbooks = CostLine {
            provider: Some("SML".into()),
            ..line(10.0, CostBasis::PerStarter, None)
        };
        let v = |starters| Volumes {
            referrals: 40.0,
            starters,
            completers: 0.0,
            courses: 1.0,
        };
        let overall = Some(v(100.0));
        let rows = |shown| {
            vec![
                ("BIG".to_string(), Some(v(95.0))),
                ("SML".to_string(), shown),
            ]
        };
        // Its 1-7 starters are [c]: the line (and so the total) is suppressed.
        assert_eq!(cost_in_period(&handbooks, overall, &rows(None), 1.0), None);
        assert_eq!(
            cost_in_period(&handbooks, overall, &rows(Some(v(10.0))), 1.0),
            Some(100.0)
        );
        // A provider with no row at all has no starters to price.
        assert_eq!(
            cost_in_period(&handbooks, overall, &rows(None)[..1], 1.0),
            Some(0.0)
        );
        assert!(suppressed_line_note(&handbooks)
            .starts_with("The cost line \"x\" is priced at provider SML's own counts, some of which are too few to publish"));
        // A yearly line does not depend on any count.
        let yearly = CostLine {
            provider: Some("SML".into()),
            ..line(1500.0, CostBasis::PerYear, None)
        };
        assert_eq!(
            cost_in_period(&yearly, overall, &rows(None), 2.0),
            Some(3000.0)
        );
    }

    #[test]
    fn cost_lines_hand_worked() {
        let v = Volumes {
            referrals: 100.0,
            starters: 80.0,
            completers: 60.0,
            courses: 8.0,
        };
        // Supervision £1,500 a year over 3 years = £4,500.
        assert_eq!(
            line_cost(&line(1500.0, CostBasis::PerYear, None), 3.0, v),
            4500.0
        );
        // SS2Q £1,000 every 3 years, over a 1.5-year period = £500.
        assert_eq!(
            line_cost(&line(1000.0, CostBasis::OneOff, Some(3.0)), 1.5, v),
            500.0
        );
        // Handbooks £12.95 per starter × 80 = £1,036.
        assert!(
            (line_cost(&line(12.95, CostBasis::PerStarter, None), 3.0, v) - 1036.0).abs() < 1e-9
        );
        assert_eq!(
            line_cost(&line(20.0, CostBasis::PerCourse, None), 3.0, v),
            160.0
        );
        assert_eq!(
            line_cost(&line(10.0, CostBasis::PerCompleter, None), 3.0, v),
            600.0
        );
    }

    #[test]
    fn a_groups_share_of_yearly_costs_does_not_grow_when_another_is_hidden() {
        let v = |starters: f64| Volumes {
            starters,
            ..Volumes::default()
        };
        // Three programmes of 60, 30 and 10 starters (100 in all); the third's
        // volumes are hidden in a published pack.
        let rows = vec![
            ("a".to_string(), Some(v(60.0))),
            ("b".to_string(), Some(v(30.0))),
            ("c".to_string(), None),
        ];
        let base = share_base(&rows, Some(v(100.0)), Apportion::Starters);
        assert_eq!(base, 100.0);
        // A's share of £1,000 a year is £600, not 60/90 of it.
        assert_eq!(1000.0 * 60.0 / base, 600.0);
        // With the overall volume hidden too, the groups shown share it.
        assert_eq!(share_base(&rows, None, Apportion::Starters), 90.0);
    }
}
