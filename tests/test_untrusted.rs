//! Untrusted input never panics: arbitrary bytes as a CSV or XLSX return, and
//! arbitrary text as a pipeline file is refused with a message (proptest).

use std::path::Path;

use proptest::prelude::*;
use smpeval::pipeline;

const PIPELINE: &str = r#"name = "p"
[privacy]
key_env = "K"
[[sources]]
name = "s"
kind = "provider_returns"
files = ["x.csv"]
[sources.columns]
provider_id = "a"
course_id = "b"
programme = "c"
course_start_date = "d"
person_id = "e"
referral_date = "f"
sessions_attended = "g"
year_of_birth = "h"
"#;

fn source(format: &str) -> pipeline::Source {
    let text = PIPELINE.replace(
        "files = [\"x.csv\"]",
        &format!("files = [\"x.csv\"]\nformat = \"{format}\""),
    );
    pipeline::parse(Path::new("p.toml"), &text, text.as_bytes())
        .unwrap()
        .sources[0]
        .clone()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_as_csv_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let s = source("csv");
        let _ = smpeval::ingest::read::read_file(Path::new("x.csv"), &bytes, &s);
    }

    #[test]
    fn csv_like_text_is_read_or_refused(body in "[a-g0-9,;\"\\n /-]{0,300}") {
        let s = source("csv");
        let text = format!("a,b,c,d,e,f,g,h\n{body}");
        if let Ok(t) = smpeval::ingest::read::read_file(Path::new("x.csv"), text.as_bytes(), &s) {
            // Every data row read is kept or rejected here.
            prop_assert_eq!(t.rows_read, t.lines.len() + t.rejects.len());
        }
    }

    #[test]
    fn any_bytes_as_xlsx_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let s = source("xlsx");
        let _ = smpeval::ingest::read::read_file(Path::new("x.xlsx"), &bytes, &s);
    }

    #[test]
    fn any_text_as_a_pipeline_is_refused_naming_a_line_or_a_key(text in "\\PC{0,300}") {
        // Random text is almost never a valid pipeline; when it is refused the
        // message names the file and either the line or the key at fault.
        if let Err(e) = pipeline::parse(Path::new("p.toml"), &text, text.as_bytes()) {
            let m = e.to_string();
            prop_assert!(m.starts_with("p.toml"), "{}", m);
            prop_assert!(e.line.is_some() || names_a_key(&e.message), "{}", m);
            prop_assert!(!m.contains("Some(") && !m.contains("None"), "{}", m);
        }
    }

    #[test]
    fn mangled_pipelines_never_panic(cut in 0usize..PIPELINE.len(), junk in "[a-z_=\\[\\]\" ]{0,20}") {
        let mut text = PIPELINE.to_string();
        let at = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(at, &junk);
        let _ = pipeline::parse(Path::new("p.toml"), &text, text.as_bytes());
    }
}

/// A message names a key when it quotes one (`name`, settings.x, [[sources]]).
fn names_a_key(message: &str) -> bool {
    message.contains('`')
        || message.contains("settings.")
        || message.contains("[[")
        || message.contains("[privacy]")
}
