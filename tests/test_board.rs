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
