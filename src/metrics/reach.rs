//! Reach against the target population (commissioning guide Step 1): where a
//! pipeline names a CSV of the population the service is for (e.g. people on
//! long-term condition registers) by dimension and group, each group's
//! starters per 1,000 of that population and its representation ratio (its
//! share of starters ÷ its share of the population; 1 = represented in
//! proportion). Starters are the finalized (controlled) counts.

use std::path::Path;

use crate::error::{MetricsError, MetricsResult};
use polars::prelude::*;

use super::referrals::Dimensions;
use super::table::Table;

/// A row of the target population file: dimension, group, population.
pub type Row = (String, String, f64);

/// The (dimension, group, population) rows of the target population file,
/// each with its line; [`checked`] is how they are read.
fn read_lines(path: &Path) -> MetricsResult<Vec<(usize, Row)>> {
    let fail = |line: Option<usize>, message: String| MetricsError::TargetPopulation {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut r = csv::Reader::from_path(path)
        .map_err(|e| fail(None, format!("cannot read the target population file: {e}")))?;
    let h = r
        .headers()
        .map_err(|e| fail(Some(1), format!("cannot read the header: {e}")))?
        .clone();
    let col = |name: &str| {
        h.iter()
            .position(|x| x.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                fail(
                    Some(1),
                    format!("no column `{name}` (expected columns dimension, group, population)"),
                )
            })
    };
    let (d, g, p) = (col("dimension")?, col("group")?, col("population")?);
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| {
            fail(
                Some(i + 2),
                crate::ingest::nhs::mask_text(&e.to_string()).into_owned(),
            )
        })?;
        let pop = match rec.get(p).unwrap_or("").trim().replace(',', "").parse::<u64>() {
            Ok(x) if x <= MAX_POPULATION => x as f64,
            _ => {
                return Err(fail(
                    Some(i + 2),
                    format!(
                        "field population: \"{}\" is not a number of people (a whole number up to 100,000,000)",
                        crate::ingest::nhs::mask_text(rec.get(p).unwrap_or(""))
                    ),
                ))
            }
        };
        let line = rec.position().map_or(i + 2, |p| p.line() as usize);
        out.push((
            line,
            (
                rec.get(d).unwrap_or("").trim().to_string(),
                rec.get(g).unwrap_or("").trim().to_string(),
                pop,
            ),
        ));
    }
    Ok(out)
}

/// The largest population a target population file may give a group: more
/// than England's, and fewer digits than an NHS number, which a count of
/// people must never be mistaken for (nor shown as).
const MAX_POPULATION: u64 = 100_000_000;

pub fn table(rows: &[Row], tables: &[Table]) -> MetricsResult<Table> {
    let starters = |dim: &str, group: &str| -> Option<f64> {
        let t = tables
            .iter()
            .find(|t| t.name == format!("equity_by_{dim}"))?;
        let i = t.find("group", group)?;
        t.f64(i, "starters")
    };
    let totals = |dim: &str| -> (f64, f64) {
        rows.iter()
            .filter(|r| r.0 == dim)
            .fold((0.0, 0.0), |(s, p), r| {
                (s + starters(dim, &r.1).unwrap_or(0.0), p + r.2)
            })
    };
    let (mut dims, mut groups, mut pops, mut st, mut per_k, mut ratio) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (dim, group, pop) in rows {
        let s = starters(dim, group);
        let (ts, tp) = totals(dim);
        dims.push(dim.clone());
        groups.push(group.clone());
        pops.push(*pop as i64);
        st.push(s);
        per_k.push(s.filter(|_| *pop > 0.0).map(|s| s / pop * 1000.0));
        ratio.push(
            s.and_then(|s| (ts > 0.0 && tp > 0.0 && *pop > 0.0).then(|| (s / ts) / (pop / tp))),
        );
    }
    Ok(Table::new(
        "reach",
        "Reach against the target population",
        df!("group" => groups, "dimension" => dims, "population" => pops, "starters" => st,
            "starters_per_1000" => per_k, "representation_ratio" => ratio)?,
    )
    .labels(&["group", "dimension"])
    .exact(&[
        "population",
        "starters",
        "starters_per_1000",
        "representation_ratio",
    ]))
}

/// Reach against the target population file at `path`, as published: a
/// group's starters are hidden here where its equity table hides them.
pub fn published_table(path: &Path, dims: &Dimensions, tables: &[Table]) -> MetricsResult<Table> {
    let mut t = table(&checked(path, dims)?, tables)?;
    for i in 0..t.height() {
        let (d, g) = (t.text(i, "dimension"), t.text(i, "group"));
        let hidden = tables
            .iter()
            .find(|x| x.name == format!("equity_by_{d}"))
            .and_then(|x| x.find("group", &g).map(|r| x.is_suppressed(r, "starters")))
            .unwrap_or(false);
        if hidden {
            t.suppressed.insert((i, "starters".into()));
        }
    }
    t.counts = vec!["starters".into()];
    Ok(t)
}

/// The file's rows, each checked ([`check_labels`]) and each (dimension,
/// group) once: what `validate` reads before any work and the report
/// publishes.
pub fn checked(path: &Path, dims: &Dimensions) -> MetricsResult<Vec<Row>> {
    let rows = read_lines(path)?;
    let mut first: std::collections::HashMap<(&str, &str), usize> = Default::default();
    for (line, (dimension, group, _)) in &rows {
        check_labels(path, *line, dimension, group, dims)?;
        if let Some(before) = first.insert((dimension, group), *line) {
            return Err(MetricsError::TargetPopulation {
                path: path.to_path_buf(),
                line: Some(*line),
                message: format!(
                    "{dimension} \"{group}\" is given again (first on line {before}): give each group once"
                ),
            });
        }
    }
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// A row's labels are written to the pack: the dimension must be one of the
/// equity dimensions ([`EQUITY`](super::activity::EQUITY)) and the group one
/// of its declared groups (as its equity table lists them), so no label may
/// hold an NHS number (refused at its line, the value masked in the message).
fn check_labels(
    path: &Path,
    line: usize,
    dimension: &str,
    group: &str,
    dims: &Dimensions,
) -> MetricsResult<()> {
    let fail = |message: String| MetricsError::TargetPopulation {
        path: path.to_path_buf(),
        line: Some(line),
        message,
    };
    let masked = |v: &str| crate::ingest::nhs::mask_text(v).into_owned();
    for (field, v) in [("dimension", dimension), ("group", group)] {
        if masked(v) != v {
            return Err(fail(format!(
                "field {field}: \"{}\" holds an NHS number; this file's labels are published",
                masked(v)
            )));
        }
    }
    let equity = super::activity::EQUITY;
    let Some((_, column, _)) = equity.iter().find(|e| e.0 == dimension) else {
        let names: Vec<&str> = equity.iter().map(|e| e.0).collect();
        return Err(fail(format!(
            "field dimension: \"{dimension}\" is not one of the pack's equity dimensions ({})",
            names.join(", ")
        )));
    };
    match dims.values(column) {
        Some(groups) if !groups.iter().any(|g| g == group) => Err(fail(format!(
            "field group: \"{group}\" is not a group of {dimension} ({})",
            groups.join(", ")
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_and_representation_hand_worked() {
        // 30 and 10 starters from populations of 1,000 and 3,000, and a third
        // group of 500 with no starters row (no one, or hidden): 30 and 3.33
        // per 1,000; shares of starters 30/40 and 10/40 against shares of the
        // whole population 1000/4500 and 3000/4500 give ratios 3.375 and
        // 0.375. The third group has no figures of its own.
        let equity = Table::new(
            "equity_by_imd_quintile",
            "",
            df!("group" => ["1", "2"], "starters" => [30i64, 10]).unwrap(),
        );
        let rows = vec![
            ("imd_quintile".to_string(), "1".to_string(), 1000.0),
            ("imd_quintile".to_string(), "2".to_string(), 3000.0),
            ("imd_quintile".to_string(), "3".to_string(), 500.0),
        ];
        let t = table(&rows, &[equity]).unwrap();
        let f = |i: usize, c: &str| t.f64(i, c);
        assert_eq!(f(0, "starters_per_1000"), Some(30.0));
        assert!((f(1, "starters_per_1000").unwrap() - 10.0 / 3.0).abs() < 1e-12);
        assert!((f(0, "representation_ratio").unwrap() - 3.375).abs() < 1e-12);
        assert!((f(1, "representation_ratio").unwrap() - 0.375).abs() < 1e-12);
        assert_eq!(f(2, "starters"), None);
        assert_eq!(f(2, "representation_ratio"), None);
    }

    #[test]
    fn a_label_holding_an_nhs_number_an_unknown_label_or_a_repeated_group_is_refused_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("population.csv");
        let equity = Table::new(
            "equity_by_sex",
            "",
            df!("group" => ["female"], "starters" => [30i64]).unwrap(),
        );
        let run = |body: &str| {
            std::fs::write(&path, format!("dimension,group,population\n{body}")).unwrap();
            let dims = Dimensions {
                providers: Vec::new(),
                languages: Vec::new(),
                age_bands: Vec::new(),
            };
            published_table(&path, &dims, std::slice::from_ref(&equity)).map(|t| t.height())
        };
        assert_eq!(run("sex,female,100\nsex,male,90\n").unwrap(), 2);
        for (body, line, field) in [
            ("sex,female,100\nsex,943 476 5919,90\n", 3, "field group"),
            ("NHS 9434765919,female,100\n", 2, "field dimension"),
            ("sex,female,100\nimd,1,5\n", 3, "field dimension"),
            (
                "sex,female,100\nsex,robot,5\n",
                3,
                "field group: \"robot\" is not a group of sex",
            ),
            (
                "sex,female,100\nsex,female,5\n",
                3,
                "given again (first on line 2)",
            ),
            // A count of people is a whole number no larger than a country's:
            // never ten digits that could be an NHS number (shown masked).
            (
                "sex,female,4137215103\n",
                2,
                "field population: \"[NHS number removed]\" is not a number of people",
            ),
            ("sex,female,5200.5\n", 2, "is not a number of people"),
        ] {
            let e = run(body).unwrap_err();
            let text = crate::error::chain_text(&e);
            assert!(
                matches!(e, MetricsError::TargetPopulation { line: Some(l), .. } if l == line),
                "{text}"
            );
            assert!(text.contains(field), "{text}");
            assert!(
                !text.contains("9434765919") && !text.contains("943 476 5919"),
                "{text}"
            );
        }
    }
}
