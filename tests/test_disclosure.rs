//! Issue 9: a published pack from which nothing suppressed or exact can be
//! recovered.
//!
//! Neighbour packs: two input sets that differ only in which of two
//! categories k people belong to (a small category, 1–7 people or none, and a
//! large one) give identical published packs — every CSV, metrics.json and
//! the XLSX's cell values — run ids and times aside. The large category's
//! counts are chosen ≡ 3 (mod 5), so adding up to 4 people does not cross a
//! rounding boundary: for k = 1..4 the packs must be identical. For k = 5..7
//! no choice of counts avoids the boundary (the large group's rounded count
//! must move by 5), so the test asserts that every difference lies in the
//! large category's own rows: the small category's row and every total are
//! the same in both packs.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use calamine::{open_workbook, Reader, Xlsx};
use common::*;

/// A dimension: the column it is set by, the small and large categories, another one.
struct Dim {
    name: &'static str,
    small: &'static str,
    large: &'static str,
    other: &'static str,
    /// How the large category is labelled in the pack's tables.
    large_label: &'static str,
}

const DIMS: &[Dim] = &[
    Dim {
        name: "provider",
        small: "SML",
        large: "BIG",
        other: "MID",
        large_label: "BIG",
    },
    Dim {
        name: "ethnicity",
        small: "R",
        large: "A",
        other: "H",
        large_label: "White",
    },
    Dim {
        name: "sex",
        small: "other",
        large: "female",
        other: "male",
        large_label: "female",
    },
    Dim {
        name: "age",
        small: "18-34",
        large: "65-74",
        other: "50-64",
        large_label: "65-74",
    },
    Dim {
        name: "imd",
        small: "1",
        large: "10",
        other: "6",
        large_label: "5",
    },
    Dim {
        name: "language",
        small: "Punjabi",
        large: "English",
        other: "Urdu",
        large_label: "English",
    },
];

const PIPELINE: &str = r#"name = "nb"
warehouse = "wh"
reports = "reports"
[privacy]
key_env = "SMPEVAL_HMAC_KEY"
[settings]
evaluation_start = "2023-04-01"
evaluation_end = "2024-03-31"
hospital_coverage_start = "2021-01-01"
hospital_coverage_end = "2025-12-31"
data_as_at = "2024-12-31"
max_reject_rate = 1.0
[labels]
course_language = ["English", "Urdu", "Punjabi"]
# Matched estimates are model outputs over everyone's covariates: moving
# people between categories of a matched covariate changes them (published
# under the n >= 10 rule, their counts controlled). Off here; see the note.
[matching]
enabled = false
[providers]
BIG = "Big provider"
MID = "Middle provider"
SML = "Small provider"
[[cost_lines]]
item = "coordinator"
amount = 30000.0
basis = "per_year"
[[cost_lines]]
item = "handbooks"
amount = 12.95
basis = "per_starter"
[[cost_lines]]
item = "certificates"
amount = 10.0
basis = "per_completer"
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
sex = "sex"
ethnicity = "ethnicity"
age_band = "age"
imd_decile = "imd"
course_language = "language"
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
"#;

/// One referral: its dimension value for `dim` and sessions attended.
struct Person {
    id: String,
    value: String,
    sessions: u32,
    pam: bool,
}

/// The people: 48 in the large category (38 completers, 5 other starters, 5
/// never started: each ≡ 3 mod 5), 60 in another, and k movable completers
/// in the small (`movable_small`) or the large category.
fn people(d: &Dim, k: usize, movable_small: bool) -> Vec<Person> {
    let mut v = Vec::new();
    let mut add = |n: usize, value: &str, sessions: u32, pam: bool| {
        for _ in 0..n {
            let id = format!("P{:04}", v.len());
            v.push(Person {
                id,
                value: value.to_string(),
                sessions,
                pam,
            });
        }
    };
    add(38, d.large, 5, true);
    add(5, d.large, 2, true);
    add(5, d.large, 0, false);
    add(40, d.other, 5, true);
    add(10, d.other, 2, true);
    add(10, d.other, 0, false);
    add(k, if movable_small { d.small } else { d.large }, 6, false);
    v
}

fn write_inputs(w: &Workdir, d: &Dim, k: usize, movable_small: bool) {
    let mut returns = String::from(
        "provider,course,programme,start,person,referred,sessions,sex,ethnicity,age,imd,language\n",
    );
    let mut hospital = String::from("person,setting,date,discharge,method,attended\n");
    let mut pam = String::from("person,date,score\n");
    for (i, p) in people(d, k, movable_small).iter().enumerate() {
        let c = i % 4;
        let start = format!("2023-{:02}-01", 5 + c * 2);
        let referred = format!("2023-{:02}-10", 4 + c * 2);
        let (mut provider, mut sex, mut eth, mut age, mut imd, mut lang) =
            ("BIG", "female", "A", "65-74", "10", "English");
        match d.name {
            "provider" => provider = &p.value,
            "ethnicity" => eth = &p.value,
            "sex" => sex = &p.value,
            "age" => age = &p.value,
            "imd" => imd = &p.value,
            _ => lang = &p.value,
        }
        // The movable people join the large provider's first course, or a course of their own.
        let course = format!("{provider}-C{c}");
        returns.push_str(&format!(
            "{provider},{course},generic,{start},{},{referred},{},{sex},{eth},{age},{imd},{lang}\n",
            p.id, p.sessions
        ));
        // Hospital use: admissions before and after, by the person's number.
        let year: i32 = 2023;
        // The movable people have no hospital events or PAM scores, so the
        // large group's event totals do not cross a rounding boundary either.
        let events = if p.sessions == 6 { 0 } else { i % 3 };
        for e in 0..events {
            hospital.push_str(&format!(
                "{},apc,{year}-0{}-1{e},{year}-0{}-1{},21,\n",
                p.id,
                1 + c,
                1 + c,
                e + 2
            ));
        }
        let ae = if p.sessions == 6 { 0 } else { i % 2 };
        for e in 0..ae {
            hospital.push_str(&format!("{},ae,{}-0{}-2{e},,,\n", p.id, year + 1, 1 + c));
        }
        if p.pam {
            pam.push_str(&format!(
                "{},{}-{:02}-01,{:.1}\n{},2024-{:02}-01,{:.1}\n",
                p.id,
                year,
                5 + c * 2,
                45.0 + (i % 13) as f64 * 1.3,
                p.id,
                2 + c,
                48.0 + (i % 11) as f64 * 1.1
            ));
        }
    }
    w.write("pipeline.toml", PIPELINE);
    w.write("returns.csv", returns);
    w.write("hospital.csv", hospital);
    w.write("pam.csv", pam);
}

/// Every published file of a pack, by name: CSV text, metrics.json without
/// its run facts, and the XLSX's cell values sheet by sheet.
fn pack_contents(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir.join("tables")).unwrap() {
        let p = e.unwrap().path();
        out.insert(
            format!("tables/{}", p.file_name().unwrap().to_string_lossy()),
            std::fs::read_to_string(&p).unwrap(),
        );
    }
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    m.as_object_mut().unwrap().remove("run");
    out.insert(
        "metrics.json".into(),
        serde_json::to_string_pretty(&m).unwrap(),
    );
    let mut wb: Xlsx<_> = open_workbook(dir.join("evaluation.xlsx")).unwrap();
    for name in wb.sheet_names() {
        let r = wb.worksheet_range(&name).unwrap();
        let cells: Vec<String> = r
            .rows()
            .map(|row| {
                row.iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join("\t")
            })
            .collect();
        out.insert(format!("xlsx/{name}"), cells.join("\n"));
    }
    out
}

fn published_pack(d: &Dim, k: usize, movable_small: bool) -> BTreeMap<String, String> {
    let w = Workdir::new();
    write_inputs(&w, d, k, movable_small);
    let r = w.run(&["run", "pipeline.toml", "--run-id", "pack"]);
    assert_eq!(r.code, 0, "{}", r.all());
    pack_contents(&w.path("reports/nb/pack"))
}

/// Lines that differ between two texts.
fn differing_lines(a: &str, b: &str) -> Vec<(String, String)> {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let n = la.len().max(lb.len());
    (0..n)
        .filter_map(|i| {
            let (x, y) = (
                la.get(i).copied().unwrap_or(""),
                lb.get(i).copied().unwrap_or(""),
            );
            (x != y).then(|| (x.to_string(), y.to_string()))
        })
        .collect()
}

/// Columns holding individual-level statistics (intervals from person-level
/// variances), which the issue publishes under the n >= 10 rule.
const INDIVIDUAL_LEVEL: &[&str] = &[
    "emergency_did",
    "did_low",
    "did_high",
    "emergency_admissions_vs_comparison",
    // The case-mix ratio's expected count sums person-level stratum rates.
    "ratio",
];

#[test]
fn neighbouring_inputs_give_identical_published_packs() {
    for d in DIMS {
        for k in 1..=7 {
            let a = published_pack(d, k, true);
            let b = published_pack(d, k, false);
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{} k={k}: the packs hold different files",
                d.name
            );
            for (file, ta) in &a {
                let tb = &b[file];
                if k <= 4 {
                    // Identical, except the interval of an individual-level
                    // statistic of the large group (its variance includes the
                    // people moved in): published under the n >= 10 rule, and
                    // only in the large group's own row.
                    let csv_name = format!("tables/{}.csv", file.trim_start_matches("xlsx/"));
                    let header_of = a.get(&csv_name).unwrap_or(ta);
                    let header: Vec<&str> =
                        header_of.lines().next().unwrap_or("").split(',').collect();
                    for (x, y) in differing_lines(ta, tb) {
                        let (cx, cy): (Vec<&str>, Vec<&str>) = (
                            x.split([',', '\t']).collect(),
                            y.split([',', '\t']).collect(),
                        );
                        // metrics.json: one key a line; the key names the statistic.
                        let json_stat = file == "metrics.json"
                            && INDIVIDUAL_LEVEL
                                .iter()
                                .any(|s| x.trim_start().starts_with(&format!("\"{s}")));
                        let own =
                            json_stat || x.contains(d.large_label) || x.contains("Big provider");
                        let stats_only = json_stat
                            || cx.len() == cy.len()
                                && (0..cx.len()).filter(|&i| cx[i] != cy[i]).all(|i| {
                                    header.get(i).is_some_and(|h| {
                                        INDIVIDUAL_LEVEL.iter().any(|s| h.contains(s))
                                    })
                                });
                        assert!(
                            own && stats_only && d.name == "provider",
                            "{} k={k}: {file} differs:\n{x}\n{y}",
                            d.name
                        );
                    }
                } else if file.ends_with(".csv") || file.starts_with("xlsx/") {
                    // Only the large category's own rows (and, for providers,
                    // their funnel limits) may change.
                    for (x, y) in differing_lines(ta, tb) {
                        let own = |s: &str| {
                            s.contains(d.large_label)
                                || s.contains("Big provider")
                                || file.contains("funnel_limits")
                        };
                        assert!(
                            own(&x) && own(&y),
                            "{} k={k}: {file} differs outside the large category:\n{x}\n{y}",
                            d.name
                        );
                    }
                }
            }
        }
    }
}

/// Copies the sample pipeline and data and makes the published sample pack.
fn sample_pack() -> (Workdir, std::path::PathBuf) {
    let w = sample_copy();
    let r = w.run(&["run", "pipelines/sample.toml", "--run-id", "pub"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let dir = w.path("reports/sample/pub");
    (w, dir)
}

/// A CSV table of the pack: header and rows of text cells.
fn csv_table(dir: &Path, name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(dir.join(format!("tables/{name}.csv"))).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

const COUNT_COLUMNS: &[&str] = &[
    "referrals",
    "in_progress",
    "starters",
    "completers",
    "courses",
    "attended",
    "persons",
    "eligible",
    "insufficient_follow_up",
    "n",
    "events_pre",
    "events_post",
    "n_starters",
    "n_comparison",
    "n_paired",
    "n_up_one_level",
    "n_up_3_points",
    "to_level_1",
    "to_level_2",
    "to_level_3",
    "to_level_4",
    "baseline",
    "follow_up",
    "pam_n",
    "rows_read",
    "accepted",
    "rejected",
    "sentinel_dates",
    "rows",
];

/// (figure, denominator, decimals of the figure or None for full precision).
const PER_DENOMINATOR: &[(&str, &str)] = &[
    ("rate", "starters"),
    ("uptake", "referrals"),
    ("mean_pre", "n"),
    ("mean_post", "n"),
    ("pct_up_one_level", "n_paired"),
    ("pct_up_3_points", "n_paired"),
    ("reject_rate", "rows_read"),
];

fn num(s: &str) -> Option<f64> {
    s.trim_start_matches('£').replace(',', "").parse().ok()
}

/// How far a printed figure may be from its true value: half its last place.
fn precision(s: &str) -> f64 {
    match s.split_once('.') {
        Some((_, d)) => 0.5 * 10f64.powi(-(d.len() as i32)),
        None => 0.5,
    }
}

#[test]
fn nothing_suppressed_or_exact_can_be_recovered_from_the_sample_pack() {
    let (_w, dir) = sample_pack();
    let mut tables = Vec::new();
    for e in std::fs::read_dir(dir.join("tables")).unwrap() {
        let p = e.unwrap().path();
        tables.push(p.file_stem().unwrap().to_string_lossy().to_string());
    }
    assert!(tables.len() > 20);
    let mut suppressed_cells = 0;
    for name in &tables {
        let (h, rows) = csv_table(&dir, name);
        let col = |c: &str| h.iter().position(|x| x == c);
        for row in &rows {
            // Every published count is 0 or a multiple of 5.
            for c in COUNT_COLUMNS {
                if let Some(v) = col(c).and_then(|i| num(&row[i])) {
                    assert!(
                        v == 0.0 || (v % 5.0 == 0.0 && v >= 10.0),
                        "{name}.{c} = {v}"
                    );
                }
            }
            // No figure × its denominator gives a count that is not a multiple of 5.
            for (f, d) in PER_DENOMINATOR {
                let (Some(fi), Some(di)) = (col(f), col(d)) else {
                    continue;
                };
                let (Some(x), Some(n)) = (num(&row[fi]), num(&row[di])) else {
                    continue;
                };
                let product = x * n;
                let slack = precision(&row[fi]) * n + 1e-6;
                let off = (product - 5.0 * (product / 5.0).round()).abs();
                assert!(off <= slack, "{name}: {f} {x} × {d} {n} = {product}");
            }
        }
        suppressed_cells += rows
            .iter()
            .flatten()
            .filter(|c| c.as_str() == "[c]")
            .count();
    }
    assert!(
        suppressed_cells > 0,
        "the sample pack should hide some cells"
    );
    // The value interval's half-width per starter is published to the penny
    // (an individual-level statistic), not at full precision.
    let (vh, vrows) = csv_table(&dir, "value");
    let v = |c: &str| num(&vrows[0][vh.iter().position(|x| x == c).unwrap()]).unwrap();
    let half = (v("value_high") - v("value_low")) / 2.0 / v("starters");
    assert!(
        ((half * 100.0) - (half * 100.0).round()).abs() < 1e-6,
        "value half-width per starter {half}"
    );

    // Differencing: a group table's rows add up to the overall row. Every hidden
    // cell (0–7) must keep two or more values consistent with the published
    // rows (each ±2 of its rounded value) and total (±2).
    let (oh, orows) = csv_table(&dir, "completion_overall");
    for name in tables
        .iter()
        .filter(|n| n.starts_with("equity_by_") || *n == "completion_by_provider")
    {
        let (h, rows) = csv_table(&dir, name);
        for c in ["referrals", "starters", "completers"] {
            let i = h.iter().position(|x| x == c).unwrap();
            let total = num(&orows[0][oh.iter().position(|x| x == c).unwrap()]).unwrap();
            let hidden: Vec<usize> = (0..rows.len()).filter(|&r| rows[r][i] == "[c]").collect();
            let (mut lo, mut hi) = (0.0, 0.0);
            for r in &rows {
                match num(&r[i]) {
                    Some(0.0) => {}
                    Some(v) => {
                        lo += v - 2.0;
                        hi += v + 2.0;
                    }
                    None => {}
                }
            }
            for &k in &hidden {
                let others = hidden.len() as f64 - 1.0;
                // hidden_k = total − published − other hidden, each in its range.
                let max = (total + 2.0) - lo;
                let min = (total - 2.0) - hi - 7.0 * others;
                let candidates = (0..=7)
                    .filter(|v| (*v as f64) >= min && (*v as f64) <= max)
                    .count();
                assert!(
                    candidates >= 2,
                    "{name} row {k} {c}: only {candidates} value(s) fit"
                );
            }
        }
    }
}
