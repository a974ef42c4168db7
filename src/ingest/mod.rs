//! Ingest: every declared source file is read, checked and written to the
//! warehouse; every row read is accepted or rejected with a reason.

pub mod checks;
mod error;
mod files;
pub mod linkage;
pub mod nhs;
pub mod read;
mod spill;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;
use sha2::Digest;

use crate::error::{InputError, PipelineError};
use crate::pipeline::{Pipeline, Source, SourceKind};
use crate::progress::Progress;
use crate::schema::{self, SCHEMA_VERSION};
use crate::warehouse::{self, ManifestRow};

pub use error::{IngestError, Result};
use files::Files;
use write::{commit, Changes};

/// A row rejected while reading, before the column checks.
#[derive(Debug, Clone)]
pub struct Reject {
    pub line: u32,
    pub field: String,
    /// The reason's fixed wording, for counting rejects by kind.
    pub rule: &'static str,
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
    /// True when this run committed a new version.
    pub committed: bool,
    /// The warehouse's current version after the run (a new one when anything changed).
    pub version: Option<String>,
    /// Files ingested before that the pipeline no longer matches (rows removed).
    pub removed: Vec<String>,
    /// Warnings across files (linkage), in words.
    pub warnings: Vec<String>,
    /// Validate only: each checked file's path and rejects, for `--rejects`.
    pub rejects: Vec<(String, DataFrame)>,
    /// Validate only: why a run would refuse these files (a file over the
    /// reject limit), said after the files and their rejects are shown.
    pub refused: Option<anyhow::Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read and check everything, write nothing.
    Validate,
    /// Write the warehouse; skip files unchanged since the last ingest.
    Ingest,
    /// Write a whole new version from the sources, trusting nothing in the
    /// current one (`ingest --repair`).
    Repair,
}

impl Mode {
    fn writes(self) -> bool {
        self != Mode::Validate
    }
}

/// A file a source's patterns match.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Where it is read from, as messages and the manifest show it
    /// (relative to the current folder where the pipeline was named so).
    pub path: PathBuf,
    /// Its key in the manifest ([`file_key`]).
    pub key: String,
}

/// The files a source's globs match, relative to the pipeline folder, sorted.
/// A file two patterns match, however spelled, is read once, keyed as the
/// first pattern names it.
pub fn source_files(pipeline: &Pipeline, source: &Source) -> Result<Vec<SourceFile>, InputError> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut missing = None;
    // smpeval's own output is never an input (a `**/*.csv` would match the
    // packs' tables and the warehouse's files).
    let own = own_folders(pipeline);
    for pattern in &source.files {
        let full = pipeline.dir.join(pattern);
        let matches = glob::glob(&full.to_string_lossy()).map_err(|e| InputError::File {
            path: full.clone(),
            message: format!("not a usable file pattern: {e}"),
        })?;
        refuse_nhs_number_in_name(&clean_path(&full))?;
        // A file named without wildcards must be there, and be a file.
        if !pattern.contains(['*', '?', '[']) && !full.is_file() {
            let there = std::fs::symlink_metadata(&full).is_ok();
            missing.get_or_insert((
                there,
                InputError::File {
                    path: clean_path(&full),
                    message: match (full.exists(), there) {
                        (true, _) => "named in the pipeline's `files`, but not a regular file (a folder, a pipe or a device)".into(),
                        (false, true) => "named in the pipeline's `files`, but a link to nothing".into(),
                        (false, false) => "named in the pipeline's `files`, but not found".into(),
                    },
                },
            ));
        }
        for m in matches.flatten() {
            let m = clean_path(&m);
            refuse_nhs_number_in_name(&m)?;
            let canonical = std::fs::canonicalize(&m).unwrap_or_else(|_| m.clone());
            if own.iter().any(|d| canonical.starts_with(d)) {
                continue;
            }
            if m.is_file() && seen.insert(canonical) {
                // An absolute pattern's file by its own path; any other by
                // its path from the pipeline's folder, however that is named.
                let named = match Path::new(pattern).is_absolute() {
                    true => m.clone(),
                    false => from_folder(&pipeline.dir, &m),
                };
                let key = file_key(source, &named);
                out.push(SourceFile { path: m, key });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    // With nothing found at all, the source's own message says so, unless
    // the named path is there as something other than a file.
    if let Some((there, e)) = missing {
        if there || !out.is_empty() {
            return Err(e);
        }
    }
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

/// The pipeline's warehouse and reports folders, as absolute paths (those
/// that exist): smpeval's own output, never an input nor a place for a
/// file the analyst names.
pub fn own_folders(pipeline: &Pipeline) -> Vec<PathBuf> {
    [&pipeline.warehouse, &pipeline.reports]
        .iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .collect()
}

/// A file whose path holds what reads as an NHS number is refused: a file's
/// path is stored with its rows and shown in messages, `status` and the pack,
/// where no NHS number may go. The message shows the path masked.
pub(crate) fn refuse_nhs_number_in_name(path: &Path) -> Result<(), InputError> {
    let shown = path.to_string_lossy();
    if !nhs::names_an_nhs_number(&shown) {
        return Ok(());
    }
    Err(InputError::File {
        path: PathBuf::from(nhs::mask_text(&shown).into_owned()),
        message: "its name (or a folder's) holds what reads as an NHS number: rename it \
                  (a file's path is stored in the warehouse and shown in the pack)"
            .into(),
    })
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

/// A stable key for a file: its source, and its path as [`source_files`]
/// names it (the same however the pipeline itself was named).
fn file_key(source: &Source, named: &Path) -> String {
    let h = sha2::Sha256::digest(format!("{}\u{0}{}", source.name, named.display()).as_bytes());
    hex::encode(&h[..8])
}

/// `path` as seen from `folder` (`../data/a.csv`), however either is
/// written (relative to the current folder or absolute); as it is where the
/// current folder is unknown.
fn from_folder(folder: &Path, path: &Path) -> PathBuf {
    let absolute = |p: &Path| {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        std::path::absolute(p).map(|a| clean_path(&a))
    };
    match (absolute(path), absolute(folder)) {
        (Ok(p), Ok(f)) => pathdiff::diff_paths(&p, &f).unwrap_or(p),
        _ => path.to_path_buf(),
    }
}

/// A hash of how a source is read, so that a changed mapping re-ingests its
/// files (its LSOA lookup named from the pipeline's folder, as its files are).
fn source_config_hash(pipeline_dir: &Path, source: &Source) -> String {
    let mut source = source.clone();
    if let Some(l) = &mut source.lsoa_lookup {
        l.file = from_folder(pipeline_dir, Path::new(&l.file))
            .display()
            .to_string();
    }
    hex::encode(&sha2::Sha256::digest(format!("{source:?}").as_bytes())[..8])
}

/// How a source is read, with its LSOA lookup's contents: a change to either
/// re-ingests the source's files.
fn source_config(pipeline_dir: &Path, source: &Source) -> Result<String> {
    let config = source_config_hash(pipeline_dir, source);
    Ok(match &source.lsoa_lookup {
        Some(l) => {
            let bytes = std::fs::read(&l.file).map_err(|err| IngestError::Read {
                path: PathBuf::from(&l.file),
                err,
            })?;
            format!(
                "{config}-{}",
                &hex::encode(sha2::Sha256::digest(&bytes))[..16]
            )
        }
        None => config,
    })
}

/// An input file's state against the warehouse's current version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileState {
    pub source: String,
    pub path: String,
    /// `ingested` (as the warehouse holds it), `changed` (since it was
    /// ingested, or its source's mapping changed), `upgrade` (unchanged, but
    /// ingested by an older smpeval whose warehouse layout differs: read again,
    /// once, by the next ingest), `new` (not yet ingested), or `missing`
    /// (ingested, but the pipeline no longer matches it).
    pub state: &'static str,
}

/// A file's state against its row in the warehouse's manifest (`prev`),
/// from its SHA-256 and its source's mapping (`config`): `ingested` (the
/// same, under this layout), `upgrade` (the same, under an older layout:
/// read again once) or `changed`.
fn state_against(prev: &ManifestRow, sha: &str, config: &str) -> &'static str {
    match (
        prev.sha256 == sha && prev.source_config == config,
        prev.schema_version == SCHEMA_VERSION,
    ) {
        (true, true) => "ingested",
        (true, false) => "upgrade",
        _ => "changed",
    }
}

/// Every input file's state (for `smpeval status`): what the next ingest would do.
pub fn file_states(
    pipeline: &Pipeline,
    snapshot: Option<&warehouse::Snapshot>,
) -> Result<Vec<FileState>> {
    let previous = previous_manifest(snapshot)?;
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for source in &pipeline.sources {
        let config = source_config(&pipeline.dir, source).unwrap_or_default();
        for SourceFile { path, key } in source_files(pipeline, source).unwrap_or_default() {
            let state = match previous.get(&key) {
                None => "new",
                Some(prev) => {
                    let sha = std::fs::read(&path)
                        .map(|b| hex::encode(sha2::Sha256::digest(&b)))
                        .unwrap_or_default();
                    state_against(prev, &sha, &config)
                }
            };
            out.push(FileState {
                source: source.name.clone(),
                path: path.display().to_string(),
                state,
            });
            seen.push(key);
        }
    }
    for (key, prev) in &previous {
        if !seen.contains(key) {
            out.push(FileState {
                source: prev.source.clone(),
                path: prev.path.clone(),
                state: "missing",
            });
        }
    }
    Ok(out)
}

struct Prepared {
    report: FileReport,
    accepted: DataFrame,
    rejects: DataFrame,
    warnings: DataFrame,
    kind: SourceKind,
    config: String,
    /// A large hospital extract's rows, spilled while it was checked
    /// (`accepted` is then empty).
    spill: Option<spill::Spill>,
    /// Validate: a spilled extract's rows, as scans of the spill's files
    /// (kept, with `spill`, until the linkage is counted).
    spilled_rows: Vec<LazyFrame>,
}

impl Prepared {
    /// The file's path and its rejects.
    fn path_and_rejects(&self) -> (String, DataFrame) {
        (self.report.path.clone(), self.rejects.clone())
    }
}

/// The current version's manifest rows, keyed by file key.
fn previous_manifest(
    snapshot: Option<&warehouse::Snapshot>,
) -> Result<BTreeMap<String, ManifestRow>> {
    Ok(match snapshot {
        Some(s) => warehouse::manifest::read(s)?
            .into_iter()
            .map(|r| (r.file_key.clone(), r))
            .collect(),
        None => BTreeMap::new(),
    })
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
        // "field: rule", or the rule alone where the row has no one field
        // to blame (a row with the wrong number of fields).
        .select([when(col("field").eq(lit("")))
            .then(col("rule"))
            .otherwise(concat_str([col("field"), lit(": "), col("rule")], "", true))
            .alias("why")])
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

/// A warehouse made by smpeval before versions (tables straight under it, no
/// marker) is refused with what to do, rather than as a stranger's folder.
fn refuse_unversioned(dir: &Path) -> Result<()> {
    let old_manifest = dir.join(warehouse::MANIFEST).join("manifest.parquet");
    if old_manifest.is_file() && !dir.join(crate::files::MARKER).exists() {
        return Err(IngestError::Unversioned {
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Reads and checks every input; in `Mode::Ingest` also writes the warehouse.
pub fn run(pipeline: &Pipeline, mode: Mode, progress: &dyn Progress) -> Result<Summary> {
    run_with(pipeline, mode, progress, false)
}

/// An ingest a report follows at once (`smpeval run`): the report counts
/// the linkage and warns of it, so the ingest does neither (one pass over
/// the hospital rows, not two; one warning, not two); and returns with no
/// rows at all, which the report would refuse, are refused before anything
/// is committed.
pub fn run_before_report(pipeline: &Pipeline, progress: &dyn Progress) -> Result<Summary> {
    run_with(pipeline, Mode::Ingest, progress, true)
}

/// `run`, on its own (counting the linkage into the version, with its
/// warning) or before a report (`then_report`).
fn run_with(
    pipeline: &Pipeline,
    mode: Mode,
    progress: &dyn Progress,
    then_report: bool,
) -> Result<Summary> {
    let key = Arc::new(pipeline.hmac_key()?);
    let fingerprint = nhs::key_fingerprint(&key);
    let _lock = match mode.writes() {
        true => Some(claim_warehouse(pipeline, progress)?),
        false => None,
    };
    let snapshot = current_version(pipeline, mode)?;
    let previous = match mode {
        Mode::Repair | Mode::Validate => previous_manifest(snapshot.as_ref()).unwrap_or_default(),
        _ => previous_manifest(snapshot.as_ref())?,
    };
    refuse_other_key(pipeline, &previous, &fingerprint)?;
    let mut files = Files::new(pipeline, mode, progress, key, &previous);
    files.read_all()?;
    let Files {
        prepared,
        staging,
        skipped,
        current,
        ..
    } = files;
    // Validate only: each checked file's rejects, for `--rejects`.
    let validate_rejects: Vec<(String, DataFrame)> = match mode {
        Mode::Validate => prepared.iter().map(Prepared::path_and_rejects).collect(),
        Mode::Ingest | Mode::Repair => Vec::new(),
    };
    let unchanged = manifest_reports(&previous, &skipped);
    let checked = refusals(pipeline, mode, &prepared, &unchanged, then_report);
    let mut warnings = match (checked, mode) {
        (Ok(w), _) => w,
        (Err(e), Mode::Ingest | Mode::Repair) => return Err(e),
        (Err(e), Mode::Validate) => return Ok(refused(pipeline, prepared, validate_rejects, e)),
    };
    let (removed, gone) = removed_files(&previous, &current, &prepared, mode);
    if mode.writes() {
        let owner = warehouse_owner(&pipeline.warehouse, &pipeline.name)?;
        refuse_other_pipeline(pipeline, owner, &previous, &prepared, &removed)?;
    }
    let mut version = snapshot.as_ref().map(|s| s.version.clone());
    let committed = mode.writes() && {
        let changes = Changes {
            snapshot: snapshot.as_ref(),
            staging,
            prepared: &prepared,
            removed: &removed,
            fingerprint: &fingerprint,
            count_linkage: !then_report,
        };
        let made = commit(pipeline, mode, changes, progress)?;
        let committed = made.is_some();
        version = made.or(version);
        committed
    };
    let mut files: Vec<FileReport> = prepared.into_iter().map(|p| p.report).collect();
    if mode == Mode::Ingest {
        files.extend(unchanged);
        if !then_report {
            warnings.extend(warehouse_linkage_warning(pipeline, true)?);
        }
    }
    for w in &warnings {
        progress.warn(w);
    }
    Ok(Summary {
        files,
        warnings,
        rejects: validate_rejects,
        warehouse: pipeline.warehouse.clone(),
        version,
        committed,
        removed: gone,
        refused: None,
    })
}

/// Validate's summary when a run would refuse the files: it still shows
/// the files and writes their rejects.
fn refused(
    pipeline: &Pipeline,
    prepared: Vec<Prepared>,
    rejects: Vec<(String, DataFrame)>,
    why: IngestError,
) -> Summary {
    Summary {
        files: prepared.into_iter().map(|p| p.report).collect(),
        rejects,
        warehouse: pipeline.warehouse.clone(),
        refused: Some(why.into()),
        ..Summary::default()
    }
}

/// What stops a run once every file is read: a file over the reject limit
/// (one skipped as unchanged too: the limit may have been lowered since),
/// returns with no rows when a report follows (and in validate), and, for
/// validate, what else the report would refuse. Validate's warnings.
fn refusals(
    pipeline: &Pipeline,
    mode: Mode,
    prepared: &[Prepared],
    unchanged: &[FileReport],
    then_report: bool,
) -> Result<Vec<String>> {
    let reports = prepared.iter().map(|p| &p.report).chain(unchanged);
    refuse_too_many_rejects(pipeline, reports)?;
    if then_report || mode == Mode::Validate {
        refuse_empty_returns(pipeline, prepared, unchanged)?;
    }
    match mode {
        Mode::Validate => refuse_or_warn_as_report(pipeline, prepared),
        Mode::Ingest | Mode::Repair => Ok(Vec::new()),
    }
}

/// The files the pipeline no longer matches (file key and path: their rows
/// leave the warehouse), and the paths of those of them not read again
/// under a new key (gone; none for validate).
fn removed_files(
    previous: &BTreeMap<String, ManifestRow>,
    current: &[String],
    prepared: &[Prepared],
    mode: Mode,
) -> (Vec<(String, String)>, Vec<String>) {
    let removed: Vec<(String, String)> = previous
        .iter()
        .filter(|(k, _)| !current.contains(k))
        .map(|(k, p)| (k.clone(), p.path.clone()))
        .collect();
    let gone = match mode {
        Mode::Validate => Vec::new(),
        _ => removed
            .iter()
            .filter(|(_, p)| !read_again(p, prepared))
            .map(|(_, p)| p.clone())
            .collect(),
    };
    (removed, gone)
}

/// A file no longer matched under its old key but read again under a new
/// one (its source renamed, or a warehouse keyed by an older rule): its old
/// rows are replaced, not removed.
fn read_again(path: &str, prepared: &[Prepared]) -> bool {
    prepared.iter().any(|p| p.report.path == path)
}

/// Claims the warehouse folder for writing and takes its lock (saying when
/// it takes over the stale lock of a run that was killed).
fn claim_warehouse(pipeline: &Pipeline, progress: &dyn Progress) -> Result<warehouse::Lock> {
    let dir = &pipeline.warehouse;
    refuse_unversioned(dir)?;
    crate::files::claim_dir(dir, crate::files::DirKind::Warehouse)?;
    let lock = warehouse::lock(dir, "ingest")?;
    if let Some(h) = &lock.stale {
        progress.warn(&format!(
            "took over a stale lock on {}: the run that held it ({h}) is no longer running (killed?)",
            dir.display()
        ));
    }
    remove_stale_temporaries(dir);
    Ok(lock)
}

/// Removes the temporary files a killed run left beside `CURRENT` (while it
/// wrote `CURRENT` or `last-run.json`). A file being written now is seconds
/// old, and `last-run.json` is written without the lock: only those over an
/// hour old go.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let hour = std::time::Duration::from_secs(3600);
    for e in entries.flatten() {
        let stale = e
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > hour);
        if stale
            && e.file_name()
                .to_string_lossy()
                .starts_with(crate::files::TEMP_PREFIX)
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The pipeline a warehouse belongs to (`<warehouse>/.pipeline`, named by
/// the first ingest into it; a warehouse made before this file existed
/// belongs to the next pipeline that ingests into it). Returns the owner's
/// name when it is another pipeline.
fn warehouse_owner(dir: &Path, name: &str) -> Result<Option<String>> {
    use crate::error::{FileOp, StoreError};
    let file = dir.join(PIPELINE_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) if text.trim() == name => Ok(None),
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::files::write_atomic(&file, format!("{name}\n").as_bytes(), "marker")?;
            Ok(None)
        }
        Err(e) => Err(StoreError::io(FileOp::Read, &file)(e).into()),
    }
}

/// Another pipeline may ingest into a warehouse only where it leaves the
/// owner's data as it was read: it may not remove a file the owner ingested,
/// or read one again with another mapping (a second pipeline over the same
/// sources, with other report settings, changes nothing it does not share).
fn refuse_other_pipeline(
    pipeline: &Pipeline,
    owner: Option<String>,
    previous: &BTreeMap<String, ManifestRow>,
    prepared: &[Prepared],
    removed: &[(String, String)],
) -> Result<()> {
    use crate::error::{SafetyError, StoreError};
    let Some(owner) = owner else {
        return Ok(());
    };
    let remapped = prepared.iter().any(|p| {
        previous
            .get(&p.report.file_key)
            .is_some_and(|r| r.source_config != p.config)
    });
    if removed.is_empty() && !remapped {
        return Ok(());
    }
    Err(StoreError::from(SafetyError::OtherPipeline {
        path: pipeline.warehouse.clone(),
        holder: owner,
        name: pipeline.name.clone(),
    })
    .into())
}

/// The file naming a warehouse's pipeline.
pub const PIPELINE_FILE: &str = ".pipeline";

/// The current version: verified before an ingest builds on it. A repair
/// trusts none of it, and validate reads only its manifest (if readable),
/// for the key check.
fn current_version(pipeline: &Pipeline, mode: Mode) -> Result<Option<warehouse::Snapshot>> {
    let open = warehouse::Snapshot::open(&pipeline.warehouse, &pipeline.path);
    Ok(match mode {
        Mode::Ingest => {
            let s = open?;
            if let Some(s) = &s {
                s.verify()?;
            }
            s
        }
        Mode::Validate | Mode::Repair => open.ok().flatten(),
    })
}

/// A warehouse built with another HMAC key is refused (validate refuses what
/// ingest would refuse): its person ids would not link with new ones.
fn refuse_other_key(
    pipeline: &Pipeline,
    previous: &BTreeMap<String, ManifestRow>,
    fingerprint: &str,
) -> Result<()> {
    match previous.values().next() {
        Some(prev) if prev.key_fingerprint != fingerprint => Err(PipelineError {
            path: pipeline.path.clone(),
            line: None,
            message: format!(
                "the warehouse {} was built with a different HMAC key, so its person ids would not link with new ones; use the original key, or remove the warehouse to rebuild it",
                pipeline.warehouse.display()
            ),
        }
        .into()),
        _ => Ok(()),
    }
}

/// A file over the reject limit fails the run before anything is written.
fn refuse_too_many_rejects<'a>(
    pipeline: &Pipeline,
    mut reports: impl Iterator<Item = &'a FileReport>,
) -> Result<()> {
    let limit = pipeline.settings.max_reject_rate;
    let Some(r) =
        reports.find(|r| r.rows_read > 0 && r.rejected as f64 / r.rows_read as f64 > limit)
    else {
        return Ok(());
    };
    // A file skipped as unchanged was not read: its reasons are not at hand.
    let unread = "not read again (unchanged since the last ingest)";
    let listed = |v: Vec<String>| match v.is_empty() {
        true => unread.to_string(),
        false => v.join("; "),
    };
    Err(InputError::TooManyRejects {
        path: PathBuf::from(&r.path),
        read: r.rows_read,
        rejected: r.rejected,
        limit,
        reasons: listed(
            r.top_reasons
                .iter()
                .map(|(w, n)| format!("{w} ({n})"))
                .collect(),
        ),
        first: listed(r.examples.clone()),
    }
    .into())
}

/// Validate only: what the report would refuse (no referral in the
/// evaluation period), refused; a low linkage, and hospital rows in two or
/// more files of a source, as warnings.
fn refuse_or_warn_as_report(pipeline: &Pipeline, prepared: &[Prepared]) -> Result<Vec<String>> {
    let of = |kind: SourceKind| prepared.iter().filter(move |p| p.kind == kind);
    let returns: Vec<&DataFrame> = of(SourceKind::ProviderReturns)
        .map(|p| &p.accepted)
        .collect();
    // (Returns with no rows at all were refused before: `refuse_empty_returns`.)
    if let Some(0) = linkage::referrals_in_period(&returns, &pipeline.settings)? {
        return Err(InputError::Argument(no_referrals_message(pipeline, false)).into());
    }
    // A spilled extract's rows are read back from its spill, a file at a time,
    // each with its source and file as the warehouse has them.
    let hospital: Vec<LazyFrame> = of(SourceKind::Hospital)
        .flat_map(|p| {
            let rows = match p.spilled_rows.is_empty() {
                true => vec![p.accepted.clone().lazy()],
                false => p.spilled_rows.clone(),
            };
            let named = write::lineage(&p.report.source, &p.report.path);
            rows.into_iter().map(move |r| r.with_columns(named.clone()))
        })
        .collect();
    let returns: Vec<LazyFrame> = returns.into_iter().map(|f| f.clone().lazy()).collect();
    let across = across_files_warnings(pipeline, prepared, &returns, hospital.clone())?;
    let linked = linkage::linkage_lazy(returns, hospital)?;
    let mut warnings: Vec<String> = linked
        .and_then(|l| linkage::linkage_warning(&l, pipeline.settings.min_linkage, true))
        .into_iter()
        .collect();
    warnings.extend(across);
    Ok(warnings)
}

/// Validate only: the returns' people's hospital rows in two or more files
/// of a source (`hospital`: the rows, a file at a time), as the report
/// notes them, with exact counts. None without returns (no figures).
fn across_files_warnings(
    pipeline: &Pipeline,
    prepared: &[Prepared],
    returns: &[LazyFrame],
    hospital: Vec<LazyFrame>,
) -> Result<Vec<String>> {
    use crate::metrics::hospital::{across_files, across_files_notes, of_people, HospitalSource};
    if returns.is_empty() {
        return Ok(Vec::new());
    }
    let sources: Vec<HospitalSource> = pipeline
        .sources
        .iter()
        .filter(|s| s.kind == SourceKind::Hospital)
        .map(|s| {
            let files = prepared.iter().filter(|p| p.report.source == s.name);
            HospitalSource::of(s, files.count())
        })
        .collect();
    let several: Vec<&str> = sources
        .iter()
        .filter(|s| s.files > 1)
        .map(|s| s.name.as_str())
        .collect();
    if several.is_empty() {
        return Ok(Vec::new());
    }
    let people = returns
        .iter()
        .map(|r| r.clone().select([col(schema::PERSON_ID)]));
    let people = concat(people.collect::<Vec<_>>(), UnionArgs::default())?;
    let rows = of_people(hospital, people, &several)?;
    let notes = across_files_notes(&across_files(&rows, &sources, schema::PERSON_KEY)?, false);
    Ok(notes
        .into_iter()
        .map(|n| match n.strip_prefix(crate::metrics::WARNING) {
            Some(w) => w.to_string(),
            None => n,
        })
        .collect())
}

/// Returns with no rows at all (every file empty, or every row rejected),
/// refused as the report would refuse them.
fn refuse_empty_returns(
    pipeline: &Pipeline,
    prepared: &[Prepared],
    unchanged: &[FileReport],
) -> Result<()> {
    let is_returns = |name: &str| {
        pipeline
            .sources
            .iter()
            .any(|s| s.name == name && s.kind == SourceKind::ProviderReturns)
    };
    let returns: Vec<&FileReport> = prepared
        .iter()
        .map(|p| &p.report)
        .chain(unchanged)
        .filter(|r| is_returns(&r.source))
        .collect();
    if !returns.is_empty() && returns.iter().all(|r| r.accepted == 0) {
        return Err(InputError::Argument(no_referrals_message(pipeline, true)).into());
    }
    Ok(())
}

/// The refusal when no referral falls in the evaluation period (validate
/// and report), or the returns hold none at all (`none_at_all`).
pub fn no_referrals_message(pipeline: &Pipeline, none_at_all: bool) -> String {
    let s = &pipeline.settings;
    if none_at_all || (s.evaluation_start.is_none() && s.evaluation_end.is_none()) {
        return "the provider returns hold no referrals (each file is empty, or every row was rejected)".into();
    }
    format!(
        "no referrals fall in the evaluation period {} to {} (settings.evaluation_start / evaluation_end)",
        s.evaluation_start
            .map_or("(not set)".into(), |d| d.to_string()),
        s.evaluation_end.map_or("(not set)".into(), |d| d.to_string())
    )
}

/// The linkage warning for the warehouse as it stands, if linkage is low.
pub fn warehouse_linkage_warning(pipeline: &Pipeline, exact: bool) -> Result<Option<String>> {
    let Some(snap) = warehouse::Snapshot::open(&pipeline.warehouse, Path::new("<pipeline>"))?
    else {
        return Ok(None);
    };
    let min = pipeline.settings.min_linkage;
    // Counted when the version was made (versions made before this was kept:
    // counted now).
    if let Some(l) = snap.linkage {
        let l = linkage::Linkage {
            people: l.people as usize,
            linked: l.linked as usize,
        };
        return Ok(linkage::linkage_warning(&l, min, exact));
    }
    let (Some(r), h) = (
        snap.scan(warehouse::PARTICIPANTS)?,
        snap.scan_parts(warehouse::HOSPITAL_EVENTS)?,
    ) else {
        return Ok(None);
    };
    Ok(linkage::linkage_lazy(vec![r], h)?.and_then(|l| linkage::linkage_warning(&l, min, exact)))
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
                field.get(i).unwrap_or_default().replace('_', " "),
                rule.get(i).unwrap_or_default()
            )
        })
        .collect())
}

fn manifest_reports(rows: &BTreeMap<String, ManifestRow>, keys: &[String]) -> Vec<FileReport> {
    keys.iter()
        .filter_map(|k| rows.get(k))
        .map(|r| FileReport {
            source: r.source.clone(),
            path: r.path.clone(),
            file_key: r.file_key.clone(),
            size_bytes: r.size_bytes,
            sha256: r.sha256.clone(),
            rows_read: r.rows_read as usize,
            accepted: r.rows_accepted as usize,
            rejected: r.rows_rejected as usize,
            written: r.rows_written as usize,
            sentinel_dates: r.sentinel_dates as usize,
            ingested: false,
            top_reasons: Vec::new(),
            examples: Vec::new(),
            warnings: Vec::new(),
            warning_examples: Vec::new(),
        })
        .collect()
}

/// A pipeline of one provider-returns CSV source (pseudonyms, dd/mm/yyyy
/// dates), with `extra` lines added to the source, for unit tests.
#[cfg(test)]
pub(crate) fn test_pipeline(extra: &str) -> Pipeline {
    let text = format!(
        r#"name = "t"
[privacy]
key_env = "SMPEVAL_UNIT_TEST_KEY"
[[sources]]
name = "s"
kind = "provider_returns"
files = ["x.csv"]
id_kind = "pseudonym"
date_format = "dd/mm/yyyy"
{extra}
[sources.columns]
provider_id = "provider"
course_id = "course"
programme = "programme"
course_start_date = "start"
person_id = "person"
referral_date = "referred"
sessions_attended = "sessions"
[sources.constants]
age_band = "65-74"
"#
    );
    crate::pipeline::parse(Path::new("t.toml"), &text, text.as_bytes()).expect("test pipeline")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_cleaned_without_the_disk() {
        assert_eq!(
            clean_path(Path::new("pipelines/../sample_data/./a.csv")),
            PathBuf::from("sample_data/a.csv")
        );
        assert_eq!(
            clean_path(Path::new("../x/y/../z")),
            PathBuf::from("../x/z")
        );
    }

    fn findings() -> DataFrame {
        df!(
            "line" => [14u32, 3, 9],
            "field" => ["referral_date", "", "referral_date"],
            "rule" => ["is not a date", "wrong number of fields", "is not a date"],
            "reason" => ["is not a date (expected dd/mm/yyyy)", "the row has 3 fields; the header has 7", "is not a date (expected dd/mm/yyyy)"],
            "value" => [Some("31/02/2024"), None, Some("2024-13-01")],
        )
        .unwrap()
    }

    #[test]
    fn reject_messages_name_the_file_line_field_and_value() {
        let m = reject_messages(Path::new("in/acme.csv"), &findings(), 2).unwrap();
        assert_eq!(
            m,
            [
                "acme.csv line 14, field referral_date: \"31/02/2024\" is not a date (expected dd/mm/yyyy)",
                "acme.csv line 3: the row has 3 fields; the header has 7",
            ]
        );
    }

    #[test]
    fn a_reason_with_no_field_is_the_rule_alone() {
        let r = df!("field" => ["", "sex"], "rule" => ["wrong number of fields", "code"]).unwrap();
        let reasons = count_reasons(&r, None).unwrap();
        let names: Vec<&str> = reasons.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(names, ["sex: code", "wrong number of fields"]);
    }

    #[test]
    fn reasons_are_counted_commonest_first() {
        let r = count_reasons(&findings(), None).unwrap();
        assert_eq!(
            r,
            [
                ("referral_date: is not a date".to_string(), 2),
                ("wrong number of fields".to_string(), 1),
            ]
        );
        assert_eq!(top_reasons(&findings()).unwrap().len(), 2);
        assert!(count_reasons(&findings().head(Some(0)), None)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn errors_keep_their_exit_codes_and_read_as_words() {
        let input = IngestError::from(InputError::Argument("no referrals".into()));
        assert_eq!(crate::error::exit_code(&anyhow::Error::from(input)), 2);
        let pipeline = IngestError::from(PipelineError {
            path: "p.toml".into(),
            line: Some(4),
            message: "bad".into(),
        });
        assert_eq!(pipeline.to_string(), "p.toml line 4: bad");
        assert_eq!(crate::error::exit_code(&anyhow::Error::from(pipeline)), 2);
        let locked = IngestError::from(crate::error::StoreError::from(crate::error::LockError {
            warehouse: "w".into(),
            lock: "w/.lock".into(),
            holder: None,
        }));
        assert_eq!(crate::error::exit_code(&anyhow::Error::from(locked)), 3);
        let read = IngestError::Read {
            path: "data/a.csv".into(),
            err: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        };
        assert_eq!(read.to_string(), "cannot read data/a.csv: gone");
        assert_eq!(crate::error::exit_code(&anyhow::Error::from(read)), 1);
        let old = IngestError::Unversioned { dir: "wh".into() };
        assert!(old
            .to_string()
            .starts_with("wh is a warehouse made by an earlier smpeval"));
    }

    #[test]
    fn an_old_unversioned_warehouse_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(refuse_unversioned(dir.path()).is_ok());
        let m = dir.path().join(warehouse::MANIFEST);
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("manifest.parquet"), b"").unwrap();
        assert!(matches!(
            refuse_unversioned(dir.path()),
            Err(IngestError::Unversioned { .. })
        ));
    }

    #[test]
    fn a_file_key_depends_on_source_and_path_only() {
        let p = test_pipeline("");
        let s = &p.sources[0];
        let a = file_key(s, Path::new("x.csv"));
        assert_eq!(a.len(), 16);
        assert_eq!(a, file_key(s, Path::new("x.csv")));
        assert_ne!(a, file_key(s, Path::new("y.csv")));
    }

    #[test]
    fn a_file_is_named_from_the_pipeline_folder_however_that_is_written() {
        let cwd = std::env::current_dir().unwrap();
        let rel = from_folder(Path::new("pipelines"), Path::new("data/x.csv"));
        let abs = from_folder(&cwd.join("pipelines"), &cwd.join("data/x.csv"));
        let dotted = from_folder(
            Path::new("./pipelines/"),
            Path::new("pipelines/../data/x.csv"),
        );
        // From inside the pipeline's folder, named as `../data/x.csv`.
        let inside = from_folder(Path::new(""), Path::new("../data/x.csv"));
        for named in [&abs, &dotted, &inside] {
            assert_eq!(named, &rel);
        }
        assert_eq!(rel, Path::new("../data/x.csv"));
        let deeper = from_folder(Path::new("pipelines/old"), Path::new("data/x.csv"));
        assert_ne!(rel, deeper);
    }

    #[test]
    fn a_file_an_absolute_pattern_names_is_known_by_its_absolute_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("proj/pipelines")).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/x.csv"), "a\n").unwrap();
        // The pipeline's folder as reached through a link.
        std::os::unix::fs::symlink(root.join("proj"), root.join("linked")).unwrap();
        let mut p = test_pipeline("");
        p.sources[0].files = vec![root.join("data/*.csv").display().to_string()];
        let mut keys = Vec::new();
        for dir in [root.join("proj/pipelines"), root.join("linked/pipelines")] {
            p.dir = dir;
            keys.push(source_files(&p, &p.sources[0]).unwrap().remove(0).key);
        }
        assert_eq!(keys[0], keys[1]);
        // A relative pattern's file is named from the folder, so the link counts.
        p.sources[0].files = vec!["../../data/x.csv".into()];
        p.dir = root.join("proj/pipelines");
        let relative = source_files(&p, &p.sources[0]).unwrap().remove(0).key;
        assert_ne!(relative, keys[0]);
    }

    #[test]
    fn a_file_two_patterns_match_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/x.csv"), "a\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("data"), dir.path().join("linked")).unwrap();
        let mut p = test_pipeline("");
        p.dir = dir.path().join("pipelines");
        let absolute = dir.path().join("data/x.csv").display().to_string();
        p.sources[0].files = vec![
            "../data/x.csv".into(),
            absolute,
            "../data/*.csv".into(),
            "../linked/x.csv".into(),
        ];
        let files = source_files(&p, &p.sources[0]).unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
    }

    #[test]
    fn a_named_file_must_exist_and_smpevals_own_folders_are_never_input() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), "a\n").unwrap();
        let mut p = test_pipeline("");
        p.dir = dir.path().to_path_buf();
        p.warehouse = dir.path().join("wh");
        p.reports = dir.path().join("reports");
        for d in ["wh/versions/v1", "reports/t/r1/tables"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
            std::fs::write(dir.path().join(d).join("x.csv"), "a\n").unwrap();
        }
        p.sources[0].files = vec!["**/*.csv".into()];
        let files = source_files(&p, &p.sources[0]).unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].path.ends_with("a.csv"));
        p.sources[0].files = vec!["*.csv".into(), "missing.csv".into()];
        let e = source_files(&p, &p.sources[0]).unwrap_err().to_string();
        assert!(
            e.contains("missing.csv: named in the pipeline's `files`, but not found"),
            "{e}"
        );
        // Named alone: a folder or a link to nothing is said to be one; a
        // missing file is the source's own "matched no files".
        std::fs::create_dir(dir.path().join("folder.csv")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone.csv"), dir.path().join("link.csv"))
            .unwrap();
        for (name, says) in [
            ("folder.csv", "but not a regular file"),
            ("link.csv", "but a link to nothing"),
            ("missing.csv", "matched no files"),
        ] {
            p.sources[0].files = vec![name.into()];
            let e = source_files(&p, &p.sources[0]).unwrap_err().to_string();
            assert!(e.contains(says), "{name}: {e}");
        }
    }

    #[test]
    fn a_file_named_with_an_nhs_number_is_refused_without_showing_it() {
        for name in [
            "returns_9434765919.csv",
            "returns 943 476 5919.csv",
            "943–476–5919.csv",
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("ok.csv"), "a\n").unwrap();
            std::fs::write(dir.path().join(name), "a\n").unwrap();
            let mut p = test_pipeline("");
            p.dir = dir.path().to_path_buf();
            p.sources[0].files = vec!["*.csv".into()];
            let err = source_files(&p, &p.sources[0]).unwrap_err();
            let shown = crate::error::chain_text(&err);
            assert!(shown.contains("NHS number: rename it"), "{shown}");
            assert!(!nhs::contains_nhs_number(&shown), "{shown}");
            let code = crate::error::exit_code(&anyhow::Error::new(err));
            assert_eq!(code, crate::error::EXIT_BAD_INPUT);
        }
    }
}
