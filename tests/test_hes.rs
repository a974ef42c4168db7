//! The NHS Digital artificial HES files (tests/fixtures/artificial_hes), ingested as published.

mod common;
use common::*;

use polars::prelude::*;

fn ingest() -> (Workdir, Run) {
    ingest_with(&[])
}

fn ingest_with(env: &[(&str, &str)]) -> (Workdir, Run) {
    with_files("ingest", env)
}

/// `command` (ingest or validate) over the three files in a new folder.
fn with_files(command: &str, env: &[(&str, &str)]) -> (Workdir, Run) {
    let w = Workdir::new();
    std::fs::create_dir_all(w.path("pipelines")).unwrap();
    std::fs::copy(
        repo().join("pipelines/hes_example.toml"),
        w.path("pipelines/hes_example.toml"),
    )
    .unwrap();
    let fx = w.path("tests/fixtures/artificial_hes");
    std::fs::create_dir_all(&fx).unwrap();
    for f in ["hes_apc_0102.csv", "hes_ae_0708.csv", "hes_op_0304.csv"] {
        std::fs::copy(
            repo().join("tests/fixtures/artificial_hes").join(f),
            fx.join(f),
        )
        .unwrap();
    }
    std::fs::create_dir_all(w.path("sample_data")).unwrap();
    std::fs::copy(
        repo().join("sample_data/demo-hmac.key"),
        w.path("sample_data/demo-hmac.key"),
    )
    .unwrap();
    let r = run_env(w.dir.path(), &[command, "pipelines/hes_example.toml"], env);
    (w, r)
}

#[test]
fn files_read_in_small_batches_give_the_same_warehouse() {
    // About 40 rows a batch: every file in many batches, spells across them.
    let (a, ra) = ingest();
    let (b, rb) = ingest_with(&[("SMPEVAL_BATCH_BYTES", "4000")]);
    assert_eq!(ra.code, 0, "{}", ra.all());
    assert_eq!(rb.code, 0, "{}", rb.all());
    let (wa, wb) = (
        a.path("warehouse/hes_example"),
        b.path("warehouse/hes_example"),
    );
    for t in ["hospital_events", "rejects", "warnings"] {
        let (x, y) = (table(&wa, t), table(&wb, t));
        assert!(x.height() > 0 || t == "warnings", "{t} is empty");
        assert!(x.equals_missing(&y), "{t} differs:\n{x}\n{y}");
    }
    let (ma, mb) = (table(&wa, "manifest"), table(&wb, "manifest"));
    for c in [
        "rows_read",
        "rows_accepted",
        "rows_rejected",
        "rows_written",
    ] {
        assert_eq!(u64s(&ma, c), u64s(&mb, c), "{c}");
    }
    // The version holds no scratch files.
    let files: Vec<String> = walk(&current(&wb));
    assert!(files.iter().all(|f| !f.contains("scratch")), "{files:?}");
    assert_eq!(files, walk(&current(&wa)));
}

#[test]
fn validate_in_small_batches_spills_to_its_own_temporary_folder() {
    let (_, whole) = with_files("validate", &[]);
    assert_eq!(whole.code, 0, "{}", whole.all());
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tmp.path().to_str().unwrap();
    // A killed validate's scratch (no such process) and a running one's (this test's).
    let stale = tmp.path().join("smpeval-validate-999999999-x");
    let live = tmp
        .path()
        .join(format!("smpeval-validate-{}-y", std::process::id()));
    for d in [&stale, &live] {
        std::fs::create_dir_all(d.join("k")).unwrap();
        std::fs::write(d.join("k/spill-000000.parquet"), "x").unwrap();
    }
    let small = [("SMPEVAL_BATCH_BYTES", "4000"), ("TMPDIR", tmpdir)];
    let (w, batched) = with_files("validate", &small);
    assert_eq!(batched.code, 0, "{}", batched.all());
    // The same rows read, accepted, rejected and written (spells) per file.
    assert_eq!(whole.stdout, batched.stdout);
    assert!(
        whole.stdout.contains("hes_apc_0102.csv"),
        "{}",
        whole.stdout
    );
    // Nothing of its own left in the temporary folder, the killed run's
    // scratch gone, the running one's kept; and no warehouse made.
    let kept = format!(
        "smpeval-validate-{}-y/k/spill-000000.parquet",
        std::process::id()
    );
    assert_eq!(walk(tmp.path()), [kept]);
    assert!(!w.path("warehouse").exists());
    // The batches did go through it: with no such folder they cannot.
    let gone = tmp.path().join("gone");
    let no_tmp = [
        ("SMPEVAL_BATCH_BYTES", "4000"),
        ("TMPDIR", gone.to_str().unwrap()),
    ];
    let (_, failed) = with_files("validate", &no_tmp);
    assert_ne!(failed.code, 0, "{}", failed.all());
}

#[test]
fn validate_counts_the_linkage_of_a_spilled_extract() {
    // The sample's returns and hospital files, the hospital files spilled.
    let w = sample_copy();
    let whole = w.run(&["validate", "pipelines/sample.toml"]);
    assert_eq!(whole.code, 0, "{}", whole.all());
    let spilled = run_env(
        w.dir.path(),
        &["validate", "pipelines/sample.toml"],
        &[("SMPEVAL_BATCH_BYTES", "4000")],
    );
    assert_eq!(spilled.code, 0, "{}", spilled.all());
    assert!(
        !spilled.all().contains("No one in the provider returns"),
        "{}",
        spilled.all()
    );
    assert_eq!(whole.stdout, spilled.stdout);
    let warnings = |r: &Run| -> Vec<String> {
        r.stderr
            .lines()
            .filter(|l| l.contains("warning"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(warnings(&whole), warnings(&spilled));
}

/// The files under `dir`, relative, sorted.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn all_three_files_ingest_and_episodes_fold_into_spells() {
    let (w, r) = ingest();
    assert_eq!(r.code, 0, "{}", r.all());
    let wh = w.path("warehouse/hes_example");
    let m = table(&wh, "manifest");
    assert_eq!(m.height(), 3);
    let read = u64s(&m, "rows_read");
    let acc = u64s(&m, "rows_accepted");
    let rej = u64s(&m, "rows_rejected");
    let written = u64s(&m, "rows_written");
    let paths = strs(&m, "path");
    let apc = paths.iter().position(|p| p.contains("hes_apc")).unwrap();
    // 2,075 episodes in the published file.
    assert_eq!(read[apc], 2075);
    assert_eq!(read[apc], acc[apc] + rej[apc]);
    assert!(
        written[apc] < acc[apc],
        "spells {} should be fewer than episodes {}",
        written[apc],
        acc[apc]
    );
    // Distinct (PSEUDO_HESID, ADMIDATE) pairs among the valid episodes, counted independently in Python: 1,966.
    assert_eq!(written[apc], 1966);
    for i in 0..3 {
        assert_eq!(read[i], acc[i] + rej[i]);
    }
    let events = table(&wh, "hospital_events");
    // Every event carries its person's key: one key a pseudonym.
    let key = events.column("person_key").unwrap();
    assert_eq!(key.dtype(), &DataType::Int64);
    assert_eq!(key.null_count(), 0);
    let ids = events.column("person_id").unwrap().n_unique().unwrap();
    assert_eq!(key.n_unique().unwrap(), ids);
    let apc_rows = events
        .clone()
        .lazy()
        .filter(col("setting").eq(lit("apc")))
        .collect()
        .unwrap();
    let episodes: i64 = apc_rows
        .column("episodes")
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap()
        .i64()
        .unwrap()
        .sum()
        .unwrap();
    assert_eq!(episodes as u64, acc[apc]);
}

#[test]
fn sentinel_dates_are_rejected_or_flagged_never_dates() {
    let (w, r) = ingest();
    assert_eq!(r.code, 0, "{}", r.all());
    let wh = w.path("warehouse/hes_example");
    let rejects = table(&wh, "rejects");
    let reasons = strs(&rejects, "reason");
    assert!(
        reasons
            .iter()
            .any(|x| x.contains("HES sentinel 1801-01-01")),
        "{reasons:?}"
    );
    let m = table(&wh, "manifest");
    let sentinels: u64 = u64s(&m, "sentinel_dates").iter().sum();
    assert_eq!(
        sentinels, 2,
        "ADMIDATE and DISDATE of one episode are 1801-01-01"
    );
    let events = table(&wh, "hospital_events");
    for c in ["event_date", "discharge_date"] {
        let s = strs(&events, c);
        assert!(
            s.iter().all(|d| d.is_empty() || d.as_str() > "1900-01-01"),
            "{c} holds a sentinel"
        );
    }
}

#[test]
fn admission_methods_are_classified_and_99_kept_as_unknown() {
    let (w, r) = ingest();
    assert_eq!(r.code, 0, "{}", r.all());
    let events = table(&w.path("warehouse/hes_example"), "hospital_events");
    let apc = events
        .lazy()
        .filter(col("setting").eq(lit("apc")))
        .collect()
        .unwrap();
    let methods = strs(&apc, "admission_method");
    let types = strs(&apc, "admission_type");
    for (m, t) in methods.iter().zip(&types) {
        let want = match m.as_str() {
            "11" | "12" | "13" => "elective",
            "21" | "22" | "23" | "24" | "25" | "2A" | "2B" | "2C" | "2D" | "28" => "emergency",
            "31" | "32" => "maternity",
            "81" | "82" | "83" => "other",
            _ => "unknown",
        };
        assert_eq!(t, want, "ADMIMETH {m}");
    }
    assert!(methods.iter().any(|m| m == "99"), "code 99 kept");
}

#[test]
fn outpatient_attendance_codes_are_classified() {
    let (w, r) = ingest();
    assert_eq!(r.code, 0, "{}", r.all());
    let events = table(&w.path("warehouse/hes_example"), "hospital_events");
    let op = events
        .lazy()
        .filter(col("setting").eq(lit("op")))
        .collect()
        .unwrap();
    let status = strs(&op, "attendance_status");
    let outcome = strs(&op, "attendance_outcome");
    assert_eq!(op.height(), 1000);
    // Counted in Python from the published file: ATTENDED 5: 806, 6: 12.
    assert_eq!(outcome.iter().filter(|o| *o == "attended").count(), 818);
    for (s, o) in status.iter().zip(&outcome) {
        if s == "4" {
            assert_eq!(o, "cancelled_by_provider");
        }
    }
}
