//! Activation (PAM) charts: levels at baseline and follow-up, change by
//! baseline level.

use crate::metrics::{Evaluation, Table};
use plotters::prelude::*;

use super::theme::*;
// The palette, named over plotters' colours of the same names.
use super::theme::{BLUE, GREEN, SKY};

pub(super) fn pam_levels<DB: Backend>(t: &Table, root: &Area<DB>, title: &str) -> Drawn {
    let base: Vec<Option<f64>> = col(t, "baseline");
    let follow: Vec<Option<f64>> = col(t, "follow_up");
    let tb: f64 = base.iter().flatten().sum();
    let tf: f64 = follow.iter().flatten().sum();
    if tb == 0.0 || tf == 0.0 {
        return Ok(None);
    }
    let mut chart = frame(root, title, 50, 70).build_cartesian_2d(0.4f64..4.6f64, 0f64..0.8f64)?;
    categories(&mut chart, Axis::X, 4, &|x| format!("Level {:.0}", x))
        .y_label_formatter(&pct)
        .y_desc("Paired starters (%)")
        .draw_at(16)?;
    for i in 0..4 {
        let x = i as f64 + 1.0;
        if let Some(v) = base[i] {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x - 0.36, 0.0), (x - 0.01, v / tb)],
                SKY.filled(),
            )))?;
        }
        if let Some(v) = follow[i] {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x + 0.01, 0.0), (x + 0.36, v / tf)],
                BLUE.filled(),
            )))?;
        }
    }
    for (label, c) in [("Baseline", SKY), ("Follow-up", BLUE)] {
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, 15)?;
    Ok(Some("Activation levels (Hibbard): 1 disengaged and overwhelmed, 2 becoming aware, 3 taking action, 4 maintaining behaviours.".into()))
}

pub(super) fn pam_by_baseline<DB: Backend>(e: &Evaluation, root: &Area<DB>, title: &str) -> Drawn {
    let Some(vals) = table_points(e, "pam_by_baseline", "baseline_level", "mean_change") else {
        return Ok(None);
    };
    let hi = vals.iter().map(|v| v.1).fold(1.0, f64::max) * 1.2;
    let lo = vals.iter().map(|v| v.1).fold(0.0, f64::min) * 1.2;
    let mut chart = frame(root, title, 50, 70).build_cartesian_2d(0.4f64..4.6f64, lo..hi)?;
    categories(&mut chart, Axis::X, 4, &|x| {
        format!("Level {:.0} at baseline", x)
    })
    .y_desc("Mean change in PAM score (points)")
    .draw_at(16)?;
    for (x, v) in &vals {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x - 0.3, 0.0), (x + 0.3, *v)],
            GREEN.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{v:+.1}"),
            (*x, v.max(0.0) + (hi - lo) * 0.02),
            above(16),
        )))?;
    }
    Ok(Some("People starting at lower activation usually gain most; part of that gain is regression to the mean.".into()))
}
