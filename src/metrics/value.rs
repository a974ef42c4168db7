//! Estimated value of hospital activity avoided (not cash released).
//!
//! Each eligible person's hospital use before and after is priced at the unit
//! costs (emergency admissions at the non-elective spell cost, A&E
//! attendances, outpatient attendances; bed days are not priced, the spell
//! cost covers the stay). The difference in differences of that costed
//! outcome (starters − comparison) is the value per starter, with a Welch 95%
//! interval that allows for the correlation between outcomes. It is scaled to
//! all starters in the period — the population the costs are for — assuming
//! starters without a full year of follow-up change as those with one did.
//!
//! Where it cannot be estimated (no comparison group, too few people, every
//! outcome suppressed) every value figure is null with the reason; where only
//! some outcomes can be priced, the figures are labelled partial with the
//! outcomes they cover.

use polars::prelude::*;

use super::cost;
use super::hospital::CostedDid;
use super::table::Table;
use crate::disclosure::MIN_N_FOR_MEANS;
use crate::pipeline::Pipeline;

/// Per-outcome savings and the value table.
pub fn tables(
    p: &Pipeline,
    tables: &[Table],
    costed: &CostedDid,
    published: bool,
    not_estimable: &mut Vec<(String, String)>,
) -> crate::error::MetricsResult<Vec<Table>> {
    let starters = super::cell(tables, "activity_overall", 0, "starters");
    let total_cost = super::cell(tables, "cost_summary", 0, "total");
    let (savings, per_starter, covered) = savings_table(p, tables, published, starters)?;

    let reason = why_not_estimable(tables, costed, published, covered.is_empty(), total_cost);
    let partial = !covered.is_empty() && covered.len() < cost::costed_outcomes(&p.unit_costs).len();
    let (value_per, half) = match reason {
        Some(r) => {
            not_estimable.push(("value".into(), r.into()));
            (None, None)
        }
        None => {
            let v: f64 = per_starter.iter().flatten().sum();
            // The interval is for all priced outcomes together; a partial value
            // has none. Its half-width per starter is an individual-level
            // statistic, from exact variances: published to 2 significant
            // figures ([`published_half`]).
            let half = costed.half.filter(|_| !partial);
            let half = match published {
                true => half.map(published_half),
                false => half,
            };
            (Some(v), half)
        }
    };
    let total = value_per.zip(starters).map(|(v, s)| v * s);
    let scale = |h: Option<f64>| h.zip(starters).map(|(h, s)| h * s);
    let (low, high) = (
        total.zip(scale(half)).map(|(t, h)| t - h),
        total.zip(scale(half)).map(|(t, h)| t + h),
    );
    let per_pound = |x: Option<f64>| {
        x.zip(total_cost)
            .and_then(|(x, c)| (c > 0.0).then(|| x / c))
    };
    let value = Table::new(
        "value",
        "Cost and estimated value of hospital activity avoided (not cash released)",
        df!(
            "total_cost" => [total_cost],
            "value_per_starter" => [value_per],
            "starters" => [starters.map(|s| s as i64)],
            "total_value" => [total],
            "value_low" => [low], "value_high" => [high],
            "net_cost" => [total.zip(total_cost).map(|(v, c)| c - v)],
            "return_per_pound" => [per_pound(total)],
            "return_low" => [per_pound(low)], "return_high" => [per_pound(high)],
            "partial" => [partial],
            "outcomes_covered" => [covered.iter().map(|o| super::summary::outcome_words(o)).collect::<Vec<_>>().join(", ")],
            "not_estimable_reason" => [reason.map(String::from)],
        )?,
    )
    .money(&[
        "total_cost",
        "value_per_starter",
        "total_value",
        "value_low",
        "value_high",
        "net_cost",
    ])
    .counts(&["starters"])
    .exact(&["return_per_pound", "return_low", "return_high", "partial"])
    .labels(&["outcomes_covered", "not_estimable_reason"]);
    Ok(vec![savings, value])
}

/// The value interval's half-width per starter as a published pack shows
/// it: to 2 significant figures (£606.14 → £610). The other
/// individual-level statistics are shown to 2 decimal places of a count of
/// events (about 2 significant figures); money to the penny would be 5 or
/// more, and one more A&E attendance of one person in the comparison group
/// would show in it, priced at its unit cost (disclosure review s17).
fn published_half(h: f64) -> f64 {
    if h == 0.0 || !h.is_finite() {
        return h;
    }
    // Decimal places that keep two significant figures (negative: tens...).
    let places = 1 - h.abs().log10().floor() as i32;
    match places >= 0 {
        true => (h * 10f64.powi(places)).round() / 10f64.powi(places),
        false => (h / 10f64.powi(-places)).round() * 10f64.powi(-places),
    }
}

/// Per priced outcome: the DiD with its interval, the unit cost, the value
/// per starter and the events avoided; with the values per starter and the
/// outcomes they could be computed for (from the finalized tables).
#[allow(clippy::type_complexity)]
fn savings_table(
    p: &Pipeline,
    tables: &[Table],
    published: bool,
    starters: Option<f64>,
) -> crate::error::MetricsResult<(Table, Vec<Option<f64>>, Vec<&'static str>)> {
    let find = |n: &str| tables.iter().find(|t| t.name == n);
    let did = find("did");
    let pre_post = find("hospital_pre_post");

    // A group's mean change in one outcome, from the finalized event totals.
    let change = |group: &str, outcome: &str| -> Option<f64> {
        let t = pre_post?;
        let i = (0..t.height())
            .find(|&i| t.text(i, "group") == group && t.text(i, "outcome") == outcome)?;
        let n = t.f64(i, "n")?;
        if n <= 0.0 || (published && n < MIN_N_FOR_MEANS) {
            return None;
        }
        Some((t.f64(i, "events_post")? - t.f64(i, "events_pre")?) / n)
    };
    let mut outcomes = Vec::new();
    let (mut dids, mut lows, mut highs, mut units, mut per_starter, mut avoided) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut covered = Vec::new();
    for (outcome, unit) in cost::costed_outcomes(&p.unit_costs) {
        let row = did.and_then(|t| t.find("outcome", outcome));
        let get = |c: &str| row.and_then(|i| did.and_then(|t| t.f64(i, c)));
        let d = change("starters", outcome)
            .zip(change("comparison", outcome))
            .map(|(a, b)| a - b)
            .filter(|_| get("estimate").is_some());
        if d.is_some() {
            covered.push(outcome);
        }
        outcomes.push(outcome.to_string());
        dids.push(get("estimate"));
        lows.push(get("ci_low"));
        highs.push(get("ci_high"));
        units.push(unit);
        per_starter.push(d.map(|d| -d * unit));
        avoided.push(d.zip(starters).map(|(d, s)| -d * s));
    }
    let savings = Table::new(
        "savings",
        "Hospital activity avoided per outcome (difference in differences × starters × unit cost)",
        df!("outcome" => outcomes, "did" => dids, "did_ci_low" => lows, "did_ci_high" => highs,
            "unit_cost" => units, "value_per_starter" => per_starter.clone(), "events_avoided" => avoided)?,
    )
    .labels(&["outcome"])
    .exact(&["did", "did_ci_low", "did_ci_high", "unit_cost", "value_per_starter", "events_avoided"]);

    Ok((savings, per_starter, covered))
}

/// Why the value cannot be estimated, or None when it can.
fn why_not_estimable(
    tables: &[Table],
    costed: &CostedDid,
    published: bool,
    nothing_covered: bool,
    total_cost: Option<f64>,
) -> Option<&'static str> {
    let find = |n: &str| tables.iter().find(|t| t.name == n);
    let n_comparison = super::cell(tables, "hospital_follow_up", 2, "eligible");
    if find("hospital_follow_up").is_none() {
        Some("there is no hospital data (the pipeline has no hospital source)")
    } else if n_comparison == Some(0.0) || costed.n_comparison == 0.0 {
        Some("there is no comparison group: no one referred in the period went without starting, or none has a full year of follow-up")
    } else if costed.n_starters == 0.0 {
        Some("no starter has a full year of hospital follow-up before and after the course")
    } else if published
        && [costed.n_starters, costed.n_comparison].iter().any(|n| {
            // The controlled n, as every other figure's n ≥ 10 rule is tested.
            crate::disclosure::publish_count(*n as i64).is_none_or(|c| (c as f64) < MIN_N_FOR_MEANS)
        })
    {
        Some("fewer than 10 people with full follow-up in the starters or the comparison group")
    } else if nothing_covered {
        Some("no hospital outcome has a difference in differences that can be published")
    } else if total_cost.is_none() {
        Some("the total cost is suppressed")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follow_up(comparison_eligible: i64) -> Table {
        Table::new(
            "hospital_follow_up",
            "",
            df!("group" => ["starters", "completers", "comparison"], "eligible" => [50i64, 40, comparison_eligible])
                .unwrap(),
        )
    }

    fn costed(n_starters: f64, n_comparison: f64) -> CostedDid {
        CostedDid {
            n_starters,
            n_comparison,
            estimate: -100.0,
            half: Some(50.0),
        }
    }

    #[test]
    fn a_published_value_interval_is_to_two_significant_figures() {
        for (half, shown) in [
            (606.14, 610.0),
            (605.67, 610.0),
            (602.42, 600.0),
            (1234.5, 1200.0),
            (99.5, 100.0),
            (7.26, 7.3),
            (0.0, 0.0),
        ] {
            assert_eq!(published_half(half), shown, "{half}");
        }
        // One A&E attendance more for one comparison person moved the
        // penny-rounded half-width from 606.14 to 605.67: now nothing moves.
        assert_eq!(published_half(606.14), published_half(605.67));
    }

    #[test]
    fn the_value_says_why_it_cannot_be_estimated() {
        let ok = [follow_up(30)];
        assert_eq!(
            why_not_estimable(&ok, &costed(50.0, 30.0), true, false, Some(1000.0)),
            None
        );
        let why =
            |tables: &[Table], c: CostedDid, published: bool, none: bool, cost: Option<f64>| {
                why_not_estimable(tables, &c, published, none, cost).unwrap_or("")
            };
        assert!(why(&[], costed(50.0, 30.0), true, false, Some(1.0)).contains("no hospital data"));
        assert!(
            why(&[follow_up(0)], costed(50.0, 0.0), true, false, Some(1.0))
                .contains("no comparison group")
        );
        assert!(why(&ok, costed(0.0, 30.0), true, false, Some(1.0)).contains("no starter"));
        // Fewer than 10 in a group once rounded (7 is [c]): refused when
        // published, estimated internally. 9 is shown as 10, as every other
        // figure's n is tested.
        assert!(why(&ok, costed(7.0, 30.0), true, false, Some(1.0)).contains("fewer than 10"));
        assert!(why(&ok, costed(50.0, 7.0), true, false, Some(1.0)).contains("fewer than 10"));
        assert_eq!(why(&ok, costed(7.0, 30.0), false, false, Some(1.0)), "");
        assert_eq!(why(&ok, costed(9.0, 30.0), true, false, Some(1.0)), "");
        assert!(why(&ok, costed(50.0, 30.0), true, true, Some(1.0)).contains("no hospital outcome"));
        assert!(
            why(&ok, costed(50.0, 30.0), true, false, None).contains("total cost is suppressed")
        );
    }
}
