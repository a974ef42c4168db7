//! Versions of the warehouse: the current one (`Snapshot`, verified against
//! its own list of files and the ingest manifest before anything is read
//! from it), the next one being built (`Staging`), the atomic switch
//! (`CURRENT` replaced by a rename) and the removal of old versions.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DamagedWarehouse, FileOp, StoreError, StoreResult};
use crate::files::{failpoint, fsync_dir, fsync_tree, write_atomic};

/// The file naming the current version.
pub const CURRENT: &str = "CURRENT";
/// The folder holding every version.
pub const VERSIONS: &str = "versions";
/// Each version's list of its files.
const SNAPSHOT_FILE: &str = "snapshot.json";

/// One file of a version: its path under the version folder, its table, the
/// input file it came from (table parts), its size and rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub table: String,
    #[serde(default)]
    pub file_key: Option<String>,
    pub rows: u64,
    pub bytes: u64,
}

/// A table's files in a version folder, each with the row count listed for it.
fn table_files(dir: &Path, files: &[FileEntry], table: &str) -> Vec<(PathBuf, Option<u64>)> {
    files
        .iter()
        .filter(|f| f.table == table)
        .map(|f| (dir.join(&f.path), Some(f.rows)))
        .collect()
}

/// The paths of a table's files in a version folder.
fn table_paths(dir: &Path, files: &[FileEntry], table: &str) -> Vec<PathBuf> {
    table_files(dir, files, table)
        .into_iter()
        .map(|(path, _)| path)
        .collect()
}

#[derive(Debug, Serialize, Deserialize)]
struct FileList {
    version: String,
    created_at: String,
    files: Vec<FileEntry>,
    /// How many of the returns' people have a hospital row, counted when the
    /// version was made (so that an ingest with nothing to do need not read
    /// the hospital table again to warn about it). Absent in older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    linkage: Option<LinkageCounts>,
}

/// The returns' people and those of them found in the hospital data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinkageCounts {
    pub people: u64,
    pub linked: u64,
}

/// The warehouse's current version: what a reader reads.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The warehouse folder.
    pub warehouse: PathBuf,
    /// The version's name (`v000012`), as `CURRENT` names it.
    pub version: String,
    /// `<warehouse>/versions/<version>`: the folder an outside reader reads.
    pub dir: PathBuf,
    /// When the version was committed: UTC, RFC 3339 to the millisecond.
    pub created_at: String,
    /// Every file of the version (each table's parts), from its `snapshot.json`.
    pub files: Vec<FileEntry>,
    /// The linkage counted when the version was made (None in older versions).
    pub linkage: Option<LinkageCounts>,
    /// When `CURRENT` was read to open this version: UTC, RFC 3339 to the
    /// nanosecond. Of two packs, the one whose warehouse was read later
    /// shows the newer state (whatever the version numbers, which a
    /// warehouse made anew starts again).
    pub read_at: String,
    /// The pipeline file, for the repair command in messages.
    pipeline: PathBuf,
    /// A shared lock on the version's `snapshot.json` while a report reads
    /// it ([`Snapshot::open_pinned`]): an ingest's clean-up leaves a version
    /// so held for a later one.
    pin: Option<std::sync::Arc<std::fs::File>>,
}

fn version_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix('v')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn version_name(n: u64) -> String {
    format!("v{n:06}")
}

/// The version `CURRENT` names, if the warehouse has one.
pub fn current_version(warehouse: &Path) -> StoreResult<Option<String>> {
    let path = warehouse.join(CURRENT);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(FileOp::Read, &path)(e)),
    };
    let name = text.trim().to_string();
    if version_number(&name).is_none() {
        return Err(StoreError::Content {
            path,
            problem: format!(
                "does not name a version (found \"{}\"); rebuild the warehouse with `smpeval ingest --repair`",
                name.chars().take(40).collect::<String>()
            ),
        });
    }
    Ok(Some(name))
}

/// Every committed version folder, oldest first.
pub fn versions(warehouse: &Path) -> Vec<String> {
    let mut out: Vec<(u64, String)> = std::fs::read_dir(warehouse.join(VERSIONS))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            version_number(&name).map(|n| (n, name))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, n)| n).collect()
}

impl Snapshot {
    /// The current version, or None when nothing has been ingested yet. Its
    /// list of files is read but not yet checked: see `verify`.
    pub fn open(warehouse: &Path, pipeline: &Path) -> StoreResult<Option<Snapshot>> {
        let read_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let Some(version) = current_version(warehouse)? else {
            return Ok(None);
        };
        let dir = warehouse.join(VERSIONS).join(&version);
        let damaged = |problem: String| DamagedWarehouse {
            warehouse: warehouse.to_path_buf(),
            version: version.clone(),
            table: "(all)".into(),
            problem,
            pipeline: pipeline.to_path_buf(),
        };
        let list_path = dir.join(SNAPSHOT_FILE);
        let text = std::fs::read_to_string(&list_path)
            .map_err(|e| damaged(format!("cannot read {}: {e}", list_path.display())))?;
        let list: FileList = serde_json::from_str(&text).map_err(|e| {
            damaged(format!(
                "{} is not a version's list: {e}",
                list_path.display()
            ))
        })?;
        Ok(Some(Snapshot {
            warehouse: warehouse.to_path_buf(),
            version,
            dir,
            created_at: list.created_at,
            files: list.files,
            linkage: list.linkage,
            read_at,
            pipeline: pipeline.to_path_buf(),
            pin: None,
        }))
    }

    /// [`Snapshot::open`], with the version held against removal while the
    /// snapshot lives (a shared lock on its `snapshot.json`). If an ingest
    /// commits and removes the version between `CURRENT` being read and the
    /// lock being taken, the new current version is opened instead.
    pub fn open_pinned(warehouse: &Path, pipeline: &Path) -> StoreResult<Option<Snapshot>> {
        for _ in 0..5 {
            let Some(mut snap) = Snapshot::open(warehouse, pipeline)? else {
                return Ok(None);
            };
            let held = std::fs::File::open(snap.dir.join(SNAPSHOT_FILE))
                .ok()
                .filter(|f| f.try_lock_shared().is_ok());
            if let Some(f) = held {
                snap.pin = Some(std::sync::Arc::new(f));
                return Ok(Some(snap));
            }
        }
        Snapshot::open(warehouse, pipeline)
    }

    fn damaged(&self, table: &str, problem: String) -> DamagedWarehouse {
        DamagedWarehouse {
            warehouse: self.warehouse.clone(),
            version: self.version.clone(),
            table: table.into(),
            problem,
            pipeline: self.pipeline.clone(),
        }
    }

    /// Checks the version against its list (every file present, with its size
    /// and row count, and no other Parquet file a glob would pick up) and the
    /// ingest manifest (each input file's rows written and rejected).
    pub fn verify(&self) -> Result<(), DamagedWarehouse> {
        for f in &self.files {
            let p = self.dir.join(&f.path);
            let meta = std::fs::metadata(&p)
                .map_err(|_| self.damaged(&f.table, format!("file {} is missing", p.display())))?;
            if meta.len() != f.bytes {
                return Err(self.damaged(
                    &f.table,
                    format!(
                        "file {} is {} bytes where the version's list says {}",
                        p.display(),
                        meta.len(),
                        f.bytes
                    ),
                ));
            }
            let rows = File::open(&p)
                .map_err(PolarsError::from)
                .and_then(|file| ParquetReader::new(file).num_rows())
                .map_err(|e| self.damaged(&f.table, format!("cannot read {}: {e}", p.display())))?;
            if rows as u64 != f.rows {
                return Err(self.damaged(
                    &f.table,
                    format!(
                        "file {} holds {rows} rows where the version's list says {}",
                        p.display(),
                        f.rows
                    ),
                ));
            }
        }
        let listed: Vec<PathBuf> = self.files.iter().map(|f| self.dir.join(&f.path)).collect();
        if let Some(extra) = super::parts(&self.dir)
            .into_iter()
            .find(|p| !listed.contains(p))
        {
            let rel = extra.strip_prefix(&self.dir).unwrap_or(&extra);
            let table = rel
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(self.damaged(
                &table,
                format!("file {} is not in the version's list", extra.display()),
            ));
        }
        self.verify_manifest()
    }

    fn verify_manifest(&self) -> Result<(), DamagedWarehouse> {
        let manifest = super::manifest::read(self)
            .map_err(|e| self.damaged(super::MANIFEST, crate::error::chain_text(&e)))?;
        if !self.files.iter().any(|f| f.table == super::MANIFEST) {
            return Err(self.damaged(super::MANIFEST, "the manifest is missing".into()));
        }
        let mut on_disk: BTreeMap<(String, bool), (u64, String)> = BTreeMap::new();
        for f in &self.files {
            // Warnings describe rows kept in the data table: not counted again.
            if f.table == super::WARNINGS {
                continue;
            }
            if let Some(k) = &f.file_key {
                let e = on_disk
                    .entry((k.clone(), f.table == super::REJECTS))
                    .or_insert((0, f.table.clone()));
                e.0 += f.rows;
            }
        }
        for row in &manifest {
            for (is_rejects, expected) in [(false, row.rows_written), (true, row.rows_rejected)] {
                let table = if is_rejects { super::REJECTS } else { "(data)" };
                let (found, table) = on_disk
                    .remove(&(row.file_key.clone(), is_rejects))
                    .unwrap_or((0, table.into()));
                if found != expected {
                    return Err(self.damaged(
                        &table,
                        format!(
                            "the parts from {} hold {found} rows where the manifest says {expected}",
                            row.path
                        ),
                    ));
                }
            }
        }
        if let Some(((key, _), (_, table))) = on_disk.into_iter().find(|(_, (n, _))| *n > 0) {
            return Err(self.damaged(
                &table,
                format!("it holds rows from an input file (key {key}) the manifest does not list"),
            ));
        }
        Ok(())
    }

    /// Reads one table of this version (its listed files only; each file's
    /// rows checked). None when the table has no files.
    pub fn table(&self, table: &str) -> StoreResult<Option<DataFrame>> {
        let files = table_files(&self.dir, &self.files, table);
        super::read_files(&self.dir, table, &files).map_err(|e| self.unreadable(table, e))
    }

    /// A table of this version that cannot be read is a damaged warehouse.
    fn unreadable(&self, table: &str, e: StoreError) -> StoreError {
        self.damaged(table, crate::error::chain_text(&e)).into()
    }

    /// Scans one table of this version lazily (its listed files only), for
    /// queries that need a few of its columns or rows; the files' row counts
    /// are those `verify` checked. None when the table has no files.
    pub fn scan(&self, table: &str) -> StoreResult<Option<LazyFrame>> {
        let files = table_paths(&self.dir, &self.files, table);
        super::scan_files(&self.dir, table, &files).map_err(|e| self.unreadable(table, e))
    }

    /// [`Snapshot::scan`], one lazy frame per file of the table (empty when
    /// it has none).
    pub fn scan_parts(&self, table: &str) -> StoreResult<Vec<LazyFrame>> {
        let files = table_paths(&self.dir, &self.files, table);
        super::scan_parts(&self.dir, table, &files).map_err(|e| self.unreadable(table, e))
    }
}

/// The scratch folder in a version being built.
const SCRATCH: &str = ".scratch";

/// The next version, being built in `versions/.tmp-<v>`; removed if dropped
/// before `commit`.
pub struct Staging {
    warehouse: PathBuf,
    dir: PathBuf,
    version: String,
    files: Vec<FileEntry>,
    linkage: Option<LinkageCounts>,
    committed: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A table file written into the version being built, not yet listed.
pub struct Written {
    rel: String,
    rows: u64,
    bytes: u64,
}

impl Staging {
    /// Starts the next version. The caller holds the lock, so any staging
    /// folder left by a killed run is removed first.
    pub fn begin(warehouse: &Path) -> StoreResult<Staging> {
        let root = warehouse.join(VERSIONS);
        std::fs::create_dir_all(&root).map_err(StoreError::io(FileOp::Create, &root))?;
        remove_leftovers(&root)?;
        let next = versions(warehouse)
            .iter()
            .filter_map(|v| version_number(v))
            .max()
            .unwrap_or(0)
            + 1;
        let version = version_name(next);
        let dir = root.join(format!(".tmp-{version}"));
        std::fs::create_dir(&dir).map_err(StoreError::io(FileOp::Create, &dir))?;
        Ok(Staging {
            warehouse: warehouse.to_path_buf(),
            dir,
            version,
            files: Vec::new(),
            linkage: None,
            committed: false,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Carries a file of the previous version over unchanged, as a hard link
    /// (a copy where the filesystem has none).
    pub fn keep(&mut self, prev: &Snapshot, f: &FileEntry) -> StoreResult<()> {
        let from = prev.dir.join(&f.path);
        let to = self.dir.join(&f.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(StoreError::io(FileOp::Create, parent))?;
        }
        failpoint("ingest.link")
            .and_then(|()| {
                std::fs::hard_link(&from, &to).or_else(|_| std::fs::copy(&from, &to).map(|_| ()))
            })
            .map_err(StoreError::io(FileOp::CarryOverAs(to.clone()), &from))?;
        self.files.push(f.clone());
        Ok(())
    }

    /// Writes a table file (`rel` is its path under the version folder).
    pub fn write(
        &mut self,
        table: &str,
        rel: &str,
        file_key: Option<&str>,
        df: &mut DataFrame,
        site: &str,
    ) -> StoreResult<()> {
        let written = self.write_unlisted(rel, df, site)?;
        self.list(table, file_key, written);
        Ok(())
    }

    /// Writes a table file without listing it in the version (`list` does,
    /// once it is written): files can be written side by side.
    pub fn write_unlisted(
        &self,
        rel: &str,
        df: &mut DataFrame,
        site: &str,
    ) -> StoreResult<Written> {
        let path = self.dir.join(rel);
        // Messages name the file where it will live once the version is committed.
        let shown = self.warehouse.join(VERSIONS).join(&self.version).join(rel);
        super::write_parquet(df, &path, site).map_err(|e| StoreError::Within {
            op: FileOp::Write,
            path: shown,
            source: Box::new(e),
        })?;
        let bytes = std::fs::metadata(&path)
            .map_err(StoreError::io(FileOp::Read, &path))?
            .len();
        Ok(Written {
            rel: rel.to_string(),
            rows: df.height() as u64,
            bytes,
        })
    }

    /// Lists a file `write_unlisted` wrote as a file of the version.
    pub fn list(&mut self, table: &str, file_key: Option<&str>, w: Written) {
        self.files.push(FileEntry {
            path: w.rel,
            table: table.into(),
            file_key: file_key.map(str::to_string),
            rows: w.rows,
            bytes: w.bytes,
        });
    }

    /// Moves the last `n` files listed to the front of the list (files
    /// carried over from the previous version are listed first, as they were
    /// when the new files were written after them).
    pub fn move_last_to_front(&mut self, n: usize) {
        let n = n.min(self.files.len());
        self.files.rotate_right(n);
    }

    /// Records the version's linkage (kept in its list of files).
    pub fn set_linkage(&mut self, linkage: LinkageCounts) {
        self.linkage = Some(linkage);
    }

    /// Scans a table of the version being built, one lazy frame per file.
    pub fn scan_parts(&self, table: &str) -> StoreResult<Vec<LazyFrame>> {
        let files = table_paths(&self.dir, &self.files, table);
        super::scan_parts(&self.dir, table, &files)
    }

    /// Reads a table of the version being built.
    pub fn table(&self, table: &str) -> StoreResult<Option<DataFrame>> {
        let files = table_files(&self.dir, &self.files, table);
        super::read_files(&self.dir, table, &files)
    }

    /// Makes the version current: its list written, every folder flushed to
    /// disk, the folder renamed to `versions/<v>`, then `CURRENT` replaced in
    /// one rename. Until that last rename, readers see the previous version.
    /// A scratch folder for `name` inside the version being built (removed
    /// before the version is committed, and with it if it never is).
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.join(SCRATCH).join(name)
    }

    pub fn commit(mut self) -> StoreResult<String> {
        let scratch = self.dir.join(SCRATCH);
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch).map_err(StoreError::io(FileOp::Write, &scratch))?;
        }
        let list = FileList {
            version: self.version.clone(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            files: std::mem::take(&mut self.files),
            linkage: self.linkage,
        };
        write_atomic(
            &self.dir.join(SNAPSHOT_FILE),
            serde_json::to_string_pretty(&list)
                .expect("a list of files serialises")
                .as_bytes(),
            "ingest.snapshot",
        )?;
        // Every part was only started on its way to disk when written
        // (`write_parquet`), and a carried-over one may be a copy: all are
        // flushed here, before the version can be published.
        fsync_tree(&self.dir)?;
        let root = self.warehouse.join(VERSIONS);
        let dest = root.join(&self.version);
        failpoint("ingest.publish")
            .and_then(|()| crate::files::rename_no_replace(&self.dir, &dest))
            .map_err(StoreError::io(FileOp::MoveVersionInto, &dest))?;
        self.committed = true;
        fsync_dir(&root)?;
        if let Err(e) = write_atomic(
            &self.warehouse.join(CURRENT),
            format!("{}\n", self.version).as_bytes(),
            "ingest.current",
        ) {
            // Not current (the rename did not happen): the folder goes, so the
            // next version number is reused cleanly. If the rename did happen
            // and only the folder's flush failed, the version stays.
            let now = current_version(&self.warehouse).ok().flatten();
            if now.as_deref() != Some(self.version.as_str()) {
                let _ = std::fs::remove_dir_all(&dest);
            }
            return Err(e);
        }
        Ok(self.version.clone())
    }
}

/// Removes staging and half-deleted folders a killed run left behind.
fn remove_leftovers(root: &Path) -> StoreResult<()> {
    for e in std::fs::read_dir(root).map_err(StoreError::io(FileOp::Read, root))? {
        let e = e.map_err(StoreError::io(FileOp::Read, root))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") || name.starts_with(".trash-") {
            std::fs::remove_dir_all(e.path()).map_err(StoreError::io(FileOp::Remove, &e.path()))?;
        }
    }
    Ok(())
}

/// Removes old versions after a commit: keeps the current one and the
/// `keep - 1` before it; removes any version newer than the current (made by
/// a run killed before its switch). A version is first renamed aside, so a
/// half-removed one is never mistaken for a whole one. Returns the removed.
pub fn collect_garbage(warehouse: &Path, keep: usize) -> StoreResult<Vec<String>> {
    let Some(current) = current_version(warehouse)? else {
        return Ok(Vec::new());
    };
    let cur = version_number(&current).unwrap_or(0);
    let root = warehouse.join(VERSIONS);
    let all = versions(warehouse);
    let older: Vec<&String> = all
        .iter()
        .filter(|v| version_number(v).is_some_and(|n| n < cur))
        .collect();
    let keep_older = keep.saturating_sub(1);
    let mut doomed: Vec<String> = older[..older.len().saturating_sub(keep_older)]
        .iter()
        .map(|s| s.to_string())
        .collect();
    doomed.extend(
        all.iter()
            .filter(|v| version_number(v).is_some_and(|n| n > cur))
            .cloned(),
    );
    // A version a report is reading (a shared lock on its snapshot.json) is
    // left for a later clean-up.
    let mut removed = Vec::new();
    for v in &doomed {
        let from = root.join(v);
        let list = std::fs::File::open(from.join(SNAPSHOT_FILE)).ok();
        if list.as_ref().is_some_and(|f| f.try_lock().is_err()) {
            continue;
        }
        let trash = root.join(format!(".trash-{v}"));
        std::fs::rename(&from, &trash).map_err(StoreError::io(FileOp::RemoveOldVersion, &from))?;
        std::fs::remove_dir_all(&trash).map_err(StoreError::io(FileOp::Remove, &trash))?;
        removed.push(v.clone());
    }
    remove_leftovers(&root)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(root: &Path, names: &[&str], current: &str) {
        for n in names {
            std::fs::create_dir_all(root.join(VERSIONS).join(n)).unwrap();
        }
        std::fs::write(root.join(CURRENT), format!("{current}\n")).unwrap();
    }

    #[test]
    fn a_version_a_report_reads_is_left_for_a_later_clean_up() {
        let root = tempfile::tempdir().unwrap();
        let wh = root.path();
        make(wh, &["v000001", "v000002", "v000003"], "v000001");
        for v in ["v000001", "v000002", "v000003"] {
            let list = format!(r#"{{"version":"{v}","created_at":"t","files":[]}}"#);
            std::fs::write(wh.join(VERSIONS).join(v).join(SNAPSHOT_FILE), list).unwrap();
        }
        let reading = Snapshot::open_pinned(wh, Path::new("p.toml"))
            .unwrap()
            .unwrap();
        assert_eq!(reading.version, "v000001");
        // An ingest commits v000003 and keeps one version: v000001 is being read.
        std::fs::write(wh.join(CURRENT), "v000003\n").unwrap();
        assert_eq!(collect_garbage(wh, 1).unwrap(), vec!["v000002"]);
        assert!(wh.join(VERSIONS).join("v000001").exists());
        drop(reading);
        assert_eq!(collect_garbage(wh, 1).unwrap(), vec!["v000001"]);
    }

    #[test]
    fn garbage_collection_keeps_the_current_version_and_the_ones_before_it() {
        let root = tempfile::tempdir().unwrap();
        let wh = root.path();
        // v000006 was renamed into place by a run killed before its switch.
        make(
            wh,
            &[
                "v000001",
                "v000002",
                "v000003",
                "v000004",
                "v000005",
                "v000006",
                ".tmp-v000007",
                ".trash-v000000",
            ],
            "v000005",
        );
        let gone = collect_garbage(wh, 3).unwrap();
        assert_eq!(gone, vec!["v000001", "v000002", "v000006"]);
        assert_eq!(versions(wh), vec!["v000003", "v000004", "v000005"]);
        let left: Vec<String> = std::fs::read_dir(wh.join(VERSIONS))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        // keep = 1: only the current one.
        assert_eq!(collect_garbage(wh, 1).unwrap(), vec!["v000003", "v000004"]);
    }

    #[test]
    fn current_must_name_a_version() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(current_version(root.path()).unwrap(), None);
        std::fs::write(root.path().join(CURRENT), "../../etc\n").unwrap();
        assert!(current_version(root.path()).is_err());
        std::fs::write(root.path().join(CURRENT), "v000012\n").unwrap();
        assert_eq!(
            current_version(root.path()).unwrap().as_deref(),
            Some("v000012")
        );
    }
}
