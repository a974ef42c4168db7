//! Issue 12: `smpeval init` writes a starter pipeline that validates unchanged.

mod common;
use common::*;

fn init_then_validate(w: &Workdir, args: &[&str]) -> (String, Run) {
    let mut a = vec!["init", "--out", "pipelines/new.toml"];
    a.extend(args);
    std::fs::create_dir_all(w.path("pipelines/x")).unwrap();
    let r = w.run(&a);
    assert_eq!(r.code, 0, "{}", r.all());
    let text = std::fs::read_to_string(w.path("pipelines/new.toml")).unwrap();
    let v = w.run(&["validate", "pipelines/new.toml"]);
    (text, v)
}

#[test]
fn init_on_the_sample_returns_and_hospital_files_validates_unchanged() {
    let w = sample_copy();
    let (text, v) = init_then_validate(
        &w,
        &[
            "--returns",
            "sample_data/northside_returns.csv",
            "--hospital",
            "sample_data/hes_apc.csv",
            "--hospital",
            "sample_data/hes_ae.csv",
            "--hospital",
            "sample_data/hes_op.csv",
            "--pam",
            "sample_data/pam_scores.csv",
        ],
    );
    assert_eq!(v.code, 0, "{text}\n{}", v.all());
    assert!(text.contains("encoding = \"windows-1252\""), "{text}");
    assert!(
        text.contains(
            "person_id = \"NHS Number\"   # header \"NHS Number\"; its values are NHS numbers"
        ),
        "{text}"
    );
    assert!(text.contains("setting = \"apc\""), "{text}");
    assert!(text.contains("setting = \"op\""), "{text}");
    assert!(
        text.contains("\"Chronic pain\" = \"chronic_pain\""),
        "{text}"
    );
    assert!(v.stdout.contains("valid: 5 files"), "{}", v.stdout);
    // A second init does not overwrite the pipeline without --force.
    let r = w.run(&[
        "init",
        "--out",
        "pipelines/new.toml",
        "--returns",
        "sample_data/northside_returns.csv",
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("add --force"), "{}", r.stderr);
}

#[test]
fn init_reads_a_register_with_semicolons() {
    let w = sample_copy();
    let (text, v) = init_then_validate(&w, &["--returns", "sample_data/westcombe_register.csv"]);
    assert_eq!(v.code, 0, "{text}\n{}", v.all());
    assert!(text.contains("delimiter = \";\""), "{text}");
    assert!(text.contains("session_6 = \"wk6\""), "{text}");
}

#[test]
fn init_finds_title_rows_and_mixed_date_formats() {
    let w = Workdir::new();
    w.write(
        "data/acme.csv",
        format!(
            "Q3 return - Acme Wellbeing\nPrepared 01/10/2024\n{RETURNS_HEADER}\
             {},C1,Generic,01/05/2024,2024-04-01,4,Female,White British,3\n\
             {},C1,Generic,01/05/2024,02/04/2024,5,Male,Indian,3\n\
             {},C2,Chronic pain,2024-06-12,13/05/2024,6,F,A,7\n",
            NHS[0], NHS[1], NHS[2]
        ),
    );
    let (text, v) = init_then_validate(&w, &["--returns", "data/acme.csv"]);
    assert_eq!(v.code, 0, "{text}\n{}", v.all());
    assert!(text.contains("header_row = 3"), "{text}");
    assert!(
        text.contains("date_formats = [\"dd/mm/yyyy\", \"yyyy-mm-dd\"]"),
        "{text}"
    );
    assert!(text.contains("files = [\"../data/acme.csv\"]"), "{text}");
    assert!(v.stdout.contains("3 rows read, 0 rejected"), "{}", v.stdout);
}

#[test]
fn init_refuses_a_file_that_is_not_csv_text_or_is_named_with_an_nhs_number() {
    let w = sample_copy();
    let book = std::fs::read(w.path("sample_data/eastleigh_returns.xlsx")).unwrap();
    w.write("book.csv", &book);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend("a,b\n1,2\n".encode_utf16().flat_map(|u| u.to_le_bytes()));
    w.write("wide.csv", &utf16);
    let good = std::fs::read(w.path("sample_data/northside_returns.csv")).unwrap();
    w.write("returns_9434765919.csv", &good);
    for (file, why) in [
        ("book.csv", "XLSX workbook"),
        ("wide.csv", "UTF-16"),
        (
            "returns_9434765919.csv",
            "holds what reads as an NHS number",
        ),
    ] {
        let r = w.run(&["init", "--returns", file, "--out", "p.toml"]);
        assert_eq!(r.code, 2, "{file}: {}", r.all());
        assert!(r.stderr.contains(why), "{file}: {}", r.stderr);
        assert!(!r.all().contains("9434765919"), "{}", r.all());
        assert!(!w.path("p.toml").exists(), "{file}");
    }
}

#[test]
fn init_masks_an_nhs_number_split_by_tabs_or_line_breaks_and_writes_toml_it_can_read() {
    let w = Workdir::new();
    // Programme values: an NHS number split by tabs, one split by CR LF
    // (quoted), and two other NHS numbers that mask alike.
    w.write(
        "returns.csv",
        "NHS Number,Course Ref,Programme,Course Start,Referred On,Sessions,Age Group\n\
         7877893280,C1,generic,01/06/2023,01/05/2023,4,65-74\n\
         1003390757,C1,\"943\t476\t5919\",01/06/2023,01/05/2023,4,65-74\n\
         7921742181,C1,\"401\r\n023\r\n2137\",01/06/2023,01/05/2023,4,65-74\n\
         9434765919,C1,4010232137,01/06/2023,01/05/2023,4,65-74\n\
         4010232137,C1,9434765919,01/06/2023,01/05/2023,4,65-74\n\
         9990000018,C1,\"Back\r\nclinic\",01/06/2023,01/05/2023,4,65-74\n",
    );
    let r = w.run(&["init", "--returns", "returns.csv", "--out", "p.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let text = std::fs::read_to_string(w.path("p.toml")).unwrap();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    for n in ["9434765919", "4010232137"] {
        assert!(!digits.contains(n), "{n} in:\n{text}");
    }
    toml::from_str::<toml::Value>(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
}
