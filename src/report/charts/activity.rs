//! Activity charts: the referral funnel, retention by session, the monthly
//! XmR chart and completion by deprivation.

use crate::disclosure::SUPPRESSED;
use crate::metrics::{Evaluation, Table};
use plotters::prelude::*;

use super::theme::*;
// The palette, named over plotters' colours of the same names.
use super::theme::{BLUE, GREEN, GREY, ORANGE, SKY, VERMILLION};

pub(super) fn referral_funnel<DB: Backend>(t: &Table, root: &Area<DB>, title: &str) -> Drawn {
    let values: Vec<(&str, Option<f64>)> = vec![
        ("Referred", t.f64(0, "referrals")),
        ("Started (≥1 session)", t.f64(0, "starters")),
        ("Completed", t.f64(0, "completers")),
    ];
    let max = values.iter().filter_map(|v| v.1).fold(0.0, f64::max);
    let mut chart = frame(root, title, 50, 70)
        .build_cartesian_2d(-0.5f64..2.5f64, 0f64..nice_max(max * 1.1))?;
    let labels: Vec<String> = values.iter().map(|v| v.0.to_string()).collect();
    let fmt = |x: &f64| category(&labels, *x);
    categories(&mut chart, Axis::X, 3, &fmt)
        .y_label_formatter(&whole)
        .y_desc("People (referrals)")
        .draw_at(16)?;
    let colors = [SKY, BLUE, GREEN];
    for (i, (_, v)) in values.iter().enumerate() {
        let label = |v: f64| format!("{v:.0}");
        labelled_bar(&mut chart, i as f64, *v, label, colors[i], 18, max)?;
    }
    Ok(Some("Referrals in the evaluation period; a starter attended at least one session, a completer at least the completion threshold.".into()))
}

pub(super) fn retention<DB: Backend>(e: &Evaluation, root: &Area<DB>, title: &str) -> Drawn {
    let Some(pts) = table_points(e, "retention", "session", "rate") else {
        return Ok(None);
    };
    let mut chart = frame(root, title, 50, 70).build_cartesian_2d(0.5f64..6.5f64, 0f64..1.05f64)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_labels(6)
        .x_label_formatter(&|x| format!("{:.0}", x))
        .y_label_formatter(&pct)
        .x_desc("Session")
        .y_desc("Starters attending (%)")
        .draw_at(16)?;
    chart.draw_series(LineSeries::new(pts.clone(), BLUE.stroke_width(3)))?;
    chart.draw_series(pts.iter().map(|p| Circle::new(*p, 6, BLUE.filled())))?;
    chart.draw_series(
        pts.iter()
            .map(|p| Text::new(pct(&p.1), (p.0 + 0.08, p.1 + 0.03), text(15))),
    )?;
    Ok(Some(
        "Share of starters attending each of the six sessions.".into(),
    ))
}

pub(super) fn trend<DB: Backend>(t: &Table, root: &Area<DB>, title: &str) -> Drawn {
    let n = t.height();
    if n < 2 {
        return Ok(None);
    }
    let pts: Vec<(f64, Option<f64>, bool)> = (0..n)
        .map(|i| {
            (
                i as f64,
                t.f64(i, "starters"),
                !t.text(i, "starters_special_cause").is_empty(),
            )
        })
        .collect();
    let (mean, lo, hi) = (
        t.f64(0, "starters_mean"),
        t.f64(0, "starters_lower_limit"),
        t.f64(0, "starters_upper_limit"),
    );
    let max = pts.iter().filter_map(|p| p.1).chain(hi).fold(1.0, f64::max);
    let months: Vec<String> = (0..n).map(|i| t.text(i, "month")).collect();
    let mut chart = frame(root, title, 60, 70)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..nice_max(max * 1.1))?;
    let step = (n / 12).max(1);
    let fmt = |x: &f64| {
        let i = x.round() as usize;
        if (x - x.round()).abs() < 0.01 && i < n && i.is_multiple_of(step) {
            months[i].clone()
        } else {
            String::new()
        }
    };
    categories(&mut chart, Axis::X, n.min(60), &fmt)
        .y_label_formatter(&whole)
        .y_desc("Starters per month")
        .draw_at(14)?;
    xmr_limits(&mut chart, n, mean, lo, hi)?;
    xmr_points(&mut chart, &pts)?;
    let present = pts.iter().filter(|p| p.1.is_some()).count();
    if present < crate::stats::xmr::SHORT_SERIES {
        root.draw(&Text::new(
            format!("Warning: only {present} months; limits need at least 12 and are provisional"),
            (80, 60),
            text(16).color(&VERMILLION),
        ))?;
    }
    let gaps = n - present;
    Ok(Some(format!(
        "Orange points are special causes (outside the limits, a trend of 7 rising or falling, 2 of 3 near a limit, or a shift of 7 on one side of the mean, in that order, as NHSRplotthedots applies them); blue points are common-cause variation.{}",
        if gaps > 0 {
            format!(" {gaps} month(s) suppressed ([c]) are gaps in the line.")
        } else {
            String::new()
        }
    )))
}

/// The months (x, value, special cause) as a line with gaps where a month
/// is suppressed, special causes in orange, and the legend.
fn xmr_points<'a, DB: Backend + 'a>(
    chart: &mut ChartContext<'a, DB, Plane>,
    pts: &[(f64, Option<f64>, bool)],
) -> Done {
    // A suppressed month is a gap: the line is drawn in runs of present months.
    for run in pts.split(|p| p.1.is_none()) {
        let line: Vec<(f64, f64)> = run.iter().filter_map(|p| Some((p.0, p.1?))).collect();
        chart.draw_series(LineSeries::new(line, BLUE.stroke_width(2)))?;
    }
    chart.draw_series(pts.iter().filter_map(|p| {
        Some(Circle::new(
            (p.0, p.1?),
            5,
            if p.2 { ORANGE.filled() } else { BLUE.filled() },
        ))
    }))?;
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
        .label("Special cause")
        .legend(|(x, y)| Circle::new((x + 8, y), 5, ORANGE.filled()));
    legend(chart, SeriesLabelPosition::UpperLeft, 14)
}

/// The XmR mean and process limits across the whole chart.
fn xmr_limits<'a, DB: Backend + 'a>(
    chart: &mut ChartContext<'a, DB, Plane>,
    n: usize,
    mean: Option<f64>,
    lo: Option<f64>,
    hi: Option<f64>,
) -> Done {
    let span = [-0.5, n as f64 - 0.5];
    if let Some(m) = mean {
        chart
            .draw_series(LineSeries::new(
                span.iter().map(|x| (*x, m)),
                GREY.stroke_width(2),
            ))?
            .label("Mean")
            .legend(line_key(GREY, 2));
    }
    for (i, l) in [lo, hi].iter().enumerate() {
        if let Some(l) = l {
            let s = chart.draw_series(DashedLineSeries::new(
                span.iter().map(|x| (*x, l.max(0.0))),
                6,
                4,
                VERMILLION.stroke_width(2),
            ))?;
            if i == 1 {
                s.label("Process limits (mean ± 2.66 × mean moving range)")
                    .legend(line_key(VERMILLION, 2));
            }
        }
    }
    Ok(())
}

pub(super) fn completion_by_imd<DB: Backend>(t: &Table, root: &Area<DB>, title: &str) -> Drawn {
    type Row = (String, Option<f64>, Option<f64>, Option<f64>);
    let rows: Vec<Row> = (0..t.height())
        .map(|i| {
            (
                t.text(i, "group"),
                t.f64(i, "rate"),
                t.f64(i, "ci_low"),
                t.f64(i, "ci_high"),
            )
        })
        .collect();
    if rows.iter().all(|r| r.1.is_none()) {
        return Ok(None);
    }
    let n = rows.len();
    let mut chart =
        frame(root, title, 60, 70).build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..1.0f64)?;
    let names: Vec<String> = rows
        .iter()
        .map(|r| {
            if r.0.len() == 1 {
                format!("Q{}", r.0)
            } else {
                r.0.clone()
            }
        })
        .collect();
    let fmt = |x: &f64| category(&names, *x);
    categories(&mut chart, Axis::X, n * 2 + 1, &fmt)
        .y_label_formatter(&pct)
        .x_desc("IMD quintile (Q1 = most deprived)")
        .y_desc("Completion rate (95% CI)")
        .draw_at(16)?;
    for (i, r) in rows.iter().enumerate() {
        let x = i as f64;
        match r.1 {
            Some(v) => {
                chart.draw_series(std::iter::once(bar(x - 0.3, x + 0.3, v, SKY)))?;
                if let (Some(lo), Some(hi)) = (r.2, r.3) {
                    chart.draw_series(std::iter::once(ErrorBar::new_vertical(
                        x,
                        lo,
                        v,
                        hi,
                        BLACK.stroke_width(2),
                        14,
                    )))?;
                }
            }
            None => {
                chart.draw_series(std::iter::once(Text::new(SUPPRESSED, (x, 0.02), above(16))))?;
            }
        }
    }
    Ok(Some(
        "Completion rate of starters by deprivation of their home area, with Wilson 95% intervals."
            .into(),
    ))
}
