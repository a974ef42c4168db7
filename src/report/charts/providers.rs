//! Provider charts: the crude and case-mix-adjusted funnel plots, emergency
//! admissions by provider and cost per completer.

use crate::metrics::Evaluation;
use crate::schema::PROVIDER_ID;
use plotters::prelude::*;

use super::theme::*;
// The palette, named over plotters' colours of the same names.
use super::theme::{BLUE, GREY, ORANGE, VERMILLION};

pub(super) fn provider_funnel<DB: Backend>(e: &Evaluation, root: &Area<DB>, title: &str) -> Drawn {
    let (Some(p), Some(f)) = (e.table("providers"), e.table("funnel_limits")) else {
        return Ok(None);
    };
    if f.height() == 0 {
        return Ok(None);
    }
    let points: Vec<(String, f64, f64)> = (0..p.height())
        .filter_map(|i| {
            Some((
                p.text(i, "provider"),
                p.f64(i, "starters")?,
                p.f64(i, "rate")?,
            ))
        })
        .collect();
    let x_max = col(f, "denominator")
        .into_iter()
        .flatten()
        .fold(1.0, f64::max);
    let overall = f.f64(0, "overall_rate").unwrap_or(0.0);
    let lows = col(f, "lower_998").into_iter().flatten().filter(|_| true);
    let y_lo = lows
        .clone()
        .zip(col(f, "denominator").into_iter().flatten())
        .filter(|(_, n)| *n >= 5.0)
        .map(|(l, _)| l)
        .fold(overall, f64::min);
    let y_lo = points.iter().map(|p| p.2).fold(y_lo, f64::min).max(0.0);
    let y_lo = ((y_lo - 0.05) * 10.0).floor() / 10.0;
    let mut chart =
        frame(root, title, 50, 70).build_cartesian_2d(0f64..x_max, y_lo.max(0.0)..1.0f64)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .y_label_formatter(&pct)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("Starters")
        .y_desc("Completion rate")
        .draw_at(16)?;
    let curve = |c: &str| -> Vec<(f64, f64)> {
        column_points(f, "denominator", c)
            .into_iter()
            .filter(|(n, _)| *n <= x_max)
            .collect()
    };
    chart
        .draw_series(LineSeries::new(
            vec![(0.0, overall), (x_max, overall)],
            GREY.stroke_width(2),
        ))?
        .label(format!("Overall rate {}", pct(&overall)))
        .legend(line_key(GREY, 2));
    funnel_limits_and_points(&mut chart, &curve, &points, x_max, 0.012)?;
    Ok(Some("Each dot is a provider. A provider outside the 99.8% limits differs from the overall rate by more than chance would explain; within the 95% limits it is in line with it.".into()))
}

/// Emergency admissions, starters against the comparison group, per provider
/// (the scorecard's hospital column): providers too small to estimate are left out.
pub(super) fn provider_forest<DB: Backend>(e: &Evaluation, root: &Area<DB>, title: &str) -> Drawn {
    let Some(t) = e.table("provider_profile") else {
        return Ok(None);
    };
    let name = |id: String| {
        e.table("providers")
            .and_then(|p| p.find(PROVIDER_ID, &id).map(|i| p.text(i, "provider")))
            .unwrap_or(id)
    };
    let rows: Vec<(String, f64, f64, f64)> = (0..t.height())
        .filter_map(|i| {
            Some((
                name(t.text(i, PROVIDER_ID)),
                t.f64(i, "emergency_did")?,
                t.f64(i, "emergency_did_low")?,
                t.f64(i, "emergency_did_high")?,
            ))
        })
        .collect();
    if rows.len() < 2 {
        return Ok(None);
    }
    forest(
        root,
        title,
        &rows,
        rows.len(),
        "Emergency admissions: starters' change minus comparison group's, per person per year",
    )?;
    Ok(Some("Each provider's starters against the people it was referred who did not start. Left of zero: its starters' emergency admissions fell more. An interval that crosses zero is consistent with no difference; providers with fewer than 10 people in either group are not shown.".into()))
}

pub(super) fn cost_per_completer<DB: Backend>(
    e: &Evaluation,
    root: &Area<DB>,
    title: &str,
) -> Drawn {
    let (Some(p), Some(c)) = (e.table("providers"), e.table("cost_summary")) else {
        return Ok(None);
    };
    let mut bars: Vec<(String, Option<f64>)> = (0..p.height())
        .map(|i| (p.text(i, "provider"), p.f64(i, "cost_per_completer")))
        .collect();
    bars.push(("All providers".into(), c.f64(0, "per_completer")));
    let bench_completer = c.f64(0, "benchmark_per_completer").unwrap_or(240.0);
    let max = bars
        .iter()
        .filter_map(|b| b.1)
        .fold(bench_completer, f64::max);
    if bars.iter().all(|b| b.1.is_none()) {
        return Ok(None);
    }
    let n = bars.len();
    let mut chart = frame(root, title, 50, 80)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..nice_max(max * 1.15))?;
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let fmt = |x: &f64| category(&names, *x);
    categories(&mut chart, Axis::X, n * 2 + 1, &fmt)
        .y_label_formatter(&money)
        .y_desc("Cost per completer (£)")
        .draw_at(16)?;
    for (i, (_, v)) in bars.iter().enumerate() {
        let color = if i == n - 1 { GREY } else { BLUE };
        let label = |v: f64| format!("£{v:.0}");
        labelled_bar(&mut chart, i as f64, *v, label, color, 16, max)?;
    }
    let span = [-0.5, n as f64 - 0.5];
    chart
        .draw_series(DashedLineSeries::new(
            span.iter().map(|x| (*x, bench_completer)),
            8,
            5,
            ORANGE.stroke_width(3),
        ))?
        .label(format!("£{bench_completer:.0} per completion (Dudley)"))
        .legend(line_key(ORANGE, 3));
    legend(&mut chart, SeriesLabelPosition::UpperRight, 15)?;
    // Only a benchmark of the same unit is drawn: £44 is per participant, not per completer.
    Ok(Some(format!("Provider cost = the cost lines naming the provider, its own units of the per-course, per-starter and per-completer lines, and its share of the general yearly costs, divided by its completers. Benchmark: about £{bench_completer:.0} per completion (Dudley, commissioning guide); the guide's £44 is per participant, a different unit, and is shown in the cost table.")))
}

/// Observed ÷ expected completers by provider against its starters, with
/// limits around 1: the crude funnel's limits divided by the overall rate,
/// i.e. the limits for a provider of average case mix with that many starters.
pub(super) fn adjusted_funnel<DB: Backend>(e: &Evaluation, root: &Area<DB>, title: &str) -> Drawn {
    let (Some(a), Some(f)) = (e.table("providers_adjusted"), e.table("funnel_limits")) else {
        return Ok(None);
    };
    let overall = f.f64(0, "overall_rate").unwrap_or(0.0);
    if f.height() == 0 || overall <= 0.0 {
        return Ok(None);
    }
    let name = |id: &str| {
        e.table("providers")
            .and_then(|p| p.find("provider_id", id).map(|i| p.text(i, "provider")))
            .unwrap_or_else(|| id.to_string())
    };
    let points: Vec<(String, f64, f64)> = (0..a.height())
        .filter_map(|i| {
            Some((
                name(&a.text(i, "provider_id")),
                a.f64(i, "starters")?,
                a.f64(i, "ratio")?,
            ))
        })
        .collect();
    if points.is_empty() {
        return Ok(None);
    }
    let x_max = col(f, "denominator")
        .into_iter()
        .flatten()
        .fold(1.0, f64::max);
    let curve = |c: &str| -> Vec<(f64, f64)> {
        column_points(f, "denominator", c)
            .into_iter()
            .map(|(n, y)| (n, y / overall))
            .filter(|(n, _)| *n <= x_max && *n >= 5.0)
            .collect()
    };
    // The y range covers the outer limits and every provider, within 0 to 3.
    let ys = |c: &str| -> Vec<f64> {
        let limit = curve(c).into_iter().map(|p| p.1);
        limit.chain(points.iter().map(|p| p.2)).collect()
    };
    let y_hi = ys("upper_998").into_iter().fold(1.2, f64::max).min(3.0);
    let y_lo = ys("lower_998").into_iter().fold(0.8, f64::min).max(0.0);
    let mut chart = frame(root, title, 50, 70).build_cartesian_2d(0f64..x_max, y_lo..y_hi)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("Starters")
        .y_desc("Completers: observed ÷ expected")
        .draw_at(16)?;
    chart
        .draw_series(LineSeries::new(
            vec![(0.0, 1.0), (x_max, 1.0)],
            GREY.stroke_width(2),
        ))?
        .label("As expected (1.0)")
        .legend(line_key(GREY, 2));
    funnel_limits_and_points(&mut chart, &curve, &points, x_max, 0.02)?;
    Ok(Some("Each dot is a provider's completers as a ratio of those expected from the age, sex, deprivation and long-term conditions of its starters; the limits are those for a provider of average case mix with that many starters. Beside the crude funnel, it shows whether a provider's completion is explained by whom it serves.".into()))
}

/// A funnel plot's 95% (dashed) and 99.8% (solid) limits, each pair
/// labelled once, then the providers as labelled dots and the legend.
pub(super) fn funnel_limits_and_points<'a, DB: Backend + 'a>(
    chart: &mut ChartContext<'a, DB, Plane>,
    curve: &dyn Fn(&str) -> Vec<(f64, f64)>,
    points: &[(String, f64, f64)],
    x_max: f64,
    label_lift: f64,
) -> Done {
    for (level, label, color) in [
        ("95", "95% limits", ORANGE),
        ("998", "99.8% limits", VERMILLION),
    ] {
        for (k, side) in ["lower", "upper"].iter().enumerate() {
            let pts = curve(&format!("{side}_{level}"));
            let style = color.stroke_width(2);
            let drawn = if level == "95" {
                chart.draw_series(DashedLineSeries::new(pts, 6, 4, style))?
            } else {
                chart.draw_series(LineSeries::new(pts, style))?
            };
            if k == 0 {
                drawn.label(label).legend(line_key(color, 2));
            }
        }
    }
    chart.draw_series(
        points
            .iter()
            .map(|(_, n, r)| Circle::new((*n, *r), 8, BLUE.filled())),
    )?;
    chart.draw_series(points.iter().map(|(id, n, r)| {
        Text::new(id.clone(), (*n + x_max * 0.012, *r + label_lift), text(16))
    }))?;
    legend(chart, SeriesLabelPosition::LowerRight, 15)
}
