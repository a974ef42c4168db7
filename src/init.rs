//! A starter pipeline from sample files: the header and a sample of rows of
//! each file are read, each header is matched to a canonical field by name
//! (and checked against its values: dates, NHS numbers, session marks), and
//! the result is written as TOML with a comment on every guess. The analyst
//! reviews it, then runs `smpeval validate`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use chrono::NaiveDate;

use crate::error::InputError;
use crate::pipeline::{value_maps::normalise, SourceKind};
use crate::schema::*;

/// Rows read from each file to guess formats and codes.
const SAMPLE_ROWS: usize = 500;

/// Names a field goes by in providers' files and HES extracts (normalised),
/// one line a field: `field: name, name, ...` (the file's header says more).
const SYNONYMS: &str = include_str!("init_synonyms.txt");

/// The names `field` goes by (none for a field `SYNONYMS` does not list);
/// provider codes are looked for in provider returns only.
fn synonyms(kind: SourceKind, field: &str) -> impl Iterator<Item = &'static str> {
    let names = SYNONYMS
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .filter(|_| field != PROVIDER_ID || kind == SourceKind::ProviderReturns);
    names.into_iter().flat_map(|n| n.split(',').map(str::trim))
}

/// A register column for session n: "wk1", "week 1", "session 1", "s1".
fn session_number(header: &str) -> Option<usize> {
    let h = normalise(header).replace([' ', '_', '-', '.'], "");
    for prefix in ["wk", "week", "session", "sess", "s"] {
        if let Some(rest) = h.strip_prefix(prefix) {
            if let Ok(n) = rest.parse::<usize>() {
                if (1..=6).contains(&n) {
                    return Some(n);
                }
            }
        }
    }
    None
}

fn words(s: &str) -> Vec<String> {
    normalise(s)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// How well a header names a field: 1 for a known name, else the share of
/// the best synonym's words the header shares.
fn name_score(kind: SourceKind, field: &str, header: &str) -> f64 {
    let h = normalise(header);
    let hw = words(header);
    let mut best: f64 = 0.0;
    for syn in synonyms(kind, field) {
        if h == syn || hw.join(" ") == words(syn).join(" ") {
            return 1.0;
        }
        let sw = words(syn);
        let common = sw.iter().filter(|w| hw.contains(w)).count();
        let union = sw.len() + hw.len() - common;
        if union > 0 {
            best = best.max(common as f64 / union as f64);
        }
    }
    best
}

/// One sample file, read as text.
pub struct Sample {
    pub path: PathBuf,
    pub delimiter: u8,
    pub windows_1252: bool,
    /// 1-based line of the header.
    pub header_row: usize,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Sample {
    fn column(&self, i: usize) -> Vec<&str> {
        self.rows
            .iter()
            .filter_map(|r| r.get(i))
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// Reads the header and a sample of rows, guessing encoding, delimiter and
/// how many title rows sit above the header.
pub fn read_sample(path: &Path) -> Result<Sample, InputError> {
    // Refused as ingest refuses it: the name would be written into the pipeline.
    crate::ingest::refuse_nhs_number_in_name(path)?;
    let bad = |m: String| InputError::File {
        path: path.to_path_buf(),
        message: m,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read the file: {e}")))?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx") || e.eq_ignore_ascii_case("xls"))
    {
        return Err(bad(
            "init reads CSV files; save the sheet as CSV, or copy a CSV source's block and set format = \"xlsx\"".into(),
        ));
    }
    // A workbook, UTF-16 or binary file is said to be one, as validate says it.
    if let Some(why) = crate::ingest::read::not_text(&bytes) {
        return Err(bad(why.into()));
    }
    let (text, windows_1252) = decode(&bytes);
    let lines: Vec<&str> = text.lines().take(SAMPLE_ROWS + 20).collect();
    if lines.is_empty() {
        return Err(bad("the file is empty".into()));
    }
    let delimiter = guess_delimiter(&lines);
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_bytes());
    let records: Vec<(usize, Vec<String>)> = rdr
        .records()
        .take(SAMPLE_ROWS + 20)
        .filter_map(|r| r.ok())
        .map(|r| {
            let line = r.position().map(|p| p.line() as usize).unwrap_or(1);
            (line, r.iter().map(|c| c.trim().to_string()).collect())
        })
        .collect();
    let widths: Vec<usize> = records.iter().map(|(_, r)| r.len()).collect();
    let width = modal(&widths);
    // Title rows have fewer fields (or are mostly empty): the header is the
    // first row with the usual number of fields, all but a few filled in.
    let header_at = records
        .iter()
        .position(|(_, r)| {
            r.len() == width && r.iter().filter(|c| !c.is_empty()).count() * 2 > width
        })
        .ok_or_else(|| bad("no header row found".into()))?;
    let header_row = lines
        .iter()
        .position(|l| {
            let fields: Vec<&str> = l.split(delimiter as char).map(str::trim).collect();
            fields.first().map(|f| f.trim_matches('"'))
                == records[header_at].1.first().map(String::as_str)
                && fields.len() == width
        })
        .map(|i| i + 1)
        .unwrap_or(records[header_at].0);
    Ok(Sample {
        path: path.to_path_buf(),
        delimiter,
        windows_1252,
        header_row,
        headers: records[header_at].1.clone(),
        rows: records[header_at + 1..]
            .iter()
            .map(|(_, r)| r.clone())
            .collect(),
    })
}

/// A file's text without its byte-order mark: UTF-8, or else Windows-1252
/// (what Excel writes as "CSV"); true when it was Windows-1252.
fn decode(bytes: &[u8]) -> (String, bool) {
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    match String::from_utf8(bytes.to_vec()) {
        Ok(t) => (t, false),
        Err(_) => (
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
                .into_owned(),
            true,
        ),
    }
}

/// The delimiter that splits the most lines into the same number of fields.
fn guess_delimiter(lines: &[&str]) -> u8 {
    [b',', b';', b'\t', b'|']
        .into_iter()
        .max_by_key(|d| {
            let counts: Vec<usize> = lines
                .iter()
                .map(|l| l.bytes().filter(|b| b == d).count())
                .collect();
            let modal = modal(&counts);
            if modal == 0 {
                0
            } else {
                counts.iter().filter(|c| **c == modal).count()
            }
        })
        .unwrap_or(b',')
}

fn modal(v: &[usize]) -> usize {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for x in v {
        *counts.entry(*x).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(k, n)| (*n, *k))
        .map(|(k, _)| k)
        .unwrap_or(0)
}

/// Friendly formats init may propose, UK day-first before month-first.
const FORMATS: &[(&str, &str)] = &[
    ("dd/mm/yyyy", "%d/%m/%Y"),
    ("yyyy-mm-dd", "%Y-%m-%d"),
    ("dd-mm-yyyy", "%d-%m-%Y"),
    ("dd.mm.yyyy", "%d.%m.%Y"),
    ("yyyy/mm/dd", "%Y/%m/%d"),
    ("yyyymmdd", "%Y%m%d"),
    ("mm/dd/yyyy", "%m/%d/%Y"),
];

fn parses(v: &str, f: &str) -> bool {
    NaiveDate::parse_from_str(v, f).is_ok()
}

/// Share of values that are dates under some format.
fn date_share(values: &[&str]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let n = values
        .iter()
        .filter(|v| FORMATS.iter().any(|(_, f)| parses(v, f)))
        .count();
    n as f64 / values.len() as f64
}

/// The fewest formats that read the values, commonest first (greedy).
fn date_formats(values: &[&str]) -> Vec<&'static str> {
    let mut left: Vec<&str> = values
        .iter()
        .copied()
        .filter(|v| FORMATS.iter().any(|(_, f)| parses(v, f)))
        .collect();
    let mut out = Vec::new();
    while !left.is_empty() {
        let Some((label, f)) =
            FORMATS
                .iter()
                .filter(|(l, _)| !out.contains(l))
                .max_by_key(|(_, f)| {
                    // Ties go to the earlier (day-first) format.
                    let n = left.iter().filter(|v| parses(v, f)).count();
                    (
                        n,
                        usize::MAX - FORMATS.iter().position(|(_, g)| g == f).unwrap_or(0),
                    )
                })
        else {
            break;
        };
        let before = left.len();
        left.retain(|v| !parses(v, f));
        if left.len() == before {
            break;
        }
        out.push(*label);
    }
    out
}

fn nhs_share(values: &[&str]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let n = values
        .iter()
        .filter(|v| {
            let d: Vec<u8> = v
                .bytes()
                .filter(u8::is_ascii_digit)
                .map(|b| b - b'0')
                .collect();
            d.len() == 10 && crate::ingest::nhs::valid_digits(&d)
        })
        .count();
    n as f64 / values.len() as f64
}

fn distinct<'a>(values: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = values.to_vec();
    v.sort();
    v.dedup();
    v
}

/// Does a column's content fit the field? (a date field holds dates, …)
fn values_fit(ftype: FieldType, values: &[&str]) -> bool {
    if values.is_empty() {
        return true;
    }
    match ftype {
        FieldType::Date => date_share(values) >= 0.8,
        FieldType::Int { .. } | FieldType::Float { .. } => {
            let n = values.iter().filter(|v| v.parse::<f64>().is_ok()).count();
            n * 10 >= values.len() * 8
        }
        _ => true,
    }
}

/// One proposed mapping: the field, the header, and why.
struct Guess {
    field: &'static str,
    header: String,
    why: String,
}

/// A proposed `[sources.values.<field>]`: the field, (code, value) pairs, why.
type ValueMap = (String, Vec<(String, String)>, String);

/// A source block proposed for one file.
struct Proposal {
    kind: SourceKind,
    name: String,
    sample: Sample,
    guesses: Vec<Guess>,
    constants: Vec<(String, String, String)>,
    values: Vec<ValueMap>,
    named_values: Vec<(String, String, String)>,
    date_formats: Vec<&'static str>,
    id_kind: &'static str,
    spell_key: bool,
    unmapped: Vec<String>,
}

fn propose(kind: SourceKind, sample: Sample) -> Proposal {
    let fields = kind.fields();
    let mut guesses = best_guesses(kind, &sample, &fields);
    let (date_formats, id_kind) = formats(&sample, &guesses, &fields);
    let stem = sample
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut extra = Extra::default();
    match kind {
        SourceKind::ProviderReturns => provider_extra(&sample, &guesses, &stem, &mut extra),
        SourceKind::Hospital => hospital_setting(&mut guesses, &mut extra.constants),
        SourceKind::Pam => {}
    }
    let spell_key = kind == SourceKind::Hospital
        && extra
            .constants
            .iter()
            .any(|(f, v, _)| f == SETTING && v == "apc");
    let mapped: Vec<&str> = guesses.iter().map(|g| g.header.as_str()).collect();
    let unmapped = sample
        .headers
        .iter()
        .filter(|h| !mapped.contains(&h.as_str()))
        .cloned()
        .collect();
    Proposal {
        kind,
        name: source_name(&stem),
        sample,
        guesses,
        constants: extra.constants,
        values: extra.values,
        named_values: extra.named_values,
        date_formats,
        id_kind,
        spell_key,
        unmapped,
    }
}

/// What a proposal adds beyond the column mapping: constants for missing
/// fields (field, value, why), value maps, and built-in maps by name.
#[derive(Default)]
struct Extra {
    constants: Vec<(String, String, String)>,
    values: Vec<ValueMap>,
    named_values: Vec<(String, String, String)>,
}

/// The sample's values in the column guessed for `field` (none if unmapped).
fn column_of<'a>(sample: &'a Sample, guesses: &[Guess], field: &str) -> Vec<&'a str> {
    guesses
        .iter()
        .find(|g| g.field == field)
        .and_then(|g| sample.headers.iter().position(|x| *x == g.header))
        .map(|i| sample.column(i))
        .unwrap_or_default()
}

/// The date formats the date columns use (ISO when none is seen), and
/// whether the person column holds NHS numbers or pseudonyms.
fn formats(
    sample: &Sample,
    guesses: &[Guess],
    fields: &[(&'static str, FieldType)],
) -> (Vec<&'static str>, &'static str) {
    let mut dates: Vec<&str> = Vec::new();
    for (field, ftype) in fields {
        if *ftype == FieldType::Date {
            dates.extend(column_of(sample, guesses, field));
        }
    }
    let mut date_formats = date_formats(&dates);
    if date_formats.is_empty() {
        date_formats.push("yyyy-mm-dd");
    }
    let id_kind = if nhs_share(&column_of(sample, guesses, PERSON_ID)) >= 0.5 {
        "nhs_number"
    } else {
        "pseudonym"
    };
    (date_formats, id_kind)
}

/// A provider return's constants (provider code from the file name, age
/// band "Not known") and value maps (programme, referral source, sex,
/// ethnicity, the session registers).
fn provider_extra(sample: &Sample, guesses: &[Guess], stem: &str, extra: &mut Extra) {
    let has = |field: &str| guesses.iter().any(|g| g.field == field);
    let column_of = |field: &str| column_of(sample, guesses, field);
    if !has(PROVIDER_ID) {
        let code: String = stem
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("PROVIDER")
            .to_uppercase();
        extra.constants.push((
            PROVIDER_ID.to_string(),
            code,
            "no provider column: guessed from the file name; use the provider's code".into(),
        ));
    }
    if !has(AGE_BAND) && !has(YEAR_OF_BIRTH) {
        extra.constants.push((
            AGE_BAND.to_string(),
            "Not known".into(),
            "no age band or year of birth column: every row is \"Not known\"".into(),
        ));
    }
    for (field, list) in [
        (PROGRAMME, PROGRAMMES),
        (REFERRAL_SOURCE, REFERRAL_SOURCES),
        (SEX, SEXES),
    ] {
        extra
            .values
            .extend(label_map(field, list, distinct(&column_of(field))));
    }
    if has(ETHNICITY) {
        extra.named_values.push((
            ETHNICITY.to_string(),
            "ethnicity".to_string(),
            "the built-in map: Data Dictionary codes and common labels".to_string(),
        ));
    }
    for s in SESSIONS {
        extra
            .values
            .extend(register_map(s, distinct(&column_of(s))));
    }
}

/// A source's name from its file's stem: lower-case letters and digits, `_` for the rest.
fn source_name(stem: &str) -> String {
    stem.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A hospital extract's setting (apc, ae or op), guessed from its headers and
/// added as a constant; the columns of other settings are dropped.
fn hospital_setting(guesses: &mut Vec<Guess>, constants: &mut Vec<(String, String, String)>) {
    let event = guesses
        .iter()
        .find(|g| g.field == EVENT_DATE)
        .map(|g| normalise(&g.header))
        .unwrap_or_default();
    let setting =
        if event.contains("arriv") || guesses.iter().any(|g| g.field == AE_DEPARTMENT_TYPE) {
            "ae"
        } else if event.contains("appt")
            || event.contains("appoint")
            || guesses.iter().any(|g| g.field == ATTENDANCE_STATUS)
        {
            "op"
        } else {
            "apc"
        };
    constants.push((
        SETTING.to_string(),
        setting.to_string(),
        format!("guessed from the headers (event date \"{event}\"): apc, ae or op"),
    ));
    // Columns that belong to another setting are left out.
    let keep: &[&str] = match setting {
        "apc" => &[DISCHARGE_DATE, ADMISSION_METHOD, EPISODE_ORDER, SPELL_ID],
        "ae" => &[AE_DEPARTMENT_TYPE],
        _ => &[ATTENDANCE_STATUS],
    };
    guesses.retain(|g| [PERSON_ID, EVENT_DATE].contains(&g.field) || keep.contains(&g.field));
}

/// The best header for each field: every (field, header) pair is scored by
/// name and values, the best pairs are taken first, one header per field;
/// a register needs all six sessions, and a count wins if both are partly there.
fn best_guesses(
    kind: SourceKind,
    sample: &Sample,
    fields: &[(&'static str, FieldType)],
) -> Vec<Guess> {
    // Every (field, header) pair with its score; the best pairs are taken first.
    let mut pairs: Vec<(f64, &'static str, usize, String)> = Vec::new();
    for (field, ftype) in fields {
        if *field == LSOA_CODE {
            continue;
        }
        for (i, h) in sample.headers.iter().enumerate() {
            let mut score = name_score(kind, field, h);
            let mut why = format!("header \"{h}\"");
            if let Some(n) = session_number(h) {
                if *field == SESSIONS[n - 1] {
                    score = 0.95;
                    why = format!("header \"{h}\" looks like session {n} of the register");
                }
            }
            let values = sample.column(i);
            if *field == PERSON_ID && nhs_share(&values) >= 0.8 {
                score = score.max(0.9);
                why = format!("{why}; its values are NHS numbers (Modulus 11)");
            }
            if score >= 0.5 && values_fit(*ftype, &values) {
                if *ftype == FieldType::Date && !values.is_empty() {
                    why = format!("{why}; its values are dates");
                }
                pairs.push((score, field, i, why));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut taken_fields: Vec<&str> = Vec::new();
    let mut taken_cols: Vec<usize> = Vec::new();
    let mut guesses = Vec::new();
    for (score, field, i, why) in pairs {
        if taken_fields.contains(&field) || taken_cols.contains(&i) {
            continue;
        }
        taken_fields.push(field);
        taken_cols.push(i);
        let how = if score >= 1.0 {
            "a known name"
        } else {
            "a similar name: check"
        };
        guesses.push(Guess {
            field,
            header: sample.headers[i].clone(),
            why: format!("{why} ({how})"),
        });
    }
    // A register needs all six sessions; a count wins if both are partly there.
    let register = guesses
        .iter()
        .filter(|g| SESSIONS.contains(&g.field))
        .count();
    if register != 6 {
        guesses.retain(|g| !SESSIONS.contains(&g.field));
    } else {
        guesses.retain(|g| g.field != SESSIONS_ATTENDED);
    }
    guesses
}

/// A value map from a column's own labels to a field's canonical values
/// (a label that matches none goes to "unknown" or "other", flagged CHECK).
fn label_map(field: &str, list: &[&str], codes: Vec<&str>) -> Option<ValueMap> {
    let mut map = Vec::new();
    let mut unknown = Vec::new();
    for c in codes {
        let lower = c.to_lowercase();
        if list.contains(&lower.as_str()) {
            continue;
        }
        let snake = words(c).join("_");
        let initial = list
            .iter()
            .find(|v| c.len() == 1 && v.starts_with(&lower) && field == SEX);
        if let Some(v) = list.iter().find(|v| **v == snake) {
            map.push((c.to_string(), v.to_string()));
        } else if let Some(v) = initial {
            map.push((c.to_string(), v.to_string()));
        } else {
            unknown.push(c.to_string());
            map.push((
                c.to_string(),
                if field == SEX { "unknown" } else { "other" }.to_string(),
            ));
        }
    }
    if map.is_empty() {
        return None;
    }
    {
        let why = if unknown.is_empty() {
            "the file's labels, matched to the canonical values".to_string()
        } else {
            format!(
                "CHECK: {} matched no canonical value ({}): mapped to \"{}\"",
                unknown
                    .iter()
                    .map(|u| quote(u))
                    .collect::<Vec<_>>()
                    .join(", "),
                list.join(", "),
                if field == SEX { "unknown" } else { "other" }
            )
        };
        Some((field.to_string(), map, why))
    }
}

/// A register column's marks (Y/N, yes/no, x/-) as 1 and 0.
fn register_map(s: &str, codes: Vec<&str>) -> Option<ValueMap> {
    let yn: Vec<(String, String)> = codes
        .iter()
        .filter_map(|c| match c.to_lowercase().as_str() {
            "y" | "yes" | "true" | "x" => Some((c.to_string(), "1".to_string())),
            "n" | "no" | "false" | "-" => Some((c.to_string(), "0".to_string())),
            _ => None,
        })
        .collect();
    (!yn.is_empty()).then(|| {
        (
            s.to_string(),
            yn,
            "register marks as 1 (attended) and 0".into(),
        )
    })
}

/// `s` as a one-line TOML basic string, any NHS number in it masked first
/// (escaping would turn a tab or line break between its digits into letters
/// the masker does not read as separators). One line, so that it can be a
/// key, and stand in a comment, as well as a value.
fn quote(s: &str) -> String {
    let masked = crate::ingest::nhs::mask_text(s);
    serde_json::to_string(masked.as_ref())
        .unwrap_or_default()
        .replace('\u{7f}', "\\u007F")
}

/// `to` relative to the folder `from` (both made absolute first).
fn relative(to: &Path, from: &Path) -> PathBuf {
    let abs = |p: &Path| {
        std::path::absolute(p)
            .map(|p| crate::ingest::clean_path(&p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let (to, from) = (abs(to), abs(from));
    let a: Vec<Component> = to.components().collect();
    let b: Vec<Component> = from.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &a[common..] {
        out.push(c.as_os_str());
    }
    out
}

fn write_source(out: &mut String, p: &Proposal, dir: &Path) {
    let s = &p.sample;
    let _ = writeln!(out, "\n[[sources]]");
    let _ = writeln!(out, "name = {}", quote(&p.name));
    let _ = writeln!(out, "kind = \"{}\"", p.kind.name());
    let file = relative(&s.path, dir).display().to_string();
    let _ = writeln!(out, "files = [{}]", quote(&file));
    if s.windows_1252 {
        let _ = writeln!(
            out,
            "encoding = \"windows-1252\"   # not UTF-8: read as Windows-1252 (Excel's \"CSV\")"
        );
    }
    if s.delimiter != b',' {
        let d = if s.delimiter == b'\t' {
            "tab".to_string()
        } else {
            (s.delimiter as char).to_string()
        };
        let _ = writeln!(out, "delimiter = {}", quote(&d));
    }
    if s.header_row > 1 {
        let _ = writeln!(
            out,
            "header_row = {}   # title rows above the header are skipped",
            s.header_row
        );
    }
    write_reading(out, p);
    write_mapping(out, p);
}

/// A source's formats: dates, the kind of person identifier, the spell key.
fn write_reading(out: &mut String, p: &Proposal) {
    if p.date_formats.len() == 1 {
        let _ = writeln!(
            out,
            "date_format = \"{}\"   # detected from the date columns",
            p.date_formats[0]
        );
    } else {
        let list: Vec<String> = p.date_formats.iter().map(|f| quote(f)).collect();
        let _ = writeln!(
            out,
            "date_formats = [{}]   # the date columns mix formats: tried in this order",
            list.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "id_kind = \"{}\"   # {}",
        p.id_kind,
        if p.id_kind == "nhs_number" {
            "the person column holds NHS numbers: checked, then hashed"
        } else {
            "the person column is not NHS numbers: passed through as a pseudonym"
        }
    );
    if p.spell_key {
        let _ = writeln!(
            out,
            "# One admission = one spell: episodes share the person and admission date."
        );
        let _ = writeln!(out, "spell_key = [\"person_id\", \"event_date\"]");
    }
}

/// A source's constants, columns (with the headers left unmapped) and value maps.
fn write_mapping(out: &mut String, p: &Proposal) {
    if !p.constants.is_empty() {
        let _ = writeln!(out, "[sources.constants]");
        for (f, v, why) in &p.constants {
            let _ = writeln!(out, "{f} = {}   # {why}", quote(v));
        }
    }
    let _ = writeln!(out, "[sources.columns]");
    for g in &p.guesses {
        let _ = writeln!(out, "{} = {}   # {}", g.field, quote(&g.header), g.why);
    }
    for h in &p.unmapped {
        let _ = writeln!(out, "# not mapped: {}", quote(h));
    }
    if !p.named_values.is_empty() {
        let _ = writeln!(out, "[sources.values]");
        for (f, m, why) in &p.named_values {
            let _ = writeln!(out, "{f} = {}   # {why}", quote(m));
        }
    }
    for (f, map, why) in &p.values {
        let _ = writeln!(out, "[sources.values.{f}]   # {why}");
        let mut written = std::collections::HashSet::new();
        for (k, v) in map {
            // Two values masked alike would be one key twice: the first is kept.
            let key = quote(k);
            if written.insert(key.clone()) {
                let _ = writeln!(out, "{key} = {}", quote(v));
            }
        }
    }
}

/// The starter pipeline's text for the given files; `out` is where it will
/// be written (file paths are relative to its folder).
pub fn starter_pipeline(
    out: &Path,
    returns: &Path,
    hospital: &[PathBuf],
    pam: Option<&Path>,
) -> Result<String, InputError> {
    let dir = out.parent().unwrap_or(Path::new("."));
    let mut proposals = vec![propose(SourceKind::ProviderReturns, read_sample(returns)?)];
    for h in hospital {
        proposals.push(propose(SourceKind::Hospital, read_sample(h)?));
    }
    if let Some(p) = pam {
        proposals.push(propose(SourceKind::Pam, read_sample(p)?));
    }
    // Two files with one stem would give two sources one name.
    let mut seen = Vec::new();
    for p in proposals.iter_mut() {
        while seen.contains(&p.name) {
            p.name.push('_');
        }
        seen.push(p.name.clone());
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# A starter pipeline written by `smpeval init` from the files below."
    );
    let _ = writeln!(
        t,
        "# Every mapping is a guess with its reason: review them, then run"
    );
    let _ = writeln!(t, "#   smpeval validate {}", out.display());
    let _ = writeln!(t, "# The keys are described in docs/pipeline.md.");
    let _ = writeln!(t, "name = \"starter\"");
    let _ = writeln!(t, "\n[privacy]");
    let _ = writeln!(t, "# The HMAC key for NHS numbers: at least 32 bytes, e.g. `openssl rand -hex 32 > smpeval.key`.");
    let _ = writeln!(t, "key_env = \"SMPEVAL_HMAC_KEY\"");
    let _ = writeln!(t, "# key_file = \"smpeval.key\"");
    let _ = writeln!(t, "\n[settings]");
    let _ = writeln!(t, "# evaluation_start = \"2023-04-01\"");
    let _ = writeln!(t, "# evaluation_end = \"2024-03-31\"");
    let _ = writeln!(
        t,
        "# hospital_coverage_start and _end: the extract's dates (else inferred from its events)"
    );
    for p in &proposals {
        write_source(&mut t, p, dir);
    }
    // Headers and codes come from the files: an NHS number typed into one is
    // never written out.
    Ok(crate::ingest::nhs::mask_text(&t).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_dates_need_two_formats_and_day_first_wins_ties() {
        assert_eq!(
            date_formats(&["03/04/2024", "25/12/2023"]),
            vec!["dd/mm/yyyy"]
        );
        assert_eq!(
            date_formats(&["03/04/2024", "2024-04-03"]),
            vec!["dd/mm/yyyy", "yyyy-mm-dd"]
        );
    }

    #[test]
    fn the_synonyms_file_names_each_field_once_and_every_field_init_guesses() {
        let kinds = [
            SourceKind::ProviderReturns,
            SourceKind::Hospital,
            SourceKind::Pam,
        ];
        let fields: Vec<&str> = kinds.iter().flat_map(|k| k.fields()).map(|f| f.0).collect();
        let mut listed = Vec::new();
        for line in SYNONYMS.lines().filter(|l| !l.starts_with('#')) {
            let (field, names) = line.split_once(':').expect("field: names");
            assert!(fields.contains(&field), "{field} is not a field");
            assert!(!listed.contains(&field), "{field} is listed twice");
            listed.push(field);
            for name in names.split(',').map(str::trim) {
                assert!(
                    !name.is_empty() && normalise(name) == name,
                    "{field}: {name:?}"
                );
            }
        }
        // Sessions are found by pattern, LSOA codes and the setting otherwise.
        for kind in kinds {
            for (field, _) in kind.fields() {
                if !SESSIONS.contains(&field) && ![LSOA_CODE, SETTING].contains(&field) {
                    assert!(synonyms(kind, field).next().is_some(), "{kind:?} {field}");
                }
            }
        }
    }

    #[test]
    fn headers_are_matched_by_name() {
        let k = SourceKind::ProviderReturns;
        assert_eq!(name_score(k, SEX, "Gender"), 1.0);
        assert_eq!(name_score(k, REFERRAL_DATE, "Referred On"), 1.0);
        assert!(name_score(k, COURSE_START_DATE, "Course Start Dt") >= 0.5);
        assert_eq!(session_number("wk3"), Some(3));
        assert_eq!(session_number("Week 6"), Some(6));
        assert_eq!(session_number("Sex"), None);
    }

    #[test]
    fn text_is_utf8_or_windows_1252_without_its_bom() {
        assert_eq!(decode(b"\xEF\xBB\xBFa,b"), ("a,b".to_string(), false));
        // 0xA3 is the pound sign in Windows-1252 and not valid UTF-8 alone.
        assert_eq!(decode(b"cost\n\xA35"), ("cost\n\u{a3}5".to_string(), true));
    }

    #[test]
    fn the_delimiter_is_the_one_that_splits_lines_alike() {
        assert_eq!(guess_delimiter(&["a;b;c", "1;2,5;3", "4;5;6"]), b';');
        assert_eq!(guess_delimiter(&["a\tb", "1\t2"]), b'\t');
        assert_eq!(guess_delimiter(&["a,b,c", "1,2,3"]), b',');
    }

    #[test]
    fn a_provider_without_a_code_column_gets_one_from_its_file_name() {
        let sample = Sample {
            path: PathBuf::from("/x/Northside returns 2024.csv"),
            delimiter: b',',
            windows_1252: false,
            header_row: 1,
            headers: vec!["NHS Number".into(), "Gender".into(), "Wk1".into()],
            rows: vec![vec!["x".into(), "F".into(), "Y".into()]],
        };
        let p = propose(SourceKind::ProviderReturns, sample);
        assert_eq!(p.name, "northside_returns_2024");
        let provider = p.constants.iter().find(|c| c.0 == PROVIDER_ID).unwrap();
        assert_eq!(provider.1, "NORTHSIDE");
        assert!(p
            .constants
            .iter()
            .any(|c| c.0 == AGE_BAND && c.1 == "Not known"));
        let mapped = |f: &str| {
            p.guesses
                .iter()
                .find(|g| g.field == f)
                .map(|g| g.header.clone())
        };
        assert_eq!(mapped(PERSON_ID).as_deref(), Some("NHS Number"));
        assert_eq!(mapped(SEX).as_deref(), Some("Gender"));
    }

    #[test]
    fn relative_paths_climb_out_of_the_pipeline_folder() {
        assert_eq!(
            relative(Path::new("/a/data/x.csv"), Path::new("/a/pipelines")),
            PathBuf::from("../data/x.csv")
        );
    }
}
