//! Disclosure control (SPEC 5), applied in one place to every result table
//! before any writer (CSV, XLSX, HTML, charts, metrics.json) sees it.
//!
//! The rule, by construction: every figure in a published pack is computed
//! from the published (controlled) counts, or is suppressed.
//! - a count of 1–7 is `[c]`; other counts, totals included, are rounded to
//!   the nearest 5; zero stays zero, except inside a suppressed group;
//! - a count that is a subset of a suppressed count (completers of `[c]`
//!   starters) is suppressed, zero included; when a row's group size is
//!   suppressed, every figure of the row is;
//! - rates, shares and their Wilson intervals are computed from the rounded
//!   numerator and denominator; means of counts are the rounded total ÷ the
//!   rounded n; money per unit is money ÷ the rounded units;
//! - means and individual-level statistics (t intervals, differences in
//!   differences) need every n to be at least 10 after rounding and are
//!   published to 2 decimal places.
//!
//! Why no further (secondary) suppression: because totals are rounded
//! independently of their parts, a hidden cell solved by differencing (total
//! minus the other published cells) lies in a range at least 8 wide (each
//! rounded count is ±2); with its 1–7 that leaves two or more possible
//! values (as few as two, 6 or 7, when every table of a pack is combined),
//! never one; `tests/test_disclosure.rs` checks this on the sample pack.
//! Fixed rounding does not protect against two packs whose inputs differ by
//! one person where a count crosses a rounding edge (README). This follows the NHS Digital HES Analysis Guide (suppress
//! 1–7, round to 5) and OpenSAFELY's practice (redact ≤ 7, round to 5,
//! every statistic derived from redacted or rounded counts).
//!
//! The internal pass runs the same formulas on exact counts, so a published
//! and an internal pack differ only by control.

use polars::prelude::*;

use crate::metrics::table::{Derived, Kind, Table};

/// The smallest count shown.
pub const MIN_SHOWN: i64 = 8;
/// Counts are rounded to a multiple of this.
pub const ROUND_TO: i64 = 5;
/// The smallest n for a mean or an individual-level statistic in a published pack.
pub const MIN_N_FOR_MEANS: f64 = 10.0;
/// Shown in place of a suppressed figure.
pub const SUPPRESSED: &str = "[c]";

/// `part` ÷ `whole` as a published pack may state it: of the controlled
/// counts; None where either is suppressed or the whole is 0.
pub fn published_share(part: i64, whole: i64) -> Option<f64> {
    let (part, whole) = publish_count(part).zip(publish_count(whole))?;
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A published count: None when suppressed.
pub fn publish_count(x: i64) -> Option<i64> {
    match x {
        0 => Some(0),
        x if x.abs() < MIN_SHOWN => None,
        x => Some(((x as f64 / ROUND_TO as f64).round() as i64) * ROUND_TO),
    }
}

/// A count as a sentence in the pack says it: exact in an internal pack; in
/// a published one the controlled count, or "a few" for 1–7.
pub fn count_in_words(x: i64, published: bool) -> String {
    match (published, publish_count(x)) {
        (false, _) => x.to_string(),
        (true, Some(c)) => c.to_string(),
        (true, None) => "a few".into(),
    }
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Values of one column as f64 (None for null).
fn values(df: &DataFrame, c: &str) -> PolarsResult<Vec<Option<f64>>> {
    let col = df.column(c)?.cast(&DataType::Float64)?;
    Ok(col.f64()?.iter().collect())
}

/// Applies control (`published`) or runs the formulas on exact counts
/// (internal), then drops the hidden columns. Refuses a table with a column
/// of no declared kind: nothing reaches a writer undeclared.
pub fn finalize(t: &mut Table, published: bool) -> PolarsResult<()> {
    if t.finalized {
        return Ok(());
    }
    for c in t.column_names() {
        if t.kind(&c).is_none() {
            return Err(PolarsError::ComputeError(
                format!("table {} column {c} has no declared kind", t.name).into(),
            ));
        }
    }
    control_counts(t, published)?;
    if published {
        hide_rows_of_hidden_groups(t)?;
        drop_hidden_rows(t)?;
    }
    // Derived figures, in declaration order, from the values above.
    for (c, kind) in t.kinds.clone() {
        if let Kind::Derived(d) = kind {
            derive(t, &c, &d, published)?;
        }
    }
    if published {
        for (c, kind) in t.kinds.clone() {
            if let Kind::ExactOf { n } = kind {
                hide_facts_of_few(t, &c, &n)?;
            }
        }
    }
    // Means and statistics are rounded for print only after every formula has
    // used the unrounded controlled values.
    if published {
        for (c, kind) in t.kinds.clone() {
            if let Kind::Derived(Derived {
                decimals: Some(dp), ..
            }) = kind
            {
                let v: Vec<Option<f64>> = values(&t.df, &c)?
                    .into_iter()
                    .map(|x| x.map(|x| round_to(x, dp)))
                    .collect();
                t.df.with_column(Column::new(c.as_str().into(), v))?;
            }
        }
    }
    let keep: Vec<String> = t
        .kinds
        .iter()
        .filter(|(_, k)| !matches!(k, Kind::Hidden | Kind::HiddenCount { .. }))
        .map(|(c, _)| c.clone())
        .collect();
    t.df = t.df.select(keep)?;
    t.finalized = true;
    Ok(())
}

/// Counts, in declaration order (a parent is declared before its subsets):
/// in a published pack, 1–7 (or 0–7 where a zero is hidden too) and any
/// count inside a hidden parent become hidden, the rest are rounded.
fn control_counts(t: &mut Table, published: bool) -> PolarsResult<()> {
    let h = t.height();
    // Counts first, in declaration order (a parent is declared before its subsets).
    for (c, kind) in t.kinds.clone() {
        let (within, zero_hidden) = match &kind {
            Kind::Count {
                within,
                zero_hidden,
            } => (within.clone(), *zero_hidden),
            Kind::HiddenCount {
                within,
                zero_hidden,
            } => (within.clone(), *zero_hidden),
            _ => continue,
        };
        let v = values(&t.df, &c)?;
        let mut out: Vec<Option<i64>> = Vec::with_capacity(h);
        for (i, x) in v.iter().enumerate() {
            let parent_hidden = within.as_ref().is_some_and(|p| t.is_suppressed(i, p));
            let x = x.map(|x| x.round() as i64);
            let shown = match x {
                None => None,
                Some(_) if published && parent_hidden => None,
                Some(x) if published && zero_hidden && x < MIN_SHOWN => None,
                Some(x) if published => publish_count(x),
                Some(x) => Some(x),
            };
            if x.is_some() && shown.is_none() {
                t.suppressed.insert((i, c.clone()));
            }
            out.push(shown);
        }
        t.df.with_column(Column::new(c.as_str().into(), out))?;
    }
    Ok(())
}

/// A group with no one (where every declared group is listed) or a hidden
/// group size hides every count of its row.
fn hide_rows_of_hidden_groups(t: &mut Table) -> PolarsResult<()> {
    let h = t.height();
    if let Some(base) = t.base.clone() {
        if t.empty_group_hidden {
            let v = values(&t.df, &base)?;
            for (i, x) in v.iter().enumerate() {
                if *x == Some(0.0) {
                    t.suppressed.insert((i, base.clone()));
                }
            }
        }
        for i in 0..h {
            if t.is_suppressed(i, &base) {
                for (c, kind) in t.kinds.clone() {
                    if matches!(kind, Kind::Count { .. } | Kind::HiddenCount { .. }) && c != base {
                        t.suppressed.insert((i, c.clone()));
                    }
                }
            }
        }
        for (c, kind) in t.kinds.clone() {
            if matches!(kind, Kind::Count { .. } | Kind::HiddenCount { .. }) {
                null_suppressed(t, &c)?;
            }
        }
    }
    Ok(())
}

/// Leaves out the rows whose `drop_if_hidden` counts are all hidden (the
/// rest keep their suppressed cells, renumbered).
fn drop_hidden_rows(t: &mut Table) -> PolarsResult<()> {
    if t.drop_if_hidden.is_empty() {
        return Ok(());
    }
    let keep: Vec<bool> = (0..t.height())
        .map(|i| t.drop_if_hidden.iter().any(|c| !t.is_suppressed(i, c)))
        .collect();
    let mut new_index = Vec::with_capacity(keep.len());
    let mut next = 0;
    for k in &keep {
        new_index.push(next);
        next += usize::from(*k);
    }
    t.suppressed = std::mem::take(&mut t.suppressed)
        .into_iter()
        .filter(|(i, _)| keep[*i])
        .map(|(i, c)| (new_index[i], c))
        .collect();
    t.df =
        t.df.filter(&BooleanChunked::from_slice("keep".into(), &keep))?;
    Ok(())
}

/// Hides an exact fact about the people of counts `n` where any is hidden
/// or under 10 after rounding (as a mean would be).
fn hide_facts_of_few(t: &mut Table, c: &str, n: &[String]) -> PolarsResult<()> {
    let ns: Vec<Vec<Option<f64>>> = n
        .iter()
        .map(|x| values(&t.df, x))
        .collect::<PolarsResult<_>>()?;
    for i in 0..t.height() {
        let hidden = n.iter().any(|x| t.is_suppressed(i, x))
            || t.base.as_ref().is_some_and(|b| t.is_suppressed(i, b))
            || ns.iter().any(|v| v[i].is_none_or(|v| v < MIN_N_FOR_MEANS));
        if hidden {
            t.suppressed.insert((i, c.to_string()));
        }
    }
    null_suppressed(t, c)
}

fn null_suppressed(t: &mut Table, c: &str) -> PolarsResult<()> {
    let col = t.df.column(c)?.clone();
    let mask: Vec<bool> = (0..t.height()).map(|i| t.is_suppressed(i, c)).collect();
    let mask = BooleanChunked::from_slice("m".into(), &mask);
    let nulls = Column::full_null(c.into(), t.height(), col.dtype());
    t.df.with_column(nulls.zip_with(&mask, &col)?)?;
    Ok(())
}

fn derive(t: &mut Table, c: &str, d: &Derived, published: bool) -> PolarsResult<()> {
    let h = t.height();
    let inputs: Vec<Vec<Option<f64>>> = d
        .inputs
        .iter()
        .map(|i| values(&t.df, i))
        .collect::<PolarsResult<_>>()?;
    let ns: Vec<Vec<Option<f64>>> =
        d.n.iter()
            .map(|i| values(&t.df, i))
            .collect::<PolarsResult<_>>()?;
    let mut out = Vec::with_capacity(h);
    for i in 0..h {
        let hidden_input = d.inputs.iter().chain(&d.n).any(|x| t.is_suppressed(i, x));
        let row_hidden = t.base.as_ref().is_some_and(|b| t.is_suppressed(i, b));
        let too_few =
            published && d.min_n && ns.iter().any(|n| n[i].is_some_and(|n| n < MIN_N_FOR_MEANS));
        if published && (hidden_input || row_hidden || too_few) {
            t.suppressed.insert((i, c.to_string()));
            out.push(None);
            continue;
        }
        let x: Vec<Option<f64>> = inputs.iter().map(|v| v[i]).collect();
        out.push((d.f)(&x).filter(|v| v.is_finite()));
    }
    t.df.with_column(Column::new(c.into(), out))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_share_is_of_the_controlled_counts() {
        // 61 of 88 is 60 of 90; a part of 1-7 or a whole of none gives none.
        assert_eq!(published_share(61, 88), Some(60.0 / 90.0));
        assert_eq!(published_share(0, 20), Some(0.0));
        assert_eq!(published_share(3, 40), None);
        assert_eq!(published_share(0, 0), None);
    }

    #[test]
    fn counts_in_sentences_are_controlled_when_published() {
        assert_eq!(count_in_words(3, true), "a few");
        assert_eq!(count_in_words(13, true), "15");
        assert_eq!(count_in_words(0, true), "0");
        assert_eq!(count_in_words(13, false), "13");
    }

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

    fn completion(starters: [i64; 3], completers: [i64; 3]) -> Table {
        let df =
            df!("group" => ["a", "b", "c"], "starters" => starters, "completers" => completers)
                .unwrap();
        Table::new("t", "t", df)
            .labels(&["group"])
            .counts(&["starters"])
            .count_within("completers", "starters")
            .base("starters")
            .rate(["rate", "ci_low", "ci_high"], "completers", "starters")
    }

    #[test]
    fn rates_come_from_the_rounded_counts() {
        // 43 of 57 → 45 of 55: the rate is 45/55, not 43/57.
        let mut t = completion([5, 57, 40], [0, 43, 0]);
        finalize(&mut t, true).unwrap();
        assert_eq!(t.f64(1, "starters"), Some(55.0));
        assert_eq!(t.f64(1, "completers"), Some(45.0));
        assert!((t.f64(1, "rate").unwrap() - 45.0 / 55.0).abs() < 1e-12);
        let w = crate::stats::wilson(45.0, 55.0, 0.95).unwrap();
        assert!((t.f64(1, "ci_low").unwrap() - w.low).abs() < 1e-12);
        // A suppressed group hides its zero completers too; a shown group keeps its zero.
        assert!(t.is_suppressed(0, "starters") && t.is_suppressed(0, "completers"));
        assert!(t.is_suppressed(0, "rate"));
        assert_eq!(t.f64(2, "completers"), Some(0.0));
        assert!(t.column_names().contains(&"rate".to_string()));
    }

    #[test]
    fn internal_keeps_exact_counts_and_the_same_formulas() {
        let mut t = completion([5, 57, 40], [0, 43, 0]);
        finalize(&mut t, false).unwrap();
        assert_eq!(t.f64(0, "starters"), Some(5.0));
        assert!((t.f64(1, "rate").unwrap() - 43.0 / 57.0).abs() < 1e-12);
        assert!(t.suppressed.is_empty());
    }

    #[test]
    fn means_need_ten_and_come_from_rounded_totals() {
        // 9 persons → 10 after rounding: shown; 23 events → 25; mean 25/10 = 2.5.
        let df =
            df!("n" => [9i64, 12, 7], "events" => [23i64, 3, 2], "sd" => [1.0, 1.0, 1.0]).unwrap();
        let mut t = Table::new("m", "m", df)
            .counts(&["n"])
            .hidden_counts(&["events"])
            .hidden(&["sd"])
            .mean_of("mean", "events", "n");
        finalize(&mut t, true).unwrap();
        assert_eq!(t.f64(0, "mean"), Some(2.5));
        // 3 events in a group of 12: the total is [c], so is the mean.
        assert_eq!(t.f64(1, "mean"), None);
        assert!(t.is_suppressed(2, "mean"));
        assert_eq!(t.column_names(), vec!["n", "mean"]);
    }

    #[test]
    fn an_undeclared_column_is_refused() {
        let df = df!("n" => [9i64], "x" => [1.0]).unwrap();
        let mut t = Table::new("u", "u", df).counts(&["n"]);
        assert!(finalize(&mut t, true).is_err());
    }

    #[test]
    fn a_row_whose_listed_counts_are_all_hidden_is_left_out() {
        // Levels: both hidden (3, 5); both hidden, one empty (0, 7); one shown
        // (0, 20); both shown (9, 12); one shown (30, 2).
        let df = df!(
            "level" => ["a", "b", "c", "d", "e"],
            "s" => [3i64, 0, 0, 9, 30],
            "c" => [5i64, 7, 20, 12, 2],
            "n" => [42i64, 42, 42, 42, 42],
            "m" => [39i64, 39, 39, 39, 39],
        )
        .unwrap();
        let table = || {
            Table::new("b", "b", df.clone())
                .labels(&["level"])
                .drop_if_hidden(&["s", "c"])
                .counts(&["n", "m"])
                .cross_count_within("s", "n")
                .cross_count_within("c", "m")
                .share("share_s", "s", "n")
        };
        let mut t = table();
        finalize(&mut t, true).unwrap();
        let levels = t.df.column("level").unwrap().str().unwrap().clone();
        let levels: Vec<Option<&str>> = levels.iter().collect();
        assert_eq!(levels, [Some("c"), Some("d"), Some("e")]);
        // The kept rows' hidden cells move with them.
        let hidden: Vec<(usize, &str)> =
            t.suppressed.iter().map(|(i, c)| (*i, c.as_str())).collect();
        assert_eq!(hidden, [(0, "s"), (0, "share_s"), (2, "c")]);
        assert_eq!(t.df.column("s").unwrap().i64().unwrap().get(1), Some(10));
        assert_eq!(
            t.df.column("share_s").unwrap().f64().unwrap().get(1),
            Some(10.0 / 40.0)
        );
        // An internal pack keeps every row.
        let mut t = table();
        finalize(&mut t, false).unwrap();
        assert_eq!(t.height(), 5);
    }

    #[test]
    fn a_fact_about_a_group_is_hidden_with_it_and_under_ten() {
        let df = df!(
            "g" => ["a", "b", "c", "d"],
            "n" => [5i64, 9, 12, 40],
            "same" => [true, true, true, false],
        )
        .unwrap();
        let table = || {
            Table::new("f", "f", df.clone())
                .labels(&["g"])
                .counts(&["n"])
                .exact_of(&["same"], &["n"])
        };
        let same = |published: bool| {
            let mut t = table();
            finalize(&mut t, published).unwrap();
            let v: Vec<Option<bool>> =
                t.df.column("same")
                    .unwrap()
                    .bool()
                    .unwrap()
                    .iter()
                    .collect();
            (v, t.is_suppressed(0, "same"), t.is_suppressed(1, "same"))
        };
        // 5 is [c]; 9 rounds to 10 and is shown; 12 to 10; 40 stays.
        assert_eq!(
            same(true),
            (vec![None, Some(true), Some(true), Some(false)], true, false)
        );
        let (internal, _, _) = same(false);
        assert_eq!(internal, [Some(true), Some(true), Some(true), Some(false)]);
    }
}
