//! The errors of an ingest or a validation, each with the file (and line or
//! field where there is one). Bad rows are rejects, not errors.

use std::path::PathBuf;

use crate::error::{DamagedWarehouse, InputError, PipelineError, StoreError};

/// Why an ingest or a validation stopped.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// An input file as a whole is unusable (exit code 2).
    #[error(transparent)]
    Input(#[from] InputError),
    /// The pipeline cannot be used with this warehouse (exit code 2).
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A file could not be read from the disk.
    #[error("cannot read {}: {err}", path.display())]
    Read { path: PathBuf, err: std::io::Error },
    /// The checks of a file's rows failed to run (not a bad row: a bug or an
    /// exhausted machine).
    #[error("checking the rows of {path}: {err}")]
    Check {
        path: String,
        err: polars::prelude::PolarsError,
    },
    /// A file's rows do not add up: read ≠ accepted + rejected.
    #[error(
        "internal error: {path}: {read} rows read but {accepted} accepted and {rejected} rejected"
    )]
    Miscount {
        path: String,
        read: usize,
        accepted: usize,
        rejected: usize,
    },
    /// The warehouse folder holds tables from before versions.
    #[error("{} is a warehouse made by an earlier smpeval, without versions; move it aside (e.g. to {}.old) and run `smpeval ingest` to rebuild it from the sources", dir.display(), dir.display())]
    Unversioned { dir: PathBuf },
    /// The current version does not match its manifest.
    #[error(transparent)]
    Damaged(#[from] DamagedWarehouse),
    /// A data-frame operation failed.
    #[error(transparent)]
    Frame(#[from] polars::prelude::PolarsError),
    /// The warehouse (versions, lock, manifest) refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IngestError {
    /// The error a transparent variant stands for (for the exit code).
    pub fn wrapped(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IngestError::Input(e) => Some(e),
            IngestError::Pipeline(e) => Some(e),
            IngestError::Damaged(e) => Some(e),
            IngestError::Frame(e) => Some(e),
            IngestError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// What the ingest's functions return.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
