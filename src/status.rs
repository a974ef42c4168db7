//! `smpeval status`: what the warehouse holds, the last run, each input
//! file's state and who holds the lock, for an operator or a monitor.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ingest::{self, FileState};
use crate::pipeline::Pipeline;
use crate::warehouse::{self, Holder, Snapshot};

/// What the last ingest, report or run of a pipeline did, kept in
/// `<warehouse>/last-run.json` for `smpeval status` and monitoring.
#[derive(Debug, Serialize, serde::Deserialize)]
///
/// A scheduler or monitor may read it: the file is replaced whole at the end
/// of each command (never half-written), except by a command refused because
/// another run held the lock, which leaves the previous record in place.
pub struct LastRun {
    /// The run's id: for `run` and `report` the pack folder's name (as given
    /// with `--run-id`, else made from the start time); for `ingest` made from
    /// the start time.
    pub run_id: String,
    /// The command that ran: `run`, `report`, `ingest` or `ingest --repair`.
    pub command: String,
    /// `ok` or `failed`.
    pub result: String,
    /// The process's exit code: 0 ok, 1 failure, 2 bad input or pipeline.
    pub exit_code: i32,
    /// When the command started: UTC, RFC 3339 to the millisecond
    /// (`2026-01-31T02:00:00.123Z`).
    pub started_at: String,
    /// When the command finished, in the same form.
    pub finished_at: String,
    /// Why it failed: the error and its causes, NHS numbers masked; None when
    /// it succeeded.
    pub message: Option<String>,
    /// The warehouse version ingested into or reported from; None when the
    /// command failed before it had one (or an ingest left no version).
    pub warehouse_version: Option<String>,
    /// The folder of the pack written (`reports/<pipeline>/<run id>`); None
    /// for an ingest, or when the command failed before writing a pack.
    pub pack: Option<String>,
}

impl LastRun {
    /// The record of a command starting `at`: `ok` until it ends otherwise.
    pub fn started(run_id: &str, command: &str, at: chrono::DateTime<chrono::Utc>) -> LastRun {
        LastRun {
            run_id: run_id.into(),
            command: command.into(),
            result: "ok".into(),
            exit_code: 0,
            started_at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            finished_at: String::new(),
            message: None,
            warehouse_version: None,
            pack: None,
        }
    }
}

pub const LAST_RUN: &str = "last-run.json";

/// Writes the record atomically (a run that reads it sees the last whole one).
pub fn write_last_run(warehouse: &Path, record: &LastRun) -> crate::error::StoreResult<()> {
    let text = serde_json::to_string_pretty(record).expect("a run record serialises");
    crate::files::write_atomic(&warehouse.join(LAST_RUN), text.as_bytes(), "lastrun")
}

/// What a command that has started and not finished leaves in the
/// warehouse: `running-<pid>.json`, its record with `result` `running`,
/// removed when it finishes (whatever the outcome). One left by a process
/// that is gone is a run that was killed, or whose machine stopped, part way.
const RUNNING_PREFIX: &str = "running-";

fn running_path(warehouse: &Path, pid: u32) -> PathBuf {
    warehouse.join(format!("{RUNNING_PREFIX}{pid}.json"))
}

/// The open record of this process's command, locked while it runs: the
/// kernel drops the lock when the process ends however it ends, so a record
/// nobody holds is one a process left when it was killed (a process id may
/// be reused; a lock is not).
static HELD: std::sync::Mutex<Option<std::fs::File>> = std::sync::Mutex::new(None);

/// True while the process that wrote the record at `path` is running.
fn held(path: &Path) -> bool {
    match std::fs::File::open(path) {
        Ok(f) => matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Records that this process's command has started (`record`, its result
/// set to `running`), in a warehouse smpeval made, and holds a lock on the
/// record until the process ends; the records that processes now gone left
/// are removed (a new run starts: `last-run.json` will say how it ends).
pub fn mark_started(warehouse: &Path, record: &LastRun) -> crate::error::StoreResult<()> {
    if !crate::files::is_ours(warehouse, crate::files::DirKind::Warehouse) {
        return Ok(());
    }
    for (_, path) in running_records(warehouse) {
        if !held(&path) {
            let _ = std::fs::remove_file(path);
        }
    }
    let mut v = serde_json::to_value(record).expect("a run record serialises");
    v["result"] = "running".into();
    let text = serde_json::to_string_pretty(&v).expect("a run record serialises");
    // Locked before it is renamed into place (the lock goes with the file),
    // so a command starting at the same moment never sees it unheld.
    let path = running_path(warehouse, std::process::id());
    let mut tmp = crate::files::temp_file_in(warehouse)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .and_then(|()| tmp.as_file().lock())
        .map_err(crate::error::StoreError::io(
            crate::error::FileOp::Write,
            &path,
        ))?;
    let f = crate::files::persist(tmp, &path)?;
    if let Ok(mut kept) = HELD.lock() {
        *kept = Some(f);
    }
    Ok(())
}

/// Removes this process's record of a command started ([`mark_started`]).
pub fn mark_finished(warehouse: &Path) {
    let _ = std::fs::remove_file(running_path(warehouse, std::process::id()));
    if let Ok(mut kept) = HELD.lock() {
        *kept = None;
    }
}

/// The `running-<pid>.json` records in the warehouse, by pid.
fn running_records(warehouse: &Path) -> Vec<(u32, PathBuf)> {
    let mut out: Vec<(u32, PathBuf)> = std::fs::read_dir(warehouse)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix(RUNNING_PREFIX)?.strip_suffix(".json")?;
            Some((pid.parse().ok()?, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// A command started and not finished: its record, its process, and
/// whether that process is still running (false: it was killed part way;
/// from the lock on its record, not the process id, which may be reused).
#[derive(Debug, Serialize)]
pub struct Unfinished {
    pub pid: u32,
    pub running: bool,
    pub record: serde_json::Value,
}

fn unfinished(warehouse: &Path) -> Vec<Unfinished> {
    running_records(warehouse)
        .into_iter()
        .filter_map(|(pid, path)| {
            let record = serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
            Some(Unfinished {
                pid,
                running: held(&path),
                record,
            })
        })
        .collect()
}

/// The last run's record, or why a record that is there cannot be read.
fn last_run_of(path: &Path) -> (Option<serde_json::Value>, Option<String>) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (None, None),
        Err(_) => return (None, Some(format!("{} cannot be read", path.display()))),
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) if v.is_object() => (Some(v), None),
        _ => (
            None,
            Some(format!(
                "{} is damaged (not a run record); the next run replaces it",
                path.display()
            )),
        ),
    }
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub pipeline: String,
    pub pipeline_file: PathBuf,
    pub warehouse: WarehouseStatus,
    /// `<warehouse>/last-run.json`, as the last ingest, report or run wrote it.
    pub last_run: Option<serde_json::Value>,
    /// Why `last-run.json` is there but cannot be read (damaged or not
    /// smpeval's); None when it reads or is absent.
    pub last_run_problem: Option<String>,
    /// Who holds the lock now (`running: false` is a stale lock a killed run left).
    pub lock: Option<Holder>,
    /// Commands started and not finished: still running, or (`running:
    /// false`) killed part way, as the lock shows only for an ingest.
    pub unfinished: Vec<Unfinished>,
    pub files: Vec<FileState>,
    /// The run id `reports/<pipeline>/latest` names, and `latest-internal`.
    pub latest_pack: Option<String>,
    pub latest_internal_pack: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct WarehouseStatus {
    pub path: PathBuf,
    /// The current version (None before the first ingest).
    pub version: Option<String>,
    pub committed_at: Option<String>,
    /// The folder an outside reader reads for a consistent snapshot.
    pub snapshot_dir: Option<PathBuf>,
    /// Every version kept, oldest first.
    pub versions: Vec<String>,
    /// True when the current version matches its manifest.
    pub verified: bool,
    pub problem: Option<String>,
}

pub fn status(p: &Pipeline) -> Result<Status, crate::ingest::IngestError> {
    let wh = &p.warehouse;
    let opened = Snapshot::open(wh, &p.path);
    let (snap, problem) = match opened {
        Ok(s) => (s, None),
        Err(e) => (None, Some(crate::error::chain_text(&e))),
    };
    let problem = problem
        .or_else(|| {
            snap.as_ref()
                .and_then(|s| s.verify().err())
                .map(|e| e.to_string())
        })
        .map(|p| crate::error::without_os_error_numbers(&p));
    let files = match (&snap, &problem) {
        (Some(s), None) => ingest::file_states(p, Some(s))?,
        (None, None) => ingest::file_states(p, None)?,
        _ => Vec::new(),
    };
    let (last_run, last_run_problem) = last_run_of(&wh.join(LAST_RUN));
    // Only a link smpeval makes: the name of a pack folder beside it (a link
    // replaced by one to elsewhere names no pack; the next run refuses it).
    let packs = p.reports.join(&p.name);
    let link = |name: &str| {
        std::fs::read_link(packs.join(name))
            .ok()
            .filter(|t| t.components().count() == 1 && packs.join(t).is_dir())
            .map(|t| t.to_string_lossy().into_owned())
    };
    Ok(Status {
        pipeline: p.name.clone(),
        pipeline_file: p.path.clone(),
        warehouse: WarehouseStatus {
            path: wh.clone(),
            version: snap.as_ref().map(|s| s.version.clone()),
            committed_at: snap.as_ref().map(|s| s.created_at.clone()),
            snapshot_dir: snap.as_ref().map(|s| s.dir.clone()),
            versions: warehouse::versions(wh),
            verified: snap.is_some() && problem.is_none(),
            problem,
        },
        last_run,
        last_run_problem,
        lock: warehouse::holder(wh),
        unfinished: unfinished(wh),
        files,
        latest_pack: link(crate::report::LATEST),
        latest_internal_pack: link(crate::report::LATEST_INTERNAL),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warehouse_before_its_first_ingest_has_no_version_and_no_problem() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = crate::pipeline::tests::minimal("");
        p.warehouse = dir.path().join("warehouse");
        p.reports = dir.path().join("reports");
        let s = status(&p).unwrap();
        assert_eq!(s.warehouse.version, None);
        assert!(!s.warehouse.verified);
        assert_eq!(s.warehouse.problem, None);
        assert!(s.lock.is_none() && s.latest_pack.is_none());
    }

    #[test]
    fn a_started_command_is_running_while_its_record_is_held_not_while_its_pid_lives() {
        let dir = tempfile::tempdir().unwrap();
        let wh = dir.path().join("wh");
        crate::files::claim_dir(&wh, crate::files::DirKind::Warehouse).unwrap();
        let record = |id: &str| LastRun::started(id, "run", chrono::Utc::now());
        // A record left by a killed process whose id is now another live
        // process's (1, init's): not running.
        let text = serde_json::to_string(&record("killed")).unwrap();
        std::fs::write(running_path(&wh, 1), &text).unwrap();
        let u = unfinished(&wh);
        assert_eq!((u.len(), u[0].pid, u[0].running), (1, 1, false));
        // This process's own: running while it holds it; the dead one is
        // cleared when a command starts.
        mark_started(&wh, &record("now")).unwrap();
        let u = unfinished(&wh);
        assert_eq!(u.len(), 1);
        assert!(u[0].running && u[0].record["run_id"] == "now", "{u:?}");
        assert_eq!(u[0].record["result"], "running");
        mark_finished(&wh);
        assert!(unfinished(&wh).is_empty());
    }
}
