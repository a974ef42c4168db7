//! Student-t quantiles against scipy's `t.ppf` (tests/fixtures/t_quantiles.csv,
//! made by tests/fixtures/t_quantiles.py): every row within 1e-12 relative,
//! so our intervals match what R's `qt` and scipy print.

use smpeval::stats::student_t::quantile;

const TOLERANCE: f64 = 1e-12;

#[test]
fn t_quantiles_match_scipy() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/t_quantiles.csv"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut lines = text.lines();
    assert_eq!(
        lines.next().map(str::trim),
        Some("p,df,quantile"),
        "header of {path}"
    );

    let mut rows = 0;
    let mut worst = (0.0_f64, 0.0, 0.0);
    for (i, line) in lines.enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<f64> = line
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("line {}: {s:?}: {e}", i + 2))
            })
            .collect();
        let [p, df, want] = fields[..] else {
            panic!("line {}: expected p,df,quantile, got {line:?}", i + 2);
        };
        let got = quantile(p, df);
        let err = ((got - want) / want).abs();
        assert!(
            err <= TOLERANCE,
            "p = {p}, df = {df}: got {got:e}, scipy {want:e}, relative error {err:.3e}"
        );
        if err > worst.0 {
            worst = (err, p, df);
        }
        rows += 1;
    }
    assert!(rows >= 100, "only {rows} rows in {path}");
    println!(
        "{rows} rows; worst relative error {:.3e} at p = {}, df = {}",
        worst.0, worst.1, worst.2
    );
}
