//! The canonical output columns of accepted rows, per kind of source.

use super::*;

/// The group a code falls in (`groups`: name, codes), `unknown` for
/// another code, null for none.
pub(super) fn code_group(code: Expr, groups: &[(&str, &[&str])]) -> Expr {
    // One lookup a row; the first group that lists a code wins.
    let (mut old, mut new): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for (name, codes) in groups {
        for c in *codes {
            if !old.contains(c) {
                old.push(c);
                new.push(name);
            }
        }
    }
    let group = code.clone().replace_strict(
        str_series(&old).implode(true),
        str_series(&new).implode(true),
        Some(lit("unknown")),
        Some(DataType::String),
    );
    when(code.is_null())
        .then(lit(NULL).cast(DataType::String))
        .otherwise(group)
}

/// The canonical output columns of accepted rows.
pub(super) fn output_exprs(source: &Source, present: &[String], settings: &Settings) -> Vec<Expr> {
    let has = |f: &str| present.iter().any(|p| p == f);
    let mut out = match source.kind {
        SourceKind::ProviderReturns => returns_output(source, &has),
        SourceKind::Hospital => hospital_output(&has),
        SourceKind::Pam => vec![
            typed_or_null(&has, PERSON_ID, DataType::String),
            typed_or_null(&has, ASSESSMENT_DATE, DataType::Date),
            typed_or_null(&has, SCORE, DataType::Float64),
            pam_level(t(SCORE), settings.pam_level4_cut).alias(LEVEL),
        ],
    };
    out.push(col(LINE).alias(SOURCE_LINE));
    out
}

/// A field's parsed value as `dt`, or null where the file does not have it.
fn typed_or_null(has: &dyn Fn(&str) -> bool, f: &str, dt: DataType) -> Expr {
    if has(f) {
        t(f).cast(dt).alias(f)
    } else {
        lit(NULL).cast(dt).alias(f)
    }
}

/// A provider return's columns: the course, the referral, the register and
/// its count, and the person's characteristics.
fn returns_output(source: &Source, has: &dyn Fn(&str) -> bool) -> Vec<Expr> {
    use DataType::{Date, Int16, Int32, Int8, String as Text};
    let mut out: Vec<Expr> = [
        (PROVIDER_ID, Text),
        (COURSE_ID, Text),
        (PROGRAMME, Text),
        (COURSE_START_DATE, Date),
        (COURSE_LANGUAGE, Text),
        (PERSON_ID, Text),
        (REFERRAL_DATE, Date),
        (REFERRAL_SOURCE, Text),
    ]
    .into_iter()
    .chain(SESSIONS.into_iter().map(|s| (s, Int8)))
    .map(|(f, dt)| typed_or_null(has, f, dt))
    .collect();
    out.push(
        sessions_expr(source)
            .cast(DataType::Int8)
            .alias(SESSIONS_ATTENDED),
    );
    out.extend(
        [
            (SEX, Text),
            (AGE_BAND, Text),
            (YEAR_OF_BIRTH, Int32),
            (ETHNICITY, Text),
            (IMD_DECILE, Int8),
            (LTC_COUNT, Int16),
        ]
        .into_iter()
        .map(|(f, dt)| typed_or_null(has, f, dt)),
    );
    // `conditions` is free text that no table declares: checked, never stored.
    out
}

/// `then` where `cond` holds, else a null text.
fn text_when(cond: Expr, then: Expr) -> Expr {
    when(cond)
        .then(then)
        .otherwise(lit(NULL).cast(DataType::String))
}

/// A hospital row's columns: the event, an admission's discharge and
/// method, an A&E department, an outpatient attendance's outcome.
fn hospital_output(has: &dyn Fn(&str) -> bool) -> Vec<Expr> {
    let apc = t(SETTING).eq(lit("apc"));
    let op = t(SETTING).eq(lit("op"));
    let adm = typed_or_null(has, ADMISSION_METHOD, DataType::String);
    let att = typed_or_null(has, ATTENDANCE_STATUS, DataType::String);
    let mut out = vec![
        typed_or_null(has, PERSON_ID, DataType::String),
        crate::ingest::nhs::person_key(typed_or_null(has, PERSON_ID, DataType::String))
            .alias(PERSON_KEY),
        typed_or_null(has, SETTING, DataType::String),
        typed_or_null(has, EVENT_DATE, DataType::Date),
    ];
    out.extend(discharge_output(has, apc.clone()));
    out.extend([
        text_when(apc.clone(), adm.clone()).alias(ADMISSION_METHOD),
        text_when(
            apc,
            code_group(adm.str().to_uppercase(), schema::ADMISSION_METHODS),
        )
        .alias(ADMISSION_TYPE),
        typed_or_null(has, AE_DEPARTMENT_TYPE, DataType::String),
        text_when(op.clone(), att.clone()).alias(ATTENDANCE_STATUS),
        text_when(op, code_group(att, schema::ATTENDANCE_OUTCOMES)).alias(ATTENDANCE_OUTCOME),
        typed_or_null(has, EPISODE_ORDER, DataType::Int32),
        typed_or_null(has, SPELL_ID, DataType::String),
    ]);
    out
}

/// An admission's discharge date (none for a HES sentinel) and its status:
/// `ok`, `missing`, `hes_sentinel_<date>`, or `not_applicable` outside APC.
fn discharge_output(has: &dyn Fn(&str) -> bool, apc: Expr) -> [Expr; 2] {
    let sentinel = if has(DISCHARGE_DATE) {
        t(DISCHARGE_DATE).lt_eq(date_lit("1801-01-01"))
    } else {
        lit(false)
    };
    let date = when(apc.clone().and(sentinel.clone().not()))
        .then(typed_or_null(has, DISCHARGE_DATE, DataType::Date))
        .otherwise(lit(NULL).cast(DataType::Date))
        .alias(DISCHARGE_DATE);
    let status = if has(DISCHARGE_DATE) {
        when(apc.not())
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
        when(apc)
            .then(lit("missing"))
            .otherwise(lit("not_applicable"))
    };
    [date, status.alias(DISCHARGE_DATE_STATUS)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_put_in_the_first_group_that_lists_it() {
        let groups: &[(&str, &[&str])] = &[("a", &["1", "2"]), ("b", &["2", "3"])];
        let df = df!("c" => [Some("1"), Some("2"), Some("3"), Some("9"), None, Some("")]).unwrap();
        let out = df
            .lazy()
            .select([code_group(col("c"), groups).alias("g")])
            .collect()
            .unwrap();
        let g: Vec<Option<&str>> = out.column("g").unwrap().str().unwrap().iter().collect();
        assert_eq!(
            g,
            [
                Some("a"),
                Some("a"),
                Some("b"),
                Some("unknown"),
                None,
                Some("unknown")
            ]
        );
    }

    #[test]
    fn hospital_codes_are_grouped_as_the_data_dictionary_says() {
        let df = df!("c" => ["11", "2A", "28", "31", "99", "5", "2"]).unwrap();
        let out = df
            .lazy()
            .select([
                code_group(col("c"), schema::ADMISSION_METHODS).alias("adm"),
                code_group(col("c"), schema::ATTENDANCE_OUTCOMES).alias("att"),
            ])
            .collect()
            .unwrap();
        let texts = |c: &str| -> Vec<String> {
            let s = out.column(c).unwrap().str().unwrap().clone();
            s.iter().map(|v| v.unwrap_or("").to_string()).collect()
        };
        let adm = [
            "elective",
            "emergency",
            "emergency",
            "maternity",
            "unknown",
            "unknown",
            "unknown",
        ];
        assert_eq!(texts("adm"), adm);
        let att = [
            "unknown",
            "unknown",
            "unknown",
            "unknown",
            "unknown",
            "attended",
            "did_not_attend",
        ];
        assert_eq!(texts("att"), att);
    }
}
