//! The charts' shared look: size, the Okabe–Ito palette, the shipped font,
//! text styles, the frame every chart is drawn in, legends, number formats
//! and the forest plot two charts share.

use crate::disclosure::SUPPRESSED;
use crate::metrics::{Evaluation, Table};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;
use std::sync::Once;

/// A plotters backend whose errors can be boxed (SVG and PNG both are).
pub(super) trait Backend: DrawingBackend<ErrorType: 'static> {}
impl<T: DrawingBackend<ErrorType: 'static>> Backend for T {}
/// The whole drawing area of a chart.
pub(super) type Area<DB> = DrawingArea<DB, Shift>;
/// A chart drawn: its caption, or None when there was nothing to draw.
pub(super) type Drawn = std::result::Result<Option<String>, Box<dyn std::error::Error>>;
/// A part of a chart drawn.
pub(super) type Done = std::result::Result<(), Box<dyn std::error::Error>>;

/// A chart drawn on numbers along both axes (every chart here).
pub(super) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
/// A chart's mesh, being configured.
pub(super) type Mesh<'a, 'b, DB> =
    plotters::chart::MeshStyle<'a, 'b, RangedCoordf64, RangedCoordf64, DB>;

/// An axis of a chart.
#[derive(Clone, Copy)]
pub(super) enum Axis {
    X,
    Y,
}

/// A mesh with categories along one axis: light grid lines, none between
/// the categories, `ticks` tick marks named by `names`.
pub(super) fn categories<'a, 'b, DB: Backend>(
    chart: &'b mut Chart<'a, DB>,
    axis: Axis,
    ticks: usize,
    names: &'b dyn Fn(&f64) -> String,
) -> Mesh<'a, 'b, DB> {
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE);
    match axis {
        Axis::X => mesh
            .disable_x_mesh()
            .x_labels(ticks)
            .x_label_formatter(names),
        Axis::Y => mesh
            .disable_y_mesh()
            .y_labels(ticks)
            .y_label_formatter(names),
    };
    mesh
}

/// Drawing a mesh at the charts' text sizes.
pub(super) trait DrawMesh {
    /// Draws the mesh: tick labels at `size`, axis titles at 16.
    fn draw_at(&mut self, size: u32) -> Done;
}

impl<DB: Backend> DrawMesh for Mesh<'_, '_, DB> {
    fn draw_at(&mut self, size: u32) -> Done {
        self.label_style(text(size))
            .axis_desc_style(text(16))
            .draw()?;
        Ok(())
    }
}

pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 540;

/// Okabe–Ito.
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const SKY: RGBColor = RGBColor(86, 180, 233);
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
pub const GREY: RGBColor = RGBColor(110, 110, 110);

pub const FONT: &str = "sans-serif";
pub static FONT_REGULAR: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
pub(super) static FONT_BOLD: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

pub(super) fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The fonts are compiled in; registering them cannot fail for a valid TTF.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_REGULAR);
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, FONT_BOLD);
    });
}

pub(super) fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

/// Text centred above a point (bar labels).
pub(super) fn above(size: u32) -> TextStyle<'static> {
    text(size).pos(Pos::new(HPos::Center, VPos::Bottom))
}

pub(super) fn whole(x: &f64) -> String {
    format!("{x:.0}")
}

pub(super) fn title_style() -> TextStyle<'static> {
    (FONT, 24, FontStyle::Bold).into_font().color(&BLACK)
}

/// The frame every chart shares: title, margin and label areas.
pub(super) fn frame<'a, 'b, DB: Backend>(
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

pub(super) type Plane = Cartesian2d<RangedCoordf64, RangedCoordf64>;

/// A legend key: a short line in the series' colour.
pub(super) fn line_key(
    color: RGBColor,
    width: u32,
) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
}

/// The legend box every chart shares.
pub(super) fn legend<'a, DB: Backend + 'a>(
    chart: &mut ChartContext<'a, DB, Plane>,
    position: SeriesLabelPosition,
    size: u32,
) -> Done {
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
pub(super) fn category(names: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 0.01 && i >= 0.0 && (i as usize) < names.len() {
        names[i as usize].clone()
    } else {
        String::new()
    }
}

pub(super) fn pct(x: &f64) -> String {
    format!("{:.0}%", x * 100.0)
}

pub(super) fn money(x: &f64) -> String {
    if x.abs() >= 1000.0 {
        format!("£{:.0}k", x / 1000.0)
    } else {
        format!("£{x:.0}")
    }
}

/// A bar from (x0, 0) to (x1, y).
pub(super) fn bar(x0: f64, x1: f64, y: f64, color: RGBColor) -> Rectangle<(f64, f64)> {
    Rectangle::new([(x0, 0.0), (x1, y)], color.filled())
}

/// A bar at `x` from 0 to `v` with its value written above it, or `[c]` on
/// the axis where the figure is suppressed.
#[allow(clippy::too_many_arguments)]
pub(super) fn labelled_bar<'a, DB: Backend + 'a>(
    chart: &mut ChartContext<'a, DB, Plane>,
    x: f64,
    v: Option<f64>,
    label: impl Fn(f64) -> String,
    color: RGBColor,
    size: u32,
    max: f64,
) -> Done {
    match v {
        Some(v) => {
            chart.draw_series(std::iter::once(bar(x - 0.3, x + 0.3, v, color)))?;
            chart.draw_series(std::iter::once(Text::new(
                label(v),
                (x, v + max * 0.02),
                above(size),
            )))?;
        }
        None => {
            chart.draw_series(std::iter::once(Text::new(
                SUPPRESSED,
                (x, max * 0.02),
                above(size),
            )))?;
        }
    }
    Ok(())
}

pub(super) fn nice_max(x: f64) -> f64 {
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

pub(super) fn col(t: &Table, c: &str) -> Vec<Option<f64>> {
    (0..t.height()).map(|i| t.f64(i, c)).collect()
}

/// The points (x, y) of a table's rows where both columns hold a figure.
pub(super) fn column_points(t: &Table, x: &str, y: &str) -> Vec<(f64, f64)> {
    (0..t.height())
        .filter_map(|i| Some((t.f64(i, x)?, t.f64(i, y)?)))
        .collect()
}

/// A chart's points from two columns of its table; None (nothing to draw)
/// when the table is absent or no row has both.
pub(super) fn table_points(
    e: &Evaluation,
    table: &str,
    x: &str,
    y: &str,
) -> Option<Vec<(f64, f64)>> {
    let pts = column_points(e.table(table)?, x, y);
    (!pts.is_empty()).then_some(pts)
}

pub(super) fn find_row(t: &Table, keys: &[(&str, &str)]) -> Option<usize> {
    (0..t.height()).find(|&i| keys.iter().all(|(c, v)| t.text(i, c) == *v))
}

/// A forest plot: one row per (label, estimate, low, high), top to bottom,
/// coloured by whether the interval lies below zero, above it, or across it.
pub(super) fn forest<DB: Backend>(
    root: &Area<DB>,
    title: &str,
    rows: &[(String, f64, f64, f64)],
    slots: usize,
    x_desc: &str,
) -> Done {
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
    categories(&mut chart, Axis::Y, n * 2 + 1, &fmt)
        .x_desc(x_desc)
        .draw_at(15)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round_numbers_at_or_above_the_data() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.3), 8.0);
        assert_eq!(nice_max(110.0), 120.0);
        assert_eq!(nice_max(2600.0), 3000.0);
        assert_eq!(nice_max(1.0), 1.0);
    }

    #[test]
    fn tick_labels_read_as_a_reader_writes_them() {
        assert_eq!(pct(&0.456), "46%");
        assert_eq!(money(&950.0), "£950");
        assert_eq!(money(&32_893.0), "£33k");
        assert_eq!(whole(&12.6), "13");
        let names = vec!["NTH".to_string(), "EST".to_string()];
        assert_eq!(category(&names, 1.0), "EST");
        assert_eq!(category(&names, 0.5), "", "between categories: blank");
        assert_eq!(category(&names, 2.0), "", "past the last: blank");
    }
}
