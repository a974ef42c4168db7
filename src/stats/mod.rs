//! Statistics on aggregated numbers: Wilson intervals, Student-t and Welch
//! intervals, funnel-plot limits and XmR (SPC) limits. No tables here: the
//! metrics aggregate with polars and hand these functions counts, means and
//! variances. Checked against UKHSA PHEindicatormethods' expected values
//! (`tests/test_stats.rs`) and hand-worked cases (below).

pub mod student_t;
pub mod xmr;

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

/// The two-sided normal quantile for a confidence level (0.95 → 1.959964).
pub fn z(confidence: f64) -> f64 {
    Normal::standard().inverse_cdf(confidence + (1.0 - confidence) / 2.0)
}

/// The two-sided Student-t quantile with `df` degrees of freedom.
/// Exact to 1e-12 relative against R's `qt` for df from 1 to 1e7 (`student_t`).
pub fn t(confidence: f64, df: f64) -> f64 {
    student_t::quantile(confidence + (1.0 - confidence) / 2.0, df)
}

/// An estimate with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// Wilson score interval for a proportion `x / n` (PHE Fingertips technical guidance).
/// None when `n` is zero.
pub fn wilson(x: f64, n: f64, confidence: f64) -> Option<Interval> {
    if n <= 0.0 || x < 0.0 || x > n {
        return None;
    }
    let z = z(confidence);
    let z2 = z * z;
    let centre = 2.0 * x + z2;
    let spread = z * (z2 + 4.0 * x * (1.0 - x / n)).sqrt();
    let denom = 2.0 * (n + z2);
    Some(Interval {
        estimate: x / n,
        low: (centre - spread) / denom,
        high: (centre + spread) / denom,
    })
}

/// Student-t interval for a mean from its sample size, mean and standard deviation.
/// None for fewer than two values.
pub fn mean_interval(n: f64, mean: f64, sd: f64, confidence: f64) -> Option<Interval> {
    if n < 2.0 || !sd.is_finite() {
        return None;
    }
    let half = t(confidence, n - 1.0) * sd / n.sqrt();
    Some(Interval {
        estimate: mean,
        low: mean - half,
        high: mean + half,
    })
}

/// Half-width of the Student-t interval of a mean: t(n − 1) × sd / √n.
/// None for fewer than two values (no interval can be drawn) or an unknown sd;
/// zero when every value is the same (the pack notes "no variation").
pub fn t_half_width(n: f64, sd: f64, confidence: f64) -> Option<f64> {
    if n < 2.0 || !sd.is_finite() {
        return None;
    }
    Some(t(confidence, n - 1.0) * sd / n.sqrt())
}

/// Byar's approximation to the exact Poisson interval for a count `o`
/// (PHE Fingertips / PHEindicatormethods `byars_lower`/`byars_upper`): the
/// limits for the count; divide by the expected count for a standardised ratio.
pub fn byar(o: f64, confidence: f64) -> Option<(f64, f64)> {
    if o < 0.0 || !o.is_finite() {
        return None;
    }
    let z = z(confidence);
    let lower = if o == 0.0 {
        0.0
    } else {
        o * (1.0 - 1.0 / (9.0 * o) - z / (3.0 * o.sqrt())).powi(3)
    };
    let u = o + 1.0;
    let upper = u * (1.0 - 1.0 / (9.0 * u) + z / (3.0 * u.sqrt())).powi(3);
    Some((lower, upper))
}

/// The difference of two independent means with a Welch (unequal variances)
/// interval and Welch–Satterthwaite degrees of freedom: used for the
/// difference-in-differences of per-person changes.
pub fn welch_difference(
    n1: f64,
    mean1: f64,
    var1: f64,
    n2: f64,
    mean2: f64,
    var2: f64,
    confidence: f64,
) -> Option<Interval> {
    if n1 < 2.0 || n2 < 2.0 {
        return None;
    }
    let (a, b) = (var1 / n1, var2 / n2);
    let se = (a + b).sqrt();
    let estimate = mean1 - mean2;
    if se == 0.0 {
        return Some(Interval {
            estimate,
            low: estimate,
            high: estimate,
        });
    }
    let df = (a + b).powi(2) / (a * a / (n1 - 1.0) + b * b / (n2 - 1.0));
    let half = t(confidence, df) * se;
    Some(Interval {
        estimate,
        low: estimate - half,
        high: estimate + half,
    })
}

/// One funnel-plot control limit for a proportion (as a fraction) at
/// denominator `n`, around the overall proportion `average`: the exact
/// (Wilson-score) form used by PHE Fingertips and PHEindicatormethods.
/// `probability` is 0.975 for the 95% limits and 0.999 for the 99.8% limits.
/// Clamped to [0, 1].
pub fn funnel_limit(probability: f64, n: f64, average: f64, high: bool) -> f64 {
    let z = Normal::standard().inverse_cdf(probability);
    let z2 = z * z;
    let first = average * (n / z2 + 1.0);
    let inner = (-8.0 * average * (n / z2 + 1.0)).powi(2)
        - 64.0
            * (1.0 / z2 + 1.0 / n)
            * average
            * (n * (average * (n / z2 + 2.0) - 1.0) + z2 * (average - 1.0));
    let adj = inner.max(0.0).sqrt() / 8.0;
    let last = 1.0 / z2 + 1.0 / n;
    let count = if high {
        (first + adj) / last
    } else {
        (first - adj) / last
    };
    (count / n).clamp(0.0, 1.0)
}

/// Funnel limits at one denominator.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FunnelPoint {
    pub denominator: f64,
    pub lower_95: f64,
    pub upper_95: f64,
    pub lower_998: f64,
    pub upper_998: f64,
}

pub fn funnel_point(n: f64, average: f64) -> FunnelPoint {
    FunnelPoint {
        denominator: n,
        lower_95: funnel_limit(0.975, n, average, false),
        upper_95: funnel_limit(0.975, n, average, true),
        lower_998: funnel_limit(0.999, n, average, false),
        upper_998: funnel_limit(0.999, n, average, true),
    }
}

/// 100 denominators spaced geometrically across the plot's axis, as
/// PHEindicatormethods draws its funnel (axis from 0 when the largest
/// denominator is over twice the smallest, to 5% past the largest).
pub fn funnel_denominators(min_den: f64, max_den: f64) -> Vec<f64> {
    // PHEindicatormethods' axis ends: x × 0.95 rounded down to its leading
    // digit, x × 1.05 rounded up to its leading two digits.
    fn signif(x: f64, scale: f64, digits: i32, round: fn(f64) -> f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        let y = round(x * scale);
        let n = (y.to_string().len() as i32) - digits;
        round(x * scale / 10f64.powi(n)) * 10f64.powi(n)
    }
    let floor_signif = |x: f64| signif(x, 0.95, 1, f64::floor);
    let ceil_signif = |x: f64| signif(x, 1.05, 2, f64::ceil);
    let axis_min = if max_den > 2.0 * min_den {
        0.0
    } else {
        floor_signif(min_den)
    };
    let axis_max = ceil_signif(max_den);
    let mut out = vec![axis_min.max(1.0)];
    for j in 2..=100 {
        let prev = out[out.len() - 1];
        let next = ((axis_max / prev).powf(1.0 / (101 - j) as f64) * prev).round();
        out.push(next.max(prev + 1.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_tables() {
        assert!((z(0.95) - 1.959_963_985).abs() < 1e-8);
        assert!((z(0.998) - 3.090_232_306).abs() < 1e-8);
        // t(0.975, 4) = 2.776445 (standard tables)
        assert!((t(0.95, 4.0) - 2.776_445_105).abs() < 1e-8);
    }

    #[test]
    fn welch_matches_scipy() {
        // Group 1: 1,2,3,4 (mean 2.5, var 5/3); group 2: 2,4,6 (mean 4, var 4).
        // Independent values: scipy 1.17.1,
        //   stats.ttest_ind([1,2,3,4], [2,4,6], equal_var=False).confidence_interval(0.95)
        //   → df 3.234718826405868, (−5.542327954923024, 2.5423279549230244).
        let i = welch_difference(4.0, 2.5, 5.0 / 3.0, 3.0, 4.0, 4.0, 0.95).unwrap();
        assert!((i.estimate + 1.5).abs() < 1e-12);
        assert!((i.low - -5.542_327_954_923_024).abs() < 1e-9, "{i:?}");
        assert!((i.high - 2.542_327_954_923_024_4).abs() < 1e-9, "{i:?}");
    }
}
