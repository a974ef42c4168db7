//! The pack's charts, drawn with plotters from the (disclosure-controlled)
//! tables: each as SVG (inlined in the HTML) and PNG. Text uses DejaVu Sans,
//! shipped in `assets/fonts`, so no system font is needed. Colours are the
//! Okabe–Ito colour-blind-safe palette. A suppressed figure is not drawn.

use crate::disclosure::SUPPRESSED;
use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use crate::metrics::{Evaluation, Table};
use crate::schema::PROVIDER_ID;

pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 540;

/// Okabe–Ito.
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const SKY: RGBColor = RGBColor(86, 180, 233);
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
pub const PURPLE: RGBColor = RGBColor(204, 121, 167);
pub const GREY: RGBColor = RGBColor(110, 110, 110);

pub const FONT: &str = "sans-serif";
pub static FONT_REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static FONT_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The fonts are compiled in; registering them cannot fail for a valid TTF.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_REGULAR);
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, FONT_BOLD);
    });
}

/// One drawn chart.
pub struct Chart {
    pub name: &'static str,
    pub title: String,
    /// The SVG markup (inlined in the HTML).
    pub svg: String,
    /// A sentence under the chart.
    pub caption: String,
}

#[derive(Clone, Copy)]
enum Kind {
    ReferralFunnel,
    Retention,
    ProviderFunnel,
    HospitalPrePost,
    HospitalChange,
    DidForest,
    PamLevels,
    PamByBaseline,
    Trend,
    CostPerCompleter,
    CompletionByImd,
    BalanceSmd,
    AdjustedFunnel,
    ProviderForest,
}

const KINDS: &[(Kind, &str, &str)] = &[
    (
        Kind::ReferralFunnel,
        "referral_funnel",
        "Referrals, starters and completers",
    ),
    (
        Kind::Retention,
        "retention",
        "Starters attending each session",
    ),
    (
        Kind::ProviderFunnel,
        "provider_funnel",
        "Completion rate by provider: funnel plot",
    ),
    (
        Kind::HospitalPrePost,
        "hospital_pre_post",
        "Hospital use per person, year before vs year after",
    ),
    (
        Kind::HospitalChange,
        "hospital_change",
        "Change in hospital use per person (95% CI)",
    ),
    (
        Kind::DidForest,
        "did_forest",
        "Difference-in-differences: starters vs comparison (95% CI)",
    ),
    (
        Kind::PamLevels,
        "pam_levels",
        "PAM level at baseline and follow-up",
    ),
    (
        Kind::PamByBaseline,
        "pam_by_baseline",
        "PAM change by baseline level",
    ),
    (Kind::Trend, "trend_xmr", "Monthly starters: XmR chart"),
    (
        Kind::CostPerCompleter,
        "cost_per_completer",
        "Cost per completer by provider",
    ),
    (
        Kind::CompletionByImd,
        "completion_by_imd",
        "Completion by IMD quintile",
    ),
    (
        Kind::AdjustedFunnel,
        "provider_funnel_adjusted",
        "Completion by provider adjusted for case mix: funnel plot",
    ),
    (
        Kind::ProviderForest,
        "provider_hospital",
        "Emergency admissions by provider: starters vs comparison (95% CI)",
    ),
    (
        Kind::BalanceSmd,
        "balance_smd",
        "Balance: standardised differences before and after matching",
    ),
];

/// Draws every chart with data, writing `<name>.svg` and `<name>.png` into `dir`.
pub fn draw_all(e: &Evaluation, dir: &Path) -> Result<Vec<Chart>> {
    register_fonts();
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for (kind, name, title) in KINDS {
        let mut svg = String::new();
        let drawn = {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            let caption =
                draw(*kind, e, &root, title).map_err(|err| anyhow!("chart {name}: {err}"))?;
            root.present()
                .map_err(|err| anyhow!("chart {name}: {err}"))?;
            caption
        };
        let Some(caption) = drawn else { continue };
        std::fs::write(dir.join(format!("{name}.svg")), &svg)?;
        let png = dir.join(format!("{name}.png"));
        {
            let root = BitMapBackend::new(&png, (WIDTH, HEIGHT)).into_drawing_area();
            draw(*kind, e, &root, title).map_err(|err| anyhow!("chart {name}: {err}"))?;
            root.present()
                .map_err(|err| anyhow!("chart {name} (png): {err}"))?;
        }
        out.push(Chart {
            name,
            title: title.to_string(),
            svg,
            caption,
        });
    }
    Ok(out)
}

/// Draws one chart; Ok(None) when there is nothing to draw.
fn draw<DB: DrawingBackend>(
    kind: Kind,
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let caption = match kind {
        Kind::ReferralFunnel => referral_funnel(e, root, title)?,
        Kind::Retention => retention(e, root, title)?,
        Kind::ProviderFunnel => provider_funnel(e, root, title)?,
        Kind::HospitalPrePost => hospital_pre_post(e, root, title)?,
        Kind::HospitalChange => hospital_change(e, root, title)?,
        Kind::DidForest => did_forest(e, root, title)?,
        Kind::PamLevels => pam_levels(e, root, title)?,
        Kind::PamByBaseline => pam_by_baseline(e, root, title)?,
        Kind::Trend => trend(e, root, title)?,
        Kind::CostPerCompleter => cost_per_completer(e, root, title)?,
        Kind::CompletionByImd => completion_by_imd(e, root, title)?,
        Kind::BalanceSmd => balance_smd(e, root, title)?,
        Kind::AdjustedFunnel => adjusted_funnel(e, root, title)?,
        Kind::ProviderForest => provider_forest(e, root, title)?,
    };
    Ok(caption)
}

fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

/// Text centred above a point (bar labels).
fn above(size: u32) -> TextStyle<'static> {
    text(size).pos(Pos::new(HPos::Center, VPos::Bottom))
}

fn whole(x: &f64) -> String {
    format!("{x:.0}")
}

fn title_style() -> TextStyle<'static> {
    (FONT, 24, FontStyle::Bold).into_font().color(&BLACK)
}

/// The frame every chart shares: title, margin and label areas.
fn frame<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    x_area: u32,
    y_area: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(root);
    b.caption(title, title_style())
        .margin(20)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area);
    b
}

type Plane = Cartesian2d<RangedCoordf64, RangedCoordf64>;

/// A legend key: a short line in the series' colour.
fn line_key(color: RGBColor, width: u32) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
}

/// The legend box every chart shares.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Plane>,
    position: SeriesLabelPosition,
    size: u32,
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(GREY)
        .label_font(text(size))
        .draw()?;
    Ok(())
}

/// The label of a category axis at tick `x`: a name at each whole position, blank between.
fn category(names: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 0.01 && i >= 0.0 && (i as usize) < names.len() {
        names[i as usize].clone()
    } else {
        String::new()
    }
}

fn pct(x: &f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn money(x: &f64) -> String {
    if x.abs() >= 1000.0 {
        format!("£{:.0}k", x / 1000.0)
    } else {
        format!("£{x:.0}")
    }
}

/// A bar from (x0, 0) to (x1, y).
fn bar(x0: f64, x1: f64, y: f64, color: RGBColor) -> Rectangle<(f64, f64)> {
    Rectangle::new([(x0, 0.0), (x1, y)], color.filled())
}

fn nice_max(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(x.log10().floor());
    let n = x / mag;
    let step = [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .find(|s| n <= *s)
        .unwrap_or(10.0);
    step * mag
}

fn col(t: &Table, c: &str) -> Vec<Option<f64>> {
    (0..t.height()).map(|i| t.f64(i, c)).collect()
}

fn referral_funnel<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let Some(t) = e.table("activity_overall") else {
        return Ok(None);
    };
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
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_labels(3)
        .x_label_formatter(&fmt)
        .y_label_formatter(&whole)
        .y_desc("People (referrals)")
        .label_style(text(16))
        .axis_desc_style(text(16))
        .draw()?;
    let colors = [SKY, BLUE, GREEN];
    for (i, (_, v)) in values.iter().enumerate() {
        let x = i as f64;
        match v {
            Some(v) => {
                chart.draw_series(std::iter::once(bar(x - 0.3, x + 0.3, *v, colors[i])))?;
                chart.draw_series(std::iter::once(Text::new(
                    format!("{v:.0}"),
                    (x, v + max * 0.02),
                    above(18),
                )))?;
            }
            None => {
                chart.draw_series(std::iter::once(Text::new(
                    SUPPRESSED,
                    (x, max * 0.02),
                    above(18),
                )))?;
            }
        }
    }
    Ok(Some("Referrals in the evaluation period; a starter attended at least one session, a completer at least the completion threshold.".into()))
}

fn retention<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let Some(t) = e.table("retention") else {
        return Ok(None);
    };
    let pts: Vec<(f64, f64)> = (0..t.height())
        .filter_map(|i| Some((t.f64(i, "session")?, t.f64(i, "rate")?)))
        .collect();
    if pts.is_empty() {
        return Ok(None);
    }
    let mut chart = frame(root, title, 50, 70).build_cartesian_2d(0.5f64..6.5f64, 0f64..1.05f64)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_labels(6)
        .x_label_formatter(&|x| format!("{:.0}", x))
        .y_label_formatter(&pct)
        .x_desc("Session")
        .y_desc("Starters attending (%)")
        .label_style(text(16))
        .axis_desc_style(text(16))
        .draw()?;
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

fn provider_funnel<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
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
        .label_style(text(16))
        .axis_desc_style(text(16))
        .draw()?;
    let curve = |c: &str| -> Vec<(f64, f64)> {
        (0..f.height())
            .filter_map(|i| Some((f.f64(i, "denominator")?, f.f64(i, c)?)))
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

const GROUPS: [(&str, &str, RGBColor); 3] = [
    ("starters", "Starters", BLUE),
    ("completers", "Completers", GREEN),
    ("comparison", "Comparison (never started)", ORANGE),
];
const OUTCOMES: [(&str, &str); 5] = [
    ("emergency_admissions", "Emergency admissions"),
    ("ae_attendances", "A&E attendances"),
    ("emergency_bed_days", "Emergency bed days"),
    ("elective_admissions", "Elective admissions"),
    ("outpatient_attendances", "Outpatient attendances"),
];

fn find_row(t: &Table, keys: &[(&str, &str)]) -> Option<usize> {
    (0..t.height()).find(|&i| keys.iter().all(|(c, v)| t.text(i, c) == *v))
}

fn hospital_pre_post<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let Some(t) = e.table("hospital_pre_post") else {
        return Ok(None);
    };
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
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_labels(9)
        .x_label_formatter(&fmt)
        .y_desc("Mean per person in the year")
        .label_style(text(16))
        .axis_desc_style(text(16))
        .draw()?;
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
    for (g, label, c) in GROUPS {
        let _ = g;
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, 15)?;
    Ok(Some("Pale bar: the year before the index date; solid bar: the year after. The comparison group never started a course: its fall shows regression to the mean, which a before/after change alone would credit to the programme.".into()))
}

fn hospital_change<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let Some(t) = e.table("hospital_pre_post") else {
        return Ok(None);
    };
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
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_y_mesh()
        .y_labels(21)
        .y_label_formatter(&fmt)
        .x_desc("Change per person, year after minus year before")
        .label_style(text(15))
        .axis_desc_style(text(16))
        .draw()?;
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
    for (_, label, c) in GROUPS {
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 8, y), 6, c.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight, 14)?;
    Ok(Some("Mean change per person with its 95% confidence interval. Caution: a before/after change with no comparison includes regression to the mean; use the difference-in-differences.".into()))
}

fn did_forest<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let Some(t) = e.table("did") else {
        return Ok(None);
    };
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

/// Emergency admissions, starters against the comparison group, per provider
/// (the scorecard's hospital column): providers too small to estimate are left out.
fn provider_forest<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
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

/// A forest plot: one row per (label, estimate, low, high), top to bottom,
/// coloured by whether the interval lies below zero, above it, or across it.
fn forest<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    rows: &[(String, f64, f64, f64)],
    slots: usize,
    x_desc: &str,
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    if rows.is_empty() {
        return Ok(());
    }
    let ext = rows
        .iter()
        .flat_map(|r| [r.2.abs(), r.3.abs()])
        .fold(0.1, f64::max)
        * 1.1;
    let n = slots.max(rows.len());
    let y_of = |k: usize| (n - 1 - k) as f64;
    let mut chart =
        frame(root, title, 50, 230).build_cartesian_2d(-ext..ext, -0.7f64..(n as f64 - 0.3))?;
    let fmt = |y: &f64| {
        let i = y.round();
        let idx = n as i64 - 1 - i as i64;
        if (y - i).abs() < 0.05 && (0..rows.len() as i64).contains(&idx) {
            rows[idx as usize].0.clone()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_y_mesh()
        .y_labels(n * 2 + 1)
        .y_label_formatter(&fmt)
        .x_desc(x_desc)
        .label_style(text(15))
        .axis_desc_style(text(16))
        .draw()?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, -0.7), (0.0, n as f64)],
        BLACK.stroke_width(1),
    )))?;
    for (k, (_, est, lo, hi)) in rows.iter().enumerate() {
        let y = y_of(k);
        let c = if *hi < 0.0 {
            GREEN
        } else if *lo > 0.0 {
            VERMILLION
        } else {
            BLUE
        };
        chart.draw_series(std::iter::once(ErrorBar::new_horizontal(
            y,
            *lo,
            *est,
            *hi,
            c.stroke_width(3),
            12,
        )))?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [
                (*est - ext * 0.012, y - 0.12),
                (*est + ext * 0.012, y + 0.12),
            ],
            c.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{est:+.2}"),
            (*est, y + 0.22),
            text(14),
        )))?;
    }
    Ok(())
}

fn pam_levels<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let Some(t) = e.table("pam_levels") else {
        return Ok(None);
    };
    let base: Vec<Option<f64>> = col(t, "baseline");
    let follow: Vec<Option<f64>> = col(t, "follow_up");
    let tb: f64 = base.iter().flatten().sum();
    let tf: f64 = follow.iter().flatten().sum();
    if tb == 0.0 || tf == 0.0 {
        return Ok(None);
    }
    let mut chart = frame(root, title, 50, 70).build_cartesian_2d(0.4f64..4.6f64, 0f64..0.8f64)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_labels(4)
        .x_label_formatter(&|x| format!("Level {:.0}", x))
        .y_label_formatter(&pct)
        .y_desc("Paired starters (%)")
        .label_style(text(16))
        .axis_desc_style(text(16))
        .draw()?;
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

fn pam_by_baseline<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let Some(t) = e.table("pam_by_baseline") else {
        return Ok(None);
    };
    let vals: Vec<(f64, f64)> = (0..t.height())
        .filter_map(|i| Some((t.f64(i, "baseline_level")?, t.f64(i, "mean_change")?)))
        .collect();
    if vals.is_empty() {
        return Ok(None);
    }
    let hi = vals.iter().map(|v| v.1).fold(1.0, f64::max) * 1.2;
    let lo = vals.iter().map(|v| v.1).fold(0.0, f64::min) * 1.2;
    let mut chart = frame(root, title, 50, 70).build_cartesian_2d(0.4f64..4.6f64, lo..hi)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_labels(4)
        .x_label_formatter(&|x| format!("Level {:.0} at baseline", x))
        .y_desc("Mean change in PAM score (points)")
        .label_style(text(16))
        .axis_desc_style(text(16))
        .draw()?;
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

fn trend<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let Some(t) = e.table("trend_monthly") else {
        return Ok(None);
    };
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
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_labels(n.min(60))
        .x_label_formatter(&fmt)
        .y_label_formatter(&whole)
        .y_desc("Starters per month")
        .label_style(text(14))
        .axis_desc_style(text(16))
        .draw()?;
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
    legend(&mut chart, SeriesLabelPosition::UpperLeft, 14)?;
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

fn cost_per_completer<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
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
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&fmt)
        .y_label_formatter(&money)
        .y_desc("Cost per completer (£)")
        .label_style(text(16))
        .axis_desc_style(text(16))
        .draw()?;
    for (i, (_, v)) in bars.iter().enumerate() {
        let x = i as f64;
        let color = if i == n - 1 { GREY } else { BLUE };
        match v {
            Some(v) => {
                chart.draw_series(std::iter::once(bar(x - 0.3, x + 0.3, *v, color)))?;
                chart.draw_series(std::iter::once(Text::new(
                    format!("£{v:.0}"),
                    (x, v + max * 0.02),
                    above(16),
                )))?;
            }
            None => {
                chart.draw_series(std::iter::once(Text::new(
                    SUPPRESSED,
                    (x, max * 0.02),
                    above(16),
                )))?;
            }
        }
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

fn completion_by_imd<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let Some(t) = e.table("equity_by_imd_quintile") else {
        return Ok(None);
    };
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
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&fmt)
        .y_label_formatter(&pct)
        .x_desc("IMD quintile (Q1 = most deprived)")
        .y_desc("Completion rate (95% CI)")
        .label_style(text(16))
        .axis_desc_style(text(16))
        .draw()?;
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

/// Each covariate level's standardised difference before (grey) and after
/// (blue) matching, with the ±0.1 band usually taken as balanced.
fn balance_smd<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let Some(t) = e.table("balance") else {
        return Ok(None);
    };
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
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_y_mesh()
        .y_labels(n * 2 + 1)
        .y_label_formatter(&fmt)
        .x_desc("Standardised difference (starters − comparison)")
        .label_style(text(label_size))
        .axis_desc_style(text(16))
        .draw()?;
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

/// Observed ÷ expected completers by provider against its starters, with
/// limits around 1: the crude funnel's limits divided by the overall rate,
/// i.e. the limits for a provider of average case mix with that many starters.
fn adjusted_funnel<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Option<String>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
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
        (0..f.height())
            .filter_map(|i| Some((f.f64(i, "denominator")?, f.f64(i, c)? / overall)))
            .filter(|(n, _)| *n <= x_max && *n >= 5.0)
            .collect()
    };
    let y_hi = curve("upper_998")
        .iter()
        .map(|p| p.1)
        .chain(points.iter().map(|p| p.2))
        .fold(1.2, f64::max)
        .min(3.0);
    let y_lo = curve("lower_998")
        .iter()
        .map(|p| p.1)
        .chain(points.iter().map(|p| p.2))
        .fold(0.8, f64::min)
        .max(0.0);
    let mut chart = frame(root, title, 50, 70).build_cartesian_2d(0f64..x_max, y_lo..y_hi)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("Starters")
        .y_desc("Completers: observed ÷ expected")
        .label_style(text(16))
        .axis_desc_style(text(16))
        .draw()?;
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
fn funnel_limits_and_points<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Plane>,
    curve: &dyn Fn(&str) -> Vec<(f64, f64)>,
    points: &[(String, f64, f64)],
    x_max: f64,
    label_lift: f64,
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
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
