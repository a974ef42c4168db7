//! Synthetic inputs with planted, documented effects (`smpeval generate`).
//!
//! The output is shaped like real returns: three providers with their own
//! headers (a Windows-1252 CSV with dd/mm/yyyy dates, an XLSX workbook, and a
//! `;`-separated CSV with a Y/N attendance register), a HES-shaped hospital
//! extract (APC with multi-episode spells, A&E, outpatients), PAM scores, a
//! `pipeline.toml` that ingests them, and `truth.json` with what was planted.
//!
//! Planted effects (all written to truth.json):
//! - every referred person's emergency admissions and A&E attendances run at
//!   `1 + REFERRAL_BUMP` times their usual rate in the year before the index
//!   date (people are referred after a bad spell), so the comparison group's
//!   naive pre/post change shows regression to the mean;
//! - starters' emergency admissions fall by `EMERGENCY_EFFECT` and A&E by
//!   `AE_EFFECT` in the year after; elective and outpatient use do not change;
//! - completion probability differs by provider (WCP is the worse provider);
//! - PAM gain depends on the baseline level.
//!
//! With `--faults`, known bad rows are planted and listed in `faults.json`
//! (file, line, field, reason): ingest must reject exactly these.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{Duration, NaiveDate};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, Normal, Poisson};
use serde::Serialize;

use crate::ingest::nhs;

/// The key written beside generated data: synthetic data only, never real data.
pub const DEMO_KEY: &str = "smpeval-demo-key-for-synthetic-data-only\n";

/// Pre-window rate multiplier is 1 + this for emergency admissions and A&E.
pub const REFERRAL_BUMP: f64 = 0.5;
/// Relative fall in starters' emergency admissions after the course.
pub const EMERGENCY_EFFECT: f64 = 0.25;
/// Relative fall in starters' A&E attendances after the course.
pub const AE_EFFECT: f64 = 0.15;
/// Mean PAM gain by baseline level 1–4 for starters (worse provider: half).
pub const PAM_GAIN_BY_LEVEL: [f64; 4] = [8.0, 5.0, 3.0, 1.0];
pub const COVERAGE_START: (i32, u32, u32) = (2020, 4, 1);
pub const COVERAGE_END: (i32, u32, u32) = (2025, 9, 30);

#[derive(Debug, Clone)]
pub struct Options {
    pub out: PathBuf,
    pub participants: usize,
    pub hospital_rows: usize,
    pub seed: u64,
    pub faults: bool,
    /// Who starts depends on who they are (for testing the matched comparison).
    pub confounded: Option<Confounding>,
    /// Above this many hospital rows the extract is written as it is made, a
    /// tenth of this at a time (`STREAM_ABOVE` from the command line).
    pub stream_above: usize,
}

/// How starting is confounded with hospital use (`--confounded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Confounding {
    /// More deprived people, people with more conditions and people with a
    /// higher latent hospital risk (which prior use only partly reveals)
    /// start less: the unmatched DiD is biased, matching reduces the bias.
    Latent,
    /// Starting depends only on deprivation, which is matched on, and
    /// deprivation raises hospital use: the matched DiD is unbiased.
    Observed,
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

struct Provider {
    id: &'static str,
    share: f64,
    start_probability: f64,
    completion_probability: f64,
    pam_gain_factor: f64,
}

const PROVIDERS: [Provider; 3] = [
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

#[derive(Clone)]
struct Course {
    provider: usize,
    id: String,
    programme: &'static str,
    start: NaiveDate,
    language: &'static str,
}

#[derive(Clone)]
struct Referral {
    nhs: String,
    course: usize,
    referral_date: NaiveDate,
    referral_source: &'static str,
    register: [bool; 6],
    sex: &'static str,
    year_of_birth: i32,
    ethnicity: &'static str,
    imd: u8,
    ltc: u8,
    conditions: String,
}

impl Referral {
    fn sessions(&self) -> usize {
        self.register.iter().filter(|b| **b).count()
    }
}

#[derive(Serialize, Default)]
struct Truth {
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

/// A planted bad row: where it is and what ingest must say.
#[derive(Serialize, Clone, Debug)]
pub struct Fault {
    pub file: String,
    pub line: u32,
    pub field: String,
    /// Words the reject reason must contain.
    pub reason: String,
    /// `reject` (the row is rejected) or `warning` (the row is kept, the
    /// value blanked or corrected, and the warnings table says so).
    pub severity: String,
}

/// A planted fault in a field that may be blank, or a course start date that
/// the course's other rows outvote, keeps its row with a warning.
fn severity(field: &str, reason: &str) -> &'static str {
    // The planted faults in optional fields of the returns (type checks only).
    const OPTIONAL: &[&str] = &["sex", "ethnicity", "imd_decile"];
    if OPTIONAL.contains(&field) || reason.starts_with("differs from the start date") {
        "warning"
    } else {
        "reject"
    }
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("constant date")
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, f64)]) -> T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen::<f64>() * total;
    for (item, w) in items {
        if x < *w {
            return *item;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

fn age_band(yob: i32, at: NaiveDate) -> &'static str {
    use chrono::Datelike;
    match at.year() - yob {
        a if a < 35 => "18-34",
        a if a < 50 => "35-49",
        a if a < 65 => "50-64",
        a if a < 75 => "65-74",
        _ => "75+",
    }
}

/// Rows of one output file before faults are planted: a header and cells.
struct Table {
    name: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Faults planted in `rows`, by row index.
    faults: Vec<(usize, String, String)>,
}

impl Table {
    fn new(name: &str, header: &[&str]) -> Self {
        Table {
            name: name.into(),
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            faults: Vec::new(),
        }
    }
    fn col(&self, h: &str) -> usize {
        self.header
            .iter()
            .position(|x| x == h)
            .expect("known header")
    }
    /// Plants a copy of a random row with one cell changed.
    fn plant(
        &mut self,
        rng: &mut ChaCha8Rng,
        header: &str,
        value: &str,
        field: &str,
        reason: &str,
    ) {
        // Copy a clean row, never an earlier fault.
        let src = loop {
            let i = rng.gen_range(0..self.rows.len());
            if self.faults.iter().all(|f| f.0 != i) {
                break i;
            }
        };
        let mut row = self.rows[src].clone();
        let c = self.col(header);
        row[c] = value.to_string();
        // A row kept with a warning must not also repeat its source row's referral.
        if severity(field, reason) == "warning" {
            if let Some(id) = self.header.iter().position(|h| h == "NHS Number") {
                let base = 996_000_000 + 100 * self.faults.len() as u64;
                row[id] = (0..100)
                    .find_map(|k| nhs::with_check_digit(base + k))
                    .unwrap_or_default();
            }
        }
        self.insert_fault(rng, row, field, reason);
    }
    fn insert_fault(&mut self, rng: &mut ChaCha8Rng, row: Vec<String>, field: &str, reason: &str) {
        let at = rng.gen_range(0..=self.rows.len());
        self.rows.insert(at, row);
        for f in self.faults.iter_mut() {
            if f.0 >= at {
                f.0 += 1;
            }
        }
        self.faults.push((at, field.into(), reason.into()));
    }
    fn fault_list(&self) -> Vec<Fault> {
        self.faults
            .iter()
            .map(|(i, f, r)| Fault {
                file: self.name.clone(),
                line: *i as u32 + 2,
                field: f.clone(),
                reason: r.clone(),
                severity: severity(f, r).to_string(),
            })
            .collect()
    }
}

/// Above this many hospital rows the extract is written as it is made, in
/// batches of a tenth of this (2M rows), so memory stays flat at any size.
pub const STREAM_ABOVE: usize = 20_000_000;

/// HES extracts come in no particular order; keep episodes of a spell together.
fn sort_hes(t: &mut Table) {
    t.rows.sort_by(|a, b| (&a[1], &a[0]).cmp(&(&b[1], &b[0])));
}

/// Sorts and appends each table's batch to its file; the rows written.
fn flush_batch(sinks: &mut [csv::Writer<std::fs::File>], tables: [&mut Table; 3]) -> Result<usize> {
    let mut n = 0;
    for (w, t) in sinks.iter_mut().zip(tables) {
        sort_hes(t);
        n += t.rows.len();
        for r in t.rows.drain(..) {
            w.write_record(&r)?;
        }
    }
    Ok(n)
}

fn write_csv(dir: &Path, t: &Table, delimiter: u8, windows_1252: bool) -> Result<()> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_writer(Vec::new());
    w.write_record(&t.header)?;
    for r in &t.rows {
        w.write_record(r)?;
    }
    let text = String::from_utf8(w.into_inner().context("csv buffer")?)?;
    let bytes = if windows_1252 {
        encoding_rs::WINDOWS_1252.encode(&text).0.into_owned()
    } else {
        text.into_bytes()
    };
    let path = dir.join(&t.name);
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn write_xlsx(dir: &Path, t: &Table, date_cols: &[&str], number_cols: &[&str]) -> Result<()> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Referrals")?;
    let date_fmt = Format::new().set_num_format("dd/mm/yyyy");
    for (c, h) in t.header.iter().enumerate() {
        sheet.write_string(0, c as u16, h)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, v) in row.iter().enumerate() {
            let c16 = c as u16;
            let h = t.header[c].as_str();
            if v.is_empty() {
                continue;
            }
            if date_cols.contains(&h) {
                if let Ok(dt) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
                    use chrono::Datelike;
                    let x = ExcelDateTime::from_ymd(
                        dt.year() as u16,
                        dt.month() as u8,
                        dt.day() as u8,
                    )?;
                    sheet.write_datetime_with_format(r, c16, &x, &date_fmt)?;
                    continue;
                }
            }
            if number_cols.contains(&h) {
                if let Ok(n) = v.parse::<f64>() {
                    sheet.write_number(r, c16, n)?;
                    continue;
                }
            }
            sheet.write_string(r, c16, v)?;
        }
    }
    let path = dir.join(&t.name);
    book.save(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Poisson draws of event days in [from, to) at `rate_per_year`.
fn events(
    rng: &mut ChaCha8Rng,
    from: NaiveDate,
    to: NaiveDate,
    rate_per_year: f64,
) -> Vec<NaiveDate> {
    let days = (to - from).num_days();
    if days <= 0 || rate_per_year <= 0.0 {
        return Vec::new();
    }
    let mean = rate_per_year * days as f64 / 365.0;
    let n = Poisson::new(mean)
        .map(|p| p.sample(rng) as usize)
        .unwrap_or(0);
    (0..n)
        .map(|_| from + Duration::days(rng.gen_range(0..days)))
        .collect()
}

/// A referred person's events of one kind across the extract: the usual rate,
/// `1 + REFERRAL_BUMP` times it in the year before the index date, and
/// `post_factor` times it in the year after.
fn bumped_events(
    rng: &mut ChaCha8Rng,
    coverage: (NaiveDate, NaiveDate),
    index: NaiveDate,
    rate: f64,
    post_factor: f64,
) -> Vec<NaiveDate> {
    let year = Duration::days(365);
    let (pre, post) = (index - year, index + year);
    let mut out = events(rng, coverage.0, pre, rate);
    out.extend(events(rng, pre, index, rate * (1.0 + REFERRAL_BUMP)));
    out.extend(events(rng, index, post, rate * post_factor));
    out.extend(events(rng, post, coverage.1 + Duration::days(1), rate));
    out.retain(|d| *d <= coverage.1);
    out
}

struct PersonRates {
    emergency: f64,
    ae: f64,
    elective: f64,
    outpatient: f64,
}

/// Writes the synthetic inputs; returns the planted faults.
pub fn generate(opts: &Options) -> Result<Vec<Fault>> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    let cov_start = d(COVERAGE_START.0, COVERAGE_START.1, COVERAGE_START.2);
    let cov_end = d(COVERAGE_END.0, COVERAGE_END.1, COVERAGE_END.2);

    // Courses: each provider runs courses of about 10 referrals from April 2022
    // to March 2025; those after September 2024 lack a full year of follow-up.
    let first = d(2022, 4, 4);
    let span = (d(2025, 3, 24) - first).num_days();
    let mut courses = Vec::new();
    for (pi, p) in PROVIDERS.iter().enumerate() {
        let n = ((opts.participants as f64 * p.share) / 10.0)
            .ceil()
            .max(1.0) as usize;
        for k in 0..n {
            let programme = pick(
                &mut rng,
                &[
                    ("generic", 0.6),
                    ("diabetes", 0.15),
                    ("chronic_pain", 0.12),
                    ("cancer", 0.05),
                    ("carers", 0.08),
                ],
            );
            let language = pick(
                &mut rng,
                &[
                    ("English", 0.88),
                    ("Urdu", 0.05),
                    ("Punjabi", 0.04),
                    ("Polish", 0.03),
                ],
            );
            courses.push(Course {
                provider: pi,
                id: format!("{}-{:03}", p.id, k + 1),
                programme,
                start: first + Duration::days(rng.gen_range(0..=span)),
                language,
            });
        }
    }

    // Persons and their referrals.
    let mut used = std::collections::HashSet::new();
    let mut referrals: Vec<Referral> = Vec::new();
    let conditions = [
        "diabetes",
        "COPD",
        "arthritis",
        "heart failure",
        "depression",
        "Crohn’s disease",
        "chronic pain",
        "asthma",
    ];
    let gamma = Gamma::new(1.2, 0.5).expect("gamma parameters");
    let mut rates: BTreeMap<String, PersonRates> = BTreeMap::new();
    while referrals.len() < opts.participants {
        let nhs = loop {
            let base: u64 = 999_000_000 + rng.gen_range(0..1_000_000);
            if let Some(n) = nhs::with_check_digit(base) {
                if used.insert(n.clone()) {
                    break n;
                }
            }
        };
        let shares: Vec<(usize, f64)> = PROVIDERS
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.share))
            .collect();
        let pi = pick(&mut rng, &shares);
        let own: Vec<usize> = (0..courses.len())
            .filter(|c| courses[*c].provider == pi)
            .collect();
        let course = own[rng.gen_range(0..own.len())];
        let p = &PROVIDERS[pi];
        let sessions = if rng.gen::<f64>() < p.start_probability {
            if rng.gen::<f64>() < p.completion_probability {
                pick(&mut rng, &[(4usize, 0.2), (5, 0.3), (6, 0.5)])
            } else {
                rng.gen_range(1..=3)
            }
        } else {
            0
        };
        let mut register = [false; 6];
        for s in register.iter_mut().take(sessions) {
            *s = true;
        }
        if sessions > 0 && sessions < 6 && rng.gen::<f64>() < 0.3 {
            // a missed session and a later one attended instead
            let miss = rng.gen_range(0..sessions);
            register[miss] = false;
            register[sessions] = true;
        }
        let yob = rng.gen_range(1935..=2000);
        let n_cond = rng.gen_range(1..=3);
        let mut cs: Vec<&str> = conditions.to_vec();
        cs.shuffle(&mut rng);
        let r = Referral {
            nhs: nhs.clone(),
            course,
            referral_date: courses[course].start - Duration::days(rng.gen_range(7..=60)),
            referral_source: pick(
                &mut rng,
                &[
                    ("gp", 0.5),
                    ("social_prescriber", 0.2),
                    ("hospital", 0.15),
                    ("self", 0.12),
                    ("other", 0.03),
                ],
            ),
            register,
            sex: pick(
                &mut rng,
                &[
                    ("female", 0.6),
                    ("male", 0.38),
                    ("other", 0.01),
                    ("unknown", 0.01),
                ],
            ),
            year_of_birth: yob,
            ethnicity: pick(
                &mut rng,
                &[
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
                ],
            ),
            imd: rng.gen_range(1..=10),
            ltc: n_cond as u8 + rng.gen_range(0..2),
            conditions: cs[..n_cond].join(";"),
        };
        let mut emergency = gamma.sample(&mut rng);
        let mut r = r;
        if let Some(c) = opts.confounded {
            let (rate, p_start) = confounded(c, emergency, r.imd, r.ltc, p.start_probability);
            emergency = rate;
            let sessions = if rng.gen::<f64>() < p_start {
                if rng.gen::<f64>() < p.completion_probability {
                    pick(&mut rng, &[(4usize, 0.2), (5, 0.3), (6, 0.5)])
                } else {
                    rng.gen_range(1..=3)
                }
            } else {
                0
            };
            r.register = [false; 6];
            for s in r.register.iter_mut().take(sessions) {
                *s = true;
            }
        }
        rates.insert(
            nhs,
            PersonRates {
                emergency,
                ae: 1.5 * emergency + 0.2,
                elective: 0.3,
                outpatient: 3.0,
            },
        );
        referrals.push(r);
    }

    // Index dates: first started course's start, else first referral (SPEC 4).
    let mut index: BTreeMap<String, (NaiveDate, bool, bool)> = BTreeMap::new();
    for r in &referrals {
        let started = r.sessions() >= 1;
        let date = if started {
            courses[r.course].start
        } else {
            r.referral_date
        };
        let completer = r.sessions() >= 4;
        index.insert(r.nhs.clone(), (date, started, completer));
    }

    // Hospital events.
    let mut apc = Table::new(
        "hes_apc.csv",
        &[
            "NHSNO", "PROCODE3", "ADMIDATE", "DISDATE", "ADMIMETH", "EPIORDER",
        ],
    );
    let mut ae = Table::new("hes_ae.csv", &["NHSNO", "ARRIVALDATE", "AEDEPTTYPE"]);
    let mut op = Table::new("hes_op.csv", &["NHSNO", "APPTDATE", "ATTENDED"]);
    let add_spell =
        |rng: &mut ChaCha8Rng, apc: &mut Table, nhs: &str, day: NaiveDate, method: &str| {
            let los = if method.starts_with('2') {
                (rng.gen::<f64>() * 8.0).floor() as i64
            } else {
                rng.gen_range(0..3)
            };
            let episodes = pick(rng, &[(1usize, 0.9), (2, 0.08), (3, 0.02)]);
            for e in 1..=episodes {
                let dis = if e == episodes {
                    (day + Duration::days(los)).format("%Y-%m-%d").to_string()
                } else {
                    String::new()
                };
                apc.rows.push(vec![
                    nhs.into(),
                    "RXX".into(),
                    day.format("%Y-%m-%d").to_string(),
                    dis,
                    method.into(),
                    e.to_string(),
                ]);
            }
        };
    let emergency_codes = ["21", "21", "21", "22", "23", "24", "28", "2A"];
    for (nhs, (idx, started, _)) in &index {
        let r = &rates[nhs];
        let factor = |e: f64| if *started { 1.0 - e } else { 1.0 };
        let em = bumped_events(
            &mut rng,
            (cov_start, cov_end),
            *idx,
            r.emergency,
            factor(EMERGENCY_EFFECT),
        );
        for day in em {
            let m = emergency_codes[rng.gen_range(0..emergency_codes.len())];
            add_spell(&mut rng, &mut apc, nhs, day, m);
        }
        for day in events(&mut rng, cov_start, cov_end + Duration::days(1), r.elective) {
            let m = ["11", "12", "13"][rng.gen_range(0..3)];
            add_spell(&mut rng, &mut apc, nhs, day, m);
        }
        let a = bumped_events(
            &mut rng,
            (cov_start, cov_end),
            *idx,
            r.ae,
            factor(AE_EFFECT),
        );
        for day in a {
            ae.rows.push(vec![
                nhs.clone(),
                day.format("%Y-%m-%d").to_string(),
                (pick(&mut rng, &[("01", 0.8), ("03", 0.15), ("99", 0.05)])).into(),
            ]);
        }
        for day in events(
            &mut rng,
            cov_start,
            cov_end + Duration::days(1),
            r.outpatient,
        ) {
            op.rows.push(vec![
                nhs.clone(),
                day.format("%Y-%m-%d").to_string(),
                (pick(
                    &mut rng,
                    &[
                        ("5", 0.8),
                        ("6", 0.03),
                        ("3", 0.08),
                        ("2", 0.03),
                        ("4", 0.05),
                        ("7", 0.01),
                    ],
                ))
                .into(),
            ]);
        }
    }
    // Background: people never referred, up to the requested size of the extract.
    // A very large extract (W-national) is written as it is made, a batch of
    // rows at a time, so memory stays flat: the referred people's rows first,
    // then each batch sorted on its own (the same rows as a small extract would
    // hold, in another order). Faults need every row in memory, so not with them.
    let streamed = !opts.faults && opts.hospital_rows > opts.stream_above;
    let batch = (opts.stream_above / 10).max(1);
    let mut written = 0usize;
    let mut sinks = if streamed {
        let mut sinks = Vec::new();
        for t in [&mut apc, &mut ae, &mut op] {
            sort_hes(t);
            let mut w = csv::Writer::from_path(opts.out.join(&t.name))
                .with_context(|| format!("cannot write {}", opts.out.join(&t.name).display()))?;
            w.write_record(&t.header)?;
            written += t.rows.len();
            for r in t.rows.drain(..) {
                w.write_record(&r)?;
            }
            sinks.push(w);
        }
        Some(sinks)
    } else {
        None
    };
    let mut background = 0u64;
    while written + apc.rows.len() + ae.rows.len() + op.rows.len() < opts.hospital_rows {
        let nhs = loop {
            background += 1;
            if let Some(n) = nhs::with_check_digit(background_first_nine(background)) {
                break n;
            }
        };
        let day = cov_start + Duration::days(rng.gen_range(0..(cov_end - cov_start).num_days()));
        match rng.gen_range(0..3) {
            0 => add_spell(&mut rng, &mut apc, &nhs, day, "21"),
            1 => ae
                .rows
                .push(vec![nhs, day.format("%Y-%m-%d").to_string(), "01".into()]),
            _ => op
                .rows
                .push(vec![nhs, day.format("%Y-%m-%d").to_string(), "5".into()]),
        }
        if let Some(sinks) = sinks.as_mut() {
            if apc.rows.len() + ae.rows.len() + op.rows.len() >= batch {
                written += flush_batch(sinks, [&mut apc, &mut ae, &mut op])?;
            }
        }
    }
    if let Some(mut sinks) = sinks.take() {
        flush_batch(&mut sinks, [&mut apc, &mut ae, &mut op])?;
        for w in sinks.iter_mut() {
            w.flush()?;
        }
    } else {
        for t in [&mut apc, &mut ae, &mut op] {
            sort_hes(t);
        }
    }

    // PAM: a baseline before the index date and, for most starters, a follow-up.
    let normal = Normal::new(0.0, 4.0).expect("normal");
    let mut pam = Table::new(
        "pam_scores.csv",
        &["NHS Number", "Assessment Date", "PAM Score", "PAM Level"],
    );
    for r in &referrals {
        let (idx, started, completer) = index[&r.nhs];
        if r.course
            != referrals
                .iter()
                .find(|x| x.nhs == r.nhs)
                .map(|x| x.course)
                .unwrap_or(r.course)
        {
            continue;
        }
        if rng.gen::<f64>() > 0.85 {
            continue;
        }
        let pre: f64 = (52.0f64 + 10.0 * Normal::new(0.0, 1.0).expect("normal").sample(&mut rng))
            .clamp(20.0, 95.0);
        let level = level_of(pre);
        let pre_day = idx - Duration::days(rng.gen_range(0..60));
        pam.rows.push(pam_row(&r.nhs, pre_day, pre));
        let follow_up = if completer {
            0.75
        } else if started {
            0.4
        } else {
            0.1
        };
        if rng.gen::<f64>() < follow_up {
            let factor = PROVIDERS[courses[r.course].provider].pam_gain_factor;
            let gain = if started {
                PAM_GAIN_BY_LEVEL[level - 1] * factor
            } else {
                0.0
            };
            let post = (pre + gain + normal.sample(&mut rng)).clamp(0.0, 100.0);
            let post_day = idx + Duration::days(rng.gen_range(42..180));
            pam.rows.push(pam_row(&r.nhs, post_day, post));
        }
    }

    // Provider returns, each in its provider's shape.
    let mut nth = Table::new(
        "northside_returns.csv",
        &[
            "NHS Number",
            "Course Ref",
            "Programme",
            "Course Start",
            "Language",
            "Referred On",
            "Referred By",
            "Sessions Attended",
            "Gender",
            "Age Group",
            "Ethnic Code",
            "IMD Decile",
            "No. of LTCs",
            "Conditions",
        ],
    );
    let mut els = Table::new(
        "eastleigh_returns.xlsx",
        &[
            "Participant NHS No",
            "Course ID",
            "Course Type",
            "Start Date",
            "Referral Date",
            "Source",
            "Sessions",
            "Sex",
            "Year of Birth",
            "Ethnicity",
            "IMD",
            "Language",
        ],
    );
    let mut wcp = Table::new(
        "westcombe_register.csv",
        &[
            "nhs_no",
            "course",
            "programme",
            "start",
            "ref_date",
            "ref_source",
            "wk1",
            "wk2",
            "wk3",
            "wk4",
            "wk5",
            "wk6",
            "sex",
            "age_band",
            "ethnicity",
            "imd_decile",
        ],
    );
    let dmy = |x: NaiveDate| x.format("%d/%m/%Y").to_string();
    let iso = |x: NaiveDate| x.format("%Y-%m-%d").to_string();
    for r in &referrals {
        let c = &courses[r.course];
        match PROVIDERS[c.provider].id {
            "NTH" => nth.rows.push(vec![
                format!("{} {} {}", &r.nhs[..3], &r.nhs[3..6], &r.nhs[6..]),
                c.id.clone(),
                title_case(c.programme),
                dmy(c.start),
                c.language.into(),
                dmy(r.referral_date),
                match r.referral_source {
                    "gp" => "GP",
                    "social_prescriber" => "Social Prescriber",
                    "hospital" => "Hospital",
                    "self" => "Self",
                    _ => "Other",
                }
                .into(),
                r.sessions().to_string(),
                match r.sex {
                    "female" => "F",
                    "male" => "M",
                    "other" => "O",
                    _ => "U",
                }
                .into(),
                age_band(r.year_of_birth, c.start).into(),
                r.ethnicity.into(),
                r.imd.to_string(),
                r.ltc.to_string(),
                r.conditions.clone(),
            ]),
            "ELS" => els.rows.push(vec![
                r.nhs.clone(),
                c.id.clone(),
                c.programme.into(),
                iso(c.start),
                iso(r.referral_date),
                r.referral_source.into(),
                r.sessions().to_string(),
                title_case(r.sex),
                r.year_of_birth.to_string(),
                r.ethnicity.into(),
                r.imd.to_string(),
                c.language.into(),
            ]),
            _ => {
                let mut row = vec![
                    r.nhs.clone(),
                    c.id.clone(),
                    c.programme.into(),
                    iso(c.start),
                    iso(r.referral_date),
                    r.referral_source.into(),
                ];
                row.extend(r.register.iter().map(|b| {
                    if *b {
                        "Y".to_string()
                    } else {
                        "N".to_string()
                    }
                }));
                row.extend([
                    r.sex.to_string(),
                    age_band(r.year_of_birth, c.start).into(),
                    r.ethnicity.into(),
                    r.imd.to_string(),
                ]);
                wcp.rows.push(row);
            }
        }
    }

    let mut faults = Vec::new();
    if opts.faults {
        let r = &mut rng;
        nth.plant(r, "NHS Number", "943 476 5918", "person_id", "Modulus 11");
        nth.plant(r, "NHS Number", "94347659", "person_id", "10-digit");
        nth.plant(
            r,
            "Referred On",
            "31/02/2024",
            "referral_date",
            "is not a date",
        );
        nth.plant(
            r,
            "Referred On",
            "01/01/2030",
            "referral_date",
            "is after the course start date",
        );
        nth.plant(r, "Gender", "X", "sex", "is not one of");
        nth.plant(r, "Ethnic Code", "Q", "ethnicity", "is not one of");
        nth.plant(r, "IMD Decile", "11", "imd_decile", "out of range");
        nth.plant(
            r,
            "Sessions Attended",
            "7",
            "sessions_attended",
            "out of range",
        );
        nth.plant(r, "Course Ref", "", "course_id", "is empty");
        let mut ragged = nth.rows[0].clone();
        ragged.push("stray".into());
        nth.insert_fault(r, ragged, "", "fields");
        // A second start date for a course, on a new person's row after all the course's rows.
        let (sc, nc) = (nth.col("Course Start"), nth.col("NHS Number"));
        let clean = (nth.rows.len() / 2..nth.rows.len())
            .find(|i| nth.faults.iter().all(|f| f.0 != *i))
            .unwrap_or(0);
        let mut moved = nth.rows[clean].clone();
        if let Ok(start) = NaiveDate::parse_from_str(&moved[sc], "%d/%m/%Y") {
            moved[sc] = (start + Duration::days(7)).format("%d/%m/%Y").to_string();
        }
        moved[nc] = (1..)
            .find_map(|k| nhs::with_check_digit(997_000_000 + k))
            .unwrap_or_default();
        nth.rows.push(moved);
        nth.faults.push((
            nth.rows.len() - 1,
            "course_start_date".into(),
            "differs from the start date most rows of course".into(),
        ));
        els.plant(r, "Course Type", "yoga", "programme", "is not one of");
        els.plant(r, "Participant NHS No", "", "person_id", "is empty");
        let w = wcp.col("wk3");
        let mut row = wcp.rows[0].clone();
        row[w] = "maybe".into();
        wcp.insert_fault(r, row, "session_3", "is not 0 or 1");
        // A duplicate referral goes last, after the row it repeats.
        let dup = wcp.rows[0].clone();
        wcp.rows.push(dup);
        wcp.faults.push((
            wcp.rows.len() - 1,
            "person_id".into(),
            "duplicate referral".into(),
        ));
        apc.plant(
            r,
            "ADMIDATE",
            "1801-01-01",
            "event_date",
            "sentinel 1801-01-01",
        );
        let i = apc.rows.iter().position(|x| !x[3].is_empty()).unwrap_or(0);
        let mut bad = apc.rows[i].clone();
        bad[3] = "2000-01-01".into();
        apc.insert_fault(r, bad, "discharge_date", "is before the admission date");
        ae.plant(
            r,
            "ARRIVALDATE",
            "2023-13-01",
            "event_date",
            "is not a date",
        );
        op.plant(r, "NHSNO", "1234567890", "person_id", "Modulus 11");
        pam.plant(r, "PAM Score", "130", "score", "out of range");
        let lv = pam.col("PAM Level");
        let mut row = pam.rows[0].clone();
        row[lv] = if row[lv] == "1" {
            "4".into()
        } else {
            "1".into()
        };
        pam.insert_fault(r, row, "level", "does not match the score");
        pam.plant(r, "Assessment Date", "", "assessment_date", "is empty");
        for t in [&nth, &els, &wcp, &apc, &ae, &op, &pam] {
            faults.extend(t.fault_list());
        }
    }
    // A level that matches its score unless a fault says otherwise.
    write_csv(&opts.out, &nth, b',', true)?;
    write_xlsx(
        &opts.out,
        &els,
        &["Start Date", "Referral Date"],
        &["Sessions", "Year of Birth", "IMD"],
    )?;
    write_csv(&opts.out, &wcp, b';', false)?;
    if !streamed {
        write_csv(&opts.out, &apc, b',', false)?;
        write_csv(&opts.out, &ae, b',', false)?;
        write_csv(&opts.out, &op, b',', false)?;
    }
    write_csv(&opts.out, &pam, b',', false)?;
    std::fs::write(
        opts.out.join("pipeline.toml"),
        pipeline_text("", "generated"),
    )?;
    std::fs::write(opts.out.join("demo-hmac.key"), DEMO_KEY)?;

    // Truth: what was planted, and the expected values it implies.
    let mut truth = Truth {
        seed: opts.seed,
        description: "Synthetic data from `smpeval generate`; effects planted as documented in src/generate/mod.rs".into(),
        referrals: referrals.len(),
        persons: index.len(),
        completion_threshold: 4,
        hospital_coverage: (iso(cov_start), iso(cov_end)),
        referral_bump: REFERRAL_BUMP,
        emergency_effect: EMERGENCY_EFFECT,
        ae_effect: AE_EFFECT,
        worse_provider: "WCP".into(),
        faults: faults.len(),
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
    truth.expected_did.insert(
        "emergency_admissions".into(),
        -EMERGENCY_EFFECT * truth.mean_emergency_rate_starters,
    );
    truth.expected_did.insert(
        "ae_attendances".into(),
        -AE_EFFECT * truth.mean_ae_rate_starters,
    );
    truth.expected_did.insert("elective_admissions".into(), 0.0);
    truth
        .expected_did
        .insert("outpatient_attendances".into(), 0.0);
    truth.expected_comparison_change.insert(
        "emergency_admissions".into(),
        -REFERRAL_BUMP * truth.mean_emergency_rate_comparison,
    );
    for p in &PROVIDERS {
        truth
            .completion_probability_by_provider
            .insert(p.id.into(), p.completion_probability);
        truth
            .pam_gain_factor_by_provider
            .insert(p.id.into(), p.pam_gain_factor);
    }
    for (i, g) in PAM_GAIN_BY_LEVEL.iter().enumerate() {
        truth
            .pam_gain_by_baseline_level
            .insert((i + 1).to_string(), *g);
    }
    std::fs::write(
        opts.out.join("truth.json"),
        serde_json::to_string_pretty(&truth)?,
    )?;
    if opts.faults {
        std::fs::write(
            opts.out.join("faults.json"),
            serde_json::to_string_pretty(&faults)?,
        )?;
    }
    Ok(faults)
}

fn level_of(score: f64) -> usize {
    if score <= crate::schema::PAM_CUT_1_2 {
        1
    } else if score <= crate::schema::PAM_CUT_2_3 {
        2
    } else if score <= crate::schema::PAM_CUT_3_4_DEFAULT {
        3
    } else {
        4
    }
}

fn pam_row(nhs: &str, day: NaiveDate, score: f64) -> Vec<String> {
    let score = (score * 10.0).round() / 10.0;
    vec![
        nhs.into(),
        day.format("%d/%m/%Y").to_string(),
        format!("{score:.1}"),
        level_of(score).to_string(),
    ]
}

fn title_case(s: &str) -> String {
    let s = s.replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The pipeline that ingests generated data; `prefix` is the data folder as
/// seen from where the pipeline file will live.
/// The first nine digits of the `k`-th (from 1) never-referred person's NHS
/// number: 998 000 001… for the first million (as the committed sample was
/// made); then 900 000 000 to 995 999 999, round again after 96 million. Always
/// nine digits (an earlier 998 000 000 + k overflowed to ten, making 11-digit
/// "NHS numbers" past k = 2 million that ingest rightly rejected), and clear of
/// the referred people's 999…, the faults' 997… and the warned rows' 996….
pub fn background_first_nine(k: u64) -> u64 {
    if k < 1_000_000 {
        998_000_000 + k
    } else {
        900_000_000 + (k - 1_000_000) % 96_000_000
    }
}

pub fn pipeline_text(prefix: &str, name: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"# Ingests the output of `smpeval generate` (three providers, HES-shaped hospital
# activity, PAM scores). Paths are relative to this file.
name = "{name}"
title = "Self-management programme evaluation ({name} data)"
audience = "Commissioners"
warehouse = "{prefix}warehouse"
reports = "{prefix}reports"

[privacy]
# HMAC-SHA256 key for NHS numbers: the environment variable wins; the key file
# below is a DEMO key for synthetic data only. Never use it for real data.
key_env = "SMPEVAL_HMAC_KEY"
key_file = "{prefix}demo-hmac.key"
# The demo key is public: allowed only because these data are synthetic.
demo = true

[labels]
course_language = ["English", "Urdu", "Punjabi", "Polish"]

[providers]
NTH = "Northside Wellbeing"
ELS = "Eastleigh Health Trust"
WCP = "Westcombe Community Partnership"

[settings]
evaluation_start = "2022-04-01"
evaluation_end = "2025-03-31"
financial_year_start_month = 4
completion_threshold = 4
outcome_window_days = 365
hospital_coverage_start = "2020-04-01"
hospital_coverage_end = "2025-09-30"
max_reject_rate = 0.2
disclosure = "published"

# The commissioning guide's Step 6 cost table (Talking Health Taking Action, 2018).
[[cost_lines]]
item = "Coordinator (AfC band 7, 0.5 WTE)"
amount = 26000.0
basis = "per_year"

[[cost_lines]]
item = "Talking Health licence (60 courses, every 3 years)"
amount = 1100.0
basis = "one_off"
years = 3.0

[[cost_lines]]
item = "UK tutor manuals (PDF, every 3 years)"
amount = 75.0
basis = "one_off"
years = 3.0

[[cost_lines]]
item = "Participant course handbooks"
amount = 12.95
basis = "per_starter"

[[cost_lines]]
item = "Tutor training (initial cohort up to 18)"
amount = 6000.0
basis = "one_off"
years = 3.0

[[cost_lines]]
item = "Tutor annual supervision"
amount = 1500.0
basis = "per_year"

[[cost_lines]]
item = "Quality checks for tutors"
amount = 3000.0
basis = "per_year"

[[cost_lines]]
item = "SS2Q accreditation (every 3 years)"
amount = 1000.0
basis = "one_off"
years = 3.0

[[sources]]
name = "northside"
kind = "provider_returns"
files = ["{prefix}northside_*.csv"]
format = "csv"
encoding = "windows-1252"
date_format = "dd/mm/yyyy"
id_kind = "nhs_number"
[sources.constants]
provider_id = "NTH"
[sources.columns]
person_id = "NHS Number"
course_id = "Course Ref"
programme = "Programme"
course_start_date = "Course Start"
course_language = "Language"
referral_date = "Referred On"
referral_source = "Referred By"
sessions_attended = "Sessions Attended"
sex = "Gender"
age_band = "Age Group"
ethnicity = "Ethnic Code"
imd_decile = "IMD Decile"
ltc_count = "No. of LTCs"
conditions = "Conditions"
[sources.values.programme]
"Chronic pain" = "chronic_pain"
[sources.values.referral_source]
"Social Prescriber" = "social_prescriber"
[sources.values.sex]
F = "female"
M = "male"
O = "other"
U = "unknown"

[[sources]]
name = "eastleigh"
kind = "provider_returns"
files = ["{prefix}eastleigh_*.xlsx"]
format = "xlsx"
sheet = "Referrals"
date_format = "dd/mm/yyyy"
id_kind = "nhs_number"
[sources.constants]
provider_id = "ELS"
[sources.columns]
person_id = "Participant NHS No"
course_id = "Course ID"
programme = "Course Type"
course_start_date = "Start Date"
referral_date = "Referral Date"
referral_source = "Source"
sessions_attended = "Sessions"
sex = "Sex"
year_of_birth = "Year of Birth"
ethnicity = "Ethnicity"
imd_decile = "IMD"
course_language = "Language"

[[sources]]
name = "westcombe"
kind = "provider_returns"
files = ["{prefix}westcombe_*.csv"]
format = "csv"
delimiter = ";"
date_format = "yyyy-mm-dd"
id_kind = "nhs_number"
[sources.constants]
provider_id = "WCP"
[sources.columns]
person_id = "nhs_no"
course_id = "course"
programme = "programme"
course_start_date = "start"
referral_date = "ref_date"
referral_source = "ref_source"
session_1 = "wk1"
session_2 = "wk2"
session_3 = "wk3"
session_4 = "wk4"
session_5 = "wk5"
session_6 = "wk6"
sex = "sex"
age_band = "age_band"
ethnicity = "ethnicity"
imd_decile = "imd_decile"
[sources.values.session_1]
Y = "1"
N = "0"
[sources.values.session_2]
Y = "1"
N = "0"
[sources.values.session_3]
Y = "1"
N = "0"
[sources.values.session_4]
Y = "1"
N = "0"
[sources.values.session_5]
Y = "1"
N = "0"
[sources.values.session_6]
Y = "1"
N = "0"

[[sources]]
name = "hes_apc"
kind = "hospital"
files = ["{prefix}hes_apc.csv"]
date_format = "yyyy-mm-dd"
id_kind = "nhs_number"
# One admission = one spell: episodes share the person and admission date.
spell_key = ["person_id", "event_date"]
[sources.constants]
setting = "apc"
[sources.columns]
person_id = "NHSNO"
event_date = "ADMIDATE"
discharge_date = "DISDATE"
admission_method = "ADMIMETH"
episode_order = "EPIORDER"

[[sources]]
name = "hes_ae"
kind = "hospital"
files = ["{prefix}hes_ae.csv"]
date_format = "yyyy-mm-dd"
id_kind = "nhs_number"
[sources.constants]
setting = "ae"
[sources.columns]
person_id = "NHSNO"
event_date = "ARRIVALDATE"
ae_department_type = "AEDEPTTYPE"

[[sources]]
name = "hes_op"
kind = "hospital"
files = ["{prefix}hes_op.csv"]
date_format = "yyyy-mm-dd"
id_kind = "nhs_number"
[sources.constants]
setting = "op"
[sources.columns]
person_id = "NHSNO"
event_date = "APPTDATE"
attendance_status = "ATTENDED"

[[sources]]
name = "pam"
kind = "pam"
files = ["{prefix}pam_scores.csv"]
date_format = "dd/mm/yyyy"
id_kind = "nhs_number"
[sources.columns]
person_id = "NHS Number"
assessment_date = "Assessment Date"
score = "PAM Score"
level = "PAM Level"
"#
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_extract_holds_the_same_rows_as_one_made_in_memory() {
        let make = |stream_above: usize| {
            let dir = tempfile::tempdir().unwrap();
            generate(&Options {
                out: dir.path().to_path_buf(),
                participants: 60,
                hospital_rows: 3000,
                seed: 7,
                faults: false,
                confounded: None,
                stream_above,
            })
            .unwrap();
            let read = |f: &str| -> Vec<String> {
                let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
                let mut lines: Vec<String> = text.lines().map(String::from).collect();
                let header = lines.remove(0);
                lines.sort();
                lines.insert(0, header);
                lines
            };
            (read("hes_apc.csv"), read("hes_ae.csv"), read("hes_op.csv"))
        };
        let (in_memory, streamed) = (make(usize::MAX), make(100));
        assert_eq!(in_memory, streamed, "the same rows, in another order");
        let rows = in_memory.0.len() + in_memory.1.len() + in_memory.2.len() - 3;
        assert!(
            (3000..3010).contains(&rows),
            "{rows} rows (a spell may end past the target)"
        );
    }

    #[test]
    fn background_ids_are_valid_ten_digit_nhs_numbers_clear_of_the_others() {
        let mut seen = std::collections::HashSet::new();
        let ks = (1..3_000_000u64)
            .step_by(997)
            .chain([999_999, 1_000_000, 1_999_999, 2_000_000, 2_000_001])
            .chain([96_999_999, 97_000_000, 97_000_001, 99_000_000, 150_000_000]);
        for k in ks {
            let nine = background_first_nine(k);
            assert!(
                (100_000_000..1_000_000_000).contains(&nine),
                "k={k}: {nine}"
            );
            assert!(
                ![999, 997, 996].contains(&(nine / 1_000_000)),
                "k={k}: {nine} is in a range the referred people or faults use"
            );
            if let Some(n) = nhs::with_check_digit(nine) {
                assert_eq!(n.len(), 10, "k={k}: {n}");
                assert!(n.bytes().all(|b| b.is_ascii_digit()));
            }
            // One-to-one below the wrap.
            if k < 97_000_000 {
                assert!(seen.insert(nine), "k={k}: {nine} repeats");
            }
        }
    }
}
