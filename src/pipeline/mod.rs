//! The pipeline file (`pipelines/*.toml`): sources, mappings and settings.
//!
//! A pipeline is read and checked in full before any work: an unknown key, a
//! missing mapping for a required field or a date format that cannot be used
//! is refused with the file, the line and the key.
//!
//! This file is the schema: the types a pipeline reads into and their
//! defaults. `parse` reads the TOML into them, one table at a time;
//! `validate` holds the checks that need more than one key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

pub mod docs;
mod parse;
pub mod prices;
mod validate;
pub mod value_maps;

use crate::error::PipelineError;
use crate::schema::{self, FieldType};
pub use parse::{load, parse, parse_date_format};

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
    /// First day of the evaluation period; None: the first activity date
    /// (the pack notes it).
    pub evaluation_start: Option<NaiveDate>,
    /// Last day of the evaluation period; None: the last activity date.
    pub evaluation_end: Option<NaiveDate>,
    /// The month (1–12) financial years start in (default 4, April).
    pub financial_year_start_month: u32,
    /// Sessions (of 6) that make a completer; SMRC definition: 4.
    pub completion_threshold: u32,
    /// Days in each of the hospital pre and post windows around a person's
    /// index date (default 365).
    pub outcome_window_days: i64,
    /// PAM baseline window: from this many days before the index date
    /// (default 90)...
    pub pam_pre_days_before: i64,
    /// ...to this many days after it (default 7); the latest score counts.
    pub pam_pre_days_after: i64,
    /// PAM follow-up window: from this many days after the index date
    /// (default 35)...
    pub pam_post_days_from: i64,
    /// ...to this many (default 365); the earliest score counts.
    pub pam_post_days_to: i64,
    /// A PAM score above this is level 4 (default 67.0, Hibbard's cut).
    pub pam_level4_cut: f64,
    /// First day the hospital extract covers; None: its first event date
    /// (the pack notes it).
    pub hospital_coverage_start: Option<NaiveDate>,
    /// Last day the hospital extract covers; None: its last event date.
    pub hospital_coverage_end: Option<NaiveDate>,
    /// A file whose share of rejected rows exceeds this fails the run.
    pub max_reject_rate: f64,
    /// `internal` makes every pack of the pipeline internal (exact figures);
    /// the default, `published`, leaves it to `--internal`.
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
    /// The price year of `ae_attendance` as written ("2024/25" or "2024");
    /// None: 2024/25 for the default amount, unknown for one you set (then
    /// refused with a `price_base`).
    pub ae_attendance_price_year: Option<String>,
    /// The price year of `non_elective_spell`; None: 2024/25 for the default.
    pub non_elective_spell_price_year: Option<String>,
    /// The price year of `outpatient_attendance`; None: 2023/24 for the default.
    pub outpatient_attendance_price_year: Option<String>,
    /// The price year of `excess_bed_day`; None: 2016/17 for the default.
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

/// One unit cost's (outcome, amount, default amount, default source, default
/// price year, the price year set in the pipeline).
type UnitCostItem<'a> = (
    &'static str,
    f64,
    f64,
    &'static str,
    &'static str,
    &'a Option<String>,
);

impl UnitCosts {
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
    /// The pipeline file, as given (not made absolute).
    pub path: PathBuf,
    /// Its folder, which relative paths in it are resolved against.
    pub dir: PathBuf,
    /// The pipeline's `name`: it names the warehouse and pack folders.
    pub name: String,
    /// The pack's title (default "Self-management programme evaluation: <name>").
    pub title: String,
    /// Who the pack is for, shown under its title (default "Commissioners").
    pub audience: String,
    /// Who to contact about the pack (its cover sheet says).
    pub contact: Option<String>,
    /// The warehouse folder (default `../warehouse/<name>` from the pipeline's folder).
    pub warehouse: PathBuf,
    /// The folder packs are written under, as `<reports>/<name>/<run id>`
    /// (default `../reports`).
    pub reports: PathBuf,
    /// Where the HMAC key for NHS numbers comes from.
    pub privacy: Privacy,
    /// `[settings]`, with defaults filled in.
    pub settings: Settings,
    /// Unit costs at the price base (as given when none is set).
    pub unit_costs: UnitCosts,
    /// The unit costs as the pack lists them: source, price year, amounts.
    pub unit_cost_lines: Vec<UnitCostLine>,
    /// The service's costs (`[[cost_lines]]`), each checked, with its uplift
    /// to the price base.
    pub cost_lines: Vec<CostLine>,
    /// Declared group labels (course languages, extra age bands).
    pub labels: Labels,
    /// The contract the service is delivered under (optional).
    pub contract: Option<Contract>,
    /// The target population file (columns dimension, group, population), if any.
    pub target_population: Option<PathBuf>,
    /// Matched comparison group settings.
    pub matching: Matching,
    /// Declared provider codes → display names.
    pub providers: std::collections::BTreeMap<String, String>,
    /// The `[[sources]]`, in the order declared (which decides `duplicates = "latest"`).
    pub sources: Vec<Source>,
    /// SHA-256 of the pipeline file's bytes.
    pub sha256: String,
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
        // `demo = true` allows the public key, not a short one.
        if !is_demo && key.trim().len() < MIN_KEY_BYTES {
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
pub(crate) mod tests {
    use super::*;
    use std::path::Path;

    /// A minimal valid pipeline for unit tests, with extra `[settings]` lines.
    pub(crate) fn minimal(settings: &str) -> Pipeline {
        let text = minimal_text(settings, "date_format = \"dd/mm/yyyy\"", "");
        parse(Path::new("/nowhere/t.toml"), &text, text.as_bytes()).expect("a valid pipeline")
    }

    /// The minimal pipeline's text with `settings` added to its settings,
    /// `source` to its source's keys and `columns` to its columns.
    pub(crate) fn minimal_text(settings: &str, source: &str, columns: &str) -> String {
        format!(
            r#"name = "t"
[privacy]
key_env = "SMPEVAL_TEST_KEY_UNUSED"
[settings]
{settings}
[[sources]]
name = "a"
kind = "provider_returns"
files = ["a.csv"]
{source}
[sources.constants]
provider_id = "A"
age_band = "50-64"
[sources.columns]
person_id = "NHS"
course_id = "C"
programme = "P"
course_start_date = "S"
referral_date = "R"
sessions_attended = "N"
{columns}
"#
        )
    }

    #[test]
    fn a_price_base_uplifts_the_unit_costs() {
        let p = minimal("price_base = \"2024/25\"");
        // Default unit costs: outpatients 177 at 2023/24 → 177 × 112.375 / 107.975.
        assert!((p.unit_costs.outpatient_attendance - 177.0 * 112.375 / 107.975).abs() < 1e-9);
        assert_eq!(p.unit_costs.ae_attendance, 280.0);
        let p = minimal("");
        assert_eq!(
            p.unit_costs.outpatient_attendance, 177.0,
            "no base: as given"
        );
    }

    #[test]
    fn friendly_and_strftime_date_formats() {
        assert_eq!(parse_date_format("dd/mm/yyyy").unwrap(), "%d/%m/%Y");
        assert_eq!(parse_date_format("%Y%m%d").unwrap(), "%Y%m%d");
        let e = parse_date_format("mm/yy").unwrap_err();
        assert!(e.contains("not a date format"), "{e}");
        assert!(parse_date_format("%H:%M").is_err());
    }
}
