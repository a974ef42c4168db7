//! Typed errors of the library. Each carries what an analyst needs to fix the
//! problem: the file, the line, the key or field, what was found and what was
//! expected. `main` turns them into text and an exit code.

use std::path::PathBuf;

/// A problem with a pipeline file, found before any work is done.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct PipelineError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

/// A problem with an input file as a whole (a bad row is a reject, not an error).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Argument(String),
    #[error("source `{source_name}` matched no files (looked for {patterns})")]
    NoFiles {
        source_name: String,
        patterns: String,
    },
    #[error("{}: {rejected} of {read} rows rejected ({rate:.1}%), over the pipeline's limit of {limit:.1}%; commonest reasons: {reasons}", path.display(), rate = 100.0 * *rejected as f64 / (*read).max(1) as f64, limit = 100.0 * limit)]
    TooManyRejects {
        path: PathBuf,
        read: usize,
        rejected: usize,
        limit: f64,
        reasons: String,
    },
}

/// Another run holds the warehouse (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("warehouse {} is locked by another smpeval run{} (lock file {}); try again when it has finished", warehouse.display(), holder.as_ref().map(|h| format!(": {h}")).unwrap_or_default(), lock.display())]
pub struct LockError {
    pub warehouse: PathBuf,
    pub lock: PathBuf,
    /// Who holds it, as the lock file says (absent while the holder is still writing it).
    pub holder: Option<String>,
}

/// smpeval refuses to touch a path it did not make.
#[derive(Debug, thiserror::Error)]
pub enum SafetyError {
    #[error("{} is not empty and was not made by smpeval (it has no `{marker}` marker file); refusing to write there: point the pipeline's `{key}` at a new or empty folder (if an earlier smpeval made it, mark it: printf 'smpeval {key}\\n' > {}/{marker})", path.display(), path.display(), marker = crate::files::MARKER)]
    ForeignDir { path: PathBuf, key: &'static str },
    #[error("{} is a folder smpeval made for {found}, not for {wanted}; refusing to use it", path.display())]
    WrongKind {
        path: PathBuf,
        found: String,
        wanted: &'static str,
    },
    #[error("{} is not a link smpeval made; refusing to replace it (move it away and smpeval will make its own)", path.display())]
    ForeignEntry { path: PathBuf },
    #[error("the lock file {} is a symbolic link; refusing to follow it (remove the link: smpeval makes its own lock file)", path.display())]
    SymlinkedLock { path: PathBuf },
    #[error("a pack named `{run_id}` already exists in {}; a pack is never overwritten: choose another --run-id", dir.display())]
    PackExists { dir: PathBuf, run_id: String },
}

/// The warehouse's current version does not match its own manifest.
#[derive(Debug, thiserror::Error)]
#[error("the warehouse {} (version {version}) does not match its manifest: table {table}: {problem}; nothing was read from it. Rebuild it from the sources with `smpeval ingest --repair {}`", warehouse.display(), pipeline.display())]
pub struct DamagedWarehouse {
    pub warehouse: PathBuf,
    pub version: String,
    pub table: String,
    pub problem: String,
    /// The pipeline file, for the repair command.
    pub pipeline: PathBuf,
}

/// A figure could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A data-frame operation failed (a bug or an exhausted machine, not bad input).
    #[error("computing the figures failed: {0}")]
    Frame(#[from] polars::prelude::PolarsError),
    /// The target population file (reach) cannot be used.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    TargetPopulation {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// The returns leave nothing to evaluate (bad input: exit code 2).
    #[error(transparent)]
    Input(#[from] InputError),
    /// The warehouse's version does not match its manifest.
    #[error(transparent)]
    Damaged(#[from] DamagedWarehouse),
    /// The warehouse lacks a table or the dates the figures need.
    #[error("the warehouse {} has {what}", warehouse.display())]
    Missing { warehouse: PathBuf, what: String },
}

/// What the metrics' functions return.
pub type MetricsResult<T> = Result<T, MetricsError>;

/// A file of the pack could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("cannot draw the chart {name}: {message}")]
    Chart { name: String, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Xlsx {
        path: PathBuf,
        source: rust_xlsxwriter::XlsxError,
    },
}

/// Exit codes of the command line (SPEC 6).
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_LOCKED: i32 = 3;

/// The exit code for an error chain: 3 when another run holds the warehouse,
/// 2 for bad input or a bad pipeline, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.chain().any(|c| c.is::<LockError>()) {
        return EXIT_LOCKED;
    }
    for cause in err.chain() {
        if cause.is::<PipelineError>() || cause.is::<InputError>() {
            return EXIT_BAD_INPUT;
        }
        // Transparent: the wrapped InputError is not itself in the chain.
        if let Some(MetricsError::Input(_)) = cause.downcast_ref::<MetricsError>() {
            return EXIT_BAD_INPUT;
        }
    }
    EXIT_FAILURE
}
