use std::path::PathBuf;

use anyhow::Result;

use super::{record_run, Log};
use crate::ingest::{self, Mode};
use crate::pipeline;
use crate::status::LastRun;

/// Ingest a pipeline's inputs into its Parquet warehouse as a new version,
/// made current in one atomic step. Files unchanged since the last ingest
/// are skipped; a changed file replaces its own rows. `--repair` rebuilds a
/// whole version from the sources, trusting nothing in the current one (use
/// it when `smpeval report` says the warehouse does not match its manifest).
///
/// Example: `smpeval ingest pipelines/sample.toml`
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Rebuild the warehouse from the sources.
    #[arg(long)]
    pub repair: bool,
}

pub fn run(args: Args, log: &Log) -> Result<()> {
    log.set_step("ingest");
    let started = chrono::Utc::now();
    let run_id = crate::report::new_run_id(started);
    log.set_run_id(&run_id);
    let p = pipeline::load(&args.pipeline)?;
    let (mode, command) = match args.repair {
        true => (Mode::Repair, "ingest --repair"),
        false => (Mode::Ingest, "ingest"),
    };
    let mut record = LastRun::started(&run_id, command, started);
    super::mark_started(&p.warehouse, &record, log);
    let summary = super::guarded(|| Ok(ingest::run(&p, mode, log)));
    log.finish();
    let summary = match summary {
        Ok(s) => s.map_err(anyhow::Error::from),
        Err(panic) => Err(panic),
    };
    record.warehouse_version = summary.as_ref().ok().and_then(|s| s.version.clone());
    let (summary, outcome) = match summary {
        Ok(s) => (Some(s), Ok(())),
        Err(e) => (None, Err(e)),
    };
    record_run(&p.warehouse, record, &outcome, log);
    let Some(summary) = summary else {
        return outcome;
    };
    super::print_summary(&summary, log);
    if log.prints() {
        out!(
            "warehouse: {} (version {})",
            summary.warehouse.display(),
            summary.version.as_deref().unwrap_or("none")
        );
    }
    Ok(())
}
