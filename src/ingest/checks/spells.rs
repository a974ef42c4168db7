//! Hospital episodes folded into spells (SPEC 1.2).

use super::*;

/// The accepted rows of a source as written: a hospital source's APC
/// episodes folded into spells where it declares a spell key (every
/// hospital row otherwise one episode); other sources' rows as they are.
pub(crate) fn fold(accepted: DataFrame, source: &Source) -> PolarsResult<DataFrame> {
    match (source.kind, &source.spell_key) {
        (SourceKind::Hospital, Some(key)) => fold_spells(accepted, key),
        // Every hospital part has the same columns: a row not folded is one episode.
        (SourceKind::Hospital, None) => accepted
            .lazy()
            .with_column(lit(1i32).alias(EPISODES))
            .collect(),
        _ => Ok(accepted),
    }
}

/// Folds APC episodes into spells: one row per spell key, dated by the first
/// episode's admission date and the last episode's discharge (SPEC 1.2).
pub(crate) fn fold_spells(df: DataFrame, key: &[String]) -> PolarsResult<DataFrame> {
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
    // Column by column, each original let go once gathered: a large
    // extract is never held twice.
    let mut cols: Vec<Column> = Vec::with_capacity(df.width() + 1);
    for c in df.into_columns() {
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
