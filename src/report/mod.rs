//! The evaluation pack (SPEC 5), written to `reports/<pipeline>/<run-id>/`.
//!
//! The pack is built in a temporary folder beside the packs, flushed to
//! disk and renamed into place (never over an existing pack); only then does
//! `reports/<pipeline>/latest` (a published pack) or `latest-internal` move.
//! A failed or killed run leaves no half-written pack and never moves a link.
//! It reads one version of the warehouse, verified against its manifest first.

pub mod charts;
pub mod csv_out;
pub mod format;
pub mod html;
pub mod json;
pub mod rejects_csv;
pub mod xlsx;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::{InputError, SafetyError};
use crate::files::{claim_dir, failpoint, fsync_dir, DirKind};
use crate::metrics::{self, Evaluation};
use crate::pipeline::{Disclosure, Pipeline};
use crate::warehouse::Snapshot;

/// The link to the newest published pack of a pipeline.
pub const LATEST: &str = "latest";
/// The link to the newest internal (exact-figure) pack: never `latest`.
pub const LATEST_INTERNAL: &str = "latest-internal";
/// The words that mark every internal output (banner, headers, notes, file names' suffix).
pub const INTERNAL_MARK: &str = "INTERNAL — not for publication";
/// The suffix of an internal pack's table files.
pub const INTERNAL_SUFFIX: &str = "-INTERNAL";
/// The longest run id.
const RUN_ID_MAX: usize = 64;

/// How a pack is written.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Exact figures, every page and sheet marked internal.
    pub internal: bool,
    /// The run id (checked with `check_run_id`); default: `new_run_id`.
    pub run_id: Option<String>,
}

pub struct Pack {
    pub dir: PathBuf,
    pub run_id: String,
    pub suppressed: usize,
    /// Exact figures (by `--internal` or the pipeline's setting).
    pub internal: bool,
    /// The warehouse version the pack was computed from.
    pub version: String,
    /// Old packs removed by `keep_packs`.
    pub removed: Vec<String>,
}

/// A run id names a folder: `[A-Za-z0-9._-]`, 1 to 64 characters, and not
/// starting with `.` (so never `.` or `..`, and never a hidden name, which
/// smpeval keeps for its own temporary folders).
pub fn check_run_id(id: &str) -> Result<(), InputError> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if id.is_empty() || id.len() > RUN_ID_MAX || !ok_chars || id.starts_with('.') {
        return Err(InputError::Argument(format!(
            "--run-id \"{}\" is not a usable run id: use 1 to {RUN_ID_MAX} letters, digits, `.`, `_` or `-`, not starting with `.`",
            id.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

/// The default run id: the UTC time to the millisecond and a random suffix
/// of 8 letters and digits (41 bits), so runs in the same millisecond get
/// different ids (`20261127T132259.123Z-k3fa9c1q`). Were two ever to meet,
/// the second pack is refused, never written over the first.
pub fn new_run_id(at: chrono::DateTime<chrono::Utc>) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let suffix: String = (0..RUN_ID_SUFFIX)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{}-{suffix}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// Letters of a default run id's random suffix.
const RUN_ID_SUFFIX: usize = 8;

/// Computes the evaluation and writes the pack.
pub fn report(
    p: &Pipeline,
    opts: &Options,
    progress: &dyn crate::progress::Progress,
) -> Result<Pack> {
    let started = chrono::Utc::now();
    let internal = opts.internal || p.settings.disclosure == Disclosure::Internal;
    let run_id = match &opts.run_id {
        Some(id) => {
            check_run_id(id)?;
            id.clone()
        }
        None => new_run_id(started),
    };
    // Everything this run will touch is checked before any work.
    claim_dir(&p.reports, DirKind::Reports)?;
    let packs = p.reports.join(&p.name);
    claim_dir(&packs, DirKind::Reports)?;
    let link_name = if internal { LATEST_INTERNAL } else { LATEST };
    check_link(&packs.join(link_name))?;
    let dest = packs.join(&run_id);
    if dest.symlink_metadata().is_ok() {
        return Err(SafetyError::PackExists { dir: packs, run_id }.into());
    }
    remove_dead_temporaries(&packs);

    // One version of the warehouse, checked against its manifest: a reader
    // needs no lock, since a version never changes.
    let snap = Snapshot::open(&p.warehouse, &p.path)?.with_context(|| {
        format!(
            "the warehouse {} has no data yet: run `smpeval ingest {}` first",
            p.warehouse.display(),
            p.path.display()
        )
    })?;
    snap.verify()?;
    progress.say(&format!(
        "computing the evaluation from warehouse version {}",
        snap.version
    ));
    let mut e = metrics::evaluate(p, &snap, !internal)?;
    // Warnings about the data, on the data-quality page and in the log.
    e.notes.extend(e.linkage.as_ref().and_then(|l| {
        crate::ingest::linkage::linkage_warning(l, p.settings.min_linkage, internal)
    }));
    e.notes
        .extend(crate::ingest::warehouse_field_warnings(p, internal)?);
    if let Some(note) = in_progress_note(&e) {
        e.notes.push(note);
    }
    for note in &e.notes {
        progress.say(&format!("note: {note}"));
    }
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".tmp-{}-", std::process::id()))
        .tempdir_in(&packs)
        .with_context(|| format!("cannot create a temporary folder in {}", packs.display()))?;
    progress.say("writing the pack");
    write_pack(p, &e, &snap, tmp.path(), &dest, &run_id, started, internal)?;
    crate::files::fsync_tree(tmp.path())?;
    // On any error before this rename the temporary folder is removed when `tmp` drops.
    failpoint("report.publish")
        .and_then(|()| crate::files::rename_no_replace(tmp.path(), &dest))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::Error::new(SafetyError::PackExists {
                dir: packs.clone(),
                run_id: run_id.clone(),
            }),
            _ => anyhow::Error::new(e)
                .context(format!("cannot move the pack into {}", dest.display())),
        })?;
    let _ = tmp.keep();
    fsync_dir(&packs)?;
    point_link(&packs, link_name, &run_id)?;
    // The pack is made: a failure to remove old ones is a warning, not a failed run.
    let removed = match p.settings.keep_packs.map(|n| {
        failpoint("report.prune")
            .map_err(anyhow::Error::from)
            .and_then(|()| prune(&packs, n))
    }) {
        Some(Ok(gone)) => gone,
        Some(Err(e)) => {
            progress.warn(&format!("{e:#}"));
            Vec::new()
        }
        None => Vec::new(),
    };
    let suppressed = e.tables.iter().map(|t| t.suppressed.len()).sum();
    e.tables.clear();
    Ok(Pack {
        dir: dest,
        run_id,
        suppressed,
        internal,
        version: snap.version,
        removed,
    })
}

/// A `latest` link may be replaced only if it is one smpeval made (a
/// symbolic link naming a pack beside it) or missing.
fn check_link(link: &Path) -> Result<()> {
    match link.symlink_metadata() {
        Err(_) => Ok(()),
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::read_link(link)
                .with_context(|| format!("cannot read the link {}", link.display()))?;
            let plain = target.to_str().is_some_and(|t| check_run_id(t).is_ok());
            if plain {
                Ok(())
            } else {
                Err(SafetyError::ForeignEntry {
                    path: link.to_path_buf(),
                }
                .into())
            }
        }
        Ok(_) => Err(SafetyError::ForeignEntry {
            path: link.to_path_buf(),
        }
        .into()),
    }
}

/// Starters on courses still running at the data's date, in words (from the
/// controlled activity table, so a published pack shows the published count).
fn in_progress_note(e: &Evaluation) -> Option<String> {
    let t = e.table("activity_overall")?;
    if t.f64(0, "in_progress").unwrap_or(0.0) <= 0.0 {
        return None;
    }
    Some(format!(
        "{} starters are on courses still in progress on {} (the sixth session falls later): they are counted in activity but not in the completion and retention figures.",
        csv_out::shown(t, 0, "in_progress"),
        e.data_as_at.format("%-d %B %Y")
    ))
}

/// The sources, in words, for the cover sheet.
fn source_description(p: &Pipeline) -> String {
    use crate::pipeline::SourceKind;
    let mut parts = Vec::new();
    for (kind, what) in [
        (SourceKind::ProviderReturns, "Provider returns"),
        (
            SourceKind::Hospital,
            "hospital activity (HES/SUS-shaped extracts)",
        ),
        (SourceKind::Pam, "Patient Activation Measure scores"),
    ] {
        let names: Vec<&str> = p
            .sources
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.name.as_str())
            .collect();
        if !names.is_empty() {
            parts.push(format!("{what} ({})", names.join(", ")));
        }
    }
    format!("{}; pipeline {}.", parts.join("; "), p.name)
}

/// `<packs>/<name>` → `<run-id>`, swapped atomically (a new link renamed over the old).
fn point_link(packs: &Path, name: &str, run_id: &str) -> Result<()> {
    let link = packs.join(name);
    check_link(&link)?;
    let tmp = packs.join(format!(".tmp-{}-{name}", std::process::id()));
    if tmp
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        let _ = std::fs::remove_file(&tmp);
    }
    failpoint("report.latest")
        .and_then(|()| std::os::unix::fs::symlink(run_id, &tmp))
        .and_then(|()| std::fs::rename(&tmp, &link))
        .with_context(|| format!("cannot point {} at {run_id}", link.display()))?;
    fsync_dir(packs)
}

/// Removes temporary pack folders left by runs that were killed (their
/// process is gone); a running report's folder is left alone.
fn remove_dead_temporaries(packs: &Path) {
    for e in std::fs::read_dir(packs).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".tmp-") else {
            continue;
        };
        let pid: Option<u32> = rest.split('-').next().and_then(|x| x.parse().ok());
        let alive = pid.is_some_and(crate::warehouse::pid_running);
        if !alive {
            let path = e.path();
            if path
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
            {
                let _ = std::fs::remove_file(&path);
            } else {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
}

/// The packs in a pipeline's folder, oldest first (by when their manifest
/// was written, the last file of a pack).
pub fn packs(dir: &Path) -> Vec<String> {
    let mut out: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = e.path().symlink_metadata().ok()?;
            if !meta.is_dir() || check_run_id(&name).is_err() {
                return None;
            }
            let written = std::fs::metadata(e.path().join("manifest.json"))
                .and_then(|m| m.modified())
                .ok()?;
            Some((written, name))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, n)| n).collect()
}

/// Keeps the newest `keep` packs (and whatever `latest` and
/// `latest-internal` name); removes the others.
fn prune(dir: &Path, keep: usize) -> Result<Vec<String>> {
    let all = packs(dir);
    let pinned: Vec<String> = [LATEST, LATEST_INTERNAL]
        .iter()
        .filter_map(|l| std::fs::read_link(dir.join(l)).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .collect();
    let mut removed = Vec::new();
    for name in &all[..all.len().saturating_sub(keep)] {
        if pinned.contains(name) {
            continue;
        }
        let path = dir.join(name);
        let trash = dir.join(format!(".tmp-{}-trash-{name}", std::process::id()));
        std::fs::rename(&path, &trash)
            .and_then(|()| std::fs::remove_dir_all(&trash))
            .with_context(|| format!("cannot remove the old pack {}", path.display()))?;
        removed.push(name.clone());
    }
    Ok(removed)
}

/// Fails a write site for the tests (see `files::failpoint`), naming the path.
fn site(name: &str, path: &Path) -> Result<()> {
    failpoint(name).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes every file of the pack into `dir` (a temporary folder); messages
/// name the file where it would have been (`shown`, the pack's folder).
#[allow(clippy::too_many_arguments)]
fn write_pack(
    p: &Pipeline,
    e: &Evaluation,
    snap: &Snapshot,
    dir: &Path,
    shown: &Path,
    run_id: &str,
    started: chrono::DateTime<chrono::Utc>,
    internal: bool,
) -> Result<()> {
    let tables_dir = dir.join("tables");
    std::fs::create_dir_all(&tables_dir)?;
    site("report.tables", &shown.join("tables"))?;
    for t in &e.tables {
        let name = csv_out::file_name(t, internal);
        csv_out::write(t, &tables_dir.join(&name)).with_context(|| {
            format!(
                "cannot write {}",
                shown.join("tables").join(&name).display()
            )
        })?;
    }
    std::fs::write(
        dir.join(if internal {
            "tables-notes-INTERNAL.txt"
        } else {
            "tables-notes.txt"
        }),
        crate::ingest::nhs::mask_text(&csv_out::notes(internal, &e.notes)).as_bytes(),
    )?;
    site("report.charts", &shown.join("charts"))?;
    let charts = charts::draw_all(e, &dir.join("charts"))
        .with_context(|| format!("cannot write {}", shown.join("charts").display()))?;
    let disclosure = if internal {
        format!("{INTERNAL_MARK}: exact figures, with no disclosure control. Do not share outside the organisation that holds the data.")
    } else {
        html::DISCLOSURE_STATEMENT.to_string()
    };
    let cover = xlsx::Cover {
        title: &p.title,
        period: e.period,
        source: source_description(p),
        disclosure: &disclosure,
        contact: p.contact.as_deref().unwrap_or(
            "The team that runs this evaluation (set `contact` in the pipeline to name it).",
        ),
        notes: &e.notes,
    };
    site("report.xlsx", &shown.join("evaluation.xlsx"))?;
    xlsx::write(&e.tables, &cover, &dir.join("evaluation.xlsx"), internal)
        .with_context(|| format!("cannot write {}", shown.join("evaluation.xlsx").display()))?;
    // Feedback to providers: their rejected rows, in an internal pack only.
    if internal {
        rejects_csv::write_feedback(p, dir)?;
    }
    let html = html::render(p, e, &charts, run_id, internal);
    site("report.html", &shown.join("index.html"))?;
    std::fs::write(dir.join("index.html"), html)
        .with_context(|| format!("cannot write {}", shown.join("index.html").display()))?;
    let finished = chrono::Utc::now();
    let run = json::RunInfo {
        id: run_id.into(),
        pipeline: p.path.display().to_string(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        finished_at: finished.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        internal,
    };
    let metrics = json::metrics_json(e, &run);
    site("report.metrics", &shown.join("metrics.json"))?;
    std::fs::write(
        dir.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?,
    )
    .with_context(|| format!("cannot write {}", shown.join("metrics.json").display()))?;
    // The pack's manifest: what it was made from. Input hashes and sizes only
    // in an internal pack (a size is a proxy for row counts, a hash confirms a guessed file).
    let inputs = match internal {
        true => snap.table(crate::warehouse::MANIFEST)?,
        false => None,
    };
    let mut files = Vec::new();
    if let Some(m) = inputs {
        let t = metrics::Table::new("", "", m);
        for i in 0..t.height() {
            files.push(serde_json::json!({"path": t.text(i, "path"), "sha256": t.text(i, "sha256"), "size_bytes": t.f64(i, "size_bytes")}));
        }
    }
    let manifest = serde_json::json!({
        "run_id": run_id,
        "pipeline": p.path.display().to_string(),
        "pipeline_sha256": p.sha256,
        "tool_version": env!("CARGO_PKG_VERSION"),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "disclosure": if internal { "internal" } else { "published" },
        "warehouse_version": snap.version,
        "demo_key": p.privacy.demo,
    });
    let mut manifest = manifest;
    if internal {
        manifest["inputs"] = serde_json::Value::Array(files);
    }
    site("report.manifest", &shown.join("manifest.json"))?;
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )
    .with_context(|| format!("cannot write {}", shown.join("manifest.json").display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_name_one_folder_and_nothing_else() {
        for ok in ["t", "2026-11-27", "a.b_c-D9", &"x".repeat(RUN_ID_MAX)] {
            assert!(check_run_id(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(RUN_ID_MAX + 1);
        for bad in [
            "", ".", "..", ".hidden", "a/b", "/abs", "..\\x", "a b", "é", "a\nb", &long,
        ] {
            assert!(check_run_id(bad).is_err(), "{bad:?}");
        }
    }
}
