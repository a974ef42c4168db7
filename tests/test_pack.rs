//! The evaluation pack: every output is written, self-contained and atomic,
//! and published outputs never show a count of 1–7 (SPEC 5).

mod common;
use common::*;

use serde_json::Value;

/// Columns and JSON keys that count people. (Data-quality tables count file
/// rows, not people, and are shown exactly: `rows_read`, `accepted`, `rejected`.)
const COUNT_NAMES: &[&str] = &[
    "referrals",
    "starters",
    "completers",
    "attended",
    "n",
    "n_paired",
    "persons",
    "eligible",
    "insufficient_follow_up",
    "n_starters",
    "n_comparison",
    "eligible_starters",
    "pam_n",
    "to_level_1",
    "to_level_2",
    "to_level_3",
    "to_level_4",
    "baseline",
    "follow_up",
];

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn tiny(args: &[&str]) -> (Workdir, Run) {
    let w = Workdir::new();
    copy_dir(&repo().join("tests/fixtures/tiny"), w.dir.path());
    let mut a = vec!["run", "pipeline.toml", "--run-id", "t"];
    a.extend(args);
    let r = w.run(&a);
    (w, r)
}

/// A shown count: empty, [c], 0, or a multiple of 5 of at least 10.
fn publishable(s: &str) -> bool {
    let s = s.trim().replace(',', "");
    // [x] not available and [z] not applicable (the workbook's notes) hold no count.
    if s.is_empty() || ["[c]", "[x]", "[z]", "–", "0"].contains(&s.as_str()) {
        return true;
    }
    match s.parse::<f64>() {
        Ok(x) => x >= 8.0 && (x % 5.0).abs() < 1e-9,
        Err(_) => false,
    }
}

fn small(s: &str) -> bool {
    s.trim()
        .parse::<f64>()
        .map(|x| (1.0..=7.0).contains(&x))
        .unwrap_or(false)
}

/// Every count cell of every CSV table: (file, column, value).
fn csv_counts(dir: &std::path::Path) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(&p)
            .unwrap();
        let rows: Vec<Vec<String>> = rdr
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        let header = &rows[0];
        for row in &rows[1..] {
            for (j, c) in header.iter().enumerate() {
                if COUNT_NAMES.contains(&c.as_str()) {
                    out.push((
                        p.file_name().unwrap().to_string_lossy().into(),
                        c.clone(),
                        row[j].clone(),
                    ));
                }
            }
        }
    }
    out
}

/// Every `<td class="num count">` in the HTML.
fn html_counts(html: &str) -> Vec<String> {
    html.split("<td class=\"num count\"")
        .skip(1)
        .map(|s| {
            let v = &s[s.find('>').unwrap() + 1..];
            v[..v.find("</td>").unwrap()].to_string()
        })
        .collect()
}

fn xlsx_counts(path: &std::path::Path) -> Vec<String> {
    use calamine::Reader;
    let mut book = calamine::open_workbook_auto(path).unwrap();
    let mut out = Vec::new();
    for name in book.sheet_names() {
        if ["Cover", "Contents", "Notes"].contains(&name.as_str()) {
            continue;
        }
        let range = book.worksheet_range(&name).unwrap();
        let rows: Vec<Vec<String>> = range
            .rows()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect();
        // Title (A1), a line on the symbols (A2), then the table's one header row.
        let header_at = 2;
        let header = rows[header_at].clone();
        for row in &rows[header_at + 1..] {
            for (j, c) in header.iter().enumerate() {
                if COUNT_NAMES.contains(&c.as_str()) {
                    out.push(row.get(j).cloned().unwrap_or_default());
                }
            }
        }
    }
    out
}

fn json_counts(v: &Value, key: Option<&str>, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "transitions" {
                    for r in x.as_array().unwrap() {
                        for c in r.as_array().unwrap() {
                            out.push(if c.is_null() {
                                String::new()
                            } else {
                                c.to_string()
                            });
                        }
                    }
                } else {
                    json_counts(x, Some(k), out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| json_counts(x, key, out)),
        Value::Number(n) if key.is_some_and(|k| COUNT_NAMES.contains(&k)) => {
            out.push(n.to_string())
        }
        Value::Null if key.is_some_and(|k| COUNT_NAMES.contains(&k)) => out.push(String::new()),
        _ => {}
    }
}

#[test]
fn published_outputs_never_show_a_count_of_one_to_seven() {
    let (w, r) = tiny(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let pack = w.path("reports/tiny/t");
    let csv = csv_counts(&pack.join("tables"));
    assert!(csv.len() > 50);
    for (file, c, v) in &csv {
        assert!(publishable(v), "{file} {c} = {v}");
    }
    assert!(
        csv.iter().any(|(_, _, v)| v == "[c]"),
        "the tiny data has small counts to suppress"
    );
    let html = std::fs::read_to_string(pack.join("index.html")).unwrap();
    let cells = html_counts(&html);
    assert!(cells.len() > 50);
    for v in &cells {
        assert!(publishable(v), "HTML count {v}");
    }
    for v in xlsx_counts(&pack.join("evaluation.xlsx")) {
        assert!(publishable(&v), "XLSX count {v}");
    }
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(pack.join("metrics.json")).unwrap()).unwrap();
    let mut js = Vec::new();
    json_counts(&m, None, &mut js);
    assert!(js.len() > 50);
    for v in &js {
        assert!(publishable(v), "JSON count {v}");
    }
    assert!(
        !html.contains("class=\"banner\""),
        "a published pack is not marked internal"
    );
}

#[test]
fn internal_mode_shows_exact_small_counts_and_says_so() {
    let (w, r) = tiny(&["--internal"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let pack = w.path("reports/tiny/t");
    let csv = csv_counts(&pack.join("tables"));
    assert!(
        csv.iter().any(|(_, _, v)| small(v)),
        "internal CSVs show small counts"
    );
    let html = std::fs::read_to_string(pack.join("index.html")).unwrap();
    assert!(html_counts(&html).iter().any(|v| small(v)));
    assert!(html.contains("<div class=\"banner\">INTERNAL — not for publication"));
    assert!(xlsx_counts(&pack.join("evaluation.xlsx"))
        .iter()
        .any(|v| small(v)));
    // Every sheet and CSV carries the mark.
    use calamine::Reader;
    let mut book = calamine::open_workbook_auto(pack.join("evaluation.xlsx")).unwrap();
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).unwrap();
        assert!(
            range
                .get((0, 0))
                .unwrap()
                .to_string()
                .starts_with("INTERNAL"),
            "sheet {name}"
        );
    }
    // Issue 12: tidy CSVs, marked in their names, not with a banner row.
    for e in std::fs::read_dir(pack.join("tables")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with("-INTERNAL.csv"), "{name}");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.starts_with("INTERNAL"), "{name} has a banner row");
    }
    let notes = std::fs::read_to_string(pack.join("tables-notes-INTERNAL.txt")).unwrap();
    assert!(notes.starts_with("INTERNAL"));
    assert!(notes.contains("[c]") && notes.contains("[x]") && notes.contains("[z]"));
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(pack.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(m["disclosure"], "internal");
    assert_eq!(m["suppressed"].as_array().unwrap().len(), 0);
}

#[test]
fn sample_pack_has_every_output_and_every_contract_key() {
    let w = Workdir::new();
    std::fs::create_dir_all(w.path("pipelines")).unwrap();
    std::fs::copy(
        repo().join("pipelines/sample.toml"),
        w.path("pipelines/sample.toml"),
    )
    .unwrap();
    copy_dir(&repo().join("sample_data"), &w.path("sample_data"));
    let r = w.run(&["run", "pipelines/sample.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let latest = w.path("reports/sample/latest");
    assert!(latest.join("index.html").is_file());
    assert!(latest.join("evaluation.xlsx").is_file());
    assert!(latest.join("manifest.json").is_file());
    let charts: Vec<String> = std::fs::read_dir(latest.join("charts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in [
        "referral_funnel",
        "retention",
        "provider_funnel",
        "hospital_pre_post",
        "hospital_change",
        "did_forest",
        "pam_levels",
        "pam_by_baseline",
        "trend_xmr",
        "cost_per_completer",
        "completion_by_imd",
        "balance_smd",
        "provider_funnel_adjusted",
    ] {
        assert!(charts.contains(&format!("{name}.svg")), "{name}.svg");
        let png = std::fs::read(latest.join("charts").join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}.png");
    }
    let html = std::fs::read_to_string(latest.join("index.html")).unwrap();
    assert_eq!(html.matches("<figure class=\"chart\"").count(), 14);
    // Self-contained: nothing is fetched.
    for needle in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "<script src",
        "<link ",
    ] {
        assert!(!html.contains(needle), "{needle}");
    }
    assert!(html.contains("regression to the mean"));
    assert!(html.contains("Disclosure statement"));
    assert!(
        html.contains("Difference-in-differences"),
        "methods section from the README"
    );

    // metrics.json: every SPEC 7 key is filled, or named in `suppressed`.
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("metrics.json")).unwrap())
            .unwrap();
    let suppressed: Vec<String> = m["suppressed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut missing = Vec::new();
    let mut check = |path: String, v: &Value| {
        if v.is_null() && !suppressed.contains(&path) {
            missing.push(path);
        }
    };
    assert_eq!(m["schema_version"], 1);
    for k in [
        "id",
        "pipeline",
        "tool_version",
        "started_at",
        "finished_at",
    ] {
        check(format!("run.{k}"), &m["run"][k]);
    }
    assert_eq!(m["disclosure"], "published");
    for k in ["referrals", "starters", "completers", "courses"] {
        check(
            format!("activity.overall.{k}"),
            &m["activity"]["overall"][k],
        );
    }
    for (i, p) in m["activity"]["by_provider"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for k in [
            "provider_id",
            "referrals",
            "starters",
            "completers",
            "courses",
        ] {
            check(format!("activity.by_provider[{i}].{k}"), &p[k]);
        }
    }
    for k in ["starters", "completers", "rate", "ci_low", "ci_high"] {
        check(
            format!("completion.overall.{k}"),
            &m["completion"]["overall"][k],
        );
        for (i, p) in m["completion"]["by_provider"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            check(format!("completion.by_provider[{i}].{k}"), &p[k]);
        }
    }
    assert_eq!(m["retention"].as_array().unwrap().len(), 6);
    for (i, r) in m["retention"].as_array().unwrap().iter().enumerate() {
        for k in ["session", "attended", "rate"] {
            check(format!("retention[{i}].{k}"), &r[k]);
        }
    }
    assert_eq!(m["hospital"].as_array().unwrap().len(), 15);
    for (i, r) in m["hospital"].as_array().unwrap().iter().enumerate() {
        for k in [
            "group",
            "outcome",
            "n",
            "mean_pre",
            "mean_post",
            "change",
            "ci_low",
            "ci_high",
            "pct_change",
        ] {
            check(format!("hospital[{i}].{k}"), &r[k]);
        }
    }
    assert_eq!(m["did"].as_array().unwrap().len(), 5);
    for (i, r) in m["did"].as_array().unwrap().iter().enumerate() {
        for k in ["outcome", "estimate", "ci_low", "ci_high"] {
            check(format!("did[{i}].{k}"), &r[k]);
        }
    }
    for k in [
        "n_paired",
        "mean_pre",
        "mean_post",
        "change",
        "ci_low",
        "ci_high",
        "pct_up_one_level",
    ] {
        check(format!("pam.{k}"), &m["pam"][k]);
    }
    assert_eq!(m["pam"]["transitions"].as_array().unwrap().len(), 4);
    for k in [
        "total",
        "per_referral",
        "per_starter",
        "per_completer",
        "per_course",
    ] {
        check(format!("cost.{k}"), &m["cost"][k]);
    }
    for (i, f) in m["data_quality"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for k in ["path", "rows_read", "accepted", "rejected"] {
            check(format!("data_quality.files[{i}].{k}"), &f[k]);
        }
    }
    assert!(missing.is_empty(), "null and not suppressed: {missing:?}");
    assert_eq!(m["data_quality"]["files"].as_array().unwrap().len(), 7);
}

#[test]
fn a_failed_report_leaves_no_pack_and_keeps_latest() {
    let (w, r) = tiny(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let before = std::fs::read_link(w.path("reports/tiny/latest")).unwrap();
    // Something already where the new pack's folder must go: never replaced.
    std::fs::write(w.path("reports/tiny/blocked"), "not a folder").unwrap();
    let r = w.run(&["report", "pipeline.toml", "--run-id", "blocked"]);
    // A used run id is a bad --run-id: exit 2, as the README says.
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("a pack named `blocked` already exists in reports/tiny"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_link(w.path("reports/tiny/latest")).unwrap(),
        before
    );
    let leftovers: Vec<String> = std::fs::read_dir(w.path("reports/tiny"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(
        std::fs::read_to_string(w.path("reports/tiny/blocked")).unwrap(),
        "not a folder"
    );
}

#[test]
fn report_before_ingest_says_what_to_do() {
    let w = Workdir::new();
    copy_dir(&repo().join("tests/fixtures/tiny"), w.dir.path());
    let r = w.run(&["report", "pipeline.toml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("has no data yet: run `smpeval ingest pipeline.toml` first"),
        "{}",
        r.stderr
    );
}
