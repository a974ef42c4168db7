//! Issue 12: files as providers send them (title rows, mixed date formats,
//! CRLF), value maps matched loosely, and optional fields that are blanked
//! with a warning instead of losing the row.

mod common;
use common::*;

fn pipeline_with(source_lines: &str, tail: &str) -> String {
    format!("{}{tail}", provider_pipeline(source_lines))
        .replace("date_format = \"dd/mm/yyyy\"\n", "")
}

#[test]
fn title_rows_and_mixed_date_formats_keep_physical_line_numbers() {
    let w = Workdir::new();
    w.write(
        "pipeline.toml",
        pipeline_with(
            "date_formats = [\"dd/mm/yyyy\", \"yyyy-mm-dd\"]\nskip_rows = 2",
            "",
        ),
    );
    w.write(
        "returns.csv",
        format!(
            "Q3 return - Provider X\n\
             Prepared by the data team,,\n\
             {RETURNS_HEADER}\
             {},C1,generic,2024-05-01,01/04/2024,4,female,A,3\n\
             {},C1,generic,01/05/2024,2024-04-02,4,female,A,3\n\
             {},C1,generic,01/05/2024,2024-02-31,4,female,A,3\n",
            NHS[0], NHS[1], NHS[2]
        ),
    );
    let r = w.run(&["validate", "pipeline.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("returns.csv line 6, field referral_date: \"2024-02-31\" is not a date (expected dd/mm/yyyy or yyyy-mm-dd)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("3 rows read, 1 rejected"), "{}", r.stdout);

    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let p = table(&w.path("wh"), "participants");
    assert_eq!(u64s(&p, "source_line"), vec![4, 5]);
    assert_eq!(
        strs(&p, "referral_date"),
        vec!["2024-04-01".to_string(), "2024-04-02".to_string()]
    );
}

#[test]
fn a_date_two_formats_read_differently_is_a_reject_that_says_so() {
    let w = Workdir::new();
    w.write(
        "pipeline.toml",
        pipeline_with("date_formats = [\"dd/mm/yyyy\", \"mm/dd/yyyy\"]", ""),
    );
    w.write(
        "returns.csv",
        format!(
            "{RETURNS_HEADER}{},C1,generic,20/05/2024,03/04/2024,4,female,A,3\n{},C1,generic,20/05/2024,04/13/2024,4,female,A,3\n",
            NHS[0], NHS[1]
        ),
    );
    let r = w.run(&["validate", "pipeline.toml"]);
    assert!(
        r.stdout.contains("returns.csv line 2, field referral_date: \"03/04/2024\" is ambiguous: it reads as 3 April 2024 under dd/mm/yyyy and 4 March 2024 under mm/dd/yyyy"),
        "{}",
        r.stdout
    );
    // 04/13/2024 reads only as mm/dd/yyyy: accepted.
    assert!(r.stdout.contains("2 rows read, 1 rejected"), "{}", r.stdout);
}

#[test]
fn crlf_and_quoted_newlines_give_the_line_an_editor_shows() {
    let w = Workdir::new();
    w.write("pipeline.toml", provider_pipeline(""));
    let body = format!(
        "{}{},\"C\r\n1\",generic,01/05/2024,01/04/2024,4,female,A,3\r\n{},C1,generic,01/05/2024,31/02/2024,4,female,A,3\r\n",
        RETURNS_HEADER.replace('\n', "\r\n"),
        NHS[0],
        NHS[1]
    );
    w.write("returns.csv", body);
    let r = w.run(&["validate", "pipeline.toml"]);
    // Header line 1, the first row lines 2-3, the bad row line 4.
    assert!(
        r.stdout
            .contains("returns.csv line 4, field referral_date: \"31/02/2024\" is not a date"),
        "{}",
        r.stdout
    );

    let plain = format!(
        "{RETURNS_HEADER}{},C1,generic,01/05/2024,01/04/2024,4,female,A,3\r\n{},C1,generic,01/05/2024,31/02/2024,4,female,A,3\r\n",
        NHS[0], NHS[1]
    )
    .replace('\n', "\r\n")
    .replace("\r\r\n", "\r\n");
    w.write("returns.csv", plain);
    let r = w.run(&["validate", "pipeline.toml"]);
    assert!(
        r.stdout
            .contains("returns.csv line 3, field referral_date: \"31/02/2024\" is not a date"),
        "{}",
        r.stdout
    );
}

#[test]
fn named_value_maps_match_after_trimming_and_case_folding() {
    let w = Workdir::new();
    let p = format!(
        "{}[sources.values]\nsex = \"sex\"\nethnicity = \"ethnicity\"\n",
        provider_pipeline("")
    )
    .replace(
        "[[sources]]",
        "[value_maps.sex]\nF = \"female\"\nFemale = \"female\"\nM = \"male\"\n\n[[sources]]",
    );
    w.write("pipeline.toml", p);
    w.write(
        "returns.csv",
        format!(
            "{RETURNS_HEADER}{},C1,generic,01/05/2024,01/04/2024,4,\"female \",White British,3\n\
             {},C1,generic,01/05/2024,01/04/2024,4,f,Asian or Asian British - Indian,3\n\
             {},C1,generic,01/05/2024,01/04/2024,4,M,z,3\n",
            NHS[0], NHS[1], NHS[2]
        ),
    );
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("3 rows read") || r.stdout.contains("3         3"),
        "{}",
        r.stdout
    );
    let p = table(&w.path("wh"), "participants");
    assert_eq!(strs(&p, "sex"), vec!["female", "female", "male"]);
    assert_eq!(strs(&p, "ethnicity"), vec!["A", "H", "Z"]);
}

#[test]
fn an_unknown_value_map_is_a_pipeline_error() {
    let w = Workdir::new();
    w.write(
        "pipeline.toml",
        format!(
            "{}[sources.values]\nsex = \"sexes\"\n",
            provider_pipeline("")
        ),
    );
    w.write("returns.csv", RETURNS_HEADER);
    let r = w.run(&["validate", "pipeline.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("values.sex = \"sexes\": there is no [value_maps.sexes] (maps: ethnicity)"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_bad_postcode_or_optional_value_keeps_the_row_with_a_warning() {
    let w = Workdir::new();
    let p = provider_pipeline("").replace(
        "imd_decile = \"IMD\"",
        "imd_decile = \"IMD\"\npostcode = \"Postcode\"",
    );
    w.write("pipeline.toml", p);
    let header = RETURNS_HEADER.replace('\n', ",Postcode\n");
    w.write(
        "returns.csv",
        format!(
            "{header}{},C1,generic,01/05/2024,01/04/2024,4,female,A,3,SW1A 1AA\n\
             {},C1,generic,01/05/2024,01/04/2024,5,female,A,3,SW1A 1A\n\
             {},C1,generic,01/05/2024,01/04/2024,6,female,A,11,B33 8TH\n",
            NHS[0], NHS[1], NHS[2]
        ),
    );
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("returns.csv line 3, field postcode: \"SW1A 1A\" is not a UK postcode; left blank, the row is kept"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("warning: 1 row(s) kept with imd_decile: is out of range (expected 1 to 10)"),
        "{}",
        r.stdout
    );
    let p = table(&w.path("wh"), "participants");
    // Every participant kept, the completion record of the bad postcode's row too.
    assert_eq!(u64s(&p, "sessions_attended"), vec![4, 5, 6]);
    assert_eq!(strs(&p, "imd_decile"), vec!["3", "3", ""]);
    assert!(!p
        .get_column_names()
        .iter()
        .any(|c| c.as_str() == "postcode"));
    let warnings = table(&w.path("wh"), "warnings");
    assert_eq!(strs(&warnings, "field"), vec!["postcode", "imd_decile"]);
    assert_eq!(u64s(&warnings, "line"), vec![3, 4]);

    // on_invalid = "reject" restores the strict rule for one field.
    let p = provider_pipeline("")
        .replace(
            "imd_decile = \"IMD\"",
            "imd_decile = \"IMD\"\npostcode = \"Postcode\"",
        )
        .replace(
            "[sources.constants]",
            "[sources.on_invalid]\nimd_decile = \"reject\"\n[sources.constants]",
        );
    w.write("pipeline.toml", p);
    let r = w.run(&["validate", "pipeline.toml"]);
    assert!(
        r.stdout.contains(
            "returns.csv line 4, field imd_decile: \"11\" is out of range (expected 1 to 10)"
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("3 rows read, 1 rejected"), "{}", r.stdout);
}

#[test]
fn skip_rows_and_header_row_together_are_refused() {
    let w = Workdir::new();
    w.write(
        "pipeline.toml",
        provider_pipeline("skip_rows = 1\nheader_row = 2"),
    );
    w.write("returns.csv", RETURNS_HEADER);
    let r = w.run(&["validate", "pipeline.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("give skip_rows or header_row, not both"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_column_can_have_its_own_date_format() {
    let w = Workdir::new();
    w.write(
        "pipeline.toml",
        provider_pipeline("[sources.field_date_formats]\nreferral_date = [\"yyyy-mm-dd\"]"),
    );
    w.write(
        "returns.csv",
        format!(
            "{RETURNS_HEADER}{},C1,generic,01/05/2024,2024-04-01,4,female,A,3\n{},C1,generic,01/05/2024,01/04/2024,4,female,A,3\n",
            NHS[0], NHS[1]
        ),
    );
    let r = w.run(&["validate", "pipeline.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("returns.csv line 3, field referral_date: \"01/04/2024\" is not a date (expected yyyy-mm-dd)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("2 rows read, 1 rejected"), "{}", r.stdout);
    // A field that is not a date is refused.
    w.write(
        "pipeline.toml",
        provider_pipeline("[sources.field_date_formats]\nsex = [\"yyyy-mm-dd\"]"),
    );
    let r = w.run(&["validate", "pipeline.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("field_date_formats.sex: `sex` is not a date field of this kind of source"),
        "{}",
        r.stderr
    );
}

#[test]
fn real_date_cells_of_a_workbook_are_never_ambiguous() {
    let w = sample_copy();
    let p = std::fs::read_to_string(w.path("pipelines/sample.toml")).unwrap();
    let p = p.replace(
        "sheet = \"Referrals\"\ndate_format = \"dd/mm/yyyy\"",
        "sheet = \"Referrals\"\ndate_formats = [\"dd/mm/yyyy\", \"mm/dd/yyyy\", \"yyyy-mm-dd\"]",
    );
    assert!(p.contains("date_formats = [\"dd/mm/yyyy\", \"mm/dd/yyyy\""));
    w.write("pipelines/sample.toml", p);
    let r = w.run(&["validate", "pipelines/sample.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.stdout.contains("ambiguous"), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "sample_data/eastleigh_returns.xlsx                         203       201         2"
        ),
        "{}",
        r.stdout
    );
}
