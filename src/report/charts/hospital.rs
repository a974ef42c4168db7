//! Hospital charts: use before and after, the change per group, the
//! difference in differences and the matching balance.

use crate::metrics::Table;
use plotters::prelude::*;

use super::theme::*;
use crate::metrics::hospital::OUTCOMES;
// The palette, named over plotters' colours of the same names.
use super::theme::{BLUE, GREEN, GREY, ORANGE};

const GROUPS: [(&str, &str, RGBColor); 3] = [
    ("starters", "Starters", BLUE),
    ("completers", "Completers", GREEN),
    ("comparison", "Referred but did not start", ORANGE),
];

/// The three groups' legend, keyed by a square (bars) or a dot (points).
fn groups_legend<'a, DB: Backend + 'a>(
    chart: &mut ChartContext<'a, DB, Plane>,
    dots: bool,
    position: SeriesLabelPosition,
    size: u32,
) -> Done {
    for (_, label, c) in GROUPS {
        let key = chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label(label);
        if dots {
            key.legend(move |(x, y)| Circle::new((x + 8, y), 6, c.filled()));
        } else {
            key.legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()));
        }
    }
    legend(chart, position, size)
}

pub(super) fn hospital_pre_post<DB: Backend>(t: &Table, root: &Area<DB>, title: &str) -> Drawn {
    let shown = [
        ("emergency_admissions", "Emergency admissions"),
        ("ae_attendances", "A&E attendances"),
    ];
    let mut bars = Vec::new();
    for (oi, (o, _)) in shown.iter().enumerate() {
        for (gi, (g, _, _)) in GROUPS.iter().enumerate() {
            if let Some(i) = find_row(t, &[("group", g), ("outcome", o)]) {
                let x = oi as f64 * 4.0 + gi as f64;
                bars.push((x, t.f64(i, "mean_pre"), t.f64(i, "mean_post")));
            }
        }
    }
    let max = bars
        .iter()
        .flat_map(|b| [b.1, b.2])
        .flatten()
        .fold(0.0, f64::max);
    if max == 0.0 {
        return Ok(None);
    }
    let mut chart = frame(root, title, 60, 70)
        .build_cartesian_2d(-0.6f64..7.6f64, 0f64..nice_max(max * 1.15))?;
    let fmt = |x: &f64| {
        let k = (x / 4.0).floor() as usize;
        if (x - (k as f64 * 4.0 + 1.0)).abs() < 0.01 && k < 2 {
            shown[k].1.to_string()
        } else {
            String::new()
        }
    };
    categories(&mut chart, Axis::X, 9, &fmt)
        .y_desc("Mean per person in the year")
        .draw_at(16)?;
    for (x, pre, post) in &bars {
        let gi = (*x as usize) % 4;
        let c = GROUPS[gi.min(2)].2;
        if let Some(v) = pre {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x - 0.42, 0.0), (x - 0.02, *v)],
                c.mix(0.35).filled(),
            )))?;
        }
        if let Some(v) = post {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x + 0.02, 0.0), (x + 0.42, *v)],
                c.filled(),
            )))?;
        }
    }
    groups_legend(&mut chart, false, SeriesLabelPosition::UpperRight, 15)?;
    Ok(Some("Pale bar: the year before the index date; solid bar: the year after. The comparison group (referred but did not start): its fall shows regression to the mean, which a before/after change alone would credit to the programme.".into()))
}

pub(super) fn hospital_change<DB: Backend>(t: &Table, root: &Area<DB>, title: &str) -> Drawn {
    let mut rows = Vec::new();
    for (oi, (o, _)) in OUTCOMES.iter().enumerate() {
        for (gi, (g, _, c)) in GROUPS.iter().enumerate() {
            if let Some(i) = find_row(t, &[("group", g), ("outcome", o)]) {
                if let (Some(est), Some(lo), Some(hi)) =
                    (t.f64(i, "change"), t.f64(i, "ci_low"), t.f64(i, "ci_high"))
                {
                    let y = (OUTCOMES.len() - 1 - oi) as f64 * 4.0 + (2 - gi) as f64;
                    rows.push((y, est, lo, hi, *c));
                }
            }
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let ext = rows
        .iter()
        .flat_map(|r| [r.2.abs(), r.3.abs()])
        .fold(0.1, f64::max)
        * 1.1;
    let mut chart = frame(root, title, 50, 210)
        .build_cartesian_2d(-ext..ext, -1.0f64..(OUTCOMES.len() as f64 * 4.0 - 1.0))?;
    let fmt = |y: &f64| {
        let k = (y / 4.0).floor();
        let idx = OUTCOMES.len() as i64 - 1 - k as i64;
        if (y - (k * 4.0 + 1.0)).abs() < 0.3 && (0..OUTCOMES.len() as i64).contains(&idx) {
            OUTCOMES[idx as usize].1.to_string()
        } else {
            String::new()
        }
    };
    categories(&mut chart, Axis::Y, 21, &fmt)
        .x_desc("Change per person, year after minus year before")
        .draw_at(15)?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, -1.0), (0.0, OUTCOMES.len() as f64 * 4.0 - 1.0)],
        BLACK.stroke_width(1),
    )))?;
    for (y, est, lo, hi, c) in &rows {
        chart.draw_series(std::iter::once(ErrorBar::new_horizontal(
            *y,
            *lo,
            *est,
            *hi,
            c.stroke_width(2),
            10,
        )))?;
        chart.draw_series(std::iter::once(Circle::new((*est, *y), 6, c.filled())))?;
    }
    groups_legend(&mut chart, true, SeriesLabelPosition::LowerRight, 14)?;
    Ok(Some("Mean change per person with its 95% confidence interval. Caution: a before/after change with no comparison includes regression to the mean; use the difference-in-differences.".into()))
}

pub(super) fn did_forest<DB: Backend>(t: &Table, root: &Area<DB>, title: &str) -> Drawn {
    let rows: Vec<(String, f64, f64, f64)> = OUTCOMES
        .iter()
        .filter_map(|(o, label)| {
            let i = find_row(t, &[("outcome", o)])?;
            Some((
                label.to_string(),
                t.f64(i, "estimate")?,
                t.f64(i, "ci_low")?,
                t.f64(i, "ci_high")?,
            ))
        })
        .collect();
    forest(
        root,
        title,
        &rows,
        OUTCOMES.len(),
        "Starters' change minus comparison group's change, per person per year",
    )?;
    Ok((!rows.is_empty()).then(|| "Left of zero: starters' use fell more than the comparison group's. An interval that crosses zero is consistent with no effect.".into()))
}

/// Each covariate level's standardised difference before (grey) and after
/// (blue) matching, with the ±0.1 band usually taken as balanced.
pub(super) fn balance_smd<DB: Backend>(t: &Table, root: &Area<DB>, title: &str) -> Drawn {
    let rows: Vec<(String, Option<f64>, Option<f64>)> = (0..t.height())
        .map(|i| {
            (
                format!(
                    "{}: {}",
                    t.text(i, "covariate"),
                    t.text(i, "level").replace('_', " ")
                ),
                t.f64(i, "smd_before"),
                t.f64(i, "smd_after"),
            )
        })
        .filter(|r| r.1.is_some() || r.2.is_some())
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let n = rows.len();
    let ext = rows
        .iter()
        .flat_map(|r| [r.1, r.2])
        .flatten()
        .map(f64::abs)
        .fold(0.25, f64::max)
        * 1.1;
    let label_size = if n > 30 { 9 } else { 12 };
    let mut chart =
        frame(root, title, 50, 300).build_cartesian_2d(-ext..ext, -0.7f64..(n as f64 - 0.3))?;
    let names: Vec<String> = rows.iter().rev().map(|r| r.0.clone()).collect();
    let fmt = |y: &f64| category(&names, *y);
    categories(&mut chart, Axis::Y, n * 2 + 1, &fmt)
        .x_desc("Standardised difference (starters − comparison)")
        .draw_at(label_size)?;
    for x in [-0.1, 0.1] {
        chart.draw_series(DashedLineSeries::new(
            [(x, -0.7), (x, n as f64)],
            6,
            4,
            GREY.stroke_width(1),
        ))?;
    }
    for (k, (_, before, after)) in rows.iter().enumerate() {
        let y = (n - 1 - k) as f64;
        if let Some(b) = before {
            chart.draw_series(std::iter::once(Circle::new((*b, y), 4, GREY.filled())))?;
        }
        if let Some(a) = after {
            chart.draw_series(std::iter::once(Circle::new((*a, y), 4, BLUE.filled())))?;
        }
    }
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
        .label("Before matching")
        .legend(|(x, y)| Circle::new((x + 8, y), 5, GREY.filled()));
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
        .label("After matching")
        .legend(|(x, y)| Circle::new((x + 8, y), 5, BLUE.filled()));
    legend(&mut chart, SeriesLabelPosition::UpperRight, 14)?;
    Ok(Some("Grey: before matching; blue: after. Within the dashed lines (±0.1) the groups are usually taken as balanced on that characteristic.".into()))
}
