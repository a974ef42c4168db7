//! Issue 11, "Unattended and safe": a warehouse a kill cannot tear, paths
//! that cannot hurt, and what a scheduler expects (exit codes, JSON logs,
//! `status --json`). Each test names the case of the issue it covers. The
//! kill test itself is `tests/kill_check.sh` (too slow for `cargo test`).

mod common;
use common::*;

use serde_json::Value;
use std::path::{Path, PathBuf};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// The tiny fixture in a fresh folder (pipeline `tiny`, warehouse `wh`, reports `reports`).
fn tiny() -> Workdir {
    let w = Workdir::new();
    copy_dir(&repo().join("tests/fixtures/tiny"), w.dir.path());
    w
}

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "{}", r.all());
}

/// A [`tree`] without `last-run.json` (every command records itself there).
fn but_last_run(tree: Vec<(PathBuf, Vec<u8>)>) -> Vec<(PathBuf, Vec<u8>)> {
    tree.into_iter()
        .filter(|(p, _)| !p.ends_with("last-run.json"))
        .collect()
}

/// Every file under a folder with its bytes, for "nothing changed" checks.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for p in glob::glob(&format!("{}/**/*", dir.display()))
        .unwrap()
        .flatten()
    {
        let meta = p.symlink_metadata().unwrap();
        if meta.file_type().is_symlink() {
            out.push((
                p.clone(),
                std::fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            ));
        } else if meta.is_file() {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

fn metrics_without_run(path: &Path) -> Value {
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    m.as_object_mut().unwrap().remove("run");
    m
}

/// Drops the last data row of the hospital extract (a changed file).
fn change_hospital(w: &Workdir) {
    let path = w.path("hospital.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

// --- run ids and packs -------------------------------------------------

#[test]
fn run_id_dot_dot_is_refused_and_deletes_nothing() {
    let w = tiny();
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "a"]));
    let before = tree(w.dir.path());
    for bad in [
        "..",
        ".",
        "",
        "a/b",
        "/tmp/x",
        "../x",
        ".hidden",
        "a b",
        &"x".repeat(65),
    ] {
        let r = w.run(&["report", "pipeline.toml", "--run-id", bad]);
        assert_eq!(r.code, 2, "--run-id {bad:?}: {}", r.all());
        assert!(r.stderr.contains("is not a usable run id"), "{}", r.stderr);
    }
    // Shown as typed, a control character as `?`, never with Rust's escapes.
    for (bad, shown) in [("café", "\"café\""), ("a\tb", "\"a?b\"")] {
        let r = w.run(&["report", "pipeline.toml", "--run-id", bad]);
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(
            r.stderr.contains(shown) && !r.stderr.contains("\\u{"),
            "{}",
            r.stderr
        );
    }
    // `run` refuses it before ingesting anything either.
    let r = w.run(&["run", "pipeline.toml", "--run-id", ".."]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert_eq!(
        but_last_run(before),
        but_last_run(tree(w.dir.path())),
        "a refused run id changed files"
    );
    // The longest id allowed works.
    ok(&w.run(&["report", "pipeline.toml", "--run-id", &"x".repeat(64)]));
}

#[test]
fn run_refuses_a_used_or_reserved_run_id_before_it_ingests() {
    let w = tiny();
    for id in ["latest", "latest-internal"] {
        let r = w.run(&["run", "pipeline.toml", "--run-id", id]);
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(
            r.stderr.contains("name the links to the newest packs"),
            "{}",
            r.stderr
        );
    }
    assert!(w.path("reports/tiny/latest").symlink_metadata().is_err());
    // A run id names the pack and is shown in it: never an NHS number.
    let r = w.run(&["run", "pipeline.toml", "--run-id", "943-476-5919"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(!r.all().contains("5919"), "{}", r.all());
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "first"]));
    let version = std::fs::read_to_string(w.path("wh/CURRENT")).unwrap();
    // A changed input would make a new version; the used id stops the run first.
    let returns = w.path("returns.csv");
    let mut text = std::fs::read_to_string(&returns).unwrap();
    text.push('\n');
    std::fs::write(&returns, text).unwrap();
    let r = w.run(&["run", "pipeline.toml", "--run-id", "first"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert_eq!(
        std::fs::read_to_string(w.path("wh/CURRENT")).unwrap(),
        version
    );
}

#[test]
fn a_pack_is_never_overwritten() {
    let w = tiny();
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "same"]));
    let before = tree(&w.path("reports/tiny/same"));
    // The internal pack of the same id (the "same second" case).
    let r = w.run(&["report", "pipeline.toml", "--run-id", "same", "--internal"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("a pack named `same` already exists"),
        "{}",
        r.stderr
    );
    assert_eq!(tree(&w.path("reports/tiny/same")), before);
    assert_eq!(
        std::fs::read_link(w.path("reports/tiny/latest")).unwrap(),
        PathBuf::from("same")
    );
}

#[test]
fn default_run_ids_differ_within_one_millisecond() {
    let at = chrono::Utc::now();
    let ids: std::collections::BTreeSet<String> =
        (0..2000).map(|_| smpeval::report::new_run_id(at)).collect();
    assert_eq!(ids.len(), 2000, "same-millisecond ids collided");
    for id in &ids {
        smpeval::report::check_run_id(id).unwrap();
        assert!(
            id.starts_with(&at.format("%Y%m%dT%H%M%S%.3fZ-").to_string()),
            "{id}"
        );
    }
    // Two packs made back to back without --run-id: two folders.
    let w = tiny();
    ok(&w.run(&["run", "pipeline.toml"]));
    ok(&w.run(&["report", "pipeline.toml"]));
    ok(&w.run(&["report", "pipeline.toml", "--internal"]));
    let packs = smpeval::report::packs(&w.path("reports/tiny"));
    assert_eq!(packs.len(), 3, "{packs:?}");
}

#[test]
fn an_internal_pack_never_becomes_latest() {
    let w = tiny();
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "pub"]));
    ok(&w.run(&["report", "pipeline.toml", "--run-id", "int", "--internal"]));
    let link = |n: &str| std::fs::read_link(w.path("reports/tiny").join(n)).unwrap();
    assert_eq!(link("latest"), PathBuf::from("pub"));
    assert_eq!(link("latest-internal"), PathBuf::from("int"));
    let m = metrics_without_run(&w.path("reports/tiny/latest/metrics.json"));
    assert!(!m.to_string().contains("INTERNAL"));
    // A pipeline whose setting makes every pack internal never makes `latest` at all.
    let text = std::fs::read_to_string(w.path("pipeline.toml")).unwrap();
    std::fs::write(
        w.path("internal.toml"),
        text.replace("name = \"tiny\"", "name = \"tinyint\"")
            .replace("[settings]", "[settings]\ndisclosure = \"internal\""),
    )
    .unwrap();
    ok(&w.run(&["run", "internal.toml", "--run-id", "i2"]));
    assert!(w.path("reports/tinyint/latest-internal").exists());
    assert!(w.path("reports/tinyint/latest").symlink_metadata().is_err());
}

#[test]
fn two_pipelines_sharing_reports_keep_their_own_latest() {
    let w = tiny();
    let text = std::fs::read_to_string(w.path("pipeline.toml")).unwrap();
    std::fs::write(
        w.path("other.toml"),
        text.replace("name = \"tiny\"", "name = \"other\"")
            .replace("warehouse = \"wh\"", "warehouse = \"wh2\""),
    )
    .unwrap();
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "a"]));
    ok(&w.run(&["run", "other.toml", "--run-id", "b"]));
    assert_eq!(
        std::fs::read_link(w.path("reports/tiny/latest")).unwrap(),
        PathBuf::from("a")
    );
    assert_eq!(
        std::fs::read_link(w.path("reports/other/latest")).unwrap(),
        PathBuf::from("b")
    );
}

#[test]
fn another_pipeline_cannot_ingest_into_a_pipelines_warehouse() {
    let w = tiny();
    let text = std::fs::read_to_string(w.path("pipeline.toml")).unwrap();
    // Another pipeline over the same warehouse without the PAM source would
    // remove tiny's PAM rows.
    let other = text.replace("name = \"tiny\"", "name = \"other\"");
    let start = other
        .find("[[sources]]\nname = \"pam\"")
        .expect("a PAM source");
    let end = other[start + 1..]
        .find("[[sources]]")
        .map_or(other.len(), |i| start + 1 + i);
    let other = format!("{}{}", &other[..start], &other[end..]);
    std::fs::write(w.path("other.toml"), other).unwrap();
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "a"]));
    let before = tree(&w.path("wh"));
    let r = w.run(&["ingest", "other.toml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("holds pipeline `tiny`'s data; refusing to let pipeline `other` remove"),
        "{}",
        r.stderr
    );
    assert_eq!(
        but_last_run(before),
        but_last_run(tree(&w.path("wh"))),
        "the refused ingest changed the warehouse"
    );
    // The pipeline itself goes on ingesting; a stale temporary a killed run
    // left beside CURRENT goes, a fresh one stays.
    let stale = w.path("wh/.tmp-stale");
    std::fs::write(&stale, "v0000").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    std::fs::write(w.path("wh/.tmp-fresh"), "v0000").unwrap();
    ok(&w.run(&["ingest", "pipeline.toml"]));
    assert!(!stale.exists());
    assert!(w.path("wh/.tmp-fresh").exists());
}

#[test]
fn a_foreign_latest_is_never_replaced() {
    let w = tiny();
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "a"]));
    std::fs::remove_file(w.path("reports/tiny/latest")).unwrap();
    std::fs::write(w.path("reports/tiny/latest"), "my notes").unwrap();
    let r = w.run(&["report", "pipeline.toml", "--run-id", "b"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("reports/tiny/latest is not a link smpeval made; refusing to replace it"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(w.path("reports/tiny/latest")).unwrap(),
        "my notes"
    );
    assert!(
        !w.path("reports/tiny/b").exists(),
        "no pack is written when latest cannot move"
    );
    // A link pointing outside the folder is not ours either.
    std::fs::remove_file(w.path("reports/tiny/latest")).unwrap();
    std::os::unix::fs::symlink("/etc", w.path("reports/tiny/latest")).unwrap();
    let r = w.run(&["report", "pipeline.toml", "--run-id", "c"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(
        std::fs::read_link(w.path("reports/tiny/latest")).unwrap(),
        PathBuf::from("/etc")
    );
    // status names no pack for it.
    let r = w.run(&["status", "pipeline.toml", "--json"]);
    let s: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(s["latest_pack"].is_null(), "{s}");
}

#[test]
fn keep_packs_removes_the_oldest_packs_only() {
    let w = tiny();
    let text = std::fs::read_to_string(w.path("pipeline.toml")).unwrap();
    std::fs::write(
        w.path("pipeline.toml"),
        text.replace("[settings]", "[settings]\nkeep_packs = 2"),
    )
    .unwrap();
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "p1"]));
    ok(&w.run(&["report", "pipeline.toml", "--run-id", "i1", "--internal"]));
    for id in ["p2", "p3", "p4"] {
        std::thread::sleep(std::time::Duration::from_millis(20));
        ok(&w.run(&["report", "pipeline.toml", "--run-id", id]));
    }
    let mut packs = smpeval::report::packs(&w.path("reports/tiny"));
    packs.sort();
    // The two newest, and the internal pack `latest-internal` still names.
    assert_eq!(packs, vec!["i1", "p3", "p4"]);
}

// --- folders that are not ours ------------------------------------------

#[test]
fn a_foreign_non_empty_folder_is_never_written() {
    let w = tiny();
    // A warehouse path pointing at someone's folder.
    std::fs::create_dir_all(w.path("wh")).unwrap();
    std::fs::write(w.path("wh/thesis.docx"), "years of work").unwrap();
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("wh is not empty and was not made by smpeval (it has no `.smpeval` marker file); refusing to write there"),
        "{}",
        r.stderr
    );
    assert_eq!(tree(&w.path("wh")).len(), 1);
    std::fs::remove_dir_all(w.path("wh")).unwrap();

    // A reports path pointing at someone's folder.
    ok(&w.run(&["ingest", "pipeline.toml"]));
    std::fs::create_dir_all(w.path("reports")).unwrap();
    std::fs::write(w.path("reports/latest"), "mine").unwrap();
    let r = w.run(&["report", "pipeline.toml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("reports is not empty and was not made by smpeval"),
        "{}",
        r.stderr
    );
    assert_eq!(tree(&w.path("reports")).len(), 1);

    // A warehouse an earlier smpeval made (no versions, no marker) is named as such.
    std::fs::create_dir_all(w.path("old/wh/manifest")).unwrap();
    std::fs::write(w.path("old/wh/manifest/manifest.parquet"), "").unwrap();
    let text = std::fs::read_to_string(w.path("pipeline.toml")).unwrap();
    std::fs::write(
        w.path("old.toml"),
        text.replace("warehouse = \"wh\"", "warehouse = \"old/wh\""),
    )
    .unwrap();
    let r = w.run(&["ingest", "old.toml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains(
            "old/wh is a warehouse made by an earlier smpeval, without versions; move it aside"
        ),
        "{}",
        r.stderr
    );

    // An empty folder is fine: smpeval marks it and uses it.
    std::fs::remove_file(w.path("reports/latest")).unwrap();
    ok(&w.run(&["report", "pipeline.toml", "--run-id", "x"]));
    assert!(w.path("reports/.smpeval").is_file());
    assert!(w.path("reports/tiny/.smpeval").is_file());
}

#[test]
fn a_symlinked_lock_is_refused_and_its_target_untouched() {
    let w = tiny();
    ok(&w.run(&["ingest", "pipeline.toml"]));
    std::fs::write(w.path("precious.txt"), "do not truncate").unwrap();
    std::fs::remove_file(w.path("wh/.lock")).unwrap();
    std::os::unix::fs::symlink(w.path("precious.txt"), w.path("wh/.lock")).unwrap();
    change_hospital(&w);
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("wh/.lock is a symbolic link; refusing to follow it"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(w.path("precious.txt")).unwrap(),
        "do not truncate"
    );
}

// --- the lock and exit codes --------------------------------------------

#[test]
fn a_stale_lock_from_a_killed_run_is_taken_over_with_a_warning() {
    let w = tiny();
    ok(&w.run(&["ingest", "pipeline.toml"]));
    // What a kill -9 leaves: the holder's details, and no flock.
    std::fs::write(
        w.path("wh/.lock"),
        "pid=999999\nhost=elsewhere\nstarted_at=2026-01-01T02:30:00.000Z\ncommand=ingest\n",
    )
    .unwrap();
    change_hospital(&w);
    let r = w.run(&["ingest", "pipeline.toml"]);
    ok(&r);
    assert!(
        r.stderr.contains("warning: took over a stale lock")
            && r.stderr
                .contains("pid 999999 on host elsewhere, started 2026-01-01T02:30:00.000Z"),
        "{}",
        r.stderr
    );
    // Released: the file says nobody.
    assert_eq!(std::fs::read_to_string(w.path("wh/.lock")).unwrap(), "");
}

#[test]
fn a_locked_warehouse_exits_3_naming_the_holder() {
    let w = tiny();
    ok(&w.run(&["ingest", "pipeline.toml"]));
    let _held = smpeval::warehouse::lock(&w.path("wh"), "test").unwrap();
    change_hospital(&w);
    let r = w.run(&["--log-format", "json", "ingest", "pipeline.toml"]);
    assert_eq!(r.code, 3, "{}", r.all());
    let last: Value = serde_json::from_str(r.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    let msg = last["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("pid {} on host", std::process::id())),
        "{msg}"
    );
    assert!(msg.contains("started 20"), "{msg}");
    // A report needs no lock: it reads the current version, which never changes.
    ok(&w.run(&["report", "pipeline.toml", "--run-id", "while-locked"]));
}

// --- versions, verify on read, repair --------------------------------------

#[test]
fn each_ingest_is_a_new_version_and_old_versions_are_collected() {
    let w = tiny();
    let text = std::fs::read_to_string(w.path("pipeline.toml")).unwrap();
    std::fs::write(
        w.path("pipeline.toml"),
        text.replace("[settings]", "[settings]\nkeep_versions = 2"),
    )
    .unwrap();
    ok(&w.run(&["ingest", "pipeline.toml"]));
    assert_eq!(
        std::fs::read_to_string(w.path("wh/CURRENT")).unwrap(),
        "v000001\n"
    );
    // Nothing changed: no new version.
    ok(&w.run(&["ingest", "pipeline.toml"]));
    assert_eq!(smpeval::warehouse::versions(&w.path("wh")), vec!["v000001"]);
    change_hospital(&w);
    ok(&w.run(&["ingest", "pipeline.toml"]));
    // Unchanged parts are hard links to the previous version's files.
    use std::os::unix::fs::MetadataExt;
    let returns_part = glob::glob(&format!(
        "{}/wh/versions/v000002/participants/*.parquet",
        w.dir.path().display()
    ))
    .unwrap()
    .flatten()
    .next()
    .unwrap();
    assert_eq!(std::fs::metadata(&returns_part).unwrap().nlink(), 2);
    std::fs::write(
        w.path("hospital.csv"),
        std::fs::read(repo().join("tests/fixtures/tiny/hospital.csv")).unwrap(),
    )
    .unwrap();
    ok(&w.run(&["ingest", "pipeline.toml"]));
    assert_eq!(
        smpeval::warehouse::versions(&w.path("wh")),
        vec!["v000002", "v000003"]
    );
    assert_eq!(
        std::fs::read_to_string(w.path("wh/CURRENT")).unwrap(),
        "v000003\n"
    );
}

#[test]
fn a_damaged_version_is_refused_until_repaired() {
    let w = tiny();
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "good"]));
    let good = metrics_without_run(&w.path("reports/tiny/good/metrics.json"));
    // A part file lost from the current version.
    let v = current(&w.path("wh"));
    let part = glob::glob(&format!("{}/pam_scores/*.parquet", v.display()))
        .unwrap()
        .flatten()
        .next()
        .unwrap();
    std::fs::remove_file(&part).unwrap();
    let r = w.run(&["report", "pipeline.toml", "--run-id", "bad"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("does not match its manifest: table pam_scores: file")
            && r.stderr.contains("is missing")
            && r.stderr.contains("`smpeval ingest --repair pipeline.toml`"),
        "{}",
        r.stderr
    );
    assert!(!w.path("reports/tiny/bad").exists());
    // A plain ingest refuses to build on it too.
    let r = w.run(&["ingest", "pipeline.toml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("--repair"), "{}", r.stderr);
    // A Parquet file a glob would read that the version does not list.
    ok(&w.run(&["ingest", "--repair", "pipeline.toml"]));
    let v = current(&w.path("wh"));
    std::fs::copy(
        glob::glob(&format!("{}/participants/*.parquet", v.display()))
            .unwrap()
            .flatten()
            .next()
            .unwrap(),
        v.join("participants/part-extra.parquet"),
    )
    .unwrap();
    let r = w.run(&["report", "pipeline.toml", "--run-id", "bad"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("table participants: file")
            && r.stderr.contains("is not in the version's list"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(v.join("participants/part-extra.parquet")).unwrap();
    ok(&w.run(&["report", "pipeline.toml", "--run-id", "again"]));
    assert_eq!(
        metrics_without_run(&w.path("reports/tiny/again/metrics.json")),
        good
    );
}

#[test]
fn parts_that_disagree_with_the_manifest_are_refused() {
    // The torn warehouse: hospital rows on disk that are not the
    // manifest's (here one part rewritten shorter, and its list entry too).
    use polars::prelude::*;
    let w = tiny();
    ok(&w.run(&["ingest", "pipeline.toml"]));
    let v = current(&w.path("wh"));
    let list_path = v.join("snapshot.json");
    let mut list: Value =
        serde_json::from_str(&std::fs::read_to_string(&list_path).unwrap()).unwrap();
    let entry = list["files"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["table"] == "hospital_events" && f["rows"].as_u64().unwrap() > 1)
        .unwrap();
    let part = v.join(entry["path"].as_str().unwrap());
    let df = ParquetReader::new(std::fs::File::open(&part).unwrap())
        .finish()
        .unwrap();
    let mut shorter = df.head(Some(df.height() - 1));
    std::fs::remove_file(&part).unwrap();
    ParquetWriter::new(std::fs::File::create(&part).unwrap())
        .finish(&mut shorter)
        .unwrap();
    entry["rows"] = Value::from(shorter.height());
    entry["bytes"] = Value::from(std::fs::metadata(&part).unwrap().len());
    std::fs::write(&list_path, serde_json::to_string(&list).unwrap()).unwrap();
    let r = w.run(&["report", "pipeline.toml", "--run-id", "torn"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("table hospital_events: the parts from hospital.csv hold")
            && r.stderr.contains("rows where the manifest says")
            && r.stderr.contains("smpeval ingest --repair pipeline.toml"),
        "{}",
        r.stderr
    );
    let s: Value =
        serde_json::from_str(&w.run(&["status", "pipeline.toml", "--json"]).stdout).unwrap();
    assert_eq!(s["warehouse"]["verified"], false);
    ok(&w.run(&["ingest", "--repair", "pipeline.toml"]));
    ok(&w.run(&["report", "pipeline.toml", "--run-id", "repaired"]));
}

// --- failpoints: a failed write leaves the previous version and pack -----

#[test]
fn every_ingest_write_site_fails_cleanly() {
    let w = tiny();
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "before"]));
    change_hospital(&w);
    let before_wh = tree(&w.path("wh/versions"));
    let before_current = std::fs::read_to_string(w.path("wh/CURRENT")).unwrap();
    for (site, path_shown) in [
        (
            "ingest.part",
            "wh/versions/v000002/hospital_events/setting=",
        ),
        ("ingest.rejects", "wh/versions/v000002/rejects/part-"),
        (
            "ingest.manifest",
            "wh/versions/v000002/manifest/manifest.parquet",
        ),
        (
            "ingest.courses",
            "wh/versions/v000002/courses/courses.parquet",
        ),
        ("ingest.link", "wh/versions/v000001/"),
        ("ingest.snapshot", "snapshot.json"),
        ("ingest.publish", "wh/versions/v000002"),
        ("ingest.current", "wh/CURRENT"),
    ] {
        for kind in ["enospc", "eacces"] {
            let fp = format!("{site}={kind}");
            let r = run_env(
                w.dir.path(),
                &["ingest", "pipeline.toml"],
                &[("SMPEVAL_FAILPOINTS", &fp)],
            );
            assert_eq!(r.code, 1, "{fp}: {}", r.all());
            assert!(r.stderr.contains(path_shown), "{fp}: {}", r.stderr);
            let why = if kind == "enospc" {
                "No space left on device"
            } else {
                "Permission denied"
            };
            assert!(r.stderr.contains(why), "{fp}: {}", r.stderr);
            assert_eq!(
                std::fs::read_to_string(w.path("wh/CURRENT")).unwrap(),
                before_current,
                "{fp}"
            );
            assert_eq!(
                tree(&w.path("wh/versions")),
                before_wh,
                "{fp}: the versions changed"
            );
            // The report still gives the old figures.
            let r = w.run(&[
                "report",
                "pipeline.toml",
                "--run-id",
                &format!("after-{site}-{kind}"),
            ]);
            ok(&r);
            assert_eq!(
                metrics_without_run(
                    &w.path(&format!("reports/tiny/after-{site}-{kind}/metrics.json"))
                ),
                metrics_without_run(&w.path("reports/tiny/before/metrics.json")),
                "{fp}"
            );
        }
    }
    // Without a failpoint the same ingest commits.
    ok(&w.run(&["ingest", "pipeline.toml"]));
    assert_eq!(
        std::fs::read_to_string(w.path("wh/CURRENT")).unwrap(),
        "v000002\n"
    );
}

#[test]
fn a_panic_is_a_failed_run_with_one_message_not_a_backtrace() {
    // A bug that panics (once, a number in a sheet's date column did) must
    // still leave a scheduler an exit code it knows, one masked message and
    // the failed run's record.
    let w = tiny();
    for format in ["text", "json"] {
        let r = run_env(
            w.dir.path(),
            &["--log-format", format, "run", "pipeline.toml"],
            &[("SMPEVAL_FAILPOINTS", "report.publish=panic")],
        );
        assert_eq!(r.code, 1, "{}", r.all());
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert!(!r.stderr.contains("backtrace"), "{}", r.stderr);
        assert!(
            r.stderr.contains("smpeval stopped on an internal error")
                && r.stderr.contains("failpoint report.publish"),
            "{}",
            r.stderr
        );
        if format == "json" {
            for line in r.stderr.lines() {
                let _: Value = serde_json::from_str(line).unwrap();
            }
        }
        let last: Value =
            serde_json::from_str(&std::fs::read_to_string(w.path("wh/last-run.json")).unwrap())
                .unwrap();
        assert_eq!(last["result"], "failed");
        assert_eq!(last["exit_code"], 1);
    }
}

#[test]
fn a_run_killed_in_its_report_shows_in_status_as_unfinished() {
    // The lock shows a killed ingest; a run killed after its ingest (in the
    // report) left the previous run's record as if nothing had happened.
    let w = tiny();
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "first"]));
    let mut child = std::process::Command::new(bin())
        .args(["run", "pipeline.toml", "--run-id", "killed"])
        .current_dir(w.dir.path())
        .env("SMPEVAL_HMAC_KEY", TEST_KEY)
        .env("SMPEVAL_FAILPOINTS", "report.publish=pause")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("failpoint report.publish: paused") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0,
            "the run ended before the failpoint"
        );
    }
    let status = || -> Value {
        let r = w.run(&["status", "pipeline.toml", "--json"]);
        ok(&r);
        serde_json::from_str(&r.stdout).unwrap()
    };
    let s = status();
    assert_eq!(s["unfinished"][0]["running"], true, "{s}");
    assert_eq!(s["unfinished"][0]["record"]["run_id"], "killed");
    assert_eq!(s["unfinished"][0]["record"]["result"], "running");
    child.kill().unwrap();
    child.wait().unwrap();
    let s = status();
    assert_eq!(s["unfinished"][0]["running"], false, "{s}");
    assert_eq!(s["unfinished"][0]["record"]["command"], "run");
    let text = w.run(&["status", "pipeline.toml"]);
    assert!(
        text.stdout.contains("unfinished: killed (run) started at")
            && text.stdout.contains("did not finish"),
        "{}",
        text.stdout
    );
    // The next run clears it, and a finished run leaves none.
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "after"]));
    let s = status();
    assert_eq!(s["unfinished"], Value::Array(vec![]), "{s}");
    assert_eq!(s["last_run"]["run_id"], "after");
}

#[test]
fn every_report_write_site_fails_cleanly() {
    let w = tiny();
    ok(&w.run(&["run", "pipeline.toml", "--run-id", "before"]));
    let before = tree(&w.path("reports"));
    for site in [
        "report.tables",
        "report.charts",
        "report.xlsx",
        "report.html",
        "report.metrics",
        "report.manifest",
        "report.publish",
    ] {
        let r = run_env(
            w.dir.path(),
            &["report", "pipeline.toml", "--run-id", "new"],
            &[("SMPEVAL_FAILPOINTS", site)],
        );
        assert_eq!(r.code, 1, "{site}: {}", r.all());
        assert!(
            r.stderr.contains("reports/tiny/new"),
            "{site}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("No space left on device"),
            "{site}: {}",
            r.stderr
        );
        assert_eq!(
            tree(&w.path("reports")),
            before,
            "{site}: the packs changed"
        );
    }
    // The link's own write: the new pack exists, `latest` still names the old one.
    let r = run_env(
        w.dir.path(),
        &["report", "pipeline.toml", "--run-id", "new"],
        &[("SMPEVAL_FAILPOINTS", "report.latest")],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("cannot point reports/tiny/latest at new"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_link(w.path("reports/tiny/latest")).unwrap(),
        PathBuf::from("before")
    );
}

// --- what a scheduler reads ---------------------------------------------

#[test]
fn status_json_says_version_last_run_files_and_lock() {
    let w = tiny();
    let r = w.run(&["status", "pipeline.toml", "--json"]);
    ok(&r);
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(s["warehouse"]["version"], Value::Null);
    assert!(s["files"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["state"] == "new"));

    ok(&w.run(&["run", "pipeline.toml", "--run-id", "night1"]));
    change_hospital(&w);
    std::fs::write(w.path("pam.csv"), "").unwrap();
    std::fs::remove_file(w.path("pam.csv")).unwrap();
    let r = w.run(&["status", "pipeline.toml", "--json"]);
    ok(&r);
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(s["pipeline"], "tiny");
    assert_eq!(s["warehouse"]["version"], "v000001");
    assert_eq!(s["warehouse"]["verified"], true);
    assert!(s["warehouse"]["snapshot_dir"]
        .as_str()
        .unwrap()
        .ends_with("wh/versions/v000001"));
    assert_eq!(s["last_run"]["run_id"], "night1");
    assert_eq!(s["last_run"]["command"], "run");
    assert_eq!(s["last_run"]["result"], "ok");
    assert_eq!(s["last_run"]["exit_code"], 0);
    assert_eq!(s["latest_pack"], "night1");
    assert_eq!(s["lock"], Value::Null);
    let state = |name: &str| {
        s["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(name))
            .map(|f| f["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state("returns.csv").as_deref(), Some("ingested"));
    assert_eq!(state("hospital.csv").as_deref(), Some("changed"));
    assert_eq!(state("pam.csv").as_deref(), Some("missing"));

    // A failed run is recorded; a lock holder is shown.
    let r = w.run(&["run", "pipeline.toml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    let _held = smpeval::warehouse::lock(&w.path("wh"), "test").unwrap();
    let s: Value =
        serde_json::from_str(&w.run(&["status", "pipeline.toml", "--json"]).stdout).unwrap();
    assert_eq!(s["last_run"]["result"], "failed");
    assert_eq!(s["last_run"]["exit_code"], 2);
    assert_eq!(s["lock"]["pid"], std::process::id());
    assert_eq!(s["lock"]["running"], true);
    assert_eq!(s["last_run_problem"], Value::Null);

    // A damaged record is said to be damaged, not "none recorded".
    std::fs::write(w.path("wh/last-run.json"), "{\"run_id\": \"ni").unwrap();
    let s: Value =
        serde_json::from_str(&w.run(&["status", "pipeline.toml", "--json"]).stdout).unwrap();
    assert_eq!(s["last_run"], Value::Null);
    assert!(
        s["last_run_problem"].as_str().unwrap().contains("damaged"),
        "{s}"
    );
    let text = w.run(&["status", "pipeline.toml"]).stdout;
    assert!(text.contains("last run: unknown: "), "{text}");
}

#[test]
fn files_ingested_by_an_older_smpeval_are_said_to_be_read_again_once() {
    use polars::prelude::*;
    let w = tiny();
    ok(&w.run(&["ingest", "pipeline.toml"]));
    // Make the version look written by an older smpeval: its manifest's
    // schema versions one lower, and the version's list of files to match.
    let v = w.path("wh/versions/v000001");
    let m = v.join("manifest/manifest.parquet");
    let mut df = ParquetReader::new(std::fs::File::open(&m).unwrap())
        .finish()
        .unwrap();
    let older = df.column("schema_version").unwrap().u32().unwrap() - 1;
    df.with_column(older.into_column()).unwrap();
    ParquetWriter::new(std::fs::File::create(&m).unwrap())
        .finish(&mut df)
        .unwrap();
    let snap_path = v.join("snapshot.json");
    let mut snap: Value =
        serde_json::from_str(&std::fs::read_to_string(&snap_path).unwrap()).unwrap();
    for f in snap["files"].as_array_mut().unwrap() {
        if f["table"] == "manifest" {
            f["bytes"] = std::fs::metadata(&m).unwrap().len().into();
        }
    }
    std::fs::write(&snap_path, snap.to_string()).unwrap();
    let states = || -> Vec<String> {
        let s: Value =
            serde_json::from_str(&w.run(&["status", "pipeline.toml", "--json"]).stdout).unwrap();
        let files = s["files"].as_array().unwrap().iter();
        files
            .map(|f| f["state"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(states().iter().all(|s| s == "upgrade"), "{:?}", states());
    let r = w.run(&["ingest", "pipeline.toml"]);
    ok(&r);
    assert!(
        r.stderr
            .contains("read again: it is unchanged, but was ingested by an older smpeval"),
        "{}",
        r.all()
    );
    assert!(states().iter().all(|s| s == "ingested"), "{:?}", states());
    // Nothing is said of a file ingested by this smpeval, read again or checked.
    for args in [
        &["ingest", "--repair", "pipeline.toml"][..],
        &["validate", "pipeline.toml"][..],
    ] {
        let r = w.run(args);
        ok(&r);
        assert!(!r.all().contains("older smpeval"), "{}", r.all());
    }
}

#[test]
fn json_logs_are_one_object_a_line_and_quiet_is_quiet() {
    let w = tiny();
    let r = w.run(&[
        "--log-format",
        "json",
        "run",
        "pipeline.toml",
        "--run-id",
        "j",
    ]);
    ok(&r);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let lines: Vec<Value> = r
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() > 5);
    for l in &lines {
        for k in ["time", "level", "step", "message", "counts"] {
            assert!(l.get(k).is_some(), "{k} missing: {l}");
        }
        assert_eq!(l["run_id"], "j");
    }
    assert!(lines
        .iter()
        .any(|l| l["step"] == "ingest" && l["counts"]["rows_read"].as_u64().is_some()));
    assert!(lines
        .iter()
        .any(|l| l["step"] == "report" && l["message"].as_str().unwrap().starts_with("pack: ")));

    change_hospital(&w);
    let r = w.run(&["--quiet", "run", "pipeline.toml", "--run-id", "q"]);
    ok(&r);
    assert_eq!(r.all().trim(), "", "quiet printed something");
    // A refused pipeline's error line names its run too.
    std::fs::write(w.path("bad.toml"), "name = 3\n").unwrap();
    let r = w.run(&["--log-format", "json", "run", "bad.toml", "--run-id", "b"]);
    assert_eq!(r.code, 2, "{}", r.all());
    let last: serde_json::Value = serde_json::from_str(r.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(
        (&last["level"], &last["run_id"]),
        (&"error".into(), &"b".into())
    );
    let r = w.run(&["--quiet", "report", "pipeline.toml", "--run-id", "q"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("error: a pack named `q` already exists"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_command_line_clap_refuses_is_one_json_line_and_never_shows_an_nhs_number() {
    let w = tiny();
    // A scheduler asked for JSON: a misspelt option is one JSON error line, exit 2.
    for args in [
        &["--log-format", "json", "run", "pipeline.toml", "--bogus"][..],
        &["--log-format=json", "frob"][..],
        &["run", "pipeline.toml", "--run-id", "--log-format", "json"][..],
    ] {
        let r = w.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.all());
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {}", r.stderr);
        let line: Value =
            serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {}", lines[0]));
        assert_eq!(
            (&line["level"], &line["step"]),
            (&"error".into(), &"usage".into())
        );
        assert!(!line["message"].as_str().unwrap().is_empty());
    }
    // An argument clap refuses is quoted back: an NHS number in it is masked,
    // in text and in JSON.
    for args in [
        &["--log-format", "943 476 5919", "run", "pipeline.toml"][..],
        &[
            "--log-format",
            "json",
            "run",
            "pipeline.toml",
            "--9434765919",
        ][..],
    ] {
        let r = w.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.all());
        assert!(r.stderr.contains("error"), "{}", r.stderr);
        for shown in ["9434765919", "943 476 5919"] {
            assert!(
                !r.all().contains(shown),
                "{args:?} showed {shown}: {}",
                r.all()
            );
        }
    }
    // Help and version are not errors.
    assert_eq!(w.run(&["--help"]).code, 0);
    assert_eq!(w.run(&["--version"]).code, 0);
}

#[test]
fn status_says_a_damaged_current_is_not_an_empty_warehouse() {
    let w = tiny();
    ok(&w.run(&["ingest", "pipeline.toml"]));
    for damaged in ["v000009", "junk\n"] {
        std::fs::write(w.path("wh/CURRENT"), damaged).unwrap();
        let r = w.run(&["status", "pipeline.toml"]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(
            r.stdout.contains("no current version can be read")
                && !r.stdout.contains("nothing ingested yet")
                && r.stdout.contains("  problem: ")
                && r.stdout.contains("--repair")
                && !r.stdout.contains("os error"),
            "{}",
            r.stdout
        );
    }
}
