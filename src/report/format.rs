//! How a figure is shown to a reader (HTML, XLSX): by what its column holds.

use crate::disclosure::SUPPRESSED;
use crate::metrics::summary::thousands;
use crate::metrics::Table;

/// What a column holds, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Percent,
    Money,
    /// A count of people (disclosure-controlled).
    Count,
    /// Another whole number (sessions, courses, levels).
    Integer,
    Decimal,
    /// A calendar year: a number, written 2010 (not 2,010).
    Year,
    Text,
}

pub fn kind(t: &Table, column: &str) -> Kind {
    let dtype = match t.df.column(column) {
        Ok(c) => c.dtype().clone(),
        Err(_) => return Kind::Text,
    };
    if t.counts.iter().any(|c| c == column) {
        return Kind::Count;
    }
    // A column the metrics declared as money is shown as money.
    if matches!(t.kind(column), Some(crate::metrics::table::Kind::Money)) {
        return Kind::Money;
    }
    // A year is a number, shown without a thousands separator.
    if column == "year" {
        return Kind::Year;
    }
    let c = column;
    let is_rate_table = matches!(t.name.as_str(), "funnel_limits");
    if c == "rate"
        || c.starts_with("pct_")
        || c.starts_with("funnel_lower")
        || c.starts_with("funnel_upper")
        || c == "overall_rate"
        || ((c == "ci_low" || c == "ci_high") && t.column_names().iter().any(|n| n == "rate"))
        || (is_rate_table && c != "denominator")
        || c.starts_with("uptake")
        || c.ends_with("_share")
        || c.ends_with("completeness")
        || matches!(c, "share" | "linkage" | "reject_rate" | "pam_capture")
        || (t.name == "year_on_year" && c.starts_with("change"))
        || (t.name == "contract" && c == "delivered_share")
    {
        return Kind::Percent;
    }
    if c.contains("cost")
        || c.starts_with("per_")
        || c.starts_with("savings")
        || c.starts_with("total")
        || c.starts_with("benchmark")
        || c == "amount"
        || c == "net_cost"
        || (c.starts_with("value_") && t.name != "savings")
        || c == "value_per_starter"
    {
        return Kind::Money;
    }
    if dtype.is_integer() {
        return Kind::Integer;
    }
    if dtype.is_float() {
        return Kind::Decimal;
    }
    Kind::Text
}

/// A cell for a reader: `[c]` when suppressed, else formatted by kind.
pub fn display(t: &Table, row: usize, column: &str) -> String {
    if t.is_suppressed(row, column) {
        return SUPPRESSED.into();
    }
    match kind(t, column) {
        Kind::Text => t.text(row, column),
        k => match t.f64(row, column) {
            None => "–".into(),
            Some(x) if !x.is_finite() => "–".into(),
            Some(x) => match k {
                Kind::Percent => format!("{}%", thousands(x * 100.0, 1)),
                // Money to the pound: a £75 manual is £75, not £75.02.
                Kind::Money => {
                    let s = thousands(x.abs(), 0);
                    if x < 0.0 {
                        format!("−£{s}")
                    } else {
                        format!("£{s}")
                    }
                }
                Kind::Count | Kind::Integer => thousands(x, 0),
                Kind::Year => format!("{x:.0}"),
                _ => thousands(x, decimal_places(t, column, x)),
            },
        },
    }
}

/// Places a decimal is shown to: 2 (1 from 100 up), or fewer where the
/// column is a statistic declared to fewer (a PAM mean to 1 place is 52.9,
/// not 52.90).
fn decimal_places(t: &Table, column: &str, x: f64) -> usize {
    let usual = if x.abs() >= 100.0 { 1 } else { 2 };
    match t.kind(column) {
        Some(crate::metrics::table::Kind::Derived(d)) => {
            d.decimals.map_or(usual, |dp| usual.min(dp.max(0) as usize))
        }
        _ => usual,
    }
}

/// A headline number: `[c]` when suppressed, – when missing.
pub fn headline(t: Option<&Table>, column: &str) -> String {
    match t {
        Some(t) if t.height() > 0 => display(t, 0, column),
        _ => "–".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statistic_is_shown_to_the_places_it_is_published_to() {
        let df = polars::prelude::df!("n" => [12i64], "m_x" => [52.9], "d_x" => [1.25]).unwrap();
        let t = Table::new("t", "T", df)
            .counts(&["n"])
            .hidden(&["m_x", "d_x"])
            .statistic(
                "m",
                &["m_x"],
                crate::metrics::table::formulas::identity,
                &["n"],
                1,
            )
            .statistic(
                "d",
                &["d_x"],
                crate::metrics::table::formulas::identity,
                &["n"],
                2,
            );
        assert_eq!(display(&t, 0, "m_x"), "52.90");
        assert_eq!(decimal_places(&t, "m", 52.9), 1);
        assert_eq!(decimal_places(&t, "d", 1.25), 2);
        assert_eq!(decimal_places(&t, "m_x", 1.25), 2);
    }

    #[test]
    fn a_headline_is_a_dash_when_there_is_no_figure() {
        assert_eq!(headline(None, "rate"), "–");
        let empty = Table::new("t", "T", polars::prelude::DataFrame::empty());
        assert_eq!(headline(Some(&empty), "rate"), "–");
    }
}
