//! Files a command writes on request (`init --out`, `pipeline-docs --out`,
//! `validate --rejects`) never destroy what they do not own: a device or a
//! pipe is refused (a temporary file renamed over /dev/null would replace the
//! device), an input is never overwritten, and a link is replaced, not
//! written through.

mod common;
use common::*;

/// A named pipe at `name` in `w`.
fn fifo(w: &Workdir, name: &str) -> std::path::PathBuf {
    let p = w.path(name);
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    p
}

fn is_fifo(p: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(p).unwrap().file_type().is_fifo()
}

#[test]
fn an_output_that_is_a_pipe_or_a_folder_is_refused_and_left_as_it_is() {
    let w = sample_copy();
    let pipe = fifo(&w, "out.fifo");
    std::fs::create_dir(w.path("folder")).unwrap();
    let returns = "sample_data/northside_returns.csv";
    for args in [
        vec!["validate", "pipelines/sample.toml", "--rejects", "out.fifo"],
        vec!["init", "--returns", returns, "--out", "out.fifo", "--force"],
        vec!["pipeline-docs", "--out", "out.fifo"],
        vec!["pipeline-docs", "--out", "folder"],
    ] {
        let r = w.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.all());
        assert!(
            r.stderr.contains("not a regular file"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert!(is_fifo(&pipe));
    assert!(w.path("folder").is_dir());
}

#[test]
fn init_never_overwrites_a_file_it_reads_and_replaces_a_link_instead_of_writing_through_it() {
    let w = sample_copy();
    let returns = "sample_data/northside_returns.csv";
    let before = std::fs::read(w.path(returns)).unwrap();
    let r = w.run(&["init", "--returns", returns, "--out", returns, "--force"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("is a file this command reads"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(w.path(returns)).unwrap(), before);
    // A link to another file: the link is replaced, its target kept.
    let pam = w.path("sample_data/pam_scores.csv");
    let pam_before = std::fs::read(&pam).unwrap();
    std::os::unix::fs::symlink(&pam, w.path("link.toml")).unwrap();
    let r = w.run(&[
        "init",
        "--returns",
        returns,
        "--out",
        "link.toml",
        "--force",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(std::fs::read(&pam).unwrap(), pam_before);
    let meta = std::fs::symlink_metadata(w.path("link.toml")).unwrap();
    assert!(meta.is_file(), "the link is now the pipeline");
}

#[test]
fn a_written_pipeline_or_reference_is_readable_by_all_or_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let w = sample_copy();
    let mode = |name: &str| {
        std::fs::metadata(w.path(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(w.run(&["pipeline-docs", "--out", "ref.md"]).code, 0);
    assert_eq!(mode("ref.md"), 0o644);
    std::fs::set_permissions(w.path("ref.md"), std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(w.run(&["pipeline-docs", "--out", "ref.md"]).code, 0);
    assert_eq!(mode("ref.md"), 0o640);
    let returns = "sample_data/northside_returns.csv";
    assert_eq!(
        w.run(&["init", "--returns", returns, "--out", "new.toml"])
            .code,
        0
    );
    assert_eq!(mode("new.toml"), 0o644);
    // A link to nothing is there: replaced only with --force.
    std::os::unix::fs::symlink(w.path("nowhere"), w.path("dangling.toml")).unwrap();
    let r = w.run(&["init", "--returns", returns, "--out", "dangling.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(std::fs::symlink_metadata(w.path("dangling.toml"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn pipeline_docs_replaces_only_a_pipeline_reference() {
    let w = sample_copy();
    let data = w.path("sample_data/hes_op.csv");
    let before = std::fs::read(&data).unwrap();
    let r = w.run(&["pipeline-docs", "--out", "sample_data/hes_op.csv"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("not a pipeline reference"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(&data).unwrap(), before);
    // A new file, then the same file again.
    for _ in 0..2 {
        let r = w.run(&["pipeline-docs", "--out", "ref.md"]);
        assert_eq!(r.code, 0, "{}", r.all());
    }
    let text = std::fs::read_to_string(w.path("ref.md")).unwrap();
    assert!(text.starts_with("# Pipeline reference"), "{text}");
}

#[test]
fn providers_whose_codes_clean_to_one_name_or_differ_in_case_each_keep_their_rejects_file() {
    let w = Workdir::new();
    let pipeline = provider_pipeline("")
        .replace("provider_id = \"ACME\"\n", "")
        .replace(
            "[sources.columns]\n",
            "[sources.columns]\nprovider_id = \"Provider\"\n",
        );
    w.write("pipeline.toml", pipeline);
    let mut rows = RETURNS_HEADER.trim_end().to_string() + ",Provider\n";
    for (i, n) in NHS.iter().enumerate() {
        rows += &format!("{n},C{i},generic,01/05/2024,01/04/2024,4,female,A,3,NTH\n");
    }
    // One row each with a start date that is not a date; "acme" is also the
    // source's name, whose rows with no provider are a group of their own.
    for code in ["A/B", "A:B", "abc", "ABC", "acme", ""] {
        rows += &format!(
            "{},C9,generic,99/99/2024,01/04/2024,4,female,A,3,{code}\n",
            NHS[0]
        );
    }
    w.write("returns.csv", rows);
    let r = w.run(&["run", "pipeline.toml", "--internal", "--run-id", "r"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let dir = w.path("reports/t/r/rejects");
    // Providers in the order of their codes (A/B, A:B, ABC, abc, acme), then sources.
    for (file, code) in [
        ("A_B", "A/B"),
        ("A_B_2", "A:B"),
        ("ABC", "ABC"),
        ("abc_2", "abc"),
        ("acme", "acme"),
        ("acme_2", "returns.csv"),
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{file}.csv")))
            .unwrap_or_else(|e| panic!("{file}.csv: {e}"));
        assert_eq!(text.lines().count(), 2, "{file}.csv:\n{text}");
        assert!(text.contains(code), "{file}.csv:\n{text}");
    }
    assert!(dir.join("rejects.xlsx").is_file());
}
