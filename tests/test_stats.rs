//! The statistics module against UKHSA PHEindicatormethods' expected values
//! (tests/fixtures/phe, copied from shared/external/phe_indicator_methods).

use smpeval::stats;

const TOL: f64 = 1e-6;

fn rows(name: &str) -> Vec<Vec<String>> {
    let path = format!("{}/tests/fixtures/phe/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut r = csv::Reader::from_path(path).unwrap();
    r.records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect()
}

fn num(s: &str) -> Option<f64> {
    s.parse().ok()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= TOL, "{what}: got {a}, expected {b}");
}

#[test]
fn wilson_95_and_998_for_every_row_of_testdata_prop() {
    let mut checked = 0;
    for r in rows("testdata_Prop.csv") {
        let (x, n, mult) = (num(&r[1]), num(&r[2]), num(&r[10]).unwrap());
        match (x, n) {
            (Some(x), Some(n)) => {
                let w95 = stats::wilson(x, n, 0.95).unwrap();
                let w998 = stats::wilson(x, n, 0.998).unwrap();
                close(
                    w95.estimate * mult,
                    num(&r[3]).unwrap(),
                    &format!("{} value", r[0]),
                );
                close(
                    w95.low * mult,
                    num(&r[4]).unwrap(),
                    &format!("{} lower 95", r[0]),
                );
                close(
                    w95.high * mult,
                    num(&r[5]).unwrap(),
                    &format!("{} upper 95", r[0]),
                );
                close(
                    w998.low * mult,
                    num(&r[6]).unwrap(),
                    &format!("{} lower 99.8", r[0]),
                );
                close(
                    w998.high * mult,
                    num(&r[7]).unwrap(),
                    &format!("{} upper 99.8", r[0]),
                );
                checked += 1;
            }
            // A missing numerator or denominator has no interval.
            _ => assert!(r[4].is_empty()),
        }
    }
    assert_eq!(checked, 16);
}

#[test]
fn wilson_for_every_row_of_testdata_prop_g() {
    let mut checked = 0;
    for r in rows("testdata_Prop_g.csv") {
        if let (Some(x), Some(n)) = (num(&r[1]), num(&r[2])) {
            let conf = match r[6].as_str() {
                "95%" => 0.95,
                "99.8%" => 0.998,
                other => panic!("confidence {other}"),
            };
            let mult = num(&r[9]).unwrap();
            let w = stats::wilson(x, n, conf).unwrap();
            close(w.low * mult, num(&r[4]).unwrap(), &r[0]);
            close(w.high * mult, num(&r[5]).unwrap(), &r[0]);
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked}");
}

#[test]
fn student_t_mean_intervals_match_testdata_mean_results() {
    let values = rows("testdata_Mean.csv");
    for r in rows("testdata_Mean_results.csv") {
        let group: Vec<f64> = values
            .iter()
            .filter(|v| r[0] == "No grouping" || v[0] == r[0])
            .filter_map(|v| num(&v[1]))
            .collect();
        let n = group.len() as f64;
        let mean = group.iter().sum::<f64>() / n;
        let sd = (group.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        close(n, num(&r[2]).unwrap(), "count");
        close(sd, num(&r[3]).unwrap(), "sd");
        let i95 = stats::mean_interval(n, mean, sd, 0.95).unwrap();
        let i998 = stats::mean_interval(n, mean, sd, 0.998).unwrap();
        close(i95.estimate, num(&r[4]).unwrap(), "mean");
        close(i95.low, num(&r[5]).unwrap(), &format!("{} lower 95", r[0]));
        close(i95.high, num(&r[6]).unwrap(), &format!("{} upper 95", r[0]));
        close(
            i998.low,
            num(&r[7]).unwrap(),
            &format!("{} lower 99.8", r[0]),
        );
        close(
            i998.high,
            num(&r[8]).unwrap(),
            &format!("{} upper 99.8", r[0]),
        );
    }
}

#[test]
fn funnel_limits_match_testdata_funnel_prop_outputs() {
    let inputs = rows("testdata_funnel_prop_inputs.csv");
    let (mut x, mut n, mut min_d, mut max_d) = (0.0, 0.0, f64::MAX, 0.0f64);
    for r in &inputs {
        if let (Some(a), Some(b)) = (num(&r[1]), num(&r[2])) {
            x += a;
            n += b;
            min_d = min_d.min(b);
            max_d = max_d.max(b);
        }
    }
    let average = x / n;
    let outputs = rows("testdata_funnel_prop_outputs.csv");
    assert_eq!(outputs.len(), 100);
    let denominators = stats::funnel_denominators(min_d, max_d);
    for (r, d) in outputs.iter().zip(&denominators) {
        let pop = num(&r[0]).unwrap();
        assert_eq!(pop, *d, "denominator sequence");
        let p = stats::funnel_point(pop, average);
        // The published limits are rounded to 6 decimals of a percentage.
        close(
            p.lower_95 * 100.0,
            num(&r[1]).unwrap(),
            &format!("{pop} lower 95"),
        );
        close(
            p.upper_95 * 100.0,
            num(&r[2]).unwrap(),
            &format!("{pop} upper 95"),
        );
        close(
            p.lower_998 * 100.0,
            num(&r[3]).unwrap(),
            &format!("{pop} lower 99.8"),
        );
        close(
            p.upper_998 * 100.0,
            num(&r[4]).unwrap(),
            &format!("{pop} upper 99.8"),
        );
        close(average * 100.0, num(&r[5]).unwrap(), "baseline");
    }
}

#[test]
fn byar_intervals_match_testdata_b_w() {
    let mut checked = 0;
    for r in rows("testdata_B_W.csv").iter().filter(|r| r[5] == "Byars") {
        let x = num(&r[0]).unwrap();
        let conf = if r[4] == "95%" { 0.95 } else { 0.998 };
        let (lo, hi) = stats::byar(x, conf).unwrap();
        if let Some(want) = num(&r[2]) {
            close(lo, want, &format!("Byar lower {x} {conf}"));
        } else {
            // PHEindicatormethods gives no lower limit where Byar's goes below zero.
            assert!(lo <= 0.0, "Byar lower {x} {conf}: {lo}");
        }
        close(hi, num(&r[3]).unwrap(), &format!("Byar upper {x} {conf}"));
        checked += 1;
    }
    assert_eq!(checked, 7);
}
