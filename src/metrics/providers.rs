//! Provider comparison for re-tendering: per provider volumes, completion
//! with its Wilson interval, where it sits on a funnel plot (95% and 99.8%
//! limits around the overall rate, PHE's method), starters and completers
//! per course, cost per completer and PAM change. Completion leaves out the
//! starters on courses still in progress; per course and cost per completer
//! count every starter and completer, as the activity and cost tables do (so
//! a provider's cost per completer is the cost table's figure). Everything is read from the finalized
//! tables: in a published pack the funnel is drawn around the rate of the
//! rounded counts, at the rounded denominators.

use polars::prelude::*;

use super::table::Table;
use crate::pipeline::Pipeline;
use crate::schema::{LTC_COUNT, PROVIDER_ID};
use crate::stats;

/// The provider comparison and its funnel limits, from the finalized
/// completion, activity, cost and PAM tables by provider (none without a
/// completion table). A provider with no referrals is left out.
pub fn tables(p: &Pipeline, tables: &[Table]) -> crate::error::MetricsResult<Vec<Table>> {
    let find = |n: &str| tables.iter().find(|t| t.name == n);
    let Some(comp) = find("completion_by_provider") else {
        return Ok(vec![]);
    };
    let from = Sources {
        comp,
        act: find("activity_by_provider"),
        cost: find("cost_by_provider"),
        pam: find("pam_by_provider"),
        overall_rate: super::cell(tables, "completion_overall", 0, "rate"),
    };
    let mut rows = Rows::default();
    for i in 0..comp.height() {
        let referrals = comp.f64(i, "referrals");
        if referrals == Some(0.0) && !comp.is_suppressed(i, "referrals") {
            continue;
        }
        rows.add(p, &from, i);
    }
    let hidden = std::mem::take(&mut rows.hidden);
    let t = providers_table(rows.frame()?, hidden);
    let funnel = funnel_limits(&t, from.overall_rate)?;
    Ok(vec![t, funnel])
}

/// The finalized tables a provider's row reads.
struct Sources<'a> {
    comp: &'a Table,
    act: Option<&'a Table>,
    cost: Option<&'a Table>,
    pam: Option<&'a Table>,
    /// The overall completion rate: the funnel's centre.
    overall_rate: Option<f64>,
}

impl Sources<'_> {
    /// A provider's value in one of the tables by provider.
    fn get(t: Option<&Table>, id: &str, c: &str) -> Option<f64> {
        t.and_then(|t| t.find(PROVIDER_ID, id).and_then(|i| t.f64(i, c)))
    }
}

/// The provider comparison's columns, a row at a time.
#[derive(Default)]
struct Rows<'a> {
    ids: Vec<String>,
    names: Vec<String>,
    /// rate, its interval, the four funnel limits, cost, cost per completer,
    /// PAM change, starters and completers per course.
    values: [Vec<Option<f64>>; 12],
    position: Vec<String>,
    /// referrals, starters, completers, courses, PAM n.
    counts: [Vec<Option<i64>>; 5],
    /// (row, column) of cells the completion table suppressed.
    hidden: Vec<(usize, &'a str)>,
}

impl Rows<'_> {
    /// Adds the provider of the completion table's row `i`.
    fn add(&mut self, p: &Pipeline, from: &Sources, i: usize) {
        let comp = from.comp;
        let id = comp.text(i, PROVIDER_ID);
        let (starters, rate) = (comp.f64(i, "starters"), comp.f64(i, "rate"));
        let f = starters
            .zip(from.overall_rate)
            .filter(|(s, _)| *s > 0.0)
            .map(|(s, r)| stats::funnel_point(s, r));
        let k = self.ids.len();
        for c in [
            "referrals",
            "starters",
            "completers",
            "rate",
            "ci_low",
            "ci_high",
        ] {
            if comp.is_suppressed(i, c) {
                self.hidden.push((k, c));
            }
        }
        let act = |c: &str| Sources::get(from.act, &id, c);
        let courses = act("courses");
        let per_course =
            |n: Option<f64>| n.zip(courses).and_then(|(n, c)| (c > 0.0).then(|| n / c));
        let values = [
            rate,
            comp.f64(i, "ci_low"),
            comp.f64(i, "ci_high"),
            f.map(|f| f.lower_95),
            f.map(|f| f.upper_95),
            f.map(|f| f.lower_998),
            f.map(|f| f.upper_998),
            Sources::get(from.cost, &id, "cost"),
            Sources::get(from.cost, &id, "cost_per_completer"),
            Sources::get(from.pam, &id, "pam_change"),
            per_course(act("starters")),
            per_course(act("completers")),
        ];
        for (c, v) in self.values.iter_mut().zip(values) {
            c.push(v);
        }
        self.position.push(funnel_position(rate, f).to_string());
        let counts = [
            comp.f64(i, "referrals"),
            starters,
            comp.f64(i, "completers"),
            courses,
            Sources::get(from.pam, &id, "pam_n"),
        ];
        for (c, v) in self.counts.iter_mut().zip(counts) {
            c.push(v.map(|x| x as i64));
        }
        self.names.push(p.provider_name(&id));
        self.ids.push(id);
    }

    /// The rows as the provider comparison's frame.
    fn frame(self) -> PolarsResult<DataFrame> {
        let [rate, lo, hi, l95, u95, l998, u998, pc, per_completer, pam_change, spc, cpc] =
            self.values;
        let [referrals, starters, completers, courses, pam_n] = self.counts;
        df!(
            PROVIDER_ID => self.ids, "provider" => self.names,
            "referrals" => referrals, "starters" => starters, "completers" => completers,
            "rate" => rate, "ci_low" => lo, "ci_high" => hi,
            "funnel_lower_95" => l95, "funnel_upper_95" => u95,
            "funnel_lower_998" => l998, "funnel_upper_998" => u998,
            "funnel_position" => self.position, "courses" => courses,
            "starters_per_course" => spc, "completers_per_course" => cpc,
            "cost" => pc, "cost_per_completer" => per_completer,
            "pam_n" => pam_n, "pam_change" => pam_change,
        )
    }
}

/// Where a provider's completion rate sits on the funnel plot.
fn funnel_position(rate: Option<f64>, f: Option<stats::FunnelPoint>) -> &'static str {
    match (rate, f) {
        (Some(r), Some(f)) if r > f.upper_998 => "above 99.8% limit",
        (Some(r), Some(f)) if r < f.lower_998 => "below 99.8% limit",
        (Some(r), Some(f)) if r > f.upper_95 => "above 95% limit",
        (Some(r), Some(f)) if r < f.lower_95 => "below 95% limit",
        (Some(_), Some(_)) => "within limits",
        _ => "",
    }
}

/// The provider comparison's columns declared, with the marks of figures
/// hidden in the tables they came from.
fn providers_table(df: DataFrame, hidden: Vec<(usize, &str)>) -> Table {
    let mut t = Table::new("providers", "Provider comparison", df)
        .labels(&[PROVIDER_ID, "provider"])
        .counts(&["referrals"])
        .count_within("starters", "referrals")
        .count_within("completers", "starters")
        .exact(&[
            "rate",
            "ci_low",
            "ci_high",
            "funnel_lower_95",
            "funnel_upper_95",
            "funnel_lower_998",
            "funnel_upper_998",
        ])
        .labels(&["funnel_position"])
        .counts(&["courses"])
        .exact(&["starters_per_course", "completers_per_course"])
        .money(&["cost"])
        .exact(&["cost_per_completer"])
        .counts(&["pam_n"])
        .exact(&["pam_change"])
        .base("referrals");
    for (k, c) in hidden {
        t.suppressed.insert((k, c.to_string()));
    }
    t
}

/// The funnel-plot limits around the overall completion rate over the range of
/// the providers' (finalized) starters.
fn funnel_limits(
    providers: &Table,
    overall_rate: Option<f64>,
) -> crate::error::MetricsResult<Table> {
    let starters: Vec<f64> = (0..providers.height())
        .filter_map(|i| providers.f64(i, "starters"))
        .filter(|s| *s > 0.0)
        .collect();
    let (min_d, max_d) = starters
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let pts: Vec<stats::FunnelPoint> = match overall_rate {
        Some(r) if !starters.is_empty() => stats::funnel_denominators(min_d.max(1.0), max_d)
            .iter()
            .map(|&d| stats::funnel_point(d, r))
            .collect(),
        _ => vec![],
    };
    Ok(Table::new(
        "funnel_limits",
        "Funnel-plot limits around the overall completion rate",
        df!(
            "denominator" => pts.iter().map(|p| p.denominator).collect::<Vec<_>>(),
            "lower_95" => pts.iter().map(|p| p.lower_95).collect::<Vec<_>>(),
            "upper_95" => pts.iter().map(|p| p.upper_95).collect::<Vec<_>>(),
            "lower_998" => pts.iter().map(|p| p.lower_998).collect::<Vec<_>>(),
            "upper_998" => pts.iter().map(|p| p.upper_998).collect::<Vec<_>>(),
            "overall_rate" => vec![overall_rate.unwrap_or(f64::NAN); pts.len()],
        )?,
    )
    .exact(&[
        "denominator",
        "lower_95",
        "upper_95",
        "lower_998",
        "upper_998",
        "overall_rate",
    ]))
}

/// Completion by provider indirectly standardised for case mix: each
/// starter's expected chance of completing is the overall completion rate of
/// starters of the same age band, sex, IMD quintile and number of long-term
/// conditions; a provider's expected completers E are the sum over its
/// starters, and its ratio observed ÷ expected comes with Byar's 95%
/// interval (as PHEindicatormethods does for standardised ratios), so that a
/// provider serving people less likely to complete is not marked down for it.
/// Starters on courses still in progress are left out.
pub fn case_mix_adjusted(
    refs: &LazyFrame,
    dims: &super::referrals::Dimensions,
) -> crate::error::MetricsResult<Table> {
    use super::referrals::*;
    let ltc = when(col(LTC_COUNT).is_null())
        .then(lit("Not known"))
        .when(col(LTC_COUNT).cast(DataType::Int32).gt_eq(lit(3)))
        .then(lit("3+"))
        .otherwise(col(LTC_COUNT).cast(DataType::Int32).cast(DataType::String));
    let stratum = concat_str(
        [
            col(AGE_GROUP),
            col(crate::schema::SEX),
            col(IMD_QUINTILE),
            ltc,
        ],
        "|",
        false,
    );
    let starters = refs
        .clone()
        .filter(col(STARTER).and(col(IN_PROGRESS).not()))
        .with_column(stratum.alias("_stratum"))
        .with_column(
            col(COMPLETER)
                .cast(DataType::Float64)
                .mean()
                .over([col("_stratum")])?
                .alias("_expected"),
        );
    let df = starters
        .group_by([col(PROVIDER_ID)])
        .agg({
            let [s, c] = super::referrals::starters_and_completers();
            [s, c, col("_expected").sum().alias("expected_x")]
        })
        .sort([PROVIDER_ID], SortMultipleOptions::default())
        .collect()?;
    let t = super::provider_table(
        "providers_adjusted",
        "Completion by provider adjusted for case mix (observed ÷ expected completers)",
        df,
        dims,
    )?
    .counts(&["starters"])
    .count_within("completers", "starters")
    .hidden(&["expected_x"])
    .base("starters")
    // The expected count itself is not published: summed over providers it
    // is the exact number of completers. The ratio and its interval are shown
    // to one decimal place, from the controlled observed count.
    .statistic(
        "ratio",
        &["completers", "expected_x"],
        super::table::formulas::ratio,
        &["starters"],
        1,
    )
    .statistic(
        "ratio_low",
        &["completers", "expected_x"],
        byar_low,
        &["starters"],
        1,
    )
    .statistic(
        "ratio_high",
        &["completers", "expected_x"],
        byar_high,
        &["starters"],
        1,
    );
    Ok(t)
}

fn byar_low(x: &[Option<f64>]) -> Option<f64> {
    let (o, e) = (x[0]?, x[1]?);
    (e > 0.0).then(|| stats::byar(o, 0.95).map(|b| b.0.max(0.0) / e))?
}

fn byar_high(x: &[Option<f64>]) -> Option<f64> {
    let (o, e) = (x[0]?, x[1]?);
    (e > 0.0).then(|| stats::byar(o, 0.95).map(|b| b.1 / e))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byar_ratio_hand_worked() {
        // 65 observed, 50 expected: ratio 1.3; Byar 95% limits for 65 are
        // 50.163 and 82.849 (PHEindicatormethods), so 1.003 to 1.657.
        let lo = byar_low(&[Some(65.0), Some(50.0)]).unwrap();
        let hi = byar_high(&[Some(65.0), Some(50.0)]).unwrap();
        assert!((lo - 50.163187710459454 / 50.0).abs() < 1e-6, "{lo}");
        assert!((hi - 82.84913854593984 / 50.0).abs() < 1e-6, "{hi}");
    }
}
