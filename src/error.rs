//! Typed errors of the library. Each carries what an analyst needs to fix the
//! problem: the file, the line, the key or field, what was found and what was
//! expected. `main` turns them into text and an exit code.

use std::path::{Path, PathBuf};

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
    #[error("{}: {rejected} of {read} rows rejected ({rate:.1}%), over the pipeline's limit of {limit:.1}%; commonest reasons: {reasons}; the first: {first} (`smpeval validate --rejects FILE` lists them all)", path.display(), rate = 100.0 * *rejected as f64 / (*read).max(1) as f64, limit = 100.0 * limit)]
    TooManyRejects {
        path: PathBuf,
        read: usize,
        rejected: usize,
        limit: f64,
        reasons: String,
        /// The first rejected rows, each with its line and field.
        first: String,
    },
}

/// A panic: a bug in smpeval, never meant to happen whatever the input
/// (`cli::guarded` turns it into this error, so the run is recorded as
/// failed and exits 1 with one message, not a backtrace and exit 101).
#[derive(Debug, thiserror::Error)]
#[error("smpeval stopped on an internal error, a bug in smpeval rather than a fault in the input: {0}. Please report it with this message; the input that caused it is in the files this run read")]
pub struct InternalError(pub String);

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
    #[error("{} is the root folder or your home folder; refusing to write there: point the pipeline's `{key}` at a folder of its own", path.display())]
    SharedDir { path: PathBuf, key: &'static str },
    #[error("{} is a file, not a folder: point the pipeline's `{key}` at a folder", path.display())]
    NotAFolder { path: PathBuf, key: &'static str },
    #[error("{} is a link to {}, which does not exist: make that folder, or point the pipeline's `{key}` at a folder", path.display(), target.display())]
    BrokenLink {
        path: PathBuf,
        target: PathBuf,
        key: &'static str,
    },
    #[error("the warehouse {} holds pipeline `{holder}`'s data; refusing to let pipeline `{name}` remove or re-map `{holder}`'s files: point `{name}`'s `warehouse` at a folder of its own (to hand this warehouse over to `{name}`, delete {}/.pipeline)", path.display(), path.display())]
    OtherPipeline {
        path: PathBuf,
        holder: String,
        name: String,
    },
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
    #[error("the lock file {} is not a regular file; refusing to use it", path.display())]
    LockNotAFile { path: PathBuf },
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
    #[error("computing the figures failed")]
    Frame(#[from] polars::prelude::PolarsError),
    /// The target population file (reach) cannot be used (bad input: exit code 2).
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    TargetPopulation {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// The returns leave nothing to evaluate (bad input: exit code 2).
    #[error(transparent)]
    Input(#[from] InputError),
    /// The warehouse's version cannot be read or does not match its manifest.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The warehouse lacks a table or the dates the figures need.
    #[error("the warehouse {} has {what}", warehouse.display())]
    Missing { warehouse: PathBuf, what: String },
}

impl MetricsError {
    /// The error a transparent variant stands for (for the exit code).
    pub fn wrapped(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MetricsError::Input(e) => Some(e),
            MetricsError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// What the metrics' functions return.
pub type MetricsResult<T> = Result<T, MetricsError>;

/// A file of the pack could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("cannot draw the chart {name}: {message}")]
    Chart { name: String, message: String },
    #[error("cannot write {}", path.display())]
    Xlsx {
        path: PathBuf,
        source: rust_xlsxwriter::XlsxError,
    },
}

/// What smpeval was doing to a file or folder when the system refused; it
/// words the message ("cannot read …").
#[derive(Debug, Clone)]
pub enum FileOp {
    Read,
    ReadFolder,
    Open,
    Create,
    CreateFolder,
    CreateTempFileIn,
    CreateTempFolderIn,
    Write,
    /// A finished temporary file renamed over its destination.
    MoveIntoPlace,
    Remove,
    RemoveOldVersion,
    Flush,
    FlushFolder,
    Lock,
    MoveVersionInto,
    MovePackInto,
    ReadLink,
    RemoveOldPack,
    /// A `latest` link pointed at this run id.
    PointAt(String),
    /// A file of the previous version linked into the next, as this path.
    CarryOverAs(PathBuf),
}

impl FileOp {
    /// The message for this operation on `path`, in the analyst's words.
    pub fn describe(&self, path: &Path) -> String {
        let p = path.display();
        match self {
            FileOp::Read => format!("cannot read {p}"),
            FileOp::ReadFolder => format!("cannot read the folder {p}"),
            FileOp::Open => format!("cannot open {p}"),
            FileOp::Create => format!("cannot create {p}"),
            FileOp::CreateFolder => format!("cannot create the folder {p}"),
            FileOp::CreateTempFileIn => format!("cannot create a temporary file in {p}"),
            FileOp::CreateTempFolderIn => format!("cannot create a temporary folder in {p}"),
            FileOp::Write => format!("cannot write {p}"),
            FileOp::MoveIntoPlace => format!("cannot move the new {p} into place"),
            FileOp::Remove => format!("cannot remove {p}"),
            FileOp::RemoveOldVersion => format!("cannot remove the old version {p}"),
            FileOp::Flush => format!("cannot flush {p} to disk"),
            FileOp::FlushFolder => format!("cannot flush the folder {p} to disk"),
            FileOp::Lock => format!("cannot lock {p}"),
            FileOp::MoveVersionInto => format!("cannot move the new version into {p}"),
            FileOp::MovePackInto => format!("cannot move the pack into {p}"),
            FileOp::ReadLink => format!("cannot read the link {p}"),
            FileOp::RemoveOldPack => format!("cannot remove the old pack {p}"),
            FileOp::PointAt(run_id) => format!("cannot point {p} at {run_id}"),
            FileOp::CarryOverAs(to) => format!(
                "cannot carry {p} over into the new version (as {})",
                to.display()
            ),
        }
    }
}

/// A file or folder of the warehouse or the pack could not be read or
/// written, or the warehouse refused (locked, damaged, not ours). The cause
/// (the system's own words) is the error's source, printed after it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}", op.describe(path))]
    Io {
        op: FileOp,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Parquet could not be read or written.
    #[error("{}", op.describe(path))]
    Frame {
        op: FileOp,
        path: PathBuf,
        #[source]
        source: polars::prelude::PolarsError,
    },
    /// A write that failed inside another (the file as a reader will see it).
    #[error("{}", op.describe(path))]
    Within {
        op: FileOp,
        path: PathBuf,
        #[source]
        source: Box<StoreError>,
    },
    /// A file whose content is not what smpeval wrote there.
    #[error("{} {problem}", path.display())]
    Content { path: PathBuf, problem: String },
    #[error(transparent)]
    Safety(#[from] SafetyError),
    /// Boxed: it is large, and errors travel by value through every call.
    #[error(transparent)]
    Damaged(Box<DamagedWarehouse>),
    #[error(transparent)]
    Locked(#[from] LockError),
}

impl From<DamagedWarehouse> for StoreError {
    fn from(d: DamagedWarehouse) -> Self {
        StoreError::Damaged(Box::new(d))
    }
}

impl StoreError {
    /// The error a transparent variant stands for (for the exit code).
    pub fn wrapped(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Safety(e) => Some(e),
            StoreError::Damaged(e) => Some(e.as_ref()),
            StoreError::Locked(e) => Some(e),
            StoreError::Within { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }

    /// An I/O failure of `op` on `path`, for `map_err`.
    pub fn io(op: FileOp, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.to_path_buf();
        move |source| StoreError::Io { op, path, source }
    }

    /// A Parquet failure of `op` on `path`, for `map_err`.
    pub fn frame(
        op: FileOp,
        path: &Path,
    ) -> impl FnOnce(polars::prelude::PolarsError) -> StoreError {
        let path = path.to_path_buf();
        move |source| StoreError::Frame { op, path, source }
    }
}

/// A message without the operating system's error number, which says
/// nothing to an analyst ("No such file or directory (os error 2)"): for
/// every message an analyst reads (the command line's errors, `status`).
pub fn without_os_error_numbers(message: &str) -> String {
    let mut out = message.to_string();
    while let Some(at) = out.find(" (os error ") {
        match out[at..].find(')') {
            Some(end) => out.replace_range(at..at + end + 1, ""),
            None => break,
        }
    }
    out
}

/// An error and its causes in one line, as the command line prints them
/// ("cannot read x: No such file or directory").
pub fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// What the warehouse's and the pack's file operations return.
pub type StoreResult<T> = Result<T, StoreError>;

/// Exit codes of the command line (SPEC 6).
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_LOCKED: i32 = 3;

/// The exit code for an error chain: 3 when another run holds the warehouse,
/// 2 for bad input or a bad pipeline, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    let mut causes: Vec<&(dyn std::error::Error + 'static)> = err.chain().collect();
    // A transparent wrapper hides what it wraps from the chain: add it back.
    let mut i = 0;
    while i < causes.len() {
        if let Some(inner) = wrapped(causes[i]) {
            causes.push(inner);
        }
        i += 1;
    }
    if causes.iter().any(|c| c.is::<LockError>()) {
        EXIT_LOCKED
    } else if causes.iter().any(|c| {
        c.is::<PipelineError>()
            || c.is::<InputError>()
            || c.downcast_ref::<MetricsError>()
                .is_some_and(|m| matches!(m, MetricsError::TargetPopulation { .. }))
    }) {
        EXIT_BAD_INPUT
    } else {
        EXIT_FAILURE
    }
}

/// The error a library error's transparent variant stands for.
fn wrapped<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    if let Some(s) = e.downcast_ref::<StoreError>() {
        return s.wrapped();
    }
    if let Some(r) = e.downcast_ref::<crate::report::ReportError>() {
        return r.wrapped();
    }
    if let Some(i) = e.downcast_ref::<crate::ingest::IngestError>() {
        return i.wrapped();
    }
    if let Some(m) = e.downcast_ref::<MetricsError>() {
        return m.wrapped();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock_error() -> LockError {
        LockError {
            warehouse: "w".into(),
            lock: "w/.lock".into(),
            holder: None,
        }
    }

    #[test]
    fn exit_codes_see_through_wrappers() {
        let locked = anyhow::Error::from(crate::report::ReportError::Store(StoreError::Locked(
            lock_error(),
        )));
        assert_eq!(exit_code(&locked), EXIT_LOCKED);
        let bad = anyhow::Error::from(crate::report::ReportError::Input(InputError::Argument(
            "--run-id".into(),
        )));
        assert_eq!(exit_code(&bad), EXIT_BAD_INPUT);
        let disk = anyhow::Error::from(StoreError::io(FileOp::Write, Path::new("x.parquet"))(
            std::io::Error::other("disk full"),
        ));
        assert_eq!(exit_code(&disk), EXIT_FAILURE);
        let plain = anyhow::Error::from(lock_error()).context("while ingesting");
        assert_eq!(exit_code(&plain), EXIT_LOCKED);
        let population = anyhow::Error::from(crate::report::ReportError::Metrics(
            MetricsError::TargetPopulation {
                path: "pop.csv".into(),
                line: Some(3),
                message: "field dimension: \"x\" is not one of the pack's equity dimensions".into(),
            },
        ));
        assert_eq!(exit_code(&population), EXIT_BAD_INPUT);
    }

    #[test]
    fn messages_name_the_file_once_and_hold_no_debug_text() {
        let inner = StoreError::io(FileOp::MoveIntoPlace, Path::new("t/a.parquet"))(
            std::io::Error::other("no space left on device"),
        );
        let outer = StoreError::Within {
            op: FileOp::Write,
            path: "w/versions/v000002/a.parquet".into(),
            source: Box::new(inner),
        };
        assert_eq!(
            chain_text(&outer),
            "cannot write w/versions/v000002/a.parquet: cannot move the new t/a.parquet into place: no space left on device"
        );
        let lock = lock_error().to_string();
        let damaged = DamagedWarehouse {
            warehouse: "w".into(),
            version: "v000001".into(),
            table: "participants".into(),
            problem: "file x is missing".into(),
            pipeline: "p.toml".into(),
        }
        .to_string();
        let pipeline = PipelineError {
            path: "p.toml".into(),
            line: None,
            message: "bad".into(),
        }
        .to_string();
        assert_eq!(pipeline, "p.toml: bad");
        for m in [lock, damaged, pipeline] {
            for debug in ["Some(", "None", "PathBuf", "\"w\""] {
                assert!(!m.contains(debug), "{m}");
            }
        }
    }

    #[test]
    fn file_operations_read_as_sentences() {
        let p = Path::new("r/x");
        assert_eq!(FileOp::Read.describe(p), "cannot read r/x");
        assert_eq!(
            FileOp::CarryOverAs("n/x".into()).describe(p),
            "cannot carry r/x over into the new version (as n/x)"
        );
        assert_eq!(
            FileOp::CreateTempFolderIn.describe(p),
            "cannot create a temporary folder in r/x"
        );
    }
}
