//! The contract view (commissioning guide Steps 2, 3 and 5): delivery against
//! the contracted courses and completions a year, licence courses used of
//! those allowed, and each provider's fidelity check (due yearly) and SS2Q
//! assessment (due every three years), flagged when due at the data's date.
//! Delivery is read from the finalized activity tables.

use chrono::NaiveDate;
use polars::prelude::*;

use super::table::Table;
use crate::pipeline::Pipeline;

/// A fidelity check is due a year after the last; SS2Q three years after.
const FIDELITY_MONTHS: u32 = 12;
const SS2Q_MONTHS: u32 = 36;

fn due(last: Option<NaiveDate>, months: u32, at: NaiveDate) -> String {
    match last {
        None => "no date recorded".into(),
        Some(d) => match d.checked_add_months(chrono::Months::new(months)) {
            Some(next) if next <= at => format!("{d} (due since {next})"),
            Some(next) => format!("{d} (next due {next})"),
            None => d.to_string(),
        },
    }
}

pub fn tables(
    p: &Pipeline,
    tables: &[Table],
    years: f64,
    data_as_at: NaiveDate,
) -> crate::error::MetricsResult<Vec<Table>> {
    let Some(c) = &p.contract else {
        return Ok(vec![]);
    };
    let cell = |t: &str, col: &str| super::cell(tables, t, 0, col);
    let courses = cell("activity_overall", "courses");
    let completers = cell("activity_overall", "completers");
    let per_year = |x: Option<f64>| x.filter(|_| years > 0.0).map(|x| x / years);
    let licence_years = c.licence_years.unwrap_or(3.0);
    let allowed = c
        .licence_courses
        .map(|n| n * (years / licence_years).max(1.0).ceil());
    let rows: Vec<(String, Option<f64>, Option<f64>)> = vec![
        (
            "Courses a year".into(),
            c.courses_per_year,
            per_year(courses),
        ),
        (
            "Completions a year".into(),
            c.completions_per_year,
            per_year(completers),
        ),
        (
            format!("Licence courses over the period (licence of {licence_years} years)"),
            allowed,
            courses,
        ),
    ];
    let delivery = Table::new(
        "contract",
        &format!(
            "Delivery against the contract (paid on {})",
            c.payment_basis.as_deref().unwrap_or("not stated")
        ),
        df!(
            "measure" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
            "contracted" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "delivered" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "delivered_share" => rows.iter().map(|r| r.1.zip(r.2).and_then(|(a, b)| (a > 0.0).then(|| b / a))).collect::<Vec<_>>(),
        )?,
    )
    .labels(&["measure"])
    .exact(&["contracted", "delivered", "delivered_share"]);
    let providers: Vec<String> = p.declared_providers();
    let checks = Table::new(
        "quality_assurance",
        "Fidelity checks (due yearly) and SS2Q assessments (due every three years)",
        df!(
            "provider" => providers.iter().map(|id| p.provider_name(id)).collect::<Vec<_>>(),
            "fidelity_check" => providers.iter().map(|id| due(c.providers.get(id).and_then(|x| x.fidelity_check), FIDELITY_MONTHS, data_as_at)).collect::<Vec<_>>(),
            "ss2q" => providers.iter().map(|id| due(c.providers.get(id).and_then(|x| x.ss2q), SS2Q_MONTHS, data_as_at)).collect::<Vec<_>>(),
        )?,
    )
    .labels(&["provider", "fidelity_check", "ss2q"]);
    Ok(vec![delivery, checks])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_fall_due() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            due(Some(d("2024-01-10")), 12, d("2025-02-01")),
            "2024-01-10 (due since 2025-01-10)"
        );
        assert_eq!(
            due(Some(d("2024-06-01")), 36, d("2025-02-01")),
            "2024-06-01 (next due 2027-06-01)"
        );
        assert_eq!(due(None, 12, d("2025-02-01")), "no date recorded");
    }
}
