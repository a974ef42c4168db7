//! `smpeval ingest` on the committed sample: the warehouse, the manifest's
//! accounting, incremental re-ingest, privacy and the lock.

mod common;
use common::*;

use std::path::Path;

fn warehouse(w: &Workdir) -> std::path::PathBuf {
    w.path("warehouse/sample")
}

#[test]
fn sample_ingest_accounts_for_every_row() {
    let w = sample_copy();
    let r = w.run(&["validate", "pipelines/sample.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!w.path("warehouse").exists(), "validate must write nothing");

    let r = w.run(&["ingest", "pipelines/sample.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let m = table(&warehouse(&w), "manifest");
    assert_eq!(m.height(), 7, "one manifest row per input file");
    let (read, acc, rej) = (
        u64s(&m, "rows_read"),
        u64s(&m, "rows_accepted"),
        u64s(&m, "rows_rejected"),
    );
    for i in 0..m.height() {
        assert_eq!(read[i], acc[i] + rej[i], "file {}", strs(&m, "path")[i]);
        assert!(read[i] > 0);
    }
    for sha in strs(&m, "sha256") {
        assert_eq!(sha.len(), 64);
    }
    // The rejects table holds exactly the rejected rows, with file and line.
    let rejects = table(&warehouse(&w), "rejects");
    assert_eq!(rejects.height() as u64, rej.iter().sum::<u64>());
    // Accepted referrals are all in participants.
    let participants = table(&warehouse(&w), "participants");
    let provider_rows: u64 = strs(&m, "source")
        .iter()
        .zip(&acc)
        .filter(|(s, _)| ["northside", "eastleigh", "westcombe"].contains(&s.as_str()))
        .map(|(_, a)| a)
        .sum();
    assert_eq!(participants.height() as u64, provider_rows);
    // Three providers, each with its own courses.
    let courses = table(&warehouse(&w), "courses");
    let mut providers = strs(&courses, "provider_id");
    providers.dedup();
    assert_eq!(providers, vec!["ELS", "NTH", "WCP"]);
    // Hospital events are partitioned by setting and year, and spells fold episodes.
    assert!(current(&warehouse(&w))
        .join("hospital_events/setting=apc")
        .is_dir());
    let events = table(&warehouse(&w), "hospital_events");
    let settings = strs(&events, "setting");
    for s in ["ae", "apc", "op"] {
        assert!(settings.iter().any(|x| x == s), "no {s} rows");
    }
}

#[test]
fn reingest_skips_unchanged_files_and_replaces_a_changed_one() {
    let w = sample_copy();
    assert_eq!(w.run(&["ingest", "pipelines/sample.toml"]).code, 0);
    let before = table(&warehouse(&w), "participants");

    let r = w.run(&["ingest", "pipelines/sample.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.stdout.matches("(unchanged, skipped)").count(),
        7,
        "{}",
        r.stdout
    );
    assert_eq!(
        table(&warehouse(&w), "participants").height(),
        before.height()
    );

    // Drop the last data row of one provider's file: only its rows change.
    let path = w.path("sample_data/westcombe_register.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let r = w.run(&["ingest", "pipelines/sample.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.stdout.matches("(unchanged, skipped)").count(),
        6,
        "{}",
        r.stdout
    );
    let after = table(&warehouse(&w), "participants");
    let count = |df: &polars::prelude::DataFrame, src: &str| {
        strs(df, "source").iter().filter(|s| *s == src).count()
    };
    assert_eq!(count(&after, "northside"), count(&before, "northside"));
    assert_eq!(count(&after, "eastleigh"), count(&before, "eastleigh"));
    let removed = count(&before, "westcombe") - count(&after, "westcombe");
    // The dropped row was either accepted (one fewer participant) or a planted reject.
    let m = table(&warehouse(&w), "manifest");
    assert_eq!(m.height(), 7);
    assert!(removed <= 1);
}

#[test]
fn the_same_pipeline_named_another_way_finds_its_files_unchanged() {
    let w = sample_copy();
    assert_eq!(w.run(&["ingest", "pipelines/sample.toml"]).code, 0);
    let version = std::fs::read_to_string(warehouse(&w).join("CURRENT")).unwrap();
    // By its absolute path, and from inside its own folder.
    let absolute = w.path("pipelines/sample.toml");
    let r = w.run(&["ingest", absolute.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let inside = run_in(&w.path("pipelines"), &["ingest", "sample.toml"]);
    assert_eq!(inside.code, 0, "{}", inside.all());
    for r in [&r, &inside] {
        assert_eq!(
            r.stdout.matches("(unchanged, skipped)").count(),
            7,
            "{}",
            r.all()
        );
        assert!(!r.all().contains("no longer matched"), "{}", r.all());
    }
    let now = std::fs::read_to_string(warehouse(&w).join("CURRENT")).unwrap();
    assert_eq!(version, now, "nothing changed, so no new version");
}

#[test]
fn a_file_read_again_under_a_new_key_is_not_called_removed() {
    let w = sample_copy();
    assert_eq!(w.run(&["ingest", "pipelines/sample.toml"]).code, 0);
    let before = table(&warehouse(&w), "participants").height();
    // A renamed source: its file's key changes, the file does not.
    let path = w.path("pipelines/sample.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let renamed = text.replacen("name = \"westcombe\"", "name = \"westcombe_cp\"", 1);
    assert_ne!(text, renamed);
    std::fs::write(&path, renamed).unwrap();
    let r = w.run(&["ingest", "pipelines/sample.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.all().contains("no longer matched"), "{}", r.all());
    assert!(!r.stdout.contains(": removed"), "{}", r.stdout);
    assert!(
        r.all()
            .contains("westcombe_register.csv: read again under a new file key"),
        "{}",
        r.all()
    );
    // Its rows were replaced, not doubled or lost.
    assert_eq!(table(&warehouse(&w), "participants").height(), before);
}

/// Every 10-digit string in the sample inputs that passes Modulus 11.
fn input_nhs_numbers(dir: &Path) -> Vec<String> {
    let mut texts = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("csv") => {
                texts.push(String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned())
            }
            Some("xlsx") => {
                use calamine::Reader;
                let mut book = calamine::open_workbook_auto(&p).unwrap();
                let range = book.worksheet_range("Referrals").unwrap();
                for row in range.rows() {
                    texts.push(
                        row.iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(","),
                    );
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for t in texts {
        for token in t.split([',', ';', '\n']) {
            let digits: String = token.chars().filter(|c| !c.is_whitespace()).collect();
            if digits.len() == 10
                && digits.chars().all(|c| c.is_ascii_digit())
                && smpeval::ingest::nhs::with_check_digit(digits[..9].parse().unwrap()).as_deref()
                    == Some(digits.as_str())
            {
                out.push(digits);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn no_nhs_number_reaches_the_warehouse_or_the_log() {
    let w = sample_copy();
    let numbers = input_nhs_numbers(&w.path("sample_data"));
    assert!(
        numbers.len() > 500,
        "found only {} NHS numbers in the inputs",
        numbers.len()
    );
    let r = w.run(&["ingest", "pipelines/sample.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let log = r.all();
    let wh = warehouse(&w);
    for t in smpeval::warehouse::TABLES {
        let df = table(&wh, t);
        for c in df.columns() {
            if c.dtype() != &polars::prelude::DataType::String {
                continue;
            }
            let values = strs(&df, c.name());
            for v in values {
                let squashed: String = v.chars().filter(|c| !c.is_whitespace()).collect();
                for n in &numbers {
                    assert!(
                        !squashed.contains(n.as_str()),
                        "table {t}, column {}: an NHS number",
                        c.name()
                    );
                }
            }
        }
    }
    for n in &numbers {
        assert!(!log.contains(n.as_str()));
    }
    // Belt and braces: the raw bytes of every warehouse file.
    for p in glob::glob(&format!("{}/**/*", wh.display()))
        .unwrap()
        .flatten()
    {
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for n in &numbers {
                assert!(!text.contains(n.as_str()), "{}", p.display());
            }
        }
    }
}

#[test]
fn a_second_run_on_a_locked_warehouse_fails_cleanly() {
    let w = sample_copy();
    smpeval::files::claim_dir(&warehouse(&w), smpeval::files::DirKind::Warehouse).unwrap();
    let _held = smpeval::warehouse::lock(&warehouse(&w), "test").unwrap();
    let r = w.run(&["ingest", "pipelines/sample.toml"]);
    // Exit code 3: locked (SPEC 6), naming the holder.
    assert_eq!(r.code, 3, "{}", r.all());
    let me = format!(
        "is locked by another smpeval run: pid {} on host {}, started 20",
        std::process::id(),
        smpeval::warehouse::hostname()
    );
    assert!(r.stderr.contains(&me), "{}", r.stderr);
}

#[test]
fn a_different_key_is_refused_on_an_existing_warehouse() {
    let w = sample_copy();
    assert_eq!(w.run(&["ingest", "pipelines/sample.toml"]).code, 0);
    // Touch one file so that it is re-ingested under another key.
    let out = std::process::Command::new(bin())
        .args(["ingest", "pipelines/sample.toml"])
        .current_dir(w.dir.path())
        .env(
            "SMPEVAL_HMAC_KEY",
            "another-key-of-at-least-thirty-two-bytes-0123456789",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was built with a different HMAC key"));
    // Issue 12: validate refuses it too, as ingest would.
    let out = std::process::Command::new(bin())
        .args(["validate", "pipelines/sample.toml"])
        .current_dir(w.dir.path())
        .env(
            "SMPEVAL_HMAC_KEY",
            "another-key-of-at-least-thirty-two-bytes-0123456789",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was built with a different HMAC key"));
}

#[test]
fn a_file_the_pipeline_no_longer_matches_leaves_the_warehouse() {
    let w = sample_copy();
    assert_eq!(w.run(&["ingest", "pipelines/sample.toml"]).code, 0);
    let before = table(&warehouse(&w), "participants");
    std::fs::rename(
        w.path("sample_data/westcombe_register.csv"),
        w.path("sample_data/westcombe_register.csv.withdrawn"),
    )
    .unwrap();
    let r = w.run(&["ingest", "pipelines/sample.toml"]);
    // The source now matches no file at all: that is bad input, and nothing changes.
    assert_eq!(r.code, 2, "{}", r.all());
    assert_eq!(
        table(&warehouse(&w), "participants").height(),
        before.height()
    );

    // With another westcombe file in place, the old one's rows go and the new one's come in.
    let text =
        std::fs::read_to_string(w.path("sample_data/westcombe_register.csv.withdrawn")).unwrap();
    let first_rows: Vec<&str> = text.lines().take(11).collect();
    std::fs::write(
        w.path("sample_data/westcombe_2025q1.csv"),
        first_rows.join("\n") + "\n",
    )
    .unwrap();
    let r = w.run(&["ingest", "pipelines/sample.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("westcombe_register.csv: removed (no longer matched by the pipeline"),
        "{}",
        r.stdout
    );
    let after = table(&warehouse(&w), "participants");
    let files: Vec<String> = strs(&after, "source_file");
    assert!(!files.iter().any(|f| f.ends_with("westcombe_register.csv")));
    assert_eq!(
        files
            .iter()
            .filter(|f| f.ends_with("westcombe_2025q1.csv"))
            .count(),
        10
    );
    let m = table(&warehouse(&w), "manifest");
    assert_eq!(m.height(), 7);
    assert!(!strs(&m, "path")
        .iter()
        .any(|p| p.ends_with("westcombe_register.csv")));
    let rejects = table(&warehouse(&w), "rejects");
    assert!(!strs(&rejects, "source_file")
        .iter()
        .any(|p| p.ends_with("westcombe_register.csv")));
}

#[test]
fn returns_read_side_by_side_are_reported_and_fail_in_the_pipelines_order() {
    let w = sample_copy();
    let r = w.run(&["ingest", "pipelines/sample.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let at = |name: &str| {
        r.stderr
            .find(&format!("{name}: "))
            .unwrap_or_else(|| panic!("{name}: {}", r.stderr))
    };
    let order = [
        "northside_returns.csv",
        "eastleigh_returns.xlsx",
        "westcombe_register.csv",
        "hes_apc.csv",
    ];
    assert!(
        order.windows(2).all(|p| at(p[0]) < at(p[1])),
        "{}",
        r.stderr
    );
    // The first and third returns broken: the first one's error is the one given.
    for name in ["northside_returns.csv", "westcombe_register.csv"] {
        let path = w.path(&format!("sample_data/{name}"));
        let bytes = std::fs::read(&path).unwrap();
        let body = &bytes[bytes.iter().position(|b| *b == b'\n').unwrap()..];
        std::fs::write(&path, [b"a;b;c".as_slice(), body].concat()).unwrap();
    }
    let r = w.run(&["validate", "pipelines/sample.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("northside_returns.csv"), "{}", r.stderr);
    assert!(!r.stderr.contains("westcombe_register.csv"), "{}", r.stderr);
}
