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

/// Another run holds the warehouse.
#[derive(Debug, thiserror::Error)]
#[error("warehouse {} is in use by another smpeval run (lock file {}); try again when it has finished", warehouse.display(), lock.display())]
pub struct LockError {
    pub warehouse: PathBuf,
    pub lock: PathBuf,
}

/// Exit codes of the command line (SPEC 6).
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;

/// The exit code for an error chain: 2 for bad input or a bad pipeline, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.is::<PipelineError>() || cause.is::<InputError>() {
            return EXIT_BAD_INPUT;
        }
    }
    EXIT_FAILURE
}
