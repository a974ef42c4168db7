//! What a reject carries back to its provider: the row as sent (identifiers
//! left out) and the provider it belongs to.

use super::*;

/// Fields never sent back in a feedback file: identifiers and free text that
/// may identify someone (the value in question is still in `value`, masked).
pub(super) const NOT_SENT_BACK: &[&str] = &[POSTCODE, CONDITIONS, LSOA_CODE];

/// The row's own mapped columns, under the source's headers, as a JSON array
/// of [header, value] pairs (in the pipeline's field order); identifiers left out.
pub(super) fn row_json(source: &Source, present: &[String]) -> Expr {
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
        // Masked before escaping: an NHS number typed over line breaks
        // (943\n476\n5919) no longer reads as one once they are escaped.
        // Other control characters (invalid in JSON) become spaces.
        let escaped = nhs::mask(col(field))
            .str()
            .replace_all(lit(r"[\x00-\x08\x0B\x0C\x0E-\x1F]"), lit(" "), false)
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
pub(super) fn provider_of(source: &Source, present: &[String]) -> Expr {
    if source.kind == SourceKind::ProviderReturns && present.iter().any(|p| p == PROVIDER_ID) {
        col(PROVIDER_ID)
    } else {
        lit(NULL).cast(DataType::String)
    }
}

/// Each row's line, provider and row as sent, for the rejected rows only.
/// Without a duplicate key (hospital rows) every reject with a row is a
/// failing row, so they are built now and the whole checked frame is not
/// held while the rest is done.
pub(super) fn rows(
    source: &Source,
    present: &[String],
    judged: &Judged,
) -> PolarsResult<LazyFrame> {
    let row_of = |lf: LazyFrame| {
        lf.select([
            col(LINE).alias("_row_line"),
            provider_of(source, present).alias("provider"),
            row_json(source, present).alias("row"),
        ])
    };
    Ok(if dedupe::duplicate_key(source).is_empty() {
        row_of(judged.failing.clone().lazy()).collect()?.lazy()
    } else {
        row_of(judged.checked.clone().lazy())
    })
}

/// Each reject with its row's own columns, for the provider's feedback file,
/// in line order. Every value and message written to rejects passes the one
/// masking function.
pub(super) fn attach_rows(rejects: DataFrame, rows: LazyFrame) -> PolarsResult<DataFrame> {
    let rows = rows.join(
        rejects.clone().lazy().select([col("line")]),
        [col("_row_line")],
        [col("line")],
        JoinArgs::new(JoinType::Semi),
    );
    rejects
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
        .collect()
}
