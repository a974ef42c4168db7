//! Hospital use before and after the index date, per person (SPEC 4).
//!
//! Index: a person's first started course's start date (participants) or first
//! referral date (comparison: referred, never started). Pre window
//! [index − W, index), post window [index, index + W). A person is eligible only
//! if both windows lie inside the extract's coverage; the others are counted as
//! "insufficient follow-up". Events are placed in a window by their admission,
//! arrival or appointment date.

use chrono::NaiveDate;
use polars::prelude::*;

use super::referrals::*;
use super::table::{formulas, Table};
use crate::error::MetricsResult;
use crate::ingest::linkage::Linkage;
use crate::schema::*;
use crate::stats;

pub const GROUP: &str = "group";
pub const INDEX: &str = "index_date";
pub const INDEX_PROVIDER: &str = "index_provider";
pub const FIRST_COMPLETED: &str = "completed_first_course";
pub const ELIGIBLE: &str = "eligible";
pub const LINKED: &str = "linked";

/// (outcome key, the label the pack's charts show).
pub const OUTCOMES: &[(&str, &str)] = &[
    ("emergency_admissions", "Emergency admissions"),
    ("ae_attendances", "A&E attendances"),
    ("emergency_bed_days", "Emergency bed days"),
    ("elective_admissions", "Planned admissions"),
    ("outpatient_attendances", "Outpatient attendances"),
];

/// One row per person: group, index date, provider of the index course, and
/// whether they completed their first started course.
pub fn persons(referrals: &LazyFrame) -> LazyFrame {
    referrals
        .clone()
        .sort(
            [PERSON_ID, COURSE_START_DATE, REFERRAL_DATE],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .group_by_stable([col(PERSON_ID)])
        .agg([
            col(STARTER).any(true).alias("started"),
            col(COURSE_START_DATE)
                .filter(col(STARTER))
                .min()
                .alias("first_start"),
            col(REFERRAL_DATE).min().alias("first_referral"),
            col(COMPLETER)
                .filter(col(STARTER))
                .first()
                .alias(FIRST_COMPLETED),
            col(PROVIDER_ID)
                .filter(col(STARTER))
                .first()
                .alias("start_provider"),
            col(PROVIDER_ID).first().alias("referral_provider"),
            // Covariates for matching, from the person's first referral row.
            col(AGE_GROUP).first().alias("cov_age_band"),
            col(SEX).first().alias("cov_sex"),
            col(IMD_QUINTILE).first().alias("cov_imd_quintile"),
            col(ETHNICITY_GROUP).first().alias("cov_ethnic_group"),
            col(LTC_COUNT).first().alias("_ltc"),
            col(REFERRAL_SOURCE).first().alias("cov_referral_source"),
            col(PROGRAMME).first().alias("cov_programme"),
        ])
        .with_columns([
            when(col("started"))
                .then(col("first_start"))
                .otherwise(col("first_referral"))
                .alias(INDEX),
            when(col("started"))
                .then(col("start_provider"))
                .otherwise(col("referral_provider"))
                .alias(INDEX_PROVIDER),
            when(col("started"))
                .then(lit("starters"))
                .otherwise(lit("comparison"))
                .alias(GROUP),
            col(FIRST_COMPLETED).fill_null(lit(false)),
            when(col("_ltc").is_null())
                .then(lit("Not known"))
                .when(col("_ltc").cast(DataType::Int32).gt_eq(lit(3)))
                .then(lit("3+"))
                .otherwise(col("_ltc").cast(DataType::Int32).cast(DataType::String))
                .alias("cov_ltc_band"),
            (days(col("first_start")) - days(col("first_referral"))).alias(WAIT_DAYS),
        ])
}

/// A person's row number in `persons` (added by the caller, see [`events_of`]):
/// the hospital events are keyed by it instead of the long pseudonym.
pub const PID: &str = "_pid";

/// The columns of the hospital events the outcomes use.
const EVENT_COLUMNS: &[&str] = &[
    PERSON_ID,
    EVENT_DATE,
    SETTING,
    ADMISSION_TYPE,
    DISCHARGE_DATE,
    ATTENDANCE_OUTCOME,
];

/// Each event's contribution to each outcome (0 where it does not count).
fn indicators() -> Vec<(&'static str, Expr)> {
    let emergency = col(SETTING)
        .eq(lit("apc"))
        .and(col(ADMISSION_TYPE).eq(lit("emergency")));
    // Bed days = discharge − admission (0 for a same-day stay; 0 where the discharge is unknown).
    let bed_days = (days(col(DISCHARGE_DATE)) - days(col(EVENT_DATE)))
        .clip_min(lit(0))
        .fill_null(lit(0));
    vec![
        (
            "emergency_admissions",
            emergency.clone().cast(DataType::Int32),
        ),
        (
            "ae_attendances",
            col(SETTING).eq(lit("ae")).cast(DataType::Int32),
        ),
        (
            "emergency_bed_days",
            when(emergency).then(bed_days).otherwise(lit(0)),
        ),
        (
            "elective_admissions",
            col(SETTING)
                .eq(lit("apc"))
                .and(col(ADMISSION_TYPE).eq(lit("elective")))
                .cast(DataType::Int32),
        ),
        (
            "outpatient_attendances",
            col(SETTING)
                .eq(lit("op"))
                .and(col(ATTENDANCE_OUTCOME).eq(lit("attended")))
                .cast(DataType::Int32),
        ),
    ]
}

/// The hospital events the evaluation uses, and the returns' linkage.
pub struct Events {
    /// The events of `persons` only: their [`PID`], event date and each
    /// outcome's indicator (the extract's other rows and columns are never held).
    pub events: LazyFrame,
    /// How many of the returns' people have at least one hospital row.
    pub linkage: Linkage,
    /// Their rows in two or more files of a source ([`across_files`]).
    pub across: AcrossFiles,
}

/// Reads the hospital events (`parts`: the warehouse's scan of each file of
/// the table) of the returns' people (`returns`: the participants table) and
/// keeps those of `persons` (which carries [`PID`]), with only the columns the
/// outcomes use; counts the returns' people found. Every outcome is a count
/// per person, so this leaves every figure as it was.
///
/// The rows are found by [`PERSON_KEY`], eight bytes, rather than by the
/// 64-character pseudonym (0.26 s against 0.64 s at 10M rows; reading the
/// matched rows' pseudonyms to confirm them would cost most of that again).
/// A part written before the warehouse had the key has it worked out from
/// `person_id` as it is read. Where two of the people looked for share a key,
/// the pseudonym itself is joined on. What is left: a hospital row of someone
/// else whose id has the same 64-bit key as one of theirs would count as
/// theirs, a chance of about people × other ids / 2^64 (10^-8 at W-ICB, 10^-5
/// at a national extract); a key cannot be aimed at without 2^64 tries.
///
/// The APC rows of a source in `spells` with two or more files are folded
/// across its files by its spell key ([`fold_across_files`]): a spell whose
/// episodes are in two files is one admission, as it is within one file;
/// what was folded, and rows sent again, are counted ([`across_files`]).
pub fn events_of(
    parts: Vec<LazyFrame>,
    persons: &LazyFrame,
    returns: LazyFrame,
    spells: &[HospitalSource],
) -> PolarsResult<Events> {
    let returns = returns
        .select([col(PERSON_ID).cast(DataType::String)])
        .filter(col(PERSON_ID).is_not_null())
        .unique(None, UniqueKeepStrategy::First)
        .with_column(lit(true).alias("_in_returns"));
    let people = rows_in(returns.clone())?;
    let keys = person_keys(returns, persons)?;
    let on = join_column(&keys)?;
    let mut parts = parts;
    let union = union_schema(&mut parts)?;
    let across = fold_sources(spells, &union);
    let several = spells.iter().any(|s| s.files > 1);
    let extra = fold_columns(&across, several, &union);
    let extra_names: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut select = vec![col("_key"), col("_in_returns"), col(PID), col(EVENT_DATE)];
    for (name, ind) in indicators() {
        select.push(ind.fill_null(lit(0)).alias(name));
    }
    // Where rows are checked or folded across files, the indicators are
    // worked out after.
    let per_part = match extra.is_empty() {
        true => select.clone(),
        false => event_rows(&extra),
    };
    if parts.is_empty() {
        return Err(PolarsError::NoData("no hospital files".into()));
    }
    let mut joined = Vec::new();
    for part in parts {
        joined.push(
            with_event_columns(part, &union, on, &extra_names)?
                .join(
                    keys.clone().lazy(),
                    [col(on)],
                    [col(on)],
                    JoinArgs::new(JoinType::Inner),
                )
                .select(per_part.clone()),
        );
    }
    // The files side by side.
    let union_args = UnionArgs {
        parallel: true,
        maintain_order: true,
        ..UnionArgs::default()
    };
    let found = concat(joined, union_args)?;
    let (found, across_found) = match extra.is_empty() {
        true => (found, AcrossFiles::default()),
        false => checked_across_files(found.collect()?, spells, &across, select)?,
    };
    let found = found.collect()?.lazy();
    let linked = rows_in(
        found
            .clone()
            .filter(col("_in_returns"))
            .select([col("_key")])
            .unique(None, UniqueKeepStrategy::Any),
    )?;
    let mut out = vec![col(PID), col(EVENT_DATE)];
    out.extend(OUTCOMES.iter().map(|(o, _)| col(*o)));
    let events = found
        .filter(col(PID).is_not_null())
        .select(out)
        .collect()?
        .lazy();
    Ok(Events {
        events,
        linkage: Linkage { people, linked },
        across: across_found,
    })
}

/// The matched rows of [`events_of`] from sources with two or more files:
/// checked across files ([`across_files`]), the APC rows of `across` folded
/// across them ([`fold_across_files`]), then `select`ed (the indicators).
fn checked_across_files(
    rows: DataFrame,
    spells: &[HospitalSource],
    across: &[&HospitalSource],
    select: Vec<Expr>,
) -> PolarsResult<(LazyFrame, AcrossFiles)> {
    let counted = across_files(&rows, spells, "_key")?;
    let folded = match across.is_empty() {
        true => rows.lazy(),
        false => fold_across_files(rows, across)?,
    };
    Ok((folded.select(select), counted))
}

/// The column the hospital rows are matched to `keys` ([`person_keys`]) on:
/// [`PERSON_KEY`] where every person there has a key of their own, else
/// [`PERSON_ID`].
fn join_column(keys: &DataFrame) -> PolarsResult<&'static str> {
    Ok(match crate::ingest::nhs::keys_tell_apart(keys)? {
        true => PERSON_KEY,
        false => PERSON_ID,
    })
}

/// A hospital source: its name, its spell key (empty where its episodes
/// are not folded into spells) and how many files it has in the warehouse
/// (from the manifest).
#[derive(Debug, Clone, PartialEq)]
pub struct HospitalSource {
    pub name: String,
    pub key: Vec<String>,
    pub files: usize,
}

impl HospitalSource {
    /// The pipeline's hospital source `s`, with `files` files.
    pub fn of(s: &crate::pipeline::Source, files: usize) -> Self {
        HospitalSource {
            name: s.name.clone(),
            key: s.spell_key.clone().unwrap_or_default(),
            files,
        }
    }

    /// Its APC rows.
    fn rows(&self) -> Expr {
        col(SOURCE)
            .eq(lit(self.name.as_str()))
            .and(col(SETTING).eq(lit("apc")))
            .fill_null(lit(false))
    }

    /// Its spell key's columns, with `person_id` as the column `person`.
    fn key_with(&self, person: &str) -> Vec<String> {
        self.key
            .iter()
            .map(|k| match k.as_str() {
                PERSON_ID => person.to_string(),
                k => k.to_string(),
            })
            .collect()
    }

    /// True where every field of its spell key has a value (`person_id` as
    /// the column `person`): only such APC rows are folded into spells.
    fn key_given(&self, person: &str) -> Expr {
        crate::ingest::checks::spells::key_given(&self.key_with(person))
    }
}

/// What the checks across files found, per source: admissions whose
/// episodes are in two or more of its files (folded into one by
/// [`events_of`]), and rows sent again (counted as they are).
#[derive(Debug, Default, PartialEq)]
pub struct AcrossFiles {
    pub spells: Vec<(String, usize)>,
    pub rows: Vec<(String, usize)>,
}

/// The checks across files over `rows`: the hospital rows of the returns'
/// people from every file, with [`SOURCE`], [`SOURCE_FILE`], the person as
/// the column `person`, [`EVENT_COLUMNS`] and [`SAME_ROW`] (those the files
/// have). For each source of `sources` with two or more files:
/// - `spells`: the spell keys (all fields given) of its APC rows that are in
///   two or more of its files;
/// - `rows`: its rows not folded into spells (all but the APC rows of a
///   source with a spell key whose fields are all given) that are the same,
///   by the person, [`EVENT_COLUMNS`] and [`SAME_ROW`], in two or more of
///   its files: an extract sent again, or overlapping another. Each counts
///   once however many files it is in; they are not taken out, as two
///   attendances on one day can both be real.
pub fn across_files(
    rows: &DataFrame,
    sources: &[HospitalSource],
    person: &str,
) -> PolarsResult<AcrossFiles> {
    let has = |c: &str| rows.column(c).is_ok();
    let mut found = AcrossFiles::default();
    for s in sources.iter().filter(|s| s.files > 1) {
        let key = s.key_with(person);
        let folded = s.rows().and(s.key_given(person));
        if !key.is_empty() && key.iter().all(|k| has(k)) {
            let by = key.iter().map(|k| col(k.as_str())).collect();
            let mine = rows.clone().lazy().filter(folded.clone());
            let n = in_two_files(mine, by, usize::MAX)?;
            if n > 0 {
                found.spells.push((s.name.clone(), n));
            }
        }
        let unfolded = match key.is_empty() {
            true => col(SOURCE).eq(lit(s.name.as_str())),
            false => col(SOURCE).eq(lit(s.name.as_str())).and(folded.not()),
        };
        // The person, date and setting first: they find the candidates.
        let by = [person]
            .into_iter()
            .chain(EVENT_COLUMNS.iter().copied().filter(|c| *c != PERSON_ID))
            .chain(SAME_ROW)
            .filter(|c| has(c))
            .map(col)
            .collect();
        let n = in_two_files(rows.clone().lazy().filter(unfolded), by, 3)?;
        if n > 0 {
            found.rows.push((s.name.clone(), n));
        }
    }
    Ok(found)
}

/// How many values of `by` among `rows` (with their [`SOURCE_FILE`]) are
/// in two or more files. The first `quick` columns of `by` find the
/// candidates (values of them in two or more files); only their rows are
/// compared by all of `by`, which for files that do not overlap is few.
fn in_two_files(rows: LazyFrame, by: Vec<Expr>, quick: usize) -> PolarsResult<usize> {
    // A group's least and greatest file differ where it is in two or more.
    let spread = |lf: LazyFrame, by: &[Expr]| {
        lf.group_by(by)
            .agg([
                col(SOURCE_FILE).min().alias("_first"),
                col(SOURCE_FILE).max().alias("_last"),
            ])
            .filter(col("_first").neq(col("_last")))
    };
    if quick >= by.len() {
        return rows_in(spread(rows, &by));
    }
    let rows = rows.collect()?.lazy();
    let quick = &by[..quick];
    let candidates = spread(rows.clone(), quick).select(quick);
    let rows = rows.join(
        candidates,
        quick.to_vec(),
        quick.to_vec(),
        JoinArgs::new(JoinType::Inner),
    );
    rows_in(spread(rows, &by))
}

/// The rows of `parts` (the hospital rows, a file at a time, each with its
/// source and file) of the people of `people` (any frame with their
/// `person_id`, found by [`PERSON_KEY`]) and of the sources named in
/// `sources`, with the columns [`across_files`] compares (the person as
/// [`PERSON_KEY`]): what `validate` checks across files.
pub fn of_people(
    parts: Vec<LazyFrame>,
    people: LazyFrame,
    sources: &[&str],
) -> PolarsResult<DataFrame> {
    let keys = people
        .select([
            crate::ingest::nhs::person_key(col(PERSON_ID).cast(DataType::String)).alias(PERSON_KEY),
        ])
        .drop_nulls(None)
        .unique(None, UniqueKeepStrategy::Any);
    let names = Series::new("sources".into(), sources)
        .implode()?
        .into_series();
    let mut parts = parts;
    let union = union_schema(&mut parts)?;
    let extra = compared_columns(&union);
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let rows = with_event_columns(part, &union, PERSON_KEY, &extra)?
            .filter(col(SOURCE).is_in(lit(names.clone()), false))
            .join(
                keys.clone(),
                [col(PERSON_KEY)],
                [col(PERSON_KEY)],
                JoinArgs::new(JoinType::Inner),
            );
        out.push(rows);
    }
    if out.is_empty() {
        return Ok(DataFrame::empty());
    }
    concat(out, UnionArgs::default())?.collect()
}

/// The columns beyond [`EVENT_COLUMNS`] the checks across files read, of
/// those the files have: the source and file, and [`SAME_ROW`].
fn compared_columns(union: &[(String, DataType)]) -> Vec<&'static str> {
    let mut extra = vec![SOURCE, SOURCE_FILE];
    extra.extend(
        SAME_ROW
            .into_iter()
            .filter(|c| union.iter().any(|(n, _)| n == c)),
    );
    extra
}

/// A note for each hospital source with rows in more than one of its files
/// ([`across_files`]): admissions folded across the files, and rows sent
/// again, counted as they are (a warning). `published`: the counts
/// controlled, else exact (an internal pack, `validate`).
pub fn across_files_notes(found: &AcrossFiles, published: bool) -> Vec<String> {
    let count = |n: usize| crate::disclosure::count_in_words(n as i64, published);
    let mut notes = Vec::new();
    for (source, n) in &found.spells {
        notes.push(format!(
            "Hospital source `{source}`: admissions of the returns' people with episodes in more than one of its files: {}. A spell sent partly in one file and partly in the next, or the same rows sent in two files (an extract sent again, or overlapping another), is counted as one admission, from its first episode's admission to its latest discharge. If an extract was sent twice, remove the older file.",
            count(*n)
        ));
    }
    for (source, n) in &found.rows {
        notes.push(format!(
            "{}hospital source `{source}`: rows of the returns' people in more than one of its files, the same person, date and codes in each: {}. An extract sent again, or overlapping another? Each copy is counted (two attendances on one day can both be real). If an extract was sent twice, remove the older file.",
            super::WARNING,
            count(*n)
        ));
    }
    notes
}

/// The columns two rows of one source are compared by to tell a row sent
/// again in another file ([`across_files`]), beyond [`EVENT_COLUMNS`]:
/// the codes the outcomes come from, the episode order and spell id.
const SAME_ROW: [&str; 5] = [
    ADMISSION_METHOD,
    AE_DEPARTMENT_TYPE,
    ATTENDANCE_STATUS,
    EPISODE_ORDER,
    SPELL_ID,
];

/// The sources of `spells` whose APC rows [`events_of`] folds across files:
/// those with a spell key that every file can be grouped by, and two or more files.
fn fold_sources<'s>(
    spells: &'s [HospitalSource],
    union: &[(String, DataType)],
) -> Vec<&'s HospitalSource> {
    let stored = |c: &str| c == PERSON_ID || union.iter().any(|(n, _)| n == c);
    spells
        .iter()
        .filter(|s| s.files > 1 && !s.key.is_empty() && s.key.iter().all(|k| stored(k)))
        .collect()
}

/// The order a spell's rows from several files are put in, of the columns
/// the files have: its first episode first, by episode order (a blank one
/// last), admission date, then file and line; the ingest orders a file's
/// episodes the same way ([`crate::ingest::checks::spells`]).
const FOLD_ORDER: [&str; 4] = [EPISODE_ORDER, EVENT_DATE, SOURCE_FILE, SOURCE_LINE];

/// The columns beyond [`EVENT_COLUMNS`] that folding `across` needs, and,
/// where a source has two or more files (`several`), that the checks across
/// files read ([`compared_columns`]), of those the files have: the source,
/// file, line and episode order, the spell keys' other fields (`person_id`
/// is the person's number, `_key`), the codes compared.
fn fold_columns(
    across: &[&HospitalSource],
    several: bool,
    union: &[(String, DataType)],
) -> Vec<String> {
    let mut wanted: Vec<&str> = Vec::new();
    if several {
        wanted.extend(compared_columns(union));
    }
    if !across.is_empty() {
        let keys = across.iter().flat_map(|s| s.key.iter().map(String::as_str));
        wanted.extend([SOURCE].into_iter().chain(FOLD_ORDER).chain(keys));
    }
    let mut out: Vec<String> = Vec::new();
    for c in wanted {
        let new = !EVENT_COLUMNS.contains(&c) && !out.iter().any(|o| o == c);
        if new && union.iter().any(|(n, _)| n == c) {
            out.push(c.to_string());
        }
    }
    out
}

/// Each matched row's columns before its indicators are worked out: the
/// person's numbers, [`EVENT_COLUMNS`] and `extra`.
fn event_rows(extra: &[String]) -> Vec<Expr> {
    let mut out = vec![col("_key"), col("_in_returns"), col(PID)];
    out.extend(
        EVENT_COLUMNS
            .iter()
            .filter(|c| **c != PERSON_ID)
            .map(|c| col(*c)),
    );
    out.extend(extra.iter().map(|c| col(c.as_str())));
    out
}

/// Folds the APC rows of each source of `across` that share its spell key
/// (each file's own episodes already folded at ingest) into one admission:
/// every field from the row of its first episode ([`FOLD_ORDER`]), the
/// discharge the latest of its rows' (each row holds only its first
/// episode's order, so which row holds the last episode is not known when
/// episodes are interleaved across files, or a file is sent again with the
/// spell grown; the latest discharge is the spell's in every such case). A
/// spell sent partly in one file and partly in the next is one admission, as
/// SPEC 1.2 has it; the same rows
/// sent in two files are one too. `person_id` in a key is the person's
/// number, `_key`. Other rows, and APC rows missing a field of the key (an
/// empty spell id), are left as they are.
fn fold_across_files(found: DataFrame, across: &[&HospitalSource]) -> PolarsResult<LazyFrame> {
    let names: Vec<String> = found
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let order: Vec<&str> = FOLD_ORDER
        .into_iter()
        .filter(|c| names.iter().any(|n| n == c))
        .collect();
    let rows = found.lazy();
    let mut out = Vec::new();
    let mut others = lit(true);
    for s in across {
        let key = s.key_with("_key");
        // A row missing a field of the key is an admission of its own.
        let folded = s.rows().and(s.key_given("_key"));
        others = others.and(folded.clone().not());
        let fields = names.iter().filter(|n| !key.contains(n)).map(|n| {
            let c = col(n.as_str());
            match n.as_str() {
                DISCHARGE_DATE => c.max(),
                _ => c.first(),
            }
        });
        out.push(
            rows.clone()
                .filter(folded)
                .sort(
                    order.clone(),
                    SortMultipleOptions::default().with_nulls_last(true),
                )
                .group_by_stable(key.iter().map(|k| col(k.as_str())).collect::<Vec<_>>())
                .agg(fields.collect::<Vec<_>>())
                .select(names.iter().map(|n| col(n.as_str())).collect::<Vec<_>>()),
        );
    }
    out.insert(0, rows.filter(others));
    concat(out, UnionArgs::default())
}

/// Every person of `persons` or the returns, once, with a number (`_key`),
/// whether they are in the returns, and their [`PID`] in `persons` (null for
/// someone of the returns outside the evaluation).
fn person_keys(returns: LazyFrame, persons: &LazyFrame) -> PolarsResult<DataFrame> {
    concat(
        [
            returns,
            persons
                .clone()
                .select([col(PERSON_ID), lit(false).alias("_in_returns")]),
        ],
        UnionArgs::default(),
    )?
    .group_by([col(PERSON_ID)])
    .agg([col("_in_returns").any(true)])
    .with_row_index("_key", None)
    .join(
        persons.clone().select([col(PERSON_ID), col(PID)]),
        [col(PERSON_ID)],
        [col(PERSON_ID)],
        JoinArgs::new(JoinType::Left),
    )
    .with_column(crate::ingest::nhs::person_key(col(PERSON_ID)).alias(PERSON_KEY))
    .collect()
}

/// The columns of all the files, as their diagonal union has them.
fn union_schema(parts: &mut [LazyFrame]) -> PolarsResult<Vec<(String, DataType)>> {
    let mut union: Vec<(String, DataType)> = Vec::new();
    for part in parts.iter_mut() {
        for (name, dtype) in part.collect_schema()?.iter() {
            if !union.iter().any(|(n, _)| n == name.as_str()) {
                union.push((name.to_string(), dtype.clone()));
            }
        }
    }
    Ok(union)
}

/// One file's [`EVENT_COLUMNS`] and `extra` columns (those any file has),
/// with `person_id` as the join column `on`: a column this file lacks reads as empty, and a key
/// it lacks (a part written before the warehouse had one) is worked out.
fn with_event_columns(
    mut part: LazyFrame,
    union: &[(String, DataType)],
    on: &str,
    extra: &[&str],
) -> PolarsResult<LazyFrame> {
    let schema = part.collect_schema()?;
    let key = match on {
        PERSON_KEY => crate::ingest::nhs::person_key_of(&schema),
        _ => col(on),
    };
    let mut keep = vec![key];
    keep.extend(
        EVENT_COLUMNS
            .iter()
            .chain(extra)
            .filter(|c| **c != PERSON_ID)
            .filter_map(|c| {
                let (_, dtype) = union.iter().find(|(n, _)| n == c)?;
                Some(match schema.contains(c) {
                    true => col(*c),
                    false => lit(NULL).cast(dtype.clone()).alias(*c),
                })
            }),
    );
    Ok(part.select(keep))
}

/// Days from a starter's first referral to their first course start.
pub const WAIT_DAYS: &str = "wait_days";
/// Eligible for the baseline year [index − 2W, index − W) as well.
pub const BASE_ELIGIBLE: &str = "baseline_eligible";

/// Each person's events in the pre, post and baseline windows of `w` days
/// (`ev`: events with their `offset` in days from the person's index date),
/// one column per outcome and window ([`Counted`]). Only people with an
/// event have a row.
fn per_person_counts(ev: LazyFrame, w: i32, counted: &Counted) -> PolarsResult<LazyFrame> {
    let pre = col("offset").gt_eq(lit(-w)).and(col("offset").lt(lit(0)));
    let post = col("offset").gt_eq(lit(0)).and(col("offset").lt(lit(w)));
    let base = col("offset")
        .gt_eq(lit(-2 * w))
        .and(col("offset").lt(lit(-w)));
    // Each event's count in each window as a column, then plain sums per
    // person (a filtered sum inside the group-by is far slower).
    let mut windowed = Vec::new();
    let mut aggs = Vec::new();
    let windows = [("pre", &pre), ("post", &post), ("base", &base)];
    for name in counted.outcomes {
        let ind = col(*name);
        for (suffix, mask) in &windows[..counted.windows()] {
            let c = format!("{name}_{suffix}");
            windowed.push(
                when((*mask).clone())
                    .then(ind.clone())
                    .otherwise(lit(0))
                    .alias(c.as_str()),
            );
            aggs.push(
                col(c.as_str())
                    .sum()
                    .cast(DataType::Float64)
                    .alias(c.as_str()),
            );
        }
    }
    // Whole-number sums, so the order rows are added in does not matter:
    // the streaming engine's hash aggregation is far faster here.
    Ok(ev
        .with_columns(windowed)
        .group_by([col(PID)])
        .agg(aggs)
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single()
        .lazy())
}

/// Which outcomes [`person_outcomes_of`] counts, and whether in the
/// baseline window as well as the pre and post windows.
pub struct Counted<'a> {
    pub outcomes: &'a [&'a str],
    pub baseline: bool,
}

impl Counted<'_> {
    /// Every outcome in every window (the main tables and the placebo).
    pub const ALL: Counted<'static> = Counted {
        outcomes: &OUTCOME_KEYS,
        baseline: true,
    };

    /// How many of pre, post and baseline are counted.
    fn windows(&self) -> usize {
        if self.baseline {
            3
        } else {
            2
        }
    }
}

/// The outcome keys of [`OUTCOMES`], in its order.
pub const OUTCOME_KEYS: [&str; OUTCOMES.len()] = {
    let mut keys = [""; OUTCOMES.len()];
    let mut i = 0;
    while i < keys.len() {
        keys[i] = OUTCOMES[i].0;
        i += 1;
    }
    keys
};

/// The events of the persons of `p` (some of the persons, each with its
/// [`PID`], which numbers all of them from 0), each with its person's
/// [`INDEX`]. The index dates are laid out by PID and gathered by each
/// event's PID, which is far quicker than joining millions of events on it;
/// the events of people not in `p` are left out, as an inner join leaves them.
fn with_index(events: &LazyFrame, p: &LazyFrame) -> PolarsResult<LazyFrame> {
    let mine = p
        .clone()
        .select([col(PID), col(INDEX), lit(true).alias("_in")])
        .collect()?;
    let top = mine
        .column(PID)?
        .as_materialized_series()
        .max::<IdxSize>()?
        .map_or(0, |m| m + 1);
    let by_pid = IdxCa::from_vec(PID.into(), (0..top).collect())
        .into_series()
        .into_frame()
        .lazy()
        .join(
            mine.lazy(),
            [col(PID)],
            [col(PID)],
            JoinArgs {
                maintain_order: MaintainOrderJoin::Left,
                ..JoinArgs::new(JoinType::Left)
            },
        )
        .collect()?;
    let at_pid = |c: &str| -> PolarsResult<Expr> {
        let values = by_pid.column(c)?.as_materialized_series().clone();
        Ok(lit(values).gather(col(PID), true).alias(c))
    };
    Ok(events
        .clone()
        .with_columns([at_pid(INDEX)?, at_pid("_in")?])
        .filter(col("_in").fill_null(lit(false)))
        .drop(cols(["_in"])))
}

/// Per-person event counts in the pre and post windows, for every person
/// (zero where they had none), with eligibility. `persons` carries [`PID`]
/// and `events` are [`events_of`]'s.
pub fn person_outcomes(
    persons: &LazyFrame,
    events: &LazyFrame,
    window_days: i64,
    coverage: (NaiveDate, NaiveDate),
) -> PolarsResult<LazyFrame> {
    person_outcomes_of(persons, events, window_days, coverage, &Counted::ALL)
}

/// [`person_outcomes`] of only the outcomes and windows `counted` names
/// (a sensitivity analysis needs fewer; each counted column costs a pass).
pub fn person_outcomes_of(
    persons: &LazyFrame,
    events: &LazyFrame,
    window_days: i64,
    coverage: (NaiveDate, NaiveDate),
    counted: &Counted,
) -> PolarsResult<LazyFrame> {
    let w = window_days as i32;
    let (cov_start, cov_end) = (day_number(coverage.0), day_number(coverage.1));
    let idx = days(col(INDEX));
    let p = persons.clone().with_columns([
        (idx.clone() - lit(w))
            .gt_eq(lit(cov_start))
            .and((idx.clone() + lit(w) - lit(1)).lt_eq(lit(cov_end)))
            .alias(ELIGIBLE),
        (idx.clone() - lit(2 * w))
            .gt_eq(lit(cov_start))
            .and((idx + lit(w) - lit(1)).lt_eq(lit(cov_end)))
            .alias(BASE_ELIGIBLE),
    ]);
    let ev = with_index(events, &p)?
        .with_column((days(col(EVENT_DATE)) - days(col(INDEX))).alias("offset"));
    let per_person = per_person_counts(ev, w, counted)?;
    // Linked: the person has at least one record in the extract, at any date
    // (their per-person row exists before the zeros are filled in).
    let any = counted.outcomes.first().copied().unwrap_or(OUTCOME_KEYS[0]);
    let mut fill = vec![col(format!("{any}_pre")).is_not_null().alias(LINKED)];
    for name in counted.outcomes {
        for s in &["pre", "post", "base"][..counted.windows()] {
            fill.push(col(format!("{name}_{s}")).fill_null(lit(0.0)));
        }
        fill.push(
            (col(format!("{name}_post")).fill_null(lit(0.0))
                - col(format!("{name}_pre")).fill_null(lit(0.0)))
            .alias(format!("{name}_change")),
        );
    }
    Ok(p.join(
        per_person,
        [col(PID)],
        [col(PID)],
        JoinArgs::new(JoinType::Left),
    )
    .with_columns(fill)
    .drop(cols([PID])))
}

/// Persons, eligible persons and those with insufficient follow-up, per group.
pub fn follow_up(outcomes: &LazyFrame) -> PolarsResult<DataFrame> {
    let counts = by_group(outcomes, &GROUPS)?
        .group_by([col(GROUP)])
        .agg([
            len().cast(DataType::Int64).alias("persons"),
            col(ELIGIBLE).sum().cast(DataType::Int64).alias("eligible"),
            col(LINKED).sum().cast(DataType::Int64).alias(LINKED),
        ])
        .collect()?;
    let keys = text_column(&counts, GROUP)?;
    let count = |g: &str, c: &str| -> i64 {
        let at = keys.iter().position(|k| k == g);
        at.and_then(|i| counts.column(c).ok()?.i64().ok()?.get(i))
            .unwrap_or(0)
    };
    let (mut persons, mut eligible, mut linked) = (vec![], vec![], vec![]);
    for g in GROUPS {
        persons.push(count(g, "persons"));
        eligible.push(count(g, "eligible"));
        linked.push(count(g, LINKED));
    }
    let insufficient: Vec<i64> = persons.iter().zip(&eligible).map(|(p, e)| p - e).collect();
    df!(GROUP => GROUPS, "persons" => persons, "eligible" => eligible, "insufficient_follow_up" => insufficient, LINKED => linked)
}

/// The three groups of the hospital tables, in their order: starters,
/// completers (of their first started course) and the comparison group.
pub const GROUPS: [&str; 3] = ["starters", "completers", "comparison"];

/// Who is in a group: a completer is also a starter.
fn in_group(group: &str) -> Expr {
    match group {
        "completers" => col(GROUP).eq(lit("starters")).and(col(FIRST_COMPLETED)),
        g => col(GROUP).eq(lit(g)),
    }
}

/// Every person once for each of `groups` they are in, with the group in
/// [`GROUP`] (so a completer stands twice: as a starter and a completer),
/// each group's people in their order in `outcomes`.
fn by_group(outcomes: &LazyFrame, groups: &[&str]) -> PolarsResult<LazyFrame> {
    let parts: Vec<LazyFrame> = groups
        .iter()
        .map(|g| {
            outcomes
                .clone()
                .filter(in_group(g))
                .with_column(lit(*g).alias(GROUP))
        })
        .collect();
    concat(parts, UnionArgs::default())
}

/// The strings of a column (a null as the empty string).
fn text_column(df: &DataFrame, name: &str) -> PolarsResult<Vec<String>> {
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|s| s.unwrap_or_default().to_string())
        .collect())
}

/// The key of the costed outcome among [`GroupMoments`]: each person's
/// hospital use priced at the unit costs (Σ events × unit cost).
pub const COSTED: &str = "costed";

/// n, totals, means and variance of one outcome's pre, post and change among eligible persons.
#[derive(Clone, Copy, Debug)]
pub struct Moments {
    pub n: f64,
    pub total_pre: f64,
    pub total_post: f64,
    pub mean_change: f64,
    pub var_change: f64,
}

impl Moments {
    /// The moments of a group with no eligible person.
    const NONE: Moments = Moments {
        n: 0.0,
        total_pre: 0.0,
        total_post: 0.0,
        mean_change: f64::NAN,
        var_change: f64::NAN,
    };

    /// The moments of one group's eligible persons' values, in person order:
    /// each sum is taken over one contiguous column in that order, so it does
    /// not depend on how many threads or chunks the query used.
    fn of(pre: &Series, post: &Series, change: &Series) -> PolarsResult<Moments> {
        let sum = |s: &Series| -> PolarsResult<f64> {
            Ok(s.rechunk()
                .cast(&DataType::Float64)?
                .f64()?
                .sum()
                .unwrap_or(0.0))
        };
        let change = change.rechunk().cast(&DataType::Float64)?;
        Ok(Moments {
            n: change.len() as f64,
            total_pre: sum(pre)?,
            total_post: sum(post)?,
            mean_change: change.mean().unwrap_or(f64::NAN),
            var_change: change.f64()?.var(1).unwrap_or(f64::NAN),
        })
    }
}

/// The moments of every group, outcome (and [`COSTED`]) and financial year
/// of the index date, from one query: what the pre/post, DiD and costed
/// DiD figures are made of.
pub struct GroupMoments {
    cells: Vec<(MomentsKey, Moments)>,
    /// The financial years with an eligible person in the period, in order.
    pub years: Vec<String>,
}

/// (group, outcome, financial year: None for all years).
type MomentsKey = (String, String, Option<String>);

impl GroupMoments {
    /// The moments of `group`'s `outcome` in `year` (None: all years); a
    /// group with no eligible person has n = 0 and no mean or variance.
    pub fn get(&self, group: &str, outcome: &str, year: Option<&str>) -> Moments {
        self.cells
            .iter()
            .find(|((g, o, y), _)| g == group && o == outcome && y.as_deref() == year)
            .map(|c| c.1)
            .unwrap_or(Moments::NONE)
    }
}

/// Each eligible person's pre, post and change of every outcome, the costed
/// one included, as long rows (group, year, outcome, pre, post, change):
/// all years (year null) for every group, and by financial year of the index
/// date within the period for starters and the comparison group.
fn long_outcomes(
    outcomes: &LazyFrame,
    units: &[(&str, f64)],
    fy_start_month: u32,
    period: (NaiveDate, NaiveDate),
) -> PolarsResult<LazyFrame> {
    let priced = |suffix: &str| {
        units
            .iter()
            .map(|(o, u)| col(format!("{o}_{suffix}")) * lit(*u))
            .reduce(|a, b| a + b)
            .unwrap_or(lit(0.0))
            .alias(format!("{COSTED}_{suffix}"))
    };
    let eligible = outcomes.clone().filter(col(ELIGIBLE)).with_columns([
        priced("pre"),
        priced("post"),
        priced("change"),
    ]);
    let all_years = by_group(&eligible, &GROUPS)?
        .with_column(lit(NULL).cast(DataType::String).alias(FINANCIAL_YEAR));
    let in_period = eligible
        .filter(
            col(INDEX)
                .gt_eq(lit(period.0))
                .and(col(INDEX).lt_eq(lit(period.1))),
        )
        .with_column(financial_year(col(INDEX), fy_start_month).alias(FINANCIAL_YEAR))
        .filter(col(FINANCIAL_YEAR).is_not_null());
    let by_year = by_group(&in_period, &["starters", "comparison"])?;
    let keys = OUTCOMES.iter().map(|(o, _)| *o).chain([COSTED]);
    let mut long = Vec::new();
    for people in [all_years, by_year] {
        for o in keys.clone() {
            long.push(
                people.clone().select([
                    col(GROUP),
                    col(FINANCIAL_YEAR),
                    lit(o).alias("outcome"),
                    col(format!("{o}_pre")).cast(DataType::Float64).alias("pre"),
                    col(format!("{o}_post"))
                        .cast(DataType::Float64)
                        .alias("post"),
                    col(format!("{o}_change"))
                        .cast(DataType::Float64)
                        .alias("change"),
                ]),
            );
        }
    }
    concat(long, UnionArgs::default())
}

/// The moments of every group, outcome and year in one query over
/// [`long_outcomes`]: one group-by gathers each cell's pre, post and change
/// in person order (a group-by keeps the order of the rows within a group),
/// and [`Moments::of`] sums them in that order, so every figure is the same
/// whatever the number of threads.
pub fn group_moments(
    outcomes: &LazyFrame,
    units: &[(&str, f64)],
    fy_start_month: u32,
    period: (NaiveDate, NaiveDate),
) -> PolarsResult<GroupMoments> {
    let df = long_outcomes(outcomes, units, fy_start_month, period)?
        .group_by([col(GROUP), col("outcome"), col(FINANCIAL_YEAR)])
        .agg([col("pre"), col("post"), col("change")])
        .collect()?;
    let (groups, names) = (text_column(&df, GROUP)?, text_column(&df, "outcome")?);
    let year = df.column(FINANCIAL_YEAR)?.str()?;
    let list = |c: &str| df.column(c).and_then(|c| Ok(c.list()?.clone()));
    let (pre, post, change) = (list("pre")?, list("post")?, list("change")?);
    let mut cells = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let at = |l: &ListChunked| l.get_as_series(i).unwrap_or_default();
        let key = (
            groups[i].clone(),
            names[i].clone(),
            year.get(i).map(String::from),
        );
        cells.push((key, Moments::of(&at(&pre), &at(&post), &at(&change))?));
    }
    let mut years: Vec<String> = cells
        .iter()
        .filter_map(|((_, _, y), _)| y.clone())
        .collect();
    years.sort();
    years.dedup();
    Ok(GroupMoments { cells, years })
}

/// Per group and outcome: n, the event totals before and after, and the
/// half-width of the Student-t 95% interval of the mean paired change (None
/// for n < 2). Means, the change and % change are derived from the totals
/// ([`pre_post_table`]), so a published pack computes them from controlled
/// totals.
pub fn pre_post(m: &GroupMoments) -> PolarsResult<DataFrame> {
    let (mut g, mut o, mut n, mut pre, mut post, mut half, mut sd0) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for group in GROUPS {
        for (outcome, _) in OUTCOMES {
            let m = m.get(group, outcome, None);
            g.push(group.to_string());
            o.push(outcome.to_string());
            n.push(m.n as i64);
            pre.push(m.total_pre);
            post.push(m.total_post);
            half.push(stats::t_half_width(m.n, m.var_change.sqrt(), 0.95));
            sd0.push(m.n >= 2.0 && m.var_change == 0.0);
        }
    }
    df!(
        GROUP => g, "outcome" => o, "n" => n,
        "events_pre" => pre, "events_post" => post, "ci_half" => half, "no_variation" => sd0
    )
}

/// Difference-in-differences per outcome (starters' mean change minus the
/// comparison group's) in `year` (None: all years): the n and event totals
/// of both groups and the half-width of the Welch 95% interval.
pub fn did(m: &GroupMoments, year: Option<&str>) -> PolarsResult<DataFrame> {
    let mut names = Vec::new();
    let mut cols: [Vec<f64>; 6] = Default::default();
    let mut half = Vec::new();
    for (outcome, _) in OUTCOMES {
        let a = m.get("starters", outcome, year);
        let b = m.get("comparison", outcome, year);
        names.push((*outcome).to_string());
        let values = [
            a.n,
            a.total_pre,
            a.total_post,
            b.n,
            b.total_pre,
            b.total_post,
        ];
        for (c, v) in cols.iter_mut().zip(values) {
            c.push(v);
        }
        half.push(welch_half(&a, &b));
    }
    let [n1, s_pre, s_post, n2, c_pre, c_post] = cols;
    df!("outcome" => names,
        "n_starters" => n1.iter().map(|x| *x as i64).collect::<Vec<_>>(),
        "n_comparison" => n2.iter().map(|x| *x as i64).collect::<Vec<_>>(),
        "starters_pre" => s_pre, "starters_post" => s_post,
        "comparison_pre" => c_pre, "comparison_post" => c_post, "ci_half" => half)
}

/// The difference-in-differences per financial year of the index date (a
/// starter's course start, a comparison person's referral) within the
/// evaluation period: the same columns as [`did`] with the year first. Years
/// with no eligible person are left out; so are people whose index date
/// falls before the period (a comparison person first referred earlier).
pub fn did_by_year(m: &GroupMoments) -> PolarsResult<DataFrame> {
    let mut out = did(m, Some(""))?.clear();
    out.insert_column(
        0,
        Column::new_empty(FINANCIAL_YEAR.into(), &DataType::String),
    )?;
    for y in &m.years {
        let mut df = did(m, Some(y))?;
        df.insert_column(
            0,
            Column::new(FINANCIAL_YEAR.into(), vec![y.as_str(); df.height()]),
        )?;
        out.vstack_mut(&df)?;
    }
    Ok(out)
}

fn welch_half(a: &Moments, b: &Moments) -> Option<f64> {
    stats::welch_difference(
        a.n,
        a.mean_change,
        a.var_change,
        b.n,
        b.mean_change,
        b.var_change,
        0.95,
    )
    .map(|i| (i.high - i.low) / 2.0)
}

/// Follow-up, pre/post and difference-in-differences tables (overall and by
/// financial year of the index date within the period), the last three from
/// `moments` ([`group_moments`]).
pub fn tables(outcomes: &LazyFrame, moments: &GroupMoments) -> MetricsResult<Vec<Table>> {
    let did = did_table(
        Table::new(
            "did",
            "Difference-in-differences: starters vs comparison",
            did(moments, None)?,
        )
        .labels(&["outcome"]),
    );
    let by_year = did_table(
        Table::new(
            "did_by_financial_year",
            "Difference-in-differences by financial year of the course start (or referral)",
            did_by_year(moments)?,
        )
        .labels(&[FINANCIAL_YEAR, "outcome"]),
    );
    Ok(vec![
        follow_up_table(outcomes)?,
        pre_post_table(moments)?,
        did,
        by_year,
    ])
}

/// Persons of each group with and without a full follow-up (both windows
/// inside the extract's coverage), and the share linked to the extract.
fn follow_up_table(outcomes: &LazyFrame) -> MetricsResult<Table> {
    Ok(Table::new(
        "hospital_follow_up",
        "Persons with and without full follow-up",
        follow_up(outcomes)?,
    )
    .labels(&[GROUP])
    .counts(&["persons"])
    .count_within("eligible", "persons")
    .count_within("insufficient_follow_up", "persons")
    .count_within(LINKED, "persons")
    .base("persons")
    .share("linkage", LINKED, "persons"))
}

/// Hospital use per eligible person, the year before against the year after
/// the index date: the means are the event totals ÷ n, the change the
/// difference of the means, its interval the change ± the Student-t
/// half-width, and the % change the change ÷ the mean before.
fn pre_post_table(moments: &GroupMoments) -> MetricsResult<Table> {
    Ok(Table::new(
        "hospital_pre_post",
        "Hospital use per person, year before vs year after",
        pre_post(moments)?,
    )
    .labels(&[GROUP, "outcome"])
    .counts(&["n", "events_pre", "events_post"])
    .hidden(&["ci_half"])
    .exact_of(&["no_variation"], &["n"])
    .mean_of("mean_pre", "events_pre", "n")
    .mean_of("mean_post", "events_post", "n")
    .statistic(
        "change",
        &["events_pre", "events_post", "n"],
        formulas::change_of_totals,
        &["n"],
        2,
    )
    .interval(["ci_low", "ci_high"], "change", "ci_half", &["n"])
    .statistic(
        "pct_change",
        &["mean_pre", "mean_post"],
        formulas::relative_change,
        &["n"],
        4,
    ))
}

/// A difference-in-differences table's kinds: the group sizes are counts,
/// the event totals hidden, the estimate (the starters' change in mean use
/// minus the comparison group's) and its Welch interval statistics that need
/// both groups to have at least 10 people.
fn did_table(t: Table) -> Table {
    let both = &["n_starters", "n_comparison"];
    let totals = [
        "starters_pre",
        "starters_post",
        "n_starters",
        "comparison_pre",
        "comparison_post",
        "n_comparison",
    ];
    t.counts(both)
        .hidden_counts(&[totals[0], totals[1], totals[3], totals[4]])
        .hidden(&["ci_half"])
        .statistic("estimate", &totals, formulas::did_of_totals, both, 2)
        .interval(["ci_low", "ci_high"], "estimate", "ci_half", both)
}

/// The costed outcome: each eligible person's hospital use before and after
/// priced at the unit costs (Σ events × unit cost), its difference in
/// differences (starters − comparison) with a Welch 95% half-width. The
/// estimate equals Σ unit cost × each outcome's DiD; the half-width accounts
/// for the correlation between outcomes, which adding outcome intervals does not.
pub struct CostedDid {
    pub n_starters: f64,
    pub n_comparison: f64,
    pub estimate: f64,
    pub half: Option<f64>,
}

/// The costed difference in differences from `moments` ([`group_moments`],
/// whose [`COSTED`] outcome is priced at the unit costs).
pub fn costed_did(moments: &GroupMoments) -> CostedDid {
    let a = moments.get("starters", COSTED, None);
    let b = moments.get("comparison", COSTED, None);
    CostedDid {
        n_starters: a.n,
        n_comparison: b.n,
        estimate: a.mean_change - b.mean_change,
        half: welch_half(&a, &b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Days since 1970-01-01, as polars stores a date.
    fn days_from_epoch(d: NaiveDate) -> i32 {
        (d - date(1970, 1, 1)).num_days() as i32
    }

    /// One person: group, completed their first course, eligible, linked,
    /// index date, and emergency admissions before and after (every other
    /// outcome 0).
    type Person = (&'static str, bool, bool, bool, NaiveDate, f64, f64);

    /// Person outcomes as `person_outcomes` leaves them, for `rows`.
    fn outcomes(rows: &[Person]) -> LazyFrame {
        let mut cols = vec![
            Column::new(GROUP.into(), rows.iter().map(|r| r.0).collect::<Vec<_>>()),
            Column::new(
                FIRST_COMPLETED.into(),
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            ),
            Column::new(
                ELIGIBLE.into(),
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            ),
            Column::new(LINKED.into(), rows.iter().map(|r| r.3).collect::<Vec<_>>()),
            DateChunked::from_naive_date(INDEX.into(), rows.iter().map(|r| r.4)).into_column(),
        ];
        for (o, _) in OUTCOMES {
            let (pre, post): (Vec<f64>, Vec<f64>) = rows
                .iter()
                .map(|r| match *o {
                    "emergency_admissions" => (r.5, r.6),
                    _ => (0.0, 0.0),
                })
                .unzip();
            let change: Vec<f64> = pre.iter().zip(&post).map(|(a, b)| b - a).collect();
            cols.push(Column::new(format!("{o}_pre").into(), pre));
            cols.push(Column::new(format!("{o}_post").into(), post));
            cols.push(Column::new(format!("{o}_change").into(), change));
        }
        DataFrame::new(rows.len(), cols).unwrap().lazy()
    }

    fn f(df: &DataFrame, c: &str, row: usize) -> Option<f64> {
        df.column(c)
            .unwrap()
            .cast(&DataType::Float64)
            .unwrap()
            .f64()
            .unwrap()
            .get(row)
    }

    const JUN23: fn() -> NaiveDate = || date(2023, 6, 1);

    /// Starters change −2 and −1 (one a completer), the comparison group 0
    /// and −1; a fifth person (a starter) lacks follow-up and is left out.
    fn four_people() -> LazyFrame {
        outcomes(&[
            ("starters", false, true, true, JUN23(), 2.0, 0.0),
            ("starters", true, true, false, JUN23(), 1.0, 0.0),
            ("comparison", false, true, true, JUN23(), 1.0, 1.0),
            ("comparison", false, true, true, JUN23(), 2.0, 1.0),
            ("starters", false, false, true, JUN23(), 9.0, 0.0),
        ])
    }

    /// The moments of `lf` (emergency admissions costed at 100 each; the
    /// years 2023/24 and 2024/25).
    fn moments(lf: &LazyFrame) -> GroupMoments {
        let period = (date(2023, 4, 1), date(2025, 3, 31));
        group_moments(lf, &[("emergency_admissions", 100.0)], 4, period).unwrap()
    }

    #[test]
    fn pre_post_of_four_people_matches_the_hand_worked_interval() {
        let df = pre_post(&moments(&four_people())).unwrap();
        // Rows: starters, completers, comparison × OUTCOMES; emergency admissions first.
        let row = |g: usize| g * OUTCOMES.len();
        assert_eq!(f(&df, "n", row(0)), Some(2.0));
        assert_eq!(f(&df, "events_pre", row(0)), Some(3.0));
        assert_eq!(f(&df, "events_post", row(0)), Some(0.0));
        // Changes −2, −1: sd √0.5, half = t(0.975, 1 df) × √0.5 / √2 =
        // 12.706204736174707 × 0.5 (t from any t table: 12.7062).
        let half = f(&df, "ci_half", row(0)).unwrap();
        assert!((half - 6.353102368087353).abs() < 1e-9, "{half}");
        // One completer: no interval.
        assert_eq!(f(&df, "n", row(1)), Some(1.0));
        assert_eq!(f(&df, "ci_half", row(1)), None);
        // The comparison group's other outcomes do not vary.
        let no_variation = df.column("no_variation").unwrap().bool().unwrap();
        assert_eq!(no_variation.get(row(2)), Some(false));
        assert_eq!(no_variation.get(row(2) + 1), Some(true));
    }

    #[test]
    fn did_of_four_people_matches_the_hand_worked_welch_interval() {
        let m = moments(&four_people());
        let df = did(&m, None).unwrap();
        // Starters' mean change −1.5, the comparison group's −0.5: DiD −1.
        assert_eq!(f(&df, "n_starters", 0), Some(2.0));
        assert_eq!(f(&df, "n_comparison", 0), Some(2.0));
        let totals = [
            "starters_pre",
            "starters_post",
            "comparison_pre",
            "comparison_post",
        ];
        let got: Vec<Option<f64>> = totals.iter().map(|c| f(&df, c, 0)).collect();
        assert_eq!(got, [Some(3.0), Some(0.0), Some(3.0), Some(2.0)]);
        // Welch: variances 0.5 and 0.5, se = √(0.25 + 0.25), df = 0.25 /
        // (0.0625 + 0.0625) = 2; half = t(0.975, 2 df) × √0.5 =
        // 4.302652729911275 × 0.7071067811865476 (t table: 4.3027).
        let half = f(&df, "ci_half", 0).unwrap();
        assert!((half - 3.0424349224110734).abs() < 1e-9, "{half}");
        let cost = costed_did(&m);
        assert_eq!(cost.estimate, -100.0);
        assert!((cost.half.unwrap() - 304.24349224110734).abs() < 1e-7);
    }

    #[test]
    fn moments_do_not_depend_on_how_the_rows_are_chunked() {
        // 300 starters and 300 comparison people with uneven changes, as one
        // chunk and as 60 chunks of 10 (as a filter run on many threads
        // leaves them): every moment agrees to the last bit.
        let rows: Vec<Person> = (0..600)
            .map(|k| {
                let g = if k % 2 == 0 { "starters" } else { "comparison" };
                let pre = (k % 7) as f64 * 0.1 + 1.0 / (k + 1) as f64;
                (g, false, true, true, JUN23(), pre, (k % 5) as f64 / 3.0)
            })
            .collect();
        let one = outcomes(&rows).collect().unwrap();
        let mut many = one.slice(0, 10);
        for at in (10..600).step_by(10) {
            many.vstack_mut(&one.slice(at, 10)).unwrap();
        }
        let change = many.column("emergency_admissions_change").unwrap();
        assert_eq!(change.as_materialized_series().n_chunks(), 60);
        let (a, b) = (moments(&one.lazy()), moments(&many.lazy()));
        for g in ["starters", "comparison"] {
            for o in ["emergency_admissions", COSTED] {
                let (x, y) = (a.get(g, o, None), b.get(g, o, None));
                let bits = |m: Moments| {
                    [m.n, m.total_pre, m.total_post, m.mean_change, m.var_change].map(f64::to_bits)
                };
                assert_eq!(bits(x), bits(y), "{g} {o}");
            }
        }
    }

    #[test]
    fn follow_up_counts_people_without_both_windows_as_insufficient() {
        let df = follow_up(&four_people()).unwrap();
        let col =
            |c: &str| -> Vec<Option<i64>> { df.column(c).unwrap().i64().unwrap().iter().collect() };
        // starters, completers, comparison.
        assert_eq!(col("persons"), [Some(3), Some(1), Some(2)]);
        assert_eq!(col("eligible"), [Some(2), Some(1), Some(2)]);
        assert_eq!(col("insufficient_follow_up"), [Some(1), Some(0), Some(0)]);
        assert_eq!(col(LINKED), [Some(2), Some(0), Some(2)]);
    }

    #[test]
    fn windows_and_eligibility_follow_the_index_date_and_coverage() {
        // Coverage 2020–2022, 365-day windows.
        let idx = [date(2021, 1, 1), date(2020, 6, 1), date(2022, 6, 1)];
        let persons = df!(
            PID => [0u32, 1, 2],
            INDEX => idx.to_vec(),
        )
        .unwrap()
        .lazy();
        // Person 0: the day before the index (pre), the index day (post),
        // index + 364 (post), index + 365 (outside both).
        let days = [-1i64, 0, 364, 365];
        let events = df!(
            PID => [0u32; 4],
            EVENT_DATE => days.map(|d| idx[0] + chrono::Duration::days(d)).to_vec(),
        )
        .unwrap()
        .lazy()
        .with_columns(
            OUTCOMES
                .iter()
                .map(|(o, _)| lit(1i32).alias(*o))
                .collect::<Vec<_>>(),
        );
        let coverage = (date(2020, 1, 1), date(2022, 12, 31));
        let df = person_outcomes(&persons, &events, 365, coverage)
            .unwrap()
            .collect()
            .unwrap();
        assert_eq!(f(&df, "emergency_admissions_pre", 0), Some(1.0));
        assert_eq!(f(&df, "emergency_admissions_post", 0), Some(2.0));
        assert_eq!(f(&df, "emergency_admissions_change", 0), Some(1.0));
        // People with no event have zeros and are not linked.
        assert_eq!(f(&df, "emergency_admissions_pre", 1), Some(0.0));
        let flags = |c: &str| -> Vec<Option<bool>> {
            df.column(c).unwrap().bool().unwrap().iter().collect()
        };
        assert_eq!(flags(LINKED), [Some(true), Some(false), Some(false)]);
        // 2021-01-01 − 365 days = 2020-01-02 and + 364 = 2021-12-31: covered.
        // 2020-06-01 starts its pre window in 2019; 2022-06-01 ends its post window in 2023.
        assert_eq!(flags(ELIGIBLE), [Some(true), Some(false), Some(false)]);
    }

    #[test]
    fn counting_fewer_outcomes_gives_the_same_counts_for_those() {
        let idx = date(2021, 1, 1);
        let persons = df!(PID => [0u32, 1, 2], INDEX => [idx; 3].to_vec())
            .unwrap()
            .lazy();
        // Person 0: events in the baseline, pre and post windows; person 1 one
        // outside every window (linked, counts zero); person 2 none.
        let days = [-400i64, -3, -1, 10, 900];
        let events = df!(
            PID => [0u32, 0, 0, 0, 1],
            EVENT_DATE => days.map(|d| idx + chrono::Duration::days(d)).to_vec(),
            "emergency_admissions" => [1i32, 0, 1, 1, 1],
            "ae_attendances" => [0i32, 1, 1, 0, 0],
            "emergency_bed_days" => [4i32, 0, 2, 7, 1],
            "elective_admissions" => [0i32, 0, 0, 1, 0],
            "outpatient_attendances" => [1i32, 1, 0, 0, 1],
        )
        .unwrap()
        .lazy();
        let coverage = (date(2018, 1, 1), date(2024, 12, 31));
        let all = person_outcomes(&persons, &events, 365, coverage)
            .unwrap()
            .collect()
            .unwrap();
        let counted = Counted {
            outcomes: &["emergency_bed_days"],
            baseline: false,
        };
        let few = person_outcomes_of(&persons, &events, 365, coverage, &counted)
            .unwrap()
            .collect()
            .unwrap();
        for c in [
            "emergency_bed_days_pre",
            "emergency_bed_days_post",
            "emergency_bed_days_change",
            LINKED,
            ELIGIBLE,
        ] {
            assert_eq!(all.column(c).unwrap(), few.column(c).unwrap(), "{c}");
        }
        assert_eq!(f(&few, "emergency_bed_days_pre", 0), Some(2.0));
        assert_eq!(f(&few, "emergency_bed_days_post", 0), Some(7.0));
        assert_eq!(f(&all, "emergency_bed_days_base", 0), Some(4.0));
        assert!(few.column("emergency_bed_days_base").is_err());
        assert!(few.column("emergency_admissions_pre").is_err());
        let linked: Vec<Option<bool>> =
            few.column(LINKED).unwrap().bool().unwrap().iter().collect();
        assert_eq!(linked, [Some(true), Some(true), Some(false)]);
    }

    #[test]
    fn did_by_year_shows_a_statistic_only_where_both_groups_have_ten() {
        // 2023/24: 10 starters and 10 comparison people; 2024/25: 10 and 3.
        let (y1, y2) = (date(2023, 6, 1), date(2024, 6, 1));
        let mut rows: Vec<Person> = Vec::new();
        for k in 0..10 {
            let pre = (k % 2) as f64;
            rows.push(("starters", false, true, true, y1, pre + 1.0, 0.0));
            rows.push(("comparison", false, true, true, y1, pre + 1.0, pre + 1.0));
            rows.push(("starters", false, true, true, y2, pre + 1.0, 0.0));
        }
        for k in 0..3 {
            rows.push(("comparison", false, true, true, y2, k as f64, 1.0));
        }
        let period = (date(2023, 4, 1), date(2025, 3, 31));
        let lf = outcomes(&rows);
        let t = tables(&lf, &group_moments(&lf, &[], 4, period).unwrap()).unwrap();
        let mut by_year = t
            .into_iter()
            .find(|t| t.name == "did_by_financial_year")
            .unwrap();
        crate::disclosure::finalize(&mut by_year, true).unwrap();
        let n = OUTCOMES.len();
        assert_eq!(by_year.height(), 2 * n);
        assert_eq!(by_year.text(0, FINANCIAL_YEAR), "2023/24");
        assert_eq!(by_year.text(n, FINANCIAL_YEAR), "2024/25");
        // Starters fall by 1 + their prior use (0 or 1), the comparison group
        // not at all: DiD −1.5 (the totals 15, 0, 15, 15 survive rounding to 5; 1–7 would be hidden).
        let e = by_year.f64(0, "estimate").unwrap();
        assert!((e + 1.5).abs() < 1e-9, "{e}");
        assert!(by_year.f64(0, "ci_low").is_some());
        assert_eq!(by_year.f64(n, "estimate"), None);
        assert!(by_year.is_suppressed(n, "estimate"));
    }

    /// A hospital file's rows (person, setting, event date; no admission or
    /// discharge details), with the person key the ingest writes if `keyed`.
    fn part(rows: &[(&str, &str, NaiveDate)], keyed: bool) -> LazyFrame {
        let ids: Vec<&str> = rows.iter().map(|r| r.0).collect();
        let settings: Vec<&str> = rows.iter().map(|r| r.1).collect();
        let outcome: Vec<Option<&str>> = settings
            .iter()
            .map(|s| (*s == "op").then_some("attended"))
            .collect();
        let df = DataFrame::new(
            rows.len(),
            vec![
                Column::new(PERSON_ID.into(), ids),
                Column::new(SETTING.into(), settings),
                DateChunked::from_naive_date(EVENT_DATE.into(), rows.iter().map(|r| r.2))
                    .into_column(),
                Column::new(ADMISSION_TYPE.into(), vec![None::<&str>; rows.len()]),
                Column::new(DISCHARGE_DATE.into(), vec![None::<i32>; rows.len()])
                    .cast(&DataType::Date)
                    .unwrap(),
                Column::new(ATTENDANCE_OUTCOME.into(), outcome),
            ],
        )
        .unwrap()
        .lazy();
        match keyed {
            true => {
                df.with_column(crate::ingest::nhs::person_key(col(PERSON_ID)).alias(PERSON_KEY))
            }
            false => df,
        }
    }

    /// The persons p1 and p2, numbered ([`PID`]) 0 and 1.
    fn persons_p1_p2() -> LazyFrame {
        df!(PERSON_ID => ["p1", "p2"])
            .unwrap()
            .lazy()
            .with_row_index(PID, None)
    }

    #[test]
    fn events_are_found_by_key_in_parts_written_with_a_key_and_before_one() {
        let persons = persons_p1_p2();
        // p3 is in the returns but outside the evaluation; x8 and x9 in neither.
        let returns = df!(PERSON_ID => [Some("p1"), Some("p2"), Some("p3"), Some("p1"), None])
            .unwrap()
            .lazy();
        let d = |m: u32, day: u32| date(2023, m, day);
        let parts = vec![
            part(
                &[
                    ("p1", "ae", d(1, 1)),
                    ("x9", "ae", d(1, 2)),
                    ("p3", "ae", d(1, 3)),
                ],
                true,
            ),
            part(
                &[
                    ("p2", "ae", d(2, 1)),
                    ("p1", "op", d(2, 2)),
                    ("x8", "ae", d(2, 3)),
                ],
                false,
            ),
            // A key of another type (unsigned, as one build wrote it) is
            // worked out again, not trusted.
            part(&[("p2", "ae", d(3, 1))], false).with_column(lit(5u64).alias(PERSON_KEY)),
        ];
        let found = events_of(parts, &persons, returns, &[]).unwrap();
        assert_eq!((found.linkage.people, found.linkage.linked), (3, 3));
        // In event-date order (a join keeps no order).
        let ev = found
            .events
            .sort([EVENT_DATE], SortMultipleOptions::default())
            .collect()
            .unwrap();
        let ints = |c: &str| -> Vec<Option<i32>> {
            let c = ev.column(c).unwrap().cast(&DataType::Int32).unwrap();
            c.i32().unwrap().iter().collect()
        };
        assert_eq!(ints(PID), vec![Some(0), Some(1), Some(0), Some(1)]);
        let day = |x: NaiveDate| Some(days_from_epoch(x));
        let dates = vec![day(d(1, 1)), day(d(2, 1)), day(d(2, 2)), day(d(3, 1))];
        assert_eq!(ints(EVENT_DATE), dates);
        assert_eq!(
            ints("ae_attendances"),
            vec![Some(1), Some(1), Some(0), Some(1)]
        );
        let op = vec![Some(0), Some(0), Some(1), Some(0)];
        assert_eq!(ints("outpatient_attendances"), op);
    }

    #[test]
    fn people_who_share_a_key_are_matched_on_the_pseudonym() {
        let keys = df!(PERSON_ID => ["a", "b"], PERSON_KEY => [7i64, 8]).unwrap();
        assert_eq!(join_column(&keys).unwrap(), PERSON_KEY);
        let shared = df!(PERSON_ID => ["a", "b"], PERSON_KEY => [7i64, 7]).unwrap();
        assert_eq!(join_column(&shared).unwrap(), PERSON_ID);
    }

    /// What the checks across files find in `parts` (each file's rows, with
    /// source and file), everyone in them being one of the returns' people.
    fn counted(parts: Vec<LazyFrame>, sources: &[HospitalSource]) -> AcrossFiles {
        let ids = parts.iter().map(|p| p.clone().select([col(PERSON_ID)]));
        let people = concat(ids.collect::<Vec<_>>(), UnionArgs::default()).unwrap();
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        let rows = of_people(parts, people, &names).unwrap();
        across_files(&rows, sources, PERSON_KEY).unwrap()
    }

    #[test]
    fn an_admission_in_two_files_of_its_source_is_found() {
        let d = |m: u32| date(2023, m, 1);
        let file = |source: &str, name: &str, rows: &[(&str, NaiveDate)], keyed: bool| {
            let ids: Vec<&str> = rows.iter().map(|r| r.0).collect();
            let df = DataFrame::new(
                rows.len(),
                vec![
                    Column::new(PERSON_ID.into(), ids),
                    DateChunked::from_naive_date(EVENT_DATE.into(), rows.iter().map(|r| r.1))
                        .into_column(),
                ],
            )
            .unwrap()
            .lazy()
            .with_columns([
                lit(source).alias(SOURCE),
                lit(name).alias(SOURCE_FILE),
                lit("apc").alias(SETTING),
            ]);
            match keyed {
                true => {
                    df.with_column(crate::ingest::nhs::person_key(col(PERSON_ID)).alias(PERSON_KEY))
                }
                false => df,
            }
        };
        // p1's spell of 1 May is in May's file and June's (June's part
        // written before the key); p2 on 1 February is in another source.
        let parts = vec![
            file("apc", "may.csv", &[("p1", d(5)), ("p2", d(2))], true),
            file("apc", "jun.csv", &[("p1", d(5)), ("p3", d(6))], false),
            file("apc2", "x.csv", &[("p2", d(2))], true),
        ];
        let sources = vec![spell_source("apc", 2), spell_source("apc2", 1)];
        let found = counted(parts, &sources).spells;
        assert_eq!(found, vec![("apc".to_string(), 1)]);
    }

    /// A source folding APC episodes by (person, admission date), with `files` files.
    fn spell_source(name: &str, files: usize) -> HospitalSource {
        HospitalSource {
            name: name.into(),
            key: vec![PERSON_ID.to_string(), EVENT_DATE.to_string()],
            files,
        }
    }

    /// One file's spells as the ingest writes them: (person, admission,
    /// discharge, first episode's order, line), emergency admissions.
    fn spells_file(name: &str, rows: &[(&str, NaiveDate, NaiveDate, i64, i64)]) -> LazyFrame {
        let col_of = |f: fn(&(&str, NaiveDate, NaiveDate, i64, i64)) -> i64| -> Vec<i64> {
            rows.iter().map(f).collect()
        };
        let dates = |name: &str, f: fn(&(&str, NaiveDate, NaiveDate, i64, i64)) -> NaiveDate| {
            DateChunked::from_naive_date(name.into(), rows.iter().map(f)).into_column()
        };
        DataFrame::new(
            rows.len(),
            vec![
                Column::new(
                    PERSON_ID.into(),
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                ),
                dates(EVENT_DATE, |r| r.1),
                dates(DISCHARGE_DATE, |r| r.2),
                Column::new(EPISODE_ORDER.into(), col_of(|r| r.3)),
                Column::new(SOURCE_LINE.into(), col_of(|r| r.4)),
            ],
        )
        .unwrap()
        .lazy()
        .with_columns([
            lit("apc").alias(SOURCE),
            lit(name).alias(SOURCE_FILE),
            lit("apc").alias(SETTING),
            lit("emergency").alias(ADMISSION_TYPE),
            lit(NULL).cast(DataType::String).alias(ATTENDANCE_OUTCOME),
        ])
    }

    #[test]
    fn a_spell_split_across_files_is_one_admission_from_its_first_to_its_last_episode() {
        let persons = persons_p1_p2();
        let returns = df!(PERSON_ID => ["p1", "p2"]).unwrap().lazy();
        let d = |m: u32, day: u32| date(2023, m, day);
        // p1's spell of 10 January: episodes 1–2 in the first file (to the
        // 11th), episode 3 in the second (to the 20th); the second file is
        // read first. p2's spell of 1 March is sent in both files, the same
        // row; p2's spell of 1 May is in one file only.
        let second = spells_file("b.csv", &[("p1", d(1, 10), d(1, 20), 3, 2)]);
        let first = spells_file(
            "a.csv",
            &[
                ("p2", d(3, 1), d(3, 4), 1, 2),
                ("p1", d(1, 10), d(1, 11), 1, 3),
                ("p2", d(5, 1), d(5, 2), 1, 4),
            ],
        );
        let again = spells_file("c.csv", &[("p2", d(3, 1), d(3, 4), 1, 2)]);
        let parts = || vec![second.clone(), first.clone(), again.clone()];
        let totals = |spells: &[HospitalSource]| -> (i64, i64) {
            let ev = events_of(parts(), &persons, returns.clone(), spells)
                .unwrap()
                .events
                .collect()
                .unwrap();
            let sum = |c: &str| {
                ev.column(c)
                    .unwrap()
                    .as_materialized_series()
                    .sum::<i64>()
                    .unwrap()
            };
            (sum("emergency_admissions"), sum("emergency_bed_days"))
        };
        // Folded: three admissions; bed days 10 (10th → 20th) + 3 + 1.
        assert_eq!(totals(&[spell_source("apc", 3)]), (3, 14));
        // A source with one file is not folded again (each file's rows are
        // its spells): five rows, 10 + 3 + 1 + 1 + 3 bed days.
        assert_eq!(totals(&[spell_source("apc", 1)]), (5, 18));
        assert_eq!(totals(&[]), (5, 18));
    }

    #[test]
    fn a_spell_split_across_files_runs_to_its_latest_discharge() {
        let persons = persons_p1_p2();
        let returns = df!(PERSON_ID => ["p1", "p2"]).unwrap().lazy();
        let d = |m: u32, day: u32| date(2023, m, day);
        // p2's spell of 1 June: episodes 1 and 3 in a.csv (to the 20th),
        // episode 2 in b.csv (to the 10th). p1's spell of 1 August: sent
        // in c.csv with episodes 1–2 (to the 5th), then again, grown to
        // three episodes (to the 15th), in b.csv, which sorts first.
        let parts = vec![
            spells_file("a.csv", &[("p2", d(6, 1), d(6, 20), 1, 2)]),
            spells_file(
                "b.csv",
                &[
                    ("p2", d(6, 1), d(6, 10), 2, 2),
                    ("p1", d(8, 1), d(8, 15), 1, 3),
                ],
            ),
            spells_file("c.csv", &[("p1", d(8, 1), d(8, 5), 1, 2)]),
        ];
        let ev = events_of(parts, &persons, returns, &[spell_source("apc", 3)])
            .unwrap()
            .events
            .sort([EVENT_DATE], SortMultipleOptions::default())
            .collect()
            .unwrap();
        let bed_days = ev
            .column("emergency_bed_days")
            .unwrap()
            .cast(&DataType::Int64)
            .unwrap();
        let bed_days: Vec<Option<i64>> = bed_days.i64().unwrap().iter().collect();
        assert_eq!(bed_days, [Some(19), Some(14)]);
    }

    #[test]
    fn rows_sent_again_in_another_file_are_counted_once_each() {
        let d = |m: u32| date(2023, m, 1);
        let file = |source: &str, name: &str, rows: &[(&str, &str, NaiveDate)], keyed: bool| {
            part(rows, keyed)
                .with_columns([lit(source).alias(SOURCE), lit(name).alias(SOURCE_FILE)])
        };
        // hes: p1's A&E of 1 May is in both files (once written before the
        // key), p2's twice in one file only, p3's outpatient visit in all
        // three. apc: its APC rows are spells (folded elsewhere), its A&E row
        // is sent twice. one: a single file.
        let twice = [("p1", "apc", d(5)), ("p4", "ae", d(2))];
        let parts = vec![
            file(
                "hes",
                "a.csv",
                &[
                    ("p1", "ae", d(5)),
                    ("p2", "ae", d(6)),
                    ("p2", "ae", d(6)),
                    ("p3", "op", d(7)),
                ],
                true,
            ),
            file(
                "hes",
                "b.csv",
                &[("p1", "ae", d(5)), ("p1", "ae", d(8)), ("p3", "op", d(7))],
                false,
            ),
            file(
                "hes",
                "c.csv",
                &[("p3", "op", d(7)), ("p3", "op", d(9))],
                true,
            ),
            file("apc", "x.csv", &twice, true),
            file("apc", "y.csv", &twice, true),
            file("one", "z.csv", &[("p5", "ae", d(3)); 2], true),
        ];
        let mut sources = vec![spell_source("apc", 2), spell_source("one", 1)];
        sources.push(HospitalSource {
            name: "hes".into(),
            key: Vec::new(),
            files: 3,
        });
        let found = counted(parts, &sources);
        assert_eq!(
            found.rows,
            vec![("apc".to_string(), 1), ("hes".to_string(), 2)]
        );
        // The APC spell in both files is the spells' check's, not this one's.
        assert_eq!(found.spells, vec![("apc".to_string(), 1)]);
    }

    #[test]
    fn index_dates_gathered_by_person_number_match_a_join() {
        let d = |m: u32| date(2023, m, 1);
        // Persons 1 and 3 of 0–4; events of 0, 1, 3 and 4 (and 7, beyond them all).
        let p = DataFrame::new(
            2,
            vec![
                Column::new(PID.into(), [1 as IdxSize, 3]),
                DateChunked::from_naive_date(INDEX.into(), [d(2), d(4)]).into_column(),
            ],
        )
        .unwrap()
        .lazy();
        let pids: [IdxSize; 6] = [0, 1, 3, 1, 4, 7];
        let events = DataFrame::new(
            6,
            vec![
                Column::new(PID.into(), pids),
                Column::new("n".into(), [10i32, 11, 12, 13, 14, 15]),
            ],
        )
        .unwrap()
        .lazy();
        let got = with_index(&events, &p).unwrap().collect().unwrap();
        let want = events
            .join(p, [col(PID)], [col(PID)], JoinArgs::new(JoinType::Inner))
            .sort(["n"], SortMultipleOptions::default())
            .collect()
            .unwrap();
        assert_eq!(got.height(), 3);
        assert!(got.equals_missing(&want), "{got}\n{want}");
    }

    #[test]
    fn episodes_with_no_spell_id_are_not_folded_across_files() {
        let persons = persons_p1_p2();
        let returns = df!(PERSON_ID => ["p1"]).unwrap().lazy();
        let d = |m: u32, day: u32| date(2023, m, day);
        // p1's spell S1 is in both files; two episodes with no spell id,
        // one in each file, are two admissions.
        let file = |name: &str, ids: [Option<&str>; 2]| {
            spells_file(
                name,
                &[
                    ("p1", d(1, 10), d(1, 12), 1, 2),
                    ("p1", d(1, 10), d(1, 11), 1, 3),
                ],
            )
            .with_column(lit(Series::new(SPELL_ID.into(), ids)).alias(SPELL_ID))
        };
        let parts = vec![
            file("a.csv", [Some("S1"), None]),
            file("b.csv", [Some("S1"), None]),
        ];
        let source = HospitalSource {
            name: "apc".into(),
            key: vec![PERSON_ID.to_string(), SPELL_ID.to_string()],
            files: 2,
        };
        let ev = events_of(
            parts.clone(),
            &persons,
            returns,
            std::slice::from_ref(&source),
        )
        .unwrap()
        .events
        .collect()
        .unwrap();
        let admissions = ev.column("emergency_admissions").unwrap();
        assert_eq!(admissions.as_materialized_series().sum::<i64>().unwrap(), 3);
        let split = counted(parts, &[source]).spells;
        assert_eq!(split, vec![("apc".to_string(), 1)]);
    }

    #[test]
    fn apc_rows_with_no_spell_id_sent_again_are_warned_of() {
        let d = |m: u32, day: u32| date(2023, m, day);
        // The same episode with no spell id in both files: not folded, so
        // counted twice, and said.
        let file = |name: &str| {
            spells_file(name, &[("p1", d(1, 10), d(1, 12), 1, 2)])
                .with_column(lit(NULL).cast(DataType::String).alias(SPELL_ID))
        };
        let source = HospitalSource {
            name: "apc".into(),
            key: vec![PERSON_ID.to_string(), SPELL_ID.to_string()],
            files: 2,
        };
        let parts = vec![file("a.csv"), file("b.csv")];
        let found = counted(parts, std::slice::from_ref(&source)).rows;
        assert_eq!(found, vec![("apc".to_string(), 1)]);
    }

    #[test]
    fn only_the_returns_peoples_rows_of_the_sources_asked_for_are_checked() {
        let d = |m: u32| date(2023, m, 1);
        let file = |source: &str, rows: &[(&str, &str, NaiveDate)], keyed: bool| {
            part(rows, keyed)
                .with_columns([lit(source).alias(SOURCE), lit("f.csv").alias(SOURCE_FILE)])
        };
        let parts = vec![
            file("hes", &[("p1", "ae", d(1)), ("x9", "ae", d(2))], true),
            file(
                "hes",
                &[("x8", "op", d(3)), ("p2", "ae", d(4)), ("p1", "op", d(5))],
                false,
            ),
            file("other", &[("p1", "ae", d(6))], true),
        ];
        let people = df!(PERSON_ID => [Some("p1"), Some("p2"), None, Some("p1")])
            .unwrap()
            .lazy();
        let kept = of_people(parts, people, &["hes"]).unwrap();
        let dates = kept
            .column(EVENT_DATE)
            .unwrap()
            .cast(&DataType::Int32)
            .unwrap();
        let mut dates: Vec<i32> = dates.i32().unwrap().into_no_null_iter().collect();
        dates.sort();
        let want: Vec<i32> = [d(1), d(4), d(5)]
            .into_iter()
            .map(days_from_epoch)
            .collect();
        assert_eq!(dates, want);
    }
}
