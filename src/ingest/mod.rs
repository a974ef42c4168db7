//! Ingest: every declared source file is read, checked and written to the
//! warehouse; every row read is accepted or rejected with a reason.

pub mod checks;
pub mod linkage;
pub mod nhs;
pub mod read;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use polars::prelude::*;
use sha2::Digest;

use crate::error::{InputError, PipelineError};
use crate::pipeline::{Pipeline, Source, SourceKind};
use crate::progress::Progress;
use crate::schema::{self, SCHEMA_VERSION};
use crate::warehouse;
use checks::InList;

/// A row rejected while reading, before the column checks.
#[derive(Debug, Clone)]
pub struct Reject {
    pub line: u32,
    pub field: String,
    pub reason: String,
    pub value: Option<String>,
}

/// What happened to one input file.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub source: String,
    pub path: String,
    pub file_key: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub rows_read: usize,
    pub accepted: usize,
    pub rejected: usize,
    /// Rows written to the warehouse (spells, where episodes were folded).
    pub written: usize,
    pub sentinel_dates: usize,
    /// False when the file was unchanged since the last ingest and skipped.
    pub ingested: bool,
    /// The commonest reject reasons, with counts.
    pub top_reasons: Vec<(String, usize)>,
    /// Kept rows with a value blanked or corrected, counted per field and rule.
    pub warnings: Vec<(String, usize)>,
    /// The first few warnings, as messages.
    pub warning_examples: Vec<String>,
    /// The first few rejects, as messages an analyst can act on.
    pub examples: Vec<String>,
}

/// The outcome of an ingest or a validation.
#[derive(Debug, Default)]
pub struct Summary {
    pub files: Vec<FileReport>,
    pub warehouse: PathBuf,
    /// Files ingested before that the pipeline no longer matches (rows removed).
    pub removed: Vec<String>,
    /// Warnings across files (linkage), in words.
    pub warnings: Vec<String>,
    /// Validate only: each checked file's path and rejects, for `--rejects`.
    pub rejects: Vec<(String, DataFrame)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read and check everything, write nothing.
    Validate,
    /// Write the warehouse; skip files unchanged since the last ingest.
    Ingest,
}

/// The files a source's globs match, relative to the pipeline folder, sorted.
pub fn source_files(pipeline: &Pipeline, source: &Source) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    for pattern in &source.files {
        let full = pipeline.dir.join(pattern);
        let matches = glob::glob(&full.to_string_lossy()).map_err(|e| InputError::File {
            path: full.clone(),
            message: format!("not a usable file pattern: {e}"),
        })?;
        for m in matches.flatten() {
            let m = clean_path(&m);
            if m.is_file() && !out.contains(&m) {
                out.push(m);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(InputError::NoFiles {
            source_name: source.name.clone(),
            patterns: source
                .files
                .iter()
                .map(|p| pipeline.dir.join(p).display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(out)
}

/// `pipelines/../sample_data/a.csv` → `sample_data/a.csv`, without touching the disk.
pub fn clean_path(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last = out.components().next_back();
                if matches!(last, Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A stable key for a file: its path as the pipeline names it, and the source.
fn file_key(source: &Source, path: &Path) -> String {
    let h = sha2::Sha256::digest(format!("{}\u{0}{}", source.name, path.display()).as_bytes());
    hex::encode(&h[..8])
}

/// A hash of how a source is read, so that a changed mapping re-ingests its files.
fn source_config_hash(source: &Source) -> String {
    hex::encode(&sha2::Sha256::digest(format!("{source:?}").as_bytes())[..8])
}

struct Prepared {
    report: FileReport,
    accepted: DataFrame,
    rejects: DataFrame,
    warnings: DataFrame,
    kind: SourceKind,
    config: String,
}

/// A file as the manifest last recorded it.
struct Previous {
    path: String,
    sha256: String,
    schema_version: u32,
    source_config: String,
    key_fingerprint: String,
}

/// The manifest's previous rows, keyed by file key.
fn previous_manifest(warehouse: &Path) -> Result<BTreeMap<String, Previous>> {
    let mut out = BTreeMap::new();
    if let Some(df) = warehouse::read_table(warehouse, warehouse::MANIFEST)? {
        let text = |c: &str| -> Result<StringChunked> { Ok(df.column(c)?.str()?.clone()) };
        let (key, path, sha, cfg, fp) = (
            text("file_key")?,
            text("path")?,
            text("sha256")?,
            text("source_config")?,
            text("key_fingerprint")?,
        );
        let ver = df.column("schema_version")?.u32()?.clone();
        for i in 0..df.height() {
            if let Some(k) = key.get(i) {
                out.insert(
                    k.to_string(),
                    Previous {
                        path: path.get(i).unwrap_or_default().to_string(),
                        sha256: sha.get(i).unwrap_or_default().to_string(),
                        schema_version: ver.get(i).unwrap_or(0),
                        source_config: cfg.get(i).unwrap_or_default().to_string(),
                        key_fingerprint: fp.get(i).unwrap_or_default().to_string(),
                    },
                );
            }
        }
    }
    Ok(out)
}

fn top_reasons(rejects: &DataFrame) -> Result<Vec<(String, usize)>> {
    count_reasons(rejects, Some(5))
}

/// `field: rule` with its count, commonest first.
fn count_reasons(rejects: &DataFrame, limit: Option<u32>) -> Result<Vec<(String, usize)>> {
    if rejects.height() == 0 {
        return Ok(Vec::new());
    }
    let grouped = rejects
        .clone()
        .lazy()
        .select([concat_str([col("field"), lit(": "), col("rule")], "", true).alias("why")])
        .group_by([col("why")])
        .agg([len().alias("n")])
        .sort(
            ["n", "why"],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        );
    let out = match limit {
        Some(l) => grouped.limit(l),
        None => grouped,
    }
    .collect()?;
    let why = out.column("why")?.str()?.clone();
    let n = out.column("n")?.cast(&DataType::UInt64)?.u64()?.clone();
    Ok((0..out.height())
        .filter_map(|i| Some((why.get(i)?.to_string(), n.get(i)? as usize)))
        .collect())
}

/// The LSOA lookup as two text columns, `lsoa_code` (upper case) and
/// `imd_decile`, one row per code (the first wins).
fn read_lsoa_lookup(l: &crate::pipeline::LsoaLookup) -> Result<DataFrame> {
    let path = Path::new(&l.file);
    let bad = |m: String| InputError::File {
        path: path.to_path_buf(),
        message: m,
    };
    let mut rdr = csv::Reader::from_path(path)
        .map_err(|e| bad(format!("cannot read the LSOA lookup: {e}")))?;
    let headers = rdr
        .headers()
        .map_err(|e| bad(format!("cannot read the header row: {e}")))?
        .clone();
    let find = |h: &str| {
        headers
            .iter()
            .position(|x| x.trim().eq_ignore_ascii_case(h.trim()))
    };
    let (Some(ci), Some(di)) = (find(&l.code_column), find(&l.decile_column)) else {
        return Err(bad(format!(
            "the LSOA lookup needs columns \"{}\" and \"{}\"",
            l.code_column, l.decile_column
        ))
        .into());
    };
    let mut codes = Vec::new();
    let mut deciles = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| bad(format!("cannot read a row: {e}")))?;
        let code = rec.get(ci).unwrap_or("").trim().to_uppercase();
        if !code.is_empty() && seen.insert(code.clone()) {
            codes.push(code);
            deciles.push(rec.get(di).unwrap_or("").trim().to_string());
        }
    }
    Ok(df!(schema::LSOA_CODE => codes, schema::IMD_DECILE => deciles)?)
}

/// `acme.csv line 14, field referral_date: "31/02/2024" is not a date (expected dd/mm/yyyy)`
pub fn reject_messages(path: &Path, rejects: &DataFrame, limit: usize) -> Result<Vec<String>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let line = rejects
        .column("line")?
        .cast(&DataType::UInt32)?
        .u32()?
        .clone();
    let field = rejects.column("field")?.str()?.clone();
    let reason = rejects.column("reason")?.str()?.clone();
    let value = rejects.column("value")?.str()?.clone();
    Ok((0..rejects.height().min(limit))
        .map(|i| {
            let f = field.get(i).unwrap_or_default();
            let v = value
                .get(i)
                .map(|v| format!("\"{v}\" "))
                .unwrap_or_default();
            if f.is_empty() {
                format!(
                    "{name} line {}: {v}{}",
                    line.get(i).unwrap_or(0),
                    reason.get(i).unwrap_or_default()
                )
            } else {
                format!(
                    "{name} line {}, field {f}: {v}{}",
                    line.get(i).unwrap_or(0),
                    reason.get(i).unwrap_or_default()
                )
            }
        })
        .collect())
}

/// Reads and checks every input; in `Mode::Ingest` also writes the warehouse.
pub fn run(pipeline: &Pipeline, mode: Mode, progress: &dyn Progress) -> Result<Summary> {
    let key = Arc::new(pipeline.hmac_key()?);
    let fingerprint = nhs::key_fingerprint(&key);
    let warehouse_dir = pipeline.warehouse.clone();
    let _lock = match mode {
        Mode::Ingest => Some(warehouse::lock(&warehouse_dir)?),
        Mode::Validate => None,
    };
    let previous = previous_manifest(&warehouse_dir)?;
    if let Some(prev) = previous.values().next() {
        // validate refuses what ingest would refuse.
        if prev.key_fingerprint != fingerprint {
            return Err(PipelineError {
                path: pipeline.path.clone(),
                line: None,
                message: format!(
                    "the warehouse {} was built with a different HMAC key, so its person ids would not link with new ones; use the original key, or remove the warehouse to rebuild it",
                    warehouse_dir.display()
                ),
            }
            .into());
        }
    }

    let mut prepared = Vec::new();
    let mut skipped = Vec::new();
    let mut current = Vec::new();
    // Every source's files first: a source with none is bad input before any reading.
    let files: Vec<Vec<PathBuf>> = pipeline
        .sources
        .iter()
        .map(|s| source_files(pipeline, s))
        .collect::<Result<_, _>>()?;
    progress.files(files.iter().map(Vec::len).sum());
    for (source, paths) in pipeline.sources.iter().zip(files) {
        let mut config = source_config_hash(source);
        let lsoa = match &source.lsoa_lookup {
            Some(l) => {
                // A changed lookup re-ingests the source's files too.
                let bytes =
                    std::fs::read(&l.file).with_context(|| format!("cannot read {}", l.file))?;
                config = format!(
                    "{config}-{}",
                    &hex::encode(sha2::Sha256::digest(&bytes))[..16]
                );
                Some(read_lsoa_lookup(l)?)
            }
            None => None,
        };
        for path in paths {
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let sha = hex::encode(sha2::Sha256::digest(&bytes));
            let fkey = file_key(source, &path);
            let shown = path.display().to_string();
            let unchanged = previous.get(&fkey).is_some_and(|p| {
                p.sha256 == sha && p.schema_version == SCHEMA_VERSION && p.source_config == config
            });
            current.push(fkey.clone());
            if mode == Mode::Ingest && unchanged {
                progress.say(&format!(
                    "{shown}: unchanged since the last ingest, skipped"
                ));
                skipped.push(fkey);
                progress.file_done();
                continue;
            }
            progress.reading(&shown);
            let raw = read::read_file(&path, &bytes, source)?;
            let rows_read = raw.rows_read;
            let checked = checks::check(raw, source, &pipeline.settings, &key, lsoa.as_ref())
                .map_err(anyhow::Error::from)
                .with_context(|| format!("checking the rows of {shown}"))?;
            let rejected = checked.rejects.height();
            let accepted = checked.rows_before_folding;
            if rows_read != accepted + rejected {
                bail!("internal error: {shown}: {rows_read} rows read but {accepted} accepted and {rejected} rejected");
            }
            let report = FileReport {
                source: source.name.clone(),
                path: shown,
                file_key: fkey,
                size_bytes: bytes.len() as u64,
                sha256: sha,
                rows_read,
                accepted,
                rejected,
                written: checked.accepted.height(),
                sentinel_dates: checked.sentinel_dates,
                ingested: true,
                top_reasons: top_reasons(&checked.rejects)?,
                examples: reject_messages(&path, &checked.rejects, 5)?,
                warnings: count_reasons(&checked.warnings, None)?,
                warning_examples: reject_messages(&path, &checked.warnings, 3)?,
            };
            progress.say(&format!(
                "{}: {} rows read, {} accepted, {} rejected",
                report.path, report.rows_read, report.accepted, report.rejected
            ));
            for (why, n) in &report.warnings {
                progress.say(&format!(
                    "warning: {}: {n} row(s) kept with {why}",
                    report.path
                ));
            }
            progress.file_done();
            prepared.push(Prepared {
                report,
                accepted: checked.accepted,
                rejects: checked.rejects,
                warnings: checked.warnings,
                kind: source.kind,
                config: config.clone(),
            });
        }
    }

    // A file over the reject limit fails the run before anything is written.
    let limit = pipeline.settings.max_reject_rate;
    if let Some(p) = prepared.iter().find(|p| {
        p.report.rows_read > 0 && p.report.rejected as f64 / p.report.rows_read as f64 > limit
    }) {
        return Err(InputError::TooManyRejects {
            path: PathBuf::from(&p.report.path),
            read: p.report.rows_read,
            rejected: p.report.rejected,
            limit,
            reasons: p
                .report
                .top_reasons
                .iter()
                .map(|(r, n)| format!("{r} ({n})"))
                .collect::<Vec<_>>()
                .join("; "),
        }
        .into());
    }

    // What the report would refuse, refused before anything is written.
    let frames = |kind: SourceKind| -> Vec<&DataFrame> {
        prepared
            .iter()
            .filter(|p| p.kind == kind)
            .map(|p| &p.accepted)
            .collect()
    };
    if mode == Mode::Validate {
        if let Some(0) =
            linkage::referrals_in_period(&frames(SourceKind::ProviderReturns), &pipeline.settings)?
        {
            return Err(InputError::Argument(no_referrals_message(pipeline)).into());
        }
    }
    let mut warnings = Vec::new();
    if mode == Mode::Validate {
        if let Some(l) = linkage::linkage(
            &frames(SourceKind::ProviderReturns),
            &frames(SourceKind::Hospital),
        )? {
            warnings.extend(linkage::linkage_warning(
                &l,
                pipeline.settings.min_linkage,
                true,
            ));
        }
    }
    let validate_rejects: Vec<(String, DataFrame)> = match mode {
        Mode::Validate => prepared
            .iter()
            .map(|p| (p.report.path.clone(), p.rejects.clone()))
            .collect(),
        Mode::Ingest => Vec::new(),
    };

    // Files the pipeline no longer matches: their rows leave the warehouse.
    let removed: Vec<(String, String)> = previous
        .iter()
        .filter(|(k, _)| !current.contains(k))
        .map(|(k, p)| (k.clone(), p.path.clone()))
        .collect();
    if mode == Mode::Ingest {
        for (_, path) in &removed {
            progress.say(&format!(
                "{path}: no longer matched by the pipeline; its rows are removed"
            ));
        }
        // Nothing changed: nothing is written, not even the manifest.
        if !prepared.is_empty() || !removed.is_empty() {
            write(
                pipeline,
                &warehouse_dir,
                &mut prepared,
                &removed,
                &fingerprint,
            )?;
        }
    }
    let mut files: Vec<FileReport> = prepared.into_iter().map(|p| p.report).collect();
    if mode == Mode::Ingest && !skipped.is_empty() {
        if let Some(df) = warehouse::read_table(&warehouse_dir, warehouse::MANIFEST)? {
            files.extend(manifest_reports(&df, &skipped)?);
        }
    }
    if mode == Mode::Ingest {
        warnings.extend(warehouse_linkage_warning(pipeline, true)?);
    }
    for w in &warnings {
        progress.say(&format!("warning: {w}"));
    }
    Ok(Summary {
        files,
        warnings,
        rejects: validate_rejects,
        warehouse: warehouse_dir,
        removed: match mode {
            Mode::Ingest => removed.into_iter().map(|(_, p)| p).collect(),
            Mode::Validate => Vec::new(),
        },
    })
}

/// The refusal when no referral falls in the evaluation period (validate and report).
pub fn no_referrals_message(pipeline: &Pipeline) -> String {
    let s = &pipeline.settings;
    format!(
        "no referrals fall in the evaluation period {} to {} (settings.evaluation_start / evaluation_end)",
        s.evaluation_start
            .map_or("(not set)".into(), |d| d.to_string()),
        s.evaluation_end.map_or("(not set)".into(), |d| d.to_string())
    )
}

/// The linkage warning for the warehouse as it stands, if linkage is low.
pub fn warehouse_linkage_warning(pipeline: &Pipeline, exact: bool) -> Result<Option<String>> {
    let wh = &pipeline.warehouse;
    let ids = |t: &str| -> Result<Option<DataFrame>> {
        Ok(warehouse::read_table(wh, t)?
            .map(|df| df.select([schema::PERSON_ID]))
            .transpose()?)
    };
    let (Some(r), Some(h)) = (
        ids(warehouse::PARTICIPANTS)?,
        ids(warehouse::HOSPITAL_EVENTS)?,
    ) else {
        return Ok(None);
    };
    Ok(linkage::linkage(&[&r], &[&h])?
        .and_then(|l| linkage::linkage_warning(&l, pipeline.settings.min_linkage, exact)))
}

/// Kept rows with a blanked or corrected value, per file and field, in words
/// (`exact`: with counts, for internal use).
pub fn warehouse_field_warnings(pipeline: &Pipeline, exact: bool) -> Result<Vec<String>> {
    let Some(w) = warehouse::read_table(&pipeline.warehouse, warehouse::WARNINGS)? else {
        return Ok(Vec::new());
    };
    if w.height() == 0 {
        return Ok(Vec::new());
    }
    let g = w
        .lazy()
        .group_by([col(schema::SOURCE_FILE), col("field"), col("rule")])
        .agg([len().cast(DataType::UInt64).alias("n")])
        .sort(
            [schema::SOURCE_FILE, "field", "rule"],
            SortMultipleOptions::default(),
        )
        .collect()?;
    let (file, field, rule) = (
        g.column(schema::SOURCE_FILE)?.str()?.clone(),
        g.column("field")?.str()?.clone(),
        g.column("rule")?.str()?.clone(),
    );
    let n = g.column("n")?.u64()?.clone();
    Ok((0..g.height())
        .map(|i| {
            let name = Path::new(file.get(i).unwrap_or_default())
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let rows = if exact {
                format!("{} row(s)", n.get(i).unwrap_or(0))
            } else {
                "Some rows".to_string()
            };
            format!(
                "{rows} of {name} kept with field {} corrected or left blank: {}.",
                field.get(i).unwrap_or_default(),
                rule.get(i).unwrap_or_default()
            )
        })
        .collect())
}

fn manifest_reports(df: &DataFrame, keys: &[String]) -> Result<Vec<FileReport>> {
    let get_s = |c: &str| -> Result<StringChunked> { Ok(df.column(c)?.str()?.clone()) };
    let get_u = |c: &str| -> Result<UInt64Chunked> {
        Ok(df.column(c)?.cast(&DataType::UInt64)?.u64()?.clone())
    };
    let (src, path, fk, sha) = (
        get_s("source")?,
        get_s("path")?,
        get_s("file_key")?,
        get_s("sha256")?,
    );
    let (size, read, acc, rej, wr, sen) = (
        get_u("size_bytes")?,
        get_u("rows_read")?,
        get_u("rows_accepted")?,
        get_u("rows_rejected")?,
        get_u("rows_written")?,
        get_u("sentinel_dates")?,
    );
    let mut out = Vec::new();
    for i in 0..df.height() {
        let k = fk.get(i).unwrap_or_default();
        if keys.iter().any(|x| x == k) {
            out.push(FileReport {
                source: src.get(i).unwrap_or_default().into(),
                path: path.get(i).unwrap_or_default().into(),
                file_key: k.into(),
                size_bytes: size.get(i).unwrap_or(0),
                sha256: sha.get(i).unwrap_or_default().into(),
                rows_read: read.get(i).unwrap_or(0) as usize,
                accepted: acc.get(i).unwrap_or(0) as usize,
                rejected: rej.get(i).unwrap_or(0) as usize,
                written: wr.get(i).unwrap_or(0) as usize,
                sentinel_dates: sen.get(i).unwrap_or(0) as usize,
                ingested: false,
                top_reasons: Vec::new(),
                examples: Vec::new(),
                warnings: Vec::new(),
                warning_examples: Vec::new(),
            });
        }
    }
    Ok(out)
}

fn with_lineage(df: DataFrame, source: &str, path: &str) -> Result<DataFrame> {
    Ok(df
        .lazy()
        .with_columns([
            lit(source.to_string()).alias(schema::SOURCE),
            lit(path.to_string()).alias(schema::SOURCE_FILE),
        ])
        .collect()?)
}

fn write(
    pipeline: &Pipeline,
    dir: &Path,
    prepared: &mut [Prepared],
    removed: &[(String, String)],
    fingerprint: &str,
) -> Result<()> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for p in prepared.iter_mut() {
        let r = &p.report;
        let table = p.kind.table();
        warehouse::remove_parts(dir, table, &r.file_key)?;
        warehouse::remove_parts(dir, warehouse::REJECTS, &r.file_key)?;
        warehouse::remove_parts(dir, warehouse::WARNINGS, &r.file_key)?;
        let part = warehouse::part_name(&r.file_key);
        let accepted = with_lineage(std::mem::take(&mut p.accepted), &r.source, &r.path)?;
        if p.kind == SourceKind::Hospital {
            // Hive partitions: setting and year of the event, kept in the path only.
            let with_year = accepted
                .lazy()
                .with_column(col(schema::EVENT_DATE).dt().year().alias(schema::YEAR))
                .collect()?;
            let groups = with_year.partition_by_stable([schema::SETTING, schema::YEAR], true)?;
            for g in groups {
                let setting = g
                    .column(schema::SETTING)?
                    .str()?
                    .get(0)
                    .unwrap_or("unknown")
                    .to_string();
                let year = g.column(schema::YEAR)?.i32()?.get(0).unwrap_or(0);
                let mut g = g.drop_many([schema::SETTING, schema::YEAR]);
                let path = dir
                    .join(table)
                    .join(format!("{}={setting}", schema::SETTING))
                    .join(format!("{}={year}", schema::YEAR))
                    .join(&part);
                warehouse::write_parquet(&mut g, &path)?;
            }
        } else {
            let mut df = accepted;
            warehouse::write_parquet(&mut df, &dir.join(table).join(&part))?;
        }
        let mut rejects = with_lineage(std::mem::take(&mut p.rejects), &r.source, &r.path)?;
        warehouse::write_parquet(&mut rejects, &dir.join(warehouse::REJECTS).join(&part))?;
        let mut warnings = with_lineage(std::mem::take(&mut p.warnings), &r.source, &r.path)?;
        warehouse::write_parquet(&mut warnings, &dir.join(warehouse::WARNINGS).join(&part))?;
    }

    // The manifest: previous rows for files not re-ingested, new rows for the rest.
    let new_rows = df!(
        "source" => prepared.iter().map(|p| p.report.source.clone()).collect::<Vec<_>>(),
        "path" => prepared.iter().map(|p| p.report.path.clone()).collect::<Vec<_>>(),
        "file_key" => prepared.iter().map(|p| p.report.file_key.clone()).collect::<Vec<_>>(),
        "size_bytes" => prepared.iter().map(|p| p.report.size_bytes).collect::<Vec<_>>(),
        "sha256" => prepared.iter().map(|p| p.report.sha256.clone()).collect::<Vec<_>>(),
        "rows_read" => prepared.iter().map(|p| p.report.rows_read as u64).collect::<Vec<_>>(),
        "rows_accepted" => prepared.iter().map(|p| p.report.accepted as u64).collect::<Vec<_>>(),
        "rows_rejected" => prepared.iter().map(|p| p.report.rejected as u64).collect::<Vec<_>>(),
        "rows_written" => prepared.iter().map(|p| p.report.written as u64).collect::<Vec<_>>(),
        "sentinel_dates" => prepared.iter().map(|p| p.report.sentinel_dates as u64).collect::<Vec<_>>(),
        "schema_version" => vec![SCHEMA_VERSION; prepared.len()],
        "source_config" => prepared.iter().map(|p| p.config.clone()).collect::<Vec<_>>(),
        "key_fingerprint" => vec![fingerprint.to_string(); prepared.len()],
        "pipeline_sha256" => vec![pipeline.sha256.clone(); prepared.len()],
        "ingested_at" => vec![now.clone(); prepared.len()],
    )?;
    for (key, _) in removed {
        for table in [
            warehouse::PARTICIPANTS,
            warehouse::HOSPITAL_EVENTS,
            warehouse::PAM_SCORES,
            warehouse::REJECTS,
            warehouse::WARNINGS,
        ] {
            warehouse::remove_parts(dir, table, key)?;
        }
    }
    let replaced: Vec<String> = prepared
        .iter()
        .map(|p| p.report.file_key.clone())
        .chain(removed.iter().map(|(k, _)| k.clone()))
        .collect();
    let mut manifest = match warehouse::read_table(dir, warehouse::MANIFEST)? {
        Some(old) => {
            let keep = old
                .lazy()
                .filter(
                    col("file_key")
                        .in_list(lit(Series::new("".into(), replaced)), false)
                        .not(),
                )
                .collect()?;
            keep.vstack(&new_rows)?
        }
        None => new_rows,
    };
    warehouse::write_parquet(
        &mut manifest,
        &dir.join(warehouse::MANIFEST).join("manifest.parquet"),
    )?;
    rebuild_courses(pipeline, dir)
}

/// The courses table: one row per provider and course, from all participants.
fn rebuild_courses(pipeline: &Pipeline, dir: &Path) -> Result<()> {
    use schema::*;
    let Some(participants) = warehouse::read_table(dir, warehouse::PARTICIPANTS)? else {
        return Ok(());
    };
    let threshold = pipeline.settings.completion_threshold as i32;
    let mut courses = participants
        .lazy()
        .group_by_stable([col(PROVIDER_ID), col(COURSE_ID)])
        .agg([
            col(PROGRAMME).first(),
            col(COURSE_START_DATE).min(),
            col(COURSE_LANGUAGE).drop_nulls().first(),
            len().cast(DataType::UInt32).alias("referrals"),
            col(SESSIONS_ATTENDED)
                .cast(DataType::Int32)
                .gt_eq(lit(1))
                .sum()
                .cast(DataType::UInt32)
                .alias("starters"),
            col(SESSIONS_ATTENDED)
                .cast(DataType::Int32)
                .gt_eq(lit(threshold))
                .sum()
                .cast(DataType::UInt32)
                .alias("completers"),
        ])
        .sort([PROVIDER_ID, COURSE_ID], SortMultipleOptions::default())
        .collect()?;
    warehouse::write_parquet(
        &mut courses,
        &dir.join(warehouse::COURSES).join("courses.parquet"),
    )
}
