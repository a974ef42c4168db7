//! The evaluation (SPEC 4), computed from the warehouse with polars. Each
//! metric is a function in this folder; `evaluate` runs them all and returns
//! the tables the pack shows and `metrics.json` reads.

pub mod activity;
pub mod cost;
pub mod hospital;
pub mod pam;
pub mod referrals;
pub mod table;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use polars::prelude::*;

use crate::pipeline::Pipeline;
use crate::schema::*;
use crate::stats;
use crate::warehouse;
use referrals::*;
pub use table::Table;

/// Everything the pack needs.
pub struct Evaluation {
    pub tables: Vec<Table>,
    /// Hospital data coverage used for eligibility.
    pub coverage: (NaiveDate, NaiveDate),
    /// The evaluation period (from the pipeline, else the activity dates).
    pub period: (NaiveDate, NaiveDate),
    /// Plain-words notes about choices made on this data (shown in the pack).
    pub notes: Vec<String>,
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

fn one(df: &DataFrame, col: &str) -> f64 {
    df.column(col)
        .ok()
        .and_then(|c| c.cast(&DataType::Float64).ok())
        .and_then(|c| c.f64().ok().and_then(|x| x.get(0)))
        .unwrap_or(0.0)
}

/// Computes every metric of SPEC 4 from the pipeline's warehouse.
pub fn evaluate(p: &Pipeline) -> Result<Evaluation> {
    let wh = &p.warehouse;
    let s = &p.settings;
    let participants = warehouse::read_table(wh, warehouse::PARTICIPANTS)?.with_context(|| {
        format!(
            "the warehouse {} has no participants: run `smpeval ingest` first",
            wh.display()
        )
    })?;
    let events = warehouse::read_table(wh, warehouse::HOSPITAL_EVENTS)?;
    let pam_scores = warehouse::read_table(wh, warehouse::PAM_SCORES)?;
    let manifest =
        warehouse::read_table(wh, warehouse::MANIFEST)?.context("the warehouse has no manifest")?;
    let rejects = warehouse::read_table(wh, warehouse::REJECTS)?;
    let mut notes = Vec::new();

    let refs = referrals(participants.lazy(), s).collect()?;
    if refs.height() == 0 {
        bail!(
            "no referrals fall in the evaluation period {:?} to {:?}",
            s.evaluation_start,
            s.evaluation_end
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
    let mut tables = Vec::new();

    // Activity and completion.
    let overall = activity::activity(&refs, None)?;
    tables.push(
        Table::new("activity_overall", "Activity", overall.clone()).counts(&[
            "referrals",
            "starters",
            "completers",
        ]),
    );
    for (by, title) in [
        (PROVIDER_ID, "Activity by provider"),
        (PROGRAMME, "Activity by programme"),
        (FINANCIAL_YEAR, "Activity by financial year"),
        (QUARTER, "Activity by quarter"),
        (MONTH, "Activity by month"),
    ] {
        let name = format!("activity_by_{}", by.trim_end_matches("_id"));
        tables.push(
            Table::new(&name, title, activity::activity(&refs, Some(by))?).counts(&[
                "referrals",
                "starters",
                "completers",
            ]),
        );
    }
    let completion = activity::completion(&refs, None)?;
    tables.push(activity::completion_table(
        "completion_overall",
        "Completion",
        completion.clone(),
    ));
    let by_provider = activity::completion(&refs, Some(PROVIDER_ID))?;
    tables.push(activity::completion_table(
        "completion_by_provider",
        "Completion by provider",
        by_provider.clone(),
    ));
    tables.push(
        Table::new(
            "retention",
            "Retention: starters attending each session",
            activity::retention(&refs)?,
        )
        .counts(&["starters", "attended"])
        .derived("starters", &["rate"]),
    );
    for (name, column, title) in activity::EQUITY {
        let df = activity::completion(&refs, Some(column))?;
        let df = df.lazy().rename([*column], ["group"], true).collect()?;
        tables.push(activity::completion_table(
            &format!("equity_by_{name}"),
            &format!("Starters and completion by {}", title.to_lowercase()),
            df,
        ));
    }

    // Hospital use.
    let persons = hospital::persons(&refs);
    let coverage = match (&events, s.hospital_coverage_start, s.hospital_coverage_end) {
        (_, Some(a), Some(b)) => (a, b),
        (Some(ev), a, b) => {
            let r = date_range(ev, EVENT_DATE)?.context("no hospital event dates")?;
            notes.push("The hospital extract's coverage is not set in the pipeline: taken as its first to last event date.".into());
            (a.unwrap_or(r.0), b.unwrap_or(r.1))
        }
        (None, _, _) => bail!(
            "the warehouse has no hospital events: the hospital outcomes need a hospital source"
        ),
    };
    let events_lf = events.context("no hospital events")?.lazy();
    let outcomes = hospital::person_outcomes(&persons, &events_lf, s.outcome_window_days, coverage)
        .collect()?;
    let outcomes_lf = outcomes.lazy();
    tables.push(
        Table::new(
            "hospital_follow_up",
            "Persons with and without full follow-up",
            hospital::follow_up(&outcomes_lf)?,
        )
        .counts(&["persons", "eligible", "insufficient_follow_up"]),
    );
    let pre_post = hospital::pre_post(&outcomes_lf)?;
    tables.push(
        Table::new(
            "hospital_pre_post",
            "Hospital use per person, year before vs year after",
            pre_post,
        )
        .counts(&["n"])
        .derived(
            "n",
            &[
                "mean_pre",
                "mean_post",
                "change",
                "ci_low",
                "ci_high",
                "pct_change",
            ],
        ),
    );
    let did = hospital::did(&outcomes_lf)?;
    tables.push(
        Table::new(
            "did",
            "Difference-in-differences: starters vs comparison",
            did.clone(),
        )
        .counts(&["n_starters", "n_comparison"])
        .derived("n_starters", &["estimate", "ci_low", "ci_high"])
        .derived("n_comparison", &["estimate", "ci_low", "ci_high"]),
    );

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
                    Column::new_empty(LEVEL.into(), &DataType::Int32),
                    Column::new_empty(SOURCE_LINE.into(), &DataType::UInt32),
                ],
            )?
            .lazy()
        }
    };
    let paired = pam::paired(&persons, &pam_lf, s).collect()?.lazy();
    tables.push(
        Table::new(
            "pam_summary",
            "PAM: paired baseline and follow-up scores of starters",
            pam::summary(&paired)?,
        )
        .counts(&["n_paired"])
        .derived(
            "n_paired",
            &[
                "mean_pre",
                "mean_post",
                "change",
                "ci_low",
                "ci_high",
                "pct_up_one_level",
                "pct_up_3_points",
            ],
        ),
    );
    let t = pam::transitions(&paired)?;
    let transitions = df!(
        "baseline_level" => [1i32, 2, 3, 4],
        "to_level_1" => t.iter().map(|r| r[0]).collect::<Vec<_>>(),
        "to_level_2" => t.iter().map(|r| r[1]).collect::<Vec<_>>(),
        "to_level_3" => t.iter().map(|r| r[2]).collect::<Vec<_>>(),
        "to_level_4" => t.iter().map(|r| r[3]).collect::<Vec<_>>(),
    )?;
    tables.push(
        Table::new(
            "pam_transitions",
            "PAM level at baseline (rows) and follow-up (columns)",
            transitions,
        )
        .counts(&["to_level_1", "to_level_2", "to_level_3", "to_level_4"]),
    );
    let level_counts = |k: usize| -> Vec<i64> {
        (0..4)
            .map(|i| {
                if k == 0 {
                    t[i].iter().sum()
                } else {
                    (0..4).map(|r| t[r][i]).sum()
                }
            })
            .collect()
    };
    tables.push(
        Table::new(
            "pam_levels",
            "PAM level at baseline and follow-up (paired starters)",
            df!("level" => [1i32, 2, 3, 4], "baseline" => level_counts(0), "follow_up" => level_counts(1))?,
        )
        .counts(&["baseline", "follow_up"]),
    );
    tables.push(
        Table::new(
            "pam_by_baseline",
            "Mean PAM change by baseline level",
            pam::by_baseline(&paired)?,
        )
        .counts(&["n"])
        .derived("n", &["mean_change"]),
    );

    // Cost and value.
    let period_years = ((period.1 - period.0).num_days() + 1) as f64 / 365.25;
    let vol = |df: &DataFrame| cost::Volumes {
        referrals: one(df, "referrals"),
        starters: one(df, "starters"),
        completers: one(df, "completers"),
        courses: one(df, "courses"),
    };
    let total_vol = vol(&overall);
    let provider_activity = activity::activity(&refs, Some(PROVIDER_ID))?;
    let provider_ids: Vec<String> = (0..provider_activity.height())
        .map(|i| {
            provider_activity
                .column(PROVIDER_ID)
                .ok()
                .and_then(|c| c.str().ok()?.get(i).map(String::from))
                .unwrap_or_default()
        })
        .collect();
    let provider_vol = |id: &str| -> Result<cost::Volumes> {
        let df = provider_activity
            .clone()
            .lazy()
            .filter(col(PROVIDER_ID).eq(lit(id)))
            .collect()?;
        Ok(vol(&df))
    };
    let mut items = Vec::new();
    let mut bases = Vec::new();
    let mut amounts = Vec::new();
    let mut providers = Vec::new();
    let mut costs = Vec::new();
    for line in &p.cost_lines {
        if let Some(id) = &line.provider {
            if !provider_ids.contains(id) {
                notes.push(format!(
                    "The cost line \"{}\" names provider {id}, which has no referrals in the period: it adds to the total but to no provider.",
                    line.item
                ));
            }
        }
        let v = match &line.provider {
            Some(id) => provider_vol(id)?,
            None => total_vol,
        };
        items.push(line.item.clone());
        bases.push(line.basis.name().to_string());
        amounts.push(line.amount);
        providers.push(line.provider.clone().unwrap_or_default());
        costs.push(cost::line_cost(line, period_years, v));
    }
    let total: f64 = costs.iter().sum();
    tables.push(Table::new(
        "cost_lines",
        "Cost lines over the evaluation period",
        df!("item" => items, "basis" => bases, "amount" => amounts, "provider" => providers, "cost_in_period" => costs.clone())?,
    ));
    let per = |x: f64| (x > 0.0).then(|| total / x);
    tables.push(
        Table::new(
            "cost_summary",
            "Cost per referral, starter, completer and course",
            df!(
                "total" => [total], "period_years" => [period_years],
                "referrals" => [total_vol.referrals as i64], "starters" => [total_vol.starters as i64],
                "completers" => [total_vol.completers as i64], "courses" => [total_vol.courses as i64],
                "per_referral" => [per(total_vol.referrals)], "per_starter" => [per(total_vol.starters)],
                "per_completer" => [per(total_vol.completers)], "per_course" => [per(total_vol.courses)],
                "benchmark_per_participant" => [cost::BENCHMARK_PER_PARTICIPANT],
                "benchmark_per_completer" => [cost::BENCHMARK_PER_COMPLETER],
            )?,
        )
        .counts(&["referrals", "starters", "completers"])
        .derived("referrals", &["per_referral"])
        .derived("starters", &["per_starter"])
        .derived("completers", &["per_completer"]),
    );

    // Savings: events avoided = −DiD × eligible starters, × unit cost.
    let (mut so, mut sd, mut sl, mut sh, mut sn, mut sa, mut su, mut sv, mut svl, mut svh) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    let did_t = Table::new("did", "", did);
    let (mut total_savings, mut half_sq) = (0.0, 0.0);
    for (outcome, unit) in cost::costed_outcomes(&p.unit_costs) {
        let row = (0..did_t.height()).find(|&i| did_t.text(i, "outcome") == outcome);
        let (est, lo, hi, n) = match row {
            Some(i) => (
                did_t.f64(i, "estimate"),
                did_t.f64(i, "ci_low"),
                did_t.f64(i, "ci_high"),
                did_t.f64(i, "n_starters").unwrap_or(0.0),
            ),
            None => (None, None, None, 0.0),
        };
        let avoided = est.map(|e| -e * n);
        let saving = avoided.map(|a| a * unit);
        let (low, high) = (hi.map(|h| -h * n * unit), lo.map(|l| -l * n * unit));
        if let (Some(v), Some(l), Some(h)) = (saving, low, high) {
            total_savings += v;
            half_sq += ((h - l) / 2.0).powi(2);
        }
        so.push(outcome.to_string());
        sd.push(est);
        sl.push(lo);
        sh.push(hi);
        sn.push(n as i64);
        sa.push(avoided);
        su.push(unit);
        sv.push(saving);
        svl.push(low);
        svh.push(high);
    }
    tables.push(
        Table::new(
            "savings",
            "Savings from hospital use avoided (difference-in-differences × eligible starters × unit cost)",
            df!("outcome" => so, "did" => sd, "did_ci_low" => sl, "did_ci_high" => sh, "eligible_starters" => sn,
                "events_avoided" => sa, "unit_cost" => su, "savings" => sv, "savings_low" => svl, "savings_high" => svh)?,
        )
        .counts(&["eligible_starters"])
        .derived("eligible_starters", &["did", "did_ci_low", "did_ci_high", "events_avoided", "savings", "savings_low", "savings_high"]),
    );
    let half = half_sq.sqrt();
    tables.push(Table::new(
        "value",
        "Cost and value",
        df!(
            "total_cost" => [total], "total_savings" => [total_savings],
            "savings_low" => [total_savings - half], "savings_high" => [total_savings + half],
            "net_cost" => [total - total_savings],
            "return_per_pound" => [(total > 0.0).then(|| total_savings / total)],
        )?,
    ));

    // Provider comparison: volumes, completion with CI, funnel limits around the
    // overall rate, cost per completer, PAM change.
    let overall_rate = one(&completion, "rate");
    let pam_prov = pam::by_provider(&paired)?;
    let general: f64 = p
        .cost_lines
        .iter()
        .zip(&costs)
        .filter(|(l, _)| l.provider.is_none())
        .map(|(_, c)| c)
        .sum();
    let mut rows: Vec<(String, [Option<f64>; 8], String)> = Vec::new();
    let bp = Table::new("", "", by_provider.clone());
    let pp = Table::new("", "", pam_prov.clone());
    for (i, id) in provider_ids.iter().enumerate() {
        let starters = bp.f64(i, "starters").unwrap_or(0.0);
        let completers = bp.f64(i, "completers").unwrap_or(0.0);
        let f = stats::funnel_point(starters.max(1.0), overall_rate);
        let rate = bp.f64(i, "rate");
        let flag = match rate {
            Some(r) if r > f.upper_998 => "above 99.8% limit",
            Some(r) if r < f.lower_998 => "below 99.8% limit",
            Some(r) if r > f.upper_95 => "above 95% limit",
            Some(r) if r < f.lower_95 => "below 95% limit",
            Some(_) => "within limits",
            None => "",
        };
        // Provider cost: lines naming the provider, plus general lines shared by starters.
        let own: f64 = p
            .cost_lines
            .iter()
            .zip(&costs)
            .filter(|(l, _)| l.provider.as_deref() == Some(id.as_str()))
            .map(|(_, c)| c)
            .sum();
        let share = if total_vol.starters > 0.0 {
            starters / total_vol.starters
        } else {
            0.0
        };
        let provider_cost = own + general * share;
        let pam_row = (0..pp.height()).find(|&k| pp.text(k, PROVIDER_ID) == *id);
        rows.push((
            id.clone(),
            [
                Some(f.lower_95),
                Some(f.upper_95),
                Some(f.lower_998),
                Some(f.upper_998),
                Some(provider_cost),
                (completers > 0.0).then(|| provider_cost / completers),
                pam_row.and_then(|k| pp.f64(k, "pam_n")),
                pam_row.and_then(|k| pp.f64(k, "pam_change")),
            ],
            flag.to_string(),
        ));
    }
    let col_of = |k: usize| rows.iter().map(|r| r.1[k]).collect::<Vec<_>>();
    let mut prov = provider_activity
        .clone()
        .lazy()
        .join(
            by_provider.clone().lazy().select([
                col(PROVIDER_ID),
                col("rate"),
                col("ci_low"),
                col("ci_high"),
            ]),
            [col(PROVIDER_ID)],
            [col(PROVIDER_ID)],
            JoinArgs::new(JoinType::Left),
        )
        .sort([PROVIDER_ID], SortMultipleOptions::default())
        .collect()?;
    for (k, name) in [
        "funnel_lower_95",
        "funnel_upper_95",
        "funnel_lower_998",
        "funnel_upper_998",
        "cost",
        "cost_per_completer",
    ]
    .iter()
    .enumerate()
    {
        prov.with_column(Column::new((*name).into(), col_of(k)))?;
    }
    prov.with_column(Column::new(
        "funnel_position".into(),
        rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
    ))?;
    prov.with_column(Column::new(
        "pam_n".into(),
        col_of(6)
            .iter()
            .map(|x| x.map(|v| v as i64))
            .collect::<Vec<_>>(),
    ))?;
    prov.with_column(Column::new("pam_change".into(), col_of(7)))?;
    tables.push(
        Table::new("providers", "Provider comparison", prov)
            .counts(&["referrals", "starters", "completers", "pam_n"])
            .derived(
                "starters",
                &[
                    "rate",
                    "ci_low",
                    "ci_high",
                    "funnel_lower_95",
                    "funnel_upper_95",
                    "funnel_lower_998",
                    "funnel_upper_998",
                    "funnel_position",
                ],
            )
            .derived("completers", &["cost_per_completer"])
            .derived("pam_n", &["pam_change"]),
    );
    let starters_by_provider: Vec<f64> = (0..by_provider.height())
        .filter_map(|i| bp.f64(i, "starters"))
        .collect();
    let (min_d, max_d) = starters_by_provider
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let dens = if starters_by_provider.is_empty() {
        vec![]
    } else {
        stats::funnel_denominators(min_d.max(1.0), max_d.max(1.0))
    };
    let pts: Vec<stats::FunnelPoint> = dens
        .iter()
        .map(|&d| stats::funnel_point(d, overall_rate))
        .collect();
    tables.push(Table::new(
        "funnel_limits",
        "Funnel-plot limits around the overall completion rate",
        df!(
            "denominator" => pts.iter().map(|p| p.denominator).collect::<Vec<_>>(),
            "lower_95" => pts.iter().map(|p| p.lower_95).collect::<Vec<_>>(),
            "upper_95" => pts.iter().map(|p| p.upper_95).collect::<Vec<_>>(),
            "lower_998" => pts.iter().map(|p| p.lower_998).collect::<Vec<_>>(),
            "upper_998" => pts.iter().map(|p| p.upper_998).collect::<Vec<_>>(),
            "overall_rate" => vec![overall_rate; pts.len()],
        )?,
    ));

    // Trend: monthly starters and completions by course start month, XmR.
    tables.push(trend(&refs, period)?);

    // Data quality.
    tables.push(
        Table::new(
            "data_quality",
            "Rows read, accepted and rejected by file",
            manifest
                .lazy()
                .select([
                    col("source"),
                    col("path"),
                    col("rows_read").cast(DataType::Int64),
                    col("rows_accepted").cast(DataType::Int64).alias("accepted"),
                    col("rows_rejected").cast(DataType::Int64).alias("rejected"),
                    col("sentinel_dates").cast(DataType::Int64),
                ])
                .sort(["source", "path"], SortMultipleOptions::default())
                .collect()?,
        ), // File rows, not people, with no attribute of anyone: shown exactly.
    );
    let reasons = match rejects {
        Some(r) if r.height() > 0 => r
            .lazy()
            .group_by([col("source"), col("field"), col("rule")])
            .agg([len().cast(DataType::Int64).alias("rows")])
            .sort(
                ["rows", "source", "field", "rule"],
                SortMultipleOptions::default()
                    .with_order_descending_multi([true, false, false, false]),
            )
            .collect()?,
        _ => {
            df!("source" => Vec::<String>::new(), "field" => Vec::<String>::new(), "rule" => Vec::<String>::new(), "rows" => Vec::<i64>::new())?
        }
    };
    tables.push(Table::new(
        "reject_reasons",
        "Rejected rows by reason",
        reasons,
    ));

    Ok(Evaluation {
        tables,
        coverage,
        period,
        notes,
    })
}

/// Monthly starters and completers (by course start month, every month of
/// the period, zero where none) with XmR limits and special-cause flags.
fn trend(refs: &LazyFrame, period: (NaiveDate, NaiveDate)) -> Result<Table> {
    use chrono::Datelike;
    let monthly = refs
        .clone()
        .filter(col(STARTER))
        .group_by([col(MONTH)])
        .agg([
            len().cast(DataType::Int64).alias("starters"),
            col(COMPLETER)
                .sum()
                .cast(DataType::Int64)
                .alias("completers"),
        ])
        .collect()?;
    let mt = Table::new("", "", monthly);
    let mut months = Vec::new();
    let mut d = NaiveDate::from_ymd_opt(period.0.year(), period.0.month(), 1).expect("month");
    while d <= period.1 {
        months.push(d.format("%Y-%m").to_string());
        d = if d.month() == 12 {
            NaiveDate::from_ymd_opt(d.year() + 1, 1, 1).expect("month")
        } else {
            NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1).expect("month")
        };
    }
    let find = |m: &str, c: &str| {
        (0..mt.height())
            .find(|&i| mt.text(i, MONTH) == m)
            .and_then(|i| mt.f64(i, c))
            .unwrap_or(0.0)
    };
    let starters: Vec<f64> = months.iter().map(|m| find(m, "starters")).collect();
    let completers: Vec<f64> = months.iter().map(|m| find(m, "completers")).collect();
    let mut df = df!(
        "month" => months.clone(),
        "starters" => starters.iter().map(|x| *x as i64).collect::<Vec<_>>(),
        "completers" => completers.iter().map(|x| *x as i64).collect::<Vec<_>>(),
    )?;
    for (name, values) in [("starters", &starters), ("completers", &completers)] {
        let x = stats::xmr(values);
        let n = months.len();
        let get = |f: &dyn Fn(&stats::Xmr) -> f64| vec![x.as_ref().map(f); n];
        df.with_column(Column::new(format!("{name}_mean").into(), get(&|x| x.mean)))?;
        df.with_column(Column::new(
            format!("{name}_lower_limit").into(),
            get(&|x| x.lower_limit),
        ))?;
        df.with_column(Column::new(
            format!("{name}_upper_limit").into(),
            get(&|x| x.upper_limit),
        ))?;
        let flags: Vec<String> = match &x {
            Some(x) => x
                .points
                .iter()
                .map(|p| {
                    let mut f = Vec::new();
                    if p.outside_limits {
                        f.push("outside limits");
                    }
                    if p.shift {
                        f.push("shift");
                    }
                    if p.trend {
                        f.push("trend");
                    }
                    if p.two_of_three {
                        f.push("2 of 3 near a limit");
                    }
                    f.join("; ")
                })
                .collect(),
            None => vec![String::new(); n],
        };
        df.with_column(Column::new(format!("{name}_special_cause").into(), flags))?;
    }
    Ok(
        Table::new("trend_monthly", "Monthly starters and completers (XmR)", df)
            .counts(&["starters", "completers"])
            .derived("starters", &["starters_special_cause"])
            .derived("completers", &["completers_special_cause"]),
    )
}
