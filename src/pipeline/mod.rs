//! The pipeline file (`pipelines/*.toml`): sources, mappings and settings.
//!
//! A pipeline is read and checked in full before any work: an unknown key, a
//! missing mapping for a required field or a date format that cannot be used
//! is refused with the file, the line and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

pub mod docs;
pub mod prices;
pub mod value_maps;

use crate::error::PipelineError;
use crate::schema::{self, FieldType};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    ProviderReturns,
    Hospital,
    Pam,
}

impl SourceKind {
    pub fn fields(self) -> Vec<(&'static str, FieldType)> {
        match self {
            SourceKind::ProviderReturns => schema::provider_fields(),
            SourceKind::Hospital => schema::hospital_fields(),
            SourceKind::Pam => schema::pam_fields(),
        }
    }
    /// The name a pipeline file uses.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::ProviderReturns => "provider_returns",
            SourceKind::Hospital => "hospital",
            SourceKind::Pam => "pam",
        }
    }
    pub fn table(self) -> &'static str {
        match self {
            SourceKind::ProviderReturns => "participants",
            SourceKind::Hospital => "hospital_events",
            SourceKind::Pam => "pam_scores",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Csv,
    Xlsx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Encoding {
    #[default]
    #[serde(rename = "utf-8", alias = "UTF-8", alias = "utf8")]
    Utf8,
    #[serde(rename = "windows-1252", alias = "Windows-1252", alias = "cp1252")]
    Windows1252,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    #[default]
    NhsNumber,
    Pseudonym,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disclosure {
    #[default]
    Published,
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostBasis {
    PerYear,
    OneOff,
    PerCourse,
    PerStarter,
    PerCompleter,
    /// A provider's contract value a year (the real spend): charged to the
    /// provider the line names, for each year of the period.
    Contract,
}

impl CostBasis {
    /// The name a pipeline file uses.
    pub fn name(self) -> &'static str {
        match self {
            CostBasis::PerYear => "per_year",
            CostBasis::OneOff => "one_off",
            CostBasis::PerCourse => "per_course",
            CostBasis::PerStarter => "per_starter",
            CostBasis::PerCompleter => "per_completer",
            CostBasis::Contract => "contract",
        }
    }
}

/// The pipeline file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    name: Spanned<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    contact: Option<String>,
    warehouse: Option<String>,
    reports: Option<String>,
    privacy: Privacy,
    #[serde(default)]
    settings: RawSettings,
    #[serde(default)]
    unit_costs: UnitCosts,
    #[serde(default)]
    cost_lines: Vec<CostLine>,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    contract: Option<Contract>,
    /// A CSV of the target population (e.g. LTC register counts) by dimension.
    #[serde(default)]
    target_population: Option<String>,
    #[serde(default)]
    matching: Matching,
    /// Provider codes and the names the pack shows for them.
    #[serde(default)]
    providers: std::collections::BTreeMap<String, String>,
    /// Named value maps that sources refer to by name (`[value_maps.sex]`).
    #[serde(default)]
    value_maps: BTreeMap<String, BTreeMap<String, String>>,
    sources: Vec<Spanned<RawSource>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    /// Environment variable holding the HMAC key for NHS numbers.
    pub key_env: Option<String>,
    /// File holding the key, used when the variable is not set.
    pub key_file: Option<String>,
    /// The key is the public demo key shipped with the sample data: allowed
    /// only when this is true, and every page of the pack then says so.
    #[serde(default)]
    pub demo: bool,
}

/// Coarsened exact matching of starters to the comparison group.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matching {
    /// Default: on when the comparison group has at least 30 eligible people.
    pub enabled: Option<bool>,
    /// Covariates matched on (age_band, sex, imd_quintile, ethnic_group,
    /// ltc_band, referral_source, programme, prior_emergency, prior_ae,
    /// prior_outpatient); default age_band, sex, imd_quintile,
    /// prior_emergency, prior_ae.
    pub strata: Option<Vec<String>>,
}

/// What the service was bought to deliver (commissioning guide, Steps 2, 3 and 5).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// Courses a year the contract pays for.
    pub courses_per_year: Option<f64>,
    /// Completions a year the contract pays for.
    pub completions_per_year: Option<f64>,
    /// What the provider is paid on: "courses" or "completions".
    pub payment_basis: Option<String>,
    /// Courses the programme licence allows over its term.
    pub licence_courses: Option<f64>,
    /// The licence's term in years (default 3).
    pub licence_years: Option<f64>,
    /// Per provider code: the last fidelity check and SS2Q assessment (yyyy-mm-dd).
    #[serde(default)]
    pub providers: std::collections::BTreeMap<String, ProviderChecks>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderChecks {
    pub fidelity_check: Option<chrono::NaiveDate>,
    pub ss2q: Option<chrono::NaiveDate>,
}

/// Declared group labels: a label outside these is published as "Other".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    /// Course languages that may appear in a pack (default: English).
    pub course_language: Option<Vec<String>>,
    /// Age bands a provider may send, besides the standard ones.
    pub age_band: Option<Vec<String>>,
}

/// Which row counts when the same referral is in two files.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Duplicates {
    /// The file later in the pipeline's order (then the later line) wins.
    #[default]
    Latest,
    /// The earliest wins.
    First,
    /// Neither counts.
    Reject,
}

/// How cost lines that name no provider and are not tied to units
/// (`per_year`, `one_off`) are shared among providers.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Apportion {
    #[default]
    Starters,
    Completers,
    Courses,
}

impl Apportion {
    pub fn name(self) -> &'static str {
        match self {
            Apportion::Starters => "starters",
            Apportion::Completers => "completers",
            Apportion::Courses => "courses",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    evaluation_start: Option<Spanned<String>>,
    evaluation_end: Option<Spanned<String>>,
    financial_year_start_month: Option<u32>,
    completion_threshold: Option<u32>,
    outcome_window_days: Option<i64>,
    pam_pre_days_before: Option<i64>,
    pam_pre_days_after: Option<i64>,
    pam_post_days_from: Option<i64>,
    pam_post_days_to: Option<i64>,
    pam_level4_cut: Option<f64>,
    hospital_coverage_start: Option<Spanned<String>>,
    hospital_coverage_end: Option<Spanned<String>>,
    max_reject_rate: Option<f64>,
    disclosure: Option<Disclosure>,
    apportion: Option<Apportion>,
    data_as_at: Option<Spanned<String>>,
    price_base: Option<Spanned<String>>,
    duplicates: Option<Duplicates>,
    keep_versions: Option<usize>,
    keep_packs: Option<usize>,
    min_linkage: Option<f64>,
}

/// SPEC 1.4 settings, with defaults filled in.
#[derive(Debug, Clone)]
pub struct Settings {
    pub evaluation_start: Option<NaiveDate>,
    pub evaluation_end: Option<NaiveDate>,
    pub financial_year_start_month: u32,
    /// Sessions (of 6) that make a completer; SMRC definition: 4.
    pub completion_threshold: u32,
    pub outcome_window_days: i64,
    pub pam_pre_days_before: i64,
    pub pam_pre_days_after: i64,
    pub pam_post_days_from: i64,
    pub pam_post_days_to: i64,
    pub pam_level4_cut: f64,
    pub hospital_coverage_start: Option<NaiveDate>,
    pub hospital_coverage_end: Option<NaiveDate>,
    /// A file whose share of rejected rows exceeds this fails the run.
    pub max_reject_rate: f64,
    pub disclosure: Disclosure,
    /// How time-based general cost lines are shared among providers.
    pub apportion: Apportion,
    /// The date the returns are complete to (default: the latest date in them):
    /// a course whose sixth session falls after it is in progress.
    pub data_as_at: Option<NaiveDate>,
    /// Every amount (cost lines, unit costs) is uplifted to this year's prices
    /// with the GDP deflator; None: amounts are used as given.
    pub price_base: Option<prices::PriceYear>,
    /// Which row counts when the same referral is in two files.
    pub duplicates: Duplicates,
    /// Warehouse versions kept after a commit, the current one included (default 3).
    pub keep_versions: usize,
    /// Packs kept per pipeline after a new one is written (default: all).
    pub keep_packs: Option<usize>,
    /// Below this share of returns' people found in the hospital data, a
    /// warning says the linkage may be broken (wrong id kind or key).
    pub min_linkage: f64,
}

/// Unit costs for savings (SPEC 1.4; sources cited in the README).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnitCosts {
    /// National Cost Collection 2024/25, A&E, all department types.
    pub ae_attendance: f64,
    /// National Cost Collection 2024/25, non-elective, all spells.
    pub non_elective_spell: f64,
    /// National Cost Collection 2023/24, outpatients, all consultant-led WF.
    pub outpatient_attendance: f64,
    /// Reference Costs 2016/17, excess bed day.
    pub excess_bed_day: f64,
    /// The price year of each amount you set ("2024/25"); the published
    /// defaults carry their own.
    pub ae_attendance_price_year: Option<String>,
    pub non_elective_spell_price_year: Option<String>,
    pub outpatient_attendance_price_year: Option<String>,
    pub excess_bed_day_price_year: Option<String>,
}

impl Default for UnitCosts {
    fn default() -> Self {
        UnitCosts {
            ae_attendance: 280.0,
            non_elective_spell: 2711.0,
            outpatient_attendance: 177.0,
            excess_bed_day: 313.0,
            ae_attendance_price_year: None,
            non_elective_spell_price_year: None,
            outpatient_attendance_price_year: None,
            excess_bed_day_price_year: None,
        }
    }
}

/// One unit cost as the pack shows it: where it is from, its price year, the
/// amount as given and at the price base.
#[derive(Debug, Clone)]
pub struct UnitCostLine {
    /// The outcome it prices (`emergency_admissions`, ...).
    pub outcome: &'static str,
    pub source: String,
    pub price_year: Option<prices::PriceYear>,
    pub amount: f64,
    pub at_price_base: f64,
}

/// (outcome, amount, default amount, default source, default year, the year you set).
type UnitCostItem<'a> = (
    &'static str,
    f64,
    f64,
    &'static str,
    &'static str,
    &'a Option<String>,
);

impl UnitCosts {
    /// (outcome, amount, default amount, default source and year, the year you set).
    fn items(&self) -> [UnitCostItem<'_>; 4] {
        [
            (
                "emergency_admissions",
                self.non_elective_spell,
                2711.0,
                "National Cost Collection, non-elective, all spells",
                "2024/25",
                &self.non_elective_spell_price_year,
            ),
            (
                "ae_attendances",
                self.ae_attendance,
                280.0,
                "National Cost Collection, A&E, all department types",
                "2024/25",
                &self.ae_attendance_price_year,
            ),
            (
                "outpatient_attendances",
                self.outpatient_attendance,
                177.0,
                "National Cost Collection, outpatients, all consultant-led",
                "2023/24",
                &self.outpatient_attendance_price_year,
            ),
            (
                "emergency_bed_days",
                self.excess_bed_day,
                313.0,
                "Reference Costs, excess bed day (reported, not priced)",
                "2016/17",
                &self.excess_bed_day_price_year,
            ),
        ]
    }

    /// The unit costs with their sources and price years, each at the price
    /// base when one is set; an amount set in the pipeline needs its year then.
    fn resolve(
        &self,
        base: Option<prices::PriceYear>,
    ) -> Result<(UnitCosts, Vec<UnitCostLine>), String> {
        let mut lines = Vec::new();
        for (outcome, amount, default, source, default_year, year) in self.items() {
            let is_default = (amount - default).abs() < 1e-9;
            let year = match year {
                Some(y) => Some(prices::PriceYear::parse(y).ok_or_else(|| {
                    format!("unit_costs: \"{y}\" is not a price year (expected a financial year such as \"2024/25\" or a calendar year such as \"2024\")")
                })?),
                None if is_default => prices::PriceYear::parse(default_year),
                None => None,
            };
            let at_price_base = match base {
                None => amount,
                Some(b) => {
                    amount
                        * uplift_to(
                            year,
                            b,
                            &format!("the unit cost for {}", outcome.replace('_', " ")),
                        )?
                }
            };
            lines.push(UnitCostLine {
                outcome,
                source: if is_default {
                    source.to_string()
                } else {
                    "Set in the pipeline".into()
                },
                price_year: year,
                amount,
                at_price_base,
            });
        }
        let at = |o: &str| {
            lines
                .iter()
                .find(|l| l.outcome == o)
                .map(|l| l.at_price_base)
                .unwrap_or(0.0)
        };
        let uplifted = UnitCosts {
            non_elective_spell: at("emergency_admissions"),
            ae_attendance: at("ae_attendances"),
            outpatient_attendance: at("outpatient_attendances"),
            excess_bed_day: at("emergency_bed_days"),
            ..self.clone()
        };
        Ok((uplifted, lines))
    }
}

/// The factor from a price year to the price base, or the analyst's message.
fn uplift_to(
    year: Option<prices::PriceYear>,
    base: prices::PriceYear,
    what: &str,
) -> Result<f64, String> {
    let y = year.ok_or_else(|| {
        format!("{what} has no price year: with settings.price_base every amount needs the year its price is from, e.g. price_year = \"2018/19\"")
    })?;
    prices::uplift(y, base).ok_or_else(|| {
        format!(
            "{what}: the price year {} is outside the deflator series ({}, {})",
            y.label(),
            prices::coverage(),
            prices::DEFLATOR_SOURCE
        )
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostLine {
    pub item: String,
    pub amount: f64,
    pub basis: CostBasis,
    /// For `one_off`: the number of years the cost is spread over.
    pub years: Option<f64>,
    pub provider: Option<String>,
    /// The year the amount's price is from ("2018/19" or "2018").
    pub price_year: Option<String>,
    /// The factor that takes the amount to the price base (1 without one);
    /// set when the pipeline is read.
    #[serde(skip, default = "one")]
    pub uplift: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: String,
    kind: SourceKind,
    files: Vec<String>,
    #[serde(default)]
    format: Format,
    delimiter: Option<Spanned<String>>,
    #[serde(default)]
    encoding: Encoding,
    #[serde(default)]
    bom: Option<bool>,
    date_format: Option<Spanned<String>>,
    date_formats: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    field_date_formats: BTreeMap<String, Vec<String>>,
    skip_rows: Option<Spanned<u32>>,
    header_row: Option<Spanned<u32>>,
    #[serde(default)]
    id_kind: IdKind,
    sheet: Option<String>,
    #[serde(default)]
    columns: BTreeMap<String, String>,
    #[serde(default)]
    constants: BTreeMap<String, String>,
    #[serde(default)]
    values: BTreeMap<String, ValuesEntry>,
    #[serde(default)]
    on_invalid: BTreeMap<String, OnInvalid>,
    #[serde(default)]
    spell_key: Option<Spanned<Vec<String>>>,
    lsoa_lookup: Option<Spanned<LsoaLookup>>,
}

/// A field's value map: inline (`[sources.values.sex]`) or the name of a
/// pipeline-level `[value_maps.<name>]` or a built-in map (`ethnicity`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ValuesEntry {
    Named(String),
    Inline(BTreeMap<String, String>),
}

/// What an invalid value in a field does to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInvalid {
    /// The value becomes empty and the file's warnings count it; the row is kept.
    Null,
    /// The row is rejected.
    Reject,
}

/// A CSV that turns LSOA codes into IMD deciles (e.g. the English Indices of
/// Deprivation file), for providers that send a home LSOA instead of a decile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LsoaLookup {
    /// Relative to the pipeline file; resolved when the pipeline is read.
    pub file: String,
    pub code_column: String,
    pub decile_column: String,
}

/// One declared source, checked.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    pub files: Vec<String>,
    pub format: Format,
    pub delimiter: u8,
    pub encoding: Encoding,
    pub bom: Option<bool>,
    /// chrono/polars strftime format, e.g. `%d/%m/%Y`: the first of `date_formats`.
    pub date_format: String,
    /// The format as the pipeline wrote it, for messages.
    pub date_format_label: String,
    /// Every accepted date format, tried in order: (strftime, as written).
    pub date_formats: Vec<(String, String)>,
    /// A date field's own formats, where they differ from the source's.
    pub field_date_formats: BTreeMap<String, Vec<(String, String)>>,
    /// The line (CSV) or sheet row (XLSX) of the header, 1-based; rows above it are skipped.
    pub header_row: u32,
    pub id_kind: IdKind,
    pub sheet: Option<String>,
    /// canonical field → source header.
    pub columns: BTreeMap<String, String>,
    /// canonical field → fixed value for every row.
    pub constants: BTreeMap<String, String>,
    /// canonical field → (source value → canonical value); keys are
    /// matched after trimming and case-folding (see `value_maps::normalise`).
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Fields whose invalid values reject the row or are blanked, where the
    /// pipeline says so (otherwise: required fields reject, others are blanked).
    pub on_invalid: BTreeMap<String, OnInvalid>,
    /// Canonical fields that identify an APC spell (episodes are folded into it).
    pub spell_key: Option<Vec<String>>,
    pub lsoa_lookup: Option<LsoaLookup>,
}

impl Source {
    /// What an invalid value of `field` does: the pipeline's `on_invalid`, else
    /// reject for a field the row cannot do without, blank for the others.
    pub fn on_invalid(&self, field: &str) -> OnInvalid {
        self.on_invalid.get(field).copied().unwrap_or_else(|| {
            if schema::required_values(self.kind).contains(&field) {
                OnInvalid::Reject
            } else {
                OnInvalid::Null
            }
        })
    }

    /// The date formats of one field: its own, else the source's.
    pub fn date_formats_for(&self, field: &str) -> &[(String, String)] {
        self.field_date_formats
            .get(field)
            .map(Vec::as_slice)
            .unwrap_or(&self.date_formats)
    }

    /// True when the field is mapped from a column or given as a constant.
    pub fn has(&self, field: &str) -> bool {
        self.columns.contains_key(field) || self.constants.contains_key(field)
    }
}

/// Warehouse versions kept by default: the current one and two before it,
/// so a bad night's data can be rolled back (README, "Running it every night").
pub const DEFAULT_KEEP_VERSIONS: usize = 3;

/// A checked pipeline, with paths resolved against the pipeline file's folder.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub name: String,
    pub title: String,
    pub audience: String,
    /// Who to contact about the pack (its cover sheet says).
    pub contact: Option<String>,
    pub warehouse: PathBuf,
    pub reports: PathBuf,
    pub privacy: Privacy,
    pub settings: Settings,
    /// Unit costs at the price base (as given when none is set).
    pub unit_costs: UnitCosts,
    /// The unit costs as the pack lists them: source, price year, amounts.
    pub unit_cost_lines: Vec<UnitCostLine>,
    pub cost_lines: Vec<CostLine>,
    pub labels: Labels,
    /// The contract the service is delivered under (optional).
    pub contract: Option<Contract>,
    /// The target population file (columns dimension, group, population), if any.
    pub target_population: Option<PathBuf>,
    /// Matched comparison group settings.
    pub matching: Matching,
    /// Declared provider codes → display names.
    pub providers: std::collections::BTreeMap<String, String>,
    pub sources: Vec<Source>,
    /// SHA-256 of the pipeline file's bytes.
    pub sha256: String,
}

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

/// Parses and checks pipeline text (`path` is used for messages and to resolve paths).
pub fn parse(path: &Path, text: &str, bytes: &[u8]) -> Result<Pipeline, PipelineError> {
    let err = |line: Option<usize>, message: String| PipelineError {
        path: path.to_path_buf(),
        line,
        message,
    };
    let raw: RawPipeline = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        err(line, e.message().trim().to_string())
    })?;
    let at = |span: std::ops::Range<usize>| Some(line_of(text, span.start));

    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = raw.name.get_ref().clone();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(err(
            at(raw.name.span()),
            format!("name \"{name}\" must be letters, digits, `-` or `_` (it names the warehouse and reports)"),
        ));
    }
    if raw.privacy.key_env.is_none() && raw.privacy.key_file.is_none() {
        return Err(err(
            None,
            "[privacy] needs key_env (an environment variable) or key_file holding the HMAC key for NHS numbers".into(),
        ));
    }

    let date =
        |v: &Option<Spanned<String>>, key: &str| -> Result<Option<NaiveDate>, PipelineError> {
            match v {
                None => Ok(None),
                Some(s) => NaiveDate::parse_from_str(s.get_ref(), "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| {
                        err(
                            at(s.span()),
                            format!(
                                "settings.{key}: \"{}\" is not a date (expected yyyy-mm-dd)",
                                s.get_ref()
                            ),
                        )
                    }),
            }
        };
    let rs = &raw.settings;
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
    if !(0.0..=1.0).contains(&settings.min_linkage) {
        return Err(err(
            None,
            "settings.min_linkage is a fraction from 0 to 1 (0.5 means 50%)".into(),
        ));
    }
    if !(1..=12).contains(&settings.financial_year_start_month) {
        return Err(err(
            None,
            "settings.financial_year_start_month must be 1 to 12".into(),
        ));
    }
    if !(1..=6).contains(&settings.completion_threshold) {
        return Err(err(
            None,
            "settings.completion_threshold must be 1 to 6 sessions".into(),
        ));
    }
    if !(0.0..=1.0).contains(&settings.max_reject_rate) {
        return Err(err(
            None,
            "settings.max_reject_rate is a fraction from 0 to 1 (0.2 means 20%)".into(),
        ));
    }
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

    if raw.sources.is_empty() {
        return Err(err(None, "the pipeline declares no [[sources]]".into()));
    }
    let mut sources = Vec::new();
    for spanned in &raw.sources {
        let src_line = at(spanned.span());
        let s = spanned.get_ref();
        let serr = |line: Option<usize>, m: String| {
            err(line.or(src_line), format!("source `{}`: {m}", s.name))
        };
        if sources.iter().any(|o: &Source| o.name == s.name) {
            return Err(serr(None, "two sources have this name".into()));
        }
        if s.files.is_empty() {
            return Err(serr(
                None,
                "files is empty: give at least one file or glob".into(),
            ));
        }
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
        let (date_format, date_format_label) = date_formats[0].clone();
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
        let delimiter = match &s.delimiter {
            None => b',',
            Some(d) => {
                let v = d.get_ref();
                let b = match v.as_str() {
                    "\\t" | "\t" | "tab" => b'\t',
                    x if x.len() == 1 && x.is_ascii() => x.as_bytes()[0],
                    _ => {
                        return Err(serr(
                            at(d.span()),
                            format!("delimiter \"{v}\" must be one character (or \"tab\")"),
                        ))
                    }
                };
                b
            }
        };
        if s.format == Format::Xlsx && s.delimiter.is_some() {
            return Err(serr(
                s.delimiter.as_ref().and_then(|d| at(d.span())),
                "delimiter is for CSV sources; this source is xlsx".into(),
            ));
        }
        let columns = &s.columns;
        let mut values: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (field, entry) in &s.values {
            let map = match entry {
                ValuesEntry::Inline(m) => m.clone(),
                ValuesEntry::Named(name) => match raw.value_maps.get(name) {
                    Some(m) => m.clone(),
                    None => value_maps::builtin(name).ok_or_else(|| {
                        let mut names: Vec<String> = raw.value_maps.keys().cloned().collect();
                        names.extend(value_maps::BUILTIN.iter().map(|n| n.to_string()));
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
            let map = value_maps::normalised(&map)
                .map_err(|m| serr(None, format!("values.{field}: {m}")))?;
            values.insert(field.clone(), map);
        }
        let values = &values;
        // The line of `needle` inside this source's table, for messages.
        let key_line = |needle: &str| -> Option<usize> {
            // The source's table runs from its header to the next `[[` (or the end).
            let start = spanned.span().start;
            let rest = text.get(start..)?;
            let end = rest[2..].find("[[").map(|i| i + 2).unwrap_or(rest.len());
            rest[..end].find(needle).map(|i| line_of(text, start + i))
        };
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
        let mut field_date_formats = BTreeMap::new();
        for (key, list) in &s.field_date_formats {
            let line = key_line(&format!("{key} ="));
            if !fields
                .iter()
                .any(|(n, t)| n == key && *t == schema::FieldType::Date)
            {
                return Err(serr(
                    line,
                    format!("field_date_formats.{key}: `{key}` is not a date field of this kind of source"),
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
        if let Some(missing) = required_missing(&source).first() {
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
        }
        sources.push(source);
    }

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

/// Required canonical fields the source does not map (SPEC 1.1–1.3).
fn required_missing(s: &Source) -> Vec<String> {
    use schema::*;
    let mut req: Vec<&str> = match s.kind {
        SourceKind::ProviderReturns => vec![
            PROVIDER_ID,
            COURSE_ID,
            PROGRAMME,
            PERSON_ID,
            REFERRAL_DATE,
            COURSE_START_DATE,
        ],
        SourceKind::Hospital => vec![PERSON_ID, SETTING, EVENT_DATE],
        SourceKind::Pam => vec![PERSON_ID, ASSESSMENT_DATE, SCORE],
    };
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

impl Pipeline {
    /// The HMAC key for NHS numbers: the environment variable, else the key
    /// file. A real key has at least `MIN_KEY_BYTES` bytes; the public demo
    /// key is accepted only by a pipeline that says `demo = true`.
    pub fn hmac_key(&self) -> Result<Vec<u8>, PipelineError> {
        let err = |m: String| PipelineError {
            path: self.path.clone(),
            line: None,
            message: m,
        };
        let how = "make one with `openssl rand -hex 32 > smpeval.key` (then `chmod 600 smpeval.key`) and name it in [privacy] key_file, or put it in the environment variable";
        let (key, from) = self.raw_key().map_err(|m| err(format!("{m}: {how}")))?;
        let is_demo = key.trim() == DEMO_KEY.trim();
        if is_demo && !self.privacy.demo {
            return Err(err(format!(
                "{from} holds the public demo key, which anyone can use to reverse the pseudonyms; it is only for synthetic data in a pipeline with `demo = true` under [privacy]. For real data {how}"
            )));
        }
        if !self.privacy.demo && key.trim().len() < MIN_KEY_BYTES {
            return Err(err(format!(
                "the HMAC key from {from} is {} bytes; a key needs at least {MIN_KEY_BYTES}: {how}",
                key.trim().len()
            )));
        }
        Ok(key.trim().as_bytes().to_vec())
    }

    /// The key's text and where it came from, or why there is none.
    fn raw_key(&self) -> Result<(String, String), String> {
        if let Some(var) = &self.privacy.key_env {
            if let Ok(v) = std::env::var(var) {
                if v.trim().is_empty() {
                    return Err(format!(
                        "environment variable {var} (the HMAC key) is empty"
                    ));
                }
                return Ok((v, format!("environment variable {var}")));
            }
        }
        if let Some(file) = &self.privacy.key_file {
            let p = self.dir.join(file);
            let v = std::fs::read_to_string(&p)
                .map_err(|e| format!("cannot read the HMAC key file {}: {e}", p.display()))?;
            if v.trim().is_empty() {
                return Err(format!("the HMAC key file {} is empty", p.display()));
            }
            return Ok((v, format!("key file {}", p.display())));
        }
        Err(format!(
            "no HMAC key for NHS numbers: the environment variable {} is not set",
            self.privacy
                .key_env
                .as_deref()
                .unwrap_or("named by [privacy] key_env")
        ))
    }

    /// The name a provider code is shown under.
    pub fn provider_name(&self, code: &str) -> String {
        self.providers
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_string())
    }

    /// Provider codes the pipeline declares: `[providers]`, the sources'
    /// `provider_id` constants and the cost lines' providers.
    pub fn declared_providers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.providers.keys().cloned().collect();
        v.extend(
            self.sources
                .iter()
                .filter_map(|s| s.constants.get(crate::schema::PROVIDER_ID).cloned()),
        );
        v.extend(self.cost_lines.iter().filter_map(|l| l.provider.clone()));
        v.sort();
        v.dedup();
        v
    }
}

/// The smallest HMAC key accepted for real data (256 bits).
pub const MIN_KEY_BYTES: usize = 32;
/// The public demo key shipped with the sample data.
pub const DEMO_KEY: &str = include_str!("../../sample_data/demo-hmac.key");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_and_strftime_date_formats() {
        assert_eq!(parse_date_format("dd/mm/yyyy").unwrap(), "%d/%m/%Y");
        assert_eq!(parse_date_format("%Y%m%d").unwrap(), "%Y%m%d");
        let e = parse_date_format("mm/yy").unwrap_err();
        assert!(e.contains("not a date format"), "{e}");
        assert!(parse_date_format("%H:%M").is_err());
    }
}
