//! Issue 17: a pack a board can read. The published sample pack has a summary,
//! the evidence with its sources, a provider scorecard, limitations, year on
//! year and a glossary; outside the technical appendix its text has no code
//! path, no pipeline setting key, no raw code and no bare provider code.

mod common;

use common::*;
use serde_json::Value;

fn sample_pack() -> (Workdir, String, Value) {
    let w = sample_copy();
    let r = w.run(&["run", "pipelines/sample.toml", "--run-id", "board"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let html = std::fs::read_to_string(w.path("reports/sample/board/index.html")).unwrap();
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(w.path("reports/sample/board/metrics.json")).unwrap(),
    )
    .unwrap();
    (w, html, m)
}

/// The visible text of the HTML before the technical appendix (styles and
/// tags removed; chart text kept).
fn text_outside_appendix(html: &str) -> String {
    let end = html
        .find("id=\"technical-appendix\"")
        .expect("a technical appendix");
    let mut s = &html[..end];
    let mut out = String::new();
    while let Some(a) = s.find("<style>") {
        out.push_str(&s[..a]);
        s = match s[a..].find("</style>") {
            Some(b) => &s[a + b + 8..],
            None => "",
        };
    }
    out.push_str(s);
    let mut text = String::new();
    let mut in_tag = false;
    for c in out.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&amp;", "&")
}

#[test]
fn the_board_pack_has_its_sections_and_speaks_plainly() {
    let (_w, html, m) = sample_pack();
    // Summary: five to seven sentences, in metrics.json and at the top of the page.
    let summary = m["summary"].as_array().unwrap();
    assert!((5..=8).contains(&summary.len()), "{summary:?}");
    let first = summary[0].as_str().unwrap();
    assert!(first.contains("people were referred"), "{first}");
    assert!(html.find("<h2>Summary</h2>").unwrap() < html.find("Headline figures").unwrap());
    // The hospital sentence says clear fall / rise / no clear difference.
    assert!(summary.iter().any(|s| {
        let s = s.as_str().unwrap();
        s.contains("emergency admissions") && (s.contains("clear") || s.contains("too few"))
    }));
    // Evidence: every seed figure with its source.
    let evidence = m["evidence"].as_array().unwrap();
    for (value, source) in [
        (-0.06, "randomised controlled trial"),
        (-0.05, "randomised controlled trial"),
        (1800.0, "Expert Patients CIC"),
        (44.0, "NESTA"),
        (240.0, "Dudley"),
        (2400.0, "Dudley"),
        (10.0, "Dudley"),
        (5000.0, "BMJ 2012"),
    ] {
        assert!(
            evidence
                .iter()
                .any(|e| e["published"].as_f64() == Some(value)
                    && e["source"].as_str().unwrap().contains(source)),
            "{value} {source}"
        );
    }
    // Scorecard, limitations, year on year, glossary.
    let card = m["scorecard"].as_array().unwrap();
    assert!(card.len() >= 3);
    assert!(card.iter().any(|r| r["provider"] == "Northside Wellbeing"));
    for key in [
        "pam_capture",
        "deprived_share",
        "emergency_admissions_vs_comparison",
        "cost_per_completer",
    ] {
        assert!(card[0].get(key).is_some(), "{key}");
    }
    let limits: Vec<&str> = m["limitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(limits.iter().any(|l| l.starts_with("Activation (PAM)")));
    assert!(limits.iter().any(|l| l.starts_with("Not measured")));
    assert!(limits.iter().any(|l| l.starts_with("The comparison group")));
    assert!(m["year_on_year"].as_array().unwrap().len() >= 2);
    for section in [
        "Limitations",
        "Glossary",
        "Year on year",
        "Provider scorecard",
        "Difference-in-differences",
    ] {
        assert!(html.contains(section), "{section}");
    }
    // Plain language outside the technical appendix.
    let text = text_outside_appendix(&html);
    assert!(!text.contains("src/"));
    for key in [
        "evaluation_start",
        "completion_threshold",
        "outcome_window_days",
        "pam_level4_cut",
        "data_as_at",
        "hospital_coverage_start",
        "max_reject_rate",
        "financial_year_start_month",
        "key_file",
    ] {
        assert!(!text.contains(key), "setting key {key} in the pack's text");
    }
    let codes: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '/'))
        .filter(|t| {
            t.contains('_')
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(codes.is_empty(), "raw codes in the pack's text: {codes:?}");
    for code in ["NTH", "ELS", "WCP"] {
        assert!(
            !text
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|t| t == code),
            "provider code {code} shown without its name"
        );
    }
}

/// The pack's CSV table as rows of (header → cell).
fn csv_rows(w: &Workdir, run: &str, name: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(w.path(&format!("reports/sample/{run}/tables/{name}.csv")))
        .unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|x| {
            header
                .iter()
                .cloned()
                .zip(x.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

fn money(row: &std::collections::BTreeMap<String, String>, c: &str) -> f64 {
    row[c]
        .parse()
        .unwrap_or_else(|_| panic!("{c} = {:?}", row[c]))
}

#[test]
fn every_amount_is_at_one_price_base_and_a_contract_is_the_providers() {
    let w = sample_copy();
    let r = w.run(&["run", "pipelines/sample.toml", "--run-id", "base"]);
    assert_eq!(r.code, 0, "{}", r.all());
    // Hand-worked from the ONS YBGB quarters: 2018/19 = (88.1 + 88.6 + 89.3 +
    // 89.3) / 4 = 88.825; 2023/24 = (106.8 + 107.8 + 108.0 + 109.3) / 4 =
    // 107.975; 2024/25 = (110.1 + 112.1 + 113.2 + 114.1) / 4 = 112.375.
    let lines = csv_rows(&w, "base", "cost_lines");
    let coordinator = lines
        .iter()
        .find(|l| l["item"].starts_with("Coordinator"))
        .unwrap();
    assert_eq!(coordinator["price_year"], "2018/19");
    assert!((money(coordinator, "amount_at_price_base") - 26000.0 * 112.375 / 88.825).abs() < 0.01);
    // Three years of the uplifted yearly amount.
    assert!((money(coordinator, "cost_in_period") - 3.0 * 26000.0 * 112.375 / 88.825).abs() < 0.01);
    let units = csv_rows(&w, "base", "unit_costs");
    let outpatients = units
        .iter()
        .find(|u| u["outcome"] == "outpatient attendances")
        .unwrap();
    assert_eq!(outpatients["price_year"], "2023/24");
    assert!(
        (money(outpatients, "unit_cost_at_price_base") - 177.0 * 112.375 / 107.975).abs() < 0.01
    );
    let admissions = units
        .iter()
        .find(|u| u["outcome"] == "emergency admissions")
        .unwrap();
    assert_eq!(
        money(admissions, "unit_cost_at_price_base"),
        2711.0,
        "already at 2024/25 prices"
    );
    let html = std::fs::read_to_string(w.path("reports/sample/base/index.html")).unwrap();
    assert!(
        html.contains("every amount is at 2024/25 prices"),
        "the pack states its price base"
    );
    let before_total = money(&csv_rows(&w, "base", "cost_summary")[0], "total");
    let provider_cost = |run: &str| {
        let rows = csv_rows(&w, run, "cost_by_provider");
        let nth = rows.iter().find(|r| r["provider_id"] == "NTH").unwrap();
        money(nth, "cost")
    };
    let nth_before = provider_cost("base");

    // A contract: £40,000 a year at 2024/25 prices, Northside's, over the 3 years.
    let toml = std::fs::read_to_string(w.path("pipelines/sample.toml")).unwrap();
    let contract = "\n[[cost_lines]]\nitem = \"Northside contract\"\namount = 40000.0\nbasis = \"contract\"\nprovider = \"NTH\"\nprice_year = \"2024/25\"\n";
    let at = toml.find("[[sources]]").unwrap();
    let with_contract = format!("{}{contract}\n{}", &toml[..at], &toml[at..]);
    w.write("pipelines/sample.toml", &with_contract);
    let r = w.run(&["run", "pipelines/sample.toml", "--run-id", "contract"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let after_total = money(&csv_rows(&w, "contract", "cost_summary")[0], "total");
    assert!(
        (after_total - before_total - 120_000.0).abs() < 0.01,
        "{before_total} → {after_total}"
    );
    assert!((provider_cost("contract") - nth_before - 120_000.0).abs() < 0.01);

    // A contract names the provider it pays.
    w.write(
        "pipelines/sample.toml",
        with_contract.replace("provider = \"NTH\"\nprice_year", "price_year"),
    );
    let r = w.run(&["validate", "pipelines/sample.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.all()
            .contains("\"Northside contract\" is a contract: give the provider"),
        "{}",
        r.all()
    );

    // With a price base, an amount without its price year is refused, by name.
    w.write(
        "pipelines/sample.toml",
        toml.replacen("price_year = \"2018/19\"\n", "", 1),
    );
    let r = w.run(&["validate", "pipelines/sample.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.all()
            .contains("cost line \"Coordinator (AfC band 7, 0.5 WTE)\" has no price year"),
        "{}",
        r.all()
    );
    // A price base the deflator does not cover is refused with the range it does.
    w.write(
        "pipelines/sample.toml",
        toml.replace("price_base = \"2024/25\"", "price_base = \"2031/32\""),
    );
    let r = w.run(&["validate", "pipelines/sample.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.all().contains("2010 to 2024/25"), "{}", r.all());
}

/// A figure has one value wherever the pack gives it. The sample has starters
/// on courses still in progress (left out of completion, counted in activity
/// and cost), so a figure built from the completion counts differs.
#[test]
fn a_providers_cost_per_completer_and_per_course_figures_are_the_same_everywhere() {
    let w = sample_copy();
    let r = w.run(&["run", "pipelines/sample.toml", "--run-id", "p"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = w.run(&[
        "report",
        "pipelines/sample.toml",
        "--internal",
        "--run-id",
        "i",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    for run in ["p", "i"] {
        let m: Value = serde_json::from_str(
            &std::fs::read_to_string(w.path(&format!("reports/sample/{run}/metrics.json")))
                .unwrap(),
        )
        .unwrap();
        let by_id = |key: &[&str], id: &str| -> Value {
            let mut v = &m;
            for k in key {
                v = &v[k];
            }
            v.as_array()
                .unwrap()
                .iter()
                .find(|r| r["provider_id"] == id)
                .cloned()
                .unwrap()
        };
        let mut in_progress = false;
        for (k, p) in m["providers"].as_array().unwrap().iter().enumerate() {
            let id = p["provider_id"].as_str().unwrap();
            let act = by_id(&["activity", "by_provider"], id);
            let comp = by_id(&["completion", "by_provider"], id);
            let cost = by_id(&["cost", "by_provider"], id);
            in_progress |= act["starters"] != comp["starters"];
            assert_eq!(
                p["cost_per_completer"], cost["cost_per_completer"],
                "{run} {id}"
            );
            let f = |v: &Value| v.as_f64().unwrap();
            if act["courses"].is_null() {
                continue; // a provider with no one ("Other")
            }
            let courses = f(&act["courses"]);
            assert_eq!(f(&p["starters_per_course"]), f(&act["starters"]) / courses);
            assert_eq!(
                f(&p["completers_per_course"]),
                f(&act["completers"]) / courses
            );
            let s = &m["scorecard"][k];
            for c in [
                "starters_per_course",
                "completers_per_course",
                "cost_per_completer",
            ] {
                assert_eq!(s[c], p[c], "{run} {id} {c}");
            }
        }
        assert!(
            in_progress,
            "{run}: the sample has starters on courses in progress"
        );
        for y in m["year_on_year"].as_array().unwrap() {
            let f = |c: &str| y[c].as_f64().unwrap();
            let per = (f("cost") / f("all_completers") * 100.0).round() / 100.0;
            assert!((f("cost_per_completer") - per).abs() < 0.011, "{run} {y}");
            assert_eq!(f("cost"), (f("cost") * 100.0).round() / 100.0, "{run} {y}");
        }
    }
}
