//! The pipeline reference (`docs/pipeline.md`, written by `smpeval
//! pipeline-docs`). Every key's type, default and example is listed here; a
//! test compares the keys with the ones the pipeline's serde structs accept
//! (read from the derive itself), and the canonical fields come from
//! `schema`, so the reference cannot drift from the code.

use std::fmt::Write as _;

use super::SourceKind;
use crate::schema::{self, FieldType};

/// One documented key.
pub struct KeyDoc {
    /// The TOML table it sits in ("" for the top level).
    pub table: &'static str,
    pub key: &'static str,
    pub kind: &'static str,
    pub default: &'static str,
    pub example: &'static str,
    pub meaning: &'static str,
}

const fn k(
    table: &'static str,
    key: &'static str,
    kind: &'static str,
    default: &'static str,
    example: &'static str,
    meaning: &'static str,
) -> KeyDoc {
    KeyDoc {
        table,
        key,
        kind,
        default,
        example,
        meaning,
    }
}

/// Every key a pipeline file may hold.
pub const KEYS: &[KeyDoc] = &[
    k("", "name", "string", "required", r#"name = "acme""#, "The pipeline's name: names the warehouse folder and the run ids."),
    k("", "title", "string", "\"Self-management programme evaluation: <name>\"", r#"title = "SMP evaluation 2022–25""#, "The pack's title."),
    k("", "audience", "string", "\"Commissioners\"", r#"audience = "ICB board""#, "Who the pack is for (shown on its cover)."),
    k("", "contact", "string", "none", r#"contact = "Public health intelligence, phi@example.nhs.uk""#, "Who to contact about the pack: on the workbook's cover sheet."),
    k("", "warehouse", "path", "\"../warehouse/<name>\"", r#"warehouse = "../warehouse/acme""#, "The Parquet warehouse folder, relative to the pipeline file."),
    k("", "reports", "path", "\"../reports\"", r#"reports = "../reports""#, "Where packs are written (`<reports>/<run-id>/`, `latest`)."),
    k("", "privacy", "table", "required", "[privacy]", "The key for NHS numbers (below)."),
    k("", "settings", "table", "all defaults", "[settings]", "Evaluation settings (below)."),
    k("", "unit_costs", "table", "the published unit costs", "[unit_costs]", "Unit costs for the value of hospital activity avoided (below)."),
    k("", "cost_lines", "array of tables", "none", "[[cost_lines]]", "The programme's costs (below)."),
    k("", "labels", "table", "none", "[labels]", "Extra group labels the pack may show (below)."),
    k("", "providers", "table: code = name", "none", r#"[providers] NTH = "Northside Wellbeing""#, "Provider codes and the names the pack shows; a code not declared anywhere is shown as \"Other\"."),
    k("", "value_maps", "table of tables", "none (built in: `ethnicity`)", r#"[value_maps.sex] F = "female""#, "Named value maps that sources use by name (`[sources.values] sex = \"sex\"`); keys match after trimming and ignoring case."),
    k("", "sources", "array of tables", "required (at least one)", "[[sources]]", "The input files (below)."),
    k("", "target_population", "path (CSV)", "none", r#"target_population = "ltc_register.csv""#, "The population the service is for, by `dimension`, `group`, `population`: the pack shows reach and representation ratios. Its labels are published: a dimension must be one of the equity tables' (`imd_quintile`, `ethnicity_group`, `sex`, …), a group one of that table's declared groups, given once; anything else is refused at its line."),
    k("", "contract", "table", "none", "[contract]", "What the service was bought to deliver (below): the pack's contract view."),
    k("", "matching", "table", "on when the comparison group has at least 30 eligible people", "[matching]", "The matched comparison group (below)."),
    k("privacy", "key_env", "string", "none", r#"key_env = "SMPEVAL_HMAC_KEY""#, "Environment variable holding the HMAC key (at least 32 bytes); wins over `key_file`."),
    k("privacy", "key_file", "path", "none", r#"key_file = "/etc/smpeval/key""#, "File holding the key, when the variable is not set. Make one with `openssl rand -hex 32`."),
    k("privacy", "demo", "bool", "false", "demo = true", "Allows the public demo key (synthetic data only); every page then says DEMONSTRATION."),
    k("settings", "evaluation_start", "date (yyyy-mm-dd)", "the first activity date", r#"evaluation_start = "2022-04-01""#, "First day of the evaluation period."),
    k("settings", "evaluation_end", "date (yyyy-mm-dd)", "the last activity date", r#"evaluation_end = "2025-03-31""#, "Last day of the evaluation period; not before `evaluation_start`."),
    k("settings", "financial_year_start_month", "integer 1–12", "4", "financial_year_start_month = 4", "Month the financial year starts (April)."),
    k("settings", "completion_threshold", "integer 1–6", "4", "completion_threshold = 4", "Sessions (of 6) that make a completer (SMRC definition: 4)."),
    k("settings", "outcome_window_days", "integer", "365", "outcome_window_days = 365", "Length of the hospital pre and post windows."),
    k("settings", "pam_pre_days_before", "integer", "90", "pam_pre_days_before = 90", "PAM baseline window: days before the index date."),
    k("settings", "pam_pre_days_after", "integer", "7", "pam_pre_days_after = 7", "PAM baseline window: days after the index date."),
    k("settings", "pam_post_days_from", "integer", "35", "pam_post_days_from = 35", "PAM follow-up window: first day after the index date."),
    k("settings", "pam_post_days_to", "integer", "365", "pam_post_days_to = 365", "PAM follow-up window: last day after the index date."),
    k("settings", "pam_level4_cut", "number", "67.0", "pam_level4_cut = 72.4", "PAM score above which a person is at level 4."),
    k("settings", "hospital_coverage_start", "date (yyyy-mm-dd)", "the first event date (stated in the pack)", r#"hospital_coverage_start = "2020-04-01""#, "First day the hospital extract covers."),
    k("settings", "hospital_coverage_end", "date (yyyy-mm-dd)", "the last event date (stated in the pack)", r#"hospital_coverage_end = "2025-09-30""#, "Last day the hospital extract covers; not before the start."),
    k("settings", "max_reject_rate", "fraction 0–1", "0.2", "max_reject_rate = 0.1", "A file with a larger share of rejected rows fails validate and run."),
    k("settings", "disclosure", "\"published\" or \"internal\"", "\"published\"", r#"disclosure = "internal""#, "Published packs are disclosure-controlled; internal ones show exact figures."),
    k("settings", "apportion", "\"starters\", \"completers\" or \"courses\"", "\"starters\"", r#"apportion = "courses""#, "How per-year and one-off cost lines naming no provider are shared among providers."),
    k("settings", "data_as_at", "date (yyyy-mm-dd)", "the latest date in the returns", r#"data_as_at = "2025-03-31""#, "The date the returns are complete to; later courses are in progress."),
    k("settings", "price_base", "a financial year \"2024/25\" or a calendar year \"2024\"", "none (amounts as given)", r#"price_base = "2024/25""#, "Uplift every amount (cost lines and unit costs) to this year's prices with the ONS GDP deflator; every amount then needs a price year."),
    k("settings", "duplicates", "\"latest\", \"first\" or \"reject\"", "\"latest\"", r#"duplicates = "first""#, "Which row counts when the same referral (person, provider, course) is in two files; the others are set aside (counted per file as superseded in the data-quality table, not as rejects)."),
    k("settings", "keep_versions", "integer ≥ 1", "3", "keep_versions = 5", "Warehouse versions kept after a commit, the current one included."),
    k("settings", "keep_packs", "integer ≥ 1", "all", "keep_packs = 30", "Packs kept per pipeline after a new one is written."),
    k("contract", "courses_per_year", "number", "none", "courses_per_year = 20", "Courses a year the contract pays for."),
    k("contract", "completions_per_year", "number", "none", "completions_per_year = 120", "Completions a year the contract pays for."),
    k("contract", "payment_basis", "string", "none", r#"payment_basis = "completions""#, "What the provider is paid on."),
    k("contract", "licence_courses", "number", "none", "licence_courses = 60", "Courses the programme licence allows over its term."),
    k("contract", "licence_years", "number", "3", "licence_years = 3", "The licence's term in years."),
    k("contract", "providers", "table per provider code", "none", r#"[contract.providers.NTH] fidelity_check = "2024-06-12""#, "Each provider's last `fidelity_check` (due yearly) and `ss2q` assessment (due every three years), yyyy-mm-dd."),
    k("matching", "enabled", "bool", "true when the comparison group has ≥ 30 eligible people", "enabled = false", "Run coarsened exact matching of starters to the comparison group."),
    k("matching", "strata", "list of strings", r#"["age_band", "sex", "imd_quintile", "prior_emergency", "prior_ae"]"#, r#"strata = ["sex", "imd_quintile", "prior_emergency"]"#, "Covariates matched on: age_band, sex, imd_quintile, ethnic_group, ltc_band, referral_source, programme, prior_emergency, prior_ae, prior_outpatient."),
    k("settings", "min_linkage", "fraction 0–1", "0.5", "min_linkage = 0.3", "Below this share of the returns' people found in the hospital data, validate, the log and the pack warn."),
    k("unit_costs", "ae_attendance", "money (£)", "280", "ae_attendance = 280.0", "A&E attendance (National Cost Collection 2024/25, all department types)."),
    k("unit_costs", "non_elective_spell", "money (£)", "2711", "non_elective_spell = 2711.0", "Emergency admission (National Cost Collection 2024/25, non-elective, all spells)."),
    k("unit_costs", "outpatient_attendance", "money (£)", "177", "outpatient_attendance = 177.0", "Outpatient attendance (National Cost Collection 2023/24, all consultant-led)."),
    k("unit_costs", "excess_bed_day", "money (£)", "313", "excess_bed_day = 313.0", "Excess bed day (Reference Costs 2016/17); reported, not priced."),
    k("unit_costs", "ae_attendance_price_year", "price year", "2024/25 for the default", r#"ae_attendance_price_year = "2025/26""#, "The price year of an A&E cost you set."),
    k("unit_costs", "non_elective_spell_price_year", "price year", "2024/25 for the default", r#"non_elective_spell_price_year = "2025/26""#, "The price year of an emergency admission cost you set."),
    k("unit_costs", "outpatient_attendance_price_year", "price year", "2023/24 for the default", r#"outpatient_attendance_price_year = "2024/25""#, "The price year of an outpatient cost you set."),
    k("unit_costs", "excess_bed_day_price_year", "price year", "2016/17 for the default", r#"excess_bed_day_price_year = "2024/25""#, "The price year of an excess bed day cost you set."),
    k("cost_lines", "item", "string", "required", r#"item = "Coordinator (0.5 WTE)""#, "What the cost is."),
    k("cost_lines", "amount", "money (£)", "required", "amount = 26000.0", "The cost per basis unit."),
    k("cost_lines", "basis", "\"per_year\", \"one_off\", \"per_course\", \"per_starter\", \"per_completer\" or \"contract\"", "required", r#"basis = "per_year""#, "What the amount is per; \"contract\" is a provider's contract value a year (give provider)."),
    k("cost_lines", "years", "number > 0", "required for one_off", "years = 3.0", "The life of a one-off cost, in years."),
    k("cost_lines", "provider", "provider code", "none (shared)", r#"provider = "NTH""#, "The provider the cost belongs to."),
    k("cost_lines", "price_year", "a financial year \"2018/19\" or a calendar year \"2018\"", "none (required with price_base)", r#"price_year = "2018""#, "The year the amount's price is from."),
    k("labels", "course_language", "list of strings", "[\"English\"]", r#"course_language = ["English", "Urdu"]"#, "Course languages the pack may show."),
    k("labels", "age_band", "list of strings", "the standard bands", r#"age_band = ["18-49"]"#, "Age bands a provider may send, besides the standard ones."),
    k("sources", "name", "string", "required", r#"name = "northside""#, "The source's name (unique)."),
    k("sources", "kind", "\"provider_returns\", \"hospital\" or \"pam\"", "required", r#"kind = "provider_returns""#, "What the files hold."),
    k("sources", "files", "list of globs", "required", r#"files = ["../data/northside_*.csv"]"#, "The files, relative to the pipeline file; a source matching none is an error."),
    k("sources", "format", "\"csv\" or \"xlsx\"", "\"csv\"", r#"format = "xlsx""#, "File format."),
    k("sources", "delimiter", "one character or \"tab\"", "\",\"", r#"delimiter = ";""#, "CSV field separator."),
    k("sources", "encoding", "\"utf-8\" or \"windows-1252\"", "\"utf-8\"", r#"encoding = "windows-1252""#, "CSV text encoding (Excel's \"CSV\" is Windows-1252)."),
    k("sources", "bom", "bool", "none", "bom = true", "Declares a byte-order mark; one is always dropped anyway."),
    k("sources", "date_format", "format", "\"yyyy-mm-dd\"", r#"date_format = "dd/mm/yyyy""#, "dd/mm/yyyy, mm/dd/yyyy, yyyy-mm-dd, dd-mm-yyyy, dd.mm.yyyy, yyyy/mm/dd, yyyymmdd or a strftime format."),
    k("sources", "date_formats", "list of formats", "none", r#"date_formats = ["dd/mm/yyyy", "yyyy-mm-dd"]"#, "Instead of date_format: tried in order; a value two formats read as different dates is rejected as ambiguous."),
    k("sources", "field_date_formats", "table: date field = list of formats", "the source's formats", r#"[sources.field_date_formats] referral_date = ["yyyy-mm-dd"]"#, "A date field's own formats, where one column is written differently from the others."),
    k("sources", "skip_rows", "integer", "0", "skip_rows = 2", "Title lines above the header (header_row = skip_rows + 1)."),
    k("sources", "header_row", "integer ≥ 1", "1", "header_row = 3", "The header's line (CSV) or sheet row (XLSX); reject lines stay the file's own."),
    k("sources", "id_kind", "\"nhs_number\" or \"pseudonym\"", "\"nhs_number\"", r#"id_kind = "pseudonym""#, "NHS numbers are checked (Modulus 11) and hashed; pseudonyms pass through (a valid NHS number is rejected)."),
    k("sources", "sheet", "string", "the first sheet", r#"sheet = "Referrals""#, "XLSX sheet to read."),
    k("sources", "columns", "table: field = header", "required", r#"[sources.columns] person_id = "NHS Number""#, "Canonical field = the file's header (matched ignoring case). Fields below."),
    k("sources", "constants", "table: field = value", "none", r#"[sources.constants] provider_id = "NTH""#, "A value for every row, for a field the file does not hold."),
    k("sources", "values", "table: field = map, or field = map name", "none", r#"[sources.values.sex] F = "female""#, "The file's codes → canonical values, inline or by name (`sex = \"sex\"`, `ethnicity = \"ethnicity\"`); matched after trimming and ignoring case."),
    k("sources", "on_invalid", "table: field = \"null\" or \"reject\"", "required fields reject, others \"null\"", r#"[sources.on_invalid] imd_decile = "reject""#, "What an invalid value does: reject the row, or leave the value blank and keep the row with a warning."),
    k("sources", "spell_key", "list of fields", "none", r#"spell_key = ["person_id", "event_date"]"#, "Hospital APC only: fields that identify a spell, `person_id` among them; its episodes fold into one row."),
    k("sources", "lsoa_lookup", "table", "none", "[sources.lsoa_lookup]", "For returns that send lsoa_code: a CSV turning LSOA codes into IMD deciles (below)."),
    k("sources.lsoa_lookup", "file", "path", "required", r#"file = "../data/imd2019.csv""#, "The lookup CSV, relative to the pipeline file."),
    k("sources.lsoa_lookup", "code_column", "string", "required", r#"code_column = "LSOA code (2011)""#, "Its LSOA code column."),
    k("sources.lsoa_lookup", "decile_column", "string", "required", r#"decile_column = "IMD Decile""#, "Its IMD decile column."),
];

fn type_words(t: FieldType) -> String {
    match t {
        FieldType::Text => "text".into(),
        FieldType::Id => "person id (NHS number or pseudonym, per id_kind)".into(),
        FieldType::Date => "date (in the source's date format)".into(),
        FieldType::Enum(v) | FieldType::Code(v) => format!("one of {}", v.join(", ")),
        FieldType::Int { min, max } => format!("whole number {min}–{max}"),
        FieldType::Float { min, max } => format!("number {min}–{max}"),
        FieldType::Flag => "0 or 1".into(),
        FieldType::Postcode => "UK postcode (checked, never stored)".into(),
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('<', "&lt;")
}

/// `docs/pipeline.md`.
pub fn markdown() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Pipeline reference\n");
    let _ = writeln!(out, "Written by `smpeval pipeline-docs` from the code's own key list (`src/pipeline/docs.rs`, checked against the pipeline parser by a test) and field list (`src/schema.rs`). Paths are relative to the pipeline file. `smpeval init` writes a starter pipeline; `smpeval validate` checks one.\n");
    let tables: &[(&str, &str)] = &[
        ("", "Top level"),
        ("privacy", "`[privacy]`"),
        ("settings", "`[settings]`"),
        ("unit_costs", "`[unit_costs]`"),
        ("cost_lines", "`[[cost_lines]]`"),
        ("labels", "`[labels]`"),
        ("contract", "`[contract]`"),
        ("matching", "`[matching]`"),
        ("sources", "`[[sources]]`"),
        ("sources.lsoa_lookup", "`[sources.lsoa_lookup]`"),
    ];
    for (table, title) in tables {
        let _ = writeln!(out, "## {title}\n");
        let _ = writeln!(out, "| key | type | default | example | meaning |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for d in KEYS.iter().filter(|d| d.table == *table) {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | `{}` | {} |",
                d.key,
                cell(d.kind),
                cell(d.default),
                cell(d.example),
                cell(d.meaning)
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Canonical fields\n");
    let _ = writeln!(out, "The names used under `[sources.columns]`, `[sources.constants]`, `[sources.values]` and `[sources.on_invalid]`. A required field must be mapped; an empty or invalid value in it rejects the row. An invalid value in any other field is left blank and the row kept, with a warning.\n");
    for kind in [
        SourceKind::ProviderReturns,
        SourceKind::Hospital,
        SourceKind::Pam,
    ] {
        let _ = writeln!(out, "### `kind = \"{}\"`\n", kind.name());
        let _ = writeln!(out, "| field | type | value required |");
        let _ = writeln!(out, "|---|---|---|");
        let required = schema::required_values(kind);
        for (f, t) in kind.fields() {
            let _ = writeln!(
                out,
                "| `{f}` | {} | {} |",
                cell(&type_words(t)),
                if required.contains(&f) { "yes" } else { "no" }
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Mappings a source must give (a column or a constant): provider returns — `provider_id`, `course_id`, `programme`, `person_id`, `referral_date`, `course_start_date`, `sessions_attended` or all of `session_1`…`session_6`, and `age_band` or `year_of_birth`; hospital — `person_id`, `setting`, `event_date` (for `apc` also `discharge_date`, `admission_method`; for `op` `attendance_status`); PAM — `person_id`, `assessment_date`, `score`.");
    out
}

/// The field names a serde-derived struct accepts, read from the derive.
#[cfg(test)]
pub(crate) fn serde_fields<'de, T: serde::Deserialize<'de>>() -> Vec<&'static str> {
    use serde::de::{self, Visitor};
    struct Recorder<'a>(&'a mut Vec<&'static str>);
    impl<'de> de::Deserializer<'de> for Recorder<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.extend_from_slice(fields);
            Err(de::Error::custom("recorded"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields = Vec::new();
    let _ = T::deserialize(Recorder(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    fn documented(table: &str) -> Vec<&'static str> {
        let mut v: Vec<&str> = KEYS
            .iter()
            .filter(|d| d.table == table)
            .map(|d| d.key)
            .collect();
        v.sort();
        v
    }

    fn accepted<'de, T: serde::Deserialize<'de>>() -> Vec<&'static str> {
        let mut v = serde_fields::<T>();
        v.sort();
        v
    }

    #[test]
    fn every_key_the_parser_accepts_is_documented_and_no_other() {
        assert_eq!(documented(""), accepted::<RawPipeline>());
        assert_eq!(documented("privacy"), accepted::<Privacy>());
        assert_eq!(documented("settings"), accepted::<RawSettings>());
        assert_eq!(documented("unit_costs"), accepted::<UnitCosts>());
        assert_eq!(documented("cost_lines"), accepted::<CostLine>());
        assert_eq!(documented("labels"), accepted::<Labels>());
        assert_eq!(documented("contract"), accepted::<super::super::Contract>());
        assert_eq!(documented("matching"), accepted::<super::super::Matching>());
        assert_eq!(documented("sources"), accepted::<RawSource>());
        assert_eq!(documented("sources.lsoa_lookup"), accepted::<LsoaLookup>());
    }

    #[test]
    fn the_committed_reference_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/pipeline.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == markdown(),
            "docs/pipeline.md is out of date: run `smpeval pipeline-docs`"
        );
    }
}
