//! A fairer comparison group: coarsened exact matching (CEM; Iacus, King and
//! Porro 2012) of starters to people referred who did not start, on their
//! characteristics at referral and their hospital use in the baseline year
//! before the difference-in-differences' own pre window, [index − 2W,
//! index − W). Matching on the pre window itself would make the groups regress
//! to different means afterwards and bias the DiD (Daw and Hatfield 2018,
//! Health Services Research); where the extract does not reach back that far
//! the pre window is used and the pack says so.
//!
//! Each person falls in a stratum (the combination of their coarsened
//! covariates; a missing value is a category of its own). A stratum with at
//! least one starter and one comparison person is matched. Starters in matched
//! strata get weight 1; comparison people weight (starters in the stratum ÷
//! comparison people in the stratum) × (matched comparison ÷ matched
//! starters), so the weighted comparison group has the starters' mix (the
//! ATT weights of CEM). Unmatched starters are counted and described, not
//! hidden. The matched DiD is starters' mean change minus the weighted mean
//! change of the comparison group, with a Welch-type 95% interval using the
//! weighted variance and Kish's effective sample size (Σw)² ÷ Σw².

use polars::prelude::*;

use super::hospital::{BASE_ELIGIBLE, ELIGIBLE, GROUP};
use super::referrals::count_where;
use super::table::{formulas, Table};
use crate::stats;

/// (column, what it is) of every covariate, in the balance table's order.
pub const COVARIATES: &[(&str, &str)] = &[
    ("cov_age_band", "Age band"),
    ("cov_sex", "Sex"),
    ("cov_imd_quintile", "IMD quintile"),
    ("cov_ethnic_group", "Ethnic group"),
    ("cov_ltc_band", "Long-term conditions"),
    ("cov_referral_source", "Referral source"),
    ("cov_programme", "Programme"),
    ("cov_prior_emergency", "Prior emergency admissions"),
    ("cov_prior_ae", "Prior A&E attendances"),
    ("cov_prior_outpatient", "Prior outpatient attendances"),
];

/// The strata matched on unless the pipeline says otherwise.
pub const DEFAULT_STRATA: &[&str] = &[
    "cov_age_band",
    "cov_sex",
    "cov_imd_quintile",
    "cov_prior_emergency",
    "cov_prior_ae",
];

/// Matching runs when the comparison group has at least this many eligible people.
pub const MIN_COMPARISON: usize = 30;

fn band(x: Expr, cuts: &[(f64, &str)], top: &str) -> Expr {
    let mut e = lit(top);
    for (upper, label) in cuts.iter().rev() {
        e = when(x.clone().lt_eq(lit(*upper)))
            .then(lit(*label))
            .otherwise(e);
    }
    e
}

/// Adds the prior-use bands: emergency admissions 0, 1, 2+; A&E 0, 1, 2,
/// 3+; outpatient 0, 1–2, 3–5, 6+; from the baseline year (`from_baseline`;
/// "Not known" where a person's baseline year is not covered) or the pre window.
pub fn with_prior_use(outcomes: LazyFrame, from_baseline: bool) -> LazyFrame {
    let src = if from_baseline { "base" } else { "pre" };
    let v = |o: &str| col(format!("{o}_{src}"));
    let known = |e: Expr| {
        if from_baseline {
            when(col(BASE_ELIGIBLE)).then(e).otherwise(lit("Not known"))
        } else {
            e
        }
    };
    outcomes.with_columns([
        known(band(
            v("emergency_admissions"),
            &[(0.0, "0"), (1.0, "1")],
            "2+",
        ))
        .alias("cov_prior_emergency"),
        known(band(
            v("ae_attendances"),
            &[(0.0, "0"), (1.0, "1"), (2.0, "2")],
            "3+",
        ))
        .alias("cov_prior_ae"),
        known(band(
            v("outpatient_attendances"),
            &[(0.0, "0"), (2.0, "1-2"), (5.0, "3-5")],
            "6+",
        ))
        .alias("cov_prior_outpatient"),
    ])
}

/// What a level of a stratum covariate held by fewer than
/// [`MIN_SHOWN`](crate::disclosure::MIN_SHOWN) eligible people is matched as.
pub const POOLED: &str = "Fewer than 8 (pooled)";

/// The stratum covariates with the levels that fewer than 8 eligible people
/// have (a missing value is the level "Not known") pooled into one,
/// [`POOLED`], before matching. The pack hides groups that small; matched
/// on as they are, which of two of them a person is in would move the
/// matched estimate, so a published pack would differ with a fact it hides.
/// Done in every pack, so the internal one shows the same method.
pub fn pool_small_levels(outcomes: LazyFrame, strata: &[String]) -> PolarsResult<LazyFrame> {
    let pooled = strata
        .iter()
        .map(|c| {
            let level = col(c.as_str())
                .cast(DataType::String)
                .fill_null(lit("Not known"));
            let eligible = col(ELIGIBLE).cast(DataType::UInt32).sum();
            let few = eligible
                .over([level.clone()])?
                .lt(lit(crate::disclosure::MIN_SHOWN as u32));
            Ok(when(few)
                .then(lit(POOLED))
                .otherwise(level)
                .alias(c.as_str()))
        })
        .collect::<PolarsResult<Vec<Expr>>>()?;
    Ok(outcomes.with_columns(pooled))
}

/// The eligible persons of both groups (completers are a subset of starters)
/// with their stratum, whether it is matched, and their CEM weight.
pub fn cem(outcomes: LazyFrame, strata: &[String]) -> PolarsResult<DataFrame> {
    let key: Vec<Expr> = strata
        .iter()
        .map(|c| {
            col(c.as_str())
                .cast(DataType::String)
                .fill_null(lit("Not known"))
        })
        .collect();
    let is_s = col(GROUP).eq(lit("starters"));
    let df = outcomes
        .filter(col(ELIGIBLE))
        .with_column(concat_str(key, "|", false).alias("_stratum"))
        .with_columns([
            is_s.clone()
                .sum()
                .over([col("_stratum")])?
                .cast(DataType::Float64)
                .alias("_ns"),
            is_s.clone()
                .not()
                .sum()
                .over([col("_stratum")])?
                .cast(DataType::Float64)
                .alias("_nc"),
        ])
        .with_column(
            col("_ns")
                .gt(lit(0.0))
                .and(col("_nc").gt(lit(0.0)))
                .alias("matched"),
        )
        .with_columns([
            is_s.clone()
                .and(col("matched"))
                .sum()
                .cast(DataType::Float64)
                .alias("_ms"),
            is_s.clone()
                .not()
                .and(col("matched"))
                .sum()
                .cast(DataType::Float64)
                .alias("_mc"),
        ])
        .with_column(
            when(col("matched").not())
                .then(lit(0.0))
                .when(is_s)
                .then(lit(1.0))
                .otherwise(col("_ns") / col("_nc") * (col("_mc") / col("_ms")))
                .alias("weight"),
        )
        .collect()?;
    Ok(df)
}

/// A difference in differences: (estimate, half-width of its 95% interval,
/// n of the first group, effective n of the second).
pub type Did = (f64, Option<f64>, f64, f64);

/// Weighted mean, weighted (reliability) variance and Kish effective n of
/// `x` among the rows of `lf` that `keep` selects. The sums are taken over
/// the selected rows as one column in row order, so they do not depend on
/// how many threads or chunks the filter used.
fn weighted_moments(
    lf: LazyFrame,
    keep: Expr,
    x: &str,
    w: Expr,
) -> PolarsResult<Option<(f64, f64, f64)>> {
    let d = lf
        .filter(keep)
        .select([
            col(x).cast(DataType::Float64).alias("x"),
            w.cast(DataType::Float64).alias("w"),
        ])
        .filter(col("w").gt(lit(0.0)))
        .collect()?;
    let one = |c: &str| -> PolarsResult<Float64Chunked> {
        Ok(d.column(c)?.f64()?.rechunk().into_owned())
    };
    let (x, w) = (one("x")?, one("w")?);
    let sum = |c: Float64Chunked| c.sum().unwrap_or(0.0);
    let (sw, sw2) = (sum(w.clone()), sum(&w * &w));
    let (sxw, sxxw) = (sum(&x * &w), sum(&(&x * &x) * &w));
    if sw <= 0.0 {
        return Ok(None);
    }
    let mean = sxw / sw;
    let denom = sw - sw2 / sw;
    // Σw(x − m)² = Σwx² − m Σwx.
    let var = if denom > 0.0 {
        (sxxw - mean * sxw) / denom
    } else {
        f64::NAN
    };
    Ok(Some((mean, var, sw * sw / sw2)))
}

/// A difference in differences of `change` between the rows `a` and `b`
/// select, with weights `w` (1 for an unweighted one): (estimate,
/// half-width of the Welch-type 95% interval, n of a, effective n of b).
pub fn did_between(
    lf: &LazyFrame,
    a: Expr,
    b: Expr,
    change: &str,
    w: Expr,
) -> PolarsResult<Option<Did>> {
    let (Some((ma, va, na)), Some((mb, vb, nb))) = (
        weighted_moments(lf.clone(), a, change, w.clone())?,
        weighted_moments(lf.clone(), b, change, w)?,
    ) else {
        return Ok(None);
    };
    let half =
        stats::welch_difference(na, ma, va, nb, mb, vb, 0.95).map(|i| (i.high - i.low) / 2.0);
    Ok(Some((ma - mb, half, na, nb)))
}

/// The matched difference in differences of `change` (starters, weight 1,
/// against the weighted comparison group).
pub fn weighted_did(df: &DataFrame, change: &str) -> PolarsResult<Option<Did>> {
    let is_s = col(GROUP).eq(lit("starters"));
    did_between(
        &df.clone().lazy(),
        is_s.clone(),
        is_s.not(),
        change,
        col("weight"),
    )
}

/// Share in each group, before (all eligible, unweighted) and after (matched,
/// weighted), for every covariate level.
pub fn balance(df: &DataFrame) -> PolarsResult<DataFrame> {
    // One chunk: each weight total is then summed in row order, however many
    // threads (and so chunks) made `df`.
    let mut df = df.clone();
    df.rechunk_mut();
    let df = &df;
    let mut out: Vec<DataFrame> = Vec::new();
    for (c, label) in COVARIATES {
        if df.column(c).is_ok() {
            out.push(balance_of(df, c, label)?);
        }
    }
    let mut all = match out.split_first() {
        Some((first, rest)) => {
            let mut a = first.clone();
            for d in rest {
                a.vstack_mut(d)?;
            }
            a
        }
        None => return df!("covariate" => Vec::<String>::new()),
    };
    let totals = df
        .clone()
        .lazy()
        .select(balance_counts(&[
            "starters_n_before",
            "comparison_n_before",
            "starters_n_after",
            "comparison_weight_total",
        ]))
        .collect()?;
    let h = all.height();
    for c in totals.columns() {
        all.with_column(c.new_from_index(0, h))?;
    }
    // The level first: the workbook's first column labels the rows (a level
    // "1" is a group, not a number).
    all.select([
        "level",
        "covariate",
        "starters_before",
        "starters_n_before",
        "comparison_before",
        "comparison_n_before",
        "starters_after",
        "starters_n_after",
        "comparison_weight_after",
        "comparison_weight_total",
    ])
}

/// Starters and comparison people before matching, matched starters and the
/// comparison group's total weight after, named by `names` in that order.
fn balance_counts(names: &[&str; 4]) -> Vec<Expr> {
    let is_s = col(GROUP).eq(lit("starters"));
    vec![
        count_where(is_s.clone(), names[0]),
        count_where(is_s.clone().not(), names[1]),
        count_where(is_s.clone().and(col("matched")), names[2]),
        col("weight").filter(is_s.not()).sum().alias(names[3]),
    ]
}

/// The balance counts of each level of covariate `c` (labelled `label`).
fn balance_of(df: &DataFrame, c: &str, label: &str) -> PolarsResult<DataFrame> {
    let level = col(c).cast(DataType::String).fill_null(lit("Not known"));
    df.clone()
        .lazy()
        .with_column(level.alias("level"))
        .group_by([col("level")])
        .agg(balance_counts(&[
            "starters_before",
            "comparison_before",
            "starters_after",
            "comparison_weight_after",
        ]))
        .with_column(lit(label).alias("covariate"))
        .sort(["level"], SortMultipleOptions::default())
        .collect()
}

/// Standardised mean difference of a binary indicator from two shares.
pub fn smd(x: &[Option<f64>]) -> Option<f64> {
    let (a, b) = (x[0]?, x[1]?);
    let pooled = ((a * (1.0 - a) + b * (1.0 - b)) / 2.0).sqrt();
    if pooled > 0.0 {
        Some((a - b) / pooled)
    } else {
        Some(0.0)
    }
}

/// A published balance table's matched comparison weighted count of a
/// level, and of all levels (controlled as counts, never shown).
const WEIGHTED_AFTER: &str = "_comparison_after";
const WEIGHTED_TOTAL: &str = "_comparison_n_after";

/// The balance table with its controlled counts and derived shares.
/// In a published pack a level whose starters and comparison counts are
/// both hidden is left out (its shares would describe a handful of people);
/// decided from the controlled counts, so a level of 0 and one of 1–7 look
/// alike, and so do packs where one person moves between two such levels.
pub fn balance_table(df: DataFrame, published: bool) -> Table {
    let df = if published {
        // The matched comparison's weighted count of each level, and its
        // total, controlled as counts are: its share is then the controlled
        // count ÷ the controlled total. (Its exact share is the matched
        // starters' exact share on every matching variable, and moves when
        // one person does: it would give away hidden and exact counts.)
        df.lazy()
            .with_columns([
                col("comparison_weight_after").alias(WEIGHTED_AFTER),
                col("comparison_weight_total").alias(WEIGHTED_TOTAL),
            ])
            .drop(cols(["comparison_weight_after", "comparison_weight_total"]))
            .collect()
            .unwrap_or_default()
    } else {
        df
    };
    let t = Table::new(
        "balance",
        "Balance of starters and comparison before and after matching",
        df,
    )
    .labels(&["level", "covariate"])
    .drop_if_hidden(&["starters_before", "comparison_before"])
    .cross_count_within("starters_before", "starters_n_before")
    .hidden_counts(&["starters_n_before"])
    .cross_count_within("comparison_before", "comparison_n_before")
    .hidden_counts(&["comparison_n_before"])
    .cross_count_within("starters_after", "starters_n_after")
    .hidden_counts(&["starters_n_after"])
    .share(
        "share_starters_before",
        "starters_before",
        "starters_n_before",
    )
    .share(
        "share_comparison_before",
        "comparison_before",
        "comparison_n_before",
    )
    .share("share_starters_after", "starters_after", "starters_n_after");
    let t = match published {
        true => t
            .hidden_counts(&[WEIGHTED_TOTAL])
            // On a matching variable it is the matched starters' count: hidden
            // with theirs, zero included.
            .hidden_cross_count_within(WEIGHTED_AFTER, "starters_after")
            .share("share_comparison_after", WEIGHTED_AFTER, WEIGHTED_TOTAL),
        false => t
            .hidden(&["comparison_weight_after", "comparison_weight_total"])
            .statistic(
                "share_comparison_after",
                &["comparison_weight_after", "comparison_weight_total"],
                formulas::ratio,
                &["comparison_n_before"],
                3,
            ),
    };
    t.statistic(
        "smd_before",
        &["share_starters_before", "share_comparison_before"],
        smd,
        &["starters_n_before", "comparison_n_before"],
        2,
    )
    .statistic(
        "smd_after",
        &["share_starters_after", "share_comparison_after"],
        smd,
        &["starters_n_after", "comparison_n_before"],
        2,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two strata. A: 2 starters, 1 comparison; B: 1 starter, 3 comparison;
    /// C: 1 starter, no comparison (unmatched). Matched starters 3, matched
    /// comparison 4. Weights: A comparison 2/1 × 4/3 = 8/3; B comparison
    /// 1/3 × 4/3 = 4/9 each; starters 1; the C starter 0.
    fn frame() -> DataFrame {
        df!(
            GROUP => ["starters", "starters", "comparison", "starters", "comparison", "comparison", "comparison", "starters"],
            ELIGIBLE => [true; 8],
            "s" => ["A", "A", "A", "B", "B", "B", "B", "C"],
            "emergency_admissions_change" => [-1.0, -2.0, 0.0, -1.0, 1.0, 0.0, -1.0, 5.0],
        )
        .unwrap()
    }

    #[test]
    fn levels_of_fewer_than_8_eligible_people_are_pooled_before_matching() {
        // Level a: 8 eligible; b: 3; c: 2 eligible and 6 not; one unknown.
        let mut level: Vec<Option<&str>> = vec![Some("a"); 8];
        level.extend([Some("b"); 3]);
        level.extend([Some("c"); 8]);
        level.push(None);
        let eligible: Vec<bool> = (0..20).map(|i| !(13..19).contains(&i)).collect();
        let df = df!("s" => level, ELIGIBLE => eligible).unwrap();
        let out = pool_small_levels(df.lazy(), &["s".into()])
            .unwrap()
            .collect()
            .unwrap();
        let got: Vec<&str> = out
            .column("s")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        let mut want = vec!["a"; 8];
        want.extend([POOLED; 12]);
        assert_eq!(got, want);
    }

    #[test]
    fn moving_a_person_between_two_small_levels_leaves_the_matching_unchanged() {
        // 10 starters and 10 comparison people in level a; 2 starters in b,
        // 1 in c, and one comparison person in b or in c.
        let people = |moved: &str| {
            let mut level = vec!["a"; 20];
            level.extend(["b", "b", "c", moved]);
            let mut group = vec!["starters"; 10];
            group.extend(["comparison"; 10]);
            group.extend(["starters", "starters", "starters", "comparison"]);
            df!(GROUP => group, ELIGIBLE => [true; 24], "s" => level)
                .unwrap()
                .lazy()
        };
        let strata = ["s".to_string()];
        let weights = |people: LazyFrame| -> Vec<f64> {
            let d = cem(people, &strata).unwrap();
            let w = d.column("weight").unwrap().f64().unwrap();
            w.into_no_null_iter().collect()
        };
        let pooled = |moved| weights(pool_small_levels(people(moved), &strata).unwrap());
        assert_eq!(pooled("b"), pooled("c"));
        // Without pooling, the person in b is matched and the c starter is not.
        let unpooled = weights(people("b"));
        assert_eq!(unpooled[22], 0.0);
        assert_ne!(unpooled, pooled("b"));
    }

    #[test]
    fn cem_weights_hand_worked() {
        let d = cem(frame().lazy(), &["s".into()]).unwrap();
        let w: Vec<f64> = d
            .column("weight")
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let want = [
            1.0,
            1.0,
            8.0 / 3.0,
            1.0,
            4.0 / 9.0,
            4.0 / 9.0,
            4.0 / 9.0,
            0.0,
        ];
        for (a, b) in w.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{w:?}");
        }
        // The weighted comparison group counts as many as the matched comparison people.
        let sum: f64 = w[2] + w[4] + w[5] + w[6];
        assert!((sum - 4.0).abs() < 1e-12);
    }

    #[test]
    fn weighted_did_hand_worked() {
        let d = cem(frame().lazy(), &["s".into()]).unwrap();
        let (est, half, ns, nc) = weighted_did(&d, "emergency_admissions_change")
            .unwrap()
            .unwrap();
        // Starters (matched): −1, −2, −1 → mean −4/3. Comparison weighted:
        // (0 × 8/3 + (1 + 0 − 1) × 4/9) / 4 = 0. DiD = −4/3.
        assert!((est + 4.0 / 3.0).abs() < 1e-12);
        assert_eq!(ns, 3.0);
        // Kish n: (Σw)² / Σw² = 16 / (64/9 + 3 × 16/81) = 16 / 7.7037 = 2.0769.
        assert!((nc - 16.0 / (64.0 / 9.0 + 48.0 / 81.0)).abs() < 1e-12);
        // Weighted variance of the comparison: Σw(x−0)² / (Σw − Σw²/Σw)
        // = (2 × 4/9) / (4 − 7.7037/4) = 0.8889 / 2.0741 = 0.42857.
        let vc = (8.0 / 9.0) / (4.0 - (64.0 / 9.0 + 48.0 / 81.0) / 4.0);
        let vs = 1.0 / 3.0; // −1, −2, −1: variance 1/3
        let i = crate::stats::welch_difference(3.0, -4.0 / 3.0, vs, nc, 0.0, vc, 0.95).unwrap();
        assert!((half.unwrap() - (i.high - i.low) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn smd_hand_worked() {
        // 0.6 vs 0.4: pooled sd sqrt((0.24 + 0.24)/2) = 0.4899; SMD 0.4082.
        let s = smd(&[Some(0.6), Some(0.4)]).unwrap();
        assert!((s - 0.2 / 0.24f64.sqrt()).abs() < 1e-12);
        assert_eq!(smd(&[Some(0.5), Some(0.5)]), Some(0.0));
    }

    #[test]
    fn balance_after_matching_equalises_the_matched_strata() {
        let d = cem(frame().lazy(), &["s".into()]).unwrap();
        let mut d = d;
        d.rename("s", "cov_sex".into()).unwrap();
        let b = balance(&d).unwrap();
        // Stratum A after: starters 2 of 3 matched; comparison weight 8/3 of 4.
        let t = Table::new("b", "b", b);
        let i = t.find("level", "A").unwrap();
        assert_eq!(t.f64(i, "starters_after"), Some(2.0));
        assert!((t.f64(i, "comparison_weight_after").unwrap() - 8.0 / 3.0).abs() < 1e-12);
        assert_eq!(t.f64(i, "comparison_weight_total"), Some(4.0));
    }

    #[test]
    fn a_published_balance_shares_the_comparison_from_controlled_weights() {
        // Level A: 40 starters, 90 comparison with weight 1/3 each (weighted
        // 30); level B: 3 starters, 9 comparison with weight 1/3 (weighted 3).
        // Weighted total 33 (published 35).
        let b = df!(
            "level" => ["A", "B"],
            "covariate" => ["Sex", "Sex"],
            "starters_before" => [40i64, 3],
            "starters_n_before" => [43i64, 43],
            "comparison_before" => [90i64, 9],
            "comparison_n_before" => [99i64, 99],
            "starters_after" => [40i64, 3],
            "starters_n_after" => [43i64, 43],
            "comparison_weight_after" => [30.0, 3.0],
            "comparison_weight_total" => [33.0, 33.0],
        )
        .unwrap();
        let share = |published: bool| {
            let mut t = balance_table(b.clone(), published);
            crate::disclosure::finalize(&mut t, published).unwrap();
            (
                t.f64(0, "share_comparison_after"),
                t.f64(1, "share_comparison_after"),
            )
        };
        // Internal: the exact weighted shares.
        let (a, b_exact) = share(false);
        assert!((a.unwrap() - 30.0 / 33.0).abs() < 1e-3);
        assert!((b_exact.unwrap() - 3.0 / 33.0).abs() < 1e-3);
        // Published: 30 of 35 (the controlled weights); B hidden with its
        // hidden starters (3 → [c]), not 3 ÷ 33.
        let (a, hidden) = share(true);
        assert!((a.unwrap() - 30.0 / 35.0).abs() < 1e-9, "{a:?}");
        assert_eq!(hidden, None);
    }
}
