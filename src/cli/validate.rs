use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::InputError;
use crate::ingest::{self, nhs, Mode};
use crate::pipeline::{self, Pipeline};

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
    if let Some(out) = &args.rejects {
        refuse_rejects_path(&p, out)?;
    }
    // The target population's labels are published: checked as the report would.
    if let Some(path) = &p.target_population {
        crate::metrics::reach::checked(
            path,
            &crate::metrics::referrals::Dimensions::from_pipeline(&p),
        )?;
    }
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

/// Refuses, before anything is read, a `--rejects` file that would replace
/// what the pipeline reads or owns (an input file, the pipeline, its key
/// file, anything in its warehouse or reports folder), or whose name reads
/// as an NHS number (it is printed).
fn refuse_rejects_path(p: &Pipeline, out: &Path) -> Result<(), InputError> {
    let shown = out.display().to_string();
    let refuse =
        |why: &str| InputError::Argument(format!("--rejects {}: {why}", nhs::mask_text(&shown)));
    if nhs::names_an_nhs_number(&shown) {
        return Err(refuse(
            "its name holds what reads as an NHS number; choose another",
        ));
    }
    if let Some(why) = crate::files::why_not_written(out, &[]) {
        return Err(refuse(why));
    }
    let target = where_it_would_be(out);
    if ingest::own_folders(p).iter().any(|d| target.starts_with(d)) {
        return Err(refuse(
            "is inside the pipeline's warehouse or reports folder; choose a file elsewhere",
        ));
    }
    let mut read = vec![p.path.clone()];
    read.extend(p.privacy.key_file.as_ref().map(|k| p.dir.join(k)));
    for source in &p.sources {
        let files = ingest::source_files(p, source).unwrap_or_default();
        read.extend(files.into_iter().map(|f| f.path));
    }
    if read
        .iter()
        .filter_map(|r| r.canonicalize().ok())
        .any(|r| r == target)
    {
        return Err(refuse(
            "is a file the pipeline reads (an input, the pipeline file or its key); choose another",
        ));
    }
    Ok(())
}

/// The absolute path a file would have once written (links resolved; the
/// path as given where its folder does not exist).
fn where_it_would_be(out: &Path) -> PathBuf {
    if let Ok(p) = out.canonicalize() {
        return p;
    }
    let folder = crate::files::folder_of(out);
    match (folder.canonicalize(), out.file_name()) {
        (Ok(f), Some(name)) => f.join(name),
        _ => out.to_path_buf(),
    }
}
