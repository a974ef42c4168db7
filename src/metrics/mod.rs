//! The evaluation (SPEC 4), computed from the warehouse with polars.
//!
//! Two stages. The first computes, from the person-level data, the tables of
//! counts and individual-level statistics; every one is then passed through
//! disclosure control (`crate::disclosure::finalize`) — exact in an internal
//! pack. The second stage computes the figures that combine tables (cost,
//! value, provider comparison, funnel limits, control-chart limits) *from the
//! finalized tables only*, so in a published pack they can only ever see
//! controlled counts.

pub mod activity;
pub mod comparison;
pub mod contract;
pub mod cost;
pub mod hospital;
pub mod matching;
pub mod pam;
pub mod providers;
pub mod quality;
pub mod reach;
pub mod referrals;
pub mod scorecard;
pub mod summary;
pub mod table;
pub mod trend;
pub mod value;
pub mod years;

use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;

use crate::error::{InputError, MetricsError, MetricsResult};
use crate::ingest::linkage::Linkage;
use crate::pipeline::{Duplicates, Pipeline, Settings};
use crate::schema::*;
use crate::warehouse;
use referrals::*;
pub use table::Table;

/// Everything the pack needs.
pub struct Evaluation {
    pub tables: Vec<Table>,
    /// Hospital data coverage used for eligibility.
    pub coverage: (NaiveDate, NaiveDate),
    /// Why there are no hospital figures (no hospital source), if there are none.
    pub hospital_absent: Option<String>,
    /// The evaluation period (from the pipeline, else the activity dates).
    pub period: (NaiveDate, NaiveDate),
    /// The date the returns are taken to be complete to.
    pub data_as_at: NaiveDate,
    /// Plain-words notes about choices made on this data (shown in the pack).
    pub notes: Vec<String>,
    /// Figures that could not be estimated, with the reason (key → reason).
    pub not_estimable: Vec<(String, String)>,
    /// Disclosure control applied (false: an internal pack's exact figures).
    pub published: bool,
    /// How many of the returns' people are found in the hospital data (None
    /// without hospital data).
    pub linkage: Option<Linkage>,
}

impl Evaluation {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// The first and last date of a date column (None when it holds none).
fn date_range(df: &DataFrame, column: &str) -> MetricsResult<Option<(NaiveDate, NaiveDate)>> {
    let c = df.column(column)?.cast(&DataType::Int32)?;
    let c = c.i32()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    Ok(match (c.min(), c.max()) {
        (Some(a), Some(b)) => Some((
            epoch + chrono::Duration::days(a as i64),
            epoch + chrono::Duration::days(b as i64),
        )),
        _ => None,
    })
}

/// The latest referral or course start date in the returns.
fn latest_return_date(participants: &DataFrame) -> MetricsResult<Option<NaiveDate>> {
    let a = date_range(participants, REFERRAL_DATE)?.map(|r| r.1);
    let b = date_range(participants, COURSE_START_DATE)?.map(|r| r.1);
    Ok(a.max(b))
}

/// Lists every declared value of a dimension, with zero counts where no one is in it.
pub(crate) fn all_groups(
    df: DataFrame,
    column: &str,
    dims: &Dimensions,
) -> MetricsResult<DataFrame> {
    let Some(values) = dims.values(column) else {
        return Ok(df);
    };
    let mut seen: Vec<String> = values.clone();
    // A value outside the list (cannot happen for mapped columns) is kept, not lost.
    if let Ok(c) = df.column(column).and_then(|c| c.str().cloned()) {
        for v in c.iter().flatten() {
            if !seen.iter().any(|s| s == v) {
                seen.push(v.to_string());
            }
        }
    }
    let order: Vec<u32> = (0..seen.len() as u32).collect();
    let all = df!(column => seen, "_order" => order)?;
    // Counts of an empty group are zero; its statistics stay blank.
    let counts: Vec<Expr> = df
        .columns()
        .iter()
        .filter(|c| c.name().as_str() != column && c.dtype().is_integer())
        .map(|c| col(c.name().as_str()).fill_null(lit(0i64)))
        .collect();
    Ok(all
        .lazy()
        .join(
            df.lazy(),
            [col(column)],
            [col(column)],
            JoinArgs::new(JoinType::Left),
        )
        .with_columns(counts)
        .sort(["_order"], SortMultipleOptions::default())
        .drop(cols(["_order"]))
        .collect()?)
}

/// A table by provider, labelled by the provider's code: every declared
/// provider listed (zero counts), an empty one not shown.
pub(crate) fn provider_table(
    name: &str,
    title: &str,
    df: DataFrame,
    dims: &Dimensions,
) -> MetricsResult<Table> {
    let mut t = Table::new(name, title, all_groups(df, PROVIDER_ID, dims)?).labels(&[PROVIDER_ID]);
    t.empty_group_hidden = true;
    Ok(t)
}

/// Counts of labels that were published as "Other", for the warnings (in a
/// published pack, only counts that are shown).
fn label_warnings(
    participants: &DataFrame,
    dims: &Dimensions,
    published: bool,
) -> MetricsResult<Vec<String>> {
    let mut out = Vec::new();
    for (column, values, what) in [
        (PROVIDER_ID, &dims.providers, "provider codes"),
        (COURSE_LANGUAGE, &dims.languages, "course languages"),
        (AGE_BAND, &dims.age_bands, "age bands"),
    ] {
        let Ok(c) = participants.column(column) else {
            continue;
        };
        let n = c
            .as_materialized_series()
            .clone()
            .into_frame()
            .lazy()
            .filter(
                col(column).is_not_null().and(
                    col(column)
                        .is_in(
                            lit(Series::new("".into(), values.as_slice())).implode(false),
                            false,
                        )
                        .not(),
                ),
            )
            .select([len()])
            .collect()?
            .column("len")?
            .cast(&DataType::Int64)?
            .i64()?
            .get(0)
            .unwrap_or(0);
        // Published only where the count is shown (8 or more): the "Other"
        // rows show [c] for 1–7 and for none alike, and so must the notes.
        let said = match published {
            true => crate::disclosure::publish_count(n).is_some_and(|c| c > 0),
            false => n > 0,
        };
        if said {
            out.push(format!(
                "{} referral rows carry {what} the pipeline does not declare: they are shown as \"Other\" (declare them under [labels] or [providers] to show them).",
                crate::disclosure::count_in_words(n, published)
            ));
        }
    }
    Ok(out)
}

/// Said in the pack (and the value's reason) when there is no hospital data.
pub const HOSPITAL_ABSENT: &str = "There is no hospital data: the pipeline has no hospital source, so hospital use, the difference in differences and the value of hospital activity avoided are not reported. Add a hospital source (HES or SUS extract) to report them.";

/// The warehouse lacks what a figure needs.
fn missing(warehouse: &Path, what: &str) -> MetricsError {
    MetricsError::Missing {
        warehouse: warehouse.to_path_buf(),
        what: what.to_string(),
    }
}

/// One table of the warehouse's version, if it has it.
fn read(snap: &warehouse::Snapshot, table: &str) -> MetricsResult<Option<DataFrame>> {
    snap.table(table).map_err(MetricsError::from)
}

/// How a note that is a warning begins: the log shows it as a warning.
pub const WARNING: &str = "Warning: ";

/// Computes every metric of SPEC 4 from the pipeline's warehouse (one
/// verified version, `snap`), with disclosure control when `published`:
/// stage 1 by subject from the person-level data, then stage 2 from the
/// finalized tables only.
pub fn evaluate(
    p: &Pipeline,
    snap: &warehouse::Snapshot,
    published: bool,
) -> MetricsResult<Evaluation> {
    let mut notes = Vec::new();
    let r = returns(p, snap, published, &mut notes)?;
    let (refs, dims) = (&r.refs, &r.dims);
    let mut tables = activity::tables(refs, dims)?;
    tables.extend(activity::completion_tables(refs, dims)?);
    tables.push(activity::retention_table(refs)?);
    tables.extend(activity::equity_tables(refs, dims)?);
    // Collected once: every hospital and PAM figure reads it.
    let persons = hospital::persons(refs)
        .collect()?
        .lazy()
        .with_row_index(hospital::PID, None);
    let h = hospital_figures(p, snap, &r, &persons, published, &mut notes)?;
    tables.extend(h.tables);
    tables.extend(pam_tables(p, snap, &persons, dims, &mut notes)?);
    tables.push(providers::case_mix_adjusted(refs, dims)?);
    tables.push(trend::monthly(refs, r.period)?);
    tables.extend(quality_tables(p, snap, &r, published)?);
    let mut all = Vec::new();
    add_finalized(&mut all, tables, published)?;
    let dates = [r.period, h.coverage];
    let not_estimable = stage_two(
        p,
        &mut all,
        &h.costed,
        dates,
        r.data_as_at,
        published,
        &mut notes,
    )?;
    Ok(Evaluation {
        tables: all,
        coverage: h.coverage,
        hospital_absent: h.absent,
        period: r.period,
        data_as_at: r.data_as_at,
        notes,
        not_estimable,
        published,
        linkage: h.linkage,
    })
}

/// Passes each new table through disclosure control, then adds it to `all`.
fn add_finalized(all: &mut Vec<Table>, mut new: Vec<Table>, published: bool) -> MetricsResult<()> {
    for t in new.iter_mut() {
        crate::disclosure::finalize(t, published)?;
    }
    all.extend(new);
    Ok(())
}

/// The returns as the figures read them, and the dates they fix.
struct Returns {
    /// Every participants row (the hospital linkage counts their people).
    participants: LazyFrame,
    /// The rows the duplicates rule keeps.
    kept: LazyFrame,
    /// The rows another file's copy superseded, with the reason.
    superseded: DataFrame,
    /// Referrals in the evaluation period, with the derived columns.
    refs: LazyFrame,
    dims: Dimensions,
    data_as_at: NaiveDate,
    period: (NaiveDate, NaiveDate),
}

/// Reads the returns, applies the duplicates rule and derives the referrals;
/// notes undeclared labels, superseded rows and the dates taken from the data.
fn returns(
    p: &Pipeline,
    snap: &warehouse::Snapshot,
    published: bool,
    notes: &mut Vec<String>,
) -> MetricsResult<Returns> {
    let s = &p.settings;
    let participants = read(snap, warehouse::PARTICIPANTS)?
        .ok_or_else(|| missing(&p.warehouse, "no participants: run `smpeval ingest` first"))?;
    if participants.height() == 0 {
        // Bad input, as validate says it (exit 2 in both).
        return Err(InputError::Argument(crate::ingest::no_referrals_message(p, true)).into());
    }
    let dims = Dimensions::from_pipeline(p);
    notes.extend(label_warnings(&participants, &dims, published)?);
    let data_as_at = data_as_at(s, &participants, &p.warehouse, notes)?;
    let sources: Vec<String> = p.sources.iter().map(|x| x.name.clone()).collect();
    let participants = participants.lazy();
    let (kept, superseded) = dedupe(participants.clone(), s.duplicates, &sources)?;
    if superseded.height() > 0 {
        notes.push(superseded_note(
            superseded.height(),
            s.duplicates,
            published,
        ));
    }
    let refs = referrals(kept.clone(), s, &dims, data_as_at).collect()?;
    if refs.height() == 0 {
        // Bad input, as validate says it (exit 2 in both).
        return Err(InputError::Argument(crate::ingest::no_referrals_message(p, false)).into());
    }
    let period = period_of(s, &refs, &p.warehouse, notes)?;
    Ok(Returns {
        participants,
        kept,
        superseded,
        refs: refs.lazy(),
        dims,
        data_as_at,
        period,
    })
}

/// The date the returns are complete to: the pipeline's, else the latest
/// referral or course start in the returns (said in a note).
fn data_as_at(
    s: &Settings,
    participants: &DataFrame,
    warehouse: &Path,
    notes: &mut Vec<String>,
) -> MetricsResult<NaiveDate> {
    if let Some(d) = s.data_as_at {
        return Ok(d);
    }
    let d = latest_return_date(participants)?
        .ok_or_else(|| missing(warehouse, "returns that hold no dates"))?;
    notes.push(format!(
        "The data are taken as complete to {d}, the latest date in the returns (the pipeline can set another date)."
    ));
    Ok(d)
}

/// The note on referral rows sent again in another file.
fn superseded_note(rows: usize, rule: Duplicates, published: bool) -> String {
    format!(
        "{} referral rows were sent again in another file; the pipeline's duplicates rule ({}) decided which counts; the others are set aside (the data-quality table counts them per file as superseded, beside its accepted rows).",
        crate::disclosure::count_in_words(rows as i64, published),
        match rule {
            Duplicates::Latest => "the latest file wins",
            Duplicates::First => "the first file wins",
            Duplicates::Reject => "neither counts",
        }
    )
}

/// The evaluation period: the pipeline's, else the first to the last
/// activity date (said in a note).
fn period_of(
    s: &Settings,
    refs: &DataFrame,
    warehouse: &Path,
    notes: &mut Vec<String>,
) -> MetricsResult<(NaiveDate, NaiveDate)> {
    if let (Some(a), Some(b)) = (s.evaluation_start, s.evaluation_end) {
        return Ok((a, b));
    }
    let r =
        date_range(refs, ACTIVITY_DATE)?.ok_or_else(|| missing(warehouse, "no activity dates"))?;
    notes.push(
        "No evaluation period is set: the period runs from the first to the last activity date."
            .into(),
    );
    Ok((
        s.evaluation_start.unwrap_or(r.0),
        s.evaluation_end.unwrap_or(r.1),
    ))
}

/// What the hospital figures leave for the rest of the evaluation.
struct Hospital {
    tables: Vec<Table>,
    /// The costed difference in differences (value for money reads it).
    costed: hospital::CostedDid,
    coverage: (NaiveDate, NaiveDate),
    linkage: Option<Linkage>,
    /// Why there are no hospital figures, if there are none.
    absent: Option<String>,
}

/// Hospital use, the difference in differences, the fair comparison and the
/// providers' profile, from the hospital events of the referred people; with
/// no hospital source, none of them and a note saying why.
fn hospital_figures(
    p: &Pipeline,
    snap: &warehouse::Snapshot,
    r: &Returns,
    persons: &LazyFrame,
    published: bool,
    notes: &mut Vec<String>,
) -> MetricsResult<Hospital> {
    let s = &p.settings;
    // Scanned, not read: only the rows of referred persons and the columns
    // the outcomes use are ever held.
    let events = snap
        .scan(warehouse::HOSPITAL_EVENTS)
        .map_err(MetricsError::from)?;
    let coverage = coverage_of(s, events.as_ref(), r.period, &p.warehouse, notes)?;
    if events.is_none() {
        notes.push(HOSPITAL_ABSENT.into());
        return Ok(Hospital {
            tables: Vec::new(),
            costed: hospital::CostedDid {
                n_starters: 0.0,
                n_comparison: 0.0,
                estimate: 0.0,
                half: None,
            },
            coverage,
            linkage: None,
            absent: Some(HOSPITAL_ABSENT.to_string()),
        });
    }
    let parts = snap
        .scan_parts(warehouse::HOSPITAL_EVENTS)
        .map_err(MetricsError::from)?;
    let sources = hospital_sources(p, snap)?;
    let found = hospital::events_of(parts, persons, r.participants.clone(), &sources)?;
    notes.extend(hospital::across_files_notes(&found.across, published));
    let outcomes =
        hospital::person_outcomes(persons, &found.events, s.outcome_window_days, coverage)?
            .collect()?;
    let compared = comparison::tables(
        p,
        persons,
        &found.events,
        &outcomes,
        coverage,
        published,
        notes,
    )?;
    let outcomes = outcomes.lazy();
    let moments = hospital::group_moments(
        &outcomes,
        &cost::costed_outcomes(&p.unit_costs),
        s.financial_year_start_month,
        r.period,
    )?;
    let mut tables = hospital::tables(&outcomes, &moments)?;
    tables.extend(compared);
    let comparison = moments.get("comparison", "emergency_admissions", None);
    let profile = scorecard::profile(&r.refs, &outcomes, &comparison)?;
    tables.push(scorecard::profile_table(profile, &r.dims)?);
    Ok(Hospital {
        tables,
        costed: hospital::costed_did(&moments),
        coverage,
        linkage: Some(found.linkage),
        absent: None,
    })
}

/// The hospital sources, each with its spell key (empty where it has none)
/// and its number of files in the manifest.
fn hospital_sources(
    p: &Pipeline,
    snap: &warehouse::Snapshot,
) -> MetricsResult<Vec<hospital::HospitalSource>> {
    let manifest = read(snap, warehouse::MANIFEST)?;
    let files_of = |name: &str| -> MetricsResult<usize> {
        let Some(m) = &manifest else { return Ok(0) };
        let mine = m.column(SOURCE)?.str()?.equal(name);
        Ok(mine.sum().unwrap_or(0) as usize)
    };
    let mut sources = Vec::new();
    for s in p
        .sources
        .iter()
        .filter(|s| s.kind == crate::pipeline::SourceKind::Hospital)
    {
        sources.push(hospital::HospitalSource::of(s, files_of(&s.name)?));
    }
    Ok(sources)
}

/// The hospital extract's coverage: the pipeline's, else its first to last
/// event date (said in a note); the evaluation period without hospital data.
fn coverage_of(
    s: &Settings,
    events: Option<&LazyFrame>,
    period: (NaiveDate, NaiveDate),
    warehouse: &Path,
    notes: &mut Vec<String>,
) -> MetricsResult<(NaiveDate, NaiveDate)> {
    let (start, end) = (s.hospital_coverage_start, s.hospital_coverage_end);
    match (events, start, end) {
        (_, Some(a), Some(b)) => Ok((a, b)),
        (Some(ev), a, b) => {
            let dates = ev.clone().select([col(EVENT_DATE)]).collect()?;
            let r = date_range(&dates, EVENT_DATE)?
                .ok_or_else(|| missing(warehouse, "no hospital event dates"))?;
            let (a, b) = (a.unwrap_or(r.0), b.unwrap_or(r.1));
            notes.push(format!("The hospital extract's coverage is not set in the pipeline: taken as its first to last event date, {a} to {b}."));
            Ok((a, b))
        }
        // An activity-only pack: the hospital section says why it is empty.
        (None, _, _) => Ok(period),
    }
}

/// PAM of paired starters (empty, with a note, without PAM scores).
fn pam_tables(
    p: &Pipeline,
    snap: &warehouse::Snapshot,
    persons: &LazyFrame,
    dims: &Dimensions,
    notes: &mut Vec<String>,
) -> MetricsResult<Vec<Table>> {
    let scores = pam::scores_or_empty(read(snap, warehouse::PAM_SCORES)?, notes)?;
    let paired = pam::paired(persons, &scores, &p.settings).collect()?.lazy();
    pam::tables(&paired, dims)
}

/// Data quality: rows read, rejected and superseded per file, and rejects by provider.
fn quality_tables(
    p: &Pipeline,
    snap: &warehouse::Snapshot,
    r: &Returns,
    published: bool,
) -> MetricsResult<Vec<Table>> {
    let manifest =
        read(snap, warehouse::MANIFEST)?.ok_or_else(|| missing(&p.warehouse, "no manifest"))?;
    let rejects = read(snap, warehouse::REJECTS)?;
    let by_provider =
        quality::by_provider(r.kept.clone(), rejects.as_ref(), &r.superseded, &r.dims)?;
    let mut tables = quality::tables(manifest, rejects, &r.superseded, published)?;
    tables.push(by_provider);
    Ok(tables)
}

/// Stage 2, from the finalized tables only, each finalized in turn: cost,
/// value, the provider comparison, the scorecard, year on year, the
/// contract, reach, the control limits and the summary's words. `dates`:
/// the evaluation period and the hospital coverage. Returns the figures
/// that could not be estimated.
fn stage_two(
    p: &Pipeline,
    all: &mut Vec<Table>,
    costed: &hospital::CostedDid,
    [period, coverage]: [(NaiveDate, NaiveDate); 2],
    data_as_at: NaiveDate,
    published: bool,
    notes: &mut Vec<String>,
) -> MetricsResult<Vec<(String, String)>> {
    if published {
        comparison::main_row_as_published(all)?;
    }
    let period_years = cost::period_years(period.0, period.1);
    let costs = cost::tables(p, all, period_years, notes)?;
    add_finalized(all, costs, published)?;
    let mut not_estimable = Vec::new();
    let value = value::tables(p, all, costed, published, &mut not_estimable)?;
    add_finalized(all, value, published)?;
    let providers = providers::tables(p, all)?;
    add_finalized(all, providers, published)?;
    let mut cards = scorecard::scorecard(p, all)?;
    cards.extend(years::table(p, all, period)?);
    notes.extend(years::cost_note(p));
    cards.extend(years::did_changes(all)?);
    cards.extend(contract::tables(p, all, period_years, data_as_at)?);
    if let Some(path) = &p.target_population {
        cards.push(reach::published_table(
            path,
            &Dimensions::from_pipeline(p),
            all,
        )?);
    }
    add_finalized(all, cards, published)?;
    trend::add_limits(all)?;
    let when = |d: (NaiveDate, NaiveDate)| {
        format!("{} to {}", d.0.format("%-d %B %Y"), d.1.format("%-d %B %Y"))
    };
    let quiet = years::months_without_a_start(all);
    let words = summary::tables(p, all, &when(period), &when(coverage), published, &quiet)?;
    add_finalized(all, words, published)?;
    Ok(not_estimable)
}

/// A finalized table's cell (None when suppressed or missing).
pub fn cell(tables: &[Table], table: &str, row: usize, column: &str) -> Option<f64> {
    tables
        .iter()
        .find(|t| t.name == table)
        .and_then(|t| t.f64(row, column))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_latest_return_date_is_the_later_of_referral_and_course_start() {
        let df = df!(
            REFERRAL_DATE => [Some(date(2024, 3, 1)), Some(date(2024, 1, 5)), None],
            COURSE_START_DATE => [None, Some(date(2024, 2, 10)), None],
        )
        .unwrap();
        assert_eq!(
            date_range(&df, COURSE_START_DATE).unwrap(),
            Some((date(2024, 2, 10), date(2024, 2, 10)))
        );
        assert_eq!(latest_return_date(&df).unwrap(), Some(date(2024, 3, 1)));
        let empty = df.clear();
        assert_eq!(latest_return_date(&empty).unwrap(), None);
    }

    #[test]
    fn every_declared_group_is_listed_with_zero_counts() {
        let dims = Dimensions {
            providers: vec!["AAA".into(), "BBB".into()],
            languages: vec![],
            age_bands: vec![],
        };
        let df =
            df!(PROVIDER_ID => ["BBB", "ZZZ"], "n" => [4i64, 2], "mean" => [1.5, 2.0]).unwrap();
        let out = all_groups(df, PROVIDER_ID, &dims).unwrap();
        let ids: Vec<Option<&str>> = out
            .column(PROVIDER_ID)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        // Declared first, in order, then "Other", then a value outside the list.
        assert_eq!(ids, [Some("AAA"), Some("BBB"), Some("Other"), Some("ZZZ")]);
        let n: Vec<Option<i64>> = out.column("n").unwrap().i64().unwrap().iter().collect();
        assert_eq!(n, [Some(0), Some(4), Some(0), Some(2)]);
        // A statistic of an empty group stays blank.
        assert_eq!(out.column("mean").unwrap().f64().unwrap().get(0), None);
    }

    #[test]
    fn the_superseded_note_names_the_rule_and_controls_the_count() {
        let note = superseded_note(3, Duplicates::Latest, true);
        assert!(note.starts_with("a few referral rows"), "{note}");
        assert!(note.contains("(the latest file wins)"));
        let note = superseded_note(12, Duplicates::Reject, false);
        assert!(note.starts_with("12 referral rows"), "{note}");
        assert!(note.contains("(neither counts)"));
    }

    #[test]
    fn an_undeclared_label_is_noted_in_a_published_pack_only_where_its_count_is_shown() {
        let dims = Dimensions {
            providers: vec!["AAA".into()],
            languages: vec!["English".into()],
            age_bands: vec![],
        };
        let rows = |undeclared: usize| {
            let mut langs = vec!["English"; 20];
            langs.extend(vec!["Welsh"; undeclared]);
            let providers = vec!["AAA"; langs.len()];
            df!(PROVIDER_ID => providers, COURSE_LANGUAGE => langs).unwrap()
        };
        // None and a few look alike in a published pack (the "Other" row is [c] for both).
        for n in [0, 3] {
            assert_eq!(
                label_warnings(&rows(n), &dims, true).unwrap(),
                Vec::<String>::new()
            );
        }
        assert_eq!(label_warnings(&rows(3), &dims, false).unwrap().len(), 1);
        let said = label_warnings(&rows(9), &dims, true).unwrap();
        assert_eq!(said.len(), 1);
        assert!(
            said[0].starts_with("10 referral rows carry course languages"),
            "{said:?}"
        );
    }

    #[test]
    fn a_missing_table_says_which_warehouse() {
        let e = missing(Path::new("/w/sample"), "no manifest");
        assert_eq!(e.to_string(), "the warehouse /w/sample has no manifest");
    }
}
