//! XmR (individuals and moving-range) charts with the NHS England "Making
//! Data Count" special-cause rules, as computed by the NHS-R Community's R
//! package **NHSRplotthedots** (v0.2.2, `ptd_spc()` with its defaults: no
//! facet, no rebase, no `fix_after_n_points`, `screen_outliers = TRUE`).
//!
//! The method, line for line from the package source:
//!
//! * `R/ptd_spc_standard.R` — the limits.
//!   - mean `= mean(y, na.rm = TRUE)`;
//!   - moving ranges `mr = c(NA, abs(diff(y)))`, `amr = mean(mr, na.rm = TRUE)`;
//!   - outlier screening (`screen_outliers = TRUE`): a moving range is kept only
//!     if `mr < 3.267 * amr` (so one `>=` the cut-off is dropped), then `amr` is
//!     recomputed from the kept ones — a single pass;
//!   - process limits `mean ± 2.66 × amr`; "near" limits `mean ± 2 × (2.66 / 3) × amr`;
//!   - `outside_limits = y > upl | y < lpl` (strict);
//!   - `relative_to_mean = sign(y - mean)` (−1, 0 or +1: a point *on* the mean is 0);
//!   - `close_to_limits = !outside_limits & (y < nlpl | y > nupl)` (strict).
//! * `R/ptd_calculate_point_type.R` — the rules and their precedence.
//!   - shift (`ptd_seven_point_one_side_mean` + `ptd_part_of_seven_trend`): every
//!     point of a run of 7 or more consecutive points with the same non-zero
//!     `relative_to_mean`; a point on the mean breaks the run;
//!   - trend (`ptd_seven_point_trend` + `ptd_part_of_seven_trend`): every point of
//!     a window of 7 consecutive points whose 6 successive differences are all
//!     strictly positive (or all strictly negative); a tie (difference 0)
//!     breaks the trend; the trend rule ignores the mean and the limits;
//!   - two in three (`ptd_two_in_three` + `ptd_part_of_two_in_three`): a window of
//!     3 consecutive points qualifies if at least 2 are `close_to_limits` and all
//!     3 are strictly on the same side of the mean (`abs(sum(relative_to_mean)) == 3`);
//!     only the close points of a qualifying window are flagged. "Close" excludes
//!     points outside the limits, so those never count towards the two, but the
//!     third point of the window may be anywhere on the same side — even outside
//!     a limit. The same-side condition came with v0.2.2 (package issue #143);
//!   - one type per point (`ptd_special_cause_type`, a `dplyr::case_when`):
//!     **outside the limits > trend > two in three > shift**;
//!   - the direction: outside the limits "Above UCL" if `relative_to_mean == 1`,
//!     else "Below LCL"; two in three and shift "Above"/"Below" by the side of the
//!     mean; a trend point takes the sign of the difference to the *next* point if
//!     the next point is also part of a trend, else of the difference from the
//!     previous point, and is "Increasing" only if that sign is +1 (so the package
//!     calls a tie between two adjacent trends "Decreasing"; reproduced here).
//! * `R/ptd_add_short_group_warnings.R` — the short-series warning. Its message is
//!   "Some groups have 'n < 12' observations" and its documented default threshold
//!   is 12; note that the code's default is `getOption("ptd_spc.warning_threshold", 13)`
//!   (`n() < 13`), so in practice the package also warns on a 12-point chart. This
//!   module follows the documented rule, fewer than 12 ([`SHORT_SERIES`]).
//!
//! # Missing months (gaps)
//!
//! The input is one value per month in time order; `None` (or a non-finite
//! value) is a missing or suppressed month. The package documents that there
//! should be no gaps and, given an `NA`, propagates it (its `mean(..., na.rm =
//! TRUE)` skips it and `diff()` makes both moving ranges next to it `NA`; its trend
//! test can even stop with an error on an `NA`). This module makes that explicit:
//!
//! * a gap is left out of the mean;
//! * a moving range is only formed between two present months that are adjacent
//!   in time: the month after a gap has no moving range (as with the package's `NA`
//!   propagation), and nothing is bridged across the gap;
//! * the rules are applied to each unbroken stretch of present months on its own,
//!   with the chart's single mean and limits: a shift, trend or 2-of-3 window
//!   cannot span a gap (in the package a window containing `NA` never qualifies);
//! * a gap point has `value: None` and no flags; a chart should draw a break in the
//!   line there, not join its neighbours;
//! * `too_few_points` counts present months only.
//!
//! One further departure: for a constant series (mean moving range 0) the package
//! screens out every moving range (`0 < 0` is false) and its limits become `NaN`;
//! here screening is skipped when the mean moving range is 0, so both limits equal
//! the mean and every point is common cause (as in the package).

use serde::Serialize;

/// Distance of the process limits from the mean, in mean moving ranges.
pub const LIMIT: f64 = 2.66;
/// Distance of the "near" limits (2 sigma) from the mean: `2 * (2.66 / 3)`, as
/// the package writes it.
pub const NEAR_LIMIT: f64 = 2.0 * (LIMIT / 3.0);
/// A moving range this many times the mean moving range, or more, is screened out.
pub const OUTLIER_SCREEN: f64 = 3.267;
/// Run length for shifts and trends.
pub const RUN: usize = 7;
/// A chart on fewer present points than this gets `too_few_points`.
pub const SHORT_SERIES: usize = 12;

/// Options of [`xmr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct XmrOptions {
    /// Drop moving ranges `>= 3.267 ×` the mean moving range before drawing the
    /// limits (the package's `screen_outliers`, default `TRUE`).
    pub screen_outliers: bool,
}

impl Default for XmrOptions {
    fn default() -> Self {
        XmrOptions {
            screen_outliers: true,
        }
    }
}

/// The special-cause type of a point; one per point, by the package's precedence
/// (the order of the variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialCause {
    /// Above the upper or below the lower process limit ("Above UCL"/"Below LCL").
    OutsideLimits,
    /// Part of 7 points each higher (or each lower) than the last ("7 Point Trend").
    Trend,
    /// Part of 2 of 3 points beyond two-thirds of the way to a limit, all 3 on the
    /// same side of the mean ("2 in 3 Above/Below CL").
    TwoOfThree,
    /// Part of 7 or more points in a row on one side of the mean ("7 Points
    /// Above/Below CL").
    Shift,
}

impl SpecialCause {
    /// Plain words for a report.
    pub fn label(&self) -> &'static str {
        match self {
            SpecialCause::OutsideLimits => "outside the limits",
            SpecialCause::Trend => "trend of 7",
            SpecialCause::TwoOfThree => "2 of 3 near a limit",
            SpecialCause::Shift => "shift of 7",
        }
    }
}

/// Which way a special cause points: high ("Above"/"Increasing" in the package)
/// or low ("Below"/"Decreasing"). The package's `point_type` is
/// `special_cause_improvement` when this agrees with the improvement direction,
/// `special_cause_concern` when not, and `special_cause_neutral_high/low` when
/// neither direction is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    High,
    Low,
}

impl Direction {
    pub fn label(&self) -> &'static str {
        match self {
            Direction::High => "high",
            Direction::Low => "low",
        }
    }

    /// The package's improvement/concern reading: `higher_is_better` is its
    /// `improvement_direction = "increase"` (the default).
    pub fn is_improvement(&self, higher_is_better: bool) -> bool {
        (*self == Direction::High) == higher_is_better
    }
}

/// One month of an XmR chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct XmrPoint {
    /// The value; `None` for a missing month (a gap in the chart).
    pub value: Option<f64>,
    /// `|value − previous value|`, when both this and the previous month are
    /// present; `None` for the first month and either side of a gap.
    pub moving_range: Option<f64>,
    /// The moving range was screened out as an outlier (`>= 3.267 ×` the mean
    /// moving range) and not used for the limits.
    pub moving_range_screened_out: bool,
    /// The one special-cause type by the package's precedence; `None` for common
    /// cause and for gaps.
    pub special_cause: Option<SpecialCause>,
    /// The direction of `special_cause`.
    pub direction: Option<Direction>,
    /// Above the upper or below the lower process limit.
    pub outside_limits: bool,
    /// Part of a run of 7 or more points on one side of the mean.
    pub shift: bool,
    /// Part of 7 points in a row each higher (or each lower) than the last.
    pub trend: bool,
    /// One of 2 of 3 points near a limit on the same side of the mean.
    pub two_of_three: bool,
}

impl XmrPoint {
    fn gap() -> Self {
        XmrPoint {
            value: None,
            moving_range: None,
            moving_range_screened_out: false,
            special_cause: None,
            direction: None,
            outside_limits: false,
            shift: false,
            trend: false,
            two_of_three: false,
        }
    }

    pub fn is_special_cause(&self) -> bool {
        self.special_cause.is_some()
    }

    /// E.g. "outside the limits (high)"; `None` for common cause.
    pub fn describe(&self) -> Option<String> {
        let c = self.special_cause?;
        Some(match self.direction {
            Some(d) => format!("{} ({})", c.label(), d.label()),
            None => c.label().to_string(),
        })
    }

    /// The package's `special_cause_type` string ("Above UCL", "7 Point Trend
    /// (Increasing)", "2 in 3 Below CL", "7 Points Above CL", "Common Cause", …);
    /// `None` for a gap.
    pub fn ptd_special_cause_type(&self) -> Option<&'static str> {
        self.value?;
        let high = self.direction == Some(Direction::High);
        Some(match (self.special_cause, high) {
            (None, _) => "Common Cause",
            (Some(SpecialCause::OutsideLimits), true) => "Above UCL",
            (Some(SpecialCause::OutsideLimits), false) => "Below LCL",
            (Some(SpecialCause::Trend), true) => "7 Point Trend (Increasing)",
            (Some(SpecialCause::Trend), false) => "7 Point Trend (Decreasing)",
            (Some(SpecialCause::TwoOfThree), true) => "2 in 3 Above CL",
            (Some(SpecialCause::TwoOfThree), false) => "2 in 3 Below CL",
            (Some(SpecialCause::Shift), true) => "7 Points Above CL",
            (Some(SpecialCause::Shift), false) => "7 Points Below CL",
        })
    }
}

/// An XmR chart: the mean, limits and one [`XmrPoint`] per input month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Xmr {
    pub mean: f64,
    /// After outlier screening, if on.
    pub mean_moving_range: f64,
    pub lower_limit: f64,
    pub upper_limit: f64,
    pub points: Vec<XmrPoint>,
    /// Fewer than 12 present points: the limits are trial limits (the package's
    /// `short_group_warning`).
    pub too_few_points: bool,
}

impl Xmr {
    /// Two-thirds of the way from the mean down to the lower limit (2 sigma).
    pub fn near_lower_limit(&self) -> f64 {
        self.mean - NEAR_LIMIT * self.mean_moving_range
    }

    /// Two-thirds of the way from the mean up to the upper limit (2 sigma).
    pub fn near_upper_limit(&self) -> f64 {
        self.mean + NEAR_LIMIT * self.mean_moving_range
    }
}

/// Computes an XmR chart as NHSRplotthedots' `ptd_spc()` does (see the module
/// documentation for the method and the handling of gaps). `values` are in time
/// order, one per period; `None` is a missing period.
///
/// `None` when there are fewer than 2 present values or no two present values
/// are adjacent (no moving range).
pub fn xmr(values: &[Option<f64>], opts: XmrOptions) -> Option<Xmr> {
    let y: Vec<Option<f64>> = values.iter().map(|v| v.filter(|x| x.is_finite())).collect();
    let n = y.len();
    let present: Vec<f64> = y.iter().flatten().copied().collect();
    if present.len() < 2 {
        return None;
    }
    let mean = present.iter().sum::<f64>() / present.len() as f64;

    // Moving ranges between adjacent present months only.
    let mr: Vec<Option<f64>> = (0..n)
        .map(|i| match (i.checked_sub(1).and_then(|p| y[p]), y[i]) {
            (Some(a), Some(b)) => Some((b - a).abs()),
            _ => None,
        })
        .collect();
    let raw: Vec<f64> = mr.iter().flatten().copied().collect();
    if raw.is_empty() {
        return None;
    }
    let amr0 = raw.iter().sum::<f64>() / raw.len() as f64;
    let cut = OUTLIER_SCREEN * amr0;
    let screen = opts.screen_outliers && amr0 > 0.0;
    let kept: Vec<f64> = raw
        .iter()
        .copied()
        .filter(|&r| !screen || r < cut)
        .collect();
    // amr0 > 0 means at least one range is below 3.267 × the mean.
    let amr = kept.iter().sum::<f64>() / kept.len() as f64;

    let (lpl, upl) = (mean - LIMIT * amr, mean + LIMIT * amr);
    let (nlpl, nupl) = (mean - NEAR_LIMIT * amr, mean + NEAR_LIMIT * amr);

    let mut points: Vec<XmrPoint> = (0..n)
        .map(|i| XmrPoint {
            value: y[i],
            moving_range: mr[i],
            moving_range_screened_out: screen && mr[i].is_some_and(|r| r >= cut),
            ..XmrPoint::gap()
        })
        .collect();

    // The rules, on each unbroken stretch of present months.
    let limits = Limits {
        mean,
        lower: lpl,
        upper: upl,
        near_lower: nlpl,
        near_upper: nupl,
    };
    let mut i = 0;
    while i < n {
        if y[i].is_none() {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && y[i].is_some() {
            i += 1;
        }
        let seg: Vec<f64> = y[start..i].iter().map(|v| v.expect("present")).collect();
        mark_stretch(&seg, &limits, &mut points[start..i]);
    }

    Some(Xmr {
        mean,
        mean_moving_range: amr,
        lower_limit: lpl,
        upper_limit: upl,
        points,
        too_few_points: present.len() < SHORT_SERIES,
    })
}

/// The centre line, the process limits (3 × 2.66 / 3 sigma) and the
/// two-sigma lines that the "two of three" rule uses.
struct Limits {
    mean: f64,
    lower: f64,
    upper: f64,
    near_lower: f64,
    near_upper: f64,
}

/// Applies the rules to one unbroken stretch of present values, marking its points.
fn mark_stretch(seg: &[f64], l: &Limits, points: &mut [XmrPoint]) {
    let rtm: Vec<i8> = seg.iter().map(|&v| sign(v - l.mean)).collect();
    let outside: Vec<bool> = seg.iter().map(|&v| v > l.upper || v < l.lower).collect();
    let close: Vec<bool> = seg
        .iter()
        .zip(&outside)
        .map(|(&v, &o)| !o && (v < l.near_lower || v > l.near_upper))
        .collect();
    let types = special_cause_type(seg, &rtm, &close, &outside);
    for (k, t) in types.into_iter().enumerate() {
        let p = &mut points[k];
        p.outside_limits = outside[k];
        p.trend = t.trend;
        p.two_of_three = t.two_of_three;
        p.shift = t.shift;
        p.special_cause = t.cause.map(|c| c.0);
        p.direction = t.cause.map(|c| c.1);
    }
}

/// R's `sign()`.
fn sign(x: f64) -> i8 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

/// `ptd_seven_point_one_side_mean`: the last point of each 7 in a row with the
/// same non-zero side of the mean.
fn seven_point_one_side_mean(rtm: &[i8]) -> Vec<bool> {
    (0..rtm.len())
        .map(|i| i + 1 >= RUN && rtm[i] != 0 && (1..RUN).all(|j| rtm[i - j] == rtm[i]))
        .collect()
}

/// `ptd_part_of_seven_trend`: a point is part of a 7-point pattern if the
/// pattern's last point is this one or one of the next 6.
fn part_of_seven(ends: &[bool]) -> Vec<bool> {
    (0..ends.len())
        .map(|i| ends[i..(i + RUN).min(ends.len())].iter().any(|&e| e))
        .collect()
}

/// `ptd_seven_point_trend`: +1 (−1) at the last point of 7 points with 6
/// strictly rising (falling) successive differences, else 0.
fn seven_point_trend(y: &[f64]) -> Vec<i8> {
    (0..y.len())
        .map(|i| {
            if i + 1 < RUN {
                return 0;
            }
            let d: Vec<i8> = (0..RUN - 1)
                .map(|j| sign(y[i - j] - y[i - j - 1]))
                .collect();
            if d.iter().all(|&s| s == 1) {
                1
            } else if d.iter().all(|&s| s == -1) {
                -1
            } else {
                0
            }
        })
        .collect()
}

/// `ptd_two_in_three`: the point lies in a window of 3 consecutive points with at
/// least 2 close to a limit and all 3 strictly on one side of the mean.
fn two_in_three(close: &[bool], rtm: &[i8]) -> Vec<bool> {
    let n = close.len();
    let window = |s: usize| {
        s + 3 <= n
            && close[s..s + 3].iter().filter(|&&c| c).count() >= 2
            && rtm[s..s + 3].iter().map(|&r| r as i32).sum::<i32>().abs() == 3
    };
    (0..n)
        .map(|i| (i.saturating_sub(2)..=i).any(window))
        .collect()
}

/// Rule flags and the single type of one point.
#[derive(Debug, Clone, Copy, Default)]
struct Rules {
    trend: bool,
    two_of_three: bool,
    shift: bool,
    cause: Option<(SpecialCause, Direction)>,
}

/// `ptd_special_cause_type` on one unbroken stretch of points.
fn special_cause_type(y: &[f64], rtm: &[i8], close: &[bool], outside: &[bool]) -> Vec<Rules> {
    let n = y.len();
    let trend_ends: Vec<bool> = seven_point_trend(y).iter().map(|&t| t != 0).collect();
    let trend = part_of_seven(&trend_ends);
    // ptd_part_of_two_in_three: only the close points of a qualifying window.
    let two3: Vec<bool> = two_in_three(close, rtm)
        .iter()
        .zip(close)
        .map(|(&w, &c)| w && c)
        .collect();
    let shift = part_of_seven(&seven_point_one_side_mean(rtm));
    let side = |r: i8| {
        if r > 0 {
            Direction::High
        } else {
            Direction::Low
        }
    };
    (0..n)
        .map(|i| {
            let cause = if outside[i] {
                Some((
                    SpecialCause::OutsideLimits,
                    if rtm[i] == 1 {
                        Direction::High
                    } else {
                        Direction::Low
                    },
                ))
            } else if trend[i] {
                // Right-hand difference if the next point is also in a trend.
                let s = if i + 1 < n && trend[i + 1] {
                    sign(y[i + 1] - y[i])
                } else if i > 0 {
                    sign(y[i] - y[i - 1])
                } else {
                    0
                };
                Some((
                    SpecialCause::Trend,
                    if s == 1 {
                        Direction::High
                    } else {
                        Direction::Low
                    },
                ))
            } else if two3[i] {
                Some((SpecialCause::TwoOfThree, side(rtm[i])))
            } else if shift[i] {
                Some((SpecialCause::Shift, side(rtm[i])))
            } else {
                None
            };
            Rules {
                trend: trend[i],
                two_of_three: two3[i],
                shift: shift[i],
                cause,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(v: &[f64]) -> Vec<Option<f64>> {
        v.iter().map(|&x| Some(x)).collect()
    }

    fn chart(v: &[f64]) -> Xmr {
        xmr(&some(v), XmrOptions::default()).unwrap()
    }

    fn causes(x: &Xmr) -> Vec<Option<SpecialCause>> {
        x.points.iter().map(|p| p.special_cause).collect()
    }

    const TOL: f64 = 1e-12;

    #[test]
    fn limits_hand_worked() {
        // 10, 12, 11, 13, 12: mean 11.6; moving ranges 2, 1, 2, 1 → 1.5
        // (none ≥ 3.267 × 1.5 = 4.9); limits 11.6 ± 2.66 × 1.5 = 7.61 and 15.59.
        let x = chart(&[10.0, 12.0, 11.0, 13.0, 12.0]);
        assert!((x.mean - 11.6).abs() < TOL);
        assert!((x.mean_moving_range - 1.5).abs() < TOL);
        assert!((x.lower_limit - 7.61).abs() < 1e-9);
        assert!((x.upper_limit - 15.59).abs() < 1e-9);
        assert!((x.near_upper_limit() - (11.6 + 2.66 / 3.0 * 2.0 * 1.5)).abs() < 1e-9);
        assert!(x.points.iter().all(|p| !p.is_special_cause()));
        assert!(x.too_few_points);
        assert_eq!(x.points[0].moving_range, None);
        assert_eq!(x.points[1].moving_range, Some(2.0));
    }

    #[test]
    fn too_few_and_no_moving_range() {
        assert!(xmr(&[], XmrOptions::default()).is_none());
        assert!(xmr(&[Some(1.0)], XmrOptions::default()).is_none());
        // Two present values, never adjacent: no moving range.
        assert!(xmr(&[Some(1.0), None, Some(2.0)], XmrOptions::default()).is_none());
        assert!(chart(&[1.0; 11]).too_few_points);
        assert!(!chart(&[1.0; 12]).too_few_points);
    }

    #[test]
    fn outlier_screening() {
        // 0,1,0,1,0,1,0,1,0,11: moving ranges eight 1s and one 11, mean 19/9 = 2.111;
        // cut-off 3.267 × 2.111 = 6.897, so the 11 is dropped and the mean moving
        // range is 1. Mean 15/10 = 1.5.
        let v = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 11.0];
        let x = chart(&v);
        assert!((x.mean - 1.5).abs() < TOL);
        assert!((x.mean_moving_range - 1.0).abs() < TOL);
        assert!((x.upper_limit - 4.16).abs() < 1e-9);
        assert!((x.lower_limit + 1.16).abs() < 1e-9);
        assert!(x.points[9].moving_range_screened_out);
        assert_eq!(
            x.points
                .iter()
                .filter(|p| p.moving_range_screened_out)
                .count(),
            1
        );
        assert_eq!(x.points[9].special_cause, Some(SpecialCause::OutsideLimits));
        assert_eq!(x.points[9].direction, Some(Direction::High));
        // Not screened: mean moving range 19/9.
        let x = xmr(
            &some(&v),
            XmrOptions {
                screen_outliers: false,
            },
        )
        .unwrap();
        assert!((x.mean_moving_range - 19.0 / 9.0).abs() < TOL);
        assert!(x.points.iter().all(|p| !p.moving_range_screened_out));
        let x = chart(&[0.0, 0.0, 0.0, 0.0]);
        // Constant series: nothing screened, limits equal the mean.
        assert_eq!((x.lower_limit, x.upper_limit), (0.0, 0.0));
        assert!(x
            .points
            .iter()
            .all(|p| !p.is_special_cause() && !p.moving_range_screened_out));
    }

    #[test]
    fn outside_limits_low() {
        let v = [
            10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.0, 11.0, -5.0, 10.0, 11.0, 10.0,
        ];
        let x = chart(&v);
        assert!(x.points[8].outside_limits);
        assert_eq!(x.points[8].ptd_special_cause_type(), Some("Below LCL"));
        assert_eq!(
            x.points[8].describe().as_deref(),
            Some("outside the limits (low)")
        );
        // The moving ranges into and out of −5 are screened out (mean moving range
        // 1), so only that point is outside.
        assert!((x.mean_moving_range - 1.0).abs() < TOL);
        assert_eq!(x.points.iter().filter(|p| p.outside_limits).count(), 1);
    }

    #[test]
    fn trend_of_seven_and_ties() {
        // Points 2..=8 rise six times: a trend; the point before and after are not.
        let x = chart(&[5.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 3.0, 4.0, 4.0, 3.0]);
        assert!(x.points[1..8].iter().all(|p| p.trend));
        assert!(!x.points[0].trend && !x.points[8].trend);
        assert!(x.points[1..8]
            .iter()
            .all(|p| p.ptd_special_cause_type() == Some("7 Point Trend (Increasing)")));
        // Six rising steps with a tie in the middle: no trend (package test
        // `ptd_seven_point_trend(c(1:3, 3:6))`).
        let x = chart(&[1.0, 2.0, 3.0, 3.0, 4.0, 5.0, 6.0, 2.0, 3.0, 2.0]);
        assert!(x.points.iter().all(|p| !p.trend));
        // Six falling steps: a decreasing trend.
        let x = chart(&[2.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 3.0, 4.0]);
        assert!(x.points[1..8].iter().all(|p| p.trend));
        assert_eq!(x.points[1].direction, Some(Direction::Low));
    }

    #[test]
    fn trend_peak_takes_the_right_hand_direction() {
        // 0, 8, 0, 8 then 1..7 rising and 6..1 falling (limits −3.33 and 10.97):
        // the peak is in both trends and, as in the package, takes the direction
        // towards the next point (decreasing).
        let v: Vec<f64> = [0, 8, 0, 8]
            .into_iter()
            .chain(1..=7)
            .chain((1..=6).rev())
            .map(f64::from)
            .collect();
        let x = chart(&v);
        assert!(x
            .points
            .iter()
            .all(|p| !p.outside_limits && !p.two_of_three));
        assert!(x.points[4..].iter().all(|p| p.trend));
        assert!(x.points[..4].iter().all(|p| !p.trend));
        assert_eq!(x.points[9].direction, Some(Direction::High));
        assert_eq!(x.points[10].direction, Some(Direction::Low));
        assert_eq!(x.points[11].direction, Some(Direction::Low));
    }

    #[test]
    fn shift_of_seven_and_point_on_mean() {
        // 0, 2, … around a mean of 1.294, then 1.5, 2, 1.5, …: points 7..=14 are
        // 8 in a row above the mean (limits −2.20 and 4.79, near 3.62).
        let v = [
            0.0, 2.0, 0.0, 2.0, 0.0, 2.0, 0.0, 2.0, 1.5, 2.0, 1.5, 2.0, 1.5, 2.0, 1.5, 0.0, 2.0,
        ];
        let x = chart(&v);
        let flagged: Vec<usize> = (0..v.len()).filter(|&i| x.points[i].shift).collect();
        assert_eq!(flagged, (7..15).collect::<Vec<_>>());
        assert!(x
            .points
            .iter()
            .all(|p| p.special_cause.is_none() || p.shift));
        assert_eq!(
            x.points[7].ptd_special_cause_type(),
            Some("7 Points Above CL")
        );
        assert_eq!(x.points[7].describe().as_deref(), Some("shift of 7 (high)"));
        // A point exactly on the mean breaks the run: 6 below, one on the mean
        // (sum 0, so the mean is exactly 0), 6 below, one high.
        let v = [
            -1.0, -1.5, -1.0, -1.5, -1.0, -1.5, 0.0, -1.0, -1.5, -1.0, -1.5, -1.0, -1.5, 15.0,
        ];
        let x = chart(&v);
        assert!(x.mean.abs() < TOL);
        assert!(x.points.iter().all(|p| !p.shift), "{:?}", causes(&x));
    }

    /// A quiet base (0, 0.2, …; 14 points) with points 6..=8 replaced.
    fn quiet(p6: f64, p7: Option<f64>, p8: f64) -> Vec<Option<f64>> {
        let mut v = some(&[
            0.0, 0.2, 0.0, 0.2, 0.0, 0.2, 0.0, 0.2, 0.0, 0.2, 0.0, 0.2, 0.0, 0.2,
        ]);
        v[6] = Some(p6);
        v[7] = p7;
        v[8] = Some(p8);
        v
    }

    /// Asserts `v` lies between the near and the process limit above the mean.
    fn near_high(x: &Xmr, v: f64) {
        assert!(v > x.near_upper_limit() && v <= x.upper_limit, "{v}: {x:?}");
    }

    #[test]
    fn two_of_three_same_side() {
        // 1.0, 0.5, 1.0 on 0/0.2: mean 0.2643, near limit 0.8645, limit 1.1646.
        let x = xmr(&quiet(1.0, Some(0.5), 1.0), XmrOptions::default()).unwrap();
        near_high(&x, 1.0);
        assert!(0.5 > x.mean && 0.5 < x.near_upper_limit());
        assert!(x.points[6].two_of_three && x.points[8].two_of_three);
        assert!(
            !x.points[7].two_of_three,
            "only the near points are flagged"
        );
        assert_eq!(causes(&x).iter().filter(|c| c.is_some()).count(), 2);
        assert_eq!(
            x.points[6].ptd_special_cause_type(),
            Some("2 in 3 Above CL")
        );
        // Middle point below the mean (0.1 < 0.2357): not all three on one side.
        let x = xmr(&quiet(1.0, Some(0.1), 1.0), XmrOptions::default()).unwrap();
        near_high(&x, 1.0);
        assert!(0.1 < x.mean);
        assert!(x.points.iter().all(|p| !p.two_of_three));
    }

    #[test]
    fn two_of_three_opposite_sides_is_common_cause() {
        // The package's test (issue #143): ±1 alternating, then 5.5 and −5.5.
        let mut v: Vec<f64> = (0..16)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        v[14] = 5.5;
        v[15] = -5.5;
        let x = chart(&v);
        assert_eq!(x.points[14].ptd_special_cause_type(), Some("Common Cause"));
        assert_eq!(x.points[15].ptd_special_cause_type(), Some("Common Cause"));
    }

    #[test]
    fn two_of_three_with_a_point_outside() {
        // Near, outside, near, all above the mean: the two near points qualify and
        // the middle one is "outside the limits".
        let x = xmr(&quiet(1.0, Some(3.0), 1.0), XmrOptions::default()).unwrap();
        near_high(&x, 1.0);
        assert!(3.0 > x.upper_limit);
        assert_eq!(
            causes(&x),
            [
                vec![None; 6],
                vec![
                    Some(SpecialCause::TwoOfThree),
                    Some(SpecialCause::OutsideLimits),
                    Some(SpecialCause::TwoOfThree)
                ],
                vec![None; 5]
            ]
            .concat()
        );
        assert!(!x.points[7].two_of_three);
        // Near, outside, above the mean but not near: an outside point does not
        // count as near, so only one of the three is.
        let x = xmr(&quiet(1.0, Some(3.0), 0.5), XmrOptions::default()).unwrap();
        near_high(&x, 1.0);
        assert!(0.5 > x.mean && 0.5 < x.near_upper_limit());
        assert!(x.points.iter().all(|p| !p.two_of_three));
        assert_eq!(causes(&x).iter().filter(|c| c.is_some()).count(), 1);
    }

    #[test]
    fn precedence() {
        // A rising trend 1.9, 2.1, …, 3.1 that also sits 7 in a row above the mean
        // (1.84375), inside the limits: trend wins.
        let mut v = vec![0.0, 3.0, 0.0, 3.0, 0.0, 3.0];
        v.extend((0..7).map(|i| 1.9 + 0.2 * f64::from(i)));
        v.extend([0.0, 3.0, 0.0]);
        let x = chart(&v);
        assert!(
            x.points
                .iter()
                .all(|p| !p.outside_limits && !p.two_of_three),
            "{x:?}"
        );
        assert!(x.points[6..13].iter().all(|p| p.trend && p.shift));
        assert!(x.points[6..13]
            .iter()
            .all(|p| p.special_cause == Some(SpecialCause::Trend)));
        // Point 5 (3.0) is above the mean too, so the shift is 8 long; there it is
        // the only rule.
        assert_eq!(x.points[5].special_cause, Some(SpecialCause::Shift));
        assert_eq!(causes(&x).iter().filter(|c| c.is_some()).count(), 8);
        // Outside beats shift: 8 points high, one of them beyond the limit.
        let mut v = vec![0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5];
        v.extend([2.0, 2.5, 2.0, 2.5, 2.0, 6.0, 2.5, 2.0]);
        let x = chart(&v);
        let out: Vec<usize> = (0..v.len())
            .filter(|&i| x.points[i].outside_limits)
            .collect();
        assert_eq!(out, vec![17], "{x:?}");
        assert!(x.points[12..20].iter().all(|p| p.shift));
        assert_eq!(
            x.points[17].special_cause,
            Some(SpecialCause::OutsideLimits)
        );
        assert_eq!(x.points[12].special_cause, Some(SpecialCause::Shift));
        // Two of three beats shift: the shift's points near the limit are 2-of-3.
        let mut v = vec![
            0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5,
        ];
        v.extend([1.0, 1.0, 1.0, 1.6, 1.0, 1.6, 1.0]);
        let x = chart(&v);
        let (nu, u) = (x.near_upper_limit(), x.upper_limit);
        assert!(
            1.6 > nu && 1.6 < u && 1.0 < nu && 1.0 > x.mean,
            "{nu} {u} {}",
            x.mean
        );
        assert!(x.points[14..21].iter().all(|p| p.shift));
        assert_eq!(x.points[17].special_cause, Some(SpecialCause::TwoOfThree));
        assert_eq!(x.points[19].special_cause, Some(SpecialCause::TwoOfThree));
        assert_eq!(x.points[18].special_cause, Some(SpecialCause::Shift));
        // The enum's order is the precedence.
        assert!(SpecialCause::OutsideLimits < SpecialCause::Trend);
        assert!(SpecialCause::Trend < SpecialCause::TwoOfThree);
        assert!(SpecialCause::TwoOfThree < SpecialCause::Shift);
    }

    #[test]
    fn gaps() {
        // 10, 12, gap, 11, 13: mean 46/4 = 11.5; moving ranges 2 and 2 only.
        let x = xmr(
            &[Some(10.0), Some(12.0), None, Some(11.0), Some(13.0)],
            XmrOptions::default(),
        )
        .unwrap();
        assert!((x.mean - 11.5).abs() < TOL);
        assert!((x.mean_moving_range - 2.0).abs() < TOL);
        assert_eq!(
            x.points.iter().map(|p| p.moving_range).collect::<Vec<_>>(),
            vec![None, Some(2.0), None, None, Some(2.0)]
        );
        assert_eq!(x.points[2], XmrPoint::gap());
        assert_eq!(x.points[2].ptd_special_cause_type(), None);
        // A non-finite value is a gap too.
        let y = xmr(
            &[
                Some(10.0),
                Some(12.0),
                Some(f64::NAN),
                Some(11.0),
                Some(13.0),
            ],
            XmrOptions::default(),
        )
        .unwrap();
        assert_eq!(x, y);
    }

    #[test]
    fn gaps_break_runs_and_trends() {
        // 6 low, gap, 6 low, then high: no shift across the gap …
        let lo = [1.0, 1.2, 1.0, 1.2, 1.0, 1.2];
        let mut v: Vec<Option<f64>> = some(&lo);
        v.push(None);
        v.extend(some(&lo));
        v.extend(some(&[5.0, 5.2, 5.0]));
        let x = xmr(&v, XmrOptions::default()).unwrap();
        assert!(x.points.iter().all(|p| !p.shift), "{x:?}");
        // … but 7 unbroken are.
        v[6] = Some(1.1);
        let x = xmr(&v, XmrOptions::default()).unwrap();
        assert!(x.points[..13].iter().all(|p| p.shift));
        // A rise of 7 months split by a gap is not a trend.
        let mut v = some(&[1.0, 2.0, 3.0, 4.0]);
        v.push(None);
        v.extend(some(&[5.0, 6.0, 7.0, 1.0, 2.0]));
        let x = xmr(&v, XmrOptions::default()).unwrap();
        assert!(x.points.iter().all(|p| !p.trend));
        // Present count decides too_few_points.
        let mut v = some(&[1.0; 11]);
        v.push(None);
        assert!(xmr(&v, XmrOptions::default()).unwrap().too_few_points);
    }

    #[test]
    fn gap_breaks_two_of_three() {
        let x = xmr(&quiet(1.0, None, 1.0), XmrOptions::default()).unwrap();
        near_high(&x, 1.0);
        assert!(x.points.iter().all(|p| !p.two_of_three));
    }

    // The package's own unit tests of its helpers
    // (tests/testthat/test-ptd_calculate_point_type.R).

    fn b(v: &[u8]) -> Vec<bool> {
        v.iter().map(|&x| x != 0).collect()
    }

    #[test]
    fn package_seven_point_one_side_mean() {
        assert!(seven_point_one_side_mean(&[]).is_empty());
        assert_eq!(seven_point_one_side_mean(&[1; 6]), b(&[0; 6]));
        assert_eq!(
            seven_point_one_side_mean(&[1, 1, 1, 1, 1, 1, -1]),
            b(&[0; 7])
        );
        assert_eq!(
            seven_point_one_side_mean(&[1, 1, 1, 1, 1, 1, 1, 1, -1]),
            b(&[0, 0, 0, 0, 0, 0, 1, 1, 0])
        );
        assert_eq!(
            seven_point_one_side_mean(&[-1, -1, -1, -1, -1, -1, -1, -1, 1]),
            b(&[0, 0, 0, 0, 0, 0, 1, 1, 0])
        );
    }

    #[test]
    fn package_part_of_seven_trend() {
        assert!(part_of_seven(&[]).is_empty());
        assert_eq!(part_of_seven(&b(&[0; 6])), b(&[0; 6]));
        assert_eq!(
            part_of_seven(&b(&[0, 0, 0, 0, 0, 0, 1, 0])),
            b(&[1, 1, 1, 1, 1, 1, 1, 0])
        );
        assert_eq!(
            part_of_seven(&b(&[0, 0, 0, 0, 0, 0, 0, 1, 0])),
            b(&[0, 1, 1, 1, 1, 1, 1, 1, 0])
        );
    }

    #[test]
    fn package_seven_point_trend() {
        let f = |v: &[i32]| seven_point_trend(&v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
        assert!(f(&[]).is_empty());
        assert_eq!(f(&[1, 2, 3, 4, 5, 6]), vec![0; 6]);
        assert_eq!(f(&[1, 2, 3, 3, 4, 5, 6]), vec![0; 7]);
        assert_eq!(f(&[1, 2, 3, 4, 5, 6, 7]), vec![0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            f(&[2, 1, 2, 3, 4, 5, 6, 7, 3]),
            vec![0, 0, 0, 0, 0, 0, 0, 1, 0]
        );
        assert_eq!(f(&[7, 6, 5, 4, 3, 2, 1]), vec![0, 0, 0, 0, 0, 0, -1]);
        assert_eq!(
            f(&[2, 7, 6, 5, 4, 3, 2, 1, 3]),
            vec![0, 0, 0, 0, 0, 0, 0, -1, 0]
        );
    }

    #[test]
    fn package_two_in_three() {
        assert!(two_in_three(&[], &[]).is_empty());
        for c in [[1, 0, 1], [0, 1, 1], [1, 1, 0]] {
            assert_eq!(two_in_three(&b(&c), &[1, 1, 1]), b(&[1, 1, 1]));
            assert_eq!(two_in_three(&b(&c), &[1, -1, 1]), b(&[0, 0, 0]));
        }
        let all = [1i8; 7];
        assert_eq!(
            two_in_three(&b(&[0, 0, 1, 0, 1, 0, 0]), &all),
            b(&[0, 0, 1, 1, 1, 0, 0])
        );
        assert_eq!(
            two_in_three(&b(&[0, 0, 1, 1, 0, 0, 0]), &all),
            b(&[0, 1, 1, 1, 1, 0, 0])
        );
        let alt = [1i8, -1, 1, -1, 1, -1, 1];
        assert_eq!(two_in_three(&b(&[0, 0, 1, 0, 1, 0, 0]), &alt), b(&[0; 7]));
        let alt2 = [-1i8, 1, -1, 1, -1, 1, -1];
        assert_eq!(two_in_three(&b(&[0, 0, 1, 1, 0, 0, 0]), &alt2), b(&[0; 7]));
        // ptd_part_of_two_in_three: 1,0,0,1 → nothing; 1,0,0,1,1 → the last two.
        let part = |c: &[u8]| -> Vec<bool> {
            let c = b(c);
            let ones = vec![1i8; c.len()];
            two_in_three(&c, &ones)
                .iter()
                .zip(&c)
                .map(|(&w, &k)| w && k)
                .collect()
        };
        assert_eq!(part(&[1, 0, 0, 1]), b(&[0, 0, 0, 0]));
        assert_eq!(part(&[1, 0, 0, 1, 1]), b(&[0, 0, 0, 1, 1]));
        assert_eq!(part(&[0, 0, 1, 0, 1, 0, 0]), b(&[0, 0, 1, 0, 1, 0, 0]));
    }
}
