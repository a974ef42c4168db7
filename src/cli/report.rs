use std::path::PathBuf;

use anyhow::Result;

use super::{record_run, Log};
use crate::ingest;
use crate::pipeline;
use crate::report::{self, Options};
use crate::status::LastRun;

/// Compute the evaluation from the pipeline's warehouse (its current version,
/// checked against its manifest first) and write the pack to
/// `reports/<pipeline>/<run-id>/`; `reports/<pipeline>/latest` then names it
/// (an internal pack: `latest-internal`). Published figures are
/// disclosure-controlled: counts 1–7 shown as [c], others rounded to the
/// nearest 5. `run` ingests first.
///
/// Example: `smpeval run pipelines/sample.toml`
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Exact figures for internal use; every page and sheet is marked
    /// "INTERNAL — not for publication". Never becomes `latest`.
    #[arg(long)]
    pub internal: bool,
    /// Name the pack's folder: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting
    /// with `.` (default: UTC time to the millisecond and a random suffix).
    /// An existing pack is never overwritten.
    #[arg(long)]
    pub run_id: Option<String>,
}

pub fn run(args: Args, ingest_first: bool, log: &Log) -> Result<()> {
    log.set_step(if ingest_first { "ingest" } else { "report" });
    let started = chrono::Utc::now();
    let run_id = match args.run_id {
        Some(id) => {
            report::check_run_id(&id)?;
            id
        }
        None => report::new_run_id(started),
    };
    // Every log line names the run, a refused pipeline's error included.
    log.set_run_id(&run_id);
    let p = pipeline::load(&args.pipeline)?;
    let command = if ingest_first { "run" } else { "report" };
    let mut record = LastRun::started(&run_id, command, started);
    super::mark_started(&p.warehouse, &record, log);
    let outcome =
        super::guarded(|| work(&p, args.internal, &run_id, ingest_first, log, &mut record));
    log.finish();
    record_run(&p.warehouse, record, &outcome, log);
    outcome
}

fn work(
    p: &pipeline::Pipeline,
    internal: bool,
    run_id: &str,
    ingest_first: bool,
    log: &Log,
    record: &mut LastRun,
) -> Result<()> {
    if ingest_first {
        // What the report would refuse (a used run id, a folder or link not
        // smpeval's) is refused before the ingest commits anything.
        report::check_packs(p, internal, run_id)?;
        let summary = ingest::run_before_report(p, log)?;
        log.finish();
        record.warehouse_version = summary.version.clone();
        super::print_summary(&summary, log);
        // The allocator keeps what the ingest freed for reuse (main.rs);
        // the report's frames are of other sizes, so hand it back first
        // rather than hold both at the peak.
        // SAFETY: malloc_trim only returns free heap memory to the system.
        unsafe {
            libc::malloc_trim(0);
        }
    }
    log.set_step("report");
    let pack = report::report(
        p,
        &Options {
            internal,
            run_id: Some(run_id.to_string()),
        },
        log,
    )?;
    record.warehouse_version = Some(pack.version.clone());
    record.pack = Some(pack.dir.display().to_string());
    let line = format!(
        "pack: {} ({}; {} figures suppressed; warehouse version {})",
        pack.dir.display(),
        if pack.internal {
            "INTERNAL, exact figures"
        } else {
            "published, disclosure-controlled"
        },
        pack.suppressed,
        pack.version
    );
    if log.prints() {
        out!("{line}");
    } else {
        log.line("info", &line, &[("suppressed", pack.suppressed as u64)]);
    }
    if !pack.removed.is_empty() {
        log.line(
            "info",
            &format!(
                "removed old pack(s) {} (keep_packs = {})",
                pack.removed.join(", "),
                p.settings.keep_packs.unwrap_or(0)
            ),
            &[("packs_removed", pack.removed.len() as u64)],
        );
    }
    Ok(())
}
