//! `truth.json`: what was planted, and the expected values it implies, for the
//! tests that check the pipeline finds them.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::courses::PROVIDERS;
use super::population::{Index, PersonRates, Referral};
use super::table::iso;
use super::{AE_EFFECT, EMERGENCY_EFFECT, PAM_GAIN_BY_LEVEL, REFERRAL_BUMP};

#[derive(Serialize, Default)]
pub(super) struct Truth {
    seed: u64,
    description: String,
    referrals: usize,
    persons: usize,
    starters: usize,
    completers: usize,
    completion_threshold: u32,
    hospital_coverage: (String, String),
    referral_bump: f64,
    emergency_effect: f64,
    ae_effect: f64,
    /// Mean usual emergency-admission rate (per year) of starters / of the comparison group.
    mean_emergency_rate_starters: f64,
    mean_emergency_rate_comparison: f64,
    mean_ae_rate_starters: f64,
    /// Expected difference-in-differences per person over a 365-day window.
    expected_did: BTreeMap<String, f64>,
    /// Expected naive pre/post change in the comparison group (regression to the mean).
    expected_comparison_change: BTreeMap<String, f64>,
    completion_probability_by_provider: BTreeMap<String, f64>,
    worse_provider: String,
    pam_gain_by_baseline_level: BTreeMap<String, f64>,
    pam_gain_factor_by_provider: BTreeMap<String, f64>,
    faults: usize,
}

/// What the people and the planted effects imply, for `seed`.
pub(super) fn truth(
    seed: u64,
    coverage: (NaiveDate, NaiveDate),
    (referrals, index, rates): (&[Referral], &Index, &BTreeMap<String, PersonRates>),
    faults: usize,
) -> Truth {
    let mut truth = Truth {
        seed,
        description: "Synthetic data from `smpeval generate`; effects planted as documented in src/generate/mod.rs".into(),
        referrals: referrals.len(),
        persons: index.len(),
        completion_threshold: 4,
        hospital_coverage: (iso(coverage.0), iso(coverage.1)),
        referral_bump: REFERRAL_BUMP,
        emergency_effect: EMERGENCY_EFFECT,
        ae_effect: AE_EFFECT,
        worse_provider: "WCP".into(),
        faults,
        ..Default::default()
    };
    truth.starters = referrals.iter().filter(|r| r.sessions() >= 1).count();
    truth.completers = referrals.iter().filter(|r| r.sessions() >= 4).count();
    let mean = |f: &dyn Fn(&PersonRates) -> f64, started: bool| {
        let v: Vec<f64> = index
            .iter()
            .filter(|(_, (_, s, _))| *s == started)
            .map(|(n, _)| f(&rates[n]))
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    truth.mean_emergency_rate_starters = mean(&|r| r.emergency, true);
    truth.mean_emergency_rate_comparison = mean(&|r| r.emergency, false);
    truth.mean_ae_rate_starters = mean(&|r| r.ae, true);
    expectations(&mut truth);
    truth
}

/// The expected changes and the per-provider and per-level constants.
fn expectations(truth: &mut Truth) {
    let did = &mut truth.expected_did;
    did.insert(
        "emergency_admissions".into(),
        -EMERGENCY_EFFECT * truth.mean_emergency_rate_starters,
    );
    did.insert(
        "ae_attendances".into(),
        -AE_EFFECT * truth.mean_ae_rate_starters,
    );
    did.insert("elective_admissions".into(), 0.0);
    did.insert("outpatient_attendances".into(), 0.0);
    truth.expected_comparison_change.insert(
        "emergency_admissions".into(),
        -REFERRAL_BUMP * truth.mean_emergency_rate_comparison,
    );
    for p in &PROVIDERS {
        let id = p.id.to_string();
        let completion = p.completion_probability;
        truth
            .completion_probability_by_provider
            .insert(id.clone(), completion);
        truth
            .pam_gain_factor_by_provider
            .insert(id, p.pam_gain_factor);
    }
    for (i, g) in PAM_GAIN_BY_LEVEL.iter().enumerate() {
        truth
            .pam_gain_by_baseline_level
            .insert((i + 1).to_string(), *g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::table::d;

    fn person(nhs: &str, sessions: usize) -> Referral {
        let mut register = [false; 6];
        register[..sessions].iter_mut().for_each(|s| *s = true);
        Referral {
            nhs: nhs.into(),
            course: 0,
            referral_date: d(2023, 1, 1),
            referral_source: "gp",
            register,
            sex: "male",
            year_of_birth: 1950,
            ethnicity: "A",
            imd: 5,
            ltc: 1,
            conditions: String::new(),
        }
    }

    #[test]
    fn expected_values_follow_from_the_people_and_the_planted_effects() {
        let people = [person("a", 6), person("b", 2), person("c", 0)];
        let rates: BTreeMap<String, PersonRates> = [("a", 0.4), ("b", 0.8), ("c", 1.0)]
            .into_iter()
            .map(|(n, e)| {
                let r = PersonRates {
                    emergency: e,
                    ae: 1.5 * e + 0.2,
                    elective: 0.3,
                    outpatient: 3.0,
                };
                (n.to_string(), r)
            })
            .collect();
        let index: Index = [("a", true, true), ("b", true, false), ("c", false, false)]
            .into_iter()
            .map(|(n, s, c)| (n.to_string(), (d(2023, 2, 1), s, c)))
            .collect();
        let t = truth(
            5,
            (d(2020, 4, 1), d(2025, 9, 30)),
            (&people, &index, &rates),
            2,
        );
        assert_eq!(
            (t.starters, t.completers, t.persons, t.faults),
            (2, 1, 3, 2)
        );
        // Starters' mean emergency rate (0.4 + 0.8) / 2 = 0.6; A&E 1.5 × 0.6 + 0.2 = 1.1.
        assert!((t.expected_did["emergency_admissions"] + 0.25 * 0.6).abs() < 1e-12);
        assert!((t.expected_did["ae_attendances"] + 0.15 * 1.1).abs() < 1e-12);
        // The comparison group (c alone): −0.5 × 1.0.
        assert!((t.expected_comparison_change["emergency_admissions"] + 0.5).abs() < 1e-12);
        assert_eq!(
            t.hospital_coverage,
            ("2020-04-01".into(), "2025-09-30".into())
        );
        assert_eq!(t.pam_gain_factor_by_provider["WCP"], 0.5);
        assert_eq!(t.pam_gain_by_baseline_level["1"], 8.0);
    }
}
