//! The providers, the courses they run, and their returns, each in its
//! provider's shape (headers, date formats, codes).

use chrono::{Datelike, Duration, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::population::Referral;
use super::table::{d, dmy, iso, pick, Table};

/// A provider and what is planted for it.
pub(super) struct Provider {
    pub id: &'static str,
    pub share: f64,
    pub start_probability: f64,
    pub completion_probability: f64,
    pub pam_gain_factor: f64,
}

/// The three providers (WCP is the worse one: fewer complete, half the PAM gain).
pub(super) const PROVIDERS: [Provider; 3] = [
    Provider {
        id: "NTH",
        share: 0.40,
        start_probability: 0.75,
        completion_probability: 0.80,
        pam_gain_factor: 1.0,
    },
    Provider {
        id: "ELS",
        share: 0.35,
        start_probability: 0.72,
        completion_probability: 0.75,
        pam_gain_factor: 1.0,
    },
    Provider {
        id: "WCP",
        share: 0.25,
        start_probability: 0.65,
        completion_probability: 0.50,
        pam_gain_factor: 0.5,
    },
];

/// One course run by a provider.
#[derive(Clone)]
pub(super) struct Course {
    /// Index into `PROVIDERS`.
    pub provider: usize,
    pub id: String,
    pub programme: &'static str,
    pub start: NaiveDate,
    pub language: &'static str,
}

const PROGRAMMES: [(&str, f64); 5] = [
    ("generic", 0.6),
    ("diabetes", 0.15),
    ("chronic_pain", 0.12),
    ("cancer", 0.05),
    ("carers", 0.08),
];

const LANGUAGES: [(&str, f64); 4] = [
    ("English", 0.88),
    ("Urdu", 0.05),
    ("Punjabi", 0.04),
    ("Polish", 0.03),
];

/// Each provider runs courses of about 10 referrals from April 2022 to March
/// 2025; those after September 2024 lack a full year of follow-up.
pub(super) fn make_courses(rng: &mut ChaCha8Rng, participants: usize) -> Vec<Course> {
    let first = d(2022, 4, 4);
    let span = (d(2025, 3, 24) - first).num_days();
    let mut courses = Vec::new();
    for (pi, p) in PROVIDERS.iter().enumerate() {
        let n = ((participants as f64 * p.share) / 10.0).ceil().max(1.0) as usize;
        for k in 0..n {
            let programme = pick(rng, &PROGRAMMES);
            let language = pick(rng, &LANGUAGES);
            courses.push(Course {
                provider: pi,
                id: format!("{}-{:03}", p.id, k + 1),
                programme,
                start: first + Duration::days(rng.gen_range(0..=span)),
                language,
            });
        }
    }
    courses
}

/// The age band of someone born in `yob`, at the date `at`.
fn age_band(yob: i32, at: NaiveDate) -> &'static str {
    match at.year() - yob {
        a if a < 35 => "18-34",
        a if a < 50 => "35-49",
        a if a < 65 => "50-64",
        a if a < 75 => "65-74",
        _ => "75+",
    }
}

/// `chronic_pain` → `Chronic pain`.
fn title_case(s: &str) -> String {
    let s = s.replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Northside's header, comma-separated.
const NTH_HEADER: &str =
    "NHS Number,Course Ref,Programme,Course Start,Language,Referred On,Referred By,Sessions Attended,Gender,Age Group,Ethnic Code,IMD Decile,No. of LTCs,Conditions";

/// Eastleigh's header, comma-separated.
const ELS_HEADER: &str =
    "Participant NHS No,Course ID,Course Type,Start Date,Referral Date,Source,Sessions,Sex,Year of Birth,Ethnicity,IMD,Language";

/// Westcombe's header, comma-separated.
const WCP_HEADER: &str =
    "nhs_no,course,programme,start,ref_date,ref_source,wk1,wk2,wk3,wk4,wk5,wk6,sex,age_band,ethnicity,imd_decile";

/// An empty table with a comma-separated header.
fn table(name: &str, header: &str) -> Table {
    Table::new(name, &header.split(',').collect::<Vec<_>>())
}

/// The three providers' returns, before faults are planted.
pub(super) struct Returns {
    pub nth: Table,
    pub els: Table,
    pub wcp: Table,
}

/// Every referral as a row of its provider's return.
pub(super) fn provider_returns(referrals: &[Referral], courses: &[Course]) -> Returns {
    let mut out = Returns {
        nth: table("northside_returns.csv", NTH_HEADER),
        els: table("eastleigh_returns.xlsx", ELS_HEADER),
        wcp: table("westcombe_register.csv", WCP_HEADER),
    };
    for r in referrals {
        let c = &courses[r.course];
        match PROVIDERS[c.provider].id {
            "NTH" => out.nth.rows.push(northside_row(r, c)),
            "ELS" => out.els.rows.push(eastleigh_row(r, c)),
            _ => out.wcp.rows.push(westcombe_row(r, c)),
        }
    }
    out
}

/// Northside: spaced NHS numbers, dd/mm/yyyy, title-case labels, one-letter sexes.
fn northside_row(r: &Referral, c: &Course) -> Vec<String> {
    let source = match r.referral_source {
        "gp" => "GP",
        "social_prescriber" => "Social Prescriber",
        "hospital" => "Hospital",
        "self" => "Self",
        _ => "Other",
    };
    let sex = match r.sex {
        "female" => "F",
        "male" => "M",
        "other" => "O",
        _ => "U",
    };
    vec![
        format!("{} {} {}", &r.nhs[..3], &r.nhs[3..6], &r.nhs[6..]),
        c.id.clone(),
        title_case(c.programme),
        dmy(c.start),
        c.language.into(),
        dmy(r.referral_date),
        source.into(),
        r.sessions().to_string(),
        sex.into(),
        age_band(r.year_of_birth, c.start).into(),
        r.ethnicity.into(),
        r.imd.to_string(),
        r.ltc.to_string(),
        r.conditions.clone(),
    ]
}

/// The first cells of the returns that use the canonical codes: who, which
/// course, and the referral.
fn canonical_cells(r: &Referral, c: &Course) -> Vec<String> {
    vec![
        r.nhs.clone(),
        c.id.clone(),
        c.programme.into(),
        iso(c.start),
        iso(r.referral_date),
        r.referral_source.into(),
    ]
}

/// Eastleigh: canonical codes, a year of birth, title-case sexes.
fn eastleigh_row(r: &Referral, c: &Course) -> Vec<String> {
    let mut row = canonical_cells(r, c);
    row.extend([
        r.sessions().to_string(),
        title_case(r.sex),
        r.year_of_birth.to_string(),
        r.ethnicity.into(),
        r.imd.to_string(),
        c.language.into(),
    ]);
    row
}

/// Westcombe: a Y/N attendance register, one column a session.
fn westcombe_row(r: &Referral, c: &Course) -> Vec<String> {
    let mut row = canonical_cells(r, c);
    row.extend(
        r.register
            .iter()
            .map(|b| if *b { "Y" } else { "N" }.to_string()),
    );
    row.extend([
        r.sex.to_string(),
        age_band(r.year_of_birth, c.start).into(),
        r.ethnicity.into(),
        r.imd.to_string(),
    ]);
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn referral() -> Referral {
        Referral {
            nhs: "9434765919".into(),
            course: 0,
            referral_date: d(2023, 1, 5),
            referral_source: "social_prescriber",
            register: [true, false, true, true, false, false],
            sex: "female",
            year_of_birth: 1958,
            ethnicity: "A",
            imd: 3,
            ltc: 2,
            conditions: "COPD;asthma".into(),
        }
    }

    fn course() -> Course {
        Course {
            provider: 0,
            id: "NTH-001".into(),
            programme: "chronic_pain",
            start: d(2023, 2, 1),
            language: "Urdu",
        }
    }

    #[test]
    fn age_bands_and_title_case() {
        let at = d(2024, 6, 1);
        assert_eq!(age_band(1990, at), "18-34");
        assert_eq!(age_band(1989, at), "35-49");
        assert_eq!(age_band(1960, at), "50-64");
        assert_eq!(age_band(1950, at), "65-74");
        assert_eq!(age_band(1949, at), "75+");
        assert_eq!(title_case("chronic_pain"), "Chronic pain");
        assert_eq!(title_case(""), "");
    }

    #[test]
    fn each_provider_writes_a_referral_in_its_own_shape() {
        let (r, c) = (referral(), course());
        let nth = northside_row(&r, &c);
        assert_eq!(nth.len(), NTH_HEADER.split(',').count());
        assert_eq!(
            nth[..4],
            ["943 476 5919", "NTH-001", "Chronic pain", "01/02/2023"]
        );
        assert_eq!(
            nth[5..10],
            ["05/01/2023", "Social Prescriber", "3", "F", "65-74"]
        );
        let els = eastleigh_row(&r, &c);
        assert_eq!(els.len(), ELS_HEADER.split(',').count());
        assert_eq!(
            els[3..8],
            [
                "2023-02-01",
                "2023-01-05",
                "social_prescriber",
                "3",
                "Female"
            ]
        );
        let wcp = westcombe_row(&r, &c);
        assert_eq!(wcp.len(), WCP_HEADER.split(',').count());
        assert_eq!(wcp[6..12], ["Y", "N", "Y", "Y", "N", "N"]);
        assert_eq!(wcp[12..14], ["female", "65-74"]);
    }

    #[test]
    fn providers_run_a_course_per_ten_referrals_in_the_evaluation_years() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let courses = make_courses(&mut rng, 200);
        // ceil(200 × 0.40 / 10) = 8, ceil(200 × 0.35 / 10) = 7, ceil(200 × 0.25 / 10) = 5.
        let per = |p| courses.iter().filter(|c| c.provider == p).count();
        assert_eq!((per(0), per(1), per(2)), (8, 7, 5));
        assert_eq!(courses[7].id, "NTH-008");
        assert_eq!(courses[8].id, "ELS-001");
        assert!(courses
            .iter()
            .all(|c| (d(2022, 4, 4)..=d(2025, 3, 24)).contains(&c.start)));
    }
}
