//! Issue 12: `validate` runs every check `run` runs before writing and exits
//! as `run` would; `--rejects` writes what it found; a pipeline without a
//! hospital source makes an activity-only pack; broken linkage warns.

mod common;
use common::*;

fn tiny() -> Workdir {
    let w = Workdir::new();
    let from = repo().join("tests/fixtures/tiny");
    for e in std::fs::read_dir(&from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), w.path(&e.file_name().to_string_lossy())).unwrap();
    }
    w
}

fn edit(w: &Workdir, file: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(w.path(file)).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    w.write(file, text.replace(from, to));
}

/// validate and run fail alike: same exit code, same message, and run writes no pack.
fn agree(w: &Workdir, message: &str) {
    let v = w.run(&["validate", "pipeline.toml"]);
    let r = w.run(&["run", "pipeline.toml"]);
    assert_eq!(v.code, 2, "validate: {}", v.all());
    assert_eq!(r.code, 2, "run: {}", r.all());
    assert!(v.stderr.contains(message), "validate: {}", v.stderr);
    assert!(r.stderr.contains(message), "run: {}", r.stderr);
    assert!(!w.path("reports/tiny/latest").exists());
}

#[test]
fn evaluation_end_before_start_fails_validate_and_run_alike() {
    let w = tiny();
    edit(
        &w,
        "pipeline.toml",
        "evaluation_end = \"2024-03-31\"",
        "evaluation_end = \"2023-03-31\"",
    );
    agree(
        &w,
        "pipeline.toml line 8: settings.evaluation_end (2023-03-31) is before settings.evaluation_start (2023-04-01): the evaluation period would be empty",
    );
}

#[test]
fn no_referrals_in_the_period_fails_validate_and_run_alike() {
    let w = tiny();
    edit(
        &w,
        "pipeline.toml",
        "evaluation_start = \"2023-04-01\"\nevaluation_end = \"2024-03-31\"",
        "evaluation_start = \"2019-04-01\"\nevaluation_end = \"2020-03-31\"",
    );
    agree(
        &w,
        "no referrals fall in the evaluation period 2019-04-01 to 2020-03-31",
    );
}

#[test]
fn a_pipeline_without_hospital_data_makes_an_activity_only_pack() {
    let w = tiny();
    let p = std::fs::read_to_string(w.path("pipeline.toml")).unwrap();
    let start = p.find("[[sources]]\nname = \"hospital\"").unwrap();
    let end = start + p[start..].find("[[sources]]\nname = \"pam\"").unwrap();
    w.write("pipeline.toml", format!("{}{}", &p[..start], &p[end..]));
    let v = w.run(&["validate", "pipeline.toml"]);
    assert_eq!(v.code, 0, "{}", v.all());
    let r = w.run(&["run", "pipeline.toml", "--run-id", "t"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let html = std::fs::read_to_string(w.path("reports/tiny/t/index.html")).unwrap();
    assert!(
        html.contains("There is no hospital data: the pipeline has no hospital source"),
        "no reason in the hospital section"
    );
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.path("reports/tiny/t/metrics.json")).unwrap(),
    )
    .unwrap();
    assert!(m["hospital_coverage"].is_null());
    assert!(m["hospital_absent_reason"].is_string());
    assert!(m["activity"].is_object() || m["activity"].is_array());
}

#[test]
fn zero_linkage_warns_in_validate_the_log_and_the_pack() {
    let w = tiny();
    let h = std::fs::read_to_string(w.path("hospital.csv")).unwrap();
    w.write(
        "hospital.csv",
        h.replace(",P0", ",X0").replace("\nP", "\nX"),
    );
    let v = w.run(&["validate", "pipeline.toml"]);
    assert_eq!(v.code, 0, "{}", v.all());
    assert!(
        v.stdout
            .contains("warning: No one in the provider returns is found in the hospital data"),
        "{}",
        v.stdout
    );
    let r = w.run(&["run", "pipeline.toml", "--run-id", "t", "--internal"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr
            .contains("No one in the provider returns is found in the hospital data"),
        "log: {}",
        r.stderr
    );
    let html = std::fs::read_to_string(w.path("reports/tiny/t/index.html")).unwrap();
    assert!(html.contains("No one in the provider returns is found in the hospital data"));
    // A warning, for a scheduler: kept by --quiet, and level "warning" in JSON.
    let r = w.run(&["--quiet", "report", "pipeline.toml", "--run-id", "q"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr
            .contains("warning: No one in the provider returns is found in the hospital data"),
        "{}",
        r.stderr
    );
    let r = w.run(&[
        "--log-format",
        "json",
        "report",
        "pipeline.toml",
        "--run-id",
        "j",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.lines().any(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        v["level"] == "warning"
            && v["message"]
                .as_str()
                .unwrap()
                .contains("No one in the provider")
    }));
}

#[test]
fn validate_writes_the_rejects_it_found() {
    let w = Workdir::new();
    w.write("pipeline.toml", provider_pipeline(""));
    w.write(
        "returns.csv",
        format!(
            "{RETURNS_HEADER}{},C1,generic,01/05/2024,01/04/2024,4,female,A,3\n9434765918,C1,generic,01/05/2024,01/04/2024,4,female,A,3\n{},C1,generic,01/05/2024,31/02/2024,4,female,A,3\n",
            NHS[0], NHS[1]
        ),
    );
    let r = w.run(&["validate", "pipeline.toml", "--rejects", "out/rejects.csv"]);
    // The folder does not exist: a clear error, not a panic.
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("cannot write out/rejects.csv"),
        "{}",
        r.stderr
    );
    let r = w.run(&["validate", "pipeline.toml", "--rejects", "rejects.csv"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.stdout.contains("see the rejects table"), "{}", r.stdout);
    let text = std::fs::read_to_string(w.path("rejects.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "file,line,field,reason,value");
    assert!(lines[1].starts_with("returns.csv,3,person_id,"), "{text}");
    assert!(lines[1].ends_with(",[id masked]"), "{text}");
    assert!(
        lines[2].starts_with(
            "returns.csv,4,referral_date,is not a date (expected dd/mm/yyyy),31/02/2024"
        ),
        "{text}"
    );
    assert!(!text.contains("9434765918"));
    assert!(!w.path("wh").exists(), "validate wrote a warehouse");
}

#[test]
fn an_internal_pack_has_a_feedback_file_per_provider() {
    let w = tiny();
    let r = std::fs::read_to_string(w.path("returns.csv")).unwrap();
    w.write(
        "returns.csv",
        format!("{r}B,C9,generic,2023-06-01,P99,2023-13-01,4\n"),
    );
    let run = w.run(&["run", "pipeline.toml", "--run-id", "i", "--internal"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let text = std::fs::read_to_string(w.path("reports/tiny/i/rejects/B.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "file,line,field,reason,value,provider,course,programme,start,referred,sessions"
    );
    let n = r.lines().count() + 1;
    assert_eq!(
        lines[1],
        format!("returns.csv,{n},referral_date,is not a date (expected yyyy-mm-dd),2023-13-01,B,C9,generic,2023-06-01,2023-13-01,4")
    );
    // The person's id is not sent back.
    assert!(!text.contains("P99"));
    // The same rows in a workbook, one sheet per provider.
    use calamine::Reader;
    let mut book =
        calamine::open_workbook_auto(w.path("reports/tiny/i/rejects/rejects.xlsx")).unwrap();
    assert!(
        book.sheet_names().contains(&"B".to_string()),
        "{:?}",
        book.sheet_names()
    );
    let range = book.worksheet_range("B").unwrap();
    assert_eq!(
        range.get((1, 3)).unwrap().to_string(),
        "is not a date (expected yyyy-mm-dd)"
    );
    // A published pack has no feedback files.
    let run = w.run(&["report", "pipeline.toml", "--run-id", "p"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!w.path("reports/tiny/p/rejects").exists());
}

#[test]
fn a_did_whose_interval_includes_zero_says_no_clear_difference() {
    let w = sample_copy();
    let r = w.run(&["run", "pipelines/sample.toml", "--run-id", "s"]);
    assert_eq!(r.code, 0, "{}", r.all());
    // Other warnings of the sample: courses in progress, coverage, kept rows.
    assert!(
        r.stderr
            .contains("starters are on courses still in progress on"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("warning: sample_data/northside_returns.csv: 1 row(s) kept with imd_decile"),
        "{}",
        r.stderr
    );
    let text = std::fs::read_to_string(w.path("reports/sample/s/tables/did.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let at = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (o, lo, hi) = (at("outcome"), at("ci_low"), at("ci_high"));
    let html = std::fs::read_to_string(w.path("reports/sample/s/index.html")).unwrap();
    let mut unclear = 0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let (Ok(l), Ok(u)) = (rec[lo].parse::<f64>(), rec[hi].parse::<f64>()) else {
            continue;
        };
        let outcome = rec[o].replace('_', " ");
        let sentence = html
            .split("No clear difference between starters and the comparison group in ")
            .nth(1)
            .map(|s| s.split(':').next().unwrap().to_string())
            .unwrap_or_default();
        assert_eq!(
            sentence.split(", ").any(|x| x == outcome),
            l <= 0.0 && u >= 0.0,
            "{outcome}: {l} to {u}; said: {sentence}"
        );
        unclear += usize::from(l <= 0.0 && u >= 0.0);
    }
    assert!(
        unclear > 0,
        "the sample has no interval including zero: {text}"
    );
}

#[test]
fn inferred_hospital_coverage_is_stated_with_its_dates() {
    let w = tiny();
    edit(
        &w,
        "pipeline.toml",
        "hospital_coverage_start = \"2021-01-01\"\nhospital_coverage_end = \"2025-12-31\"\n",
        "",
    );
    let r = w.run(&["run", "pipeline.toml", "--run-id", "t"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let said = "The hospital extract's coverage is not set in the pipeline: taken as its first to last event date, ";
    assert!(r.stderr.contains(&format!("note: {said}")), "{}", r.stderr);
    let html = std::fs::read_to_string(w.path("reports/tiny/t/index.html")).unwrap();
    assert!(html.contains(said));
}

#[test]
fn validate_never_writes_its_rejects_over_what_the_pipeline_reads_or_owns() {
    let w = tiny();
    assert_eq!(w.run(&["run", "pipeline.toml", "--run-id", "r"]).code, 0);
    let inputs: Vec<Vec<u8>> = ["returns.csv", "pipeline.toml", "hospital.csv"]
        .iter()
        .map(|f| std::fs::read(w.path(f)).unwrap())
        .collect();
    for (target, why) in [
        ("returns.csv", "is a file the pipeline reads"),
        ("pipeline.toml", "is a file the pipeline reads"),
        ("./hospital.csv", "is a file the pipeline reads"),
        (
            "wh/CURRENT",
            "inside the pipeline's warehouse or reports folder",
        ),
        (
            "reports/tiny/x.csv",
            "inside the pipeline's warehouse or reports folder",
        ),
        (
            "rejects_9434765919.csv",
            "holds what reads as an NHS number",
        ),
    ] {
        let r = w.run(&["validate", "pipeline.toml", "--rejects", target]);
        assert_eq!(r.code, 2, "{target}: {}", r.all());
        assert!(r.stderr.contains(why), "{target}: {}", r.stderr);
        assert!(!r.all().contains("9434765919"), "{}", r.all());
    }
    assert!(!w.path("rejects_9434765919.csv").exists());
    assert!(!w.path("reports/tiny/x.csv").exists());
    for (f, before) in ["returns.csv", "pipeline.toml", "hospital.csv"]
        .iter()
        .zip(inputs)
    {
        assert_eq!(std::fs::read(w.path(f)).unwrap(), before, "{f} was changed");
    }
    // The warehouse still works, and a file elsewhere is written (again and again).
    assert_eq!(w.run(&["run", "pipeline.toml", "--run-id", "r2"]).code, 0);
    for _ in 0..2 {
        let r = w.run(&["validate", "pipeline.toml", "--rejects", "out.csv"]);
        assert_eq!(r.code, 0, "{}", r.all());
        let text = std::fs::read_to_string(w.path("out.csv")).unwrap();
        assert!(text.starts_with("file,line,field,reason,value"), "{text}");
    }
}

#[test]
fn validate_refuses_a_target_population_label_holding_an_nhs_number_as_run_would() {
    let w = sample_copy();
    let pop = w.path("sample_data/ltc_population.csv");
    let mut text = std::fs::read_to_string(&pop).unwrap();
    let line = text.lines().count() + 1;
    text.push_str("sex,943 476 5919,50\n");
    std::fs::write(&pop, text).unwrap();
    for args in [
        vec!["validate", "pipelines/sample.toml"],
        vec!["run", "pipelines/sample.toml"],
    ] {
        let r = w.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.all());
        assert!(
            r.stderr
                .contains(&format!("ltc_population.csv line {line}: field group")),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.all().contains("943 476 5919"), "{}", r.all());
    }
    assert!(!w.path("reports/sample/latest").exists());
}
