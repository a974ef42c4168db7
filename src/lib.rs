//! smpeval: evaluate chronic-disease self-management programmes.
//!
//! The flow follows the data: `pipeline` (what to read) → `ingest` (read,
//! check, pseudonymise) → `warehouse` (Parquet) → metrics and the pack.

pub mod cli;
pub mod disclosure;
pub mod error;
pub mod files;
pub mod generate;
pub mod ingest;
pub mod init;
pub mod metrics;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod schema;
pub mod stats;
pub mod status;
pub mod warehouse;
