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

use polars::prelude::PolarsError;

use crate::error::{FileOp, InputError, SafetyError, StoreError, WriteError};
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

/// A run id names a folder: `[A-Za-z0-9._-]`, 1 to 64 characters, neither
/// starting with `.` (so never `.` or `..`, and never a hidden name, which
/// smpeval keeps for its own temporary folders) nor ending with one (a
/// Windows share drops it); never `latest` or `latest-internal` in any case
/// (a share that ignores case would take it for the link); never a name
/// Windows keeps for a device ([`windows_device`]).
pub fn check_run_id(id: &str) -> Result<(), InputError> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let dots = id.starts_with('.') || id.ends_with('.');
    if id.is_empty() || id.len() > RUN_ID_MAX || !ok_chars || dots {
        // As typed, a control character shown as `?` (not Rust's escapes).
        let shown: String = id
            .chars()
            .take(80)
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        return Err(InputError::Argument(format!(
            "--run-id \"{shown}\" is not a usable run id: use 1 to {RUN_ID_MAX} letters, digits, `.`, `_` or `-`, not starting or ending with `.`"
        )));
    }
    if crate::ingest::nhs::names_an_nhs_number(id) {
        return Err(InputError::Argument(
            "--run-id holds what reads as an NHS number: a run id names the pack and is shown in it; choose another".into(),
        ));
    }
    if [LATEST, LATEST_INTERNAL]
        .iter()
        .any(|l| l.eq_ignore_ascii_case(id))
    {
        return Err(InputError::Argument(format!(
            "--run-id \"{id}\" is not a usable run id: `{LATEST}` and `{LATEST_INTERNAL}` name the links to the newest packs"
        )));
    }
    if windows_device(id) {
        return Err(InputError::Argument(format!(
            "--run-id \"{id}\" is not a usable run id: Windows keeps that name for a device, so the pack could not be copied to or opened from a Windows share"
        )));
    }
    Ok(())
}

/// A name Windows keeps for a device, in any case and with any extension
/// (`CON`, `nul.txt`, `COM1`, `LPT9.x`): no file or folder can have it there.
fn windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).to_ascii_uppercase();
    let numbered = |prefix: &str| {
        stem.strip_prefix(prefix)
            .is_some_and(|n| n.len() == 1 && n.as_bytes()[0].is_ascii_digit())
    };
    matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL") || numbered("COM") || numbered("LPT")
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

/// Why a pack could not be made. Each names the file or folder concerned;
/// the cause, where there is one, is its source.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the warehouse {} has no data yet: run `smpeval ingest {}` first", warehouse.display(), pipeline.display())]
    NoData {
        warehouse: PathBuf,
        pipeline: PathBuf,
    },
    /// A file of the pack, named where it would have been.
    #[error("cannot write {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A table of the warehouse that is not as ingest writes it.
    #[error("the warehouse table {table} cannot be read")]
    Table {
        table: &'static str,
        #[source]
        source: PolarsError,
    },
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Safety(#[from] SafetyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Metrics(#[from] crate::error::MetricsError),
    /// Ingest's warnings about the warehouse could not be read.
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
}

impl ReportError {
    /// The error a transparent variant stands for (for the exit code).
    pub fn wrapped(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReportError::Input(e) => Some(e),
            ReportError::Safety(e) => Some(e),
            ReportError::Store(e) => Some(e),
            ReportError::Write(e) => Some(e),
            ReportError::Metrics(e) => Some(e),
            ReportError::Ingest(e) => Some(e),
            _ => None,
        }
    }

    /// A file of the pack could not be written (`path`: where it would have been).
    pub(crate) fn file<E>(path: &Path) -> impl FnOnce(E) -> ReportError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let path = path.to_path_buf();
        move |e| ReportError::File {
            path,
            source: Box::new(e),
        }
    }
}

/// What making a pack returns.
pub type ReportResult<T> = Result<T, ReportError>;

/// Computes the evaluation and writes the pack.
pub fn report(
    p: &Pipeline,
    opts: &Options,
    progress: &dyn crate::progress::Progress,
) -> ReportResult<Pack> {
    let started = chrono::Utc::now();
    let internal = opts.internal || p.settings.disclosure == Disclosure::Internal;
    let run_id = match &opts.run_id {
        Some(id) => {
            check_run_id(id)?;
            id.clone()
        }
        None => new_run_id(started),
    };
    let link_name = if internal { LATEST_INTERNAL } else { LATEST };
    let packs = claim_packs(p, link_name, &run_id)?;
    let dest = packs.join(&run_id);
    remove_dead_temporaries(&packs);

    // One version of the warehouse, checked against its manifest: a reader
    // needs no lock, since a version never changes.
    let snap =
        Snapshot::open_pinned(&p.warehouse, &p.path)?.ok_or_else(|| ReportError::NoData {
            warehouse: p.warehouse.clone(),
            pipeline: p.path.clone(),
        })?;
    snap.verify().map_err(StoreError::from)?;
    progress.say(&format!(
        "computing the evaluation from warehouse version {}",
        snap.version
    ));
    let mut e = evaluate_with_notes(p, &snap, internal, progress)?;
    let tmp = crate::files::temp_dir_in(&packs)?;
    progress.say("writing the pack");
    let pack = PackRun {
        p,
        e: &e,
        snap: &snap,
        dir: tmp.path(),
        shown: &dest,
        run_id: &run_id,
        started,
        internal,
    };
    pack.write()?;
    publish(tmp, &packs, &run_id)?;
    if let Some(newer) = point_link(&packs, link_name, &run_id, &snap.read_at)? {
        progress.warn(&format!(
            "{link_name} still names pack {newer}, made from the warehouse as it stood after this report read it (version {}; another run committed or reported while this one was working); this pack is kept, unlinked, at {}",
            snap.version,
            dest.display()
        ));
    }
    let removed = prune_quietly(p, &packs, progress);
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

/// [`report`]'s checks of the reports folder, its `latest` link and the run
/// id, for `run` to make before its ingest.
pub fn check_packs(p: &Pipeline, internal: bool, run_id: &str) -> ReportResult<()> {
    let internal = internal || p.settings.disclosure == Disclosure::Internal;
    let link_name = if internal { LATEST_INTERNAL } else { LATEST };
    claim_packs(p, link_name, run_id).map(|_| ())
}

/// Checks everything a run will touch before any work: the reports folder
/// and the pipeline's packs folder are smpeval's, the `latest` link is one
/// it made, and no pack has this run id. Returns the packs folder.
fn claim_packs(p: &Pipeline, link_name: &str, run_id: &str) -> ReportResult<PathBuf> {
    claim_dir(&p.reports, DirKind::Reports)?;
    let packs = p.reports.join(&p.name);
    claim_dir(&packs, DirKind::Reports)?;
    check_link(&packs.join(link_name))?;
    if packs.join(run_id).symlink_metadata().is_ok() {
        // A run id already used is a bad --run-id (exit 2), said as the
        // refusal to write over a pack says it.
        let exists = SafetyError::PackExists {
            dir: packs,
            run_id: run_id.into(),
        };
        return Err(InputError::Argument(exists.to_string()).into());
    }
    Ok(packs)
}

/// The evaluation, with the warnings about the data (linkage, fields
/// corrected at ingest, courses in progress) added to its notes and logged.
fn evaluate_with_notes(
    p: &Pipeline,
    snap: &Snapshot,
    internal: bool,
    progress: &dyn crate::progress::Progress,
) -> ReportResult<Evaluation> {
    let mut e = metrics::evaluate(p, snap, !internal)?;
    let linkage = e
        .linkage
        .as_ref()
        .and_then(|l| crate::ingest::linkage::linkage_warning(l, p.settings.min_linkage, internal));
    // A scheduler's alert: logged as a warning (kept by --quiet), and a note in the pack.
    if let Some(w) = &linkage {
        progress.warn(w);
    }
    let at = e.notes.len();
    let fields = crate::ingest::warehouse_field_warnings(p, internal)?;
    e.notes.extend(fields);
    if let Some(note) = in_progress_note(&e) {
        e.notes.push(note);
    }
    for note in &e.notes {
        // A note the pack marks as a warning is a warning in the log too
        // (`--quiet` keeps it; a monitor on the level sees it).
        match note.strip_prefix(crate::metrics::WARNING) {
            Some(w) => progress.warn(w),
            None => progress.say(&format!("note: {note}")),
        }
    }
    // In the pack, where it always stood: before the notes on fields.
    if let Some(w) = linkage {
        e.notes.insert(at, w);
    }
    Ok(e)
}

/// Flushes the finished pack and renames it into place, never over another
/// (on any error before the rename the temporary folder goes when `tmp` drops).
fn publish(tmp: tempfile::TempDir, packs: &Path, run_id: &str) -> ReportResult<()> {
    let dest = packs.join(run_id);
    crate::files::fsync_tree(tmp.path())?;
    failpoint("report.publish")
        .and_then(|()| crate::files::rename_no_replace(tmp.path(), &dest))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => ReportError::from(SafetyError::PackExists {
                dir: packs.to_path_buf(),
                run_id: run_id.into(),
            }),
            _ => StoreError::io(FileOp::MovePackInto, &dest)(e).into(),
        })?;
    let _ = tmp.keep();
    fsync_dir(packs)?;
    Ok(())
}

/// Removes packs beyond the pipeline's `keep_packs`. The pack is made: a
/// failure here is a warning, not a failed run.
fn prune_quietly(
    p: &Pipeline,
    packs: &Path,
    progress: &dyn crate::progress::Progress,
) -> Vec<String> {
    let Some(keep) = p.settings.keep_packs else {
        return Vec::new();
    };
    let pruned = failpoint("report.prune")
        .map_err(|e| StoreError::io(FileOp::RemoveOldPack, packs)(e).into())
        .and_then(|()| prune(packs, keep));
    pruned.unwrap_or_else(|e| {
        progress.warn(&crate::error::chain_text(&e));
        Vec::new()
    })
}

/// A `latest` link may be replaced only if it is one smpeval made (a
/// symbolic link naming a pack beside it) or missing.
fn check_link(link: &Path) -> ReportResult<()> {
    match link.symlink_metadata() {
        Err(_) => Ok(()),
        Ok(m) if m.file_type().is_symlink() => {
            let target =
                std::fs::read_link(link).map_err(StoreError::io(FileOp::ReadLink, link))?;
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

/// `<packs>/<name>` → `<run-id>`, swapped atomically (a new link renamed
/// over the old), unless the pack it names now read the warehouse later
/// than this one did (`read_at`, [`Snapshot::read_at`]): a report that read
/// the old version and finished after a run that committed a new one must
/// not take `latest` back. Read times, not version numbers, so that a
/// warehouse made anew or a version restored moves the link too. Returns
/// that newer pack's run id when the link is left alone. One swap at a time
/// (a lock on the packs folder), so the check and the swap are one step.
fn point_link(
    packs: &Path,
    name: &str,
    run_id: &str,
    read_at: &str,
) -> ReportResult<Option<String>> {
    let link = packs.join(name);
    check_link(&link)?;
    let folder = std::fs::File::open(packs).map_err(StoreError::io(FileOp::Read, packs))?;
    folder
        .lock()
        .map_err(StoreError::io(FileOp::PointAt(run_id.into()), &link))?;
    if let Some((named, theirs)) = linked_read_at(&link) {
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
        if at(&theirs).zip(at(read_at)).is_some_and(|(a, b)| a > b) {
            return Ok(Some(named));
        }
    }
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
        .map_err(StoreError::io(FileOp::PointAt(run_id.into()), &link))?;
    fsync_dir(packs)?;
    Ok(None)
}

/// The pack `link` names and when it read the warehouse, as its manifest
/// says (None where there is no link, or a pack made before manifests said
/// it).
fn linked_read_at(link: &Path) -> Option<(String, String)> {
    let named = std::fs::read_link(link).ok()?;
    let text = std::fs::read_to_string(link.join("manifest.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    let read_at = manifest["warehouse_read_at"].as_str()?.to_string();
    Some((named.to_string_lossy().into_owned(), read_at))
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
fn prune(dir: &Path, keep: usize) -> ReportResult<Vec<String>> {
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
            .map_err(StoreError::io(FileOp::RemoveOldPack, &path))?;
        removed.push(name.clone());
    }
    Ok(removed)
}

/// Fails a write site for the tests (see `files::failpoint`), naming the path.
fn site(name: &str, path: &Path) -> ReportResult<()> {
    failpoint(name).map_err(ReportError::file(path))
}

/// One pack being written into `dir` (a temporary folder); messages name
/// each file where it would have been (`shown`, the pack's folder).
struct PackRun<'a> {
    p: &'a Pipeline,
    e: &'a Evaluation,
    snap: &'a Snapshot,
    dir: &'a Path,
    shown: &'a Path,
    run_id: &'a str,
    started: chrono::DateTime<chrono::Utc>,
    internal: bool,
}

impl PackRun<'_> {
    /// Writes every file of the pack, the manifest last.
    fn write(&self) -> ReportResult<()> {
        self.tables()?;
        site("report.charts", &self.shown.join("charts"))?;
        let charts = charts::draw_all(self.e, &self.dir.join("charts"))
            .map_err(ReportError::file(&self.shown.join("charts")))?;
        self.workbook()?;
        // Feedback to providers: their rejected rows, in an internal pack only.
        if self.internal {
            rejects_csv::write_feedback(self.p, self.dir)?;
        }
        let html = html::render(self.p, self.e, &charts, self.run_id, self.internal);
        self.text_file("report.html", "index.html", html)?;
        let run = self.run_info();
        let metrics = json::metrics_json(self.e, &run);
        self.text_file("report.metrics", "metrics.json", pretty(&metrics))?;
        self.text_file(
            "report.manifest",
            "manifest.json",
            pretty(&self.manifest(&run)?),
        )
    }

    /// Every table as CSV, and the notes that go with them.
    fn tables(&self) -> ReportResult<()> {
        let tables_dir = self.dir.join("tables");
        std::fs::create_dir_all(&tables_dir)
            .map_err(ReportError::file(&self.shown.join("tables")))?;
        site("report.tables", &self.shown.join("tables"))?;
        for t in &self.e.tables {
            let name = csv_out::file_name(t, self.internal);
            csv_out::write(t, &tables_dir.join(&name))
                .map_err(ReportError::file(&self.shown.join("tables").join(&name)))?;
        }
        let notes = if self.internal {
            "tables-notes-INTERNAL.txt"
        } else {
            "tables-notes.txt"
        };
        let text = csv_out::notes(self.internal, &self.e.notes);
        std::fs::write(
            self.dir.join(notes),
            crate::ingest::nhs::mask_text(&text).as_bytes(),
        )
        .map_err(ReportError::file(&self.shown.join(notes)))
    }

    /// The workbook: a cover sheet, then every table.
    fn workbook(&self) -> ReportResult<()> {
        let (p, e) = (self.p, self.e);
        let disclosure = if self.internal {
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
        let shown = self.shown.join("evaluation.xlsx");
        site("report.xlsx", &shown)?;
        xlsx::write(
            &e.tables,
            &cover,
            &self.dir.join("evaluation.xlsx"),
            self.internal,
        )
        .map_err(ReportError::file(&shown))
    }

    /// Writes one text file of the pack, after its failpoint.
    fn text_file(&self, failpoint: &str, name: &str, text: String) -> ReportResult<()> {
        let shown = self.shown.join(name);
        site(failpoint, &shown)?;
        std::fs::write(self.dir.join(name), text).map_err(ReportError::file(&shown))
    }

    fn run_info(&self) -> json::RunInfo {
        let secs =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        json::RunInfo {
            id: self.run_id.into(),
            pipeline: self.p.path.display().to_string(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            started_at: secs(self.started),
            finished_at: secs(chrono::Utc::now()),
            internal: self.internal,
        }
    }

    /// The pack's manifest: what it was made from. Input hashes and sizes
    /// only in an internal pack (a size is a proxy for row counts, a hash
    /// confirms a guessed file).
    fn manifest(&self, run: &json::RunInfo) -> ReportResult<serde_json::Value> {
        let mut manifest = serde_json::json!({
            "run_id": self.run_id,
            "pipeline": self.p.path.display().to_string(),
            "pipeline_sha256": self.p.sha256,
            "tool_version": env!("CARGO_PKG_VERSION"),
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "disclosure": if self.internal { "internal" } else { "published" },
            "warehouse_version": self.snap.version,
            "warehouse_read_at": self.snap.read_at,
            "demo_key": self.p.privacy.demo,
        });
        if self.internal {
            let mut files = Vec::new();
            if let Some(m) = self.snap.table(crate::warehouse::MANIFEST)? {
                let t = metrics::Table::new("", "", m);
                for i in 0..t.height() {
                    files.push(serde_json::json!({"path": t.text(i, "path"), "sha256": t.text(i, "sha256"), "size_bytes": t.f64(i, "size_bytes")}));
                }
            }
            manifest["inputs"] = serde_json::Value::Array(files);
        }
        Ok(manifest)
    }
}

/// A JSON value as the pack writes it (pretty, two-space indents).
fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).expect("a JSON value serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_is_never_taken_back_to_a_warehouse_read_earlier() {
        let dir = tempfile::tempdir().unwrap();
        let packs = dir.path();
        let pack = |id: &str, read_at: &str| {
            std::fs::create_dir(packs.join(id)).unwrap();
            let m = serde_json::json!({ "warehouse_read_at": read_at });
            std::fs::write(packs.join(id).join("manifest.json"), m.to_string()).unwrap();
        };
        let named = || std::fs::read_link(packs.join(LATEST)).unwrap();
        let (t1, t2, t3) = (
            "2026-11-28T02:00:00.000000001Z",
            "2026-11-28T02:00:05.000000000Z",
            "2026-11-28T02:00:09.500000000Z",
        );
        // A report read the warehouse at t1; a run committed a new version
        // and read it at t2, and finished first.
        pack("run-b", t2);
        assert_eq!(point_link(packs, LATEST, "run-b", t2).unwrap(), None);
        assert_eq!(named(), Path::new("run-b"));
        pack("report-a", t1);
        assert_eq!(
            point_link(packs, LATEST, "report-a", t1).unwrap(),
            Some("run-b".to_string())
        );
        assert_eq!(named(), Path::new("run-b"));
        // A later read moves it, whatever its version (a warehouse made
        // anew starts again at v000001).
        pack("report-c", t3);
        assert_eq!(point_link(packs, LATEST, "report-c", t3).unwrap(), None);
        assert_eq!(named(), Path::new("report-c"));
        // A pack made before manifests said when is replaced.
        std::fs::create_dir(packs.join("old")).unwrap();
        std::fs::write(packs.join("old/manifest.json"), "{}").unwrap();
        std::os::unix::fs::symlink("old", packs.join(".x")).unwrap();
        std::fs::rename(packs.join(".x"), packs.join(LATEST)).unwrap();
        assert_eq!(point_link(packs, LATEST, "run-d", t1).unwrap(), None);
        assert_eq!(named(), Path::new("run-d"));
    }

    #[test]
    fn run_ids_name_one_folder_and_nothing_else() {
        for ok in ["t", "2026-11-27", "a.b_c-D9", &"x".repeat(RUN_ID_MAX)] {
            assert!(check_run_id(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(RUN_ID_MAX + 1);
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "/abs",
            "..\\x",
            "a b",
            "é",
            "a\nb",
            &long,
            "x.",
            "latest",
            "LATEST",
            "Latest-Internal",
            "CON",
            "nul",
            "Aux.2026",
            "prn.txt",
            "COM1",
            "lpt9",
        ] {
            assert!(check_run_id(bad).is_err(), "{bad:?}");
        }
        // Names that only begin like a device are fine.
        for ok in ["CONSOLE", "com10", "LPT", "nullable", "a.CON"] {
            assert!(check_run_id(ok).is_ok(), "{ok}");
        }
        // Shown on one line, whatever it holds, a control character as `?`.
        let e = check_run_id("a\nb").unwrap_err().to_string();
        assert!(e.starts_with("--run-id \"a?b\""), "{e}");
    }
}
