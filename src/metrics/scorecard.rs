//! The provider scorecard for re-tendering: per provider volume, completion,
//! group size, PAM capture and change, the hospital result (emergency
//! admissions, starters at the provider against the whole comparison group),
//! data completeness, reach and cost. The profile (stage 1) is computed from
//! person-level data and controlled like every table; the scorecard (stage 2)
//! puts it beside the finalized provider comparison.

use polars::prelude::*;

use super::hospital::{Moments, ELIGIBLE, GROUP, INDEX_PROVIDER};
use super::referrals::*;
use super::table::{formulas, Table};
use crate::schema::*;
use crate::stats;

/// Per provider: counts for reach and completeness, and the emergency
/// admissions difference in differences (the provider's eligible starters
/// against the whole comparison group, Welch 95% interval). `comparison`:
/// the comparison group's emergency admissions moments, from
/// `hospital::group_moments`.
pub fn profile(
    refs: &LazyFrame,
    outcomes: &LazyFrame,
    comparison: &Moments,
) -> crate::error::MetricsResult<DataFrame> {
    let people = reach_counts(refs);
    let em = |s: &str| col(format!("emergency_admissions_{s}"));
    let hospital = outcomes
        .clone()
        .filter(col(GROUP).eq(lit("starters")).and(col(ELIGIBLE)))
        .group_by([col(INDEX_PROVIDER).alias(PROVIDER_ID)])
        .agg([
            rows_as("hospital_n"),
            em("pre").sum().alias("em_pre"),
            em("post").sum().alias("em_post"),
            em("change").mean().alias("_mean"),
            em("change").var(1).alias("_var"),
        ]);
    let c = comparison;
    let (cn, cpre, cpost, cmean, cvar) =
        (c.n, c.total_pre, c.total_post, c.mean_change, c.var_change);
    let mut df = left_join(people, hospital, PROVIDER_ID)
        .with_columns([
            col("hospital_n").fill_null(lit(0i64)),
            col("em_pre").fill_null(lit(0.0)),
            col("em_post").fill_null(lit(0.0)),
            lit(cn).cast(DataType::Int64).alias("comparison_n"),
            lit(cpre).alias("comparison_pre"),
            lit(cpost).alias("comparison_post"),
        ])
        .sort([PROVIDER_ID], SortMultipleOptions::default())
        .collect()?;
    let n = df.column("hospital_n")?.cast(&DataType::Float64)?;
    let mean = df.column("_mean")?.cast(&DataType::Float64)?;
    let var = df.column("_var")?.cast(&DataType::Float64)?;
    let half: Vec<Option<f64>> = (0..df.height())
        .map(|i| {
            let (n, m, v) = (
                n.f64().ok()?.get(i)?,
                mean.f64().ok()?.get(i)?,
                var.f64().ok()?.get(i)?,
            );
            stats::welch_difference(n, m, v, cn, cmean, cvar, 0.95).map(|w| (w.high - w.low) / 2.0)
        })
        .collect();
    df.with_column(Column::new("did_half".into(), half))?;
    Ok(df.drop_many(["_mean", "_var"]))
}

/// Per provider: referrals, starters, deprived starters, known IMD and
/// ethnicity, courses and non-English courses.
fn reach_counts(refs: &LazyFrame) -> LazyFrame {
    let starter = col(STARTER);
    let deprived = col(IMD_QUINTILE)
        .eq(lit("1"))
        .or(col(IMD_QUINTILE).eq(lit("2")));
    let non_english = col(COURSE_LANGUAGE)
        .neq(lit("English"))
        .and(col(COURSE_LANGUAGE).neq(lit(NOT_KNOWN)));
    refs.clone().group_by([col(PROVIDER_ID)]).agg([
        len().cast(DataType::Int64).alias("referrals"),
        count_where(starter.clone(), "starters"),
        count_where(starter.clone().and(deprived), "deprived_starters"),
        count_where(col(IMD_QUINTILE).neq(lit(NOT_KNOWN)), "imd_known"),
        count_where(
            col(ETHNICITY_GROUP).neq(lit("Not stated or not known")),
            "ethnicity_known",
        ),
        col(COURSE_KEY)
            .filter(starter.clone())
            .n_unique()
            .cast(DataType::Int64)
            .alias("courses"),
        col(COURSE_KEY)
            .filter(starter.and(non_english))
            .n_unique()
            .cast(DataType::Int64)
            .alias("non_english_courses"),
    ])
}

/// The profile as a controlled table, every declared provider listed.
pub fn profile_table(df: DataFrame, dims: &Dimensions) -> crate::error::MetricsResult<Table> {
    Ok(super::provider_table(
        "provider_profile",
        "Provider reach, completeness and hospital result",
        df,
        dims,
    )?
    .counts(&["referrals"])
    .count_within("starters", "referrals")
    .cross_count_within("deprived_starters", "starters")
    .cross_count_within("imd_known", "referrals")
    .cross_count_within("ethnicity_known", "referrals")
    .counts(&["courses"])
    .cross_count_within("non_english_courses", "courses")
    .count_within("hospital_n", "starters")
    .hidden_counts(&["em_pre", "em_post", "comparison_pre", "comparison_post"])
    .counts(&["comparison_n"])
    .hidden(&["did_half"])
    .base("referrals")
    .share("deprived_share", "deprived_starters", "starters")
    .share("imd_completeness", "imd_known", "referrals")
    .share("ethnicity_completeness", "ethnicity_known", "referrals")
    .share("non_english_course_share", "non_english_courses", "courses")
    .statistic(
        "emergency_did",
        &[
            "em_pre",
            "em_post",
            "hospital_n",
            "comparison_pre",
            "comparison_post",
            "comparison_n",
        ],
        formulas::did_of_totals,
        &["hospital_n", "comparison_n"],
        2,
    )
    .statistic(
        "emergency_did_low",
        &["emergency_did", "did_half"],
        formulas::minus,
        &["hospital_n", "comparison_n"],
        2,
    )
    .statistic(
        "emergency_did_high",
        &["emergency_did", "did_half"],
        formulas::plus,
        &["hospital_n", "comparison_n"],
        2,
    ))
}

/// Places of the scorecard's PAM change, as the PAM tables show it.
const PAM_DP: usize = super::pam::PAM_DECIMALS as usize;

/// "estimate (low to high)" or why there is none.
fn with_interval(est: Option<f64>, lo: Option<f64>, hi: Option<f64>, dp: usize) -> String {
    match (est, lo, hi) {
        (Some(e), Some(l), Some(h)) => format!("{e:.dp$} ({l:.dp$} to {h:.dp$})"),
        (Some(e), _, _) => format!("{e:.dp$}"),
        _ => "too few to estimate".into(),
    }
}

/// The tables a scorecard row is read from (finalized).
struct Sources<'a> {
    prov: &'a Table,
    profile: &'a Table,
    pam: Option<&'a Table>,
    rejects: Option<&'a Table>,
}

/// One provider's scorecard row: its code, the figures in `NUMS` order,
/// the columns hidden because a figure they rest on is, and the three
/// estimates in words.
struct ScoreRow {
    id: String,
    values: Vec<Option<f64>>,
    hidden: Vec<&'static str>,
    texts: [String; 3],
}

const NUMS: [&str; 13] = [
    "referrals",
    "starters",
    "completers",
    "rate",
    "starters_per_course",
    "completers_per_course",
    "pam_capture",
    "deprived_share",
    "non_english_course_share",
    "imd_completeness",
    "ethnicity_completeness",
    "reject_rate",
    "cost_per_completer",
];

fn score_row(src: &Sources, i: usize) -> ScoreRow {
    let Sources {
        prov,
        profile,
        pam,
        rejects,
    } = *src;
    let mut hidden = Vec::new();
    let id = prov.text(i, PROVIDER_ID);
    let j = profile.find(PROVIDER_ID, &id);
    let k = pam.and_then(|t| t.find(PROVIDER_ID, &id));
    let r = rejects.and_then(|t| t.find(PROVIDER_ID, &id));
    let pf = |col: &str| j.and_then(|j| profile.f64(j, col));
    let pm = |col: &str| k.and_then(|k| pam.and_then(|t| t.f64(k, col)));
    let ratio =
        |a: Option<f64>, b: Option<f64>| a.zip(b).and_then(|(a, b)| (b > 0.0).then(|| a / b));
    // No PAM row: no one paired (0); a suppressed row: unknown.
    let pam_n = if k.is_some() { pm("pam_n") } else { Some(0.0) };
    // Per course and PAM capture count every starter, on a course in
    // progress too (the completion columns leave those out).
    let values = vec![
        prov.f64(i, "referrals"),
        prov.f64(i, "starters"),
        prov.f64(i, "completers"),
        prov.f64(i, "rate"),
        prov.f64(i, "starters_per_course"),
        prov.f64(i, "completers_per_course"),
        ratio(pam_n, pf("starters")),
        pf("deprived_share"),
        pf("non_english_course_share"),
        pf("imd_completeness"),
        pf("ethnicity_completeness"),
        r.and_then(|r| rejects.and_then(|t| t.f64(r, "reject_rate"))),
        prov.f64(i, "cost_per_completer"),
    ];
    for (n, c) in ["referrals", "starters", "completers"].iter().enumerate() {
        if prov.is_suppressed(i, c) {
            hidden.push(NUMS[n]);
        }
    }
    for c in [
        "deprived_share",
        "non_english_course_share",
        "imd_completeness",
        "ethnicity_completeness",
    ] {
        if j.is_some_and(|j| profile.is_suppressed(j, c)) {
            hidden.push(c);
        }
    }
    let pct = |c: &str| prov.f64(i, c).map(|x| x * 100.0);
    let texts = [
        ([pct("rate"), pct("ci_low"), pct("ci_high")], 1),
        (
            [pm("pam_change"), pm("pam_ci_low"), pm("pam_ci_high")],
            PAM_DP,
        ),
        (
            [
                pf("emergency_did"),
                pf("emergency_did_low"),
                pf("emergency_did_high"),
            ],
            2,
        ),
    ]
    .map(|([e, l, h], dp)| with_interval(e, l, h, dp));
    // No rows of its own (a declared provider with no one) reads as [c], like its counts.
    if r.is_none_or(|r| rejects.is_some_and(|t| t.is_suppressed(r, "rejected"))) {
        hidden.push("reject_rate");
    }
    ScoreRow {
        id,
        values,
        hidden,
        texts,
    }
}

/// The scorecard: one row per provider with referrals, from the finalized
/// provider comparison, PAM by provider and profile.
pub fn scorecard(
    p: &crate::pipeline::Pipeline,
    tables: &[Table],
) -> crate::error::MetricsResult<Vec<Table>> {
    let find = |n: &str| tables.iter().find(|t| t.name == n);
    let (Some(prov), Some(profile)) = (find("providers"), find("provider_profile")) else {
        return Ok(vec![]);
    };
    let src = Sources {
        prov,
        profile,
        pam: find("pam_by_provider"),
        rejects: find("rejects_by_provider"),
    };
    let rows: Vec<ScoreRow> = (0..prov.height()).map(|i| score_row(&src, i)).collect();
    let names: Vec<String> = rows.iter().map(|r| p.provider_name(&r.id)).collect();
    let mut columns = vec![Column::new("provider".into(), names)];
    for (k, name) in NUMS.iter().enumerate() {
        let v: Vec<Option<f64>> = rows.iter().map(|r| r.values[k]).collect();
        columns.push(Column::new((*name).into(), v));
    }
    for (k, name) in [
        "completion_with_ci",
        "pam_change_with_ci",
        "emergency_admissions_vs_comparison",
    ]
    .iter()
    .enumerate()
    {
        let v: Vec<String> = rows.iter().map(|r| r.texts[k].clone()).collect();
        columns.push(Column::new((*name).into(), v));
    }
    let df = DataFrame::new(rows.len(), columns)?;
    let mut t = Table::new("scorecard", "Provider scorecard", df)
        .labels(&["provider"])
        .exact(&NUMS)
        .labels(&[
            "completion_with_ci",
            "pam_change_with_ci",
            "emergency_admissions_vs_comparison",
        ]);
    // Counts here were controlled in their own tables; keep their marks.
    t.counts = vec!["referrals".into(), "starters".into(), "completers".into()];
    for (r, row) in rows.iter().enumerate() {
        for c in &row.hidden {
            t.suppressed.insert((r, c.to_string()));
        }
    }
    Ok(vec![t])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimate_reads_with_its_interval_or_says_why_not() {
        assert_eq!(
            with_interval(Some(71.4286), Some(63.5), Some(78.25), 1),
            "71.4 (63.5 to 78.2)"
        );
        assert_eq!(with_interval(Some(-0.194), None, None, 2), "-0.19");
        assert_eq!(
            with_interval(None, Some(1.0), Some(2.0), 2),
            "too few to estimate"
        );
    }
}
