//! Disclosure control (SPEC 5), applied to every table before anything
//! leaves the warehouse: a count of persons from 1 to 7 is suppressed (`[c]`),
//! other counts are rounded to the nearest 5 and zero stays zero; a rate,
//! mean or interval whose denominator is suppressed is suppressed with it.
//! Rates are computed from the exact counts before rounding.

use polars::prelude::*;

use crate::metrics::Table;

/// The smallest count shown.
pub const MIN_SHOWN: i64 = 8;
/// Counts are rounded to a multiple of this.
pub const ROUND_TO: i64 = 5;

/// A published count: None when suppressed.
pub fn publish_count(x: i64) -> Option<i64> {
    match x {
        0 => Some(0),
        x if x.abs() < MIN_SHOWN => None,
        x => Some(((x as f64 / ROUND_TO as f64).round() as i64) * ROUND_TO),
    }
}

/// Applies disclosure control to one table in place.
pub fn apply(t: &mut Table) -> PolarsResult<()> {
    let names = t.column_names();
    for c in t.counts.clone() {
        if !names.contains(&c) {
            continue;
        }
        let values = t.df.column(&c)?.cast(&DataType::Int64)?;
        let values = values.i64()?;
        let mut out = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            match v.map(publish_count) {
                Some(None) => {
                    t.suppressed.insert((i, c.clone()));
                    out.push(None);
                }
                Some(Some(x)) => out.push(Some(x)),
                None => out.push(None),
            }
        }
        t.df.with_column(Column::new(c.as_str().into(), out))?;
    }
    for (c, den) in t.derived.clone() {
        if !names.contains(&c) {
            continue;
        }
        let rows: Vec<usize> = (0..t.height())
            .filter(|&i| t.is_suppressed(i, &den))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let mask: Vec<bool> = (0..t.height()).map(|i| rows.contains(&i)).collect();
        let mask = BooleanChunked::from_slice("m".into(), &mask);
        let column = t.df.column(&c)?.clone();
        let nulls = Column::full_null(c.as_str().into(), t.height(), column.dtype());
        let masked = nulls.zip_with(&mask, &column)?;
        t.df.with_column(masked)?;
        for i in rows {
            t.suppressed.insert((i, c.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_suppressed_or_rounded() {
        assert_eq!(publish_count(0), Some(0));
        for x in 1..=7 {
            assert_eq!(publish_count(x), None, "{x}");
        }
        assert_eq!(publish_count(8), Some(10));
        assert_eq!(publish_count(12), Some(10));
        assert_eq!(publish_count(13), Some(15));
        assert_eq!(publish_count(600), Some(600));
    }

    #[test]
    fn rates_follow_their_denominator() {
        let df = df!("starters" => [5i64, 40], "completers" => [3i64, 30], "rate" => [0.6, 0.75])
            .unwrap();
        let mut t = Table::new("t", "t", df)
            .counts(&["starters", "completers"])
            .derived("starters", &["rate"]);
        apply(&mut t).unwrap();
        assert!(t.is_suppressed(0, "starters"));
        assert!(t.is_suppressed(0, "rate"));
        assert_eq!(t.f64(0, "rate"), None);
        assert_eq!(t.f64(1, "rate"), Some(0.75));
        assert_eq!(t.f64(1, "starters"), Some(40.0));
        assert_eq!(t.f64(1, "completers"), Some(30.0));
    }
}
