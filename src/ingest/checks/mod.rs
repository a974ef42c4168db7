//! Row checks as polars expressions: each field is parsed in one vectorised
//! pass, each rule is a boolean expression, and a row's first failing rule
//! becomes its reject reason. No Rust loop runs per row.

use std::sync::Arc;

use chrono::NaiveDate;
use polars::prelude::*;

use crate::pipeline::{IdKind, OnInvalid, Settings, Source, SourceKind};
use crate::schema::{self, FieldType, *};

use super::nhs;
use super::read::RawTable;

mod cross;
mod dedupe;
mod feedback;
mod fields;
mod frame;
mod output;
pub(crate) mod spells;

use cross::{pam_level, sessions_expr};
use frame::{date_parses, LSOA_DECILE};
pub(crate) use spells::{fold, fold_spells};

/// One rule: where `fails` is true the row is rejected for `field` with
/// `reason`; `rule` is the reason's fixed wording, for counting rejects by kind.
struct Rule {
    fails: Expr,
    field: &'static str,
    rule: String,
    reason: Expr,
    value: Expr,
}

const LINE: &str = "_line";

const R_FIELD: &str = "_reject_field";

const R_REASON: &str = "_reject_reason";

const R_RULE: &str = "_reject_rule";

const R_VALUE: &str = "_reject_value";

const R_INDEX: &str = "_reject_index";

/// Shown instead of an identifier in rejects and messages.
pub const MASKED: &str = "[id masked]";

/// The column of a field's value after the value map and case.
fn mapped(f: &str) -> String {
    format!("m:{f}")
}

/// The column of a field's parsed value.
fn typed(f: &str) -> String {
    format!("t:{f}")
}

/// An NHS number field's check (`nhs::nhs_status`), made while parsing.
fn status(f: &str) -> String {
    format!("n:{f}")
}

/// A field's mapped value (`mapped`).
fn m(f: &str) -> Expr {
    col(mapped(f))
}

/// A field's parsed value (`typed`).
fn t(f: &str) -> Expr {
    col(typed(f))
}

/// A constant date, written yyyy-mm-dd.
fn date_lit(s: &str) -> Expr {
    // As a day number cast to a date: polars' own date literal is null for
    // dates before 1901-12-14, which made every comparison with 1900-01-01
    // null (so years 1 to 999 passed as plausible).
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("constant date");
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    lit((d - epoch).num_days() as i32).cast(DataType::Date)
}

/// A fixed list of text values, as a literal.
fn str_series(values: &[&str]) -> Expr {
    lit(Series::new("".into(), values))
}

/// `is_in` against a fixed list of values (polars wants the list imploded).
pub trait InList {
    fn in_list(self, values: Expr, nulls_equal: bool) -> Expr;
}

impl InList for Expr {
    fn in_list(self, values: Expr, nulls_equal: bool) -> Expr {
        self.is_in(values.implode(false), nulls_equal)
    }
}

/// Accepted rows in canonical columns, and the rejects of this file.
pub struct Checked {
    pub accepted: DataFrame,
    /// Columns: line, field, reason, value.
    pub rejects: DataFrame,
    /// Kept rows with a blanked or corrected value. Columns as `rejects`.
    pub warnings: DataFrame,
    /// Episodes folded into spells (hospital apc with a spell key), else equal to accepted rows.
    pub rows_before_folding: usize,
    pub sentinel_dates: usize,
}

/// The warnings of rows that are not among `rejects` (by line): a rejected
/// row's reject says what is wrong with it.
fn without_lines_of(warnings: DataFrame, rejects: &DataFrame) -> PolarsResult<DataFrame> {
    warnings
        .lazy()
        .join(
            rejects
                .clone()
                .lazy()
                .select([col("line").alias("_rejected_line")]),
            [col("line")],
            [col("_rejected_line")],
            JoinArgs::new(JoinType::Anti),
        )
        .collect()
}

/// The first failing rule's (field, reason, value), or nulls.
/// The index of the first rule a row fails (null where it fails none): only
/// booleans over every row; the messages are made for the failing rows only
/// (`first_failure`).
fn first_failure_index(rules: &[Rule]) -> Expr {
    let mut idx = lit(NULL).cast(DataType::UInt32);
    for (k, r) in rules.iter().enumerate().rev() {
        idx = when(r.fails.clone().fill_null(lit(false)))
            .then(lit(k as u32))
            .otherwise(idx);
    }
    idx
}

/// The field, rule, reason and value of the first rule each row fails, from
/// its index (`first_failure_index`, in column `R_INDEX`).
fn first_failure(rules: &[Rule]) -> [Expr; 4] {
    let mut rule = lit(NULL).cast(DataType::String);
    let mut field = lit(NULL).cast(DataType::String);
    let mut reason = lit(NULL).cast(DataType::String);
    let mut value = lit(NULL).cast(DataType::String);
    for (k, r) in rules.iter().enumerate().rev() {
        let fails = col(R_INDEX).eq(lit(k as u32)).fill_null(lit(false));
        field = when(fails.clone()).then(lit(r.field)).otherwise(field);
        rule = when(fails.clone())
            .then(lit(r.rule.clone()))
            .otherwise(rule);
        reason = when(fails.clone()).then(r.reason.clone()).otherwise(reason);
        value = when(fails)
            .then(r.value.clone().cast(DataType::String))
            .otherwise(value);
    }
    [
        field.alias(R_FIELD),
        rule.alias(R_RULE),
        reason.alias(R_REASON),
        value.alias(R_VALUE),
    ]
}

/// Blanks the values that fail a rule of `rules` (fields that may be empty)
/// and returns the warnings: line, field, rule, reason, value.
fn blank_invalid(df: DataFrame, rules: &[Rule]) -> PolarsResult<(DataFrame, DataFrame)> {
    let mut fields: Vec<&'static str> = rules.iter().map(|r| r.field).collect();
    fields.dedup();
    let mut warnings = empty_findings();
    let mut blanks = Vec::new();
    for field in fields {
        let mine: Vec<Rule> = rules
            .iter()
            .filter(|r| r.field == field)
            .map(|r| Rule {
                fails: r.fails.clone(),
                field: r.field,
                rule: r.rule.clone(),
                reason: r.reason.clone(),
                value: r.value.clone(),
            })
            .collect();
        let [_, ru, rr, rv] = first_failure(&mine);
        let found = df
            .clone()
            .lazy()
            .with_column(first_failure_index(&mine).alias(R_INDEX))
            .filter(col(R_INDEX).is_not_null())
            .with_columns([ru, rr, rv])
            .filter(col(R_REASON).is_not_null())
            .select([
                col(LINE).alias("line"),
                lit(field).alias("field"),
                col(R_RULE).alias("rule"),
                concat_str(
                    [col(R_REASON), lit("; left blank, the row is kept")],
                    "",
                    true,
                )
                .alias("reason"),
                col(R_VALUE).alias("value"),
            ])
            .collect()?;
        warnings = warnings.vstack(&found)?;
        let invalid = mine
            .iter()
            .map(|r| r.fails.clone().fill_null(lit(false)))
            .reduce(|a, b| a.or(b))
            .unwrap_or(lit(false));
        blanks.push((field, invalid));
    }
    let mut exprs = Vec::new();
    for (field, invalid) in &blanks {
        for name in [mapped(field), typed(field)] {
            exprs.push(
                when(invalid.clone())
                    .then(lit(NULL))
                    .otherwise(col(name.as_str()))
                    .alias(name.as_str()),
            );
        }
    }
    let df = if exprs.is_empty() {
        df
    } else {
        df.lazy().with_columns(exprs).collect()?
    };
    Ok((df, warnings))
}

/// An empty frame with the columns of rejects and warnings.
fn empty_findings() -> DataFrame {
    df!(
        "line" => Vec::<u32>::new(),
        "field" => Vec::<String>::new(),
        "rule" => Vec::<String>::new(),
        "reason" => Vec::<String>::new(),
        "value" => Vec::<Option<String>>::new(),
    )
    .expect("empty frame")
}

/// A batch of a file's rows checked row by row: each row's own rules
/// (fields and across fields), before the rules that compare rows.
pub struct RowsChecked {
    rejected: DataFrame,
    accepted: DataFrame,
    warnings: DataFrame,
    sentinel_dates: usize,
    /// The rejected rows as sent (for the feedback file).
    rows: LazyFrame,
    read_rejects: Option<DataFrame>,
}

impl RowsChecked {
    /// The batch's accepted rows (to be spilled and left empty).
    pub fn accepted_mut(&mut self) -> &mut DataFrame {
        &mut self.accepted
    }
}

/// True when a file's batches can be checked apart and put together after:
/// its rows are compared (`finish`) only within a key that its accepted rows
/// carry, and its rejects' rows are made from the failing rows alone.
pub fn checks_in_batches(source: &Source) -> bool {
    dedupe::duplicate_key(source).is_empty() && source.kind != SourceKind::ProviderReturns
}

/// Checks a batch of rows (all of a file's, or a part that starts and ends
/// with a whole row) by the rules that look at one row at a time.
pub fn check_rows(
    raw: RawTable,
    source: &Source,
    settings: &Settings,
    key: &Arc<Vec<u8>>,
    lsoa: Option<&DataFrame>,
) -> PolarsResult<RowsChecked> {
    let read_rejects = read_rejects_frame(&raw.rejects)?;
    let (df, present) = frame::build(raw, source, lsoa)?;
    let (blank, mut rules): (Vec<Rule>, Vec<Rule>) = fields::type_rules(source, &present, settings)
        .into_iter()
        .partition(|r| source.on_invalid(r.field) == OnInvalid::Null);
    rules.extend(cross::cross_rules(source, settings));
    let parsed = frame::parse(df, source, &present, key)?;
    // An invalid value of a field that may be blank is blanked, and the row
    // kept with a warning; the rules below then see it as empty.
    let (parsed, warnings) = blank_invalid(parsed, &blank)?;
    let judged = judge(parsed, &rules)?;
    let sentinel_dates = fields::sentinel_dates(&judged.checked, source, &present)?;
    let rows = feedback::rows(source, &present, &judged)?;
    let (rejected, accepted) = judged.split(output::output_exprs(source, &present, settings))?;
    Ok(RowsChecked {
        rejected,
        accepted,
        warnings,
        sentinel_dates,
        rows,
        read_rejects,
    })
}

/// The rules that compare a file's rows (duplicates, a course's start date,
/// spells), over its checked batches in line order; then the file's
/// rejects and warnings in line order.
pub fn finish(batches: Vec<RowsChecked>, source: &Source) -> PolarsResult<Checked> {
    let mut it = batches.into_iter();
    let mut all = it.next().expect("a file is checked in one batch or more");
    let mut rows = vec![all.rows];
    for b in it {
        all.rejected.vstack_mut_owned(b.rejected)?;
        all.accepted.vstack_mut_owned(b.accepted)?;
        all.warnings.vstack_mut_owned(b.warnings)?;
        all.sentinel_dates += b.sentinel_dates;
        rows.push(b.rows);
        all.read_rejects = match (all.read_rejects, b.read_rejects) {
            (Some(mut a), Some(b)) => {
                a.vstack_mut_owned(b)?;
                Some(a)
            }
            (a, b) => a.or(b),
        };
    }
    let rows = if rows.len() == 1 {
        rows.remove(0)
    } else {
        concat(rows, UnionArgs::default())?
    };
    let (accepted, dup_rejects) = dedupe::drop_duplicates(all.accepted, source)?;
    // Warnings of rows rejected for another reason are not kept: the reject says it.
    let mut warnings = without_lines_of(all.warnings, &all.rejected)?;
    let mut accepted = accepted;
    if source.kind == SourceKind::ProviderReturns {
        let (kept, course_warnings) = dedupe::course_majority(accepted, source)?;
        accepted = kept;
        warnings = warnings.vstack(&course_warnings)?;
    }
    let rows_before_folding = accepted.height();
    let accepted = spells::fold(accepted, source)?;
    let mut rejects = all.rejected.vstack(&dup_rejects)?;
    // A duplicate's warnings go with it.
    let warnings = without_lines_of(warnings, &dup_rejects)?;
    if let Some(extra) = all.read_rejects {
        rejects = rejects.vstack(&extra)?;
    }
    Ok(Checked {
        accepted,
        rejects: feedback::attach_rows(rejects, rows)?,
        warnings: masked_warnings(warnings)?,
        rows_before_folding,
        sentinel_dates: all.sentinel_dates,
    })
}

/// The rows the reader rejected (wrong number of fields) as findings, or
/// None when it rejected none.
fn read_rejects_frame(read: &[super::Reject]) -> PolarsResult<Option<DataFrame>> {
    if read.is_empty() {
        return Ok(None);
    }
    Ok(Some(df!(
        "line" => read.iter().map(|r| r.line).collect::<Vec<_>>(),
        "field" => read.iter().map(|r| r.field.clone()).collect::<Vec<_>>(),
        "rule" => read.iter().map(|r| r.rule.to_string()).collect::<Vec<_>>(),
        "reason" => read.iter().map(|r| r.reason.clone()).collect::<Vec<_>>(),
        "value" => read.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
    )?))
}

/// The parsed rows with the index of the first rule each fails, and the
/// failing rows with that rule's field, rule, reason and value.
struct Judged {
    checked: DataFrame,
    failing: DataFrame,
    /// True for a row that is kept: it fails no rule, or one whose reason is empty.
    kept: Expr,
}

/// Applies `rules` to the parsed rows: each row's first failing rule.
fn judge(parsed: DataFrame, rules: &[Rule]) -> PolarsResult<Judged> {
    let checked = parsed
        .lazy()
        .with_column(first_failure_index(rules).alias(R_INDEX))
        .collect()?;
    // The messages, for the failing rows only.
    let failing = checked
        .clone()
        .lazy()
        .filter(col(R_INDEX).is_not_null())
        .with_columns(first_failure(rules))
        .collect()?;
    // A failing rule whose reason is empty rejects nothing (as ever).
    let kept_failing = failing
        .clone()
        .lazy()
        .filter(col(R_REASON).is_null())
        .select([col(LINE)])
        .collect()?;
    let kept = col(R_INDEX).is_null().or(col(LINE).is_in(
        lit(kept_failing.column(LINE)?.as_materialized_series().clone()).implode(false),
        false,
    ));
    Ok(Judged {
        checked,
        failing,
        kept,
    })
}

impl Judged {
    /// The rejects (line, field, rule, reason, value) and the kept rows in
    /// the canonical `output` columns.
    fn split(self, output: Vec<Expr>) -> PolarsResult<(DataFrame, DataFrame)> {
        let rejected = self
            .failing
            .lazy()
            .filter(col(R_REASON).is_not_null())
            .select([
                col(LINE).alias("line"),
                col(R_FIELD).alias("field"),
                col(R_RULE).alias("rule"),
                col(R_REASON).alias("reason"),
                col(R_VALUE).alias("value"),
            ])
            .collect()?;
        let accepted = self
            .checked
            .lazy()
            .filter(self.kept)
            .select(output)
            .collect()?;
        Ok((rejected, accepted))
    }
}

/// The warnings in line order, their messages and values masked.
fn masked_warnings(warnings: DataFrame) -> PolarsResult<DataFrame> {
    warnings
        .sort(["line"], SortMultipleOptions::default())?
        .lazy()
        .with_columns([nhs::mask(col("reason")), nhs::mask(col("value"))])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "provider,course,programme,start,person,referred,sessions";

    /// A whole file's rows checked under `p`'s first source (key "k", no LSOA lookup).
    fn check_whole(raw: RawTable, p: &crate::pipeline::Pipeline) -> Checked {
        let key = Arc::new(b"k".to_vec());
        let rows = check_rows(raw, &p.sources[0], &p.settings, &key, None).unwrap();
        finish(vec![rows], &p.sources[0]).unwrap()
    }

    /// The rows of `body` (after the header) checked under the test pipeline.
    fn checked(body: &str) -> Checked {
        let p = crate::ingest::test_pipeline("");
        let text = format!("{HEADER}\n{body}");
        let raw = super::super::read::read_file(
            std::path::Path::new("x.csv"),
            text.as_bytes(),
            &p.sources[0],
        )
        .unwrap();
        check_whole(raw, &p)
    }

    fn texts(df: &DataFrame, column: &str) -> Vec<String> {
        let c = df.column(column).unwrap().cast(&DataType::String).unwrap();
        c.str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn a_constant_is_mapped_and_cased_as_a_column_of_it_would_be() {
        let mut p = crate::ingest::test_pipeline("[sources.values.sex]\nF = \"Female\"");
        for (field, value) in [(SEX, " f "), (ETHNICITY, "b")] {
            p.sources[0].constants.insert(field.into(), value.into());
        }
        let body =
            format!("{HEADER}\nA,1,generic,,p1,01/02/2024,0\nA,1,generic,,p2,01/02/2024,0\n");
        let raw = super::super::read::read_file(
            std::path::Path::new("x.csv"),
            body.as_bytes(),
            &p.sources[0],
        )
        .unwrap();
        let c = check_whole(raw, &p);
        // The value map's key matches the trimmed, case-folded constant; its
        // value is then put in lower case, as the field's codes are.
        assert_eq!(texts(&c.accepted, SEX), ["female", "female"]);
        assert_eq!(texts(&c.accepted, ETHNICITY), ["B", "B"]);
    }

    #[test]
    fn a_date_rule_rejects_with_its_message() {
        let c = checked("A,1,generic,,p1,31/02/2024,0\nA,1,generic,,p2,01/02/2024,0\n");
        assert_eq!(c.accepted.height(), 1);
        assert_eq!(texts(&c.rejects, "line"), ["2"]);
        assert_eq!(texts(&c.rejects, "field"), ["referral_date"]);
        assert_eq!(
            texts(&c.rejects, "reason"),
            ["is not a date (expected dd/mm/yyyy)"]
        );
        assert_eq!(texts(&c.rejects, "value"), ["31/02/2024"]);
    }

    #[test]
    fn a_sheets_day_number_in_a_date_column_is_said_to_be_one() {
        // 45206 (a cell that lost its date format) is Excel's 7 October 2023;
        // 2024 is no day number of these years, so only not a date. Larger
        // whole numbers (an id typed in the wrong column) are not dates
        // either: as days they would be past the last date polars can write,
        // which once stopped the run with a panic.
        let p = crate::ingest::test_pipeline("format = \"xlsx\"");
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (c, h) in HEADER.split(',').enumerate() {
            sheet.write(0, c as u16, h).unwrap();
        }
        for (r, referred) in [45206.0, 2024.0, 1e8, 2147483647.0, 99999999999.0]
            .into_iter()
            .enumerate()
        {
            let r = r as u32 + 1;
            for (c, v) in ["A", "c1", "generic", "01/11/2023", "p1"]
                .iter()
                .enumerate()
            {
                sheet.write(r, c as u16, *v).unwrap();
            }
            sheet.write(r, 5, referred).unwrap();
            sheet.write(r, 6, 3).unwrap();
        }
        let bytes = book.save_to_buffer().unwrap();
        let raw =
            super::super::read::read_file(std::path::Path::new("x.xlsx"), &bytes, &p.sources[0])
                .unwrap();
        let c = check_whole(raw, &p);
        assert_eq!(
            texts(&c.rejects, "reason"),
            [
                "is a number, not a date (a cell that lost its date format? Excel's day 45206 is 07/10/2023): format the column as dates in the workbook",
                "is not a date (expected dd/mm/yyyy)",
                "is not a date (expected dd/mm/yyyy)",
                "is not a date (expected dd/mm/yyyy)",
                "is not a date (expected dd/mm/yyyy)"
            ]
        );
    }

    #[test]
    fn a_time_after_a_date_is_dropped() {
        let c = checked(
            "A,1,generic,,p1,01/02/2024 00:00,0\nA,1,generic,,p2,02/02/2024 9:30 pm,0\nA,1,generic,,p3,03/02/2024 10:15:00,0\nA,1,generic,,p4,31/02/2024 10:00,0\n",
        );
        assert_eq!(
            texts(&c.accepted, REFERRAL_DATE),
            ["2024-02-01", "2024-02-02", "2024-02-03"]
        );
        assert_eq!(texts(&c.rejects, "line"), ["5"]);
        assert_eq!(texts(&c.rejects, "value"), ["31/02/2024 10:00"]);
    }

    #[test]
    fn no_date_in_1900_or_earlier_is_a_real_date() {
        // 28/02/1900 is Excel's day 59; 01/01/1901 is the first date kept.
        let c = checked(
            "A,1,generic,,p1,01/01/1900,0\nA,1,generic,,p2,28/02/1900,0\nA,1,generic,,p3,31/12/1899,0\n\
             A,1,generic,,p4,01/01/0001,0\nA,1,generic,,p5,1/1/23,0\nA,1,generic,,p6,31/12/9999,0\n\
             A,1,generic,,p7,01/01/1901,0\n",
        );
        assert_eq!(texts(&c.accepted, SOURCE_LINE), ["8"]);
        assert_eq!(texts(&c.rejects, "line"), ["2", "3", "4", "5", "6", "7"]);
        let reasons = texts(&c.rejects, "reason");
        // Lines 5 and 6 (years 1 and 23) are two-digit years; the rest implausible.
        for (i, r) in reasons.iter().enumerate() {
            let two_digits = i == 3 || i == 4;
            let says = match two_digits {
                true => "has a year before 100",
                false => "is not a plausible date (in 1900 or earlier",
            };
            assert!(r.starts_with(says), "{i}: {r}");
        }
    }

    #[test]
    fn the_duplicate_rule_keeps_the_first_row() {
        let c = checked(
            "A,1,generic,,p1,01/02/2024,0\nA,2,generic,,p1,01/02/2024,0\nA,1,generic,,p1,03/02/2024,0\n",
        );
        // Lines 2 and 4: same person, provider and course; line 3 is another course.
        assert_eq!(texts(&c.accepted, SOURCE_LINE), ["2", "3"]);
        assert_eq!(
            texts(&c.rejects, "reason"),
            ["duplicate referral: same person and course as line 2 (the first is kept)"]
        );
        assert_eq!(texts(&c.rejects, "line"), ["4"]);
        assert_eq!(texts(&c.rejects, "value"), [MASKED]);
        assert_eq!(c.rows_before_folding, 2);
    }

    #[test]
    fn a_starter_needs_the_course_start_date() {
        // Line 2 attended two sessions with no course start; line 3 attended none.
        let c = checked("A,1,generic,,p1,01/02/2024,2\nA,1,generic,,p2,01/02/2024,0\n");
        assert_eq!(texts(&c.accepted, SOURCE_LINE), ["3"]);
        assert_eq!(
            texts(&c.rejects, "reason"),
            ["is empty, but the person attended a session (a starter needs the course start date)"]
        );
        assert_eq!(texts(&c.rejects, "field"), [COURSE_START_DATE]);
    }

    #[test]
    fn a_course_keeps_the_start_date_most_rows_give() {
        let c = checked(
            "A,1,generic,05/03/2024,p1,01/02/2024,1\nA,1,generic,06/03/2024,p2,01/02/2024,1\nA,1,generic,06/03/2024,p3,01/02/2024,1\n",
        );
        assert_eq!(texts(&c.accepted, COURSE_START_DATE), ["2024-03-06"; 3]);
        assert_eq!(texts(&c.warnings, "line"), ["2"]);
        assert_eq!(
            texts(&c.warnings, "reason"),
            ["differs from the start date most rows of course 1 give, 06/03/2024 (first on line 3); the row is kept with that date"]
        );
    }

    #[test]
    fn an_impossible_discharge_date_is_blanked_and_counts_no_bed_days() {
        let toml = include_str!("../../../tests/fixtures/apc_pipeline.toml");
        let mut p =
            crate::pipeline::parse(std::path::Path::new("t.toml"), toml, toml.as_bytes()).unwrap();
        let nhs = |i| crate::ingest::nhs::with_check_digit(900_000_000 + i).unwrap();
        let rows: Vec<String> = [
            "2023-08-03",
            "9999-12-31",
            "2099-01-01",
            "1900-01-01",
            "1801-01-01",
        ]
        .iter()
        .zip([0u64, 7, 14, 21, 28])
        .map(|(d, i)| format!("{},2023-08-01,{d},21,1", nhs(i)))
        .collect();
        let text = format!(
            "NHSNO,ADMIDATE,DISDATE,ADMIMETH,EPIORDER\n{}\n",
            rows.join("\n")
        );
        let check = |p: &crate::pipeline::Pipeline| {
            let raw = super::super::read::read_file(
                std::path::Path::new("apc.csv"),
                text.as_bytes(),
                &p.sources[0],
            )
            .unwrap();
            check_whole(raw, p)
        };
        // Without a stated coverage end, after 2100 is impossible.
        let c = check(&p);
        assert_eq!(c.accepted.height(), 5);
        assert_eq!(
            texts(&c.accepted, DISCHARGE_DATE),
            ["2023-08-03", "", "2099-01-01", "", ""]
        );
        assert_eq!(
            texts(&c.accepted, DISCHARGE_DATE_STATUS),
            ["ok", "missing", "ok", "missing", "hes_sentinel_1801-01-01"]
        );
        assert_eq!(texts(&c.warnings, "line"), ["3", "5"]);
        // With one, more than a year after it is impossible too.
        p.settings.hospital_coverage_end = NaiveDate::from_ymd_opt(2025, 9, 30);
        let c = check(&p);
        assert_eq!(texts(&c.warnings, "line"), ["3", "4", "5"]);
        assert!(texts(&c.warnings, "reason")[1]
            .contains("more than a year after the hospital coverage ends (2025-09-30)"));
    }

    /// An APC extract with spells that cross batch boundaries, bad rows,
    /// blanked values, sentinel dates and ragged lines.
    fn apc_text() -> String {
        let mut text = "NHSNO,ADMIDATE,DISDATE,ADMIMETH,EPIORDER\r\n".to_string();
        for i in 0..3000u64 {
            let nhs = crate::ingest::nhs::with_check_digit(900_000_000 + (i * 7) % 400)
                .unwrap_or_else(|| "123".into());
            let day = 1 + (i % 5);
            let row = match i % 50 {
                3 => format!("{nhs},2024-02-3x,2024-03-01,21,1"),
                4 => format!("{nhs},1800-01-01,,21,1"),
                5 => "9434765918,2024-01-02,2024-01-03,21,1".to_string(),
                6 => format!("{nhs},2024-01-0{day}"),
                7 => format!("{nhs},2024-01-0{day},2024-01-01,21,1"),
                8 => String::new(),
                _ => format!(
                    "{nhs},2024-01-0{day},2024-01-1{day},2{},{}",
                    i % 3,
                    1 + i % 4
                ),
            };
            text.push_str(&row);
            text.push_str(if i % 2 == 0 { "\r\n" } else { "\n" });
        }
        text
    }

    #[test]
    fn a_hospital_file_checked_in_batches_gives_what_it_gives_whole() {
        let toml = include_str!("../../../tests/fixtures/apc_pipeline.toml");
        let p =
            crate::pipeline::parse(std::path::Path::new("t.toml"), toml, toml.as_bytes()).unwrap();
        let src = &p.sources[0];
        assert!(checks_in_batches(src));
        let key = Arc::new(b"k".to_vec());
        let text = apc_text();
        let path = std::path::Path::new("apc.csv");
        let raw = super::super::read::read_file(path, text.as_bytes(), src).unwrap();
        let whole = check_whole(raw, &p);
        let mut batches = Vec::new();
        let mut rows_read = 0;
        super::super::read::read_batches(path, text.as_bytes(), src, 4096, |raw| {
            rows_read += raw.rows_read;
            batches.push(check_rows(raw, src, &p.settings, &key, None).unwrap());
            Ok::<(), crate::error::InputError>(())
        })
        .unwrap();
        assert!(batches.len() > 10, "{} batches", batches.len());
        let parts = finish(batches, src).unwrap();
        // Spells span batches (a person's episodes are 400 rows apart).
        assert!(whole.accepted.height() < whole.rows_before_folding);
        assert!(whole.rejects.height() > 100);
        assert!(whole.sentinel_dates > 0);
        assert_eq!(
            rows_read,
            whole.rows_before_folding + whole.rejects.height()
        );
        assert_eq!(parts.rows_before_folding, whole.rows_before_folding);
        assert_eq!(parts.sentinel_dates, whole.sentinel_dates);
        for (a, b) in [
            (&parts.accepted, &whole.accepted),
            (&parts.rejects, &whole.rejects),
            (&parts.warnings, &whole.warnings),
        ] {
            assert!(a.equals_missing(b), "{a}\n{b}");
        }
    }

    #[test]
    fn an_outpatient_status_outside_the_codes_is_a_warning_and_no_attendance() {
        // Line 3's 9 is no code: left blank (so no outcome, not an attendance), with a warning.
        let toml = "name = \"h\"\n[privacy]\nkey_env = \"K\"\n[[sources]]\nname = \"op\"\nkind = \"hospital\"\nfiles = [\"op.csv\"]\nid_kind = \"pseudonym\"\n[sources.constants]\nsetting = \"op\"\n[sources.columns]\nperson_id = \"ID\"\nevent_date = \"APPTDATE\"\nattendance_status = \"ATTENDED\"\n";
        let p =
            crate::pipeline::parse(std::path::Path::new("t.toml"), toml, toml.as_bytes()).unwrap();
        let text = "ID,APPTDATE,ATTENDED\na,2024-01-02,5\nb,2024-01-02,9\nc,2024-01-02,3\n";
        let path = std::path::Path::new("op.csv");
        let raw = super::super::read::read_file(path, text.as_bytes(), &p.sources[0]).unwrap();
        let c = check_whole(raw, &p);
        assert_eq!((c.accepted.height(), c.rejects.height()), (3, 0));
        assert_eq!(texts(&c.warnings, "field"), ["attendance_status"]);
        assert_eq!(texts(&c.warnings, "line"), ["3"]);
        assert_eq!(
            texts(&c.accepted, ATTENDANCE_OUTCOME),
            ["attended", "", "did_not_attend"]
        );
        // The codes checked are those the outcomes are made from.
        let mut grouped: Vec<&str> = schema::ATTENDANCE_OUTCOMES
            .iter()
            .flat_map(|(_, codes)| codes.iter().copied())
            .collect();
        let mut listed = schema::ATTENDANCE_STATUS_CODES.to_vec();
        grouped.sort();
        listed.sort();
        assert_eq!(grouped, listed);
    }

    #[test]
    fn a_hospital_rows_sentinel_dates_are_counted() {
        // Counted over every row read: both dates on line 2 are sentinels.
        let df = df!(
            "t:event_date" => [NaiveDate::from_ymd_opt(1800, 1, 1), NaiveDate::from_ymd_opt(2024, 1, 1)],
            "t:discharge_date" => [NaiveDate::from_ymd_opt(1801, 1, 1), None],
        )
        .unwrap();
        let mut p = crate::ingest::test_pipeline("");
        p.sources[0].kind = SourceKind::Hospital;
        let present = vec![EVENT_DATE.to_string(), DISCHARGE_DATE.to_string()];
        assert_eq!(
            fields::sentinel_dates(&df, &p.sources[0], &present).unwrap(),
            2
        );
    }
}
