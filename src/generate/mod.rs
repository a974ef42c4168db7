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

//! The parts, called in this order from one seeded random stream (the order
//! is the stream: moving a draw changes every file after it): `courses`,
//! `population`, `hospital`, `pam`, then `faults`; `truth` and the provider
//! returns draw nothing. `table` holds what they share.

mod courses;
mod faults;
mod hospital;
mod pam;
mod population;
mod table;
mod truth;

use crate::error::FileOp;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use faults::Fault;
pub use hospital::{background_first_nine, STREAM_ABOVE};
use table::{d, io_at, write_csv, write_xlsx};

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
/// First day of the hospital extract.
pub const COVERAGE_START: (i32, u32, u32) = (2020, 4, 1);
/// Last day of the hospital extract.
pub const COVERAGE_END: (i32, u32, u32) = (2025, 9, 30);

/// What `smpeval generate` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The folder to write into (made if missing).
    pub out: PathBuf,
    /// How many referrals, one person each.
    pub participants: usize,
    /// Pad the hospital extract with never-referred people up to this many rows.
    pub hospital_rows: usize,
    /// The one random stream's seed: the same seed gives the same files.
    pub seed: u64,
    /// Plant known bad rows and list them in faults.json.
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

/// A generated file could not be written (the cause follows on its own line).
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The output folder cannot be made.
    #[error(transparent)]
    Folder(#[from] crate::error::StoreError),
    /// A CSV, XLSX or other file (the same errors as the pack's files).
    #[error(transparent)]
    Write(#[from] crate::error::WriteError),
    #[error("cannot write {}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Writes the synthetic inputs; returns the planted faults.
pub fn generate(opts: &Options) -> Result<Vec<Fault>, GenerateError> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    std::fs::create_dir_all(&opts.out).map_err(crate::error::StoreError::io(
        FileOp::CreateFolder,
        &opts.out,
    ))?;
    let cov_start = d(COVERAGE_START.0, COVERAGE_START.1, COVERAGE_START.2);
    let cov_end = d(COVERAGE_END.0, COVERAGE_END.1, COVERAGE_END.2);
    let coverage = (cov_start, cov_end);

    let courses = courses::make_courses(&mut rng, opts.participants);
    let (referrals, rates) = population::make_referrals(&mut rng, &courses, opts);
    let index = population::index_dates(&referrals, &courses);
    let mut hes = hospital::make_extract(&mut rng, coverage, (&index, &rates), opts)?;
    let mut pam = pam::pam_scores(&mut rng, &referrals, &index, &courses);
    let mut returns = courses::provider_returns(&referrals, &courses);
    let mut faults = Vec::new();
    if opts.faults {
        let targets = faults::Targets {
            nth: &mut returns.nth,
            els: &mut returns.els,
            wcp: &mut returns.wcp,
            apc: &mut hes.apc,
            ae: &mut hes.ae,
            op: &mut hes.op,
            pam: &mut pam,
        };
        faults = faults::plant_all(&mut rng, targets);
    }
    write_tables(&opts.out, &returns, &hes, &pam)?;
    write_text(
        &opts.out.join("pipeline.toml"),
        &pipeline_text("", "generated"),
    )?;
    write_text(&opts.out.join("demo-hmac.key"), DEMO_KEY)?;
    let people = (referrals.as_slice(), &index, &rates);
    let truth = truth::truth(opts.seed, coverage, people, faults.len());
    write_json(&opts.out.join("truth.json"), &truth)?;
    if opts.faults {
        write_json(&opts.out.join("faults.json"), &faults)?;
    }
    Ok(faults)
}

/// Writes the returns, the extract (unless it was streamed) and the PAM file.
fn write_tables(
    dir: &Path,
    returns: &courses::Returns,
    hes: &hospital::Extract,
    pam: &table::Table,
) -> Result<(), GenerateError> {
    write_csv(dir, &returns.nth, b',', true)?;
    let dates = ["Start Date", "Referral Date"];
    write_xlsx(
        dir,
        &returns.els,
        &dates,
        &["Sessions", "Year of Birth", "IMD"],
    )?;
    write_csv(dir, &returns.wcp, b';', false)?;
    if !hes.streamed {
        for t in [&hes.apc, &hes.ae, &hes.op] {
            write_csv(dir, t, b',', false)?;
        }
    }
    write_csv(dir, pam, b',', false)
}

/// Writes a text file, naming it if that fails.
fn write_text(path: &Path, text: &str) -> Result<(), GenerateError> {
    std::fs::write(path, text).map_err(io_at(path))
}

/// Writes `value` as pretty JSON (truth.json, faults.json).
fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), GenerateError> {
    let text = serde_json::to_string_pretty(value).map_err(|source| GenerateError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_text(path, &text)
}

/// The pipeline that ingests generated data; `prefix` is the data folder as
/// seen from where the pipeline file will live. The text is the committed
/// template `pipeline_template.toml` with `{prefix}` and `{name}` filled in.
pub fn pipeline_text(prefix: &str, name: &str) -> String {
    include_str!("pipeline_template.toml")
        .replace("{prefix}", prefix)
        .replace("{name}", name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(out: &Path, seed: u64, faults: bool) -> Options {
        Options {
            out: out.to_path_buf(),
            participants: 150,
            hospital_rows: 2000,
            seed,
            faults,
            confounded: None,
            stream_above: usize::MAX,
        }
    }

    /// Every file but the workbook (which names the time it was made).
    fn text_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x != "xlsx"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn the_same_seed_gives_the_same_files_and_another_seed_other_rows() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        generate(&options(a.path(), 7, true)).unwrap();
        generate(&options(b.path(), 7, true)).unwrap();
        generate(&options(c.path(), 8, true)).unwrap();
        let (fa, fb, fc) = (
            text_files(a.path()),
            text_files(b.path()),
            text_files(c.path()),
        );
        assert_eq!(
            fa.len(),
            10,
            "{:?}",
            fa.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        assert_eq!(fa, fb);
        let hes =
            |f: &[(String, Vec<u8>)]| f.iter().find(|x| x.0 == "hes_ae.csv").unwrap().1.clone();
        assert_ne!(hes(&fa), hes(&fc));
    }

    #[test]
    fn each_planted_fault_in_a_csv_file_is_on_the_line_faults_json_names() {
        let dir = tempfile::tempdir().unwrap();
        let faults = generate(&options(dir.path(), 3, true)).unwrap();
        let listed: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("faults.json")).unwrap())
                .unwrap();
        assert_eq!(listed.len(), faults.len());
        assert_eq!(faults.len(), 22);
        // (file, reason, what the line holds), planted as written in faults.rs.
        let planted = [
            ("northside_returns.csv", "Modulus 11", "943 476 5918"),
            ("northside_returns.csv", "fields", ",stray"),
            ("hes_apc.csv", "sentinel 1801-01-01", ",1801-01-01,"),
            ("hes_ae.csv", "is not a date", ",2023-13-01,"),
            ("hes_op.csv", "Modulus 11", "1234567890,"),
            ("pam_scores.csv", "out of range", ",130,"),
            ("westcombe_register.csv", "is not 0 or 1", ";maybe;"),
        ];
        for (file, reason, holds) in planted {
            let f = listed
                .iter()
                .find(|f| f["file"] == file && f["reason"] == reason)
                .unwrap();
            let line = f["line"].as_u64().unwrap() as usize;
            let bytes = std::fs::read(dir.path().join(file)).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            let at = text.lines().nth(line - 1).unwrap();
            assert!(at.contains(holds), "{file} line {line}: {at}");
        }
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_named_once_with_its_cause_apart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let err = generate(&options(&file.join("out"), 1, false)).unwrap_err();
        let shown = err.to_string();
        assert_eq!(
            shown,
            format!("cannot create the folder {}", file.join("out").display())
        );
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn the_pipeline_names_its_folders_from_the_prefix() {
        let text = pipeline_text("../data/", "demo");
        assert!(text.contains("name = \"demo\"\n"));
        assert!(text.contains("warehouse = \"../data/warehouse\"\n"));
        assert!(text.contains("files = [\"../data/hes_apc.csv\"]\n"));
        assert!(!text.contains('{'), "a placeholder left unfilled");
    }
}
