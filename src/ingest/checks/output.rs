//! The canonical output columns of accepted rows, per kind of source.

use super::*;

pub(super) fn code_group(code: Expr, groups: &[(&str, &[&str])]) -> Expr {
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

/// The canonical output columns of accepted rows.
pub(super) fn output_exprs(source: &Source, present: &[String], settings: &Settings) -> Vec<Expr> {
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
