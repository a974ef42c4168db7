//! Issue 15 on data where the answer is known: `smpeval generate --confounded`.
//! With latent confounding (sicker, more deprived people start less, partly
//! seen through prior use) the matched DiD of emergency admissions must fall
//! closer to the planted effect than the unmatched one on average; with
//! confounding by an observed covariate only, the matched DiD's 95% interval
//! must cover the planted effect in at least 90% of seeds.
//! (`bench/confounding.sh` runs 20 seeds of each and prints the table.)

mod common;

use common::*;
use serde_json::Value;

const SEEDS: u64 = 10;

/// (planted, unmatched estimate, matched estimate, matched CI covers).
fn one(mode: &str, seed: u64) -> (f64, f64, f64, bool) {
    let w = Workdir::new();
    let out = w.path("data");
    let r = run_in(
        w.dir.path(),
        &[
            "generate",
            "--out",
            out.to_str().unwrap(),
            "--participants",
            "2500",
            "--seed",
            &seed.to_string(),
            "--confounded",
            mode,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let r = run_in(
        &out,
        &["run", "pipeline.toml", "--internal", "--run-id", "m"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("reports/generated/m/metrics.json")).unwrap(),
    )
    .unwrap();
    let t: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("truth.json")).unwrap()).unwrap();
    let truth = t["expected_did"]["emergency_admissions"].as_f64().unwrap();
    let em = |key: &str| {
        m[key]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["outcome"] == "emergency_admissions")
            .unwrap()
            .clone()
    };
    let (u, mt) = (em("did"), em("did_matched"));
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap();
    let covers = f(&mt, "ci_low") <= truth && truth <= f(&mt, "ci_high");
    (truth, f(&u, "estimate"), f(&mt, "estimate"), covers)
}

#[test]
fn matching_reduces_confounding_bias_and_recovers_an_observed_one() {
    let latent: Vec<_> = (1..=SEEDS).map(|s| one("latent", s)).collect();
    let err = |k: usize| {
        latent
            .iter()
            .map(|r| (if k == 1 { r.1 } else { r.2 } - r.0).abs())
            .sum::<f64>()
            / SEEDS as f64
    };
    let (unmatched, matched) = (err(1), err(2));
    assert!(
        matched < unmatched,
        "latent confounding: matched mean |error| {matched:.4} is not below unmatched {unmatched:.4}"
    );
    let observed: Vec<_> = (1..=SEEDS).map(|s| one("observed", s)).collect();
    let covered = observed.iter().filter(|r| r.3).count();
    assert!(
        covered * 10 >= 9 * SEEDS as usize,
        "observed confounding: the matched CI covers the planted effect in {covered} of {SEEDS} seeds"
    );
}
