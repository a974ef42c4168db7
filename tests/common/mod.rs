//! A fresh folder per test, tiny inputs written into it, and the binary run on them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use polars::prelude::*;

pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        Workdir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap();
        p
    }
    /// Runs smpeval with the demo key in the environment.
    pub fn run(&self, args: &[&str]) -> Run {
        run_in(self.dir.path(), args)
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_smpeval")
}

pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    run_env(dir, args, &[])
}

/// Runs smpeval with the demo key and extra environment variables
/// (`SMPEVAL_FAILPOINTS` makes a named write fail).
pub fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out: Output = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("SMPEVAL_HMAC_KEY", TEST_KEY)
        .envs(env.iter().copied())
        .output()
        .expect("run smpeval");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    // Every message an analyst reads, in every test: no Rust debug output.
    assert_no_debug_output(&run.all());
    run
}

/// Rust `Debug` formatting must never reach an analyst: no `Some(..)`, no bare
/// `None` where a value belongs, no `Ok(`/`Err(`, no `PathBuf`.
pub fn assert_no_debug_output(text: &str) {
    for bad in [
        "Some(", "None)", "(None", ": None", "= None", "Ok(", "Err(", "PathBuf",
    ] {
        assert!(
            !text.contains(bad),
            "an analyst's message holds Rust debug output `{bad}`:\n{text}"
        );
    }
}

/// The repository root (where Cargo.toml is).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn table(warehouse: &Path, name: &str) -> DataFrame {
    smpeval::warehouse::read_table(warehouse, name)
        .expect("read table")
        .unwrap_or_else(|| panic!("table {name} has no files"))
}

/// The folder of a warehouse's current version (what an outside reader reads).
pub fn current(warehouse: &Path) -> PathBuf {
    let v = std::fs::read_to_string(warehouse.join("CURRENT")).expect("CURRENT");
    warehouse.join("versions").join(v.trim())
}

pub fn strs(df: &DataFrame, column: &str) -> Vec<String> {
    let c = df.column(column).unwrap().cast(&DataType::String).unwrap();
    let ca = c.str().unwrap();
    (0..ca.len())
        .map(|i| ca.get(i).unwrap_or_default().to_string())
        .collect()
}

pub fn u64s(df: &DataFrame, column: &str) -> Vec<u64> {
    let c = df.column(column).unwrap().cast(&DataType::UInt64).unwrap();
    let ca = c.u64().unwrap();
    (0..ca.len()).map(|i| ca.get(i).unwrap_or(0)).collect()
}

/// A one-source provider pipeline over `returns.csv` with canonical headers.
pub fn provider_pipeline(extra_source_lines: &str) -> String {
    format!(
        r#"name = "t"
warehouse = "wh"
reports = "reports"
[privacy]
key_env = "SMPEVAL_HMAC_KEY"
[settings]
max_reject_rate = 1.0
[[sources]]
name = "acme"
kind = "provider_returns"
files = ["returns.csv"]
date_format = "dd/mm/yyyy"
{extra_source_lines}
[sources.constants]
provider_id = "ACME"
age_band = "50-64"
[sources.columns]
person_id = "NHS No"
course_id = "Course"
programme = "Programme"
course_start_date = "Start"
referral_date = "Referred"
sessions_attended = "Sessions"
sex = "Sex"
ethnicity = "Ethnicity"
imd_decile = "IMD"
"#
    )
}

pub const RETURNS_HEADER: &str =
    "NHS No,Course,Programme,Start,Referred,Sessions,Sex,Ethnicity,IMD\n";
/// Valid NHS numbers (Modulus 11) for test rows.
pub const NHS: [&str; 4] = ["9434765919", "9990000018", "9990000026", "9990000034"];

/// A test HMAC key of the length a real run needs (32 bytes or more).
pub const TEST_KEY: &str = "0f4c9a7e2b1d8c3f6a5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a19080";

/// Copies the sample pipeline and data into a fresh folder (tests never share a warehouse).
pub fn sample_copy() -> Workdir {
    let w = Workdir::new();
    let root = repo();
    std::fs::create_dir_all(w.path("pipelines")).unwrap();
    std::fs::copy(
        root.join("pipelines/sample.toml"),
        w.path("pipelines/sample.toml"),
    )
    .unwrap();
    std::fs::create_dir_all(w.path("sample_data")).unwrap();
    for e in std::fs::read_dir(root.join("sample_data")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), w.path("sample_data").join(e.file_name())).unwrap();
    }
    w
}
