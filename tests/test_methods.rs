//! Issue 10: constructed cases with the answer worked by hand, one per method
//! fixed (cost per provider, value not estimable, PAM cut at report time,
//! courses in progress, period length).

mod common;

use common::*;
use serde_json::Value;

fn pipeline(settings: &str, extra: &str) -> String {
    format!(
        r#"name = "m"
warehouse = "wh"
reports = "reports"
[privacy]
key_env = "SMPEVAL_HMAC_KEY"
[settings]
hospital_coverage_start = "2020-01-01"
hospital_coverage_end = "2026-12-31"
max_reject_rate = 1.0
{settings}
[providers]
A = "Provider A"
B = "Provider B"
{extra}
[[sources]]
name = "returns"
kind = "provider_returns"
files = ["returns.csv"]
id_kind = "pseudonym"
date_format = "yyyy-mm-dd"
[sources.columns]
provider_id = "provider"
course_id = "course"
programme = "programme"
course_start_date = "start"
person_id = "person"
referral_date = "referred"
sessions_attended = "sessions"
[sources.constants]
age_band = "50-64"
[[sources]]
name = "hospital"
kind = "hospital"
files = ["hospital.csv"]
id_kind = "pseudonym"
date_format = "yyyy-mm-dd"
[sources.columns]
person_id = "person"
setting = "setting"
event_date = "date"
discharge_date = "discharge"
admission_method = "method"
attendance_status = "attended"
[[sources]]
name = "pam"
kind = "pam"
files = ["pam.csv"]
id_kind = "pseudonym"
date_format = "yyyy-mm-dd"
[sources.columns]
person_id = "person"
assessment_date = "date"
score = "score"
"#
    )
}

/// Referral rows: (provider, course, start, sessions); one person each.
fn returns(rows: &[(&str, &str, &str, u32)]) -> String {
    let mut s = String::from("provider,course,programme,start,person,referred,sessions\n");
    for (i, (p, c, start, n)) in rows.iter().enumerate() {
        let referred = format!("{}-01", &start[..7]);
        s.push_str(&format!("{p},{c},generic,{start},P{i:03},{referred},{n}\n"));
    }
    s
}

fn run(w: &Workdir, internal: bool) -> Value {
    let mut args = vec!["run", "pipeline.toml", "--run-id"];
    let id = format!(
        "r{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    args.push(&id);
    if internal {
        args.push("--internal");
    }
    let r = w.run(&args);
    assert_eq!(r.code, 0, "{}", r.all());
    serde_json::from_str(
        &std::fs::read_to_string(w.path(&format!("reports/m/{id}/metrics.json"))).unwrap(),
    )
    .unwrap()
}

/// A file of the (only) pack made in this folder.
/// (An internal pack's tables are named `<table>-INTERNAL.csv`.)
fn pack_file(w: &Workdir, name: &str) -> String {
    let internal = name.replace(".csv", "-INTERNAL.csv");
    for n in [name, internal.as_str()] {
        let pattern = format!("{}/reports/m/*/{n}", w.dir.path().display());
        if let Some(path) = glob::glob(&pattern).unwrap().flatten().next() {
            return std::fs::read_to_string(path).unwrap();
        }
    }
    panic!("no pack file {name}")
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn write(w: &Workdir, settings: &str, extra: &str, rows: &[(&str, &str, &str, u32)]) {
    w.write("pipeline.toml", pipeline(settings, extra));
    w.write("returns.csv", returns(rows));
    w.write(
        "hospital.csv",
        "person,setting,date,discharge,method,attended\nP000,ae,2023-03-01,,,\n",
    );
    w.write("pam.csv", "person,date,score\n");
}

#[test]
fn unit_based_costs_are_charged_by_each_providers_own_units() {
    // A: 10 starters, 9 completers; B: 10 starters, 1 completer. £100 per completer:
    // A costs £900 (9 × £100), B £100 (1 × £100): £100 per completer each, not
    // £55.56 and £500 as when the line was shared by starters. The coordinator's
    // £1,000 a year over exactly one year (2023-04-01..2024-03-31 = 12 months) is
    // shared by starters: £500 each. Provider costs add up to the total, £2,000.
    let w = Workdir::new();
    let mut rows = Vec::new();
    for i in 0..10 {
        rows.push(("A", "A1", "2023-06-01", if i < 9 { 5 } else { 1 }));
        rows.push(("B", "B1", "2023-06-01", if i < 1 { 5 } else { 1 }));
    }
    write(
        &w,
        "evaluation_start = \"2023-04-01\"\nevaluation_end = \"2024-03-31\"\ndata_as_at = \"2024-12-31\"",
        "[[cost_lines]]\nitem = \"certificates\"\namount = 100.0\nbasis = \"per_completer\"\n[[cost_lines]]\nitem = \"coordinator\"\namount = 1000.0\nbasis = \"per_year\"",
        &rows,
    );
    let m = run(&w, true);
    assert_eq!(num(&m["cost"]["total"]), 2000.0);
    assert_eq!(num(&m["cost"]["period_years"]), 1.0);
    let providers = m["providers"].as_array().unwrap();
    let cost = |id: &str| {
        providers
            .iter()
            .find(|p| p["provider_id"] == id)
            .unwrap_or_else(|| panic!("no provider {id}: {providers:?}"))
            .clone()
    };
    assert_eq!(num(&cost("A")["cost"]), 900.0 + 500.0);
    assert_eq!(num(&cost("B")["cost"]), 100.0 + 500.0);
    let sum: f64 = providers.iter().filter_map(|p| p["cost"].as_f64()).sum();
    assert!((sum - 2000.0).abs() < 0.005, "{sum}");
    // Per completer, the certificates line alone is £100 for both.
    let csv = pack_file(&w, "tables/cost_by_provider-INTERNAL.csv");
    assert!(csv.contains("Provider A") && csv.contains("1400"), "{csv}");
}

#[test]
fn value_is_not_estimable_when_everyone_starts() {
    // Every referral starts: there is no comparison group, so the value is null
    // with its reason, never £0.
    let w = Workdir::new();
    let rows: Vec<_> = (0..12).map(|_| ("A", "A1", "2023-06-01", 5)).collect();
    write(
        &w,
        "evaluation_start = \"2023-04-01\"\nevaluation_end = \"2024-03-31\"\ndata_as_at = \"2024-12-31\"",
        "[[cost_lines]]\nitem = \"coordinator\"\namount = 1000.0\nbasis = \"per_year\"",
        &rows,
    );
    let m = run(&w, true);
    let v = &m["value"];
    assert!(v["total_value"].is_null(), "{v}");
    assert!(v["return_per_pound"].is_null(), "{v}");
    assert!(v["net_cost"].is_null(), "{v}");
    assert!(
        v["not_estimable_reason"]
            .as_str()
            .unwrap()
            .contains("no comparison group"),
        "{v}"
    );
    let html = pack_file(&w, "index.html");
    assert!(html.contains("not estimable"));
}

#[test]
fn a_course_still_running_is_in_progress_not_a_failure() {
    // Data as at 2024-03-31. Course A1 started 2023-06-01 (finished); course A2
    // started 2024-03-10, three weeks before: its sixth session is due
    // 2024-04-14, so its 4 starters (1 session each so far) are in progress:
    // counted in activity, left out of completion. Completion = 3 of 4 finished
    // starters = 0.75, not 3 of 8.
    let w = Workdir::new();
    let mut rows = vec![
        ("A", "A1", "2023-06-01", 5),
        ("A", "A1", "2023-06-01", 5),
        ("A", "A1", "2023-06-01", 6),
        ("A", "A1", "2023-06-01", 1),
    ];
    rows.extend((0..4).map(|_| ("A", "A2", "2024-03-10", 1)));
    write(
        &w,
        "evaluation_start = \"2023-04-01\"\nevaluation_end = \"2024-03-31\"\ndata_as_at = \"2024-03-31\"",
        "",
        &rows,
    );
    let m = run(&w, true);
    let a = &m["activity"]["overall"];
    assert_eq!(num(&a["starters"]), 8.0);
    let c = &m["completion"]["overall"];
    assert_eq!(num(&c["starters"]), 4.0);
    assert_eq!(num(&c["completers"]), 3.0);
    assert_eq!(num(&c["rate"]), 0.75);
    let csv = pack_file(&w, "tables/activity_overall-INTERNAL.csv");
    let mut lines = csv.lines().filter(|l| !l.starts_with("INTERNAL"));
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let values: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == "in_progress").unwrap();
    assert_eq!(values[i], "4", "{csv}");
}

#[test]
fn a_changed_pam_cut_changes_the_transitions_without_a_reingest() {
    // Ten starters scored 60.0 → 70.0: level 3 → 4 under the 67.0 cut, 3 → 3
    // under 72.4. The warehouse keeps scores; levels follow the current setting.
    let w = Workdir::new();
    let rows: Vec<_> = (0..10).map(|_| ("A", "A1", "2023-06-01", 5)).collect();
    let settings = "evaluation_start = \"2023-04-01\"\nevaluation_end = \"2024-03-31\"\ndata_as_at = \"2024-12-31\"";
    write(&w, settings, "", &rows);
    let mut pam = String::from("person,date,score\n");
    for i in 0..10 {
        pam.push_str(&format!(
            "P{i:03},2023-05-20,60.0\nP{i:03},2023-09-01,70.0\n"
        ));
    }
    w.write("pam.csv", pam);
    let m = run(&w, true);
    assert_eq!(m["pam"]["transitions"][2][3], 10, "{}", m["pam"]);
    w.write(
        "pipeline.toml",
        pipeline(&format!("{settings}\npam_level4_cut = 72.4"), ""),
    );
    let r = w.run(&["report", "pipeline.toml", "--run-id", "cut", "--internal"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(w.path("reports/m/cut/metrics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["pam"]["transitions"][2][2], 10, "{}", m["pam"]);
    assert_eq!(m["pam"]["transitions"][2][3], 0);
}

#[test]
fn a_three_year_period_costs_exactly_three_years() {
    // 2021-04-01..2024-03-31 (a leap day inside): 36 whole months = 3.0 years;
    // a £1,000 per_year line costs exactly £3,000.
    let w = Workdir::new();
    let rows: Vec<_> = (0..10).map(|_| ("A", "A1", "2022-06-01", 5)).collect();
    write(
        &w,
        "evaluation_start = \"2021-04-01\"\nevaluation_end = \"2024-03-31\"\ndata_as_at = \"2024-12-31\"",
        "[[cost_lines]]\nitem = \"coordinator\"\namount = 1000.0\nbasis = \"per_year\"",
        &rows,
    );
    let m = run(&w, true);
    assert_eq!(num(&m["cost"]["period_years"]), 3.0);
    assert_eq!(num(&m["cost"]["total"]), 3000.0);
}

#[test]
fn the_same_referral_in_two_files_follows_the_duplicates_rule() {
    // P000 on course A1 is in returns_a.csv (2 sessions) and again in
    // returns_b.csv (6 sessions): under `latest` (the default) the later file
    // wins, so P000 is a completer, and returns_a.csv line 2 is counted as
    // rejected, "superseded by returns_b.csv line 2". Under `first` the
    // earlier file wins (not a completer); under `reject` neither counts.
    let w = Workdir::new();
    let base = "evaluation_start = \"2023-04-01\"\nevaluation_end = \"2024-03-31\"\ndata_as_at = \"2024-12-31\"";
    let header = "provider,course,programme,start,person,referred,sessions\n";
    w.write(
        "returns_a.csv",
        format!("{header}A,A1,generic,2023-06-01,P000,2023-05-01,2\nA,A1,generic,2023-06-01,P001,2023-05-01,5\n"),
    );
    w.write(
        "returns_b.csv",
        format!("{header}A,A1,generic,2023-06-01,P000,2023-05-01,6\n"),
    );
    w.write(
        "hospital.csv",
        "person,setting,date,discharge,method,attended\nP000,ae,2023-03-01,,,\n",
    );
    w.write("pam.csv", "person,date,score\n");
    for (rule, referrals, completers) in [
        ("latest", 2.0, 2.0),
        ("first", 2.0, 1.0),
        ("reject", 1.0, 1.0),
    ] {
        w.write(
            "pipeline.toml",
            pipeline(&format!("{base}\nduplicates = \"{rule}\""), "")
                .replace("files = [\"returns.csv\"]", "files = [\"returns_*.csv\"]"),
        );
        let m = run(&w, true);
        let a = &m["activity"]["overall"];
        assert_eq!(num(&a["referrals"]), referrals, "{rule}: {a}");
        assert_eq!(num(&a["completers"]), completers, "{rule}: {a}");
        let files = m["data_quality"]["files"].as_array().unwrap();
        let file = |name: &str| {
            files
                .iter()
                .find(|f| f["path"].as_str().unwrap().ends_with(name))
                .unwrap()
                .clone()
        };
        // rows read = accepted + rejected, per file, whatever the rule.
        for f in files {
            assert_eq!(
                num(&f["rows_read"]),
                num(&f["accepted"]) + num(&f["rejected"]),
                "{f}"
            );
        }
        // The row the rule sets aside is counted beside the file's counts,
        // which stay the ingest's (no row of either file was rejected).
        let dropped_a = if rule == "first" { 0.0 } else { 1.0 };
        assert_eq!(
            num(&file("returns_a.csv")["superseded"]),
            dropped_a,
            "{rule}"
        );
        assert_eq!(num(&file("returns_a.csv")["rejected"]), 0.0, "{rule}");
    }
    let csv = pack_file(&w, "tables/data_quality.csv");
    assert!(csv.lines().next().unwrap().contains("superseded"), "{csv}");
}
