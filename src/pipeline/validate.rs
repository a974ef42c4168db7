//! Checks on a pipeline that need more than one key: settings that must
//! agree, a source's mapping against the fields it must have, the spell key
//! and the LSOA lookup. Each message points at the file and line.

use std::path::Path;

use super::parse::{Cx, Src};
use super::*;
use crate::error::PipelineError;
use crate::schema;

/// The checks on the pipeline's top keys: its name names folders, and a
/// key for NHS numbers is required.
pub(super) fn check_top(cx: &Cx, raw: &RawPipeline) -> Result<(), PipelineError> {
    let name = raw.name.get_ref();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(cx.err(
            cx.at(raw.name.span()),
            format!("name \"{name}\" must be letters, digits, `-` or `_` (it names the warehouse and reports)"),
        ));
    }
    if raw.privacy.key_env.is_none() && raw.privacy.key_file.is_none() {
        return Err(cx.err(
            None,
            "[privacy] needs key_env (an environment variable) or key_file holding the HMAC key for NHS numbers".into(),
        ));
    }
    Ok(())
}

/// The checks on settings that need more than one value, or a range.
pub(super) fn check_settings(
    cx: &Cx,
    rs: &RawSettings,
    settings: &Settings,
) -> Result<(), PipelineError> {
    let err = |line: Option<usize>, message: String| cx.err(line, message);
    let at = |span: std::ops::Range<usize>| cx.at(span);
    if settings.keep_versions == 0 || settings.keep_packs == Some(0) {
        return Err(err(
            None,
            "settings.keep_versions and settings.keep_packs must be at least 1 (the current version and the newest pack are always kept)".into(),
        ));
    }
    // Dates that cannot work together fail here, in validate as in run.
    for (a, b, what) in [
        (
            (settings.evaluation_start, "evaluation_start"),
            (settings.evaluation_end, "evaluation_end"),
            "the evaluation period",
        ),
        (
            (settings.hospital_coverage_start, "hospital_coverage_start"),
            (settings.hospital_coverage_end, "hospital_coverage_end"),
            "the hospital coverage",
        ),
    ] {
        if let ((Some(start), ka), (Some(end), kb)) = (a, b) {
            if end < start {
                let line = match kb {
                    "evaluation_end" => rs.evaluation_end.as_ref(),
                    _ => rs.hospital_coverage_end.as_ref(),
                }
                .and_then(|v| at(v.span()));
                return Err(err(
                    line,
                    format!("settings.{kb} ({end}) is before settings.{ka} ({start}): {what} would be empty"),
                ));
            }
        }
    }
    if let Some(message) = out_of_range(settings) {
        return Err(err(None, message.to_string()));
    }
    Ok(())
}

/// What a setting out of its range says, or None: each has a range it
/// can work in.
fn out_of_range(settings: &Settings) -> Option<&'static str> {
    let fraction = |x: f64| (0.0..=1.0).contains(&x);
    let ranges = [
        (
            fraction(settings.min_linkage),
            "settings.min_linkage is a fraction from 0 to 1 (0.5 means 50%)",
        ),
        (
            (1..=12).contains(&settings.financial_year_start_month),
            "settings.financial_year_start_month must be 1 to 12",
        ),
        (
            (1..=6).contains(&settings.completion_threshold),
            "settings.completion_threshold must be 1 to 6 sessions",
        ),
        (
            fraction(settings.max_reject_rate),
            "settings.max_reject_rate is a fraction from 0 to 1 (0.2 means 20%)",
        ),
        (
            (1..=3650).contains(&settings.outcome_window_days),
            "settings.outcome_window_days must be 1 to 3650 days (365 is a year before and after the course)",
        ),
        (
            (0..=3650).contains(&settings.pam_pre_days_before)
                && (0..=3650).contains(&settings.pam_pre_days_after),
            "settings.pam_pre_days_before and pam_pre_days_after must be 0 to 3650 days",
        ),
        (
            (0..=3650).contains(&settings.pam_post_days_from)
                && (settings.pam_post_days_from..=3650).contains(&settings.pam_post_days_to),
            "settings.pam_post_days_from and pam_post_days_to must be 0 to 3650 days, from before to",
        ),
        (
            (0.0..=100.0).contains(&settings.pam_level4_cut),
            "settings.pam_level4_cut is a PAM score from 0 to 100 (default 67.0)",
        ),
    ];
    ranges
        .iter()
        .find(|(ok, _)| !ok)
        .map(|(_, message)| *message)
}

/// The money and amounts of a pipeline's costs and contract: a cost or unit
/// cost is a number of pounds from 0 to a million million; a one-off cost is spread
/// over at least a month (1/12 of a year); a contract figure is more than 0.
/// A nonsensical one is refused at its key's line rather than giving an
/// empty or negative cost.
pub(super) fn check_amounts(
    cx: &Cx,
    cost_lines: &[CostLine],
    units: &UnitCosts,
    contract: Option<&Contract>,
) -> Result<(), PipelineError> {
    // The line of `key` after `anchor` (its table, or its cost line's item).
    let err = |anchor: &str, key: &str, message: String| {
        let text = cx.text;
        let line = text.find(anchor).and_then(|a| {
            let after = &text[a..];
            after
                .match_indices(key)
                .find(|(i, _)| after[i + key.len()..].trim_start().starts_with('='))
                .map(|(i, _)| a + i)
        });
        cx.err(line.and_then(|l| cx.at(l..l)), message)
    };
    // Up to a million million: more is a typing slip, and would overflow the sums.
    let pounds = |x: f64| (0.0..1e12).contains(&x);
    for line in cost_lines {
        let item = format!("\"{}\"", line.item);
        if !pounds(line.amount) {
            let m = format!(
                "cost line {item}: amount {} is not a number of pounds from 0 to a million million",
                shown(line.amount)
            );
            return Err(err(&item, "amount", m));
        }
        if let Some(y) = line.years.filter(|y| !y.is_finite() || *y < 1.0 / 12.0) {
            let m = format!(
                "cost line {item}: years {} is not a term of at least a month (1/12)",
                shown(y)
            );
            return Err(err(&item, "years", m));
        }
    }
    for (key, x) in [
        ("ae_attendance", units.ae_attendance),
        ("non_elective_spell", units.non_elective_spell),
        ("outpatient_attendance", units.outpatient_attendance),
        ("excess_bed_day", units.excess_bed_day),
    ] {
        if !pounds(x) {
            let m = format!(
                "unit_costs.{key} {} is not a number of pounds from 0 to a million million",
                shown(x)
            );
            return Err(err("[unit_costs]", key, m));
        }
    }
    let Some(c) = contract else { return Ok(()) };
    for (key, x) in [
        ("courses_per_year", c.courses_per_year),
        ("completions_per_year", c.completions_per_year),
        ("licence_courses", c.licence_courses),
        ("licence_years", c.licence_years),
    ] {
        if let Some(x) = x.filter(|x| !x.is_finite() || *x <= 0.0) {
            return Err(err(
                "[contract]",
                key,
                format!("contract.{key} {} must be more than 0", shown(x)),
            ));
        }
    }
    Ok(())
}

/// A number as a message shows it: a very small or very large one in
/// exponent form (written out, its digits would read as an NHS number and be
/// masked).
fn shown(x: f64) -> String {
    match x != 0.0 && x.is_finite() && !(1e-6..1e15).contains(&x.abs()) {
        true => format!("{x:e}"),
        false => format!("{x}"),
    }
}

/// The checks on one source that need its whole mapping: the LSOA lookup
/// goes with an LSOA column, every required field is mapped, and the spell
/// key (hospital sources only) names mapped fields.
pub(super) fn check_source(
    src: &Src,
    source: &Source,
    columns_line: Option<usize>,
) -> Result<(), PipelineError> {
    let s = src.spanned.get_ref();
    let at = |span: std::ops::Range<usize>| src.cx.at(span);
    let serr = |line: Option<usize>, m: String| src.err(line, m);
    let key_line = |needle: &str| src.key_line(needle);
    match (&s.lsoa_lookup, source.has(schema::LSOA_CODE)) {
        (None, true) => {
            return Err(serr(
                key_line("lsoa_code ="),
                "lsoa_code is mapped but there is no [sources.lsoa_lookup] to turn it into an IMD decile".into(),
            ))
        }
        (Some(l), false) => {
            return Err(serr(at(l.span()), "[sources.lsoa_lookup] is given but lsoa_code is not mapped".into()))
        }
        (Some(l), true) => {
            let file = source.lsoa_lookup.as_ref().map(|x| x.file.clone()).unwrap_or_default();
            if !Path::new(&file).is_file() {
                return Err(serr(at(l.span()), format!("the LSOA lookup file {file} does not exist")));
            }
        }
        (None, false) => {}
    }
    if let Some(missing) = required_missing(source).first() {
        return Err(serr(
            columns_line,
            format!("no mapping for required field `{missing}` (add it under [sources.columns] or [sources.constants])"),
        ));
    }
    if let Some(key) = &s.spell_key {
        if s.kind != SourceKind::Hospital {
            return Err(serr(
                at(key.span()),
                "spell_key is for hospital sources".into(),
            ));
        }
        for f in key.get_ref() {
            if !source.has(f) {
                return Err(serr(
                    at(key.span()),
                    format!("spell_key names `{f}`, which this source does not map"),
                ));
            }
        }
        if let Some(why) = spell_key_fault(key.get_ref()) {
            return Err(serr(at(key.span()), why));
        }
    }
    Ok(())
}

/// Why a spell key cannot tell one person's spell from another's, if it
/// cannot: it names no field, a field twice, or not the person (episodes
/// of different people would be folded into one admission).
fn spell_key_fault(key: &[String]) -> Option<String> {
    if key.is_empty() {
        return Some("spell_key names no field: name the fields that identify a spell, such as [\"person_id\", \"event_date\"], or leave it out".into());
    }
    if let Some(f) = key
        .iter()
        .find(|f| key.iter().filter(|g| g == f).count() > 1)
    {
        return Some(format!("spell_key names `{f}` twice"));
    }
    (!key.iter().any(|f| f == schema::PERSON_ID)).then(|| {
        "spell_key does not name `person_id`: a spell is one person's, and without it different people's episodes would be folded into one admission".into()
    })
}

/// Required canonical fields the source does not map (SPEC 1.1–1.3).
fn required_missing(s: &Source) -> Vec<String> {
    use schema::*;
    // The fields every row needs (one list, in schema); attendance is checked
    // below, as a count or a register.
    let mut req: Vec<&str> = required_values(s.kind)
        .into_iter()
        .filter(|f| *f != SESSIONS_ATTENDED && !SESSIONS.contains(f))
        .collect();
    if s.kind == SourceKind::Hospital {
        match s.constants.get(SETTING).map(String::as_str) {
            Some("apc") => req.extend([DISCHARGE_DATE, ADMISSION_METHOD]),
            Some("op") => req.push(ATTENDANCE_STATUS),
            _ => {}
        }
    }
    let mut out: Vec<String> = req
        .into_iter()
        .filter(|f| !s.has(f))
        .map(String::from)
        .collect();
    if s.kind == SourceKind::ProviderReturns {
        let register = SESSIONS.iter().filter(|f| s.has(f)).count();
        if register != 0 && register != 6 {
            out.push("session_1 … session_6 (map all six or none)".into());
        } else if register == 0 && !s.has(SESSIONS_ATTENDED) {
            out.push("sessions_attended (or the register session_1 … session_6)".into());
        }
        // SPEC 1.1: age as a band or a year of birth, one of them.
        if !s.has(AGE_BAND) && !s.has(YEAR_OF_BIRTH) {
            out.push("age_band or year_of_birth".into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The refusal of the minimal pipeline with `settings` added to its
    /// settings, `source` to its source and `columns` to its columns.
    fn refusal(settings: &str, source: &str, columns: &str) -> String {
        let text = crate::pipeline::tests::minimal_text(settings, source, columns);
        super::super::parse(Path::new("/p/t.toml"), &text, text.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn nonsensical_amounts_and_windows_are_refused_at_their_line() {
        // The minimal pipeline's columns end on line 20.
        let cost = |amount: &str, years: &str| {
            format!("[[cost_lines]]\nitem = \"Tutors\"\namount = {amount}\nbasis = \"one_off\"\nyears = {years}")
        };
        for (columns, want) in [
            (
                cost("-5.0", "3.0"),
                "line 23: cost line \"Tutors\": amount -5 is not a number of pounds",
            ),
            (
                cost("inf", "3.0"),
                "line 23: cost line \"Tutors\": amount inf is not a number of pounds",
            ),
            (
                cost("500.0", "1e-320"),
                "line 25: cost line \"Tutors\": years 1e-320 is not",
            ),
            (
                cost("1e308", "3.0"),
                "line 23: cost line \"Tutors\": amount 1e308 is not",
            ),
            (
                "[contract]\ncourses_per_year = 20\nlicence_years = 0".into(),
                "line 23: contract.licence_years 0 must be more than 0",
            ),
            (
                "[unit_costs]\nae_attendance = -1.0".into(),
                "line 22: unit_costs.ae_attendance -1 is not",
            ),
        ] {
            let m = refusal("", "", &columns);
            assert!(m.contains(want), "{m}");
        }
        for days in ["-5", "0"] {
            let m = refusal(&format!("outcome_window_days = {days}"), "", "");
            assert!(
                m.contains("outcome_window_days must be 1 to 3650 days"),
                "{m}"
            );
        }
        for (setting, said) in [
            ("pam_pre_days_before = -1", "pam_pre_days_before and"),
            (
                "pam_post_days_from = 400\npam_post_days_to = 300",
                "pam_post_days_from and",
            ),
            ("pam_level4_cut = nan", "pam_level4_cut is a PAM score"),
        ] {
            let m = refusal(setting, "", "");
            assert!(m.contains(said), "{setting}: {m}");
        }
    }

    #[test]
    fn settings_that_cannot_work_together_are_refused_at_their_line() {
        let m = refusal(
            "evaluation_start = \"2024-04-01\"\nevaluation_end = \"2024-01-01\"",
            "",
            "",
        );
        assert_eq!(
            m,
            "/p/t.toml line 6: settings.evaluation_end (2024-01-01) is before settings.evaluation_start (2024-04-01): the evaluation period would be empty"
        );
        let m = refusal("completion_threshold = 7", "", "");
        assert!(m.ends_with("must be 1 to 6 sessions"), "{m}");
        // A date no data can have (year 1 made a pack of 24,000 months).
        for (setting, key) in [
            ("evaluation_start = \"0001-01-01\"", "evaluation_start"),
            ("evaluation_end = \"9999-12-31\"", "evaluation_end"),
            ("data_as_at = \"1900-12-31\"", "data_as_at"),
        ] {
            let m = refusal(setting, "", "");
            assert!(
                m.starts_with("/p/t.toml line 5: settings.") && m.contains(key),
                "{m}"
            );
            assert!(
                m.ends_with("is not a date of the years 1901 to 2100"),
                "{m}"
            );
        }
    }

    #[test]
    fn a_spell_key_is_for_hospital_sources_only() {
        let m = refusal("", "spell_key = [\"person_id\"]", "");
        assert_eq!(
            m,
            "/p/t.toml line 10: source `a`: spell_key is for hospital sources"
        );
    }

    #[test]
    fn a_register_is_all_six_sessions_or_none() {
        let m = refusal("", "", "session_1 = \"W1\"\nsession_2 = \"W2\"");
        assert_eq!(
            m,
            "/p/t.toml line 14: source `a`: no mapping for required field `session_1 … session_6 (map all six or none)` (add it under [sources.columns] or [sources.constants])"
        );
    }
}
