//! The ingest manifest (SPEC 2): one row per input file in the version,
//! with its size, SHA-256 and the accounting of its rows. The warehouse owns
//! its columns; ingest hands it rows.

use polars::prelude::*;

use crate::error::{FileOp, StoreError, StoreResult};

use std::path::Path;

use super::{Snapshot, Staging, MANIFEST};

/// One input file as the manifest records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRow {
    pub source: String,
    pub path: String,
    pub file_key: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    /// Rows in the table parts (spells, where episodes were folded).
    pub rows_written: u64,
    pub sentinel_dates: u64,
    pub schema_version: u32,
    /// How the source is read (mapping, LSOA lookup): a change re-ingests the file.
    pub source_config: String,
    /// Which HMAC key pseudonymised it.
    pub key_fingerprint: String,
    pub pipeline_sha256: String,
    pub ingested_at: String,
}

/// The manifest's rows as a frame (the file's layout).
pub fn to_frame(rows: &[ManifestRow]) -> PolarsResult<DataFrame> {
    let s = |f: fn(&ManifestRow) -> &String| rows.iter().map(|r| f(r).clone()).collect::<Vec<_>>();
    let u = |f: fn(&ManifestRow) -> u64| rows.iter().map(f).collect::<Vec<_>>();
    df!(
        "source" => s(|r| &r.source),
        "path" => s(|r| &r.path),
        "file_key" => s(|r| &r.file_key),
        "size_bytes" => u(|r| r.size_bytes),
        "sha256" => s(|r| &r.sha256),
        "rows_read" => u(|r| r.rows_read),
        "rows_accepted" => u(|r| r.rows_accepted),
        "rows_rejected" => u(|r| r.rows_rejected),
        "rows_written" => u(|r| r.rows_written),
        "sentinel_dates" => u(|r| r.sentinel_dates),
        "schema_version" => rows.iter().map(|r| r.schema_version).collect::<Vec<_>>(),
        "source_config" => s(|r| &r.source_config),
        "key_fingerprint" => s(|r| &r.key_fingerprint),
        "pipeline_sha256" => s(|r| &r.pipeline_sha256),
        "ingested_at" => s(|r| &r.ingested_at),
    )
}

/// The manifest's rows from its frame.
pub fn from_frame(df: &DataFrame) -> PolarsResult<Vec<ManifestRow>> {
    let text = |c: &str| -> PolarsResult<StringChunked> { Ok(df.column(c)?.str()?.clone()) };
    let num = |c: &str| -> PolarsResult<UInt64Chunked> {
        Ok(df.column(c)?.cast(&DataType::UInt64)?.u64()?.clone())
    };
    let (source, path, key, sha, config, fp, pipe, at) = (
        text("source")?,
        text("path")?,
        text("file_key")?,
        text("sha256")?,
        text("source_config")?,
        text("key_fingerprint")?,
        text("pipeline_sha256")?,
        text("ingested_at")?,
    );
    let (size, read, acc, rej, wr, sen, ver) = (
        num("size_bytes")?,
        num("rows_read")?,
        num("rows_accepted")?,
        num("rows_rejected")?,
        num("rows_written")?,
        num("sentinel_dates")?,
        num("schema_version")?,
    );
    let t = |c: &StringChunked, i: usize| c.get(i).unwrap_or_default().to_string();
    Ok((0..df.height())
        .map(|i| ManifestRow {
            source: t(&source, i),
            path: t(&path, i),
            file_key: t(&key, i),
            size_bytes: size.get(i).unwrap_or(0),
            sha256: t(&sha, i),
            rows_read: read.get(i).unwrap_or(0),
            rows_accepted: acc.get(i).unwrap_or(0),
            rows_rejected: rej.get(i).unwrap_or(0),
            rows_written: wr.get(i).unwrap_or(0),
            sentinel_dates: sen.get(i).unwrap_or(0),
            schema_version: ver.get(i).unwrap_or(0) as u32,
            source_config: t(&config, i),
            key_fingerprint: t(&fp, i),
            pipeline_sha256: t(&pipe, i),
            ingested_at: t(&at, i),
        })
        .collect())
}

/// A version's manifest (empty when the version has none).
pub fn read(snapshot: &Snapshot) -> StoreResult<Vec<ManifestRow>> {
    match snapshot.table(MANIFEST)? {
        Some(df) => from_frame(&df).map_err(StoreError::frame(
            FileOp::Read,
            &snapshot.dir.join(MANIFEST),
        )),
        None => Ok(Vec::new()),
    }
}

impl Staging {
    /// Writes the new version's manifest.
    pub fn write_manifest(&mut self, rows: &[ManifestRow]) -> StoreResult<()> {
        let rel = format!("{MANIFEST}/manifest.parquet");
        let mut df = to_frame(rows).map_err(StoreError::frame(FileOp::Write, Path::new(&rel)))?;
        self.write(MANIFEST, &rel, None, &mut df, "ingest.manifest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_survive_the_frame() {
        let row = ManifestRow {
            source: "acme".into(),
            path: "a.csv".into(),
            file_key: "k".into(),
            size_bytes: 10,
            sha256: "ab".into(),
            rows_read: 5,
            rows_accepted: 4,
            rows_rejected: 1,
            rows_written: 4,
            sentinel_dates: 0,
            schema_version: 3,
            source_config: "c".into(),
            key_fingerprint: "f".into(),
            pipeline_sha256: "p".into(),
            ingested_at: "2026-01-01T00:00:00Z".into(),
        };
        let back = from_frame(&to_frame(std::slice::from_ref(&row)).unwrap()).unwrap();
        assert_eq!(back, vec![row]);
    }
}
