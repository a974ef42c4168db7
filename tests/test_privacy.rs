//! Issue 9: an NHS number typed into any field, in any common written form,
//! appears nowhere outside the ingest step (warehouse, rejects, log, packs);
//! and the HMAC key rules.

mod common;

use std::path::Path;

use calamine::{open_workbook_auto, Reader};
use common::*;
use polars::prelude::SerReader;

const PIPELINE: &str = r#"name = "p"
warehouse = "wh"
reports = "reports"
[privacy]
key_env = "SMPEVAL_HMAC_KEY"
[settings]
evaluation_start = "2023-04-01"
evaluation_end = "2024-03-31"
hospital_coverage_start = "2021-01-01"
hospital_coverage_end = "2025-12-31"
max_reject_rate = 1.0
[labels]
course_language = ["English"]
[providers]
ACME = "Acme"
[[sources]]
name = "returns"
kind = "provider_returns"
files = ["returns.csv"]
date_format = "yyyy-mm-dd"
[sources.columns]
provider_id = "provider"
course_id = "course"
programme = "programme"
course_start_date = "start"
course_language = "language"
person_id = "nhs"
referral_date = "referred"
referral_source = "source"
sessions_attended = "sessions"
sex = "sex"
age_band = "age"
ethnicity = "ethnicity"
imd_decile = "imd"
ltc_count = "ltc"
conditions = "conditions"
[[sources]]
name = "hospital"
kind = "hospital"
files = ["hospital.csv"]
date_format = "yyyy-mm-dd"
[sources.columns]
person_id = "nhs"
setting = "setting"
event_date = "date"
discharge_date = "discharge"
admission_method = "method"
attendance_status = "attended"
ae_department_type = "dept"
"#;

const RETURNS_COLS: &[&str] = &[
    "provider",
    "course",
    "programme",
    "start",
    "language",
    "nhs",
    "referred",
    "source",
    "sessions",
    "sex",
    "age",
    "ethnicity",
    "imd",
    "ltc",
    "conditions",
];
const HOSPITAL_COLS: &[&str] = &[
    "nhs",
    "setting",
    "date",
    "discharge",
    "method",
    "attended",
    "dept",
];

/// The written forms of one number.
fn forms(n: &str) -> Vec<String> {
    vec![
        n.to_string(),
        format!("{} {} {}", &n[..3], &n[3..6], &n[6..]),
        format!("{}.{}.{}", &n[..3], &n[3..6], &n[6..]),
        format!("{}-{}-{}", &n[..3], &n[3..6], &n[6..]),
        format!("NHS {n}"),
        format!("NHS no: {} {} {}", &n[..3], &n[3..6], &n[6..]),
        // Typed over line breaks or tabs inside one cell.
        format!("{}\n{}\n{}", &n[..3], &n[3..6], &n[6..]),
        format!("{}\t{}\t{}", &n[..3], &n[3..6], &n[6..]),
    ]
}

fn valid_row(i: usize) -> Vec<String> {
    let nhs = smpeval::ingest::nhs::with_check_digit(990_100_000 + i as u64 * 7)
        .or_else(|| smpeval::ingest::nhs::with_check_digit(990_100_001 + i as u64 * 7))
        .unwrap();
    [
        "ACME",
        "C1",
        "generic",
        "2023-06-01",
        "English",
        &nhs,
        "2023-05-01",
        "gp",
        "5",
        "female",
        "50-64",
        "A",
        "3",
        "2",
        "asthma",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Planted numbers: one per (field, form), each distinct.
fn plant(w: &Workdir) -> Vec<String> {
    let mut planted = Vec::new();
    let mut next = 401_023_450u64;
    let mut number = || loop {
        next += 1;
        if let Some(n) = smpeval::ingest::nhs::with_check_digit(next) {
            return n;
        }
    };
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut returns = RETURNS_COLS.join(",") + "\n";
    let mut i = 0;
    for (f, _) in RETURNS_COLS.iter().enumerate() {
        if RETURNS_COLS[f] == "nhs" {
            continue;
        }
        let n = number();
        for form in forms(&n) {
            let mut row = valid_row(i);
            i += 1;
            row[f] = form;
            returns.push_str(&row.iter().map(|v| quote(v)).collect::<Vec<_>>().join(","));
            returns.push('\n');
        }
        planted.push(n);
    }
    let mut hospital = HOSPITAL_COLS.join(",") + "\n";
    for (f, _) in HOSPITAL_COLS.iter().enumerate() {
        if HOSPITAL_COLS[f] == "nhs" {
            continue;
        }
        let n = number();
        for (k, form) in forms(&n).into_iter().enumerate() {
            let mut row: Vec<String> = [
                valid_row(k)[5].as_str(),
                "apc",
                "2023-01-10",
                "2023-01-12",
                "21",
                "",
                "01",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            row[f] = form;
            hospital.push_str(&row.iter().map(|v| quote(v)).collect::<Vec<_>>().join(","));
            hospital.push('\n');
        }
        planted.push(n);
    }
    w.write("pipeline.toml", PIPELINE);
    w.write("returns.csv", returns);
    w.write("hospital.csv", hospital);
    planted
}

/// The digits of a text with separators and "NHS" removed, so any written form shows.
fn squashed(s: &str) -> String {
    // JSON's escapes of a line break or tab are separators too.
    let s = s
        .replace("\\n", " ")
        .replace("\\r", " ")
        .replace("\\t", " ");
    s.chars()
        .filter(|c| c.is_ascii_digit() || c.is_alphabetic())
        .collect()
}

fn assert_clean(what: &str, text: &str, planted: &[String]) {
    let s = squashed(text);
    for n in planted {
        assert!(
            !s.contains(n.as_str()),
            "{what}: holds the planted NHS number {n}"
        );
    }
}

fn scan_dir(dir: &Path, planted: &[String]) {
    for p in glob::glob(&format!("{}/**/*", dir.display()))
        .unwrap()
        .flatten()
    {
        if !p.is_file() {
            continue;
        }
        let name = p.display().to_string();
        match p.extension().and_then(|x| x.to_str()) {
            Some("xlsx") => {
                let mut book = open_workbook_auto(&p).unwrap();
                for sheet in book.sheet_names() {
                    let r = book.worksheet_range(&sheet).unwrap();
                    for row in r.rows() {
                        let line: Vec<String> = row.iter().map(|c| c.to_string()).collect();
                        assert_clean(&name, &line.join(" "), planted);
                    }
                }
            }
            Some("parquet") => {
                let f = std::fs::File::open(&p).unwrap();
                let df = polars::prelude::ParquetReader::new(f).finish().unwrap();
                for c in df.columns() {
                    if c.dtype() == &polars::prelude::DataType::String {
                        for v in strs(&df, c.name()) {
                            assert_clean(&format!("{name} column {}", c.name()), &v, planted);
                        }
                    }
                }
            }
            _ => {
                let bytes = std::fs::read(&p).unwrap();
                assert_clean(&name, &String::from_utf8_lossy(&bytes), planted);
            }
        }
    }
}

#[test]
fn planted_nhs_numbers_appear_nowhere() {
    let w = Workdir::new();
    let planted = plant(&w);
    assert!(planted.len() >= 19);
    let r = w.run(&["run", "pipeline.toml", "--run-id", "pub"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_clean("the log", &r.all(), &planted);
    let r = w.run(&["run", "pipeline.toml", "--run-id", "int", "--internal"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_clean("the internal run's log", &r.all(), &planted);
    let v = w.run(&["validate", "pipeline.toml"]);
    assert_clean("validate's output", &v.all(), &planted);
    scan_dir(&w.path("wh"), &planted);
    scan_dir(&w.path("reports"), &planted);
    // The rows were read, not lost: every planted row is accepted (masked) or rejected.
    let rejects = table(&w.path("wh"), smpeval::warehouse::REJECTS);
    assert!(rejects.height() > 20, "{rejects}");
}

fn key_run(env_key: Option<&str>, pipeline_extra: &str) -> Run {
    let w = Workdir::new();
    w.write(
        "pipeline.toml",
        provider_pipeline("").replace(
            "key_env = \"SMPEVAL_HMAC_KEY\"",
            &format!("key_env = \"SMPEVAL_KEY_UNDER_TEST\"\n{pipeline_extra}"),
        ),
    );
    w.write(
        "returns.csv",
        format!(
            "{RETURNS_HEADER}{},C1,generic,01/06/2023,01/05/2023,5,female,A,3\n",
            NHS[0]
        ),
    );
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["ingest", "pipeline.toml"])
        .current_dir(w.dir.path());
    if let Some(k) = env_key {
        cmd.env("SMPEVAL_KEY_UNDER_TEST", k);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_missing_short_or_demo_key_fails_with_how_to_make_one() {
    let demo = smpeval::pipeline::DEMO_KEY.trim();
    for (key, extra, why) in [
        (None, "", "not set"),
        (Some("short-key"), "", "at least 32"),
        (Some(demo), "", "demo key"),
    ] {
        let r = key_run(key, extra);
        assert_eq!(r.code, 2, "{why}: {}", r.all());
        assert!(r.all().contains(why), "{why}: {}", r.all());
        assert!(r.all().contains("openssl rand -hex 32"), "{}", r.all());
    }
    // A 32-byte key works; the demo key works where the pipeline says demo = true.
    assert_eq!(key_run(Some(TEST_KEY), "").code, 0);
    let r = key_run(Some(demo), "demo = true");
    assert_eq!(r.code, 0, "{}", r.all());
    // demo = true allows the public key, not a short one.
    let r = key_run(Some("short-key"), "demo = true");
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.all().contains("at least 32"), "{}", r.all());
}
