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
///
/// Most spells are one episode, so only the rows whose key another row
/// shares are grouped ([`spell_rows`]); the rest stay where they are, and
/// the rows come out in line order as if every row had been grouped.
pub(crate) fn fold_spells(df: DataFrame, key: &[String]) -> PolarsResult<DataFrame> {
    let in_line_order = df
        .column(SOURCE_LINE)?
        .as_materialized_series()
        .is_sorted(SortOptions::default())?;
    // A row with no setting is neither an episode nor another event: it is
    // dropped (as `spell_rows` drops it), so such a file takes the long way.
    if !in_line_order || df.column(SETTING)?.null_count() > 0 {
        return fold_all(df, key);
    }
    let numbered = index_frame(&df, key)?
        .with_column(
            as_struct(shared_key(&df, key))
                .is_duplicated()
                .and(key_given(key))
                .alias("_shared"),
        )
        .collect()?
        .lazy();
    // Every row of a spell of two or more episodes shares its key, so the
    // shared rows hold whole spells (and perhaps other events on the same key).
    let spells = spell_rows(numbered.clone().filter(col("_shared")), &df, key)?;
    let join = JoinArgs {
        maintain_order: MaintainOrderJoin::Left,
        ..JoinArgs::new(JoinType::Left)
    };
    let marks = numbered
        .select([col("_i"), col("_shared")])
        .join(spells, [col("_i")], [col("_first")], join)
        .select([
            // A shared row stays only as the first episode of its spell.
            col("_shared")
                .not()
                .or(col("_last").is_not_null())
                .alias("_keep"),
            col("_last").fill_null(col("_i")).alias("_last"),
            col(EPISODES).fill_null(lit(1i32)),
        ])
        .collect()?;
    let last = marks.column("_last")?.idx()?;
    let folded = gathered(df, None, last, marks.column(EPISODES)?)?;
    let keep = marks.column("_keep")?.bool()?;
    match keep.all() {
        true => Ok(folded),
        false => folded.filter(keep),
    }
}

/// The key whose repeats find the rows that may share a spell: the spell
/// key with `person_id` as its [`PERSON_KEY`] where the rows have one (eight
/// bytes to compare, not 64). A key unique by the person key is unique by
/// the person, so every spell of two or more episodes is among the rows
/// found; [`spell_rows`] groups those by the spell key itself.
fn shared_key(df: &DataFrame, key: &[String]) -> Vec<Expr> {
    let keyed = crate::ingest::nhs::has_person_key(df.schema());
    key.iter()
        .map(|k| match (k.as_str(), keyed) {
            (PERSON_ID, true) => col(PERSON_KEY),
            (k, _) => col(k),
        })
        .collect()
}

/// True where every field of the spell key has a value. A row missing one
/// (an empty spell id) cannot be placed in a spell: it is an admission of
/// its own, never folded with the other rows missing it.
pub(crate) fn key_given(key: &[String]) -> Expr {
    key.iter()
        .map(|k| col(k.as_str()).is_not_null())
        .reduce(|a, b| a.and(b))
        .unwrap_or(lit(true))
}

/// The fields a spell takes from its last episode; every other field is its
/// first episode's.
const LAST_FIELDS: [&str; 2] = [DISCHARGE_DATE, DISCHARGE_DATE_STATUS];

/// The columns [`spell_rows`] reads (the key, setting, line, episode order
/// and admission date), with each row's number as `_i`.
fn index_frame(df: &DataFrame, key: &[String]) -> PolarsResult<LazyFrame> {
    let mut needed: Vec<&str> = key.iter().map(String::as_str).collect();
    for c in [SETTING, SOURCE_LINE, EPISODE_ORDER, EVENT_DATE, PERSON_KEY] {
        if !needed.contains(&c) && df.column(c).is_ok() {
            needed.push(c);
        }
    }
    Ok(df
        .clone()
        .lazy()
        .select(needed.iter().map(|c| col(*c)).collect::<Vec<_>>())
        .with_row_index("_i", None))
}

/// Which rows of `numbered` ([`index_frame`]'s, or some of its rows) make
/// each output row: a spell's first episode (`_first`: by episode order, a
/// blank one last, then admission date, then line), its last (`_last`, for
/// the discharge), the first's line and the episodes;
/// any other event, and an APC row missing a field of the key, is itself,
/// one episode. Rows with no setting are left out.
fn spell_rows(numbered: LazyFrame, df: &DataFrame, key: &[String]) -> PolarsResult<LazyFrame> {
    let is_apc = col(SETTING).eq(lit("apc"));
    // Episode order (a blank one last), then admission date, then line:
    // the order the report's fold across files uses too.
    let order: Vec<Expr> = [EPISODE_ORDER, EVENT_DATE, SOURCE_LINE]
        .into_iter()
        .filter(|c| df.column(c).is_ok())
        .map(col)
        .collect();
    let key_exprs: Vec<Expr> = key.iter().map(|k| col(k.as_str())).collect();
    let grouped = is_apc.and(key_given(key));
    let spells = numbered
        .clone()
        .filter(grouped.clone())
        .sort_by_exprs(order, SortMultipleOptions::default().with_nulls_last(true))
        .group_by_stable(key_exprs)
        .agg([
            col("_i").first().alias("_first"),
            col("_i").last().alias("_last"),
            col(SOURCE_LINE).first().alias("_line"),
            len().cast(DataType::Int32).alias(EPISODES),
        ])
        .select([col("_first"), col("_last"), col("_line"), col(EPISODES)]);
    let others = numbered
        .filter(col(SETTING).is_not_null().and(grouped.not()))
        .select([
            col("_i").alias("_first"),
            col("_i").alias("_last"),
            col(SOURCE_LINE).alias("_line"),
            lit(1i32).alias(EPISODES),
        ]);
    concat([spells, others], UnionArgs::default())
}

/// [`fold_spells`] grouping every row: for rows not in line order.
fn fold_all(df: DataFrame, key: &[String]) -> PolarsResult<DataFrame> {
    let rows = spell_rows(index_frame(&df, key)?, &df, key)?
        .sort(["_line"], SortMultipleOptions::default())
        .collect()?;
    let first = rows.column("_first")?.idx()?;
    let last = rows.column("_last")?.idx()?;
    gathered(df, Some(first), last, rows.column(EPISODES)?)
}

/// The folded rows: each column at `first` (as it is, where None), the
/// discharge fields at `last`, then `episodes`. Column by column, each
/// original let go once gathered: a large extract is never held twice.
fn gathered(
    df: DataFrame,
    first: Option<&IdxCa>,
    last: &IdxCa,
    episodes: &Column,
) -> PolarsResult<DataFrame> {
    let mut cols: Vec<Column> = Vec::with_capacity(df.width() + 1);
    for c in df.into_columns() {
        cols.push(match (LAST_FIELDS.contains(&c.name().as_str()), first) {
            (true, _) => c.take(last)?,
            (false, Some(first)) => c.take(first)?,
            (false, None) => c,
        });
    }
    cols.push(episodes.clone());
    DataFrame::new(episodes.len(), cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Episodes of three spells (one of three episodes written out of
    /// episode order, one with an unknown discharge on its last episode),
    /// single-episode spells, A&E and outpatient rows sharing a spell's key,
    /// and rows with no person.
    fn episodes() -> DataFrame {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let s = |v: &str| Some(v.to_string());
        df!(
            PERSON_ID => [s("a"), s("a"), s("b"), s("a"), s("c"), None, s("b"), s("a"), None, s("d"), s("d")],
            SETTING => ["apc", "apc", "apc", "ae", "apc", "apc", "apc", "apc", "apc", "op", "apc"],
            EVENT_DATE => [d("2023-01-01"), d("2023-01-01"), d("2023-02-01"), d("2023-01-01"), d("2023-03-01"),
                d("2023-04-01"), d("2023-02-01"), d("2023-01-01"), d("2023-04-01"), d("2023-05-01"), d("2023-05-02")],
            DISCHARGE_DATE => [d("2023-01-03"), d("2023-01-09"), None, None, d("2023-03-02"),
                d("2023-04-02"), None, d("2023-01-05"), d("2023-04-03"), None, d("2023-05-04")],
            DISCHARGE_DATE_STATUS => [None, None, s("unknown"), None, None, None, s("unknown"), None, None, None, None::<String>],
            EPISODE_ORDER => [2.0, 3.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 2.0, 1.0, 1.0],
            SOURCE_LINE => [2i64, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        )
        .expect("a frame")
    }

    /// A column of whole numbers with no nulls.
    fn whole(df: &DataFrame, c: &str) -> Vec<i64> {
        let c = df.column(c).unwrap().cast(&DataType::Int64).unwrap();
        c.i64().unwrap().into_no_null_iter().collect()
    }

    /// The discharge dates, as text.
    fn discharged(df: &DataFrame) -> Vec<Option<String>> {
        let c = df.column(DISCHARGE_DATE).unwrap();
        let c = c.cast(&DataType::String).unwrap();
        c.str()
            .unwrap()
            .iter()
            .map(|d| d.map(String::from))
            .collect()
    }

    fn key() -> Vec<String> {
        vec![PERSON_ID.to_string(), EVENT_DATE.to_string()]
    }

    #[test]
    fn only_shared_keys_grouped_gives_what_grouping_every_row_gives() {
        let folded = fold_spells(episodes(), &key()).expect("folded");
        let every = fold_all(episodes(), &key()).expect("folded");
        assert!(folded.equals_missing(&every), "{folded}\n{every}");
        // a's three episodes (lines 2, 3, 9; episode 1 is line 9) are one spell at
        // line 9, discharged on its last episode's date; b's two one at line 4;
        // the two rows with no person (lines 7 and 10) cannot be placed in a
        // spell and are one each; the A&E and outpatient rows stay.
        assert_eq!(whole(&folded, SOURCE_LINE), [4, 5, 6, 7, 9, 10, 11, 12]);
        assert_eq!(whole(&folded, EPISODES), [2, 1, 1, 1, 3, 1, 1, 1]);
        assert_eq!(discharged(&folded)[4].as_deref(), Some("2023-01-09"));
    }

    #[test]
    fn rows_not_in_line_order_are_folded_the_same() {
        let mut shuffled = episodes()
            .sort([EVENT_DATE], SortMultipleOptions::default())
            .expect("sorted");
        assert_ne!(
            whole(&shuffled, SOURCE_LINE),
            [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        );
        let folded = fold_spells(shuffled.clone(), &key()).expect("folded");
        shuffled = shuffled
            .sort([SOURCE_LINE], SortMultipleOptions::default())
            .expect("sorted");
        let in_order = fold_spells(shuffled, &key()).expect("folded");
        assert!(folded.equals_missing(&in_order), "{folded}\n{in_order}");
    }

    #[test]
    fn a_file_with_no_shared_key_is_as_read_with_one_episode_a_row() {
        let df = episodes().slice(3, 3);
        let folded = fold_spells(df.clone(), &key()).expect("folded");
        assert_eq!(folded.height(), 3);
        assert!(folded.drop(EPISODES).unwrap().equals_missing(&df));
    }

    #[test]
    fn people_sharing_a_person_key_are_still_told_apart() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        // e is admitted the day a's spell starts: with every person given one
        // key, e's row and a's share (key, date) but not the spell key.
        let e = df!(
            PERSON_ID => [Some("e")],
            SETTING => ["apc"],
            EVENT_DATE => [d("2023-01-01")],
            DISCHARGE_DATE => [d("2023-01-02")],
            DISCHARGE_DATE_STATUS => [None::<String>],
            EPISODE_ORDER => [1.0],
            SOURCE_LINE => [13i64],
        )
        .unwrap();
        let df = episodes().vstack(&e).unwrap();
        let keys: Vec<Option<i64>> = df
            .column(PERSON_ID)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|p| p.map(|_| 7))
            .collect();
        let mut keyed = df.clone();
        keyed
            .with_column(Column::new(PERSON_KEY.into(), keys))
            .unwrap();
        let folded = fold_spells(keyed.clone(), &key()).expect("folded");
        let every = fold_all(keyed, &key()).expect("folded");
        assert!(folded.equals_missing(&every), "{folded}\n{every}");
        let unkeyed = fold_spells(df, &key()).expect("folded");
        assert!(folded.drop(PERSON_KEY).unwrap().equals_missing(&unkeyed));
        assert_eq!(whole(&folded, SOURCE_LINE), [4, 5, 6, 7, 9, 10, 11, 12, 13]);
        assert_eq!(whole(&folded, EPISODES), [2, 1, 1, 1, 3, 1, 1, 1, 1]);
    }

    #[test]
    fn episodes_with_no_spell_id_are_each_an_admission() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        // a: two episodes of spell S1, two with no spell id (admitted on
        // different days), one A&E row; b: one episode with no spell id.
        let df = df!(
            PERSON_ID => ["a", "a", "a", "a", "b", "a"],
            SETTING => ["apc", "apc", "apc", "apc", "apc", "ae"],
            SPELL_ID => [Some("S1"), None, Some("S1"), None, None, None],
            EVENT_DATE => [d("2023-01-01"), d("2023-02-01"), d("2023-01-01"), d("2023-03-01"), d("2023-02-01"), d("2023-02-01")],
            DISCHARGE_DATE => [d("2023-01-02"), d("2023-02-02"), d("2023-01-05"), d("2023-03-02"), d("2023-02-03"), None],
            DISCHARGE_DATE_STATUS => [None::<String>, None, None, None, None, None],
            EPISODE_ORDER => [1.0, 1.0, 2.0, 1.0, 1.0, 1.0],
            SOURCE_LINE => [2i64, 3, 4, 5, 6, 7],
        )
        .unwrap();
        let key = vec![PERSON_ID.to_string(), SPELL_ID.to_string()];
        let folded = fold_spells(df.clone(), &key).expect("folded");
        let every = fold_all(df, &key).expect("folded");
        assert!(folded.equals_missing(&every), "{folded}\n{every}");
        assert_eq!(whole(&folded, SOURCE_LINE), [2, 3, 5, 6, 7]);
        assert_eq!(whole(&folded, EPISODES), [2, 1, 1, 1, 1]);
    }

    #[test]
    fn an_episode_with_no_order_comes_after_those_with_one() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        // One spell: line 2 has no episode order (discharged the 9th),
        // line 3 is episode 2 (discharged the 5th): line 3 is the first
        // episode, line 2 the last.
        let df = df!(
            PERSON_ID => ["a", "a"],
            SETTING => ["apc", "apc"],
            EVENT_DATE => [d("2023-01-01"), d("2023-01-01")],
            DISCHARGE_DATE => [d("2023-01-09"), d("2023-01-05")],
            DISCHARGE_DATE_STATUS => [None::<String>, None],
            EPISODE_ORDER => [None, Some(2.0)],
            SOURCE_LINE => [2i64, 3],
        )
        .unwrap();
        let folded = fold_spells(df.clone(), &key()).expect("folded");
        let every = fold_all(df, &key()).expect("folded");
        assert!(folded.equals_missing(&every), "{folded}\n{every}");
        assert_eq!(whole(&folded, SOURCE_LINE), [3]);
        assert_eq!(discharged(&folded), [Some("2023-01-09".to_string())]);
    }
}
