//! The XmR chart against NHSRplotthedots' expected values
//! (tests/fixtures/nhsr_plotthedots, copied from shared/external/nhsr_plotthedots).

use serde_json::Value;
use smpeval::stats::xmr::{xmr, SpecialCause, XmrOptions};

fn fixture() -> Value {
    let path = format!(
        "{}/tests/fixtures/nhsr_plotthedots/xmr_expectations.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn series(f: &Value) -> Vec<f64> {
    f["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// The series of a case, with its `change` applied.
fn case_series(f: &Value, case: &Value) -> Vec<Option<f64>> {
    let mut v = series(f);
    if let Some(c) = case["change"].as_object() {
        let i = c["index_1based"].as_u64().unwrap() as usize;
        v[i - 1] = c["value"].as_f64().unwrap();
    }
    v.into_iter().map(Some).collect()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, expected {want} (tolerance {tol})"
    );
}

#[test]
fn every_case_of_the_expectations_file() {
    let f = fixture();
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let tol = case["tolerance"].as_f64().unwrap();
        let opts = XmrOptions {
            screen_outliers: case["screen_outliers"].as_bool().unwrap(),
        };
        let x = xmr(&case_series(&f, case), opts).unwrap();
        let mut checked = 0;
        for (key, got) in [
            ("mean", x.mean),
            ("lower_limit", x.lower_limit),
            ("upper_limit", x.upper_limit),
        ] {
            if let Some(want) = case[key].as_f64() {
                close(got, want, tol, &format!("{name}: {key}"));
                checked += 1;
            }
        }
        assert!(checked >= 2, "{name}: nothing checked");
        // 20 points: no short-series warning.
        assert!(!x.too_few_points, "{name}");
    }
}

#[test]
fn rnorm20_is_the_same_screened_or_not() {
    // No moving range of rnorm(20) reaches 3.267 × the mean, so screening changes
    // nothing and the unscreened chart has the file's screened limits.
    let f = fixture();
    let case = &f["cases"][0];
    assert!(case["change"].is_null());
    let v = case_series(&f, case);
    let on = xmr(
        &v,
        XmrOptions {
            screen_outliers: true,
        },
    )
    .unwrap();
    let off = xmr(
        &v,
        XmrOptions {
            screen_outliers: false,
        },
    )
    .unwrap();
    assert!(on.points.iter().all(|p| !p.moving_range_screened_out));
    assert_eq!(on, off);
    let tol = case["tolerance"].as_f64().unwrap();
    close(
        off.lower_limit,
        case["lower_limit"].as_f64().unwrap(),
        tol,
        "unscreened lower",
    );
    close(
        off.upper_limit,
        case["upper_limit"].as_f64().unwrap(),
        tol,
        "unscreened upper",
    );
}

#[test]
fn the_outlier_is_screened_and_flagged() {
    let f = fixture();
    let case = &f["cases"][1];
    assert_eq!(case["change"]["index_1based"].as_u64(), Some(15));
    let v = case_series(&f, case);
    let on = xmr(&v, XmrOptions::default()).unwrap();
    let off = xmr(
        &v,
        XmrOptions {
            screen_outliers: false,
        },
    )
    .unwrap();
    // Setting point 15 to 10 makes the moving ranges into and out of it outliers.
    let screened: Vec<usize> = (0..20)
        .filter(|&i| on.points[i].moving_range_screened_out)
        .collect();
    assert_eq!(screened, vec![14, 15]);
    // The mean is not screened: both charts share it (the package's snapshot
    // `mean_col` 0.6694159 in tests/testthat/_snaps/ptd_spc_standard.md).
    close(on.mean, 0.6694159, 1e-7, "mean screened");
    close(off.mean, 0.6694159, 1e-7, "mean not screened");
    assert!(off.upper_limit - off.lower_limit > on.upper_limit - on.lower_limit);
    // The point itself is outside the limits either way.
    for x in [&on, &off] {
        assert_eq!(
            x.points[14].special_cause,
            Some(SpecialCause::OutsideLimits)
        );
        assert_eq!(x.points[14].ptd_special_cause_type(), Some("Above UCL"));
    }
}

#[test]
fn rnorm20_is_all_common_cause() {
    // The package's snapshot of summary(ptd_spc(rnorm(20))) has 20 common-cause
    // points (tests/testthat/_snaps/ptd_spc.md).
    let f = fixture();
    let x = xmr(&case_series(&f, &f["cases"][0]), XmrOptions::default()).unwrap();
    assert!(x.points.iter().all(|p| p.special_cause.is_none()));
    assert!(x
        .points
        .iter()
        .all(|p| !(p.outside_limits || p.trend || p.two_of_three || p.shift)));
}

#[test]
fn rnorm20_in_two_halves_as_the_package_summarises_them() {
    // summary() of the rnorm(20) chart faceted into points 1-10 and 11-20
    // (tests/testthat/_snaps/ptd_spc.md; printed to 3 significant figures):
    // mean 0.0746, limits -2.60 and 2.75; mean 0.209, limits -3.28 and 3.70;
    // 10 common-cause points each and both under 12 points.
    let f = fixture();
    let v = series(&f);
    // Tolerance: half a unit in the last printed digit.
    for (half, mean, mean_tol, lo, hi) in [
        (&v[..10], 0.0746, 5e-5, -2.60, 2.75),
        (&v[10..], 0.209, 5e-4, -3.28, 3.70),
    ] {
        let x = xmr(
            &half.iter().map(|&y| Some(y)).collect::<Vec<_>>(),
            XmrOptions::default(),
        )
        .unwrap();
        close(x.mean, mean, mean_tol, "half mean");
        close(x.lower_limit, lo, 5e-3, "half lower");
        close(x.upper_limit, hi, 5e-3, "half upper");
        assert!(x.points.iter().all(|p| p.special_cause.is_none()));
        assert!(x.too_few_points);
    }
}

#[test]
fn the_rules_text_names_the_precedence() {
    // The file states the precedence outside > trend > 2 of 3 > shift and the
    // warning under 12 points; check the text has not changed under us.
    let f = fixture();
    let rules = f["rules"].as_str().unwrap();
    let pos = |s: &str| {
        rules
            .find(s)
            .unwrap_or_else(|| panic!("{s:?} not in rules"))
    };
    assert!(pos("outside a limit") < pos("7-point trend"));
    assert!(pos("7-point trend") < pos("2 of 3"));
    assert!(pos("2 of 3") < pos("7 points in a row"));
    assert!(rules.contains("fewer than 12 points"));
    let v: Vec<Option<f64>> = series(&f)[..11].iter().map(|&y| Some(y)).collect();
    assert!(xmr(&v, XmrOptions::default()).unwrap().too_few_points);
    let v: Vec<Option<f64>> = series(&f)[..12].iter().map(|&y| Some(y)).collect();
    assert!(!xmr(&v, XmrOptions::default()).unwrap().too_few_points);
}
