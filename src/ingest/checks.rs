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

fn mapped(f: &str) -> String {
    format!("m:{f}")
}
fn typed(f: &str) -> String {
    format!("t:{f}")
}
/// An NHS number field's check (`nhs::nhs_status`), made while parsing.
fn status(f: &str) -> String {
    format!("n:{f}")
}
fn m(f: &str) -> Expr {
    col(mapped(f))
}
fn t(f: &str) -> Expr {
    col(typed(f))
}

fn date_lit(s: &str) -> Expr {
    lit(NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("constant date"))
}

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

/// Builds the text frame: the mapped fields, constants, and the line of each row.
fn text_frame(raw: RawTable, source: &Source) -> PolarsResult<DataFrame> {
    let height = raw.lines.len();
    let mut cols: Vec<Column> = Vec::new();
    for (field, values) in raw.columns {
        cols.push(values.into_series(&field)?.into_column());
    }
    for (field, value) in &source.constants {
        if !source.columns.contains_key(field) {
            cols.push(Column::new(
                field.as_str().into(),
                vec![value.clone(); height],
            ));
        }
    }
    cols.push(Column::new(LINE.into(), raw.lines));
    DataFrame::new(height, cols)
}

/// The decile the LSOA lookup gives a row (null for no or an unknown code).
const LSOA_DECILE: &str = "_lsoa_decile";

/// Joins the LSOA lookup (`lsoa_code`, `imd_decile` text columns, one row per
/// code) and fills `imd_decile` from it where the row gives none.
fn with_lsoa_deciles(df: DataFrame, lookup: &DataFrame) -> PolarsResult<DataFrame> {
    let has_imd = df
        .get_column_names()
        .iter()
        .any(|c| c.as_str() == IMD_DECILE);
    let lookup = lookup.clone().lazy().select([
        col(LSOA_CODE).alias("_lsoa_key"),
        col(IMD_DECILE).alias(LSOA_DECILE),
    ]);
    let given = if has_imd {
        col(IMD_DECILE)
    } else {
        lit(NULL).cast(DataType::String)
    };
    df.lazy()
        .with_column(col(LSOA_CODE).str().to_uppercase().alias("_lsoa_key"))
        .join(
            lookup,
            [col("_lsoa_key")],
            [col("_lsoa_key")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(given.fill_null(col(LSOA_DECILE)).alias(IMD_DECILE))
        .sort([LINE], SortMultipleOptions::default())
        .select([all().exclude_cols(["_lsoa_key"]).as_expr()])
        .collect()
}

/// Maps values, normalises case and parses every declared field.
fn parse_exprs(source: &Source, present: &[String], key: &Arc<Vec<u8>>) -> (Vec<Expr>, Vec<Expr>) {
    let mut map_exprs = Vec::new();
    let mut typed_exprs = Vec::new();
    for (field, ftype) in source.kind.fields() {
        if !present.iter().any(|p| p == field) {
            continue;
        }
        let mut e = col(field);
        if let Some(map) = source.values.get(field) {
            // Keys are normalised (value_maps::normalise); so is the cell before the lookup.
            let old: Vec<&str> = map.keys().map(String::as_str).collect();
            let new: Vec<&str> = map.values().map(String::as_str).collect();
            let key = normalised_text(col(field));
            e = when(key.clone().in_list(str_series(&old), false))
                .then(key.replace(str_series(&old), str_series(&new)))
                .otherwise(e);
        }
        e = match ftype {
            FieldType::Enum(_) => e.str().to_lowercase(),
            FieldType::Code(_) => e.str().to_uppercase(),
            _ => e,
        };
        map_exprs.push(e.alias(mapped(field)));
        let tex = match ftype {
            // Free text is stored only for declared dimensions and ids; an NHS
            // number typed into it never reaches the warehouse.
            FieldType::Text => nhs::mask(m(field)),
            FieldType::Enum(_) | FieldType::Code(_) => m(field),
            FieldType::Id => match source.id_kind {
                IdKind::NhsNumber => {
                    // The NHS number check, once, for the rules (see `status`).
                    typed_exprs.push(nhs::nhs_status(m(field)).alias(status(field)));
                    nhs::pseudonymise(nhs::strip_separators(m(field)), key.clone())
                }
                IdKind::Pseudonym => m(field),
            },
            FieldType::Date => coalesce(&date_parses(source, field)),
            FieldType::Postcode => m(field),
            FieldType::Int { .. } | FieldType::Flag => m(field).cast(DataType::Float64),
            FieldType::Float { .. } => m(field).cast(DataType::Float64),
        };
        typed_exprs.push(tex.alias(typed(field)));
    }
    (map_exprs, typed_exprs)
}

/// Trimmed, inner spaces collapsed, lower case: how value-map keys are compared.
fn normalised_text(e: Expr) -> Expr {
    e.str()
        .replace_all(lit(r"\s+"), lit(" "), false)
        .str()
        .strip_chars(lit(NULL))
        .str()
        .to_lowercase()
}

/// The field parsed under each of the source's date formats, in order.
fn date_parses(source: &Source, field: &str) -> Vec<Expr> {
    source
        .date_formats_for(field)
        .iter()
        .map(|(f, _)| {
            m(field).str().to_date(StrptimeOptions {
                format: Some(f.as_str().into()),
                strict: false,
                exact: true,
                cache: true,
            })
        })
        .collect()
}

/// True where two formats read the value as different dates (03/04/2024
/// under dd/mm/yyyy and mm/dd/yyyy).
fn date_ambiguous(parses: &[Expr]) -> Expr {
    let mut out = lit(false);
    for (i, a) in parses.iter().enumerate() {
        for b in &parses[i + 1..] {
            out = out.or(a
                .clone()
                .is_not_null()
                .and(b.clone().is_not_null())
                .and(a.clone().neq(b.clone())));
        }
    }
    out
}

/// Fields never sent back in a feedback file: identifiers and free text that
/// may identify someone (the value in question is still in `value`, masked).
const NOT_SENT_BACK: &[&str] = &[POSTCODE, CONDITIONS, LSOA_CODE];

/// The row's own mapped columns, under the source's headers, as a JSON array
/// of [header, value] pairs (in the pipeline's field order); identifiers left out.
fn row_json(source: &Source, present: &[String]) -> Expr {
    let mut pieces = Vec::new();
    for (field, ftype) in source.kind.fields() {
        let Some(header) = source.columns.get(field) else {
            continue;
        };
        if ftype == FieldType::Id
            || NOT_SENT_BACK.contains(&field)
            || !present.iter().any(|p| p == field)
        {
            continue;
        }
        let key = serde_json::to_string(header).unwrap_or_else(|_| "\"\"".into());
        let escaped = col(field)
            .str()
            .replace_all(lit("\\"), lit("\\\\"), true)
            .str()
            .replace_all(lit("\""), lit("\\\""), true)
            .str()
            .replace_all(lit("\n"), lit("\\n"), true)
            .str()
            .replace_all(lit("\r"), lit("\\r"), true)
            .str()
            .replace_all(lit("\t"), lit("\\t"), true);
        let value = when(col(field).is_null())
            .then(lit("null"))
            .otherwise(concat_str([lit("\""), escaped, lit("\"")], "", false));
        pieces.push(concat_str(
            [lit(format!("[{key},")), value, lit("]")],
            "",
            false,
        ));
    }
    if pieces.is_empty() {
        return lit("[]");
    }
    concat_str(
        [lit("["), concat_str(pieces, ",", false), lit("]")],
        "",
        false,
    )
}

/// The provider a row belongs to: its provider_id as given (returns only).
fn provider_of(source: &Source, present: &[String]) -> Expr {
    if source.kind == SourceKind::ProviderReturns && present.iter().any(|p| p == PROVIDER_ID) {
        col(PROVIDER_ID)
    } else {
        lit(NULL).cast(DataType::String)
    }
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

/// A UK postcode, spaces ignored (e.g. SW1A 1AA, M1 1AE, B33 8TH).
const POSTCODE_PATTERN: &str = r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$";

fn value_of(field: &str, ftype: FieldType) -> Expr {
    match ftype {
        FieldType::Id => lit(MASKED),
        _ => col(field),
    }
}

/// Rules that follow from each field's type.
fn type_rules(source: &Source, present: &[String]) -> Vec<Rule> {
    let mut rules = Vec::new();
    let given = |f: &str| m(f).is_not_null();
    for (field, ftype) in source.kind.fields() {
        if !present.iter().any(|p| p == field) {
            continue;
        }
        let value = value_of(field, ftype);
        let mut rule = |fails: Expr, reason: String| {
            rules.push(Rule {
                fails,
                field,
                reason: lit(reason.clone()),
                rule: reason,
                value: value.clone(),
            })
        };
        match ftype {
            FieldType::Text => {}
            FieldType::Id => {
                if source.id_kind == IdKind::NhsNumber {
                    rule(
                        given(field).and(col(status(field)).eq(lit(1u32))),
                        "is not a 10-digit NHS number".into(),
                    );
                    rule(
                        given(field).and(col(status(field)).eq(lit(2u32))),
                        "is not a valid NHS number (fails the Modulus 11 check digit)".into(),
                    );
                } else {
                    // A safety net for a misdeclared source: a "pseudonym" that is a
                    // valid NHS number would reach the warehouse unhashed.
                    rule(
                        given(field).and(nhs::holds_nhs_number(m(field))),
                        "looks like an NHS number, but the source declares id_kind = \"pseudonym\" (declare \"nhs_number\" so that it is hashed)".into(),
                    );
                }
            }
            FieldType::Postcode => rule(
                given(field).and(
                    m(field)
                        .str()
                        .to_uppercase()
                        .str()
                        .replace_all(lit(" "), lit(""), true)
                        .str()
                        .contains(lit(POSTCODE_PATTERN), false)
                        .not(),
                ),
                "is not a UK postcode".into(),
            ),
            FieldType::Date => {
                let labels: Vec<&str> = source
                    .date_formats_for(field)
                    .iter()
                    .map(|(_, l)| l.as_str())
                    .collect();
                if labels.len() > 1 {
                    let parses = date_parses(source, field);
                    let readings: Vec<Expr> = parses
                        .iter()
                        .zip(&labels)
                        .map(|(p, l)| {
                            concat_str(
                                [
                                    p.clone().dt().strftime("%-d %B %Y"),
                                    lit(format!(" under {l}")),
                                ],
                                "",
                                false,
                            )
                        })
                        .collect();
                    rules.push(Rule {
                        fails: date_ambiguous(&parses),
                        field,
                        rule: "is ambiguous: the date formats read it as different dates".into(),
                        reason: concat_str(
                            [
                                lit("is ambiguous: it reads as "),
                                concat_str(readings, " and ", true),
                            ],
                            "",
                            true,
                        ),
                        value: value.clone(),
                    });
                }
                let mut rule = |fails: Expr, reason: String| {
                    rules.push(Rule {
                        fails,
                        field,
                        reason: lit(reason.clone()),
                        rule: reason,
                        value: value.clone(),
                    })
                };
                rule(
                    given(field).and(t(field).is_null()),
                    format!("is not a date (expected {})", labels.join(" or ")),
                );
                // HES uses 1800-01-01 for "null date submitted" and 1801-01-01 for
                // "invalid date submitted": never real dates. A discharge date may
                // carry one (the spell is kept, its discharge flagged); others reject.
                if field != DISCHARGE_DATE {
                    for (d, why) in schema::HES_SENTINEL_DATES {
                        rule(t(field).eq(date_lit(d)), format!("is a {why}"));
                    }
                    rule(
                        t(field)
                            .lt(date_lit("1900-01-01"))
                            .or(t(field).gt(date_lit("2100-12-31"))),
                        "is not a plausible date (before 1900 or after 2100)".into(),
                    );
                }
            }
            FieldType::Enum(values) | FieldType::Code(values) => rule(
                given(field).and(m(field).in_list(str_series(values), false).not()),
                format!(
                    "is not one of {} (map the source's own codes under [sources.values.{field}])",
                    values.join(", ")
                ),
            ),
            FieldType::Int { min, max } => {
                rule(
                    given(field).and(t(field).is_null().or(t(field).neq(t(field).floor()))),
                    "is not a whole number".into(),
                );
                rule(
                    t(field)
                        .lt(lit(min as f64))
                        .or(t(field).gt(lit(max as f64))),
                    format!("is out of range (expected {min} to {max})"),
                );
            }
            FieldType::Float { min, max } => {
                rule(
                    given(field).and(t(field).is_null()),
                    "is not a number".into(),
                );
                rule(
                    t(field).lt(lit(min)).or(t(field).gt(lit(max))),
                    format!("is out of range (expected {min} to {max})"),
                );
            }
            FieldType::Flag => rule(
                given(field).and(
                    t(field)
                        .in_list(lit(Series::new("".into(), [0.0f64, 1.0])), false)
                        .fill_null(lit(false))
                        .not(),
                ),
                format!("is not 0 or 1 (map Y/N or the like under [sources.values.{field}])"),
            ),
        }
    }
    rules
}

fn required(field: &'static str) -> Rule {
    Rule {
        fails: m(field).is_null(),
        field,
        rule: "is empty; it is required".into(),
        reason: lit("is empty; it is required"),
        value: lit(NULL).cast(DataType::String),
    }
}

fn register_sum(source: &Source) -> Option<Expr> {
    SESSIONS.iter().all(|s| source.has(s)).then(|| {
        SESSIONS
            .iter()
            .map(|s| t(s))
            .reduce(|a, b| a + b)
            .expect("six sessions")
    })
}

/// Rules across fields, per kind of source (SPEC 1.1–1.3).
fn cross_rules(source: &Source, settings: &Settings) -> Vec<Rule> {
    let mut rules = Vec::new();
    match source.kind {
        SourceKind::ProviderReturns => {
            for f in [PROVIDER_ID, COURSE_ID, PROGRAMME, REFERRAL_DATE] {
                rules.push(required(f));
            }
            rules.push(required(PERSON_ID));
            let attended = sessions_expr(source);
            if let (Some(sum), true) = (register_sum(source), source.has(SESSIONS_ATTENDED)) {
                rules.push(Rule {
                    fails: t(SESSIONS_ATTENDED).neq(sum.clone()),
                    field: SESSIONS_ATTENDED,
                    rule: "does not equal the attendance register".into(),
                    reason: concat_str(
                        [
                            lit("does not equal the attendance register, which shows "),
                            sum.cast(DataType::Int64).cast(DataType::String),
                            lit(" sessions"),
                        ],
                        "",
                        true,
                    ),
                    value: col(SESSIONS_ATTENDED),
                });
            }
            if let Some(l) = &source.lsoa_lookup {
                rules.push(Rule {
                    fails: col(LSOA_CODE).is_not_null().and(col(LSOA_DECILE).is_null()),
                    field: LSOA_CODE,
                    rule: "is not an LSOA code in the lookup".into(),
                    reason: lit(format!("is not an LSOA code in the lookup {}", l.file)),
                    value: col(LSOA_CODE),
                });
            }
            if register_sum(source).is_none() {
                rules.push(required(SESSIONS_ATTENDED));
            } else {
                for s in SESSIONS {
                    rules.push(required(s));
                }
            }
            rules.push(Rule {
                fails: attended.gt_eq(lit(1.0)).and(t(COURSE_START_DATE).is_null()),
                field: COURSE_START_DATE,
                rule: "is empty, but the person attended a session".into(),
                reason: lit("is empty, but the person attended a session (a starter needs the course start date)"),
                value: lit(NULL).cast(DataType::String),
            });
            rules.push(Rule {
                fails: t(REFERRAL_DATE).gt(t(COURSE_START_DATE)),
                field: REFERRAL_DATE,
                rule: "is after the course start date".into(),
                reason: concat_str(
                    [
                        lit("is after the course start date "),
                        col(COURSE_START_DATE),
                    ],
                    "",
                    true,
                ),
                value: col(REFERRAL_DATE),
            });
        }
        SourceKind::Hospital => {
            rules.push(required(PERSON_ID));
            rules.push(required(SETTING));
            rules.push(required(EVENT_DATE));
            if source.has(DISCHARGE_DATE) {
                rules.push(Rule {
                    fails: m(SETTING)
                        .eq(lit("apc"))
                        .and(t(DISCHARGE_DATE).lt(t(EVENT_DATE)))
                        .and(t(DISCHARGE_DATE).gt(date_lit("1801-01-01"))),
                    field: DISCHARGE_DATE,
                    rule: "is before the admission date".into(),
                    reason: concat_str(
                        [lit("is before the admission date "), col(EVENT_DATE)],
                        "",
                        true,
                    ),
                    value: col(DISCHARGE_DATE),
                });
            }
        }
        SourceKind::Pam => {
            rules.push(required(PERSON_ID));
            rules.push(required(ASSESSMENT_DATE));
            rules.push(required(SCORE));
            if source.has(LEVEL) {
                let from_score = pam_level(t(SCORE), settings.pam_level4_cut);
                rules.push(Rule {
                    fails: t(LEVEL).cast(DataType::Int32).neq(from_score.clone()),
                    field: LEVEL,
                    rule: "does not match the level of the score".into(),
                    reason: concat_str(
                        [
                            lit("does not match the score "),
                            col(SCORE),
                            lit(", which is level "),
                            from_score.cast(DataType::String),
                        ],
                        "",
                        true,
                    ),
                    value: col(LEVEL),
                });
            }
        }
    }
    rules
}

/// Sessions attended: the given count, else the register's sum.
fn sessions_expr(source: &Source) -> Expr {
    match (source.has(SESSIONS_ATTENDED), register_sum(source)) {
        (true, Some(sum)) => t(SESSIONS_ATTENDED).fill_null(sum),
        (true, None) => t(SESSIONS_ATTENDED),
        (false, Some(sum)) => sum,
        (false, None) => lit(NULL).cast(DataType::Float64),
    }
}

/// Hibbard PAM level from a score (SPEC 1.3).
pub fn pam_level(score: Expr, cut_3_4: f64) -> Expr {
    when(score.clone().lt_eq(lit(schema::PAM_CUT_1_2)))
        .then(lit(1i32))
        .when(score.clone().lt_eq(lit(schema::PAM_CUT_2_3)))
        .then(lit(2i32))
        .when(score.clone().lt_eq(lit(cut_3_4)))
        .then(lit(3i32))
        .when(score.is_not_null())
        .then(lit(4i32))
        .otherwise(lit(NULL).cast(DataType::Int32))
}

fn code_group(code: Expr, groups: &[(&str, &[&str])]) -> Expr {
    let mut e: Option<Expr> = None;
    for (name, codes) in groups.iter().rev() {
        let inner = e.unwrap_or_else(|| {
            when(code.clone().is_null())
                .then(lit(NULL).cast(DataType::String))
                .otherwise(lit("unknown"))
        });
        e = Some(
            when(code.clone().in_list(str_series(codes), false))
                .then(lit(*name))
                .otherwise(inner),
        );
    }
    e.expect("groups")
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

/// Keys of a duplicate row, per kind (SPEC 3: same person, same course).
fn duplicate_key(source: &Source) -> Vec<&'static str> {
    match source.kind {
        SourceKind::ProviderReturns => vec![PERSON_ID, PROVIDER_ID, COURSE_ID],
        // Two attendances on one day are real: hospital rows are not de-duplicated.
        SourceKind::Hospital => vec![],
        SourceKind::Pam => vec![PERSON_ID, ASSESSMENT_DATE, SCORE],
    }
}

/// The canonical output columns of accepted rows.
fn output_exprs(source: &Source, present: &[String], settings: &Settings) -> Vec<Expr> {
    let mut out = Vec::new();
    let has = |f: &str| present.iter().any(|p| p == f);
    let typed_or_null = |f: &str, dt: DataType| {
        if has(f) {
            t(f).cast(dt).alias(f)
        } else {
            lit(NULL).cast(dt).alias(f)
        }
    };
    match source.kind {
        SourceKind::ProviderReturns => {
            for f in [PROVIDER_ID, COURSE_ID, PROGRAMME] {
                out.push(typed_or_null(f, DataType::String));
            }
            out.push(typed_or_null(COURSE_START_DATE, DataType::Date));
            out.push(typed_or_null(COURSE_LANGUAGE, DataType::String));
            out.push(typed_or_null(PERSON_ID, DataType::String));
            out.push(typed_or_null(REFERRAL_DATE, DataType::Date));
            out.push(typed_or_null(REFERRAL_SOURCE, DataType::String));
            for s in SESSIONS {
                out.push(typed_or_null(s, DataType::Int8));
            }
            out.push(
                sessions_expr(source)
                    .cast(DataType::Int8)
                    .alias(SESSIONS_ATTENDED),
            );
            out.push(typed_or_null(SEX, DataType::String));
            out.push(typed_or_null(AGE_BAND, DataType::String));
            out.push(typed_or_null(YEAR_OF_BIRTH, DataType::Int32));
            out.push(typed_or_null(ETHNICITY, DataType::String));
            out.push(typed_or_null(IMD_DECILE, DataType::Int8));
            out.push(typed_or_null(LTC_COUNT, DataType::Int16));
            // `conditions` is free text that no table declares: checked, never stored.
        }
        SourceKind::Hospital => {
            out.push(typed_or_null(PERSON_ID, DataType::String));
            out.push(typed_or_null(SETTING, DataType::String));
            out.push(typed_or_null(EVENT_DATE, DataType::Date));
            let apc = t(SETTING).eq(lit("apc"));
            let sentinel = if has(DISCHARGE_DATE) {
                t(DISCHARGE_DATE).lt_eq(date_lit("1801-01-01"))
            } else {
                lit(false)
            };
            out.push(
                when(apc.clone().and(sentinel.clone().not()))
                    .then(typed_or_null(DISCHARGE_DATE, DataType::Date))
                    .otherwise(lit(NULL).cast(DataType::Date))
                    .alias(DISCHARGE_DATE),
            );
            let status = if has(DISCHARGE_DATE) {
                when(apc.clone().not())
                    .then(lit("not_applicable"))
                    .when(sentinel)
                    .then(concat_str(
                        [lit("hes_sentinel_"), col(DISCHARGE_DATE)],
                        "",
                        true,
                    ))
                    .when(t(DISCHARGE_DATE).is_null())
                    .then(lit("missing"))
                    .otherwise(lit("ok"))
            } else {
                when(apc.clone())
                    .then(lit("missing"))
                    .otherwise(lit("not_applicable"))
            };
            out.push(status.alias(DISCHARGE_DATE_STATUS));
            let adm = typed_or_null(ADMISSION_METHOD, DataType::String);
            out.push(
                when(apc.clone())
                    .then(adm.clone())
                    .otherwise(lit(NULL).cast(DataType::String))
                    .alias(ADMISSION_METHOD),
            );
            out.push(
                when(apc)
                    .then(code_group(
                        adm.str().to_uppercase(),
                        schema::ADMISSION_METHODS,
                    ))
                    .otherwise(lit(NULL).cast(DataType::String))
                    .alias(ADMISSION_TYPE),
            );
            out.push(typed_or_null(AE_DEPARTMENT_TYPE, DataType::String));
            let att = typed_or_null(ATTENDANCE_STATUS, DataType::String);
            let op = t(SETTING).eq(lit("op"));
            out.push(
                when(op.clone())
                    .then(att.clone())
                    .otherwise(lit(NULL).cast(DataType::String))
                    .alias(ATTENDANCE_STATUS),
            );
            out.push(
                when(op)
                    .then(code_group(att, schema::ATTENDANCE_OUTCOMES))
                    .otherwise(lit(NULL).cast(DataType::String))
                    .alias(ATTENDANCE_OUTCOME),
            );
            out.push(typed_or_null(EPISODE_ORDER, DataType::Int32));
            out.push(typed_or_null(SPELL_ID, DataType::String));
        }
        SourceKind::Pam => {
            out.push(typed_or_null(PERSON_ID, DataType::String));
            out.push(typed_or_null(ASSESSMENT_DATE, DataType::Date));
            out.push(typed_or_null(SCORE, DataType::Float64));
            out.push(pam_level(t(SCORE), settings.pam_level4_cut).alias(LEVEL));
        }
    }
    out.push(col(LINE).alias(SOURCE_LINE));
    out
}

/// Folds APC episodes into spells: one row per spell key, dated by the first
/// episode's admission date and the last episode's discharge (SPEC 1.2).
fn fold_spells(df: DataFrame, key: &[String]) -> PolarsResult<DataFrame> {
    let is_apc = col(SETTING).eq(lit("apc"));
    let order = if df
        .get_column_names()
        .iter()
        .any(|c| c.as_str() == EPISODE_ORDER)
    {
        vec![col(EPISODE_ORDER), col(SOURCE_LINE)]
    } else {
        vec![col(SOURCE_LINE)]
    };
    let key_exprs: Vec<Expr> = key.iter().map(|k| col(k.as_str())).collect();
    let last_fields = [DISCHARGE_DATE, DISCHARGE_DATE_STATUS];
    // Which rows make each output row: a spell takes every column from its
    // first episode (in episode order) but the discharge from its last; any
    // other row is itself. Only row numbers are sorted and grouped, and the
    // columns are gathered once, in line order.
    let mut needed: Vec<&str> = key.iter().map(String::as_str).collect();
    for c in [SETTING, SOURCE_LINE, EPISODE_ORDER] {
        if !needed.contains(&c) && df.column(c).is_ok() {
            needed.push(c);
        }
    }
    let numbered = df
        .clone()
        .lazy()
        .select(needed.iter().map(|c| col(*c)).collect::<Vec<_>>())
        .with_row_index("_i", None);
    let spells = numbered
        .clone()
        .filter(is_apc.clone())
        .sort_by_exprs(order, SortMultipleOptions::default())
        .group_by_stable(key_exprs)
        .agg([
            col("_i").first().alias("_first"),
            col("_i").last().alias("_last"),
            col(SOURCE_LINE).first().alias("_line"),
            len().cast(DataType::Int32).alias(EPISODES),
        ])
        .select([col("_first"), col("_last"), col("_line"), col(EPISODES)]);
    let others = numbered.filter(is_apc.not()).select([
        col("_i").alias("_first"),
        col("_i").alias("_last"),
        col(SOURCE_LINE).alias("_line"),
        lit(1i32).alias(EPISODES),
    ]);
    let rows = concat([spells, others], UnionArgs::default())?
        .sort(["_line"], SortMultipleOptions::default())
        .collect()?;
    let first = rows.column("_first")?.idx()?;
    let last = rows.column("_last")?.idx()?;
    let mut cols: Vec<Column> = Vec::with_capacity(df.width() + 1);
    for c in df.columns() {
        let at = if last_fields.contains(&c.name().as_str()) {
            last
        } else {
            first
        };
        cols.push(c.take(at)?);
    }
    cols.push(rows.column(EPISODES)?.clone());
    DataFrame::new(rows.height(), cols)
}

/// A course has one start date (course ids are unique within a provider).
/// Where its rows disagree, the date most of its dated rows give wins (a tie
/// goes to the date seen first); a row giving another date is kept, set to
/// that date, and warned, naming the date and the line it was first given on.
fn course_majority(df: DataFrame, source: &Source) -> PolarsResult<(DataFrame, DataFrame)> {
    let course = [col(PROVIDER_ID), col(COURSE_ID)];
    let votes = df
        .clone()
        .lazy()
        .filter(col(COURSE_START_DATE).is_not_null())
        .group_by([col(PROVIDER_ID), col(COURSE_ID), col(COURSE_START_DATE)])
        .agg([
            len().alias("_votes"),
            col(SOURCE_LINE).min().alias("_course_line"),
        ])
        .sort_by_exprs(
            [col("_votes"), col("_course_line")],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .group_by(course.clone())
        .agg([
            col(COURSE_START_DATE).first().alias("_course_start"),
            col("_course_line").first(),
        ]);
    let marked = df
        .lazy()
        .join(
            votes,
            course.clone(),
            course,
            JoinArgs::new(JoinType::Left).with_coalesce(JoinCoalesce::CoalesceColumns),
        )
        .sort([SOURCE_LINE], SortMultipleOptions::default())
        .collect()?;
    let conflict = col(COURSE_START_DATE)
        .neq(col("_course_start"))
        .fill_null(lit(false));
    let fmt = source.date_formats_for(COURSE_START_DATE)[0].0.as_str();
    let warnings = marked
        .clone()
        .lazy()
        .filter(conflict.clone())
        .select([
            col(SOURCE_LINE).alias("line"),
            lit(COURSE_START_DATE).alias("field"),
            lit("differs from the course's start date").alias("rule"),
            concat_str(
                [
                    lit("differs from the start date most rows of course "),
                    col(COURSE_ID),
                    lit(" give, "),
                    col("_course_start").dt().strftime(fmt),
                    lit(" (first on line "),
                    col("_course_line").cast(DataType::String),
                    lit("); the row is kept with that date"),
                ],
                "",
                true,
            )
            .alias("reason"),
            col(COURSE_START_DATE).dt().strftime(fmt).alias("value"),
        ])
        .collect()?;
    let kept = marked
        .lazy()
        .with_column(
            when(conflict)
                .then(col("_course_start"))
                .otherwise(col(COURSE_START_DATE))
                .alias(COURSE_START_DATE),
        )
        .select([all()
            .exclude_cols(["_course_start", "_course_line"])
            .as_expr()])
        .collect()?;
    Ok((kept, warnings))
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

/// Checks one file's rows. `key` is the HMAC key for NHS numbers.
pub fn check(
    raw: RawTable,
    source: &Source,
    settings: &Settings,
    key: &Arc<Vec<u8>>,
    lsoa: Option<&DataFrame>,
) -> PolarsResult<Checked> {
    let read_rejects = raw.rejects.clone();
    let mut df = text_frame(raw, source)?;
    if let Some(lookup) = lsoa {
        df = with_lsoa_deciles(df, lookup)?;
    }
    let present: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .filter(|c| c != LINE && c != LSOA_DECILE)
        .collect();
    let (map_exprs, typed_exprs) = parse_exprs(source, &present, key);
    let (blank, mut rules): (Vec<Rule>, Vec<Rule>) = type_rules(source, &present)
        .into_iter()
        .partition(|r| source.on_invalid(r.field) == OnInvalid::Null);
    rules.extend(cross_rules(source, settings));
    let [rf, ru, rr, rv] = first_failure(&rules);

    let parsed = df
        .lazy()
        .with_columns(map_exprs)
        .with_columns(typed_exprs)
        .collect()?;
    // An invalid value of a field that may be blank is blanked, and the row
    // kept with a warning; the rules below then see it as empty.
    let (parsed, warnings) = blank_invalid(parsed, &blank)?;
    let checked = parsed
        .lazy()
        .with_column(first_failure_index(&rules).alias(R_INDEX))
        .collect()?;
    // The messages, for the failing rows only.
    let failing = checked
        .clone()
        .lazy()
        .filter(col(R_INDEX).is_not_null())
        .with_columns([rf, ru, rr, rv])
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

    let sentinel_dates = {
        let mut n = 0usize;
        for (field, ftype) in source.kind.fields() {
            if ftype == FieldType::Date && present.iter().any(|p| p == field) {
                let c = checked
                    .clone()
                    .lazy()
                    .select([t(field)
                        .in_list(
                            lit(Series::new(
                                "".into(),
                                [
                                    NaiveDate::from_ymd_opt(1800, 1, 1).expect("date"),
                                    NaiveDate::from_ymd_opt(1801, 1, 1).expect("date"),
                                ],
                            )),
                            false,
                        )
                        .sum()
                        .cast(DataType::UInt64)
                        .alias("n")])
                    .collect()?;
                n += c.column("n")?.u64()?.get(0).unwrap_or(0) as usize;
            }
        }
        n
    };

    // Each reject's row as sent, built for the rejected rows only (below).
    // Without a duplicate key (hospital rows) every reject with a row is a
    // failing row, so they are built now and the whole checked frame is not
    // held while the rest is done.
    let row_of = |lf: LazyFrame| {
        lf.select([
            col(LINE).alias("_row_line"),
            provider_of(source, &present).alias("provider"),
            row_json(source, &present).alias("row"),
        ])
    };
    let rows = if duplicate_key(source).is_empty() {
        row_of(failing.clone().lazy()).collect()?.lazy()
    } else {
        row_of(checked.clone().lazy())
    };
    let reject_cols = [
        col(LINE).alias("line"),
        col(R_FIELD).alias("field"),
        col(R_RULE).alias("rule"),
        col(R_REASON).alias("reason"),
        col(R_VALUE).alias("value"),
    ];
    let rejected = failing
        .lazy()
        .filter(col(R_REASON).is_not_null())
        .select(reject_cols.clone())
        .collect()?;
    let accepted = checked
        .lazy()
        .filter(kept)
        .select(output_exprs(source, &present, settings))
        .collect()?;

    // Duplicates: the first row (lowest line) is kept; later ones are rejected
    // naming the line they repeat.
    let key_cols: Vec<Expr> = duplicate_key(source).into_iter().map(col).collect();
    let first_line = if key_cols.is_empty() {
        col(SOURCE_LINE)
    } else {
        col(SOURCE_LINE).min().over(key_cols)?
    };
    let marked = accepted
        .lazy()
        .with_column(first_line.alias("_first_line"))
        .collect()?;
    let dup = col(SOURCE_LINE).neq(col("_first_line"));
    let dup_rejects = marked
        .clone()
        .lazy()
        .filter(dup.clone())
        .select([
            col(SOURCE_LINE).alias("line"),
            lit(match source.kind {
                SourceKind::ProviderReturns => PERSON_ID,
                _ => "",
            })
            .alias("field"),
            lit(match source.kind {
                SourceKind::ProviderReturns => "duplicate referral",
                _ => "duplicate row",
            })
            .alias("rule"),
            concat_str(
                [
                    lit(match source.kind {
                        SourceKind::ProviderReturns => {
                            "duplicate referral: same person and course as line "
                        }
                        _ => "duplicate row: same values as line ",
                    }),
                    col("_first_line").cast(DataType::String),
                    lit(" (the first is kept)"),
                ],
                "",
                true,
            )
            .alias("reason"),
            lit(MASKED).alias("value"),
        ])
        .collect()?;
    let mut accepted = marked
        .lazy()
        .filter(dup.not())
        .drop(Selector::ByName {
            names: Arc::from(vec![PlSmallStr::from("_first_line")]),
            strict: true,
        })
        .collect()?;
    // Warnings of rows rejected for another reason are not kept: the reject says it.
    let mut warnings = without_lines_of(warnings, &rejected)?;
    if source.kind == SourceKind::ProviderReturns {
        let (kept, course_warnings) = course_majority(accepted, source)?;
        accepted = kept;
        warnings = warnings.vstack(&course_warnings)?;
    }

    let rows_before_folding = accepted.height();
    if let (SourceKind::Hospital, Some(key)) = (source.kind, &source.spell_key) {
        accepted = fold_spells(accepted, key)?;
    } else if source.kind == SourceKind::Hospital {
        // Every hospital part has the same columns: a row not folded is one episode.
        accepted = accepted
            .lazy()
            .with_column(lit(1i32).alias(EPISODES))
            .collect()?;
    }

    let mut rejects = rejected.vstack(&dup_rejects)?;
    // A duplicate's warnings go with it.
    let warnings = without_lines_of(warnings, &dup_rejects)?;
    if !read_rejects.is_empty() {
        let extra = df!(
            "line" => read_rejects.iter().map(|r| r.line).collect::<Vec<_>>(),
            "field" => read_rejects.iter().map(|r| r.field.clone()).collect::<Vec<_>>(),
            "rule" => read_rejects.iter().map(|_| "wrong number of fields".to_string()).collect::<Vec<_>>(),
            "reason" => read_rejects.iter().map(|r| r.reason.clone()).collect::<Vec<_>>(),
            "value" => read_rejects.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        )?;
        rejects = rejects.vstack(&extra)?;
    }
    // Each reject carries its row's own columns, for the provider's feedback file.
    // Every value and message written to rejects passes the one masking function.
    let rows = rows.join(
        rejects.clone().lazy().select([col("line")]),
        [col("_row_line")],
        [col("line")],
        JoinArgs::new(JoinType::Semi),
    );
    let rejects = rejects
        .lazy()
        .join(
            rows,
            [col("line")],
            [col("_row_line")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(["line"], SortMultipleOptions::default())
        .with_columns([
            nhs::mask(col("reason")),
            nhs::mask(col("value")),
            nhs::mask(col("provider")),
            nhs::mask(col("row")),
        ])
        .collect()?;
    let warnings = warnings
        .sort(["line"], SortMultipleOptions::default())?
        .lazy()
        .with_columns([nhs::mask(col("reason")), nhs::mask(col("value"))])
        .collect()?;
    Ok(Checked {
        accepted,
        rejects,
        warnings,
        rows_before_folding,
        sentinel_dates,
    })
}
