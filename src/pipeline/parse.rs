//! Reading a pipeline file: parsing with line numbers, defaults filled in,
//! and every check that can be made before any work (settings, costs, each
//! source's formats, mappings and value maps). The types are in `mod.rs`.

use crate::ingest::nhs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use toml::Spanned;

use super::*;
use crate::error::PipelineError;
use crate::schema;

/// Friendly date formats a pipeline may name, and their strftime forms.
const DATE_FORMATS: &[(&str, &str)] = &[
    ("dd/mm/yyyy", "%d/%m/%Y"),
    ("mm/dd/yyyy", "%m/%d/%Y"),
    ("yyyy-mm-dd", "%Y-%m-%d"),
    ("dd-mm-yyyy", "%d-%m-%Y"),
    ("dd.mm.yyyy", "%d.%m.%Y"),
    ("yyyy/mm/dd", "%Y/%m/%d"),
    ("yyyymmdd", "%Y%m%d"),
];

/// Turns a declared date format into strftime, or says why it cannot be used.
pub fn parse_date_format(s: &str) -> Result<String, String> {
    if let Some((_, f)) = DATE_FORMATS.iter().find(|(k, _)| k.eq_ignore_ascii_case(s)) {
        return Ok((*f).to_string());
    }
    if s.contains('%') {
        // A strftime format must name a day, a month and a year and round-trip a date.
        let probe = NaiveDate::from_ymd_opt(2024, 11, 23).expect("valid date");
        let mut text = String::new();
        use std::fmt::Write;
        if write!(text, "{}", probe.format(s)).is_ok() {
            if let Ok(back) = NaiveDate::parse_from_str(&text, s) {
                if back == probe {
                    return Ok(s.to_string());
                }
            }
        }
    }
    let known: Vec<&str> = DATE_FORMATS.iter().map(|(k, _)| *k).collect();
    Err(format!(
        "date_format \"{s}\" is not a date format I can use (expected one of {} or a strftime format such as %d/%m/%Y)",
        known.join(", ")
    ))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Reads and checks a pipeline file.
pub fn load(path: &Path) -> Result<Pipeline, PipelineError> {
    let bytes = std::fs::read(path).map_err(|e| PipelineError {
        path: path.to_path_buf(),
        line: None,
        message: format!("cannot read the pipeline file: {e}"),
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| PipelineError {
        path: path.to_path_buf(),
        line: None,
        message: "the pipeline file is not UTF-8 text".into(),
    })?;
    parse(path, &text, &bytes)
}

/// The pipeline file being read: where messages point.
pub(super) struct Cx<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Cx<'_> {
    pub(super) fn err(&self, line: Option<usize>, message: String) -> PipelineError {
        PipelineError {
            path: self.path.to_path_buf(),
            line,
            message,
        }
    }
    /// The line a span starts on.
    pub(super) fn at(&self, span: std::ops::Range<usize>) -> Option<usize> {
        Some(line_of(self.text, span.start))
    }
}

/// The first thing `found` says of a key (`Key`: the table's dotted name and
/// the key) or a text value (`Value`: its dotted key and the text) of
/// `table`, in order, nested tables and arrays included.
fn first_in<T>(table: &toml::Table, prefix: &str, found: &dyn Fn(Seen) -> Option<T>) -> Option<T> {
    fn in_value<T>(v: &toml::Value, key: &str, found: &dyn Fn(Seen) -> Option<T>) -> Option<T> {
        match v {
            toml::Value::String(s) => found(Seen::Value(key, s)),
            toml::Value::Array(a) => a.iter().find_map(|v| in_value(v, key, found)),
            toml::Value::Table(t) => first_in(t, key, found),
            _ => None,
        }
    }
    table.iter().find_map(|(k, v)| {
        let key = match prefix {
            "" => k.clone(),
            p => format!("{p}.{k}"),
        };
        found(Seen::Key(prefix, k)).or_else(|| in_value(v, &key, found))
    })
}

/// What [`first_in`] shows its test.
enum Seen<'a> {
    Key(&'a str, &'a str),
    Value(&'a str, &'a str),
}

/// The key (dotted) of the first text value or key in `table` that holds an
/// NHS number in any written form.
fn key_holding_nhs_number(table: &toml::Table) -> Option<String> {
    first_in(table, "", &|seen| match seen {
        Seen::Key(prefix, k) => holds_nhs_number(prefix, k).then(|| match prefix {
            "" => "(a key)".to_string(),
            p => format!("{p}.(a key)"),
        }),
        Seen::Value(key, s) => holds_nhs_number(key, s).then(|| key.to_string()),
    })
}

/// The line of the value refused at `key`: the first line, not a comment,
/// that sets the key's last part and holds the number; else the first line,
/// not a comment, that holds one.
fn refused_line(text: &str, key: &str) -> Option<usize> {
    line_holding(text, key, nhs::contains_nhs_number)
}

/// The first line, not a comment, that sets `key`'s last part and `holds`
/// what is refused; else the first line, not a comment, that holds it.
fn line_holding(text: &str, key: &str, holds: impl Fn(&str) -> bool) -> Option<usize> {
    let last = key.rsplit('.').next().unwrap_or(key);
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#') && holds(l))
        .collect();
    let sets = |l: &str| {
        let l = l.trim_start().trim_start_matches('"');
        l.starts_with(last)
            && l[last.len()..]
                .trim_start_matches('"')
                .trim_start()
                .starts_with('=')
    };
    lines
        .iter()
        .find(|(_, l)| sets(l))
        .or(lines.first())
        .map(|(i, _)| i + 1)
}

/// Whether the pipeline text `s`, the value (or a key) at `key`, holds an
/// NHS number. A name that becomes a folder or a path (the pipeline's name,
/// its warehouse, reports, key file, inputs), and the contact (a telephone
/// number's groups of digits), are refused only where whole
/// groups of digits make one ([`nhs::names_an_nhs_number`]), so that a time
/// stamp such as `20261128023015` is not; any other value (a title, label,
/// provider name or code, constant) is shown as written, so it is refused
/// wherever ten digits in a run of digits and separators make one, as the
/// masker would find it ([`nhs::contains_nhs_number`]).
fn holds_nhs_number(key: &str, s: &str) -> bool {
    // A telephone number: groups of digits too.
    match key == "name" || key == "contact" || is_path(key) {
        true => nhs::names_an_nhs_number(s),
        false => nhs::contains_nhs_number(s),
    }
}

/// Whether the value at `key` is a path (or a glob of paths).
fn is_path(key: &str) -> bool {
    const PATHS: [&str; 5] = [
        "warehouse",
        "reports",
        "key_file",
        "target_population",
        "files",
    ];
    let last = key.rsplit('.').next().unwrap_or(key);
    PATHS.contains(&key) || (key.starts_with("sources") && (last == "files" || last == "file"))
}

/// A path a shell would have expanded: `~` as its first part (the home
/// folder) or a `$NAME` variable. Taken as written, `~/wh` would make a
/// folder named `~` beside the pipeline, which `rm -rf ~` then "removes".
fn shell_shorthand(path: &str) -> Option<&'static str> {
    let mut parts = path.split(['/', '\\']);
    // `~` or `~user` first, or a folder named `~` anywhere (`./~/wh`).
    if parts.next().is_some_and(|p| p.starts_with('~')) || parts.any(|p| p == "~") {
        return Some("`~` (a home folder) is not expanded");
    }
    let percent: Vec<&str> = path.split('%').collect();
    if percent.len() > 2
        && percent[1..percent.len() - 1]
            .iter()
            .any(|v| !v.is_empty() && v.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()))
    {
        return Some("an environment variable (`%NAME%`) is not expanded");
    }
    let var = path.match_indices('$').any(|(i, _)| {
        path[i + 1..]
            .chars()
            .next()
            .is_some_and(|c| c == '{' || c == '_' || c.is_ascii_alphabetic())
    });
    var.then_some("an environment variable (`$NAME`) is not expanded")
}

/// The first path value of the pipeline that a shell would have expanded
/// ([`shell_shorthand`]): its key, value and why.
fn key_with_shell_shorthand(table: &toml::Table) -> Option<(String, String, &'static str)> {
    first_in(table, "", &|seen| match seen {
        Seen::Value(key, s) if is_path(key) => {
            shell_shorthand(s).map(|why| (key.to_string(), s.to_string(), why))
        }
        _ => None,
    })
}

/// A TOML reader's message with Rust's type names put in words
/// ("expected usize" → "expected a whole number, 0 or more").
fn in_words(message: &str) -> String {
    const WORDS: [(&str, &str); 8] = [
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("floating point `", "number `"),
    ];
    WORDS.iter().fold(message.to_string(), |m, (rust, words)| {
        m.replace(rust, words)
    })
}

/// A pipeline value as a message shows it: quoted, a control character
/// (a line break) written as an escape.
fn shown_value(v: &str) -> String {
    let escaped: String = v
        .chars()
        .map(|c| match c {
            '\n' => "\\n".to_string(),
            '\r' => "\\r".to_string(),
            '\t' => "\\t".to_string(),
            c => c.to_string(),
        })
        .collect();
    format!("\"{escaped}\"")
}

/// A TOML reader's "invalid type" or "invalid value" message with the key
/// its line sets, and a date written without quotes (a TOML date, which the
/// reader calls a "map") said as such.
fn wrong_value(text: &str, line: Option<usize>, message: String) -> String {
    let Some(l) = line.and_then(|n| text.lines().nth(n.saturating_sub(1))) else {
        return message;
    };
    let Some((key, value)) = l.split_once('=') else {
        return message;
    };
    let value = value.split('#').next().unwrap_or(value);
    let (key, value) = (key.trim().trim_matches('"'), value.trim());
    if !message.starts_with("invalid type") && !message.starts_with("invalid value") {
        return message;
    }
    let date_like = value.len() >= 8
        && value.starts_with(|c: char| c.is_ascii_digit())
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || b"-:T. Z+".contains(&b));
    match message.starts_with("invalid type: map") && date_like {
        true => format!("`{key}`: a date is written in quotes here: \"{value}\""),
        false => format!("`{key}`: {message}"),
    }
}

/// Parses and checks pipeline text (`path` is used for messages and to resolve paths).
pub fn parse(path: &Path, text: &str, bytes: &[u8]) -> Result<Pipeline, PipelineError> {
    let cx = Cx { path, text };
    let err = |line: Option<usize>, message: String| cx.err(line, message);
    if let Ok(table) = toml::from_str::<toml::Table>(text) {
        if let Some(key) = key_holding_nhs_number(&table) {
            let line = refused_line(text, &key);
            return Err(err(
                line,
                format!("`{key}` holds what reads as an NHS number: a pipeline's names, labels, titles and paths are shown in messages and the pack, where no NHS number may go; write it another way"),
            ));
        }
        if let Some((key, value, why)) = key_with_shell_shorthand(&table) {
            let line = line_holding(text, &key, |l| l.contains(value.as_str()));
            return Err(err(
                line,
                format!("`{key}` = \"{value}\": {why}, so a folder or file of that name would be used as written; write the whole path, or one relative to the pipeline file's folder"),
            ));
        }
    }

    let raw: RawPipeline = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        err(line, wrong_value(text, line, in_words(e.message().trim())))
    })?;

    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = raw.name.get_ref().clone();
    super::validate::check_top(&cx, &raw)?;

    let settings = settings(&cx, &raw.settings)?;
    let (cost_lines, unit_costs, unit_cost_lines) = costs(&cx, &raw, &settings)?;
    super::validate::check_amounts(&cx, &cost_lines, &unit_costs, raw.contract.as_ref())?;
    let sources = sources(&cx, &raw, &dir)?;

    let resolve = |p: &Option<String>, default: String| {
        crate::ingest::clean_path(&dir.join(p.clone().unwrap_or(default)))
    };
    use sha2::Digest;
    Ok(Pipeline {
        path: path.to_path_buf(),
        name: name.clone(),
        title: raw
            .title
            .clone()
            .unwrap_or_else(|| format!("Self-management programme evaluation: {name}")),
        audience: raw
            .audience
            .clone()
            .unwrap_or_else(|| "Commissioners".into()),
        contact: raw.contact.clone(),
        warehouse: resolve(&raw.warehouse, format!("../warehouse/{name}")),
        reports: resolve(&raw.reports, "../reports".into()),
        privacy: raw.privacy.clone(),
        settings,
        unit_costs,
        unit_cost_lines,
        cost_lines,
        labels: raw.labels.clone(),
        contract: raw.contract.clone(),
        matching: raw.matching.clone(),
        target_population: raw.target_population.as_ref().map(|f| dir.join(f)),
        providers: raw.providers.clone(),
        sources,
        sha256: hex::encode(sha2::Sha256::digest(bytes)),
        dir,
    })
}

/// The `[[sources]]` tables, each checked; at least one, each named once.
fn sources(cx: &Cx, raw: &RawPipeline, dir: &Path) -> Result<Vec<Source>, PipelineError> {
    if raw.sources.is_empty() {
        return Err(cx.err(None, "the pipeline declares no [[sources]]".into()));
    }
    let mut sources: Vec<Source> = Vec::new();
    for spanned in &raw.sources {
        let name = &spanned.get_ref().name;
        if sources.iter().any(|o| &o.name == name) {
            return Err(cx.err(
                cx.at(spanned.span()),
                format!("source `{name}`: two sources have this name"),
            ));
        }
        sources.push(source(cx, spanned, &raw.value_maps, dir)?);
    }
    Ok(sources)
}

/// The `[settings]` table with defaults filled in, and the checks that need
/// more than one setting.
fn settings(cx: &Cx, rs: &RawSettings) -> Result<Settings, PipelineError> {
    let err = |line: Option<usize>, message: String| cx.err(line, message);
    let at = |span: std::ops::Range<usize>| cx.at(span);
    let date =
        |v: &Option<Spanned<String>>, key: &str| -> Result<Option<NaiveDate>, PipelineError> {
            match v {
                None => Ok(None),
                Some(s) => match NaiveDate::parse_from_str(s.get_ref(), "%Y-%m-%d") {
                    // The years a date in the data can have (no date in
                    // 1900 or earlier is one): a period from year 1 would
                    // make a pack of 24,000 months.
                    Ok(d) if (1901..=2100).contains(&d.year()) => Ok(Some(d)),
                    Ok(_) => Err(err(
                        at(s.span()),
                        format!(
                            "settings.{key}: {} is not a date of the years 1901 to 2100",
                            s.get_ref()
                        ),
                    )),
                    Err(_) => Err(err(
                        at(s.span()),
                        format!(
                            "settings.{key}: \"{}\" is not a date (expected yyyy-mm-dd)",
                            s.get_ref()
                        ),
                    )),
                },
            }
        };
    let settings = Settings {
        evaluation_start: date(&rs.evaluation_start, "evaluation_start")?,
        evaluation_end: date(&rs.evaluation_end, "evaluation_end")?,
        financial_year_start_month: rs.financial_year_start_month.unwrap_or(4),
        completion_threshold: rs.completion_threshold.unwrap_or(4),
        outcome_window_days: rs.outcome_window_days.unwrap_or(365),
        pam_pre_days_before: rs.pam_pre_days_before.unwrap_or(90),
        pam_pre_days_after: rs.pam_pre_days_after.unwrap_or(7),
        pam_post_days_from: rs.pam_post_days_from.unwrap_or(35),
        pam_post_days_to: rs.pam_post_days_to.unwrap_or(365),
        pam_level4_cut: rs.pam_level4_cut.unwrap_or(schema::PAM_CUT_3_4_DEFAULT),
        hospital_coverage_start: date(&rs.hospital_coverage_start, "hospital_coverage_start")?,
        hospital_coverage_end: date(&rs.hospital_coverage_end, "hospital_coverage_end")?,
        max_reject_rate: rs.max_reject_rate.unwrap_or(0.2),
        disclosure: rs.disclosure.unwrap_or_default(),
        apportion: rs.apportion.unwrap_or_default(),
        data_as_at: date(&rs.data_as_at, "data_as_at")?,
        price_base: match &rs.price_base {
            None => None,
            Some(s) => Some(
                prices::PriceYear::parse(s.get_ref())
                    .filter(|y| prices::index(*y).is_some())
                    .ok_or_else(|| {
                        err(
                            at(s.span()),
                            format!(
                                "settings.price_base: \"{}\" is not a year the deflator series covers (expected a financial year such as \"2024/25\" or a calendar year, from {})",
                                s.get_ref(),
                                prices::coverage()
                            ),
                        )
                    })?,
            ),
        },
        duplicates: rs.duplicates.unwrap_or_default(),
        keep_versions: rs.keep_versions.unwrap_or(DEFAULT_KEEP_VERSIONS),
        keep_packs: rs.keep_packs,
        min_linkage: rs.min_linkage.unwrap_or(0.5),
    };
    super::validate::check_settings(cx, rs, &settings)?;
    Ok(settings)
}

/// The cost lines (each checked, with its uplift to the price base) and the
/// unit costs at the price base with the lines the pack lists them by.
fn costs(
    cx: &Cx,
    raw: &RawPipeline,
    settings: &Settings,
) -> Result<(Vec<CostLine>, UnitCosts, Vec<UnitCostLine>), PipelineError> {
    let err = |line: Option<usize>, message: String| cx.err(line, message);
    let mut cost_lines = raw.cost_lines.clone();
    for line in &mut cost_lines {
        if line.basis == CostBasis::OneOff && line.years.is_none_or(|y| y <= 0.0) {
            return Err(err(
                None,
                format!(
                    "cost line \"{}\" is one_off: give years (> 0) to spread it over",
                    line.item
                ),
            ));
        }
        if line.basis == CostBasis::Contract && line.provider.is_none() {
            return Err(err(
                None,
                format!(
                    "cost line \"{}\" is a contract: give the provider it pays (provider = \"code\") and its value a year as amount",
                    line.item
                ),
            ));
        }
        let year = match &line.price_year {
            None => None,
            Some(y) => Some(prices::PriceYear::parse(y).ok_or_else(|| {
                err(
                    None,
                    format!(
                        "cost line \"{}\": price_year \"{y}\" is not a year (expected a financial year such as \"2018/19\" or a calendar year such as \"2018\")",
                        line.item
                    ),
                )
            })?),
        };
        if let Some(base) = settings.price_base {
            line.uplift = uplift_to(year, base, &format!("cost line \"{}\"", line.item))
                .map_err(|m| err(None, m))?;
        }
    }
    let (unit_costs, unit_cost_lines) = raw
        .unit_costs
        .resolve(settings.price_base)
        .map_err(|m| err(None, m))?;

    Ok((cost_lines, unit_costs, unit_cost_lines))
}

/// One `[[sources]]` table, checked: formats, mappings, value maps, the
/// LSOA lookup, required fields and the spell key.
/// One `[[sources]]` table being read.
pub(super) struct Src<'a> {
    pub(super) cx: &'a Cx<'a>,
    pub(super) spanned: &'a Spanned<RawSource>,
}

impl Src<'_> {
    /// A message about this source, at `line` or else at its header.
    pub(super) fn err(&self, line: Option<usize>, m: String) -> PipelineError {
        let line = line.or(self.cx.at(self.spanned.span()));
        self.cx.err(
            line,
            format!("source `{}`: {m}", self.spanned.get_ref().name),
        )
    }
    /// The line of `needle` inside this source's table, for messages (the
    /// table runs from its header to the next `[[`, or the end).
    pub(super) fn key_line(&self, needle: &str) -> Option<usize> {
        let text = self.cx.text;
        let start = self.spanned.span().start;
        let rest = text.get(start..)?;
        let end = rest[2..].find("[[").map(|i| i + 2).unwrap_or(rest.len());
        rest[..end].find(needle).map(|i| line_of(text, start + i))
    }
}

fn source(
    cx: &Cx,
    spanned: &Spanned<RawSource>,
    value_maps: &BTreeMap<String, BTreeMap<String, String>>,
    dir: &Path,
) -> Result<Source, PipelineError> {
    let src = Src { cx, spanned };
    let s = spanned.get_ref();
    let serr = |line: Option<usize>, m: String| src.err(line, m);
    let key_line = |needle: &str| src.key_line(needle);
    if s.files.is_empty() {
        return Err(serr(
            None,
            "files is empty: give at least one file or glob".into(),
        ));
    }
    let (date_formats, header_row, delimiter) = reading(&src)?;
    let (date_format, date_format_label) = date_formats[0].clone();
    let columns = &s.columns;
    let values = &values_of(&src, value_maps)?;
    let field_date_formats = checked_keys(&src, values)?;
    let columns_line = key_line("[sources.columns]");
    let source = Source {
        name: s.name.clone(),
        kind: s.kind,
        files: s.files.clone(),
        format: s.format,
        delimiter,
        encoding: s.encoding,
        bom: s.bom,
        date_format,
        date_format_label,
        date_formats,
        field_date_formats,
        header_row,
        id_kind: s.id_kind,
        sheet: s.sheet.clone(),
        columns: columns.clone(),
        constants: s.constants.clone(),
        values: values.clone(),
        on_invalid: s.on_invalid.clone(),
        spell_key: s.spell_key.as_ref().map(|k| k.get_ref().clone()),
        lsoa_lookup: s.lsoa_lookup.as_ref().map(|l| {
            let mut l = l.get_ref().clone();
            l.file = crate::ingest::clean_path(&dir.join(&l.file))
                .display()
                .to_string();
            l
        }),
    };
    super::validate::check_source(&src, &source, columns_line)?;
    Ok(source)
}

/// A CSV source's delimiter (default a comma): one plain character, not a
/// quote or a line break, or "tab"; none for an XLSX source.
fn delimiter_of(src: &Src) -> Result<u8, PipelineError> {
    let s = src.spanned.get_ref();
    let Some(d) = &s.delimiter else {
        return Ok(b',');
    };
    let line = src.cx.at(d.span());
    if s.format == Format::Xlsx {
        return Err(src.err(
            line,
            "delimiter is for CSV sources; this source is xlsx".into(),
        ));
    }
    let v = d.get_ref();
    match v.as_str() {
        "\\t" | "\t" | "tab" => Ok(b'\t'),
        x if x.len() == 1 && x.is_ascii() && !matches!(x, "\n" | "\r" | "\"") => Ok(x.as_bytes()[0]),
        _ => Err(src.err(
            line,
            format!(
                "delimiter {}: expected one plain (ASCII) character other than a quote or a line break, such as \",\", \";\" or \"|\", or \"tab\"",
                shown_value(v)
            ),
        )),
    }
}

/// How a source's files are read: its date formats, header row and delimiter.
#[allow(clippy::type_complexity)]
fn reading(src: &Src) -> Result<(Vec<(String, String)>, u32, u8), PipelineError> {
    let (s, at) = (src.spanned.get_ref(), |span: std::ops::Range<usize>| {
        src.cx.at(span)
    });
    let serr = |line: Option<usize>, m: String| src.err(line, m);
    let date_formats: Vec<(String, String)> = match (&s.date_format, &s.date_formats) {
        (Some(f), Some(_)) => {
            return Err(serr(
                at(f.span()),
                "give date_format or date_formats, not both".into(),
            ))
        }
        (None, None) => vec![("%Y-%m-%d".to_string(), "yyyy-mm-dd".to_string())],
        (Some(f), None) => vec![(
            parse_date_format(f.get_ref()).map_err(|m| serr(at(f.span()), m))?,
            f.get_ref().clone(),
        )],
        (None, Some(list)) => {
            if list.get_ref().is_empty() {
                return Err(serr(
                    at(list.span()),
                    "date_formats is empty: give at least one format".into(),
                ));
            }
            list.get_ref()
                .iter()
                .map(|f| {
                    parse_date_format(f).map(|p| (p, f.clone())).map_err(|m| {
                        serr(
                            at(list.span()),
                            m.replacen("date_format", "date_formats:", 1),
                        )
                    })
                })
                .collect::<Result<_, _>>()?
        }
    };
    let header_row = match (&s.skip_rows, &s.header_row) {
        (Some(k), Some(_)) => {
            return Err(serr(
                at(k.span()),
                "give skip_rows or header_row, not both (header_row = skip_rows + 1)".into(),
            ))
        }
        (Some(k), None) => k.get_ref() + 1,
        (None, Some(h)) if *h.get_ref() == 0 => {
            return Err(serr(
                at(h.span()),
                "header_row counts from 1 (the file's first line)".into(),
            ))
        }
        (None, Some(h)) => *h.get_ref(),
        (None, None) => 1,
    };
    let delimiter = delimiter_of(src)?;
    Ok((date_formats, header_row, delimiter))
}

/// A source's value maps, inline or named, normalised.
fn values_of(
    src: &Src,
    value_maps: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, PipelineError> {
    let s = src.spanned.get_ref();
    let serr = |line: Option<usize>, m: String| src.err(line, m);
    let mut values: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (field, entry) in &s.values {
        let map = match entry {
            ValuesEntry::Inline(m) => m.clone(),
            ValuesEntry::Named(name) => match value_maps.get(name) {
                Some(m) => m.clone(),
                None => self::value_maps::builtin(name).ok_or_else(|| {
                    let mut names: Vec<String> = value_maps.keys().cloned().collect();
                    names.extend(self::value_maps::BUILTIN.iter().map(|n| n.to_string()));
                    serr(
                        None,
                        format!(
                            "values.{field} = \"{name}\": there is no [value_maps.{name}] (maps: {})",
                            names.join(", ")
                        ),
                    )
                })?,
            },
        };
        let map = self::value_maps::normalised(&map)
            .map_err(|m| serr(None, format!("values.{field}: {m}")))?;
        values.insert(field.clone(), map);
    }
    Ok(values)
}

/// Every value a source's value map gives a field of a fixed list (sex,
/// ethnicity, programme…) is one of that list (after the casing the field
/// gets), or empty (left blank): a target outside it would blank every row
/// it maps and blame the data.
fn check_value_targets(
    src: &Src,
    values: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<(), PipelineError> {
    for (field, map) in values {
        let Some(list) = FixedList::of(src, field) else {
            continue;
        };
        if let Some((from, to)) = map.iter().find(|(_, to)| !list.holds(to)) {
            let what = format!("values.{field}: \"{from}\" maps to \"{to}\", which");
            return Err(list.refusal(src, &format!("values.{field}"), what));
        }
    }
    // A constant of such a field, mapped as a column's value would be.
    let s = src.spanned.get_ref();
    for (field, value) in &s.constants {
        let Some(list) = FixedList::of(src, field) else {
            continue;
        };
        let key = self::value_maps::normalise(value);
        let mapped = values.get(field).and_then(|m| m.get(&key)).unwrap_or(value);
        if !list.holds(mapped) {
            let what = format!(
                "constants.{field} = \"{value}\" (mapped under [sources.values.{field}] or not)"
            );
            return Err(list.refusal(src, &format!("{field} ="), what));
        }
    }
    Ok(())
}

/// The values a field of a fixed list (an enumeration or a code list) may
/// take, and whether they are upper case (codes) or lower case.
struct FixedList {
    values: &'static [&'static str],
    upper: bool,
}

impl FixedList {
    /// `field`'s list in `src`'s kind of source; None for a field of no list.
    fn of(src: &Src, field: &str) -> Option<Self> {
        use schema::FieldType::{Code, Enum};
        let fields = src.spanned.get_ref().kind.fields();
        match fields.iter().find(|(n, _)| *n == field)? {
            (_, Enum(values)) => Some(FixedList {
                values,
                upper: false,
            }),
            (_, Code(values)) => Some(FixedList {
                values,
                upper: true,
            }),
            _ => None,
        }
    }

    /// Whether `v` is in the list after the field's casing, or empty (left blank).
    fn holds(&self, v: &str) -> bool {
        let cased = match self.upper {
            true => v.trim().to_uppercase(),
            false => v.trim().to_lowercase(),
        };
        cased.is_empty() || self.values.contains(&cased.as_str())
    }

    /// "`what` is not one of" the list, at the line holding `at`.
    fn refusal(&self, src: &Src, at: &str, what: String) -> PipelineError {
        let list = self.values.join(", ");
        src.err(src.key_line(at), format!("{what} is not one of {list}"))
    }
}

/// No constant of a required field (provider, course…) is empty: every row
/// would lack it.
fn check_required_constants(src: &Src) -> Result<(), PipelineError> {
    let s = src.spanned.get_ref();
    let required = schema::required_values(s.kind);
    match s
        .constants
        .iter()
        .find(|(key, value)| value.trim().is_empty() && required.contains(&key.as_str()))
    {
        Some((key, _)) => Err(src.err(
            src.key_line(&format!("{key} =")),
            format!("constants.{key} is empty: `{key}` is required, so give it a value (or map it to a column)"),
        )),
        None => Ok(()),
    }
}

/// Every key a source names is a field of its kind; its per-field date
/// formats, parsed.
#[allow(clippy::type_complexity)]
fn checked_keys(
    src: &Src,
    values: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<BTreeMap<String, Vec<(String, String)>>, PipelineError> {
    let s = src.spanned.get_ref();
    let columns = &s.columns;
    let serr = |line: Option<usize>, m: String| src.err(line, m);
    let key_line = |needle: &str| src.key_line(needle);
    let columns_line = key_line("[sources.columns]");
    let fields = s.kind.fields();
    let known = |f: &str| fields.iter().any(|(n, _)| *n == f);
    let known_list = || {
        fields
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for key in columns.keys().chain(s.constants.keys()) {
        if !known(key) {
            return Err(serr(
                key_line(&format!("{key} =")).or(columns_line),
                format!(
                    "`{key}` is not a field of {} sources (fields: {})",
                    s.kind.name(),
                    known_list()
                ),
            ));
        }
    }
    for key in values.keys() {
        if !known(key) {
            return Err(serr(
                key_line(&format!("values.{key}]")),
                format!("values.{key}: `{key}` is not a field of this kind of source"),
            ));
        }
    }
    check_value_targets(src, values)?;
    check_required_constants(src)?;
    let mut field_date_formats = BTreeMap::new();
    for (key, list) in &s.field_date_formats {
        let line = key_line(&format!("{key} ="));
        if !fields
            .iter()
            .any(|(n, t)| n == key && *t == schema::FieldType::Date)
        {
            return Err(serr(
                line,
                format!(
                    "field_date_formats.{key}: `{key}` is not a date field of this kind of source"
                ),
            ));
        }
        if list.is_empty() {
            return Err(serr(line, format!("field_date_formats.{key} is empty")));
        }
        let parsed: Vec<(String, String)> = list
            .iter()
            .map(|f| {
                parse_date_format(f)
                    .map(|p| (p, f.clone()))
                    .map_err(|m| serr(line, format!("field_date_formats.{key}: {m}")))
            })
            .collect::<Result<_, _>>()?;
        field_date_formats.insert(key.clone(), parsed);
    }
    for key in s.on_invalid.keys() {
        if !known(key) {
            return Err(serr(
                key_line(&format!("{key} =")),
                format!("on_invalid.{key}: `{key}` is not a field of this kind of source"),
            ));
        }
    }
    Ok(field_date_formats)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` parsed as the pipeline file `p.toml`.
    fn parsed(text: &str) -> Result<Pipeline, PipelineError> {
        parse(Path::new("p.toml"), text, text.as_bytes())
    }

    /// The minimal pipeline with the top-level lines `top` before it.
    fn with_top(top: &str) -> String {
        let minimal = crate::pipeline::tests::minimal_text("", "", "");
        format!("{top}\n{minimal}")
    }

    #[test]
    fn lines_are_counted_from_one() {
        let text = "a = 1\nb = 2\n\nc = 3\n";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, text.find('c').unwrap()), 4);
    }

    #[test]
    fn an_unknown_key_is_refused_at_its_line() {
        let text = crate::pipeline::tests::minimal_text("colour = \"blue\"", "", "");
        let e = parsed(&text).unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        let two = crate::pipeline::tests::minimal_text("", "", "")
            + "[[sources]]\nname = \"a\"\nkind = \"pam\"\nfiles = [\"b.csv\"]\n";
        let e = parse(Path::new("p.toml"), &two, two.as_bytes()).unwrap_err();
        assert!(e.message.ends_with("two sources have this name"), "{e}");
    }

    #[test]
    fn a_pipeline_value_holding_an_nhs_number_is_refused_without_showing_it() {
        for (extra, key) in [
            ("title = \"Patient 943 476 5919\"", "title"),
            (
                "[labels]\nlanguages = [\"943-476-5919\"]",
                "labels.languages",
            ),
            // Shown as written, so found as the masker finds it: inside a
            // longer run of digits too.
            ("title = \"Evaluation 19434765919\"", "title"),
            (
                "[providers]\nX19434765919 = \"Northside\"",
                "providers.(a key)",
            ),
            (
                "[providers]\nNTH = \"Northside 19434765919\"",
                "providers.NTH",
            ),
        ] {
            let text = with_top(extra);
            let text = match extra.starts_with('[') {
                true => format!(
                    "{}\n{extra}",
                    crate::pipeline::tests::minimal_text("", "", "")
                ),
                false => text,
            };
            let e = parsed(&text).unwrap_err();
            assert!(
                e.message
                    .starts_with(&format!("`{key}` holds what reads as an NHS number")),
                "{e}"
            );
            assert!(!nhs::contains_nhs_number(&e.to_string()), "{e}");
        }
    }

    #[test]
    fn a_refusal_points_at_the_refused_keys_line_not_a_comment_or_a_path() {
        let text = format!(
            "# 9434765919 in a comment\nreports = \"../r/19434765919\"\ncontact = \"Tel 020 7946 0000\"\ntitle = \"Run 19434765919\"\n{}",
            crate::pipeline::tests::minimal_text("", "", "")
        );
        let e = parsed(&text).unwrap_err();
        assert!(e.message.starts_with("`title` holds"), "{e}");
        assert_eq!(e.line, Some(4), "{e}");
    }

    #[test]
    fn a_path_is_refused_only_where_whole_groups_of_digits_make_an_nhs_number() {
        // A path becomes a folder or a file name: a time stamp or a longer
        // number holding ten valid digits is not refused there.
        let ok = "reports = \"../reports/19434765919\"\nwarehouse = \"../w/20261128_023015\"";
        let text = with_top(ok);
        assert!(parsed(&text).is_ok());
        let bad = "reports = \"../reports/943_476_5919\"";
        let text = with_top(bad);
        let e = parsed(&text).unwrap_err();
        assert!(e.message.starts_with("`reports` holds"), "{e}");
    }

    #[test]
    fn a_value_map_target_outside_its_fields_list_is_refused_before_any_data() {
        let parse_with = |source: &str| {
            let text = crate::pipeline::tests::minimal_text("", source, "sex = \"G\"");
            parsed(&text)
        };
        let e = parse_with("[sources.values.sex]\nF = \"woman\"").unwrap_err();
        assert!(
            e.message
                .ends_with("\"woman\", which is not one of female, male, other, unknown"),
            "{e}"
        );
        assert_eq!(e.line, Some(10), "{e}"); // [sources.values.sex]
                                             // A target's padding is not part of it.
        let p = parse_with("[sources.values.sex]\nF = \" female \"").unwrap();
        assert_eq!(p.sources[0].values["sex"]["f"], "female");
        // Any casing the field gets, and a blank (left empty), are fine.
        assert!(parse_with("[sources.values.sex]\nF = \"Female\"\nX = \"\"").is_ok());
    }

    #[test]
    fn a_constant_outside_its_fields_list_is_refused_unless_mapped_into_it() {
        let with = |source: &str, constant: &str| {
            let text = crate::pipeline::tests::minimal_text("", source, "").replace(
                "age_band = \"50-64\"",
                &format!("age_band = \"50-64\"\n{constant}"),
            );
            parsed(&text)
        };
        let e = with("", "sex = \"woman\"").unwrap_err();
        assert!(
            e.message.contains("constants.sex = \"woman\" (")
                && e.message
                    .ends_with("is not one of female, male, other, unknown"),
            "{e}"
        );
        assert!(with("", "sex = \"Female\"").is_ok());
        assert!(with("[sources.values.sex]\nW = \"female\"", "sex = \"w\"").is_ok());
    }

    #[test]
    fn an_empty_constant_for_a_required_field_is_refused() {
        let text = crate::pipeline::tests::minimal_text("", "", "")
            .replace("provider_id = \"A\"", "provider_id = \" \"");
        let e = parsed(&text).unwrap_err();
        assert!(e.message.contains("constants.provider_id is empty"), "{e}");
        // An optional field may be a blank constant.
        let text = crate::pipeline::tests::minimal_text("", "", "")
            .replace("age_band = \"50-64\"", "age_band = \"\"");
        assert!(parsed(&text).is_ok());
    }

    #[test]
    fn a_delimiter_is_one_plain_character_not_a_quote_or_line_break() {
        for (d, shown) in [
            ("é", "\"é\""),
            ("\\n", "\"\\n\""),
            ("\\\"", "\"\"\""),
            (";;", "\";;\""),
        ] {
            let text =
                crate::pipeline::tests::minimal_text("", &format!("delimiter = \"{d}\""), "");
            let e = parsed(&text).unwrap_err();
            assert!(
                e.message.contains(&format!(
                    "delimiter {shown}: expected one plain (ASCII) character"
                )),
                "{e}"
            );
        }
        for d in [";", "|", "tab", "\\t"] {
            let text =
                crate::pipeline::tests::minimal_text("", &format!("delimiter = \"{d}\""), "");
            assert!(parsed(&text).is_ok(), "{d}");
        }
    }

    #[test]
    fn a_path_a_shell_would_expand_is_refused_naming_the_key() {
        for (setting, said) in [
            (
                "warehouse = \"~/smpeval-wh\"",
                "`warehouse` = \"~/smpeval-wh\": `~`",
            ),
            (
                "reports = \"$HOME/r\"",
                "`reports` = \"$HOME/r\": an environment variable",
            ),
            (
                "reports = \"${DATA}/r\"",
                "`reports` = \"${DATA}/r\": an environment variable",
            ),
        ] {
            let text = with_top(setting);
            let e = parsed(&text).unwrap_err();
            assert!(e.message.starts_with(said), "{e}");
            assert_eq!(e.line, Some(1), "{e}");
        }
        for (setting, said) in [
            ("warehouse = \"./~/wh\"", "`~`"),
            ("warehouse = \"~root/wh\"", "`~`"),
            (
                "reports = \"%USERPROFILE%/r\"",
                "an environment variable (`%NAME%`)",
            ),
        ] {
            let e = parsed(&with_top(setting)).unwrap_err();
            assert!(e.message.contains(said), "{e}");
        }
        // A `~`, `$` or `%` that is not a shell's is a name like any other.
        let ok = "reports = \"../r~1/$1%\"\nwarehouse = \"w/a~/5%/\"";
        let text = with_top(ok);
        assert!(parsed(&text).is_ok());
    }

    #[test]
    fn a_wrong_type_is_said_in_words_not_rust_types() {
        for (value, said) in [
            (
                "-1",
                "`keep_versions`: invalid value: integer `-1`, expected a whole number, 0 or more",
            ),
            (
                "2.5",
                "`keep_versions`: invalid type: number `2.5`, expected a whole number, 0 or more",
            ),
            (
                "\"x\"",
                "`keep_versions`: invalid type: string \"x\", expected a whole number, 0 or more",
            ),
        ] {
            let text =
                crate::pipeline::tests::minimal_text(&format!("keep_versions = {value}"), "", "");
            let e = parsed(&text).unwrap_err();
            assert_eq!(e.message, said, "{e}");
        }
        for date in ["2025-03-31", "2025-03-31 # the end", "2025-03-31T00:00:00Z"] {
            let text =
                crate::pipeline::tests::minimal_text(&format!("evaluation_end = {date}"), "", "");
            let e = parsed(&text).unwrap_err();
            assert!(
                e.message.starts_with(
                    "`evaluation_end`: a date is written in quotes here: \"2025-03-31"
                ),
                "{e}"
            );
        }
        let text = crate::pipeline::tests::minimal_text("max_reject_rate = \"a\"", "", "");
        let e = parsed(&text).unwrap_err();
        assert!(e.message.ends_with("expected a number"), "{e}");
    }
}
