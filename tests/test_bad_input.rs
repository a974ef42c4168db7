//! Bad input, one kind per test: each asserts the analyst-facing message
//! (file, line, field, what was expected) and that nothing is lost.

mod common;
use common::*;

fn returns(rows: &[&str]) -> String {
    let mut s = RETURNS_HEADER.to_string();
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

/// A valid row for person `i`.
fn good(i: usize) -> String {
    format!("{},C1,generic,01/05/2024,01/04/2024,4,female,A,3", NHS[i])
}

fn validate(w: &Workdir) -> Run {
    w.run(&["validate", "pipeline.toml"])
}

fn setup(rows: &[&str]) -> Workdir {
    let w = Workdir::new();
    w.write("pipeline.toml", provider_pipeline(""));
    w.write("returns.csv", returns(rows));
    w
}

#[test]
fn bad_nhs_number_is_rejected_without_printing_it() {
    let w = setup(&[
        &good(0),
        "9434765918,C1,generic,01/05/2024,01/04/2024,4,female,A,3",
    ]);
    let r = validate(&w);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("returns.csv line 3, field person_id: \"[id masked]\" is not a valid NHS number (fails the Modulus 11 check digit)"),
        "{}",
        r.stdout
    );
    assert!(!r.all().contains("9434765918"), "raw NHS number printed");
    assert!(!r.all().contains("9434765919"), "raw NHS number printed");
}

#[test]
fn nhs_number_of_wrong_length() {
    let w = setup(&["94347659,C1,generic,01/05/2024,01/04/2024,4,female,A,3"]);
    let r = validate(&w);
    assert!(
        r.stdout
            .contains("line 2, field person_id: \"[id masked]\" is not a 10-digit NHS number"),
        "{}",
        r.stdout
    );
}

#[test]
fn unparsable_date_names_the_expected_format() {
    let w = setup(&[
        &good(0),
        &format!("{},C1,generic,01/05/2024,31/02/2024,4,female,A,3", NHS[1]),
    ]);
    let r = validate(&w);
    assert!(
        r.stdout.contains("returns.csv line 3, field referral_date: \"31/02/2024\" is not a date (expected dd/mm/yyyy)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("2 rows read, 1 rejected"), "{}", r.stdout);
}

#[test]
fn referral_after_course_start() {
    let w = setup(&[&format!(
        "{},C1,generic,01/05/2024,02/05/2024,4,female,A,3",
        NHS[0]
    )]);
    let r = validate(&w);
    assert!(
        r.stdout.contains(
            "line 2, field referral_date: \"02/05/2024\" is after the course start date 01/05/2024"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn unknown_code_suggests_a_value_mapping() {
    let w = setup(&[&format!(
        "{},C1,generic,01/05/2024,01/04/2024,4,X,A,3",
        NHS[0]
    )]);
    let r = validate(&w);
    assert!(
        r.stdout.contains("field sex: \"X\" is not one of female, male, other, unknown (map the source's own codes under [sources.values.sex])"),
        "{}",
        r.stdout
    );
}

#[test]
fn value_mapping_turns_source_codes_into_canonical_ones() {
    let w = Workdir::new();
    w.write(
        "pipeline.toml",
        provider_pipeline("").replace(
            "[sources.constants]",
            "[sources.values.sex]\nF = \"female\"\n[sources.constants]",
        ),
    );
    w.write(
        "returns.csv",
        returns(&[&format!(
            "{},C1,generic,01/05/2024,01/04/2024,4,F,A,3",
            NHS[0]
        )]),
    );
    let r = validate(&w);
    assert!(r.stdout.contains("1 rows read, 0 rejected"), "{}", r.all());
}

#[test]
fn out_of_range_imd_and_sessions() {
    let w = setup(&[
        &format!("{},C1,generic,01/05/2024,01/04/2024,4,female,A,11", NHS[0]),
        &format!("{},C1,generic,01/05/2024,01/04/2024,7,female,A,3", NHS[1]),
    ]);
    let r = validate(&w);
    assert!(
        r.stdout
            .contains("line 2, field imd_decile: \"11\" is out of range (expected 1 to 10)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("line 3, field sessions_attended: \"7\" is out of range (expected 0 to 6)"),
        "{}",
        r.stdout
    );
}

#[test]
fn starter_without_course_start_date() {
    let w = setup(&[&format!("{},C1,generic,,01/04/2024,2,female,A,3", NHS[0])]);
    let r = validate(&w);
    assert!(
        r.stdout.contains(
            "line 2, field course_start_date: is empty, but the person attended a session"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn duplicate_referral_keeps_the_first() {
    let w = setup(&[&good(0), &good(1), &good(0)]);
    let r = validate(&w);
    assert!(
        r.stdout.contains("returns.csv line 4, field person_id: \"[id masked]\" duplicate referral: same person and course as line 2 (the first is kept)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("3 rows read, 1 rejected"), "{}", r.stdout);
}

#[test]
fn ragged_row_is_a_reject_not_a_failure() {
    let w = setup(&[&good(0), &format!("{},extra", good(1))]);
    let r = validate(&w);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("returns.csv line 3: the row has 10 fields; the header has 9"),
        "{}",
        r.stdout
    );
}

#[test]
fn sessions_must_equal_the_register() {
    let w = Workdir::new();
    let mut p = provider_pipeline("");
    for i in 1..=6 {
        p.push_str(&format!("session_{i} = \"S{i}\"\n"));
    }
    for i in 1..=6 {
        p.push_str(&format!(
            "[sources.values.session_{i}]\nY = \"1\"\nN = \"0\"\n"
        ));
    }
    w.write("pipeline.toml", p);
    w.write(
        "returns.csv",
        format!(
            "NHS No,Course,Programme,Start,Referred,Sessions,Sex,Ethnicity,IMD,S1,S2,S3,S4,S5,S6\n\
             {},C1,generic,01/05/2024,01/04/2024,4,female,A,3,Y,Y,Y,Y,N,N\n\
             {},C1,generic,01/05/2024,01/04/2024,5,female,A,3,Y,Y,Y,N,N,N\n\
             {},C1,generic,01/05/2024,01/04/2024,1,female,A,3,Y,maybe,N,N,N,N\n",
            NHS[0], NHS[1], NHS[2]
        ),
    );
    let r = validate(&w);
    assert!(
        r.stdout.contains("line 3, field sessions_attended: \"5\" does not equal the attendance register, which shows 3 sessions"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("line 4, field session_2: \"maybe\" is not 0 or 1"),
        "{}",
        r.stdout
    );
}

#[test]
fn missing_required_column_names_the_header() {
    let w = Workdir::new();
    w.write("pipeline.toml", provider_pipeline(""));
    w.write(
        "returns.csv",
        "NHS No,Course,Programme,Start,Referred,Sessions,Sex,Ethnicity\n",
    );
    let r = validate(&w);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("returns.csv: missing column \"IMD\" (for imd_decile)"),
        "{}",
        r.stderr
    );
}

#[test]
fn wrong_delimiter_is_explained() {
    let w = Workdir::new();
    w.write("pipeline.toml", provider_pipeline(""));
    w.write("returns.csv", returns(&[&good(0)]).replace(',', ";"));
    let r = validate(&w);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("the file looks ';'-separated, and the pipeline says delimiter = \",\""),
        "{}",
        r.stderr
    );
}

#[test]
fn empty_file_is_an_error() {
    let w = Workdir::new();
    w.write("pipeline.toml", provider_pipeline(""));
    w.write("returns.csv", "");
    let r = validate(&w);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("returns.csv: the file is empty (no header row)"),
        "{}",
        r.stderr
    );
}

#[test]
fn no_matching_files_is_an_error() {
    let w = Workdir::new();
    w.write("pipeline.toml", provider_pipeline(""));
    let r = validate(&w);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("source `acme` matched no files"),
        "{}",
        r.stderr
    );
}

#[test]
fn windows_1252_bytes_in_a_utf8_source() {
    let w = Workdir::new();
    w.write("pipeline.toml", provider_pipeline(""));
    let mut bytes = returns(&[&good(0)]).into_bytes();
    bytes.extend(b"\x92\n");
    w.write("returns.csv", bytes);
    let r = validate(&w);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("the file is not UTF-8"), "{}", r.stderr);
    assert!(
        r.stderr.contains("encoding = \"windows-1252\""),
        "{}",
        r.stderr
    );
}

#[test]
fn windows_1252_source_decodes() {
    let w = Workdir::new();
    let p = provider_pipeline("encoding = \"windows-1252\"").replace(
        "imd_decile = \"IMD\"",
        "imd_decile = \"IMD\"\ncourse_language = \"Language\"",
    );
    w.write("pipeline.toml", p);
    let text = RETURNS_HEADER.replace('\n', ",Language\n") + &good(0) + ",Português – Brasil\n";
    w.write("returns.csv", &*encoding_rs::WINDOWS_1252.encode(&text).0);
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let df = table(&w.path("wh"), "participants");
    assert_eq!(
        strs(&df, "course_language"),
        vec!["Português – Brasil".to_string()]
    );
}

/// Two rows of returns, the second rejected (31 February): half rejected.
fn half_rejected(w: &Workdir) {
    w.write(
        "returns.csv",
        returns(&[
            &good(0),
            &format!("{},C1,generic,01/05/2024,31/02/2024,4,female,A,3", NHS[1]),
        ]),
    );
}

#[test]
fn too_many_rejects_fail_the_run_and_write_nothing() {
    let w = Workdir::new();
    w.write(
        "pipeline.toml",
        provider_pipeline("").replace("max_reject_rate = 1.0", "max_reject_rate = 0.2"),
    );
    half_rejected(&w);
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains(
            "returns.csv: 1 of 2 rows rejected (50.0%), over the pipeline's limit of 20.0%"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("referral_date: is not a date"),
        "{}",
        r.stderr
    );
    // The refusal names the rows to fix by line.
    assert!(
        r.stderr
            .contains("the first: returns.csv line 3, field referral_date"),
        "{}",
        r.stderr
    );
    assert!(!w.path("wh/participants").exists());
    // Validate fails the same way, but shows the files and writes every reject first.
    let r = w.run(&["validate", "pipeline.toml", "--rejects", "rejects.csv"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stdout.contains("rejected: returns.csv line 3"),
        "{}",
        r.all()
    );
    let rejects = std::fs::read_to_string(w.path("rejects.csv")).unwrap();
    assert!(rejects.contains("returns.csv,3,referral_date"), "{rejects}");
}

#[test]
fn returns_with_no_rows_fail_validate_and_run_alike() {
    let w = Workdir::new();
    w.write("pipeline.toml", provider_pipeline(""));
    w.write("returns.csv", returns(&[]));
    let v = w.run(&["validate", "pipeline.toml"]);
    let r = w.run(&["run", "pipeline.toml"]);
    for out in [&v, &r] {
        assert_eq!(out.code, 2, "{}", out.all());
        assert!(
            out.stderr
                .contains("the provider returns hold no referrals"),
            "{}",
            out.stderr
        );
    }
    // run refuses before its ingest commits a version of nothing.
    assert!(!w.path("wh/CURRENT").exists());
    // An evaluation period set does not turn "no rows at all" into "none in the period".
    let dated = provider_pipeline("").replace(
        "[settings]",
        "[settings]\nevaluation_start = \"2023-04-01\"\nevaluation_end = \"2024-03-31\"",
    );
    w.write("pipeline.toml", dated);
    let r = w.run(&["run", "pipeline.toml"]);
    assert!(
        r.stderr.contains("the provider returns hold no referrals"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_lowered_reject_limit_holds_for_files_skipped_as_unchanged() {
    let w = Workdir::new();
    w.write("pipeline.toml", provider_pipeline(""));
    half_rejected(&w);
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let lowered = provider_pipeline("").replace("max_reject_rate = 1.0", "max_reject_rate = 0.2");
    w.write("pipeline.toml", lowered);
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("1 of 2 rows rejected (50.0%), over the pipeline's limit of 20.0%"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("unchanged since the last ingest"),
        "{}",
        r.stderr
    );
}

/// An APC extract's pipeline (also used by the batch unit test in src/ingest/checks).
fn hospital_pipeline() -> String {
    include_str!("fixtures/apc_pipeline.toml").into()
}

#[test]
fn a_spell_key_that_cannot_tell_spells_apart_is_refused_at_its_line() {
    for (key, why) in [
        ("[]", "spell_key names no field"),
        (
            "[\"person_id\", \"person_id\"]",
            "spell_key names `person_id` twice",
        ),
        ("[\"event_date\"]", "spell_key does not name `person_id`"),
    ] {
        let w = Workdir::new();
        let pipeline = hospital_pipeline().replace(
            "spell_key = [\"person_id\", \"event_date\"]",
            &format!("spell_key = {key}"),
        );
        assert!(pipeline.contains(&format!("spell_key = {key}")));
        w.write("pipeline.toml", pipeline);
        w.write(
            "apc.csv",
            format!(
                "NHSNO,ADMIDATE,DISDATE,ADMIMETH,EPIORDER\n{},2024-03-05,2024-03-06,21,1\n",
                NHS[0]
            ),
        );
        for command in ["validate", "run"] {
            let r = w.run(&[command, "pipeline.toml"]);
            assert_eq!(r.code, 2, "{key} {command}: {}", r.all());
            assert!(
                r.stderr.contains("pipeline.toml line 11: source `apc`: ")
                    && r.stderr.contains(why),
                "{key} {command}: {}",
                r.stderr
            );
        }
    }
}

#[test]
fn discharge_before_admission() {
    let w = Workdir::new();
    w.write("pipeline.toml", hospital_pipeline());
    w.write(
        "apc.csv",
        format!(
            "NHSNO,ADMIDATE,DISDATE,ADMIMETH,EPIORDER\n{},2024-03-05,2024-03-01,21,1\n",
            NHS[0]
        ),
    );
    let r = validate(&w);
    assert!(
        r.stdout.contains("apc.csv line 2, field discharge_date: \"2024-03-01\" is before the admission date 2024-03-05"),
        "{}",
        r.stdout
    );
}

#[test]
fn hes_sentinel_dates_are_never_dates() {
    let w = Workdir::new();
    w.write("pipeline.toml", hospital_pipeline());
    w.write(
        "apc.csv",
        format!(
            "NHSNO,ADMIDATE,DISDATE,ADMIMETH,EPIORDER\n{a},1801-01-01,2024-03-01,21,1\n{b},2024-03-05,1800-01-01,21,1\n",
            a = NHS[0],
            b = NHS[1]
        ),
    );
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("line 2, field event_date: \"1801-01-01\" is a HES sentinel 1801-01-01 (invalid date submitted)"), "{}", r.stdout);
    assert!(r.stdout.contains("2 HES sentinel date(s)"), "{}", r.stdout);
    let df = table(&w.path("wh"), "hospital_events");
    assert_eq!(df.height(), 1);
    assert_eq!(strs(&df, "discharge_date"), vec![String::new()]);
    assert_eq!(
        strs(&df, "discharge_date_status"),
        vec!["hes_sentinel_1800-01-01".to_string()]
    );
}

#[test]
fn pam_score_out_of_range_and_level_mismatch() {
    let w = Workdir::new();
    w.write(
        "pipeline.toml",
        r#"name = "p"
warehouse = "wh"
[privacy]
key_env = "SMPEVAL_HMAC_KEY"
[settings]
max_reject_rate = 1.0
[[sources]]
name = "pam"
kind = "pam"
files = ["pam.csv"]
[sources.columns]
person_id = "NHS"
assessment_date = "Date"
score = "Score"
level = "Level"
"#,
    );
    w.write(
        "pam.csv",
        format!("NHS,Date,Score,Level\n{},2024-01-01,130,4\n{},2024-01-01,50.0,3\n{},2024-01-01,67.0,3\n", NHS[0], NHS[1], NHS[2]),
    );
    let r = validate(&w);
    assert!(
        r.stdout
            .contains("pam.csv line 2, field score: \"130\" is out of range (expected 0 to 100)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "pam.csv line 3, field level: \"3\" does not match the score 50.0, which is level 2"
        ),
        "{}",
        r.stdout
    );
    // 67.0 is the top of level 3 (Hibbard: level 3 if score ≤ 67.0)
    assert!(r.stdout.contains("3 rows read, 2 rejected"), "{}", r.stdout);
}

// --- bad pipeline files: refused before any work, with the line and key ---

fn pipeline_error(text: &str) -> Run {
    let w = Workdir::new();
    w.write("pipeline.toml", text);
    w.write("returns.csv", returns(&[&good(0)]));
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(!w.path("wh").exists(), "a bad pipeline must write nothing");
    r
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let r = pipeline_error(&provider_pipeline("delimter = \";\""));
    assert!(
        r.stderr
            .contains("pipeline.toml line 13: unknown field `delimter`"),
        "{}",
        r.stderr
    );
}

#[test]
fn missing_mapping_for_a_required_field() {
    let r = pipeline_error(&provider_pipeline("").replace("referral_date = \"Referred\"\n", ""));
    assert!(
        r.stderr
            .contains("source `acme`: no mapping for required field `referral_date`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("pipeline.toml line 17"), "{}", r.stderr);
}

#[test]
fn unusable_date_format() {
    let r = pipeline_error(&provider_pipeline("").replace("dd/mm/yyyy", "dd/mm/yy"));
    assert!(r.stderr.contains("pipeline.toml line 12: source `acme`: date_format \"dd/mm/yy\" is not a date format I can use"), "{}", r.stderr);
}

#[test]
fn unknown_canonical_field_in_columns() {
    let r = pipeline_error(&provider_pipeline("").replace("sex = \"Sex\"", "gender = \"Sex\""));
    assert!(
        r.stderr
            .contains("`gender` is not a field of provider_returns sources"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("line 24"), "{}", r.stderr);
}

#[test]
fn unknown_source_kind() {
    let r = pipeline_error(&provider_pipeline("").replace("provider_returns", "returns"));
    assert!(
        r.stderr.contains(
            "unknown variant `returns`, expected one of `provider_returns`, `hospital`, `pam`"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn missing_hmac_key_is_a_clear_error() {
    let w = Workdir::new();
    w.write(
        "pipeline.toml",
        provider_pipeline("").replace("SMPEVAL_HMAC_KEY", "SMPEVAL_TEST_UNSET_KEY"),
    );
    w.write("returns.csv", returns(&[&good(0)]));
    let r = w.run(&["validate", "pipeline.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains(
            "no HMAC key for NHS numbers: the environment variable SMPEVAL_TEST_UNSET_KEY is not set"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_course_has_one_start_date() {
    // Issue 12: the majority date wins, even over the first row; the dissenting
    // row is kept with that date and warned, and the course is not lost.
    let w = setup(&[
        &format!("{},C1,generic,08/05/2024,01/04/2024,4,female,A,3", NHS[1]),
        &good(0),
        &good(2),
    ]);
    let r = validate(&w);
    assert!(
        r.stdout.contains("returns.csv line 2, field course_start_date: \"08/05/2024\" differs from the start date most rows of course C1 give, 01/05/2024 (first on line 3); the row is kept with that date"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("3 rows read, 0 rejected"), "{}", r.stdout);
}

#[test]
fn lsoa_codes_resolve_to_imd_deciles_through_the_lookup() {
    let w = Workdir::new();
    let p = provider_pipeline("")
        .replace("imd_decile = \"IMD\"", "lsoa_code = \"LSOA\"")
        .replace(
            "[sources.constants]",
            "[sources.lsoa_lookup]\nfile = \"imd.csv\"\ncode_column = \"LSOA code (2011)\"\ndecile_column = \"IMD Decile\"\n[sources.constants]",
        );
    w.write("pipeline.toml", p);
    w.write("imd.csv", "LSOA code (2011),LSOA name,IMD Decile\nE01000001,City of London 001A,9\nE01000005,City of London 001E,3\n");
    w.write(
        "returns.csv",
        format!(
            "NHS No,Course,Programme,Start,Referred,Sessions,Sex,Ethnicity,LSOA\n\
             {},C1,generic,01/05/2024,01/04/2024,4,female,A,e01000005\n\
             {},C1,generic,01/05/2024,01/04/2024,4,female,A,E09999999\n",
            NHS[0], NHS[1]
        ),
    );
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains(
            "line 3, field lsoa_code: \"E09999999\" is not an LSOA code in the lookup imd.csv"
        ),
        "{}",
        r.stdout
    );
    let df = table(&w.path("wh"), "participants");
    assert_eq!(strs(&df, "imd_decile"), vec!["3".to_string()]);
    assert!(
        !df.get_column_names()
            .iter()
            .any(|c| c.as_str() == "lsoa_code"),
        "LSOA codes are not stored"
    );
}

#[test]
fn lsoa_code_without_a_lookup_is_a_pipeline_error() {
    let r = pipeline_error(
        &provider_pipeline("").replace("imd_decile = \"IMD\"", "lsoa_code = \"IMD\""),
    );
    assert!(
        r.stderr
            .contains("lsoa_code is mapped but there is no [sources.lsoa_lookup]"),
        "{}",
        r.stderr
    );
}

#[test]
fn age_band_or_year_of_birth_must_be_mapped() {
    let r = pipeline_error(&provider_pipeline("").replace("age_band = \"50-64\"\n", ""));
    assert!(
        r.stderr
            .contains("no mapping for required field `age_band or year_of_birth`"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_nhs_number_declared_as_a_pseudonym_is_never_stored() {
    let w = Workdir::new();
    w.write(
        "pipeline.toml",
        provider_pipeline("id_kind = \"pseudonym\""),
    );
    w.write(
        "returns.csv",
        returns(&[
            &good(0),
            "PSEUDO-7,C1,generic,01/05/2024,01/04/2024,4,female,A,3",
        ]),
    );
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("line 2, field person_id: \"[id masked]\" looks like an NHS number, but the source declares id_kind = \"pseudonym\""),
        "{}",
        r.stdout
    );
    let df = table(&w.path("wh"), "participants");
    assert_eq!(strs(&df, "person_id"), vec!["PSEUDO-7".to_string()]);
    assert!(!r.all().contains(NHS[0]));
}

#[test]
fn a_workbook_without_the_named_sheet_lists_its_sheets_in_words() {
    let w = sample_copy();
    let text = std::fs::read_to_string(w.path("pipelines/sample.toml")).unwrap();
    assert!(text.contains("sheet = \"Referrals\""));
    w.write(
        "pipelines/sample.toml",
        text.replace("sheet = \"Referrals\"", "sheet = \"Refs\""),
    );
    let r = w.run(&["validate", "pipelines/sample.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("the workbook has no sheet named \"Refs\" (its sheets: \"Referrals\""),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("Xlsx error"), "{}", r.stderr);
}
