//! The referral frame every metric starts from: one row per referral in the
//! evaluation period, with the derived flags and periods.

use chrono::NaiveDate;
use polars::prelude::*;

use crate::pipeline::Settings;
use crate::schema::*;

pub const STARTER: &str = "starter";
pub const COMPLETER: &str = "completer";
pub const ACTIVITY_DATE: &str = "activity_date";
pub const FINANCIAL_YEAR: &str = "financial_year";
pub const QUARTER: &str = "quarter";
pub const MONTH: &str = "month";
pub const COURSE_KEY: &str = "course_key";
pub const IMD_QUINTILE: &str = "imd_quintile";
pub const ETHNICITY_GROUP: &str = "ethnicity_group";
pub const AGE_GROUP: &str = "age_group";
/// A starter on a course still running at the data's date.
pub const IN_PROGRESS: &str = "in_progress";
/// A published label outside the declared values.
pub const OTHER: &str = "Other";
pub const NOT_KNOWN: &str = "Not known";
/// The standard age bands (from a year of birth, or sent as these).
pub const AGE_BANDS: &[&str] = &["18-34", "35-49", "50-64", "65-74", "75+"];
/// Days from a course's first session to its sixth (six weekly sessions).
pub const COURSE_DAYS: i64 = 35;

/// The values a pack may show for the free-text dimensions; anything else is "Other".
#[derive(Debug, Clone)]
pub struct Dimensions {
    pub providers: Vec<String>,
    pub languages: Vec<String>,
    pub age_bands: Vec<String>,
}

impl Dimensions {
    pub fn from_pipeline(p: &crate::pipeline::Pipeline) -> Self {
        let mut languages = p
            .labels
            .course_language
            .clone()
            .unwrap_or_else(|| vec!["English".into()]);
        languages.push(NOT_KNOWN.into());
        let mut age_bands: Vec<String> = AGE_BANDS.iter().map(|s| s.to_string()).collect();
        age_bands.extend(p.labels.age_band.clone().unwrap_or_default());
        age_bands.push(NOT_KNOWN.into());
        Dimensions {
            providers: p.declared_providers(),
            languages,
            age_bands,
        }
    }

    /// Every value a dimension's table lists (declared ones and "Other"),
    /// so that a group is listed whether or not anyone is in it.
    pub fn values(&self, column: &str) -> Option<Vec<String>> {
        let with_other = |v: &[String]| {
            let mut v = v.to_vec();
            v.push(OTHER.into());
            v
        };
        let fixed = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Some(match column {
            PROVIDER_ID => with_other(&self.providers),
            COURSE_LANGUAGE => with_other(&self.languages),
            AGE_GROUP => with_other(&self.age_bands),
            SEX => fixed(SEXES),
            IMD_QUINTILE => fixed(&["1", "2", "3", "4", "5", NOT_KNOWN]),
            ETHNICITY_GROUP => fixed(&[
                "White",
                "Mixed",
                "Asian or Asian British",
                "Black or Black British",
                "Other ethnic group",
                "Not stated or not known",
            ]),
            REFERRAL_SOURCE => {
                let mut v = fixed(REFERRAL_SOURCES);
                v.push("not recorded".into());
                v
            }
            PROGRAMME => fixed(PROGRAMMES),
            _ => return None,
        })
    }
}

/// The label if declared, else "Other".
pub fn declared(column: &str, values: &[String]) -> Expr {
    when(col(column).is_in(lit(Series::new("".into(), values)).implode(false), false))
        .then(col(column))
        .otherwise(lit(OTHER))
}

/// Starters and completers among the rows of a group (the rows are starters).
pub fn starters_and_completers() -> [Expr; 2] {
    [
        len().cast(DataType::Int64).alias("starters"),
        col(COMPLETER)
            .sum()
            .cast(DataType::Int64)
            .alias("completers"),
    ]
}

/// A starter attended at least one session.
pub fn is_starter() -> Expr {
    col(SESSIONS_ATTENDED).cast(DataType::Int32).gt_eq(lit(1))
}

/// A completer attended at least `threshold` sessions (SMRC: 4 of 6).
pub fn is_completer(threshold: u32) -> Expr {
    col(SESSIONS_ATTENDED)
        .cast(DataType::Int32)
        .gt_eq(lit(threshold as i32))
}

/// NHS ethnic category → the five census groups (2001 categories, as the NHS codes them).
pub fn ethnicity_group() -> Expr {
    let e = col(ETHNICITY);
    let is = |codes: &[&str]| {
        e.clone()
            .is_in(lit(Series::new("".into(), codes)).implode(false), false)
    };
    when(is(&["A", "B", "C"]))
        .then(lit("White"))
        .when(is(&["D", "E", "F", "G"]))
        .then(lit("Mixed"))
        .when(is(&["H", "J", "K", "L"]))
        .then(lit("Asian or Asian British"))
        .when(is(&["M", "N", "P"]))
        .then(lit("Black or Black British"))
        .when(is(&["R", "S"]))
        .then(lit("Other ethnic group"))
        .otherwise(lit("Not stated or not known"))
}

/// The age band given by the provider, else one from the year of birth at the activity date.
fn age_group() -> Expr {
    let age = col(ACTIVITY_DATE).dt().year() - col(YEAR_OF_BIRTH);
    let from_yob = when(col(YEAR_OF_BIRTH).is_null())
        .then(lit(NULL).cast(DataType::String))
        .when(age.clone().lt(lit(35)))
        .then(lit("18-34"))
        .when(age.clone().lt(lit(50)))
        .then(lit("35-49"))
        .when(age.clone().lt(lit(65)))
        .then(lit("50-64"))
        .when(age.lt(lit(75)))
        .then(lit("65-74"))
        .otherwise(lit("75+"));
    col(AGE_BAND).fill_null(from_yob).fill_null(lit(NOT_KNOWN))
}

/// Financial year label ("2023/24") of a date, the year starting in `start_month`.
pub fn financial_year(date: Expr, start_month: u32) -> Expr {
    let y = date.clone().dt().year();
    let m = date.dt().month().cast(DataType::Int32);
    let start = when(m.clone().gt_eq(lit(start_month as i32)))
        .then(y.clone())
        .otherwise(y - lit(1));
    let next = (start.clone() + lit(1)) % lit(100);
    let next = when(next.clone().lt(lit(10)))
        .then(concat_str(
            [lit("0"), next.clone().cast(DataType::String)],
            "",
            true,
        ))
        .otherwise(next.cast(DataType::String));
    concat_str([start.cast(DataType::String), lit("/"), next], "", true)
}

fn quarter(date: Expr, start_month: u32) -> Expr {
    let m = date.clone().dt().month().cast(DataType::Int32);
    let q = ((m - lit(start_month as i32) + lit(12)) % lit(12)) / lit(3) + lit(1);
    concat_str(
        [
            financial_year(date, start_month),
            lit(" Q"),
            q.cast(DataType::String),
        ],
        "",
        true,
    )
}

/// The same referral (person, provider, course) sent in two files: the
/// pipeline's `duplicates` rule decides which row counts. `latest` (default):
/// the file later in the pipeline's order (sources in the order declared,
/// then file names), then the later line, wins; `first`: the earliest wins;
/// `reject`: none of them counts. Returns the rows kept and, for each row
/// dropped, its file, line and the reason ("superseded by <file> line N"),
/// so the data-quality accounting still adds up. (Duplicates within one file
/// are rejected at ingest.)
pub fn dedupe(
    participants: LazyFrame,
    rule: crate::pipeline::Duplicates,
    source_order: &[String],
) -> PolarsResult<(LazyFrame, DataFrame)> {
    let key = [col(PERSON_ID), col(PROVIDER_ID), col(COURSE_ID)];
    let sorted = participants
        .with_column(source_rank(source_order).alias("_source_rank"))
        .sort(
            ["_source_rank", SOURCE_FILE, SOURCE_LINE],
            SortMultipleOptions::default(),
        )
        .with_row_index("_r", None);
    let join = JoinArgs {
        maintain_order: MaintainOrderJoin::Left,
        nulls_equal: true,
        ..JoinArgs::new(JoinType::Left)
    };
    let sorted = sorted
        .clone()
        .join(copies(sorted, &key), key.clone(), key, join)
        .collect()?;
    let (keep, winner, why) = duplicates_rule(rule);
    let dropped = sorted
        .clone()
        .lazy()
        .filter(keep.clone().not())
        .select([
            col(SOURCE),
            col(PROVIDER_ID),
            col(SOURCE_FILE),
            col(SOURCE_LINE),
            concat_str(
                [
                    lit(why),
                    col(format!("_{winner}_file")),
                    lit(" line "),
                    col(format!("_{winner}_line")).cast(DataType::String),
                ],
                "",
                true,
            )
            .alias("reason"),
        ])
        .collect()?;
    let helpers = [
        "_source_rank",
        "_r",
        "_first_r",
        "_last_r",
        "_copies",
        "_last_file",
        "_last_line",
        "_first_file",
        "_first_line",
    ];
    let kept = sorted.lazy().filter(keep).drop(cols(helpers));
    Ok((kept, dropped))
}

/// A source's place in the pipeline's order (sources not listed last).
fn source_rank(source_order: &[String]) -> Expr {
    source_order
        .iter()
        .enumerate()
        .fold(lit(source_order.len() as i64), |acc, (i, name)| {
            when(col(SOURCE).eq(lit(name.as_str())))
                .then(lit(i as i64))
                .otherwise(acc)
        })
}

/// For each referral (`key`) among `sorted`'s rows (in file order, each
/// numbered `_r`): the number of copies (`_copies`), the first and the last
/// copy's row number (`_first_r`, `_last_r`), file and line (`_first_file`,
/// `_last_line`, …).
fn copies(sorted: LazyFrame, key: &[Expr]) -> LazyFrame {
    let mut aggs = vec![
        len().cast(DataType::Int64).alias("_copies"),
        col("_r").min().alias("_first_r"),
        col("_r").max().alias("_last_r"),
    ];
    for which in ["last", "first"] {
        for (what, column) in [("file", SOURCE_FILE), ("line", SOURCE_LINE)] {
            let e = match which {
                "last" => col(column).last(),
                _ => col(column).first(),
            };
            aggs.push(e.alias(format!("_{which}_{what}")));
        }
    }
    // A group-by and a join: a window per column over a hundred thousand
    // small groups took 0.125 s of a report, which this change took off.
    sorted.group_by(key).agg(aggs)
}

/// The rows a duplicates rule keeps, which copy a dropped row is reported
/// against (`last` or `first`), and the reason's words.
fn duplicates_rule(rule: crate::pipeline::Duplicates) -> (Expr, &'static str, &'static str) {
    use crate::pipeline::Duplicates;
    match rule {
        Duplicates::Latest => (col("_r").eq(col("_last_r")), "last", "superseded by "),
        Duplicates::First => (col("_r").eq(col("_first_r")), "first", "superseded by "),
        Duplicates::Reject => (
            col("_copies").eq(lit(1i64)),
            "last",
            "the same referral is also in ",
        ),
    }
}

/// Referrals in the evaluation period with derived columns. The activity date is
/// the course start date, or the referral date for a referral that never started.
pub fn referrals(
    participants: LazyFrame,
    s: &Settings,
    dims: &Dimensions,
    data_as_at: NaiveDate,
) -> LazyFrame {
    let mut lf = participants.with_column(
        col(COURSE_START_DATE)
            .fill_null(col(REFERRAL_DATE))
            .alias(ACTIVITY_DATE),
    );
    if let Some(start) = s.evaluation_start {
        lf = lf.filter(col(ACTIVITY_DATE).gt_eq(lit(start)));
    }
    if let Some(end) = s.evaluation_end {
        lf = lf.filter(col(ACTIVITY_DATE).lt_eq(lit(end)));
    }
    lf.with_columns([
        is_starter().fill_null(lit(false)).alias(STARTER),
        is_completer(s.completion_threshold)
            .fill_null(lit(false))
            .alias(COMPLETER),
        financial_year(col(ACTIVITY_DATE), s.financial_year_start_month).alias(FINANCIAL_YEAR),
        quarter(col(ACTIVITY_DATE), s.financial_year_start_month).alias(QUARTER),
        col(ACTIVITY_DATE).dt().strftime("%Y-%m").alias(MONTH),
        concat_str([col(PROVIDER_ID), col(COURSE_ID)], "|", true).alias(COURSE_KEY),
        ((col(IMD_DECILE).cast(DataType::Int32) + lit(1)) / lit(2))
            .cast(DataType::String)
            .fill_null(lit(NOT_KNOWN))
            .alias(IMD_QUINTILE),
        ethnicity_group().alias(ETHNICITY_GROUP),
        age_group().alias(AGE_GROUP),
        col(SEX).fill_null(lit("unknown")),
        col(COURSE_LANGUAGE).fill_null(lit(NOT_KNOWN)),
        col(REFERRAL_SOURCE).fill_null(lit("not recorded")),
        (days(col(COURSE_START_DATE)) + lit(COURSE_DAYS as i32))
            .gt(lit(day_number(data_as_at)))
            .fill_null(lit(false))
            .alias(IN_PROGRESS),
    ])
    .with_columns([
        declared(PROVIDER_ID, &dims.providers),
        declared(COURSE_LANGUAGE, &dims.languages),
        declared(AGE_GROUP, &dims.age_bands),
    ])
}

/// How many rows `e` holds for (a count, as Int64), named `name`.
pub fn count_where(e: Expr, name: &str) -> Expr {
    e.sum().cast(DataType::Int64).alias(name)
}

/// The number of rows, as Int64, named `name` (in a select or a group-by).
pub fn rows_as(name: &str) -> Expr {
    len().cast(DataType::Int64).alias(name)
}

/// `lf` with `other`'s columns joined on `key`; every row of `lf` is kept.
pub fn left_join(lf: LazyFrame, other: LazyFrame, key: &str) -> LazyFrame {
    lf.join(other, [col(key)], [col(key)], JoinArgs::new(JoinType::Left))
}

/// The number of rows of a lazy frame.
pub fn rows_in(lf: LazyFrame) -> PolarsResult<usize> {
    Ok(lf
        .select([len().alias("n")])
        .collect()?
        .column("n")?
        .cast(&DataType::UInt64)?
        .u64()?
        .get(0)
        .unwrap_or(0) as usize)
}

/// Days since 1970-01-01 of a date column, for window arithmetic.
pub fn days(e: Expr) -> Expr {
    e.cast(DataType::Int32)
}

pub fn day_number(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::activity;

    fn d(y: i32, m: u32, day: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, day)
    }

    /// Five referrals, hand-classified (threshold 4, data complete to 31 March 2024).
    fn participants() -> LazyFrame {
        df!(
            PERSON_ID => ["p1", "p2", "p3", "p4", "p5"],
            PROVIDER_ID => ["A"; 5],
            COURSE_ID => ["c1", "c1", "c2", "c3", "c0"],
            PROGRAMME => ["generic"; 5],
            // p1 completes, p2 starts but stops at 3, p3 never starts, p4 is on a
            // course still running at the data's date, p5 started before the period.
            COURSE_START_DATE => [d(2023, 5, 1), d(2023, 5, 1), None, d(2024, 3, 10), d(2023, 3, 1)],
            REFERRAL_DATE => [d(2023, 4, 2), d(2023, 4, 3), d(2023, 6, 1), d(2024, 2, 1), d(2023, 2, 1)],
            SESSIONS_ATTENDED => [4i32, 3, 0, 1, 6],
            IMD_DECILE => [Some(3i32), Some(10), None, Some(1), Some(5)],
            ETHNICITY => [Some("A"), Some("H"), None, Some("M"), Some("A")],
            AGE_BAND => [Some("50-64"); 5],
            YEAR_OF_BIRTH => [None::<i32>; 5],
            SEX => ["female", "male", "female", "male", "female"],
            COURSE_LANGUAGE => [Some("English"); 5],
            REFERRAL_SOURCE => [Some("gp"); 5],
        )
        .unwrap()
        .lazy()
    }

    #[test]
    fn starter_completer_and_in_progress_rules_hand_worked() {
        let p = crate::pipeline::tests::minimal(
            "evaluation_start = \"2023-04-01\"\nevaluation_end = \"2024-03-31\"",
        );
        let dims = Dimensions::from_pipeline(&p);
        let refs = referrals(participants(), &p.settings, &dims, d(2024, 3, 31).unwrap());
        let out = refs
            .clone()
            .sort([PERSON_ID], SortMultipleOptions::default())
            .collect()
            .unwrap();
        let bools = |c: &str| -> Vec<bool> {
            out.column(c)
                .unwrap()
                .bool()
                .unwrap()
                .iter()
                .map(|x| x.unwrap())
                .collect()
        };
        // p5 started before the period: not counted.
        assert_eq!(out.height(), 4);
        assert_eq!(bools(STARTER), [true, true, false, true]);
        assert_eq!(bools(COMPLETER), [true, false, false, false]);
        assert_eq!(bools(IN_PROGRESS), [false, false, false, true]);
        let text = |c: &str| -> Vec<String> {
            out.column(c)
                .unwrap()
                .str()
                .unwrap()
                .iter()
                .map(|x| x.unwrap().to_string())
                .collect()
        };
        assert_eq!(text(FINANCIAL_YEAR), ["2023/24"; 4]);
        // IMD deciles 3, 10, missing, 1 → quintiles 2, 5, not known, 1.
        assert_eq!(text(IMD_QUINTILE), ["2", "5", NOT_KNOWN, "1"]);

        // Completion leaves out the starter still on a course; uptake does not.
        let c = activity::completion(&refs, None).unwrap();
        let n = |col: &str| c.column(col).unwrap().i64().unwrap().get(0).unwrap();
        assert_eq!(
            (
                n("referrals"),
                n("all_starters"),
                n("starters"),
                n("completers")
            ),
            (4, 3, 2, 1)
        );
    }
}
