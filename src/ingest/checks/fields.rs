//! The rules that follow from each field's type: NHS numbers, postcodes,
//! dates (ambiguous, HES sentinels, implausible), codes, numbers and flags.

use super::*;

/// True where two formats read the value as different dates (03/04/2024
/// under dd/mm/yyyy and mm/dd/yyyy).
pub(super) fn date_ambiguous(parses: &[Expr]) -> Expr {
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

/// A UK postcode, spaces ignored (e.g. SW1A 1AA, M1 1AE, B33 8TH).
pub(super) const POSTCODE_PATTERN: &str = r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$";

/// The value a reject shows for a field: an identifier is masked.
pub(super) fn value_of(field: &str, ftype: FieldType) -> Expr {
    match ftype {
        FieldType::Id => lit(MASKED),
        _ => col(field),
    }
}

/// A rule whose reason is fixed text (its own wording for counting).
fn fixed(field: &'static str, fails: Expr, reason: String, value: &Expr) -> Rule {
    Rule {
        fails,
        field,
        reason: lit(reason.clone()),
        rule: reason,
        value: value.clone(),
    }
}

/// True where the field has a value (before parsing).
fn given(field: &str) -> Expr {
    m(field).is_not_null()
}

/// Rules that follow from each field's type, in the pipeline's field order.
pub(super) fn type_rules(source: &Source, present: &[String], settings: &Settings) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (field, ftype) in source.kind.fields() {
        if !present.iter().any(|p| p == field) {
            continue;
        }
        let value = value_of(field, ftype);
        match ftype {
            FieldType::Text => {}
            FieldType::Id => rules.extend(id_rules(source, field, &value)),
            FieldType::Postcode => rules.push(postcode_rule(field, &value)),
            FieldType::Date => rules.extend(date_rules(source, field, &value, settings)),
            FieldType::Enum(values) | FieldType::Code(values) => rules.push(fixed(
                field,
                given(field).and(m(field).in_list(str_series(values), false).not()),
                format!(
                    "is not one of {} (map the source's own codes under [sources.values.{field}])",
                    values.join(", ")
                ),
                &value,
            )),
            FieldType::Int { min, max } => rules.extend(int_rules(field, min, max, &value)),
            FieldType::Float { min, max } => rules.extend(float_rules(field, min, max, &value)),
            FieldType::Flag => rules.push(flag_rule(field, &value)),
        }
    }
    rules
}

/// An identifier: a valid NHS number where the source declares NHS numbers;
/// otherwise not an NHS number at all.
fn id_rules(source: &Source, field: &'static str, value: &Expr) -> Vec<Rule> {
    if source.id_kind == IdKind::NhsNumber {
        return vec![
            fixed(
                field,
                given(field).and(col(status(field)).eq(lit(1u32))),
                "is not a 10-digit NHS number".into(),
                value,
            ),
            fixed(
                field,
                given(field).and(col(status(field)).eq(lit(2u32))),
                "is not a valid NHS number (fails the Modulus 11 check digit)".into(),
                value,
            ),
        ];
    }
    // A safety net for a misdeclared source: a "pseudonym" that is a
    // valid NHS number would reach the warehouse unhashed.
    vec![
        fixed(
            field,
            given(field).and(nhs::holds_nhs_number(m(field))),
            "looks like an NHS number, but the source declares id_kind = \"pseudonym\" (declare \"nhs_number\" so that it is hashed)".into(),
            value,
        ),
        fixed(
            field,
            given(field).and(is_placeholder(m(field))),
            "is a placeholder for a missing id (such as NULL, N/A or an unseen character), not a pseudonym: every such row would be one person".into(),
            value,
        ),
    ]
}

/// What exports write for a missing id; compared with case folded.
const PLACEHOLDERS: [&str; 17] = [
    "NULL",
    "(NULL)",
    "<NULL>",
    "N/A",
    "#N/A",
    "#NA",
    "NA",
    "<NA>",
    "NAN",
    "NONE",
    "NIL",
    "UNKNOWN",
    "NOT KNOWN",
    "NK",
    "-",
    "--",
    "?",
];

/// Characters that show nothing: format characters (zero-width spaces and
/// joiners, direction marks, soft hyphen, BOM, tags), combining marks on
/// their own, and the blank-looking letters (braille blank, Hangul fillers).
const UNSEEN: &str = "[\\p{Cf}\\p{Mn}\\p{Me}\\u{2800}\\u{3164}\\u{115F}\\u{1160}\\u{FFA0}]";

/// True where an id is a placeholder: one of [`PLACEHOLDERS`], or
/// nothing but unseen characters ([`UNSEEN`], which the reader's trimming of
/// spaces leaves), once the unseen characters are taken out.
fn is_placeholder(id: Expr) -> Expr {
    let seen = id
        .str()
        .replace_all(lit(UNSEEN), lit(""), false)
        .str()
        .strip_chars(lit(NULL));
    let upper = seen.clone().str().to_uppercase();
    seen.str()
        .len_bytes()
        .eq(lit(0u32))
        .or(upper.in_list(str_series(&PLACEHOLDERS), false))
}

/// A UK postcode, spaces and case ignored.
fn postcode_rule(field: &'static str, value: &Expr) -> Rule {
    let compact = m(field)
        .str()
        .to_uppercase()
        .str()
        .replace_all(lit(" "), lit(""), true);
    fixed(
        field,
        given(field).and(compact.str().contains(lit(POSTCODE_PATTERN), false).not()),
        "is not a UK postcode".into(),
        value,
    )
}

/// A sheet's date cell that holds a five-digit whole number, not a date:
/// nearly always a date whose cell lost its date format (Excel counts days
/// from 30 December 1899, so 45206 is 07/10/2023). Said as such, with the
/// date it would be, rather than as text that is not a date.
fn day_number_rule(field: &'static str, value: &Expr) -> Rule {
    const RULE: &str = "is a number, not a date";
    let day = m(field)
        .str()
        .strip_chars(lit(NULL))
        .str()
        .strip_suffix(lit(".0"));
    let is_day = day.clone().str().contains(lit(r"^[1-9][0-9]{4}$"), false);
    // Excel's day 25569 is 1 January 1970, day 0 of a polars date. Only a
    // five-digit day is turned into a date: a larger number would be a date
    // past what polars can write, and the column is converted whole.
    let five_digit = when(is_day.clone())
        .then(day.cast(DataType::Int32))
        .otherwise(lit(NULL).cast(DataType::Int32));
    let date = (five_digit - lit(25569i32))
        .cast(DataType::Date)
        .dt()
        .to_string("%d/%m/%Y");
    Rule {
        fails: given(field).and(t(field).is_null()).and(is_day),
        field,
        reason: concat_str(
            [
                lit(format!(
                    "{RULE} (a cell that lost its date format? Excel's day "
                )),
                m(field),
                lit(" is "),
                date,
                lit("): format the column as dates in the workbook"),
            ],
            "",
            true,
        ),
        rule: RULE.into(),
        value: value.clone(),
    }
}

/// A date: not ambiguous between the source's formats, a date under one of
/// them, and (but for a discharge date) no HES sentinel and not implausible;
/// a discharge date not implausible either (`discharge_rule`).
fn date_rules(
    source: &Source,
    field: &'static str,
    value: &Expr,
    settings: &Settings,
) -> Vec<Rule> {
    let labels: Vec<&str> = source
        .date_formats_for(field)
        .iter()
        .map(|(_, l)| l.as_str())
        .collect();
    let mut rules = Vec::new();
    if labels.len() > 1 {
        rules.push(ambiguous_date_rule(source, field, &labels, value));
    }
    if source.format == crate::pipeline::Format::Xlsx {
        rules.push(day_number_rule(field, value));
    }
    rules.push(fixed(
        field,
        given(field).and(t(field).is_null()),
        format!("is not a date (expected {})", labels.join(" or ")),
        value,
    ));
    // HES uses 1800-01-01 for "null date submitted" and 1801-01-01 for
    // "invalid date submitted": never real dates. A discharge date may
    // carry one (the spell is kept, its discharge flagged); others reject.
    if field == DISCHARGE_DATE {
        rules.push(discharge_rule(value, settings));
    } else {
        for (d, why) in schema::HES_SENTINEL_DATES {
            rules.push(fixed(
                field,
                t(field).eq(date_lit(d)),
                format!("is a {why}"),
                value,
            ));
        }
        // A year written with two digits (1/1/23) reads as the year 23.
        rules.push(fixed(
            field,
            t(field).dt().year().lt(lit(100)),
            "has a year before 100 (a two-digit year, as in 1/1/23?): write the year in full"
                .into(),
            value,
        ));
        // Excel's day numbers 1 to 366 fall in 1900 (a number read as a
        // date), and 1900-01-01 is a common default for a missing date.
        rules.push(fixed(
            field,
            t(field)
                .lt(date_lit(EARLIEST_PLAUSIBLE))
                .or(t(field).gt(date_lit("2100-12-31"))),
            "is not a plausible date (in 1900 or earlier, where 1900-01-01, a common stand-in for a missing date, and spreadsheet day numbers read as dates fall; or after 2100)".into(),
            value,
        ));
    }
    rules
}

/// A discharge date that cannot be real: after 2100 (9999-12-31 is a
/// common "not discharged yet"), more than a year after the hospital
/// coverage ends where the pipeline states it, or in 1900 or earlier
/// without being a HES sentinel (those flag the spell instead). Left blank
/// with a warning, the spell kept: it counts no bed days.
fn discharge_rule(value: &Expr, settings: &Settings) -> Rule {
    let (latest, after) = match settings.hospital_coverage_end {
        Some(end) => (
            end + chrono::Days::new(365),
            format!("more than a year after the hospital coverage ends ({end})"),
        ),
        None => (
            NaiveDate::from_ymd_opt(2100, 12, 31).expect("a date"),
            "after 2100".to_string(),
        ),
    };
    let d = t(DISCHARGE_DATE);
    let latest = date_lit(&latest.format("%Y-%m-%d").to_string());
    fixed(
        DISCHARGE_DATE,
        d.clone().gt(latest).or(d
            .clone()
            .gt(date_lit("1801-01-01"))
            .and(d.lt(date_lit(EARLIEST_PLAUSIBLE)))),
        format!("is not a plausible discharge date ({after}, or in 1900 or earlier)"),
        value,
    )
}

/// The first plausible date: every date in 1900 or earlier is refused.
const EARLIEST_PLAUSIBLE: &str = "1901-01-01";

/// A date two formats read as different dates, its reason naming each reading.
fn ambiguous_date_rule(
    source: &Source,
    field: &'static str,
    labels: &[&str],
    value: &Expr,
) -> Rule {
    let parses = date_parses(source, field);
    let readings: Vec<Expr> = parses
        .iter()
        .zip(labels)
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
    Rule {
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
    }
}

/// A whole number within its range.
fn int_rules(field: &'static str, min: i64, max: i64, value: &Expr) -> Vec<Rule> {
    vec![
        fixed(
            field,
            given(field).and(t(field).is_null().or(t(field).neq(t(field).floor()))),
            "is not a whole number".into(),
            value,
        ),
        fixed(
            field,
            t(field)
                .lt(lit(min as f64))
                .or(t(field).gt(lit(max as f64))),
            format!("is out of range (expected {min} to {max})"),
            value,
        ),
    ]
}

/// A number within its range.
fn float_rules(field: &'static str, min: f64, max: f64, value: &Expr) -> Vec<Rule> {
    vec![
        fixed(
            field,
            given(field).and(t(field).is_null()),
            "is not a number".into(),
            value,
        ),
        fixed(
            field,
            t(field).lt(lit(min)).or(t(field).gt(lit(max))),
            format!("is out of range (expected {min} to {max})"),
            value,
        ),
    ]
}

/// A flag: 0 or 1 (after the source's value map).
fn flag_rule(field: &'static str, value: &Expr) -> Rule {
    fixed(
        field,
        given(field).and(
            t(field)
                .in_list(lit(Series::new("".into(), [0.0f64, 1.0])), false)
                .fill_null(lit(false))
                .not(),
        ),
        format!("is not 0 or 1 (map Y/N or the like under [sources.values.{field}])"),
        value,
    )
}

/// How many date values are HES sentinels (1800-01-01, 1801-01-01), over
/// every date field of every row read, rejected or not.
pub(super) fn sentinel_dates(
    checked: &DataFrame,
    source: &Source,
    present: &[String],
) -> PolarsResult<usize> {
    let sentinels = lit(Series::new(
        "".into(),
        [
            NaiveDate::from_ymd_opt(1800, 1, 1).expect("date"),
            NaiveDate::from_ymd_opt(1801, 1, 1).expect("date"),
        ],
    ));
    let mut n = 0usize;
    for (field, ftype) in source.kind.fields() {
        if ftype == FieldType::Date && present.iter().any(|p| p == field) {
            let c = checked
                .clone()
                .lazy()
                .select([t(field)
                    .in_list(sentinels.clone(), false)
                    .sum()
                    .cast(DataType::UInt64)
                    .alias("n")])
                .collect()?;
            n += c.column("n")?.u64()?.get(0).unwrap_or(0) as usize;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_unseen_ids_are_told_from_pseudonyms() {
        let ids = [
            ("NULL", true),
            ("n/a", true),
            ("#N/A", true),
            ("nan", true),
            ("(null)", true),
            ("\u{200E}NULL\u{00AD}", true),
            ("\u{180E}", true),
            ("\u{2800}", true),
            ("\u{0301}", true),
            ("?", true),
            ("NA123", false),
            ("n-a", false),
            ("\u{2212}", false),
            ("\u{2014}", false),
            ("Not Known", true),
            ("\u{200B}", true),
            ("\u{FEFF}\u{2060}", true),
            ("-", true),
            ("NULLABLE", false),
            ("a1b2c3", false),
            ("0", false),
            ("\u{200B}p17", false),
        ];
        let df = df!("id" => ids.iter().map(|i| i.0).collect::<Vec<_>>()).unwrap();
        let out = df
            .lazy()
            .select([is_placeholder(col("id")).alias("p")])
            .collect()
            .unwrap();
        let got: Vec<bool> = out
            .column("p")
            .unwrap()
            .bool()
            .unwrap()
            .iter()
            .map(|p| p == Some(true))
            .collect();
        let want: Vec<bool> = ids.iter().map(|i| i.1).collect();
        assert_eq!(got, want);
    }
}
