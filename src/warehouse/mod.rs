//! The Parquet warehouse: layout, atomic writes, the manifest and the lock.
//!
//! ```text
//! <warehouse>/participants/part-<file>.parquet
//! <warehouse>/hospital_events/setting=<s>/year=<y>/part-<file>.parquet
//! <warehouse>/pam_scores/part-<file>.parquet
//! <warehouse>/rejects/part-<file>.parquet
//! <warehouse>/warnings/part-<file>.parquet
//! <warehouse>/courses/courses.parquet        (rebuilt from participants)
//! <warehouse>/manifest/manifest.parquet      (one row per input file)
//! ```
//! Every table part is named by the input file it came from, so a changed
//! file replaces its own rows and nothing else. Hive-style folders follow the
//! usual rule: the partition columns live in the path, not in the file.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use polars::prelude::*;

use crate::error::LockError;

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

/// An exclusive lock on a warehouse, released when dropped.
pub struct Lock {
    _file: File,
}

/// Takes the warehouse lock, or fails at once if another run holds it.
pub fn lock(warehouse: &Path) -> Result<Lock> {
    std::fs::create_dir_all(warehouse)
        .with_context(|| format!("cannot create the warehouse folder {}", warehouse.display()))?;
    let path = warehouse.join(".lock");
    let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Lock { _file: file }),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow::Error::new(e).context(format!("cannot lock {}", path.display())))
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError {
            warehouse: warehouse.to_path_buf(),
            lock: path,
        }
        .into()),
    }
}

/// Writes a frame as Parquet: to a temporary file beside it, then renamed into place.
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<()> {
    let dir = path.parent().context("a table file has a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    ParquetWriter::new(tmp.as_file())
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot move the new {} into place", path.display()))?;
    Ok(())
}

/// The part file name of one input file's rows.
pub fn part_name(file_key: &str) -> String {
    format!("part-{file_key}.parquet")
}

/// All Parquet files under a table folder, sorted.
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

/// Removes every part of `table` written for `file_key`.
pub fn remove_parts(warehouse: &Path, table: &str, file_key: &str) -> Result<()> {
    let name = part_name(file_key);
    for p in parts(&warehouse.join(table)) {
        if p.file_name().is_some_and(|n| n.to_string_lossy() == name) {
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    Ok(())
}

/// Reads a whole table, adding Hive partition columns from the folder names.
/// Returns None when the table has no files yet.
pub fn read_table(warehouse: &Path, table: &str) -> Result<Option<DataFrame>> {
    let dir = warehouse.join(table);
    let mut frames = Vec::new();
    for p in parts(&dir) {
        let f = File::open(&p).with_context(|| format!("cannot open {}", p.display()))?;
        let mut df = ParquetReader::new(f)
            .finish()
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot read {}", p.display()))?;
        let rel = p.strip_prefix(&dir).unwrap_or(&p);
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
