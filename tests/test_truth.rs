//! Truth tests of the evaluation.
//!
//! 1. A hand-worked dozen people: every figure below is worked out in the
//!    comments (intervals with scipy's t and normal quantiles), and the report
//!    must reproduce it.
//! 2. Generated data with planted effects: the DiD 95% CI covers the planted
//!    value, while the comparison group's naive pre/post change shows the
//!    regression to the mean the generator planted.

mod common;
use common::*;

use serde_json::Value;

// The dataset is in tests/fixtures/tiny (pipeline.toml, returns.csv, hospital.csv, pam.csv).
//
// Twelve referrals. Starters (≥1 session): P01–P05, P07, P08, P11 = 8.
// Completers (≥4): P01, P02, P03, P05, P08 = 5. Courses with a starter: C1–C4 = 4.
// Comparison (never started): P06, P09, P10, P12, indexed at their referral date.
// Index dates: P01–P04 2023-06-01, P05 2023-09-01, P07/P08 2023-10-01, P11 2024-02-01;
// comparison P06 2023-08-01, P09/P10 2023-09-01, P12 2024-01-01. Window 365 days;
// coverage 2021-01-01 to 2025-12-31. Costs: coordinator £1,000 a year, handbooks
// £12.95 per starter, licence £20 per course, training £3,000 over 3 years,
// certificates £10 per completer, provider A venue £5 per A starter.

/// Copies the tiny dataset into a fresh folder and runs the pipeline on it.
fn tiny(internal: bool) -> (Workdir, Value) {
    let w = Workdir::new();
    for f in ["pipeline.toml", "returns.csv", "hospital.csv", "pam.csv"] {
        std::fs::copy(repo().join("tests/fixtures/tiny").join(f), w.path(f)).unwrap();
    }
    let mut args = vec!["run", "pipeline.toml", "--run-id", "t"];
    if internal {
        args.push("--internal");
    }
    let r = w.run(&args);
    assert_eq!(r.code, 0, "{}", r.all());
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(w.path("reports/tiny/t/metrics.json")).unwrap(),
    )
    .unwrap();
    (w, m)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(v: &Value, want: f64, what: &str) {
    let got = f(v);
    assert!((got - want).abs() < 1e-6, "{what}: got {got}, want {want}");
}

fn find<'a>(arr: &'a Value, key: &str, value: &str) -> &'a Value {
    arr.as_array()
        .unwrap()
        .iter()
        .find(|x| x[key] == value)
        .unwrap_or_else(|| panic!("no {key} = {value}"))
}

fn hospital<'a>(m: &'a Value, group: &str, outcome: &str) -> &'a Value {
    m["hospital"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["group"] == group && x["outcome"] == outcome)
        .unwrap()
}

#[test]
fn hand_worked_activity_completion_and_retention() {
    let (_w, m) = tiny(true);
    assert_eq!(m["disclosure"], "internal");
    let a = &m["activity"]["overall"];
    assert_eq!(
        (
            f(&a["referrals"]),
            f(&a["starters"]),
            f(&a["completers"]),
            f(&a["courses"])
        ),
        (12.0, 8.0, 5.0, 4.0)
    );
    let pa = find(&m["activity"]["by_provider"], "provider_id", "A");
    assert_eq!(
        (
            f(&pa["referrals"]),
            f(&pa["starters"]),
            f(&pa["completers"]),
            f(&pa["courses"])
        ),
        (6.0, 5.0, 4.0, 2.0)
    );
    let pb = find(&m["activity"]["by_provider"], "provider_id", "B");
    assert_eq!(
        (
            f(&pb["referrals"]),
            f(&pb["starters"]),
            f(&pb["completers"]),
            f(&pb["courses"])
        ),
        (6.0, 3.0, 1.0, 2.0)
    );
    // 5/8 = 0.625; Wilson 95%: (2x + z² ∓ z√(z² + 4x(1 − x/n))) / 2(n + z²) = 0.305742, 0.863156.
    let c = &m["completion"]["overall"];
    close(&c["rate"], 0.625, "rate");
    close(&c["ci_low"], 0.3057423946026273, "ci_low");
    close(&c["ci_high"], 0.8631557141764027, "ci_high");
    // Provider A 4/5: 0.375535–0.963776; B 1/3: 0.061492–0.792340.
    let ca = find(&m["completion"]["by_provider"], "provider_id", "A");
    close(&ca["ci_low"], 0.3755346297625253, "A low");
    close(&ca["ci_high"], 0.9637758913675699, "A high");
    let cb = find(&m["completion"]["by_provider"], "provider_id", "B");
    close(&cb["ci_low"], 0.061491944720396235, "B low");
    // Sessions of the 8 starters: 6,5,4,2,6,1,4,3 → attending session k: 8,7,6,5,3,2.
    let attended: Vec<f64> = m["retention"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| f(&r["attended"]))
        .collect();
    assert_eq!(attended, vec![8.0, 7.0, 6.0, 5.0, 3.0, 2.0]);
    close(&m["retention"][1]["rate"], 7.0 / 8.0, "retention 2");
    // Activity by financial year: all in 2023/24.
    assert_eq!(
        m["activity"]["by_financial_year"][0]["financial_year"],
        "2023/24"
    );
}

#[test]
fn hand_worked_hospital_use_and_did() {
    let (_w, m) = tiny(true);
    // Emergency admissions per starter, pre: P01 2 (the 2021 spell is outside the
    // window), P02 1, P05 1 → 4/8 = 0.5; post: P02 1, P08 1 → 2/8 = 0.25.
    // Changes −2,0,0,0,−1,0,+1,0: mean −0.25, var 5.5/7, t(7) CI −0.991053 to 0.491053.
    let s = hospital(&m, "starters", "emergency_admissions");
    assert_eq!(f(&s["n"]), 8.0);
    close(&s["mean_pre"], 0.5, "pre");
    close(&s["mean_post"], 0.25, "post");
    close(&s["change"], -0.25, "change");
    close(&s["ci_low"], -0.9910533427603725, "ci_low");
    close(&s["ci_high"], 0.4910533427603725, "ci_high");
    close(&s["pct_change"], -0.5, "pct");
    // Comparison (P06, P09, P10, P12): pre 1,2,0,0 (0.75), post 1,0,0,1 (0.5).
    let c = hospital(&m, "comparison", "emergency_admissions");
    close(&c["mean_pre"], 0.75, "comparison pre");
    close(&c["mean_post"], 0.5, "comparison post");
    close(&c["ci_low"], -2.2522452253359253, "comparison ci_low");
    // Completers (P01, P02, P03, P05, P08): pre 2,1,0,1,0 = 0.8; post 0,1,0,0,1 = 0.4.
    let k = hospital(&m, "completers", "emergency_admissions");
    close(&k["mean_pre"], 0.8, "completers pre");
    close(&k["ci_high"], 1.0157147769822719, "completers ci_high");
    // DiD = −0.25 − (−0.25) = 0; Welch df 4.5533, CI ±1.861467.
    let d = find(&m["did"], "outcome", "emergency_admissions");
    close(&d["estimate"], 0.0, "did");
    close(&d["ci_low"], -1.8614665866452274, "did low");
    close(&d["ci_high"], 1.8614665866452274, "did high");
    // Bed days, pre: P01 3 + 0, P02 4, P05 2 = 9/8; post: P02 0, P08 1 = 1/8.
    let b = hospital(&m, "starters", "emergency_bed_days");
    close(&b["mean_pre"], 1.125, "bed days pre");
    close(&b["mean_post"], 0.125, "bed days post");
    // A&E: P04 pre 1 post 2; P11 pre 1 (index − 365 d is in), post 1 (the index
    // day is in; index + 365 d is out) → pre 2/8, post 3/8.
    let ae = hospital(&m, "starters", "ae_attendances");
    close(&ae["mean_pre"], 0.25, "ae pre");
    close(&ae["mean_post"], 0.375, "ae post");
    // The comparison group had no A&E: DiD = 0.125 with the starters' t(7) interval.
    let dae = find(&m["did"], "outcome", "ae_attendances");
    close(&dae["estimate"], 0.125, "did ae");
    close(&dae["ci_low"], -0.17057803144909806, "did ae low");
    // Elective: P03's ADMIMETH 11 in the pre window: 1/8. Outpatients: P07 attended once (the DNA is not counted).
    close(
        &hospital(&m, "starters", "elective_admissions")["mean_pre"],
        0.125,
        "elective",
    );
    close(
        &hospital(&m, "starters", "outpatient_attendances")["mean_post"],
        0.125,
        "op",
    );
    // Everyone has full follow-up inside 2021–2025.
    let fu = find(&m["follow_up"], "group", "starters");
    assert_eq!(
        (f(&fu["persons"]), f(&fu["insufficient_follow_up"])),
        (8.0, 0.0)
    );
}

/// The tiny dataset with its hospital extract sent as two files of one
/// source that folds episodes into spells: P01's emergency spell of 10
/// January 2023 has its first episode (discharged the 11th) in one file and
/// its second (discharged the 13th) in the other, and P02's spell of 1
/// December 2022 is in both files, the same row, as is P04's A&E attendance
/// of 1 March 2023.
#[test]
fn a_spell_in_two_files_is_one_admission() {
    let w = Workdir::new();
    for f in ["returns.csv", "pam.csv"] {
        std::fs::copy(repo().join("tests/fixtures/tiny").join(f), w.path(f)).unwrap();
    }
    let pipeline = std::fs::read_to_string(repo().join("tests/fixtures/tiny/pipeline.toml"))
        .unwrap()
        .replace(
            "files = [\"hospital.csv\"]",
            "files = [\"hospital_*.csv\"]\nspell_key = [\"person_id\", \"event_date\"]",
        )
        .replace(
            "attendance_status = \"attended\"",
            "attendance_status = \"attended\"\nepisode_order = \"epiorder\"",
        );
    assert!(pipeline.contains("spell_key") && pipeline.contains("epiorder"));
    std::fs::write(w.path("pipeline.toml"), pipeline).unwrap();
    let extract = std::fs::read_to_string(repo().join("tests/fixtures/tiny/hospital.csv")).unwrap();
    let (mut first, mut second) = (
        vec!["person,setting,date,discharge,method,attended,epiorder".to_string()],
        vec!["person,setting,date,discharge,method,attended,epiorder".to_string()],
    );
    for line in extract.lines().skip(1) {
        match line {
            "P01,apc,2023-01-10,2023-01-13,21," => {
                first.push("P01,apc,2023-01-10,2023-01-11,21,,1".into());
                second.push("P01,apc,2023-01-10,2023-01-13,21,,2".into());
            }
            "P02,apc,2022-12-01,2022-12-05,21," | "P04,ae,2023-03-01,,," => {
                first.push(format!("{line},1"));
                second.push(format!("{line},1"));
            }
            _ => first.push(format!("{line},1")),
        }
    }
    assert_eq!(
        second.len(),
        4,
        "both spells and the A&E row found in the fixture"
    );
    std::fs::write(w.path("hospital_1.csv"), first.join("\n") + "\n").unwrap();
    std::fs::write(w.path("hospital_2.csv"), second.join("\n") + "\n").unwrap();
    // validate says what the report will note, before anything is written.
    let v = w.run(&["validate", "pipeline.toml"]);
    assert_eq!(v.code, 0, "{}", v.all());
    for said in [
        "warning: Hospital source `hospital`: admissions of the returns' people with episodes in more than one of its files: 2.",
        "warning: hospital source `hospital`: rows of the returns' people in more than one of its files, the same person, date and codes in each: 1.",
    ] {
        assert!(v.all().contains(said), "{said}\n{}", v.all());
    }
    let r = w.run(&["run", "pipeline.toml", "--run-id", "t", "--internal"]);
    assert_eq!(r.code, 0, "{}", r.all());
    // The rows sent twice are a warning in the log as well as in the pack.
    assert!(
        r.stderr.contains(
            "warning: hospital source `hospital`: rows of the returns' people in more than one"
        ),
        "{}",
        r.stderr
    );
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(w.path("reports/tiny/t/metrics.json")).unwrap(),
    )
    .unwrap();
    // The hand-worked figures of the single file (hand_worked_hospital_use_and_did):
    // counted once per file, P01 would have 3 admissions before and P02 2.
    let s = hospital(&m, "starters", "emergency_admissions");
    close(&s["mean_pre"], 0.5, "pre");
    close(&s["mean_post"], 0.25, "post");
    // P01's spell runs to its last episode's discharge: 3 bed days, not 1.
    let b = hospital(&m, "starters", "emergency_bed_days");
    close(&b["mean_pre"], 1.125, "bed days pre");
    let notes = m["notes"].to_string();
    assert!(
        notes.contains(
            "Hospital source `hospital`: admissions of the returns' people with episodes in more than one of its files: 2."
        ),
        "{notes}"
    );
    // An A&E row sent twice is counted twice (it could be two visits), and said:
    // P04's pre-window A&E attendances 2 instead of 1, so 3/8 instead of 2/8.
    let ae = hospital(&m, "starters", "ae_attendances");
    close(&ae["mean_pre"], 0.375, "ae pre");
    assert!(
        notes.contains("Warning: hospital source `hospital`: rows of the returns' people in more than one of its files, the same person, date and codes in each: 1."),
        "{notes}"
    );
}

#[test]
fn hand_worked_pam() {
    let (_w, m) = tiny(true);
    // Pairs (baseline = latest in [index − 90, index + 7], follow-up = earliest in [index + 35, index + 365]):
    // P01 45 → 52 (2023-01-01 is too early; 2023-12-01 is not the earliest), levels 1 → 2
    // P02 60 → 63 (60 on index + 4 is the latest baseline), 3 → 3
    // P05 50 → 56 (51 at index + 30 is too soon), 2 → 3
    // P07 70 → 68, 4 → 4. P08 has no follow-up; P06 never started.
    let p = &m["pam"];
    assert_eq!(f(&p["n_paired"]), 4.0);
    close(&p["mean_pre"], 56.25, "pre");
    close(&p["mean_post"], 59.75, "post");
    close(&p["change"], 3.5, "change");
    // Changes 7, 3, 6, −2: var 49/3, t(3) = 3.182446 → 3.5 ± 6.430852.
    close(&p["ci_low"], -2.9308518086297752, "low");
    close(&p["ci_high"], 9.930851808629775, "high");
    close(&p["pct_up_one_level"], 0.5, "up a level");
    close(&p["pct_up_3_points"], 0.75, "up 3 points");
    let t: Vec<Vec<f64>> = p["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(f).collect())
        .collect();
    assert_eq!(
        t,
        vec![
            vec![0.0, 1.0, 0.0, 0.0],
            vec![0.0, 0.0, 1.0, 0.0],
            vec![0.0, 0.0, 1.0, 0.0],
            vec![0.0, 0.0, 0.0, 1.0]
        ]
    );
    let by: Vec<f64> = p["by_baseline_level"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| f(&r["mean_change"]))
        .collect();
    assert_eq!(by, vec![7.0, 6.0, 3.0, -2.0]);
}

#[test]
fn hand_worked_cost_and_value() {
    let (_w, m) = tiny(true);
    // Period 2023-04-01 to 2024-03-31 = 12 whole months = exactly 1 year.
    // coordinator 1000 × 1 + handbooks 12.95 × 8 + licence 20 × 4 courses
    // + training 3000 / 3 × 1 + certificates 10 × 5 + provider A venue 5 × 5 starters
    // = 1000 + 103.60 + 80 + 1000 + 50 + 25 = 2258.60
    let c = &m["cost"];
    close(&c["total"], 2258.6, "total");
    close(&c["period_years"], 1.0, "years");
    close(&c["per_referral"], 2258.6 / 12.0, "per referral");
    close(&c["per_starter"], 2258.6 / 8.0, "per starter");
    close(&c["per_completer"], 2258.6 / 5.0, "per completer");
    close(&c["per_course"], 2258.6 / 4.0, "per course");
    // Value per starter = −(Σ unit cost × DiD): emergency DiD 0; A&E +0.125 × £280 = £35;
    // outpatients +0.125 × £177 = £22.125 (the starters used more): −£57.125 per starter,
    // × all 8 starters in the period (the people the costs are for) = −£457.
    close(
        &find(&m["savings"], "outcome", "ae_attendances")["value_per_starter"],
        -35.0,
        "ae value per starter",
    );
    close(
        &m["value"]["value_per_starter"],
        -57.125,
        "value per starter",
    );
    close(&m["value"]["total_value"], -457.0, "value");
    close(&m["value"]["return_per_pound"], -457.0 / 2258.6, "return");
    close(&m["value"]["net_cost"], 2258.6 + 457.0, "net");
    assert!(m["value"]["not_estimable_reason"].is_null());
    // The interval comes from the costed per-person DiD (Welch): it contains the estimate.
    assert!(f(&m["value"]["value_low"]) < -457.0 && f(&m["value"]["value_high"]) > -457.0);
}

#[test]
fn published_mode_suppresses_and_rounds_the_same_figures() {
    let (w, m) = tiny(false);
    assert_eq!(m["disclosure"], "published");
    let a = &m["activity"]["overall"];
    // 12 → 10, 8 → 10, 5 → [c]
    assert_eq!(f(&a["referrals"]), 10.0);
    assert_eq!(f(&a["starters"]), 10.0);
    assert!(a["completers"].is_null());
    let suppressed: Vec<&str> = m["suppressed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        suppressed.contains(&"activity.overall.completers"),
        "{suppressed:?}"
    );
    // 5 completers are [c], so the rate computed from them is suppressed too.
    assert!(m["completion"]["overall"]["rate"].is_null());
    // Provider B: 3 starters suppressed, so its rate and interval are too.
    let b = find(&m["completion"]["by_provider"], "provider_id", "B");
    assert!(b["rate"].is_null() && b["ci_low"].is_null());
    assert!(
        suppressed
            .iter()
            .any(|s| s.starts_with("completion.by_provider[1].rate")),
        "{suppressed:?}"
    );
    // PAM n = 4: every PAM mean is suppressed.
    assert!(m["pam"]["change"].is_null());
    let csv = std::fs::read_to_string(w.path("reports/tiny/t/tables/completion_by_provider.csv"))
        .unwrap();
    assert!(csv.contains("[c]"), "{csv}");
}

#[test]
fn planted_effects_are_recovered_from_generated_data() {
    let w = Workdir::new();
    let r = w.run(&[
        "generate",
        "--out",
        "g",
        "--participants",
        "4000",
        "--seed",
        "2026",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = w.run(&["run", "g/pipeline.toml", "--internal", "--run-id", "t"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(w.path("g/reports/generated/t/metrics.json")).unwrap(),
    )
    .unwrap();
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("g/truth.json")).unwrap()).unwrap();

    for outcome in [
        "emergency_admissions",
        "ae_attendances",
        "elective_admissions",
        "outpatient_attendances",
    ] {
        let planted = f(&truth["expected_did"][outcome]);
        let d = find(&m["did"], "outcome", outcome);
        let (lo, hi) = (f(&d["ci_low"]), f(&d["ci_high"]));
        assert!(
            lo <= planted && planted <= hi,
            "{outcome}: DiD CI {lo}..{hi} misses the planted {planted}"
        );
    }
    // The planted fall is detectable: the emergency-admissions DiD excludes zero.
    assert!(f(&find(&m["did"], "outcome", "emergency_admissions")["ci_high"]) < 0.0);

    // Regression to the mean: the comparison group, who never attended, also
    // "improves" before vs after referral, by about the planted bump.
    let c = hospital(&m, "comparison", "emergency_admissions");
    let planted_rtm = f(&truth["expected_comparison_change"]["emergency_admissions"]);
    assert!(
        f(&c["ci_high"]) < 0.0,
        "no regression to the mean visible: {c}"
    );
    assert!(
        f(&c["ci_low"]) <= planted_rtm && planted_rtm <= f(&c["ci_high"]),
        "{c} vs {planted_rtm}"
    );
    // The naive starters' change overstates the effect: it mixes the real effect with that fall.
    let s = hospital(&m, "starters", "emergency_admissions");
    assert!(f(&s["change"]) < f(&find(&m["did"], "outcome", "emergency_admissions")["estimate"]));

    // PAM gain falls with baseline level (planted 8, 5, 3, 1).
    let by: Vec<f64> = m["pam"]["by_baseline_level"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| f(&r["mean_change"]))
        .collect();
    assert!(by.windows(2).all(|w| w[0] > w[1]), "{by:?}");

    // The worse provider completes fewer and sits below the funnel's 99.8% limit.
    let wcp = find(&m["providers"], "provider_id", "WCP");
    assert_eq!(wcp["funnel_position"], "below 99.8% limit");
    for other in ["NTH", "ELS"] {
        assert!(f(&find(&m["providers"], "provider_id", other)["rate"]) > f(&wcp["rate"]));
    }
    // Late starters lack a full year of follow-up: counted, not dropped.
    let fu = find(&m["follow_up"], "group", "starters");
    assert!(f(&fu["insufficient_follow_up"]) > 0.0);
    assert_eq!(
        f(&fu["persons"]),
        f(&fu["eligible"]) + f(&fu["insufficient_follow_up"])
    );
}
