use std::path::PathBuf;

use anyhow::Result;

use crate::ingest::{self, Mode};
use crate::pipeline;
use crate::report::{self, Options};

/// Compute the evaluation from the pipeline's warehouse and write the pack to
/// `reports/<run-id>/` (`reports/latest` points at the newest). Published
/// figures are disclosure-controlled: counts 1–7 shown as [c], others rounded
/// to the nearest 5. `run` ingests first.
///
/// Example: `smpeval run pipelines/sample.toml`
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Exact figures for internal use; every page and sheet is marked
    /// "INTERNAL — not for publication".
    #[arg(long)]
    pub internal: bool,
    /// Name the run folder (default: UTC time and pipeline name).
    #[arg(long)]
    pub run_id: Option<String>,
}

pub fn run(args: Args, ingest_first: bool) -> Result<()> {
    let p = pipeline::load(&args.pipeline)?;
    let progress = super::Progress::new();
    if ingest_first {
        let summary = ingest::run(&p, Mode::Ingest, &progress);
        if summary.is_err() {
            progress.finish();
        }
        super::print_summary(&summary?);
    }
    let pack = report::report(
        &p,
        &Options {
            internal: args.internal,
            run_id: args.run_id,
        },
        &progress,
    );
    progress.finish();
    let pack = pack?;
    println!(
        "pack: {} ({}; {} figures suppressed)",
        pack.dir.display(),
        if pack.internal {
            "INTERNAL, exact figures"
        } else {
            "published, disclosure-controlled"
        },
        pack.suppressed
    );
    Ok(())
}
