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

/// TEMPORARY profiling (issue 13): `SMPEVAL_TIMING=1` prints elapsed times.
pub fn tick(label: &str) {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let s = START.get_or_init(std::time::Instant::now);
    if std::env::var_os("SMPEVAL_TIMING").is_some() {
        let hwm = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("VmHWM"))
                    .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
            })
            .unwrap_or_default();
        eprintln!(
            "TIMING {:8.3} hwm {hwm} kB {label}",
            s.elapsed().as_secs_f64()
        );
    }
}
