//! `metrics.json` (SPEC 7): stable keys for nightly consumers. A suppressed
//! figure is `null` and its name is listed in `suppressed`.

use serde_json::{json, Map, Value};

use crate::metrics::{Evaluation, Table};

/// Builds one JSON object from a table row; suppressed cells become null and
/// are named in `suppressed` as `<path>.<key>`.
fn row(
    t: &Table,
    i: usize,
    keys: &[(&str, &str)],
    path: &str,
    suppressed: &mut Vec<String>,
) -> Value {
    let mut m = Map::new();
    for (key, column) in keys {
        let v = if t.is_suppressed(i, column) {
            suppressed.push(format!("{path}.{key}"));
            Value::Null
        } else {
            cell(t, i, column)
        };
        m.insert((*key).to_string(), v);
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

fn rows(
    t: Option<&Table>,
    keys: &[(&str, &str)],
    path: &str,
    suppressed: &mut Vec<String>,
) -> Value {
    match t {
        Some(t) => Value::Array(
            (0..t.height())
                .map(|i| row(t, i, keys, &format!("{path}[{i}]"), suppressed))
                .collect(),
        ),
        None => Value::Array(vec![]),
    }
}

fn first(
    t: Option<&Table>,
    keys: &[(&str, &str)],
    path: &str,
    suppressed: &mut Vec<String>,
) -> Value {
    match t {
        Some(t) if t.height() > 0 => row(t, 0, keys, path, suppressed),
        _ => Value::Null,
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

/// The keys of a completion row (and of an equity group's row).
const COMPLETION_KEYS: [(&str, &str); 9] = [
    ("referrals", "referrals"),
    ("uptake", "uptake"),
    ("uptake_ci_low", "uptake_ci_low"),
    ("uptake_ci_high", "uptake_ci_high"),
    ("starters", "starters"),
    ("completers", "completers"),
    ("rate", "rate"),
    ("ci_low", "ci_low"),
    ("ci_high", "ci_high"),
];

pub fn metrics_json(e: &Evaluation, run: &RunInfo) -> Value {
    // The parts in a fixed order: `suppressed` lists their hidden figures in it.
    let mut s = Vec::new();
    let mut out = Map::new();
    for part in [
        activity_json,
        equity_json,
        hospital_json,
        pam_json,
        cost_json,
        providers_json,
        board_json,
    ] {
        part(e, &mut s, &mut out);
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

/// Activity and completion, overall and by provider, programme and period.
fn activity_json(e: &Evaluation, sup: &mut Vec<String>, out: &mut Map<String, Value>) {
    let counts = [
        ("referrals", "referrals"),
        ("starters", "starters"),
        ("completers", "completers"),
        ("courses", "courses"),
    ];
    let comp = COMPLETION_KEYS;
    let mut by_provider_counts = vec![("provider_id", "provider_id")];
    by_provider_counts.extend(counts);
    let mut by_provider_comp = vec![("provider_id", "provider_id")];
    by_provider_comp.extend(comp);

    let activity = json!({
        "overall": first(e.table("activity_overall"), &counts, "activity.overall", sup),
        "by_provider": rows(e.table("activity_by_provider"), &by_provider_counts, "activity.by_provider", sup),
        "by_programme": rows(e.table("activity_by_programme"), &[("programme", "programme"), ("referrals", "referrals"), ("starters", "starters"), ("completers", "completers"), ("courses", "courses")], "activity.by_programme", sup),
        "by_financial_year": rows(e.table("activity_by_financial_year"), &[("financial_year", "financial_year"), ("referrals", "referrals"), ("starters", "starters"), ("completers", "completers"), ("courses", "courses")], "activity.by_financial_year", sup),
        "by_quarter": rows(e.table("activity_by_quarter"), &[("quarter", "quarter"), ("referrals", "referrals"), ("starters", "starters"), ("completers", "completers"), ("courses", "courses")], "activity.by_quarter", sup),
        "by_month": rows(e.table("activity_by_month"), &[("month", "month"), ("referrals", "referrals"), ("starters", "starters"), ("completers", "completers"), ("courses", "courses")], "activity.by_month", sup),
    });
    let mut by_programme_comp = vec![("programme", "programme")];
    by_programme_comp.extend(comp);
    let completion = json!({
        "overall": first(e.table("completion_overall"), &comp, "completion.overall", sup),
        "by_provider": rows(e.table("completion_by_provider"), &by_provider_comp, "completion.by_provider", sup),
        "by_programme": rows(e.table("completion_by_programme"), &by_programme_comp, "completion.by_programme", sup),
    });
    out.insert("activity".into(), activity);
    out.insert("completion".into(), completion);
}

/// Waits, retention by session and equity by group.
fn equity_json(e: &Evaluation, sup: &mut Vec<String>, out: &mut Map<String, Value>) {
    let waits = rows(
        e.table("waits_by_provider"),
        &same("provider_id starters median_days lower_quartile_days upper_quartile_days"),
        "waits",
        sup,
    );
    let retention = rows(
        e.table("retention"),
        &same("session attended rate"),
        "retention",
        sup,
    );
    let mut equity = Map::new();
    for t in e.tables.iter().filter(|t| t.name.starts_with("equity_by_")) {
        let key = t.name.trim_start_matches("equity_by_").to_string();
        let mut keys = vec![("group", "group")];
        keys.extend(COMPLETION_KEYS);
        equity.insert(
            key.clone(),
            rows(Some(t), &keys, &format!("equity.{key}"), sup),
        );
    }
    out.insert("waits".into(), waits);
    out.insert("retention".into(), retention);
    out.insert("equity".into(), Value::Object(equity));
}

/// Hospital use before and after, follow-up and linkage, the difference in differences.
fn hospital_json(e: &Evaluation, sup: &mut Vec<String>, out: &mut Map<String, Value>) {
    let hospital = rows(
        e.table("hospital_pre_post"),
        &same("group outcome n mean_pre mean_post change ci_low ci_high pct_change"),
        "hospital",
        sup,
    );
    let follow_up = rows(
        e.table("hospital_follow_up"),
        &same("group persons eligible insufficient_follow_up linked linkage"),
        "follow_up",
        sup,
    );
    let did = rows(
        e.table("did"),
        &same("outcome estimate ci_low ci_high n_starters n_comparison"),
        "did",
        sup,
    );
    out.insert("hospital".into(), hospital);
    out.insert("linkage".into(), follow_up.clone());
    out.insert("follow_up".into(), follow_up);
    out.insert("did".into(), did);
}

/// Activation (PAM): the paired change, levels and transitions.
fn pam_json(e: &Evaluation, sup: &mut Vec<String>, out: &mut Map<String, Value>) {
    let mut pam = first(
        e.table("pam_summary"),
        &same("n_paired mean_pre mean_post change ci_low ci_high pct_up_one_level pct_up_3_points"),
        "pam",
        sup,
    );
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
        m.insert(
            "by_baseline_level".into(),
            rows(
                e.table("pam_by_baseline"),
                &same("baseline_level n mean_change"),
                "pam.by_baseline_level",
                sup,
            ),
        );
    }
    out.insert("pam".into(), pam);
}

/// Cost, savings and the value of hospital activity avoided.
/// Fields published under their own names (`names` separated by spaces).
fn same(names: &str) -> Vec<(&str, &str)> {
    names.split_whitespace().map(|n| (n, n)).collect()
}

fn cost_json(e: &Evaluation, sup: &mut Vec<String>, out: &mut Map<String, Value>) {
    let mut cost = first(
        e.table("cost_summary"),
        &same("total per_referral per_starter per_completer per_course period_years benchmark_per_participant benchmark_per_completer"),
        "cost",
        sup,
    );
    if let Value::Object(m) = &mut cost {
        m.insert(
            "by_provider".into(),
            rows(
                e.table("cost_by_provider"),
                &same("provider_id cost completers cost_per_completer"),
                "cost.by_provider",
                sup,
            ),
        );
        m.insert(
            "by_programme".into(),
            rows(
                e.table("cost_by_programme"),
                &same("programme cost completers cost_per_completer"),
                "cost.by_programme",
                sup,
            ),
        );
    }
    let savings = rows(
        e.table("savings"),
        &same("outcome did unit_cost value_per_starter events_avoided"),
        "savings",
        sup,
    );
    let value = first(
        e.table("value"),
        &same("total_cost value_per_starter starters total_value value_low value_high net_cost return_per_pound return_low return_high partial outcomes_covered not_estimable_reason"),
        "value",
        sup,
    );
    out.insert("cost".into(), cost);
    out.insert("savings".into(), savings);
    out.insert("value".into(), value);
}

/// The provider comparison, the monthly trend and data quality.
fn providers_json(e: &Evaluation, sup: &mut Vec<String>, out: &mut Map<String, Value>) {
    let providers = rows(
        e.table("providers"),
        &same("provider_id provider referrals starters completers courses starters_per_course cost rate ci_low ci_high funnel_lower_95 funnel_upper_95 funnel_lower_998 funnel_upper_998 funnel_position cost_per_completer pam_n pam_change"),
        "providers",
        sup,
    );
    let trend = rows(
        e.table("trend_monthly"),
        &same("month starters completers starters_special_cause completers_special_cause"),
        "trend",
        sup,
    );
    let files = rows(
        e.table("data_quality"),
        &same("source path rows_read accepted rejected reject_rate"),
        "data_quality.files",
        sup,
    );
    out.insert("providers".into(), providers);
    out.insert("trend".into(), trend);
    out.insert("data_quality".into(), json!({"files": files}));
}

/// The board's reading: summary, limitations, evidence, scorecard, year on year, and the fair comparison's tables.
fn board_json(e: &Evaluation, sup: &mut Vec<String>, out: &mut Map<String, Value>) {
    let sentences = |name: &str, col: &str| -> Value {
        e.table(name)
            .map(|t| Value::Array((0..t.height()).map(|i| json!(t.text(i, col))).collect()))
            .unwrap_or(Value::Array(vec![]))
    };
    let summary = sentences("summary", "sentence");
    let limitations = sentences("limitations", "limitation");
    let evidence = rows(
        e.table("evidence"),
        &same("figure unit published local local_is source year"),
        "evidence",
        sup,
    );
    // Every column of a table, as rows (Null when the table is absent).
    let any_table = |name: &str, sup: &mut Vec<String>| -> Value {
        e.table(name)
            .map(|t| {
                let cols = t.column_names();
                let keys: Vec<(&str, &str)> =
                    cols.iter().map(|c| (c.as_str(), c.as_str())).collect();
                rows(Some(t), &keys, name, sup)
            })
            .unwrap_or(Value::Null)
    };
    // The same, an empty list when absent.
    let mut listed = |name: &str| match any_table(name, sup) {
        Value::Null => Value::Array(vec![]),
        v => v,
    };
    let scorecard = listed("scorecard");
    let year_on_year = listed("year_on_year");
    let did_by_year = listed("did_by_financial_year");
    let did_year_on_year = listed("did_year_on_year");
    let mut matching = match e.table("matching") {
        Some(t) => {
            let cols = t.column_names();
            let keys: Vec<(&str, &str)> = cols.iter().map(|c| (c.as_str(), c.as_str())).collect();
            first(Some(t), &keys, "matching", sup)
        }
        None => Value::Null,
    };
    if let Value::Object(m) = &mut matching {
        m.insert("balance".into(), any_table("balance", sup));
    }
    out.insert("summary".into(), summary);
    out.insert("limitations".into(), limitations);
    out.insert("evidence".into(), evidence);
    out.insert("scorecard".into(), scorecard);
    out.insert("year_on_year".into(), year_on_year);
    out.insert("did_by_financial_year".into(), did_by_year);
    out.insert("did_year_on_year".into(), did_year_on_year);
    out.insert("matching".into(), matching);
    for name in [
        "did_matched",
        "did_aligned_index",
        "placebo_did",
        "sensitivity",
        "providers_adjusted",
    ] {
        let v = any_table(name, sup);
        out.insert(name.into(), v);
    }
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
        let v = rows(
            Some(&t),
            &[("provider_id", "provider_id"), ("starters", "starters")],
            "activity.by_provider",
            &mut sup,
        );
        assert_eq!(
            v,
            json!([{"provider_id": "A", "starters": 12}, {"provider_id": "B", "starters": null}])
        );
        assert_eq!(sup, ["activity.by_provider[1].starters"]);
        // An absent table is an empty list, with nothing suppressed.
        assert_eq!(rows(None, &[("x", "x")], "p", &mut sup), json!([]));
        assert_eq!(sup.len(), 1);
    }
}
