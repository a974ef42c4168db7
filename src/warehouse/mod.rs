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

use polars::prelude::*;

use crate::error::{FileOp, StoreError, StoreResult};

pub use lock::{holder, hostname, lock, pid_running, Holder, Lock, LOCK_FILE};
pub use manifest::ManifestRow;
pub use version::{
    collect_garbage, current_version, versions, FileEntry, LinkageCounts, Snapshot, Staging,
    Written, CURRENT, VERSIONS,
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

/// Writes a frame as Parquet for a version being built: to a temporary file
/// beside it, renamed into place. Its writeback to disk is only started (the
/// kernel writes it while the ingest goes on); `Staging::commit` fsyncs every
/// file of the version before the version is published, which is what makes
/// it durable. `site` names the write for the failpoints.
/// Not compressed: nearly all of a large warehouse is its 64-hex-digit
/// pseudonyms, which no codec shrinks (Snappy saved 5% of 10M hospital
/// rows' size for a fifth of the ingest's Parquet writing time); the other
/// columns are dictionary- and run-length-encoded all the same.
pub fn write_parquet(df: &mut DataFrame, path: &Path, site: &str) -> StoreResult<()> {
    let dir = crate::files::folder_of(path);
    std::fs::create_dir_all(dir).map_err(StoreError::io(FileOp::Create, dir))?;
    let tmp = crate::files::temp_file_in(dir)?;
    crate::files::failpoint(site).map_err(StoreError::io(FileOp::Write, path))?;
    write_parquet_to(df, tmp.as_file(), path)?;
    crate::files::start_writeback(tmp.as_file());
    crate::files::persist(tmp, path)?;
    Ok(())
}

/// Writes a frame as uncompressed Parquet to `file` through a buffer: the
/// writer puts each page header out a byte at a time (thrift), which
/// unbuffered was a system call per byte, over 100,000 of them for 10M
/// hospital rows. `path` names the file in an error.
pub fn write_parquet_to(df: &mut DataFrame, file: &std::fs::File, path: &Path) -> StoreResult<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    ParquetWriter::new(&mut out)
        .with_compression(ParquetCompression::Uncompressed)
        .finish(df)
        .map_err(StoreError::frame(FileOp::Write, path))?;
    out.flush().map_err(StoreError::io(FileOp::Write, path))
}

/// Reads a whole table of the warehouse's current version (verified against
/// its list of files). Returns None when the table has no files or the
/// warehouse has no version yet.
pub fn read_table(warehouse: &Path, table: &str) -> StoreResult<Option<DataFrame>> {
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

/// A Hive partition value: a whole number where it reads as one (`year=2023`).
#[derive(Debug, PartialEq)]
enum Hive {
    Number(i32),
    Text(String),
}

/// The Hive partition columns in the folder names between a table's folder
/// and one of its files (`setting=apc/year=2023/part-….parquet`).
fn hive_values(table_dir: &Path, file: &Path) -> Vec<(String, Hive)> {
    let rel = file.strip_prefix(table_dir).unwrap_or(file);
    rel.parent()
        .into_iter()
        .flat_map(|x| x.components())
        .filter_map(|comp| {
            let s = comp.as_os_str().to_string_lossy();
            let (k, v) = s.split_once('=')?;
            let value = match v.parse::<i32>() {
                Ok(i) => Hive::Number(i),
                Err(_) => Hive::Text(v.to_string()),
            };
            Some((k.to_string(), value))
        })
        .collect()
}

/// Scans the files of one table lazily (paths under `dir`, the version's
/// folder), adding Hive partition columns from the folder names, typed as
/// [`read_files`] types them; only the columns and rows a query uses are read.
/// Returns None when the table has no files. Row counts are checked by
/// `Snapshot::verify` (from each file's metadata).
fn scan_files(dir: &Path, table: &str, files: &[PathBuf]) -> StoreResult<Option<LazyFrame>> {
    let frames = scan_parts(dir, table, files)?;
    if frames.is_empty() {
        return Ok(None);
    }
    let args = UnionArgs {
        diagonal: true,
        ..Default::default()
    };
    let joined = concat(frames, args).map_err(StoreError::frame(FileOp::Read, dir))?;
    Ok(Some(joined))
}

/// One Parquet file, scanned as it is (no Hive columns from its folders).
pub fn scan_file(p: &Path) -> StoreResult<LazyFrame> {
    let args = ScanArgsParquet {
        glob: false,
        hive_options: HiveOptions {
            enabled: Some(false),
            ..Default::default()
        },
        ..Default::default()
    };
    PlRefPath::try_from_path(p)
        .and_then(|path| LazyFrame::scan_parquet(path, args))
        .map_err(StoreError::frame(FileOp::Read, p))
}

/// [`scan_files`], one lazy frame per file (a query over the files one at a
/// time holds one file's rows at most).
fn scan_parts(dir: &Path, table: &str, files: &[PathBuf]) -> StoreResult<Vec<LazyFrame>> {
    let table_dir = dir.join(table);
    let mut frames = Vec::new();
    for p in files {
        let mut lf = scan_file(p)?;
        for (k, v) in hive_values(&table_dir, p) {
            let c = match v {
                Hive::Number(i) => lit(i),
                Hive::Text(t) => lit(t),
            };
            lf = lf.with_column(c.alias(k));
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
) -> StoreResult<Option<DataFrame>> {
    let table_dir = dir.join(table);
    let mut frames = Vec::new();
    for (p, expect_rows) in files {
        let f = File::open(p).map_err(StoreError::io(FileOp::Open, p))?;
        let mut df = ParquetReader::new(f)
            .finish()
            .map_err(StoreError::frame(FileOp::Read, p))?;
        if let Some(n) = expect_rows {
            if df.height() as u64 != *n {
                return Err(StoreError::Content {
                    path: p.clone(),
                    problem: format!(
                        "holds {} rows where the version's list says {n}",
                        df.height()
                    ),
                });
            }
        }
        let height = df.height();
        for (k, v) in hive_values(&table_dir, p) {
            let c = match v {
                Hive::Number(i) => Column::new(k.into(), vec![i; height]),
                Hive::Text(t) => Column::new(k.into(), vec![t; height]),
            };
            df.with_column(c)
                .map_err(StoreError::frame(FileOp::Read, p))?;
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
    let joined = concat(frames, args)
        .and_then(LazyFrame::collect)
        .map_err(StoreError::frame(FileOp::Read, dir))?;
    Ok(Some(joined))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_folders_give_typed_partition_columns() {
        let t = Path::new("/w/versions/v000001/hospital_events");
        let f = t.join("setting=apc/year=2023/part-abc.parquet");
        assert_eq!(
            hive_values(t, &f),
            vec![
                ("setting".to_string(), Hive::Text("apc".into())),
                ("year".to_string(), Hive::Number(2023)),
            ]
        );
        assert!(hive_values(t, &t.join("part-abc.parquet")).is_empty());
    }

    #[test]
    fn a_written_table_reads_back_with_its_partitions_and_row_check() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        let file = dir.join("t/year=2024/part-x.parquet");
        let mut df = df!("a" => [1i64, 2, 3]).unwrap();
        write_parquet(&mut df, &file, "test").unwrap();
        let back = read_files(dir, "t", &[(file.clone(), Some(3))])
            .unwrap()
            .unwrap();
        assert_eq!(back.height(), 3);
        assert_eq!(
            back.column("year").unwrap().i32().unwrap().get(0),
            Some(2024)
        );
        let wrong = read_files(dir, "t", &[(file, Some(4))]).unwrap_err();
        assert!(
            wrong
                .to_string()
                .ends_with("holds 3 rows where the version's list says 4"),
            "{wrong}"
        );
        let missing = read_files(dir, "t", &[(dir.join("t/none.parquet"), None)]).unwrap_err();
        assert!(missing.to_string().starts_with("cannot open "), "{missing}");
    }
}
