use std::path::PathBuf;

use anyhow::Result;

use crate::ingest::{self, Mode};
use crate::pipeline;

/// Ingest a pipeline's inputs into its Parquet warehouse. Files unchanged since
/// the last ingest are skipped; a changed file replaces its own rows.
///
/// Example: `smpeval ingest pipelines/sample.toml`
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let p = pipeline::load(&args.pipeline)?;
    let progress = super::Progress::new();
    let summary = ingest::run(&p, Mode::Ingest, &progress);
    progress.finish();
    let summary = summary?;
    super::print_summary(&summary);
    println!("warehouse: {}", summary.warehouse.display());
    Ok(())
}
