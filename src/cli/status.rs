use std::path::PathBuf;

use anyhow::Result;

use super::Log;
use crate::pipeline;

/// Say what the pipeline's warehouse holds (its current version, checked
/// against its manifest), how the last run ended, each input file's state
/// (ingested, changed, new, missing) and who holds the lock. Reads only.
///
/// Example: `smpeval status pipelines/sample.toml --json`
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// One JSON object on stdout, for monitoring.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, log: &Log) -> Result<()> {
    log.set_step("status");
    let p = pipeline::load(&args.pipeline)?;
    let s = crate::status::status(&p)?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    let w = &s.warehouse;
    match &w.version {
        Some(v) => out!(
            "warehouse: {} version {v}, committed {} ({}); read {}",
            w.path.display(),
            w.committed_at.as_deref().unwrap_or("?"),
            if w.verified {
                "matches its manifest"
            } else {
                "DOES NOT match its manifest"
            },
            w.snapshot_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        ),
        None if w.problem.is_some() => out!(
            "warehouse: {} (no current version can be read: see the problem below)",
            w.path.display()
        ),
        None => out!("warehouse: {} (nothing ingested yet)", w.path.display()),
    }
    if let Some(problem) = &w.problem {
        out!("  problem: {problem}");
    }
    if !w.versions.is_empty() {
        out!("  versions kept: {}", w.versions.join(", "));
    }
    match &s.last_run {
        Some(r) => out!(
            "last run: {} ({}) {} at {}{}",
            r["run_id"].as_str().unwrap_or("?"),
            r["command"].as_str().unwrap_or("?"),
            r["result"].as_str().unwrap_or("?"),
            r["finished_at"].as_str().unwrap_or("?"),
            r["message"]
                .as_str()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
        None => match &s.last_run_problem {
            Some(problem) => out!("last run: unknown: {problem}"),
            None => out!("last run: none recorded"),
        },
    }
    match &s.lock {
        Some(h) if h.running != Some(false) => out!("lock: held by {h}"),
        Some(h) => out!(
            "lock: stale, left by {h}, which is no longer running (the next run takes it over)"
        ),
        None => out!("lock: free"),
    }
    print_unfinished(&s.unfinished);
    out!(
        "latest pack: {}; latest internal pack: {}",
        s.latest_pack.as_deref().unwrap_or("none"),
        s.latest_internal_pack.as_deref().unwrap_or("none")
    );
    for f in &s.files {
        out!("  {:<9} {} ({})", f.state, f.path, f.source);
    }
    Ok(())
}

/// The commands started and not finished, a line each.
fn print_unfinished(unfinished: &[crate::status::Unfinished]) {
    for u in unfinished {
        let r = &u.record;
        let what = format!(
            "{} ({}) started at {}",
            r["run_id"].as_str().unwrap_or("?"),
            r["command"].as_str().unwrap_or("?"),
            r["started_at"].as_str().unwrap_or("?"),
        );
        match u.running {
            true => out!("running: {what}, process {}", u.pid),
            false => out!(
                "unfinished: {what} did not finish: its process {} is gone (killed, or the machine stopped); the next run cleans up after it",
                u.pid
            ),
        }
    }
}
