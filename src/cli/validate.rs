use std::path::PathBuf;

use anyhow::Result;

use crate::ingest::{self, Mode};
use crate::pipeline;

/// Read and check every input of a pipeline, writing nothing to the
/// warehouse: the pipeline, its settings and key, every file's rows, the
/// reject limit, the evaluation period and the linkage between returns and
/// hospital data. It fails, with the same exit code, wherever `run` would
/// fail before writing.
///
/// Examples:
///   smpeval validate pipelines/sample.toml
///   smpeval validate pipelines/sample.toml --rejects rejects.csv
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Write every rejected row (file, line, field, reason, value; identifiers
    /// masked) to this CSV, to send back to the providers.
    #[arg(long, value_name = "FILE.csv")]
    pub rejects: Option<PathBuf>,
}

pub fn run(args: Args, log: &super::Log) -> Result<()> {
    log.set_step("validate");
    let p = pipeline::load(&args.pipeline)?;
    let summary = ingest::run(&p, Mode::Validate, log);
    log.finish();
    let summary = summary?;
    super::print_summary(&summary, log);
    if let Some(out) = &args.rejects {
        let n = crate::report::rejects_csv::write_validate_rejects(out, &summary.rejects)?;
        out!("rejects: {n} rows written to {}", out.display());
    }
    if let Some(refused) = summary.refused {
        return Err(refused);
    }
    let (read, rejected): (usize, usize) = summary
        .files
        .iter()
        .fold((0, 0), |(a, b), f| (a + f.rows_read, b + f.rejected));
    let line = format!(
        "valid: {} files, {read} rows read, {rejected} rejected (within the limit of {:.0}% per file); nothing written",
        summary.files.len(),
        100.0 * p.settings.max_reject_rate
    );
    if log.prints() {
        out!("{line}");
    } else {
        let counts = [
            ("files", summary.files.len() as u64),
            ("rows_read", read as u64),
            ("rejected", rejected as u64),
        ];
        log.line("info", &line, &counts);
    }
    Ok(())
}
