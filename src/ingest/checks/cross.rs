//! The rules across fields, per kind of source (SPEC 1.1–1.3): required
//! fields, the attendance register, course and discharge dates, PAM levels.

use super::*;

/// The field must have a value.
pub(super) fn required(field: &'static str) -> Rule {
    Rule {
        fails: m(field).is_null(),
        field,
        rule: "is empty; it is required".into(),
        reason: lit("is empty; it is required"),
        value: lit(NULL).cast(DataType::String),
    }
}

/// The six sessions of the attendance register summed, where the source maps all six.
pub(super) fn register_sum(source: &Source) -> Option<Expr> {
    SESSIONS.iter().all(|s| source.has(s)).then(|| {
        SESSIONS
            .iter()
            .map(|s| t(s))
            .reduce(|a, b| a + b)
            .expect("six sessions")
    })
}

/// A rule whose reason is built per row from `pieces` (text joined as is),
/// showing the field's own value.
fn compared(fails: Expr, field: &'static str, rule: &str, pieces: Vec<Expr>) -> Rule {
    Rule {
        fails,
        field,
        rule: rule.into(),
        reason: concat_str(pieces, "", true),
        value: col(field),
    }
}

/// Rules across fields, per kind of source (SPEC 1.1–1.3).
pub(super) fn cross_rules(source: &Source, settings: &Settings) -> Vec<Rule> {
    match source.kind {
        SourceKind::ProviderReturns => returns_rules(source),
        SourceKind::Hospital => hospital_rules(source),
        SourceKind::Pam => pam_rules(source, settings),
    }
}

/// A provider return: required fields, the register agreeing with the
/// count, a known LSOA code, and the dates of a starter.
fn returns_rules(source: &Source) -> Vec<Rule> {
    let mut rules: Vec<Rule> = [PROVIDER_ID, COURSE_ID, PROGRAMME, REFERRAL_DATE, PERSON_ID]
        .into_iter()
        .map(required)
        .collect();
    let attended = sessions_expr(source);
    if let (Some(sum), true) = (register_sum(source), source.has(SESSIONS_ATTENDED)) {
        rules.push(compared(
            t(SESSIONS_ATTENDED).neq(sum.clone()),
            SESSIONS_ATTENDED,
            "does not equal the attendance register",
            vec![
                lit("does not equal the attendance register, which shows "),
                sum.cast(DataType::Int64).cast(DataType::String),
                lit(" sessions"),
            ],
        ));
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
        rules.extend(SESSIONS.into_iter().map(required));
    }
    rules.push(Rule {
        fails: attended.gt_eq(lit(1.0)).and(t(COURSE_START_DATE).is_null()),
        field: COURSE_START_DATE,
        rule: "is empty, but the person attended a session".into(),
        reason: lit(
            "is empty, but the person attended a session (a starter needs the course start date)",
        ),
        value: lit(NULL).cast(DataType::String),
    });
    rules.push(compared(
        t(REFERRAL_DATE).gt(t(COURSE_START_DATE)),
        REFERRAL_DATE,
        "is after the course start date",
        vec![
            lit("is after the course start date "),
            col(COURSE_START_DATE),
        ],
    ));
    rules
}

/// A hospital row: required fields, and an admission not discharged before it began.
fn hospital_rules(source: &Source) -> Vec<Rule> {
    let mut rules: Vec<Rule> = [PERSON_ID, SETTING, EVENT_DATE]
        .into_iter()
        .map(required)
        .collect();
    if source.has(DISCHARGE_DATE) {
        rules.push(compared(
            m(SETTING)
                .eq(lit("apc"))
                .and(t(DISCHARGE_DATE).lt(t(EVENT_DATE)))
                .and(t(DISCHARGE_DATE).gt(date_lit("1801-01-01"))),
            DISCHARGE_DATE,
            "is before the admission date",
            vec![lit("is before the admission date "), col(EVENT_DATE)],
        ));
    }
    rules
}

/// A PAM score: required fields, and a given level that matches the score's.
fn pam_rules(source: &Source, settings: &Settings) -> Vec<Rule> {
    let mut rules: Vec<Rule> = [PERSON_ID, ASSESSMENT_DATE, SCORE]
        .into_iter()
        .map(required)
        .collect();
    if source.has(LEVEL) {
        let from_score = pam_level(t(SCORE), settings.pam_level4_cut);
        rules.push(compared(
            t(LEVEL).cast(DataType::Int32).neq(from_score.clone()),
            LEVEL,
            "does not match the level of the score",
            vec![
                lit("does not match the score "),
                col(SCORE),
                lit(", which is level "),
                from_score.cast(DataType::String),
            ],
        ));
    }
    rules
}

/// Sessions attended: the given count, else the register's sum.
pub(super) fn sessions_expr(source: &Source) -> Expr {
    match (source.has(SESSIONS_ATTENDED), register_sum(source)) {
        (true, Some(sum)) => t(SESSIONS_ATTENDED).fill_null(sum),
        (true, None) => t(SESSIONS_ATTENDED),
        (false, Some(sum)) => sum,
        (false, None) => lit(NULL).cast(DataType::Float64),
    }
}

pub use crate::metrics::pam::level_of as pam_level;
