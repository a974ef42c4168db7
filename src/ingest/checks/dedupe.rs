//! Rows that repeat: duplicate referrals and PAM scores (the first row is
//! kept), and a course's rows that disagree on its start date.

use super::*;

/// Keys of a duplicate row, per kind (SPEC 3: same person, same course).
pub(super) fn duplicate_key(source: &Source) -> Vec<&'static str> {
    match source.kind {
        SourceKind::ProviderReturns => vec![PERSON_ID, PROVIDER_ID, COURSE_ID],
        // Two attendances on one day are real: hospital rows are not de-duplicated.
        SourceKind::Hospital => vec![],
        SourceKind::Pam => vec![PERSON_ID, ASSESSMENT_DATE, SCORE],
    }
}

/// Drops repeated rows: the first row of each duplicate key (lowest line)
/// is kept; later ones are returned as rejects naming the line they repeat.
pub(super) fn drop_duplicates(
    accepted: DataFrame,
    source: &Source,
) -> PolarsResult<(DataFrame, DataFrame)> {
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
    let (field, rule, reason) = match source.kind {
        SourceKind::ProviderReturns => (
            PERSON_ID,
            "duplicate referral",
            "duplicate referral: same person and course as line ",
        ),
        _ => ("", "duplicate row", "duplicate row: same values as line "),
    };
    let reason = vec![
        lit(reason),
        col("_first_line").cast(DataType::String),
        lit(" (the first is kept)"),
    ];
    let rejects = findings(&marked, dup.clone(), field, rule, reason, lit(MASKED))?;
    let kept = marked
        .lazy()
        .filter(dup.not())
        .drop(Selector::ByName {
            names: Arc::from(vec![PlSmallStr::from("_first_line")]),
            strict: true,
        })
        .collect()?;
    Ok((kept, rejects))
}

/// A course has one start date (course ids are unique within a provider).
/// Where its rows disagree, the date most of its dated rows give wins (a tie
/// goes to the date seen first); a row giving another date is kept, set to
/// that date, and warned, naming the date and the line it was first given on.
pub(super) fn course_majority(
    df: DataFrame,
    source: &Source,
) -> PolarsResult<(DataFrame, DataFrame)> {
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
    let reason = vec![
        lit("differs from the start date most rows of course "),
        col(COURSE_ID),
        lit(" give, "),
        col("_course_start").dt().strftime(fmt),
        lit(" (first on line "),
        col("_course_line").cast(DataType::String),
        lit("); the row is kept with that date"),
    ];
    let warnings = findings(
        &marked,
        conflict.clone(),
        COURSE_START_DATE,
        "differs from the course's start date",
        reason,
        col(COURSE_START_DATE).dt().strftime(fmt),
    )?;
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

/// The rows of `df` where `which` holds, as findings (line, field, rule,
/// reason, value); the reason is `reason`'s pieces joined.
fn findings(
    df: &DataFrame,
    which: Expr,
    field: &str,
    rule: &str,
    reason: Vec<Expr>,
    value: Expr,
) -> PolarsResult<DataFrame> {
    df.clone()
        .lazy()
        .filter(which)
        .select([
            col(SOURCE_LINE).alias("line"),
            lit(field.to_string()).alias("field"),
            lit(rule.to_string()).alias("rule"),
            concat_str(reason, "", true).alias("reason"),
            value.alias("value"),
        ])
        .collect()
}
