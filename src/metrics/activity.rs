//! Activity, completion, retention and equity (SPEC 4). Unit: referrals.

use polars::prelude::*;

use super::all_groups;
use super::referrals::*;
use super::table::Table;
use crate::error::MetricsResult;
use crate::schema::*;

fn counts() -> [Expr; 5] {
    [
        len().cast(DataType::Int64).alias("referrals"),
        count_where(col(STARTER).and(col(IN_PROGRESS)), "in_progress"),
        count_where(col(STARTER), "starters"),
        count_where(col(COMPLETER), "completers"),
        col(COURSE_KEY)
            .filter(col(STARTER))
            .n_unique()
            .cast(DataType::Int64)
            .alias("courses"),
    ]
}

/// Referrals, starters on courses still in progress, starters, completers and
/// courses run (≥1 starter), overall or by `by`. Courses are counted once per
/// provider and course id.
pub fn activity(referrals: &LazyFrame, by: Option<&str>) -> PolarsResult<DataFrame> {
    match by {
        None => referrals.clone().select(counts()).collect(),
        Some(b) => referrals
            .clone()
            .group_by([col(b)])
            .agg(counts())
            .sort([b], SortMultipleOptions::default())
            .collect(),
    }
}

/// Referrals, starters and completers for completion and uptake, overall or
/// by `by`: starters on a course still in progress at the data's date are
/// left out of the starters and completers (they cannot have completed yet)
/// but stay among the referrals.
pub fn completion(referrals: &LazyFrame, by: Option<&str>) -> PolarsResult<DataFrame> {
    let finished = referrals
        .clone()
        .filter(col(STARTER).and(col(IN_PROGRESS)).not());
    let df = activity(&finished, by)?;
    let all = activity(referrals, by)?;
    let keep: Vec<&str> = by.into_iter().chain(["starters", "completers"]).collect();
    let mut out = df.select(keep)?;
    // Uptake counts every starter, finished course or not.
    let refs: Vec<&str> = by.into_iter().chain(["referrals", "starters"]).collect();
    let mut refs = all.select(refs)?;
    refs.rename("starters", "all_starters".into())?;
    out = match by {
        None => {
            let mut o = out;
            o.with_column(refs.column("referrals")?.clone())?;
            o.with_column(refs.column("all_starters")?.clone())?;
            o
        }
        Some(b) => left_join(refs.lazy(), out.lazy(), b)
            .with_columns([
                col("starters").fill_null(lit(0i64)),
                col("completers").fill_null(lit(0i64)),
            ])
            .collect()?,
    };
    let order: Vec<&str> = by
        .into_iter()
        .chain(["referrals", "all_starters", "starters", "completers"])
        .collect();
    out.select(order)
}

/// A completion table: referrals; starters within them (uptake) and
/// completers within starters (completion rate), each with a Wilson 95% CI.
pub fn completion_table(name: &str, title: &str, df: DataFrame, label: Option<&str>) -> Table {
    Table::new(name, title, df)
        .labels(&label.into_iter().collect::<Vec<_>>())
        .counts(&["referrals"])
        .hidden_counts(&["all_starters"])
        .count_within("starters", "referrals")
        .count_within("completers", "starters")
        .base("referrals")
        .rate(["rate", "ci_low", "ci_high"], "completers", "starters")
        .rate(
            ["uptake", "uptake_ci_low", "uptake_ci_high"],
            "all_starters",
            "referrals",
        )
}

/// An activity table (overall or by `label`).
pub fn activity_table(name: &str, title: &str, df: DataFrame, label: Option<&str>) -> Table {
    Table::new(name, title, df)
        .labels(&label.into_iter().collect::<Vec<_>>())
        .counts(&["referrals"])
        .count_within("in_progress", "referrals")
        .count_within("starters", "referrals")
        .count_within("completers", "starters")
        .counts(&["courses"])
        .base("referrals")
}

/// % of starters attending each session 1–6. Where a provider sends a register,
/// its marks count; where it sends only a total, a starter with k sessions is
/// taken to have attended sessions 1..k.
pub fn retention(referrals: &LazyFrame) -> PolarsResult<DataFrame> {
    let starters = referrals
        .clone()
        .filter(col(STARTER).and(col(IN_PROGRESS).not()));
    let aggs: Vec<Expr> = SESSIONS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            when(col(*s).is_not_null())
                .then(col(*s).cast(DataType::Int32).eq(lit(1)))
                .otherwise(
                    col(SESSIONS_ATTENDED)
                        .cast(DataType::Int32)
                        .gt_eq(lit(i as i32 + 1)),
                )
                .sum()
                .cast(DataType::Int64)
                .alias(format!("s{}", i + 1))
        })
        .chain([len().cast(DataType::Int64).alias("starters")])
        .collect();
    let wide = starters.select(aggs).collect()?;
    let n = wide.column("starters")?.i64()?.get(0).unwrap_or(0);
    let mut session = Vec::new();
    let mut attended = Vec::new();
    for i in 1..=6 {
        let a = wide.column(&format!("s{i}"))?.i64()?.get(0).unwrap_or(0);
        session.push(i as i64);
        attended.push(a);
    }
    df!("session" => session, "starters" => vec![n; 6], "attended" => attended)
}

/// The equity dimensions of SPEC 4, with the column each is read from.
pub const EQUITY: &[(&str, &str, &str)] = &[
    (
        "imd_quintile",
        IMD_QUINTILE,
        "IMD quintile (1 = most deprived)",
    ),
    ("ethnicity_group", ETHNICITY_GROUP, "Ethnic group"),
    ("sex", SEX, "Sex"),
    ("age_band", AGE_GROUP, "Age band"),
    ("course_language", COURSE_LANGUAGE, "Course language"),
    ("referral_source", REFERRAL_SOURCE, "Referral source"),
];

/// Referral-to-start wait of starters (days from referral to course start),
/// overall (`by` None, labelled "All providers") or by `by`: the number of
/// starters and the median and quartiles (R's type 7, linear interpolation),
/// exact here and published under the n ≥ 10 rule.
pub fn waits(referrals: &LazyFrame, by: &str) -> PolarsResult<DataFrame> {
    let wait = (days(col(COURSE_START_DATE)) - days(col(REFERRAL_DATE))).cast(DataType::Float64);
    let q = |p: f64, name: &str| {
        col("_wait")
            .quantile(lit(p), QuantileMethod::Linear)
            .alias(name)
    };
    let aggs = [
        len().cast(DataType::Int64).alias("starters"),
        q(0.5, "median_x"),
        q(0.25, "q1_x"),
        q(0.75, "q3_x"),
    ];
    let starters = referrals
        .clone()
        .filter(col(STARTER))
        .with_column(wait.alias("_wait"));
    let all = starters
        .clone()
        .select(aggs.clone())
        .with_column(lit("All providers").alias(by));
    let per = starters
        .group_by([col(by)])
        .agg(aggs)
        .sort([by], SortMultipleOptions::default());
    let cols_in_order = [
        col(by),
        col("starters"),
        col("median_x"),
        col("q1_x"),
        col("q3_x"),
    ];
    concat(
        [per.select(cols_in_order.clone()), all.select(cols_in_order)],
        UnionArgs::default(),
    )?
    .collect()
}

/// The waits table: median and interquartile range of days from referral to start.
/// A published pack gives them in whole days: an interpolated quartile's
/// fraction (.25, .5, .75) follows from the exact number of starters, which
/// the rounded count hides.
pub fn waits_table(df: DataFrame, by: &str) -> Table {
    let stat = |t: Table, name: &str, from: &str| {
        t.statistic(
            name,
            &[from],
            super::table::formulas::identity,
            &["starters"],
            0,
        )
    };
    let t = Table::new(
        "waits_by_provider",
        "Days from referral to course start (starters)",
        df,
    )
    .labels(&[by])
    .counts(&["starters"])
    .hidden(&["median_x", "q1_x", "q3_x"])
    .base("starters");
    let t = stat(t, "median_days", "median_x");
    let t = stat(t, "lower_quartile_days", "q1_x");
    stat(t, "upper_quartile_days", "q3_x")
}

/// A table whose empty groups are not shown (every declared group is listed
/// for the counts, but a group with no one in it is not a row of the pack).
fn empty_hidden(mut t: Table) -> Table {
    t.empty_group_hidden = true;
    t
}

/// Activity: referrals, starters on courses in progress, starters,
/// completers and courses run, overall and by provider, programme, financial
/// year, quarter and month (every declared provider and programme listed).
pub fn tables(refs: &LazyFrame, dims: &Dimensions) -> MetricsResult<Vec<Table>> {
    let mut tables = Vec::new();
    for (by, title) in [
        (None, "Activity"),
        (Some(PROVIDER_ID), "Activity by provider"),
        (Some(PROGRAMME), "Activity by programme"),
        (Some(FINANCIAL_YEAR), "Activity by financial year"),
        (Some(QUARTER), "Activity by quarter"),
        (Some(MONTH), "Activity by month"),
    ] {
        let (name, df) = match by {
            None => ("activity_overall".to_string(), activity(refs, None)?),
            Some(b) => (
                format!("activity_by_{}", b.trim_end_matches("_id")),
                all_groups(activity(refs, by)?, b, dims)?,
            ),
        };
        let mut t = activity_table(&name, title, df, by);
        t.empty_group_hidden = by.and_then(|b| dims.values(b)).is_some();
        tables.push(t);
    }
    Ok(tables)
}

/// Completion: completers among starters whose course has finished by the
/// data's date, and uptake (starters among referrals), overall, by provider,
/// programme and financial year; then the wait from referral to course start
/// by provider.
pub fn completion_tables(refs: &LazyFrame, dims: &Dimensions) -> MetricsResult<Vec<Table>> {
    let mut tables = vec![completion_table(
        "completion_overall",
        "Completion (courses finished by the data's date)",
        completion(refs, None)?,
        None,
    )];
    for (by, name, title) in [
        (
            PROVIDER_ID,
            "completion_by_provider",
            "Completion by provider",
        ),
        (
            PROGRAMME,
            "completion_by_programme",
            "Uptake and completion by programme",
        ),
    ] {
        let df = all_groups(completion(refs, Some(by))?, by, dims)?;
        tables.push(empty_hidden(completion_table(name, title, df, Some(by))));
    }
    tables.push(completion_table(
        "completion_by_financial_year",
        "Uptake and completion by financial year",
        completion(refs, Some(FINANCIAL_YEAR))?,
        Some(FINANCIAL_YEAR),
    ));
    let waits = all_groups(waits(refs, PROVIDER_ID)?, PROVIDER_ID, dims)?;
    tables.push(empty_hidden(waits_table(waits, PROVIDER_ID)));
    Ok(tables)
}

/// Retention: of the starters, how many attended each session (the rate is
/// attended ÷ starters).
pub fn retention_table(refs: &LazyFrame) -> MetricsResult<Table> {
    Ok(Table::new(
        "retention",
        "Retention: starters attending each session",
        retention(refs)?,
    )
    .exact(&["session"])
    .counts(&["starters"])
    .count_within("attended", "starters")
    .share("rate", "attended", "starters"))
}

/// Equity: uptake and completion by each of [`EQUITY`]'s characteristics,
/// every declared group listed, in a column named `group`.
pub fn equity_tables(refs: &LazyFrame, dims: &Dimensions) -> MetricsResult<Vec<Table>> {
    let mut tables = Vec::new();
    for (name, column, title) in EQUITY {
        let df = all_groups(completion(refs, Some(column))?, column, dims)?;
        let df = df.lazy().rename([*column], ["group"], true).collect()?;
        tables.push(empty_hidden(completion_table(
            &format!("equity_by_{name}"),
            &format!("Uptake and completion by {}", title.to_lowercase()),
            df,
            Some("group"),
        )));
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn retention_counts_register_marks_else_the_first_k_sessions() {
        // Starter A sends a register (sessions 1, 2 and 4); B sends a total of
        // 3 (taken as sessions 1–3); C is still on a course and is left out.
        let none = None::<i32>;
        let refs = df!(
            STARTER => [true, true, true],
            IN_PROGRESS => [false, false, true],
            SESSIONS_ATTENDED => [3i32, 3, 6],
            SESSIONS[0] => [Some(1i32), none, none],
            SESSIONS[1] => [Some(1i32), none, none],
            SESSIONS[2] => [Some(0i32), none, none],
            SESSIONS[3] => [Some(1i32), none, none],
            SESSIONS[4] => [Some(0i32), none, none],
            SESSIONS[5] => [Some(0i32), none, none],
        )
        .unwrap()
        .lazy();
        let r = retention(&refs).unwrap();
        let attended: Vec<i64> = r
            .column("attended")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(attended, [2, 2, 1, 1, 0, 0]);
        assert_eq!(r.column("starters").unwrap().i64().unwrap().get(0), Some(2));
    }

    #[test]
    fn waits_are_type_7_quartiles_of_days_to_start() {
        let d = |day| NaiveDate::from_ymd_opt(2024, 1, day);
        // Waits of 1, 2, 4 and 10 days at one provider: median 3, quartiles
        // 1.75 and 5.5 (R: quantile(c(1,2,4,10), c(.25,.5,.75)), type 7).
        let refs = df!(
            STARTER => [true, true, true, true, false],
            PROVIDER_ID => ["A", "A", "A", "A", "A"],
            REFERRAL_DATE => [d(1), d(1), d(1), d(1), d(1)],
            COURSE_START_DATE => [d(2), d(3), d(5), d(11), None],
        )
        .unwrap()
        .lazy();
        let w = waits(&refs, PROVIDER_ID).unwrap();
        let f = |c: &str| w.column(c).unwrap().f64().unwrap().get(0).unwrap();
        assert_eq!(w.column("starters").unwrap().i64().unwrap().get(0), Some(4));
        assert_eq!((f("q1_x"), f("median_x"), f("q3_x")), (1.75, 3.0, 5.5));
        // The last row is all providers together.
        assert_eq!(
            w.column(PROVIDER_ID).unwrap().str().unwrap().get(1),
            Some("All providers")
        );
    }

    #[test]
    fn published_waits_are_whole_days_and_internal_ones_exact() {
        let df = df!(
            PROVIDER_ID => ["A"],
            "starters" => [13i64],
            "median_x" => [19.5],
            "q1_x" => [7.25],
            "q3_x" => [45.75],
        )
        .unwrap();
        let finalized = |published| {
            let mut t = waits_table(df.clone(), PROVIDER_ID);
            crate::disclosure::finalize(&mut t, published).unwrap();
            ["lower_quartile_days", "median_days", "upper_quartile_days"].map(|c| t.f64(0, c))
        };
        assert_eq!(finalized(true), [Some(7.0), Some(20.0), Some(46.0)]);
        assert_eq!(finalized(false), [Some(7.25), Some(19.5), Some(45.75)]);
    }
}
