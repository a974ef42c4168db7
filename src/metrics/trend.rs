//! Monthly starters and completers (by course start month, every month of
//! the period, zero where none) as XmR control charts (NHS England's Making
//! Data Count, as NHSRplotthedots draws them). The limits are computed from
//! the finalized monthly counts: in a published pack, the rounded counts,
//! with a suppressed month left as a gap.

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;

use super::referrals::*;
use super::table::{Kind, Table};
use crate::stats::xmr::{xmr, XmrOptions};

pub const NAME: &str = "trend_monthly";

/// Every month from the period's first to its last, as `yyyy-mm`.
pub fn months(period: (NaiveDate, NaiveDate)) -> Vec<String> {
    let mut out = Vec::new();
    let mut d = NaiveDate::from_ymd_opt(period.0.year(), period.0.month(), 1).expect("month");
    while d <= period.1 {
        out.push(d.format("%Y-%m").to_string());
        d = d
            .checked_add_months(chrono::Months::new(1))
            .expect("a month later");
    }
    out
}

/// The monthly counts (before control). Each month's referrals (the
/// group "Activity by month" counts) are kept, not written, as the group its
/// starters are counted within: a month with 1–7 referrals has its starters
/// hidden in a published pack even where none started, as its activity row
/// is; an exact 0 there would tell that none of them started.
pub fn monthly(
    refs: &LazyFrame,
    period: (NaiveDate, NaiveDate),
) -> crate::error::MetricsResult<Table> {
    let counted = refs.clone().group_by([col(MONTH)]).agg([
        rows_as(REFERRALS),
        count_where(col(STARTER), "starters"),
        count_where(col(COMPLETER), "completers"),
    ]);
    let all = df!(MONTH => months(period))?.lazy();
    let df = left_join(all, counted, MONTH)
        .with_columns([
            col(REFERRALS).fill_null(lit(0i64)),
            col("starters").fill_null(lit(0i64)),
            col("completers").fill_null(lit(0i64)),
        ])
        .sort([MONTH], SortMultipleOptions::default())
        .collect()?;
    Ok(
        Table::new(NAME, "Monthly starters and completers (XmR)", df)
            .labels(&[MONTH])
            .hidden_counts(&[REFERRALS])
            .count_within("starters", REFERRALS)
            .count_within("completers", "starters"),
    )
}

/// The month's referrals: a count the trend is controlled by, not shown.
const REFERRALS: &str = "referrals";

/// Adds the XmR mean, limits and special-cause labels computed from the
/// finalized monthly counts.
pub fn add_limits(tables: &mut [Table]) -> crate::error::MetricsResult<()> {
    let Some(t) = tables.iter_mut().find(|t| t.name == NAME) else {
        return Ok(());
    };
    let n = t.height();
    for name in ["starters", "completers"] {
        let values: Vec<Option<f64>> = (0..n).map(|i| t.f64(i, name)).collect();
        let x = xmr(&values, XmrOptions::default());
        let get = |f: &dyn Fn(&crate::stats::xmr::Xmr) -> f64| vec![x.as_ref().map(f); n];
        let flags: Vec<String> = match &x {
            Some(x) => x
                .points
                .iter()
                .map(|p| p.describe().unwrap_or_default())
                .collect(),
            None => vec![String::new(); n],
        };
        let cols = [
            (format!("{name}_mean"), get(&|x| x.mean)),
            (format!("{name}_lower_limit"), get(&|x| x.lower_limit)),
            (format!("{name}_upper_limit"), get(&|x| x.upper_limit)),
        ];
        for (c, v) in cols {
            t.df.with_column(Column::new(c.as_str().into(), v))?;
            t.kinds.push((c, Kind::Exact));
        }
        let c = format!("{name}_special_cause");
        t.df.with_column(Column::new(c.as_str().into(), flags))?;
        t.kinds.push((c, Kind::Label));
        if x.as_ref().is_some_and(|x| x.too_few_points) {
            t.title = format!("{} — fewer than 12 months: limits are provisional", t.title);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_month_is_listed_and_a_month_without_a_start_is_zero() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        // Period 15 Nov 2023 to 2 Feb 2024: four months; December has no start,
        // January two starters (one completer); a non-starter never counts.
        let refs = df!(
            MONTH => ["2023-11", "2024-01", "2024-01", "2024-02", "2023-12"],
            STARTER => [true, true, true, true, false],
            COMPLETER => [false, true, false, false, false],
        )
        .unwrap()
        .lazy();
        let t = monthly(&refs, (d(2023, 11, 15), d(2024, 2, 2))).unwrap();
        let months: Vec<String> = (0..t.height()).map(|i| t.text(i, MONTH)).collect();
        assert_eq!(months, ["2023-11", "2023-12", "2024-01", "2024-02"]);
        let col = |c: &str| -> Vec<Option<f64>> { (0..t.height()).map(|i| t.f64(i, c)).collect() };
        assert_eq!(
            col("starters"),
            [Some(1.0), Some(0.0), Some(2.0), Some(1.0)]
        );
        assert_eq!(
            col("completers"),
            [Some(0.0), Some(0.0), Some(1.0), Some(0.0)]
        );
    }

    #[test]
    fn a_month_of_few_referrals_hides_its_starters_even_when_none_started() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        // January: 3 referrals, none started (its activity row is [c]);
        // February: no one; March: 12 referrals, 9 starters, 8 completers.
        let mut month = vec!["2024-01"; 3];
        month.extend(["2024-03"; 12]);
        let starter: Vec<bool> = (0..15).map(|i| i >= 6).collect();
        let completer: Vec<bool> = (0..15).map(|i| i >= 7).collect();
        let refs = df!(MONTH => month, STARTER => starter, COMPLETER => completer)
            .unwrap()
            .lazy();
        let mut t = monthly(&refs, (d(2024, 1, 1), d(2024, 3, 31))).unwrap();
        crate::disclosure::finalize(&mut t, true).unwrap();
        let col = |c: &str| -> Vec<Option<f64>> { (0..t.height()).map(|i| t.f64(i, c)).collect() };
        assert_eq!(col("starters"), [None, Some(0.0), Some(10.0)]);
        assert_eq!(col("completers"), [None, Some(0.0), Some(10.0)]);
        assert!(t.is_suppressed(0, "starters") && t.is_suppressed(0, "completers"));
        // The referrals only control the table: they are not written.
        assert!(!t.column_names().contains(&REFERRALS.to_string()));
        // Only the month with no one is a month without a start.
        assert_eq!(
            crate::metrics::years::months_without_a_start(&[t]),
            ["2024-02"]
        );
    }
}
