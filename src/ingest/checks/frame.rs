//! Building the frame a file's rows are checked in: the text columns, the
//! LSOA lookup's deciles, and each field mapped and parsed.

use super::*;

/// Builds the text frame: the mapped fields, constants, and the line of each row.
pub(super) fn text_frame(raw: RawTable, source: &Source) -> PolarsResult<DataFrame> {
    let height = raw.lines.len();
    let mut cols: Vec<Column> = Vec::new();
    for (field, values) in raw.columns {
        cols.push(values.into_series(&field)?.into_column());
    }
    for (field, value) in &source.constants {
        if !source.columns.contains_key(field) {
            // One value for every row, not a copy per row.
            let value = AnyValue::StringOwned(value.as_str().into());
            cols.push(Column::new_scalar(
                field.as_str().into(),
                Scalar::new(DataType::String, value),
                height,
            ));
        }
    }
    cols.push(Column::new(LINE.into(), raw.lines));
    DataFrame::new(height, cols)
}

/// The decile the LSOA lookup gives a row (null for no or an unknown code).
pub(super) const LSOA_DECILE: &str = "_lsoa_decile";

/// Joins the LSOA lookup (`lsoa_code`, `imd_decile` text columns, one row per
/// code) and fills `imd_decile` from it where the row gives none.
pub(super) fn with_lsoa_deciles(df: DataFrame, lookup: &DataFrame) -> PolarsResult<DataFrame> {
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
/// Text fields that are keys (rows are grouped and matched on them): an
/// NHS number in one is replaced by a keyed token, so distinct ids stay apart.
const KEYS: [&str; 3] = [PROVIDER_ID, COURSE_ID, SPELL_ID];

pub(super) fn parse_exprs(
    source: &Source,
    present: &[String],
    key: &Arc<Vec<u8>>,
) -> PolarsResult<(Vec<Expr>, Vec<Expr>)> {
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
        if let Some(v) = source.constants.get(field) {
            if !source.columns.contains_key(field) {
                e = constant_mapped(field, v, e)?;
            }
        }
        map_exprs.push(e.alias(mapped(field)));
        let tex = match ftype {
            // Free text is stored only for declared dimensions and ids; an NHS
            // number typed into it never reaches the warehouse.
            FieldType::Text if KEYS.contains(&field) => nhs::mask_keyed(m(field), key.clone()),
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
    Ok((map_exprs, typed_exprs))
}

/// A constant field's value mapped (`map`: the expression that maps a
/// column of it) once, on one row, as a literal: every row's is the same,
/// and a literal stays one value however many rows the frame has.
fn constant_mapped(field: &str, value: &str, map: Expr) -> PolarsResult<Expr> {
    let one = df!(field => [value])?
        .lazy()
        .select([map.alias("v")])
        .collect()?;
    Ok(match one.column("v")?.str()?.get(0) {
        Some(v) => lit(v.to_string()),
        None => lit(NULL).cast(DataType::String),
    })
}

/// Trimmed, inner spaces collapsed, lower case: how value-map keys are compared.
pub(super) fn normalised_text(e: Expr) -> Expr {
    e.str()
        .replace_all(lit(r"\s+"), lit(" "), false)
        .str()
        .strip_chars(lit(NULL))
        .str()
        .to_lowercase()
}

/// The field parsed under each of the source's date formats, in order.
pub(super) fn date_parses(source: &Source, field: &str) -> Vec<Expr> {
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

/// The text frame of a file's rows (with the LSOA lookup's deciles where
/// the source has one) and the fields it holds.
pub(super) fn build(
    raw: RawTable,
    source: &Source,
    lsoa: Option<&DataFrame>,
) -> PolarsResult<(DataFrame, Vec<String>)> {
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
    Ok((df, present))
}

/// The text frame with each present field mapped (`m:`) and parsed (`t:`).
pub(super) fn parse(
    df: DataFrame,
    source: &Source,
    present: &[String],
    key: &Arc<Vec<u8>>,
) -> PolarsResult<DataFrame> {
    let (map_exprs, typed_exprs) = parse_exprs(source, present, key)?;
    let mapped = df.lazy().with_columns(map_exprs).collect()?;
    without_times(mapped, source, present)?
        .lazy()
        .with_columns(typed_exprs)
        .collect()
}

/// A time after a date (`01/05/2023 00:00`, `2023-05-01T09:30:00`, as
/// spreadsheets export dates): dates are days, so it is dropped.
const TIME_AFTER_DATE: &str = r"[ T]+\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?\s*([AaPp][Mm])?$";

/// The date fields' mapped values without a time after the date, where a
/// column has one (a column with no `:` is left as it is, unscanned by the
/// pattern), unless the field's own formats read times.
fn without_times(df: DataFrame, source: &Source, present: &[String]) -> PolarsResult<DataFrame> {
    let mut strip = Vec::new();
    for (field, ftype) in source.kind.fields() {
        let reads_times = source
            .date_formats_for(field)
            .iter()
            .any(|(f, _)| f.contains("%H"));
        if ftype != FieldType::Date || reads_times || !present.iter().any(|p| p == field) {
            continue;
        }
        let has_time = df
            .column(&mapped(field))?
            .str()?
            .iter()
            .flatten()
            .any(|v| v.contains(':'));
        if has_time {
            strip.push(
                m(field)
                    .str()
                    .replace(lit(TIME_AFTER_DATE), lit(""), false)
                    .alias(mapped(field)),
            );
        }
    }
    match strip.is_empty() {
        true => Ok(df),
        false => df.lazy().with_columns(strip).collect(),
    }
}
