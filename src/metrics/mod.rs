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

use anyhow::{Context, Result};
use chrono::NaiveDate;
use polars::prelude::*;

use crate::pipeline::Pipeline;
use crate::schema::*;
use crate::warehouse;
use referrals::*;
use table::formulas;
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
    pub linkage: Option<crate::ingest::linkage::Linkage>,
}

impl Evaluation {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

fn date_range(df: &DataFrame, column: &str) -> Result<Option<(NaiveDate, NaiveDate)>> {
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
fn latest_return_date(participants: &DataFrame) -> Result<Option<NaiveDate>> {
    let a = date_range(participants, REFERRAL_DATE)?.map(|r| r.1);
    let b = date_range(participants, COURSE_START_DATE)?.map(|r| r.1);
    Ok(a.max(b))
}

/// Lists every declared value of a dimension, with zero counts where no one is in it.
pub(crate) fn all_groups(
    df: DataFrame,
    column: &str,
    dims: &Dimensions,
) -> crate::error::MetricsResult<DataFrame> {
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

/// Counts of labels that were published as "Other", for the warnings.
fn label_warnings(
    participants: &DataFrame,
    dims: &Dimensions,
    published: bool,
) -> Result<Vec<String>> {
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
        if n > 0 {
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

/// Computes every metric of SPEC 4 from the pipeline's warehouse, with
/// disclosure control when `published`.
/// Reads one version of the warehouse (`snap`, already verified).
pub fn evaluate(p: &Pipeline, snap: &warehouse::Snapshot, published: bool) -> Result<Evaluation> {
    let s = &p.settings;
    let participants = snap.table(warehouse::PARTICIPANTS)?.with_context(|| {
        format!(
            "the warehouse {} has no participants: run `smpeval ingest` first",
            p.warehouse.display()
        )
    })?;
    // The hospital events are scanned, not read: only the rows of referred
    // persons and the columns the outcomes use are ever held.
    let events = snap.scan(warehouse::HOSPITAL_EVENTS)?;
    let pam_scores = snap.table(warehouse::PAM_SCORES)?;
    let manifest = snap
        .table(warehouse::MANIFEST)?
        .context("the warehouse has no manifest")?;
    let rejects = snap.table(warehouse::REJECTS)?;
    let dims = Dimensions::from_pipeline(p);
    let mut notes = label_warnings(&participants, &dims, published)?;
    let mut not_estimable = Vec::new();

    let data_as_at = match s.data_as_at {
        Some(d) => d,
        None => {
            let d = latest_return_date(&participants)?.context("the returns hold no dates")?;
            notes.push(format!(
                "The data are taken as complete to {d}, the latest date in the returns (the pipeline can set another date)."
            ));
            d
        }
    };
    let sources: Vec<String> = p.sources.iter().map(|x| x.name.clone()).collect();
    let participants_lf = participants.lazy();
    let (kept, superseded) = dedupe(participants_lf.clone(), s.duplicates, &sources)?;
    if superseded.height() > 0 {
        notes.push(format!(
            "{} referral rows were sent again in another file; the pipeline's duplicates rule ({}) decided which counts, and the others are counted as rejected.",
            crate::disclosure::count_in_words(superseded.height() as i64, published),
            match s.duplicates {
                crate::pipeline::Duplicates::Latest => "the latest file wins",
                crate::pipeline::Duplicates::First => "the first file wins",
                crate::pipeline::Duplicates::Reject => "both are rejected",
            }
        ));
    }
    let by_provider_rejects =
        quality::by_provider(kept.clone(), rejects.as_ref(), &superseded, &dims)?;
    let refs = referrals(kept, s, &dims, data_as_at).collect()?;
    if refs.height() == 0 {
        // Bad input, as validate says it (exit 2 in both).
        return Err(
            crate::error::InputError::Argument(crate::ingest::no_referrals_message(p)).into(),
        );
    }
    let period = match (s.evaluation_start, s.evaluation_end) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            let r = date_range(&refs, ACTIVITY_DATE)?.context("no activity dates")?;
            notes.push("No evaluation period is set: the period runs from the first to the last activity date.".into());
            (
                s.evaluation_start.unwrap_or(r.0),
                s.evaluation_end.unwrap_or(r.1),
            )
        }
    };
    let refs = refs.lazy();
    let mut tables = activity_tables(&refs, &dims)?;

    // Hospital use.
    // Collected once: every hospital figure reads it.
    let persons = hospital::persons(&refs)
        .collect()?
        .lazy()
        .with_row_index(hospital::PID, None);
    let coverage = match (&events, s.hospital_coverage_start, s.hospital_coverage_end) {
        (_, Some(a), Some(b)) => (a, b),
        (Some(ev), a, b) => {
            let dates = ev.clone().select([col(EVENT_DATE)]).collect()?;
            let r = date_range(&dates, EVENT_DATE)?.context("no hospital event dates")?;
            notes.push(format!("The hospital extract's coverage is not set in the pipeline: taken as its first to last event date, {} to {}.", a.unwrap_or(r.0), b.unwrap_or(r.1)));
            (a.unwrap_or(r.0), b.unwrap_or(r.1))
        }
        // An activity-only pack: the hospital section says why it is empty.
        (None, _, _) => period,
    };
    let hospital_absent = events.is_none().then(|| HOSPITAL_ABSENT.to_string());
    let mut linkage = None;
    let costed = match events {
        Some(_) => {
            let parts = snap.scan_parts(warehouse::HOSPITAL_EVENTS)?;
            let found = hospital::events_of(parts, &persons, participants_lf.clone())?;
            linkage = Some(found.linkage);
            let events_lf = found.events;
            let outcomes =
                hospital::person_outcomes(&persons, &events_lf, s.outcome_window_days, coverage)
                    .collect()?;
            let compared = comparison::tables(
                p, &persons, &events_lf, &outcomes, coverage, published, &mut notes,
            )?;
            let outcomes_lf = outcomes.lazy();
            tables.extend(hospital_tables(
                &outcomes_lf,
                s.financial_year_start_month,
                period,
            )?);
            tables.extend(compared);
            let mut profile = scorecard::profile_table(all_groups(
                scorecard::profile(&refs, &outcomes_lf)?,
                PROVIDER_ID,
                &dims,
            )?);
            profile.empty_group_hidden = true;
            tables.push(profile);
            hospital::costed_did(&outcomes_lf, &cost::costed_outcomes(&p.unit_costs))?
        }
        None => {
            notes.push(HOSPITAL_ABSENT.into());
            hospital::CostedDid {
                n_starters: 0.0,
                n_comparison: 0.0,
                estimate: 0.0,
                half: None,
            }
        }
    };

    // PAM.
    let pam_lf = match pam_scores {
        Some(df) => df.lazy(),
        None => {
            notes.push("No PAM scores in the warehouse: PAM figures are empty.".into());
            DataFrame::new(
                0,
                vec![
                    Column::new_empty(PERSON_ID.into(), &DataType::String),
                    Column::new_empty(ASSESSMENT_DATE.into(), &DataType::Date),
                    Column::new_empty(SCORE.into(), &DataType::Float64),
                    Column::new_empty(SOURCE_LINE.into(), &DataType::UInt32),
                ],
            )?
            .lazy()
        }
    };
    let paired = pam::paired(&persons, &pam_lf, s).collect()?.lazy();
    tables.extend(pam_tables(&paired)?);
    tables.push(providers::case_mix_adjusted(&refs, &dims)?);
    tables.push(trend::monthly(&refs, period)?);
    tables.extend(quality::tables(manifest, rejects, &superseded)?);
    tables.push(by_provider_rejects);

    for t in tables.iter_mut() {
        crate::disclosure::finalize(t, published)?;
    }

    // Stage 2: from the finalized tables only.
    let period_years = cost::period_years(period.0, period.1);
    let mut stage2 = Vec::new();
    let costs = cost::tables(p, &tables, period_years, &mut notes)?;
    stage2.extend(costs);
    let mut all: Vec<Table> = tables;
    for mut t in stage2 {
        crate::disclosure::finalize(&mut t, published)?;
        all.push(t);
    }
    let mut v = value::tables(p, &all, &costed, published, &mut not_estimable)?;
    for t in v.iter_mut() {
        crate::disclosure::finalize(t, published)?;
    }
    all.extend(v);
    let mut prov = providers::tables(p, &all)?;
    for t in prov.iter_mut() {
        crate::disclosure::finalize(t, published)?;
    }
    all.extend(prov);
    let mut cards = scorecard::scorecard(p, &all)?;
    cards.extend(years::table(p, &all, period)?);
    cards.extend(years::did_changes(&all)?);
    cards.extend(contract::tables(p, &all, period_years, data_as_at)?);
    if let Some(path) = &p.target_population {
        let mut t = reach::table(&reach::read(path)?, &all)?;
        // Starters hidden in their equity table stay hidden here.
        for i in 0..t.height() {
            let (d, g) = (t.text(i, "dimension"), t.text(i, "group"));
            let hidden = all
                .iter()
                .find(|x| x.name == format!("equity_by_{d}"))
                .and_then(|x| x.find("group", &g).map(|r| x.is_suppressed(r, "starters")))
                .unwrap_or(false);
            if hidden {
                t.suppressed.insert((i, "starters".into()));
            }
        }
        t.counts = vec!["starters".into()];
        cards.push(t);
    }
    for t in cards.iter_mut() {
        crate::disclosure::finalize(t, published)?;
    }
    all.extend(cards);
    trend::add_limits(&mut all)?;
    let when = |d: (NaiveDate, NaiveDate)| {
        format!("{} to {}", d.0.format("%-d %B %Y"), d.1.format("%-d %B %Y"))
    };
    let quiet = years::months_without_a_start(&all);
    let mut words = summary::tables(p, &all, &when(period), &when(coverage), published, &quiet)?;
    for t in words.iter_mut() {
        crate::disclosure::finalize(t, published)?;
    }
    all.extend(words);

    Ok(Evaluation {
        tables: all,
        coverage,
        hospital_absent,
        period,
        data_as_at,
        notes,
        not_estimable,
        published,
        linkage,
    })
}

/// Activity, completion, retention and equity tables.
fn activity_tables(refs: &LazyFrame, dims: &Dimensions) -> Result<Vec<Table>> {
    let mut tables = vec![activity::activity_table(
        "activity_overall",
        "Activity",
        activity::activity(refs, None)?,
        None,
    )];
    for (by, title) in [
        (PROVIDER_ID, "Activity by provider"),
        (PROGRAMME, "Activity by programme"),
        (FINANCIAL_YEAR, "Activity by financial year"),
        (QUARTER, "Activity by quarter"),
        (MONTH, "Activity by month"),
    ] {
        let name = format!("activity_by_{}", by.trim_end_matches("_id"));
        let df = all_groups(activity::activity(refs, Some(by))?, by, dims)?;
        let mut t = activity::activity_table(&name, title, df, Some(by));
        t.empty_group_hidden = dims.values(by).is_some();
        tables.push(t);
    }
    tables.push(activity::completion_table(
        "completion_overall",
        "Completion (courses finished by the data's date)",
        activity::completion(refs, None)?,
        None,
    ));
    let mut t = activity::completion_table(
        "completion_by_provider",
        "Completion by provider",
        all_groups(
            activity::completion(refs, Some(PROVIDER_ID))?,
            PROVIDER_ID,
            dims,
        )?,
        Some(PROVIDER_ID),
    );
    t.empty_group_hidden = true;
    tables.push(t);
    let mut t = activity::completion_table(
        "completion_by_programme",
        "Uptake and completion by programme",
        all_groups(
            activity::completion(refs, Some(PROGRAMME))?,
            PROGRAMME,
            dims,
        )?,
        Some(PROGRAMME),
    );
    t.empty_group_hidden = true;
    tables.push(t);
    tables.push(activity::completion_table(
        "completion_by_financial_year",
        "Uptake and completion by financial year",
        activity::completion(refs, Some(FINANCIAL_YEAR))?,
        Some(FINANCIAL_YEAR),
    ));
    let mut t = activity::waits_table(
        all_groups(activity::waits(refs, PROVIDER_ID)?, PROVIDER_ID, dims)?,
        PROVIDER_ID,
    );
    t.empty_group_hidden = true;
    tables.push(t);
    tables.push(
        Table::new(
            "retention",
            "Retention: starters attending each session",
            activity::retention(refs)?,
        )
        .exact(&["session"])
        .counts(&["starters"])
        .count_within("attended", "starters")
        .share("rate", "attended", "starters"),
    );
    for (name, column, title) in activity::EQUITY {
        let df = all_groups(activity::completion(refs, Some(column))?, column, dims)?;
        let df = df.lazy().rename([*column], ["group"], true).collect()?;
        let mut t = activity::completion_table(
            &format!("equity_by_{name}"),
            &format!("Uptake and completion by {}", title.to_lowercase()),
            df,
            Some("group"),
        );
        t.empty_group_hidden = true;
        tables.push(t);
    }
    Ok(tables)
}

/// A difference-in-differences table's kinds: the group sizes are counts,
/// the event totals hidden, the estimate and its interval statistics that
/// need both groups to have at least 10 people.
fn did_table(t: Table) -> Table {
    let both = &["n_starters", "n_comparison"];
    t.counts(both)
        .hidden_counts(&[
            "starters_pre",
            "starters_post",
            "comparison_pre",
            "comparison_post",
        ])
        .hidden(&["ci_half"])
        .statistic(
            "estimate",
            &[
                "starters_pre",
                "starters_post",
                "n_starters",
                "comparison_pre",
                "comparison_post",
                "n_comparison",
            ],
            formulas::did_of_totals,
            both,
            2,
        )
        .statistic("ci_low", &["estimate", "ci_half"], formulas::minus, both, 2)
        .statistic("ci_high", &["estimate", "ci_half"], formulas::plus, both, 2)
}

/// Follow-up, pre/post and difference-in-differences tables. Means are the
/// event totals ÷ n, the change the difference of the means, its interval the
/// change ± the t half-width.
fn hospital_tables(
    outcomes: &LazyFrame,
    fy_start_month: u32,
    period: (NaiveDate, NaiveDate),
) -> Result<Vec<Table>> {
    let follow_up = Table::new(
        "hospital_follow_up",
        "Persons with and without full follow-up",
        hospital::follow_up(outcomes)?,
    )
    .labels(&[hospital::GROUP])
    .counts(&["persons"])
    .count_within("eligible", "persons")
    .count_within("insufficient_follow_up", "persons")
    .count_within(hospital::LINKED, "persons")
    .base("persons")
    .share("linkage", hospital::LINKED, "persons");
    let pre_post = Table::new(
        "hospital_pre_post",
        "Hospital use per person, year before vs year after",
        hospital::pre_post(outcomes)?,
    )
    .labels(&[hospital::GROUP, "outcome"])
    .counts(&["n", "events_pre", "events_post"])
    .hidden(&["ci_half"])
    .exact(&["no_variation"])
    .mean_of("mean_pre", "events_pre", "n")
    .mean_of("mean_post", "events_post", "n")
    .statistic(
        "change",
        &["events_pre", "events_post", "n"],
        formulas::change_of_totals,
        &["n"],
        2,
    )
    .statistic("ci_low", &["change", "ci_half"], formulas::minus, &["n"], 2)
    .statistic("ci_high", &["change", "ci_half"], formulas::plus, &["n"], 2)
    .statistic(
        "pct_change",
        &["mean_pre", "mean_post"],
        formulas::relative_change,
        &["n"],
        4,
    );
    let did = did_table(
        Table::new(
            "did",
            "Difference-in-differences: starters vs comparison",
            hospital::did(outcomes)?,
        )
        .labels(&["outcome"]),
    );
    let by_year = did_table(
        Table::new(
            "did_by_financial_year",
            "Difference-in-differences by financial year of the course start (or referral)",
            hospital::did_by_year(outcomes, fy_start_month, period)?,
        )
        .labels(&[FINANCIAL_YEAR, "outcome"]),
    );
    Ok(vec![follow_up, pre_post, did, by_year])
}

/// PAM summary, transitions, levels, change by baseline level and by provider.
fn pam_tables(paired: &LazyFrame) -> Result<Vec<Table>> {
    let stat = |t: Table, name: &str, from: &str, n: &str| {
        t.statistic(name, &[from], formulas::identity, &[n], 2)
    };
    let summary = Table::new(
        "pam_summary",
        "PAM: paired baseline and follow-up scores of starters",
        pam::summary(paired)?,
    )
    .counts(&["n_paired"])
    .count_within("n_up_one_level", "n_paired")
    .count_within("n_up_3_points", "n_paired")
    .hidden(&["mean_pre_x", "mean_post_x", "change_x", "ci_half"]);
    let summary = stat(summary, "mean_pre", "mean_pre_x", "n_paired");
    let summary = stat(summary, "mean_post", "mean_post_x", "n_paired");
    let summary = stat(summary, "change", "change_x", "n_paired")
        .statistic(
            "ci_low",
            &["change", "ci_half"],
            formulas::minus,
            &["n_paired"],
            2,
        )
        .statistic(
            "ci_high",
            &["change", "ci_half"],
            formulas::plus,
            &["n_paired"],
            2,
        )
        .share("pct_up_one_level", "n_up_one_level", "n_paired")
        .share("pct_up_3_points", "n_up_3_points", "n_paired");
    let t = pam::transitions(paired)?;
    let row = |k: usize| t.iter().map(|r| r[k]).collect::<Vec<_>>();
    let totals: Vec<i64> = t.iter().map(|r| r.iter().sum()).collect();
    let transitions = Table::new(
        "pam_transitions",
        "PAM level at baseline (rows) and follow-up (columns)",
        df!(
            "baseline_level" => [1i32, 2, 3, 4], "baseline_total" => totals.clone(),
            "to_level_1" => row(0), "to_level_2" => row(1), "to_level_3" => row(2), "to_level_4" => row(3),
        )?,
    )
    .exact(&["baseline_level"])
    .hidden_counts(&["baseline_total"])
    .count_within("to_level_1", "baseline_total")
    .count_within("to_level_2", "baseline_total")
    .count_within("to_level_3", "baseline_total")
    .count_within("to_level_4", "baseline_total")
    .base("baseline_total");
    let follow: Vec<i64> = (0..4).map(|c| t.iter().map(|r| r[c]).sum()).collect();
    let levels = Table::new(
        "pam_levels",
        "PAM level at baseline and follow-up (paired starters)",
        df!("level" => [1i32, 2, 3, 4], "baseline" => totals, "follow_up" => follow)?,
    )
    .exact(&["level"])
    .counts(&["baseline", "follow_up"]);
    let by_baseline = Table::new(
        "pam_by_baseline",
        "Mean PAM change by baseline level",
        pam::by_baseline(paired)?,
    )
    .exact(&["baseline_level"])
    .counts(&["n"])
    .hidden(&["mean_change_x"])
    .base("n");
    let by_baseline = stat(by_baseline, "mean_change", "mean_change_x", "n");
    let by_provider = Table::new(
        "pam_by_provider",
        "PAM change by provider",
        pam::by_provider(paired)?,
    )
    .labels(&[PROVIDER_ID])
    .counts(&["pam_n"])
    .hidden(&["pam_change_x", "pam_half"])
    .base("pam_n");
    let by_provider = stat(by_provider, "pam_change", "pam_change_x", "pam_n")
        .statistic(
            "pam_ci_low",
            &["pam_change", "pam_half"],
            formulas::minus,
            &["pam_n"],
            2,
        )
        .statistic(
            "pam_ci_high",
            &["pam_change", "pam_half"],
            formulas::plus,
            &["pam_n"],
            2,
        );
    Ok(vec![summary, transitions, levels, by_baseline, by_provider])
}

/// A finalized table's cell (None when suppressed or missing).
pub fn cell(tables: &[Table], table: &str, row: usize, column: &str) -> Option<f64> {
    tables
        .iter()
        .find(|t| t.name == table)
        .and_then(|t| t.f64(row, column))
}
