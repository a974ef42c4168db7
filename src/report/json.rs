//! `metrics.json` (SPEC 7): stable keys for nightly consumers. A suppressed
//! figure is `null` and its name is listed in `suppressed`.

use serde_json::{json, Map, Value};

use crate::metrics::{Evaluation, Table};

/// Builds one JSON object from a table row, each column under its own name;
/// suppressed cells become null and are named in `suppressed` as
/// `<path>.<column>`.
fn row(t: &Table, i: usize, columns: &[&str], path: &str, suppressed: &mut Vec<String>) -> Value {
    let mut m = Map::new();
    for column in columns {
        let v = if t.is_suppressed(i, column) {
            suppressed.push(format!("{path}.{column}"));
            Value::Null
        } else {
            cell(t, i, column)
        };
        m.insert((*column).to_string(), v);
    }
    Value::Object(m)
}

fn cell(t: &Table, i: usize, column: &str) -> Value {
    let dtype = t.df.column(column).map(|c| c.dtype().clone());
    match dtype {
        Ok(d) if d.is_integer() => t
            .f64(i, column)
            .map(|x| json!(x as i64))
            .unwrap_or(Value::Null),
        Ok(d) if d.is_float() => t
            .f64(i, column)
            .filter(|x| x.is_finite())
            .map(|x| json!(x))
            .unwrap_or(Value::Null),
        Ok(polars::prelude::DataType::Boolean) => json!(t.text(i, column) == "true"),
        Ok(_) => {
            let s = t.text(i, column);
            if s.is_empty() {
                Value::Null
            } else {
                json!(s)
            }
        }
        Err(_) => Value::Null,
    }
}

/// A table's rows as `take` says, `columns` under their own names (groups
/// of names separated by spaces; none: every column in the table's order).
fn table_json(
    t: Option<&Table>,
    take: Take,
    columns: &[&str],
    path: &str,
    suppressed: &mut Vec<String>,
) -> Value {
    let every = match (columns.is_empty(), t) {
        (true, Some(t)) => t.column_names(),
        _ => Vec::new(),
    };
    let names: Vec<&str> = columns
        .iter()
        .flat_map(|c| c.split_whitespace())
        .chain(every.iter().map(String::as_str))
        .collect();
    match (take, t) {
        (Take::First, Some(t)) if t.height() > 0 => row(t, 0, &names, path, suppressed),
        (Take::First, _) | (Take::RowsOrNull, None) => Value::Null,
        (_, Some(t)) => Value::Array(
            (0..t.height())
                .map(|i| row(t, i, &names, &format!("{path}[{i}]"), suppressed))
                .collect(),
        ),
        (_, None) => Value::Array(vec![]),
    }
}

/// Run facts for the `run` object.
pub struct RunInfo {
    pub id: String,
    pub pipeline: String,
    pub tool_version: String,
    pub started_at: String,
    pub finished_at: String,
    pub internal: bool,
}

/// Columns of an activity row.
const COUNTS: &str = "referrals starters completers courses";
/// Columns of a completion row (and of an equity group's row).
const COMPLETION: &str =
    "referrals uptake uptake_ci_low uptake_ci_high starters completers rate ci_low ci_high";

/// Which rows of its table a key of `metrics.json` holds.
#[derive(Clone, Copy)]
enum Take {
    /// Every row, as a list (empty when the table is absent).
    Rows,
    /// Every row, as a list (null when the table is absent).
    RowsOrNull,
    /// The first row, as an object (null when the table is absent or empty).
    First,
}

/// What fills one key of `metrics.json`.
enum Entry {
    /// A table at a path (dots name keys inside keys; the path also names
    /// the table's suppressed figures): the path, the table, which rows,
    /// and the columns, each under its own name (groups of names separated
    /// by spaces; none: every column in the table's order). A key inside one
    /// that holds null is left out.
    Table(&'static str, &'static str, Take, &'static [&'static str]),
    /// Keys a function of their own fills.
    Part(fn(&Evaluation, &mut Vec<String>, &mut Map<String, Value>)),
}

/// Every column of the table of the same name, under its name.
const fn whole(name: &'static str, take: Take) -> Entry {
    Entry::Table(name, name, take, &[])
}

/// The keys in a fixed order: `suppressed` lists their hidden figures in it.
const ENTRIES: &[Entry] = &[
    // Activity and completion, overall and by provider, programme and period.
    Entry::Table("activity.overall", "activity_overall", Take::First, &[COUNTS]),
    Entry::Table("activity.by_provider", "activity_by_provider", Take::Rows, &["provider_id", COUNTS]),
    Entry::Table("activity.by_programme", "activity_by_programme", Take::Rows, &["programme", COUNTS]),
    Entry::Table("activity.by_financial_year", "activity_by_financial_year", Take::Rows, &["financial_year", COUNTS]),
    Entry::Table("activity.by_quarter", "activity_by_quarter", Take::Rows, &["quarter", COUNTS]),
    Entry::Table("activity.by_month", "activity_by_month", Take::Rows, &["month", COUNTS]),
    Entry::Table("completion.overall", "completion_overall", Take::First, &[COMPLETION]),
    Entry::Table("completion.by_provider", "completion_by_provider", Take::Rows, &["provider_id", COMPLETION]),
    Entry::Table("completion.by_programme", "completion_by_programme", Take::Rows, &["programme", COMPLETION]),
    // Waits, retention by session and equity by group.
    Entry::Table("waits", "waits_by_provider", Take::Rows, &["provider_id starters median_days lower_quartile_days upper_quartile_days"]),
    Entry::Table("retention", "retention", Take::Rows, &["session attended rate"]),
    Entry::Part(equity_json),
    // Hospital use before and after, follow-up and linkage, the difference in differences.
    Entry::Table("hospital", "hospital_pre_post", Take::Rows, &["group outcome n mean_pre mean_post change ci_low ci_high pct_change"]),
    Entry::Table("follow_up", "hospital_follow_up", Take::Rows, &["group persons eligible insufficient_follow_up linked linkage"]),
    Entry::Part(linkage_json),
    Entry::Table("did", "did", Take::Rows, &["outcome estimate ci_low ci_high n_starters n_comparison"]),
    Entry::Part(pam_json),
    // Cost, savings and the value of hospital activity avoided.
    Entry::Table("cost", "cost_summary", Take::First, &["total per_referral per_starter per_completer per_course period_years benchmark_per_participant benchmark_per_completer"]),
    Entry::Table("cost.by_provider", "cost_by_provider", Take::Rows, &["provider_id cost completers cost_per_completer"]),
    Entry::Table("cost.by_programme", "cost_by_programme", Take::Rows, &["programme cost completers cost_per_completer"]),
    Entry::Table("savings", "savings", Take::Rows, &["outcome did unit_cost value_per_starter events_avoided"]),
    Entry::Table("value", "value", Take::First, &["total_cost value_per_starter starters total_value value_low value_high net_cost return_per_pound return_low return_high partial outcomes_covered not_estimable_reason"]),
    // The provider comparison, the monthly trend and data quality.
    Entry::Table("providers", "providers", Take::Rows, &["provider_id provider referrals starters completers courses starters_per_course completers_per_course cost rate ci_low ci_high funnel_lower_95 funnel_upper_95 funnel_lower_998 funnel_upper_998 funnel_position cost_per_completer pam_n pam_change"]),
    Entry::Table("trend", "trend_monthly", Take::Rows, &["month starters completers starters_special_cause completers_special_cause"]),
    Entry::Table("data_quality.files", "data_quality", Take::Rows, &["source path rows_read accepted rejected superseded reject_rate"]),
    // The board's reading: summary, limitations, evidence, scorecard, year
    // on year, and the fair comparison's tables.
    Entry::Part(sentences_json),
    Entry::Table("evidence", "evidence", Take::Rows, &["figure unit published local local_is source year"]),
    whole("scorecard", Take::Rows),
    whole("year_on_year", Take::Rows),
    whole("did_by_financial_year", Take::Rows),
    whole("did_year_on_year", Take::Rows),
    Entry::Part(matching_json),
    whole("did_matched", Take::RowsOrNull),
    whole("did_aligned_index", Take::RowsOrNull),
    whole("placebo_did", Take::RowsOrNull),
    whole("sensitivity", Take::RowsOrNull),
    whole("providers_adjusted", Take::RowsOrNull),
];

pub fn metrics_json(e: &Evaluation, run: &RunInfo) -> Value {
    let mut s = Vec::new();
    let mut out = Map::new();
    for entry in ENTRIES {
        match entry {
            Entry::Part(part) => part(e, &mut s, &mut out),
            Entry::Table(path, table, take, columns) => {
                if let Some((parent, key)) = parent(&mut out, path) {
                    let v = table_json(e.table(table), *take, columns, path, &mut s);
                    parent.insert(key.to_string(), v);
                }
            }
        }
    }
    let head = json!({
        "schema_version": 1,
        "run": {
            "id": run.id, "pipeline": run.pipeline, "tool_version": run.tool_version,
            "started_at": run.started_at, "finished_at": run.finished_at,
        },
        "disclosure": if run.internal { "internal" } else { "published" },
        "suppressed": s,
        "period": {"start": e.period.0.to_string(), "end": e.period.1.to_string()},
        "hospital_coverage": match &e.hospital_absent {
            None => json!({"start": e.coverage.0.to_string(), "end": e.coverage.1.to_string()}),
            Some(_) => Value::Null,
        },
        "hospital_absent_reason": e.hospital_absent,
        "data_as_at": e.data_as_at.to_string(),
        "notes": e.notes,
    });
    if let Value::Object(h) = head {
        out.extend(h);
    }
    Value::Object(out)
}

/// The object that holds the last key of `path`, made where it is missing;
/// None when a key on the way holds something else (null: no table).
fn parent<'m, 'p>(
    out: &'m mut Map<String, Value>,
    path: &'p str,
) -> Option<(&'m mut Map<String, Value>, &'p str)> {
    let mut keys = path.split('.');
    let last = keys.next_back()?;
    let mut m = out;
    for key in keys {
        match m.entry(key).or_insert_with(|| Value::Object(Map::new())) {
            Value::Object(inner) => m = inner,
            _ => return None,
        }
    }
    Some((m, last))
}

/// Equity: a key per `equity_by_<group>` table.
fn equity_json(e: &Evaluation, sup: &mut Vec<String>, out: &mut Map<String, Value>) {
    let mut equity = Map::new();
    for t in e.tables.iter().filter(|t| t.name.starts_with("equity_by_")) {
        let key = t.name.trim_start_matches("equity_by_").to_string();
        let path = format!("equity.{key}");
        let v = table_json(Some(t), Take::Rows, &["group", COMPLETION], &path, sup);
        equity.insert(key, v);
    }
    out.insert("equity".into(), Value::Object(equity));
}

/// `linkage`: the follow-up table again, under its first name.
fn linkage_json(_: &Evaluation, _: &mut Vec<String>, out: &mut Map<String, Value>) {
    let follow_up = out.get("follow_up").cloned().unwrap_or(Value::Null);
    out.insert("linkage".into(), follow_up);
}

/// Activation (PAM): the paired change, levels and transitions.
fn pam_json(e: &Evaluation, sup: &mut Vec<String>, out: &mut Map<String, Value>) {
    let summary =
        "n_paired mean_pre mean_post change ci_low ci_high pct_up_one_level pct_up_3_points";
    let mut pam = table_json(e.table("pam_summary"), Take::First, &[summary], "pam", sup);
    if let (Some(t), Value::Object(m)) = (e.table("pam_transitions"), &mut pam) {
        let mut grid = Vec::new();
        for i in 0..t.height() {
            let mut r = Vec::new();
            for (j, c) in ["to_level_1", "to_level_2", "to_level_3", "to_level_4"]
                .iter()
                .enumerate()
            {
                if t.is_suppressed(i, c) {
                    sup.push(format!("pam.transitions[{i}][{j}]"));
                    r.push(Value::Null);
                } else {
                    r.push(cell(t, i, c));
                }
            }
            grid.push(Value::Array(r));
        }
        m.insert("transitions".into(), Value::Array(grid));
        let by_baseline = e.table("pam_by_baseline");
        let columns = ["baseline_level n mean_change"];
        let path = "pam.by_baseline_level";
        let v = table_json(by_baseline, Take::Rows, &columns, path, sup);
        m.insert("by_baseline_level".into(), v);
    }
    out.insert("pam".into(), pam);
}

/// The summary's and the limitations' sentences.
fn sentences_json(e: &Evaluation, _: &mut Vec<String>, out: &mut Map<String, Value>) {
    for (key, col) in [("summary", "sentence"), ("limitations", "limitation")] {
        let v = e
            .table(key)
            .map(|t| Value::Array((0..t.height()).map(|i| json!(t.text(i, col))).collect()))
            .unwrap_or(Value::Array(vec![]));
        out.insert(key.into(), v);
    }
}

/// The matched comparison's summary, with its balance table inside (whose
/// suppressed figures are named from `balance`).
fn matching_json(e: &Evaluation, sup: &mut Vec<String>, out: &mut Map<String, Value>) {
    let mut matching = table_json(e.table("matching"), Take::First, &[], "matching", sup);
    if let Value::Object(m) = &mut matching {
        let balance = table_json(e.table("balance"), Take::RowsOrNull, &[], "balance", sup);
        m.insert("balance".into(), balance);
    }
    out.insert("matching".into(), matching);
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn a_suppressed_figure_is_null_and_named() {
        let mut t = Table::new(
            "t",
            "",
            df!("provider_id" => ["A", "B"], "starters" => [Some(12i64), Some(3)]).unwrap(),
        );
        t.suppressed.insert((1, "starters".into()));
        let mut sup = Vec::new();
        let v = table_json(
            Some(&t),
            Take::Rows,
            &["provider_id starters"],
            "activity.by_provider",
            &mut sup,
        );
        assert_eq!(
            v,
            json!([{"provider_id": "A", "starters": 12}, {"provider_id": "B", "starters": null}])
        );
        assert_eq!(sup, ["activity.by_provider[1].starters"]);
        // An absent table is an empty list, with nothing suppressed.
        assert_eq!(
            table_json(None, Take::Rows, &["x"], "p", &mut sup),
            json!([])
        );
        assert_eq!(sup.len(), 1);
    }
}
