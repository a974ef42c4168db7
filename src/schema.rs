//! Canonical field names, the enumerations of SPEC 1, and which fields each
//! kind of source must map. Column names are constants here and nowhere else.

/// Bumped whenever a warehouse table changes shape, or the rows an unchanged
/// file gives change; a file ingested under an older version is ingested
/// again. 5: `hospital_events` has `person_key` (unsigned); 6: `person_key`
/// signed; 7: an APC episode with a field of its spell key empty is a spell
/// of its own (they had been folded together).
pub const SCHEMA_VERSION: u32 = 7;

// Provider returns (SPEC 1.1).
pub const PROVIDER_ID: &str = "provider_id";
pub const COURSE_ID: &str = "course_id";
pub const PROGRAMME: &str = "programme";
pub const COURSE_START_DATE: &str = "course_start_date";
pub const COURSE_LANGUAGE: &str = "course_language";
pub const PERSON_ID: &str = "person_id";
pub const REFERRAL_DATE: &str = "referral_date";
pub const REFERRAL_SOURCE: &str = "referral_source";
pub const SESSIONS: [&str; 6] = [
    "session_1",
    "session_2",
    "session_3",
    "session_4",
    "session_5",
    "session_6",
];
pub const SESSIONS_ATTENDED: &str = "sessions_attended";
pub const SEX: &str = "sex";
pub const AGE_BAND: &str = "age_band";
pub const YEAR_OF_BIRTH: &str = "year_of_birth";
pub const ETHNICITY: &str = "ethnicity";
pub const IMD_DECILE: &str = "imd_decile";
pub const LTC_COUNT: &str = "ltc_count";
pub const CONDITIONS: &str = "conditions";
/// Home postcode: checked (UK format) so a provider hears of a typo, never stored.
pub const POSTCODE: &str = "postcode";
/// Resolved to an IMD decile through the pipeline's LSOA lookup; never stored.
pub const LSOA_CODE: &str = "lsoa_code";

// Hospital activity (SPEC 1.2).
pub const SETTING: &str = "setting";
pub const EVENT_DATE: &str = "event_date";
pub const DISCHARGE_DATE: &str = "discharge_date";
pub const DISCHARGE_DATE_STATUS: &str = "discharge_date_status";
pub const ADMISSION_METHOD: &str = "admission_method";
pub const ADMISSION_TYPE: &str = "admission_type";
pub const AE_DEPARTMENT_TYPE: &str = "ae_department_type";
pub const ATTENDANCE_STATUS: &str = "attendance_status";
pub const ATTENDANCE_OUTCOME: &str = "attendance_outcome";
pub const EPISODE_ORDER: &str = "episode_order";
pub const SPELL_ID: &str = "spell_id";
pub const EPISODES: &str = "episodes";
/// A hospital event's person as a number: XXH3-64 of its `person_id`, the
/// 64 bits as a signed integer (the report joins on it instead of the
/// 64-character pseudonym).
pub const PERSON_KEY: &str = "person_key";
pub const YEAR: &str = "year";

// PAM scores (SPEC 1.3).
pub const ASSESSMENT_DATE: &str = "assessment_date";
pub const SCORE: &str = "score";
pub const LEVEL: &str = "level";

// Lineage, on every warehouse row.
pub const SOURCE: &str = "source";
pub const SOURCE_FILE: &str = "source_file";
pub const SOURCE_LINE: &str = "source_line";

pub const PROGRAMMES: &[&str] = &[
    "generic",
    "diabetes",
    "chronic_pain",
    "cancer",
    "carers",
    "workplace",
    "online",
    "other",
];
pub const REFERRAL_SOURCES: &[&str] = &["gp", "social_prescriber", "hospital", "self", "other"];
pub const SEXES: &[&str] = &["female", "male", "other", "unknown"];
pub const SETTINGS: &[&str] = &["ae", "apc", "op"];
/// NHS Data Dictionary ethnic category: A–S without I, O and Q; Z not stated; 99 not known.
pub const ETHNIC_CATEGORIES: &[&str] = &[
    "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "Z", "99",
];

/// NHS Data Dictionary ADMISSION METHOD groups (SPEC 1.2); anything else is `unknown`.
pub const ADMISSION_METHODS: &[(&str, &[&str])] = &[
    ("elective", &["11", "12", "13"]),
    (
        "emergency",
        &["21", "22", "23", "24", "25", "2A", "2B", "2C", "2D", "28"],
    ),
    ("maternity", &["31", "32"]),
    ("other", &["81", "82", "83"]),
];

/// Outpatient ATTENDED codes (SPEC 1.2); anything else is `unknown`.
pub const ATTENDANCE_OUTCOMES: &[(&str, &[&str])] = &[
    ("attended", &["5", "6"]),
    ("did_not_attend", &["2", "3", "7"]),
    ("cancelled_by_provider", &["4"]),
    ("future", &["0"]),
];

/// Every outpatient attendance status code of [`ATTENDANCE_OUTCOMES`]: any
/// other is left blank with a warning (the row then has no outcome).
pub const ATTENDANCE_STATUS_CODES: &[&str] = &["5", "6", "2", "3", "7", "4", "0"];

/// HES sentinel dates: 1800-01-01 means "null date submitted", 1801-01-01
/// "invalid date submitted" (HES Data Dictionary). They are never real dates.
pub const HES_SENTINEL_DATES: &[(&str, &str)] = &[
    ("1800-01-01", "HES sentinel 1800-01-01 (no date submitted)"),
    (
        "1801-01-01",
        "HES sentinel 1801-01-01 (invalid date submitted)",
    ),
];

/// Hibbard PAM level cut-points (SPEC 1.3): level 1 if ≤ 47.0, 2 if ≤ 55.1,
/// 3 if ≤ the 3/4 cut (67.0 by default; a second published set uses 72.4), else 4.
pub const PAM_CUT_1_2: f64 = 47.0;
pub const PAM_CUT_2_3: f64 = 55.1;
pub const PAM_CUT_3_4_DEFAULT: f64 = 67.0;

/// What a field holds, which decides how it is parsed and checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldType {
    Text,
    Id,
    Date,
    /// One of a fixed list of values (after value mapping and lower-casing).
    Enum(&'static [&'static str]),
    /// An enumeration kept in upper case (codes such as ethnicity).
    Code(&'static [&'static str]),
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    /// 0 or 1 (a session of the attendance register).
    Flag,
    /// A UK postcode (checked, never stored).
    Postcode,
}

/// Fields whose empty or invalid value rejects the row: without them the row
/// cannot be counted or linked (SPEC 1.1–1.3). An invalid value of any other
/// field is blanked and counted as a warning, unless the pipeline's
/// `on_invalid` says otherwise.
pub fn required_values(kind: crate::pipeline::SourceKind) -> Vec<&'static str> {
    use crate::pipeline::SourceKind;
    match kind {
        SourceKind::ProviderReturns => {
            let mut v = vec![
                PROVIDER_ID,
                COURSE_ID,
                PROGRAMME,
                PERSON_ID,
                REFERRAL_DATE,
                COURSE_START_DATE,
                SESSIONS_ATTENDED,
            ];
            v.extend(SESSIONS);
            v
        }
        SourceKind::Hospital => vec![PERSON_ID, SETTING, EVENT_DATE],
        SourceKind::Pam => vec![PERSON_ID, ASSESSMENT_DATE, SCORE],
    }
}

/// Every canonical field a provider return may map.
pub fn provider_fields() -> Vec<(&'static str, FieldType)> {
    let mut v = vec![
        (PROVIDER_ID, FieldType::Text),
        (COURSE_ID, FieldType::Text),
        (PROGRAMME, FieldType::Enum(PROGRAMMES)),
        (COURSE_START_DATE, FieldType::Date),
        (COURSE_LANGUAGE, FieldType::Text),
        (PERSON_ID, FieldType::Id),
        (REFERRAL_DATE, FieldType::Date),
        (REFERRAL_SOURCE, FieldType::Enum(REFERRAL_SOURCES)),
    ];
    v.extend(SESSIONS.iter().map(|s| (*s, FieldType::Flag)));
    v.extend([
        (SESSIONS_ATTENDED, FieldType::Int { min: 0, max: 6 }),
        (SEX, FieldType::Enum(SEXES)),
        (AGE_BAND, FieldType::Text),
        (
            YEAR_OF_BIRTH,
            FieldType::Int {
                min: 1900,
                max: 2100,
            },
        ),
        (ETHNICITY, FieldType::Code(ETHNIC_CATEGORIES)),
        (IMD_DECILE, FieldType::Int { min: 1, max: 10 }),
        (LSOA_CODE, FieldType::Text),
        (POSTCODE, FieldType::Postcode),
        (LTC_COUNT, FieldType::Int { min: 0, max: 99 }),
        (CONDITIONS, FieldType::Text),
    ]);
    v
}

pub fn hospital_fields() -> Vec<(&'static str, FieldType)> {
    vec![
        (PERSON_ID, FieldType::Id),
        (SETTING, FieldType::Enum(SETTINGS)),
        (EVENT_DATE, FieldType::Date),
        (DISCHARGE_DATE, FieldType::Date),
        (ADMISSION_METHOD, FieldType::Text),
        (AE_DEPARTMENT_TYPE, FieldType::Text),
        (ATTENDANCE_STATUS, FieldType::Code(ATTENDANCE_STATUS_CODES)),
        (EPISODE_ORDER, FieldType::Int { min: 1, max: 999 }),
        (SPELL_ID, FieldType::Text),
    ]
}

pub fn pam_fields() -> Vec<(&'static str, FieldType)> {
    vec![
        (PERSON_ID, FieldType::Id),
        (ASSESSMENT_DATE, FieldType::Date),
        (
            SCORE,
            FieldType::Float {
                min: 0.0,
                max: 100.0,
            },
        ),
        (LEVEL, FieldType::Int { min: 1, max: 4 }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::SourceKind;

    #[test]
    fn every_row_needs_a_person_and_each_kind_its_own_fields() {
        for kind in [
            SourceKind::ProviderReturns,
            SourceKind::Hospital,
            SourceKind::Pam,
        ] {
            assert!(required_values(kind).contains(&PERSON_ID), "{kind:?}");
        }
        assert!(required_values(SourceKind::ProviderReturns).contains(&COURSE_ID));
        assert!(required_values(SourceKind::Hospital).contains(&EVENT_DATE));
        assert!(!required_values(SourceKind::Pam).contains(&COURSE_ID));
    }
}
