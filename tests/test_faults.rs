//! Generated data with `--faults`: every planted fault lands in `rejects` with
//! its line and reason, and nothing else does.

mod common;
use common::*;

#[derive(serde::Deserialize, Debug)]
struct Fault {
    file: String,
    line: u32,
    field: String,
    reason: String,
    severity: String,
}

#[test]
fn planted_faults_and_only_they_are_rejected() {
    let w = Workdir::new();
    let r = w.run(&[
        "generate",
        "--out",
        "gen",
        "--participants",
        "400",
        "--seed",
        "11",
        "--faults",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let faults: Vec<Fault> =
        serde_json::from_str(&std::fs::read_to_string(w.path("gen/faults.json")).unwrap()).unwrap();
    assert!(faults.len() >= 15, "{} faults", faults.len());

    let r = w.run(&["ingest", "gen/pipeline.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    for (table_name, severity) in [("rejects", "reject"), ("warnings", "warning")] {
        let want: Vec<&Fault> = faults.iter().filter(|f| f.severity == severity).collect();
        assert!(!want.is_empty(), "no planted {severity}s");
        same_findings(&w, table_name, want);
    }
}

/// The table holds exactly the planted faults, by file, line and field.
fn same_findings(w: &Workdir, table_name: &str, mut want: Vec<&Fault>) {
    let rejects = table(&w.path("gen/warehouse"), table_name);
    let files = strs(&rejects, "source_file");
    let lines = u64s(&rejects, "line");
    let fields = strs(&rejects, "field");
    let reasons = strs(&rejects, "reason");
    let mut got: Vec<(String, u64, String, String)> = (0..rejects.height())
        .map(|i| {
            let name = std::path::Path::new(&files[i])
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, lines[i], fields[i].clone(), reasons[i].clone())
        })
        .collect();
    got.sort();
    want.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    assert_eq!(
        got.len(),
        want.len(),
        "rejects: {got:#?}\nfaults: {want:#?}"
    );
    for (g, f) in got.iter().zip(want) {
        assert_eq!(
            (&g.0, g.1, &g.2),
            (&f.file, f.line as u64, &f.field),
            "reject {g:?} vs fault {f:?}"
        );
        assert!(
            g.3.contains(&f.reason),
            "reject {g:?} should say {:?}",
            f.reason
        );
    }
}

#[test]
fn generation_is_reproducible_from_the_seed() {
    let w = Workdir::new();
    assert_eq!(
        w.run(&[
            "generate",
            "--out",
            "a",
            "--participants",
            "200",
            "--seed",
            "5"
        ])
        .code,
        0
    );
    assert_eq!(
        w.run(&[
            "generate",
            "--out",
            "b",
            "--participants",
            "200",
            "--seed",
            "5"
        ])
        .code,
        0
    );
    assert_eq!(
        w.run(&[
            "generate",
            "--out",
            "c",
            "--participants",
            "200",
            "--seed",
            "6"
        ])
        .code,
        0
    );
    let read = |p: &str| std::fs::read(w.path(p)).unwrap();
    assert_eq!(read("a/hes_apc.csv"), read("b/hes_apc.csv"));
    assert_eq!(
        read("a/northside_returns.csv"),
        read("b/northside_returns.csv")
    );
    assert_ne!(read("a/hes_apc.csv"), read("c/hes_apc.csv"));
}

#[test]
fn too_few_participants_for_faults_is_refused_not_a_panic() {
    let w = Workdir::new();
    let r = w.run(&["generate", "--out", "g", "--participants", "5", "--faults"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("--faults needs at least 100 participants"),
        "{}",
        r.stderr
    );
    let r = w.run(&["generate", "--out", "g", "--participants", "0"]);
    assert_eq!(r.code, 2, "{}", r.all());
}
