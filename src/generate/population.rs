//! The referred people: who they are, which course they were referred to,
//! which sessions they attended, their usual hospital use and index dates.

use std::collections::{BTreeMap, HashSet};

use chrono::{Duration, NaiveDate};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};

use super::courses::{Course, Provider, PROVIDERS};
use super::table::pick;
use super::{Confounding, Options};
use crate::ingest::nhs;

/// One referral to a course, with the person's details.
#[derive(Clone)]
pub(super) struct Referral {
    pub nhs: String,
    /// Index into the courses.
    pub course: usize,
    pub referral_date: NaiveDate,
    pub referral_source: &'static str,
    /// Sessions 1–6 attended.
    pub register: [bool; 6],
    pub sex: &'static str,
    pub year_of_birth: i32,
    pub ethnicity: &'static str,
    pub imd: u8,
    pub ltc: u8,
    pub conditions: String,
}

impl Referral {
    /// Sessions attended.
    pub fn sessions(&self) -> usize {
        self.register.iter().filter(|b| **b).count()
    }
}

/// A person's usual yearly rates of each kind of hospital use.
pub(super) struct PersonRates {
    pub emergency: f64,
    pub ae: f64,
    pub elective: f64,
    pub outpatient: f64,
}

/// Mean of the Gamma(1.2, 0.5) usual emergency rate.
const MEAN_EMERGENCY_RATE: f64 = 0.6;

/// A person's usual emergency rate and start probability under confounding.
fn confounded(c: Confounding, latent: f64, imd: u8, ltc: u8, base_start: f64) -> (f64, f64) {
    // Deprivation raises hospital use: decile 1 × 1.45, decile 10 × 0.55.
    let deprivation = 1.0 + 0.1 * (5.5 - imd as f64);
    let rate = latent * deprivation * (1.0 + 0.15 * (ltc as f64 - 2.0));
    let p = match c {
        Confounding::Latent => {
            base_start + 0.04 * (imd as f64 - 5.5)
                - 0.05 * (ltc as f64 - 2.0)
                - 0.35 * (latent - MEAN_EMERGENCY_RATE)
        }
        Confounding::Observed => base_start + 0.06 * (imd as f64 - 5.5),
    };
    (rate, p.clamp(0.05, 0.95))
}

const CONDITIONS: [&str; 8] = [
    "diabetes",
    "COPD",
    "arthritis",
    "heart failure",
    "depression",
    "Crohn’s disease",
    "chronic pain",
    "asthma",
];

const REFERRAL_SOURCES: [(&str, f64); 5] = [
    ("gp", 0.5),
    ("social_prescriber", 0.2),
    ("hospital", 0.15),
    ("self", 0.12),
    ("other", 0.03),
];

const SEXES: [(&str, f64); 4] = [
    ("female", 0.6),
    ("male", 0.38),
    ("other", 0.01),
    ("unknown", 0.01),
];

const ETHNICITIES: [(&str, f64); 12] = [
    ("A", 0.7),
    ("B", 0.02),
    ("C", 0.04),
    ("D", 0.01),
    ("H", 0.05),
    ("J", 0.06),
    ("K", 0.02),
    ("M", 0.03),
    ("N", 0.02),
    ("S", 0.02),
    ("Z", 0.02),
    ("99", 0.01),
];

/// Sessions attended: none unless the person starts (`start_probability`),
/// then 4–6 if they complete, else 1–3.
fn draw_sessions(rng: &mut ChaCha8Rng, start_probability: f64, p: &Provider) -> usize {
    if rng.gen::<f64>() < start_probability {
        if rng.gen::<f64>() < p.completion_probability {
            pick(rng, &[(4usize, 0.2), (5, 0.3), (6, 0.5)])
        } else {
            rng.gen_range(1..=3)
        }
    } else {
        0
    }
}

/// The first `sessions` of six sessions attended.
fn first_sessions(sessions: usize) -> [bool; 6] {
    let mut register = [false; 6];
    for s in register.iter_mut().take(sessions) {
        *s = true;
    }
    register
}

/// A new referred person's NHS number: 999… with a valid check digit.
fn new_nhs_number(rng: &mut ChaCha8Rng, used: &mut HashSet<String>) -> String {
    loop {
        let base: u64 = 999_000_000 + rng.gen_range(0..1_000_000);
        if let Some(n) = nhs::with_check_digit(base) {
            if used.insert(n.clone()) {
                return n;
            }
        }
    }
}

/// The referrals (`opts.participants` of them, one person each) and each
/// person's usual rates of hospital use.
pub(super) fn make_referrals(
    rng: &mut ChaCha8Rng,
    courses: &[Course],
    opts: &Options,
) -> (Vec<Referral>, BTreeMap<String, PersonRates>) {
    let mut used = HashSet::new();
    let mut referrals: Vec<Referral> = Vec::new();
    let gamma = Gamma::new(1.2, 0.5).expect("gamma parameters");
    let mut rates: BTreeMap<String, PersonRates> = BTreeMap::new();
    while referrals.len() < opts.participants {
        let nhs = new_nhs_number(rng, &mut used);
        let mut r = draw_referral(rng, courses, nhs.clone());
        let p = &PROVIDERS[courses[r.course].provider];
        let mut emergency = gamma.sample(rng);
        if let Some(c) = opts.confounded {
            let (rate, p_start) = confounded(c, emergency, r.imd, r.ltc, p.start_probability);
            emergency = rate;
            r.register = first_sessions(draw_sessions(rng, p_start, p));
        }
        let rate = PersonRates {
            emergency,
            ae: 1.5 * emergency + 0.2,
            elective: 0.3,
            outpatient: 3.0,
        };
        rates.insert(nhs, rate);
        referrals.push(r);
    }
    (referrals, rates)
}

/// One referral of the person `nhs`: provider, course, sessions and who they are.
fn draw_referral(rng: &mut ChaCha8Rng, courses: &[Course], nhs: String) -> Referral {
    let shares: Vec<(usize, f64)> = PROVIDERS
        .iter()
        .enumerate()
        .map(|(i, p)| (i, p.share))
        .collect();
    let pi = pick(rng, &shares);
    let own: Vec<usize> = (0..courses.len())
        .filter(|c| courses[*c].provider == pi)
        .collect();
    let course = own[rng.gen_range(0..own.len())];
    let p = &PROVIDERS[pi];
    let sessions = draw_sessions(rng, p.start_probability, p);
    let mut register = first_sessions(sessions);
    if sessions > 0 && sessions < 6 && rng.gen::<f64>() < 0.3 {
        // a missed session and a later one attended instead
        let miss = rng.gen_range(0..sessions);
        register[miss] = false;
        register[sessions] = true;
    }
    let yob = rng.gen_range(1935..=2000);
    let n_cond = rng.gen_range(1..=3);
    let mut cs: Vec<&str> = CONDITIONS.to_vec();
    cs.shuffle(rng);
    // The fields are drawn in the order they are written here.
    Referral {
        nhs,
        course,
        referral_date: courses[course].start - Duration::days(rng.gen_range(7..=60)),
        referral_source: pick(rng, &REFERRAL_SOURCES),
        register,
        sex: pick(rng, &SEXES),
        year_of_birth: yob,
        ethnicity: pick(rng, &ETHNICITIES),
        imd: rng.gen_range(1..=10),
        ltc: n_cond as u8 + rng.gen_range(0..2),
        conditions: cs[..n_cond].join(";"),
    }
}

/// A person's index date, whether they started and whether they completed.
pub(super) type Index = BTreeMap<String, (NaiveDate, bool, bool)>;

/// Index dates: first started course's start, else first referral (SPEC 4).
pub(super) fn index_dates(referrals: &[Referral], courses: &[Course]) -> Index {
    let mut index = Index::new();
    for r in referrals {
        let started = r.sessions() >= 1;
        let date = if started {
            courses[r.course].start
        } else {
            r.referral_date
        };
        let completer = r.sessions() >= 4;
        index.insert(r.nhs.clone(), (date, started, completer));
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Modulus 11 by hand: weights 10 down to 2 on the first nine digits; the
    /// check digit is 11 minus the remainder (11 → 0; 10 is never valid).
    fn passes_modulus_11(n: &str) -> bool {
        let d: Vec<u32> = n.chars().filter_map(|c| c.to_digit(10)).collect();
        if d.len() != 10 || n.len() != 10 {
            return false;
        }
        let sum: u32 = (0..9).map(|i| d[i] * (10 - i as u32)).sum();
        match 11 - sum % 11 {
            11 => d[9] == 0,
            10 => false,
            c => d[9] == c,
        }
    }

    fn people(seed: u64, confounded: Option<Confounding>) -> (Vec<Referral>, Vec<Course>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let courses = super::super::courses::make_courses(&mut rng, 300);
        let opts = Options {
            out: "unused".into(),
            participants: 300,
            hospital_rows: 0,
            seed,
            faults: false,
            confounded,
            stream_above: usize::MAX,
        };
        (make_referrals(&mut rng, &courses, &opts).0, courses)
    }

    #[test]
    fn the_hand_worked_rule_agrees_with_known_numbers() {
        assert!(passes_modulus_11("9434765919"));
        assert!(!passes_modulus_11("9434765918"));
        assert!(!passes_modulus_11("943476591"));
    }

    #[test]
    fn referred_people_have_distinct_valid_nhs_numbers_in_the_999_range() {
        let (referrals, _) = people(7, None);
        let mut seen = HashSet::new();
        for r in &referrals {
            assert!(passes_modulus_11(&r.nhs), "{}", r.nhs);
            assert!(r.nhs.starts_with("999"), "{}", r.nhs);
            assert!(seen.insert(r.nhs.clone()), "{} repeats", r.nhs);
        }
        assert_eq!(referrals.len(), 300);
    }

    #[test]
    fn the_same_seed_gives_the_same_people_and_another_seed_does_not() {
        let key = |(rs, _): (Vec<Referral>, Vec<Course>)| -> Vec<(String, usize, [bool; 6])> {
            rs.into_iter()
                .map(|r| (r.nhs, r.course, r.register))
                .collect()
        };
        assert_eq!(key(people(11, None)), key(people(11, None)));
        assert_ne!(key(people(11, None)), key(people(12, None)));
    }

    #[test]
    fn referrals_come_7_to_60_days_before_their_course_and_sessions_fit_the_register() {
        let (referrals, courses) = people(5, Some(Confounding::Latent));
        for r in &referrals {
            let lead = (courses[r.course].start - r.referral_date).num_days();
            assert!((7..=60).contains(&lead), "{lead}");
            assert!(r.sessions() <= 6 && (1..=10).contains(&r.imd));
        }
        let index = index_dates(&referrals, &courses);
        let r = referrals.iter().find(|r| r.sessions() == 0).unwrap();
        assert_eq!(index[&r.nhs], (r.referral_date, false, false));
        let r = referrals.iter().find(|r| r.sessions() >= 4).unwrap();
        assert_eq!(index[&r.nhs], (courses[r.course].start, true, true));
    }

    #[test]
    fn under_observed_confounding_the_least_deprived_start_more() {
        // Decile 10 vs decile 1 at a base of 0.7: 0.7 ± 0.06 × 4.5 = 0.97 → 0.95 and 0.43.
        let (_, p10) = confounded(Confounding::Observed, 0.6, 10, 2, 0.7);
        let (rate1, p1) = confounded(Confounding::Observed, 0.6, 1, 2, 0.7);
        assert!((p10 - 0.95).abs() < 1e-12 && (p1 - 0.43).abs() < 1e-12);
        // Decile 1 raises use by 1 + 0.1 × 4.5 = 1.45.
        assert!((rate1 - 0.6 * 1.45).abs() < 1e-12);
    }
}
