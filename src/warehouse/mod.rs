//! The Parquet warehouse: layout, versions, the manifest and the lock.
//!
//! ```text
//! <warehouse>/.smpeval                        marker: this folder is smpeval's
//! <warehouse>/.lock                           who is writing (see `lock`)
//! <warehouse>/CURRENT                         the name of the current version, e.g. v000012
//! <warehouse>/versions/<v>/snapshot.json      the version's files, with sizes and row counts
//! <warehouse>/versions/<v>/participants/part-<file>.parquet
//! <warehouse>/versions/<v>/hospital_events/setting=<s>/year=<y>/part-<file>.parquet
//! <warehouse>/versions/<v>/pam_scores/part-<file>.parquet
//! <warehouse>/versions/<v>/rejects/part-<file>.parquet
//! <warehouse>/versions/<v>/warnings/part-<file>.parquet
//! <warehouse>/versions/<v>/courses/courses.parquet      (rebuilt from participants)
//! <warehouse>/versions/<v>/manifest/manifest.parquet    (one row per input file)
//! ```
//! A version is never changed once made: an ingest builds the next one in a
//! staging folder (files it did not change are hard links to the previous
//! version's), and makes it current by replacing `CURRENT` in one rename, so
//! a reader sees the old version or the new one, never a mix, whenever the
//! run is killed. Every table part is named by the input file it came from,
//! so a changed file replaces its own rows and nothing else. Hive-style
//! folders follow the usual rule: the partition columns live in the path.

mod lock;
pub mod manifest;
mod version;

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use polars::prelude::*;

pub use lock::{holder, hostname, lock, pid_running, Holder, Lock, LOCK_FILE};
pub use manifest::ManifestRow;
pub use version::{
    collect_garbage, current_version, versions, FileEntry, LinkageCounts, Snapshot, Staging,
    CURRENT, VERSIONS,
};

pub const PARTICIPANTS: &str = "participants";
pub const HOSPITAL_EVENTS: &str = "hospital_events";
pub const PAM_SCORES: &str = "pam_scores";
pub const REJECTS: &str = "rejects";
/// Kept rows with a blanked or corrected value, as `rejects`.
pub const WARNINGS: &str = "warnings";
pub const COURSES: &str = "courses";
pub const MANIFEST: &str = "manifest";
pub const TABLES: &[&str] = &[
    PARTICIPANTS,
    HOSPITAL_EVENTS,
    PAM_SCORES,
    REJECTS,
    WARNINGS,
    COURSES,
    MANIFEST,
];

/// Writes a frame as Parquet, durably: to a temporary file beside it,
/// fsynced, then renamed into place. `site` names the write for the failpoints.
pub fn write_parquet(df: &mut DataFrame, path: &Path, site: &str) -> Result<()> {
    let dir = path.parent().context("a table file has a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    crate::files::failpoint(site)
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            ParquetWriter::new(tmp.as_file())
                .with_compression(ParquetCompression::Zstd(None))
                .finish(df)
                .map_err(anyhow::Error::from)?;
            tmp.as_file().sync_all().map_err(anyhow::Error::from)
        })
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot move the new {} into place", path.display()))?;
    Ok(())
}

/// Reads a whole table of the warehouse's current version (verified against
/// its list of files). Returns None when the table has no files or the
/// warehouse has no version yet.
pub fn read_table(warehouse: &Path, table: &str) -> Result<Option<DataFrame>> {
    match Snapshot::open(warehouse, Path::new("<pipeline>"))? {
        Some(s) => s.table(table),
        None => Ok(None),
    }
}

/// The part file name of one input file's rows.
pub fn part_name(file_key: &str) -> String {
    format!("part-{file_key}.parquet")
}

/// All Parquet files under a folder, sorted.
fn parts(dir: &Path) -> Vec<PathBuf> {
    let pattern = format!(
        "{}/**/*.parquet",
        glob::Pattern::escape(&dir.to_string_lossy())
    );
    let mut out: Vec<PathBuf> = glob::glob(&pattern)
        .map(|g| g.filter_map(|p| p.ok()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Scans the files of one table lazily (paths under `dir`, the version's
/// folder), adding Hive partition columns from the folder names, typed as
/// [`read_files`] types them; only the columns and rows a query uses are read.
/// Returns None when the table has no files. Row counts are checked by
/// `Snapshot::verify` (from each file's metadata).
fn scan_files(dir: &Path, table: &str, files: &[PathBuf]) -> Result<Option<LazyFrame>> {
    let frames = scan_parts(dir, table, files)?;
    if frames.is_empty() {
        return Ok(None);
    }
    let args = UnionArgs {
        diagonal: true,
        ..Default::default()
    };
    Ok(Some(concat(frames, args)?))
}

/// [`scan_files`], one lazy frame per file (a query over the files one at a
/// time holds one file's rows at most).
fn scan_parts(dir: &Path, table: &str, files: &[PathBuf]) -> Result<Vec<LazyFrame>> {
    let table_dir = dir.join(table);
    let mut frames = Vec::new();
    for p in files {
        let args = ScanArgsParquet {
            glob: false,
            hive_options: HiveOptions {
                enabled: Some(false),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut lf = PlRefPath::try_from_path(p)
            .and_then(|path| LazyFrame::scan_parquet(path, args))
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot read {}", p.display()))?;
        let rel = p.strip_prefix(&table_dir).unwrap_or(p);
        for comp in rel.parent().into_iter().flat_map(|x| x.components()) {
            let s = comp.as_os_str().to_string_lossy();
            if let Some((k, v)) = s.split_once('=') {
                let c = match v.parse::<i32>() {
                    Ok(i) => lit(i),
                    Err(_) => lit(v.to_string()),
                };
                lf = lf.with_column(c.alias(k));
            }
        }
        frames.push(lf);
    }
    Ok(frames)
}

/// Reads the files of one table (paths under `dir`, the version's folder),
/// adding Hive partition columns from the folder names. Returns None when
/// the table has no files. `expect_rows` checks each file's height.
fn read_files(
    dir: &Path,
    table: &str,
    files: &[(PathBuf, Option<u64>)],
) -> Result<Option<DataFrame>> {
    let table_dir = dir.join(table);
    let mut frames = Vec::new();
    for (p, expect_rows) in files {
        let f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
        let mut df = ParquetReader::new(f)
            .finish()
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot read {}", p.display()))?;
        if let Some(n) = expect_rows {
            if df.height() as u64 != *n {
                anyhow::bail!(
                    "{} holds {} rows where the version's list says {n}",
                    p.display(),
                    df.height()
                );
            }
        }
        let rel = p.strip_prefix(&table_dir).unwrap_or(p);
        let height = df.height();
        for comp in rel.parent().into_iter().flat_map(|x| x.components()) {
            let s = comp.as_os_str().to_string_lossy();
            if let Some((k, v)) = s.split_once('=') {
                let c = match v.parse::<i32>() {
                    Ok(i) => Column::new(k.into(), vec![i; height]),
                    Err(_) => Column::new(k.into(), vec![v.to_string(); height]),
                };
                df.with_column(c)?;
            }
        }
        frames.push(df.lazy());
    }
    if frames.is_empty() {
        return Ok(None);
    }
    let args = UnionArgs {
        diagonal: true,
        ..Default::default()
    };
    Ok(Some(concat(frames, args)?.collect()?))
}
