use std::path::PathBuf;

use anyhow::Result;

use crate::ingest::{self, Mode};
use crate::pipeline;

/// Read and check every input of a pipeline, writing nothing.
///
/// Example: `smpeval validate pipelines/sample.toml`
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let p = pipeline::load(&args.pipeline)?;
    let progress = super::Progress::new();
    let summary = ingest::run(&p, Mode::Validate, &progress);
    progress.finish();
    let summary = summary?;
    super::print_summary(&summary);
    let (read, rejected): (usize, usize) = summary
        .files
        .iter()
        .fold((0, 0), |(a, b), f| (a + f.rows_read, b + f.rejected));
    println!(
        "valid: {} files, {read} rows read, {rejected} rejected (within the limit of {:.0}% per file); nothing written",
        summary.files.len(),
        100.0 * p.settings.max_reject_rate
    );
    Ok(())
}
