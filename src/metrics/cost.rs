//! The cost model (SPEC 1.4, 4): cost lines over the evaluation period, cost
//! per referral / starter / completer / course, and savings from the
//! difference-in-differences.

use crate::pipeline::{CostBasis, CostLine, UnitCosts};

/// Volumes a cost line is applied to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Volumes {
    pub referrals: f64,
    pub starters: f64,
    pub completers: f64,
    pub courses: f64,
}

/// The cost of one line over a period of `years` at the given volumes.
/// `per_year` lines run for the period; `one_off` lines are spread evenly over
/// their own life (`years` of the line) and the period takes its share.
pub fn line_cost(line: &CostLine, period_years: f64, v: Volumes) -> f64 {
    match line.basis {
        CostBasis::PerYear => line.amount * period_years,
        CostBasis::OneOff => line.amount / line.years.unwrap_or(1.0) * period_years,
        CostBasis::PerCourse => line.amount * v.courses,
        CostBasis::PerStarter => line.amount * v.starters,
        CostBasis::PerCompleter => line.amount * v.completers,
    }
}

/// (outcome, unit cost) pairs that are costed as savings. Emergency bed days
/// are reported but not costed: the spell cost covers the stay.
pub fn costed_outcomes(u: &UnitCosts) -> Vec<(&'static str, f64)> {
    vec![
        ("emergency_admissions", u.non_elective_spell),
        ("ae_attendances", u.ae_attendance),
        ("outpatient_attendances", u.outpatient_attendance),
    ]
}

/// Seed benchmarks shown beside the costs.
/// NESTA (2013): a volunteer-led CDSMP costs as little as £44 per participant.
pub const BENCHMARK_PER_PARTICIPANT: f64 = 44.0;
/// Dudley: £120,000 a year for about 500 completions (£240 per completion).
pub const BENCHMARK_PER_COMPLETER: f64 = 240.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn line(amount: f64, basis: CostBasis, years: Option<f64>) -> CostLine {
        CostLine {
            item: "x".into(),
            amount,
            basis,
            years,
            provider: None,
        }
    }

    #[test]
    fn cost_lines_hand_worked() {
        let v = Volumes {
            referrals: 100.0,
            starters: 80.0,
            completers: 60.0,
            courses: 8.0,
        };
        // Supervision £1,500 a year over 3 years = £4,500.
        assert_eq!(
            line_cost(&line(1500.0, CostBasis::PerYear, None), 3.0, v),
            4500.0
        );
        // SS2Q £1,000 every 3 years, over a 1.5-year period = £500.
        assert_eq!(
            line_cost(&line(1000.0, CostBasis::OneOff, Some(3.0)), 1.5, v),
            500.0
        );
        // Handbooks £12.95 per starter × 80 = £1,036.
        assert!(
            (line_cost(&line(12.95, CostBasis::PerStarter, None), 3.0, v) - 1036.0).abs() < 1e-9
        );
        assert_eq!(
            line_cost(&line(20.0, CostBasis::PerCourse, None), 3.0, v),
            160.0
        );
        assert_eq!(
            line_cost(&line(10.0, CostBasis::PerCompleter, None), 3.0, v),
            600.0
        );
    }
}
