//! The evaluation pack (SPEC 5): written to a temporary folder beside the
//! reports and renamed into `reports/<run-id>/`; `reports/latest` then points
//! at it. A failed run leaves no half-written pack and never moves `latest`.

pub mod charts;
pub mod csv_out;
pub mod format;
pub mod html;
pub mod json;
pub mod rejects_csv;
pub mod xlsx;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::metrics::{self, Evaluation};
use crate::pipeline::{Disclosure, Pipeline};

/// How a pack is written.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Exact figures, every page and sheet marked internal.
    pub internal: bool,
    /// Force a run id (tests); default: UTC time and pipeline name.
    pub run_id: Option<String>,
}

pub struct Pack {
    pub dir: PathBuf,
    pub run_id: String,
    pub suppressed: usize,
    /// Exact figures (by `--internal` or the pipeline's setting).
    pub internal: bool,
}

/// Computes the evaluation and writes the pack.
pub fn report(
    p: &Pipeline,
    opts: &Options,
    progress: &dyn crate::progress::Progress,
) -> Result<Pack> {
    let started = chrono::Utc::now();
    let internal = opts.internal || p.settings.disclosure == Disclosure::Internal;
    // Read the warehouse only while no ingest is writing it.
    let lock = crate::warehouse::lock(&p.warehouse)?;
    progress.say("computing the evaluation");
    let mut e = metrics::evaluate(p, !internal)?;
    // Warnings about the data, on the data-quality page and in the log.
    e.notes
        .extend(crate::ingest::warehouse_linkage_warning(p, internal)?);
    e.notes
        .extend(crate::ingest::warehouse_field_warnings(p, internal)?);
    if let Some(note) = in_progress_note(&e) {
        e.notes.push(note);
    }
    drop(lock);
    for note in &e.notes {
        progress.say(&format!("note: {note}"));
    }
    let run_id = opts
        .run_id
        .clone()
        .unwrap_or_else(|| format!("{}-{}", started.format("%Y%m%dT%H%M%SZ"), p.name));
    std::fs::create_dir_all(&p.reports)
        .with_context(|| format!("cannot create the reports folder {}", p.reports.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".tmp-{run_id}-"))
        .tempdir_in(&p.reports)
        .with_context(|| {
            format!(
                "cannot create a temporary folder in {}",
                p.reports.display()
            )
        })?;
    progress.say("writing the pack");
    write_pack(p, &e, tmp.path(), &run_id, started, internal)?;

    let dest = p.reports.join(&run_id);
    if dest.is_dir() {
        std::fs::remove_dir_all(&dest)
            .with_context(|| format!("cannot replace {}", dest.display()))?;
    }
    // On any error before this rename the temporary folder is removed when `tmp` drops.
    std::fs::rename(tmp.path(), &dest)
        .with_context(|| format!("cannot move the pack into {}", dest.display()))?;
    let _ = tmp.keep();
    point_latest(&p.reports, &run_id)?;
    let suppressed = e.tables.iter().map(|t| t.suppressed.len()).sum();
    e.tables.clear();
    Ok(Pack {
        dir: dest,
        run_id,
        suppressed,
        internal,
    })
}

/// `reports/latest` → `<run-id>`, swapped atomically (a new link renamed over the old).
fn point_latest(reports: &Path, run_id: &str) -> Result<()> {
    let link = reports.join("latest");
    let tmp = reports.join(format!(".latest-{run_id}"));
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(run_id, &tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    #[cfg(not(unix))]
    std::fs::write(&tmp, run_id)?;
    std::fs::rename(&tmp, &link)
        .with_context(|| format!("cannot point {} at {run_id}", link.display()))?;
    Ok(())
}

/// Starters on courses still running at the data's date, in words (from the
/// controlled activity table, so a published pack shows the published count).
fn in_progress_note(e: &Evaluation) -> Option<String> {
    let t = e.table("activity_overall")?;
    if t.f64(0, "in_progress").unwrap_or(0.0) <= 0.0 {
        return None;
    }
    Some(format!(
        "{} starters are on courses still in progress on {} (the sixth session falls later): they are counted in activity but not in the completion and retention figures.",
        csv_out::shown(t, 0, "in_progress"),
        e.data_as_at.format("%-d %B %Y")
    ))
}

/// The sources, in words, for the cover sheet.
fn source_description(p: &Pipeline) -> String {
    use crate::pipeline::SourceKind;
    let mut parts = Vec::new();
    for (kind, what) in [
        (SourceKind::ProviderReturns, "Provider returns"),
        (
            SourceKind::Hospital,
            "hospital activity (HES/SUS-shaped extracts)",
        ),
        (SourceKind::Pam, "Patient Activation Measure scores"),
    ] {
        let names: Vec<&str> = p
            .sources
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.name.as_str())
            .collect();
        if !names.is_empty() {
            parts.push(format!("{what} ({})", names.join(", ")));
        }
    }
    format!("{}; pipeline {}.", parts.join("; "), p.name)
}

fn write_pack(
    p: &Pipeline,
    e: &Evaluation,
    dir: &Path,
    run_id: &str,
    started: chrono::DateTime<chrono::Utc>,
    internal: bool,
) -> Result<()> {
    let tables_dir = dir.join("tables");
    std::fs::create_dir_all(&tables_dir)?;
    for t in &e.tables {
        csv_out::write(t, &tables_dir.join(csv_out::file_name(t, internal)))?;
    }
    std::fs::write(
        dir.join(if internal {
            "tables-notes-INTERNAL.txt"
        } else {
            "tables-notes.txt"
        }),
        crate::ingest::nhs::mask_text(&csv_out::notes(internal, &e.notes)).as_bytes(),
    )?;
    let charts = charts::draw_all(e, &dir.join("charts"))?;
    let disclosure = if internal {
        "INTERNAL — not for publication: exact figures, with no disclosure control. Do not share outside the organisation that holds the data.".to_string()
    } else {
        html::DISCLOSURE_STATEMENT.to_string()
    };
    let cover = xlsx::Cover {
        title: &p.title,
        period: e.period,
        source: source_description(p),
        disclosure: &disclosure,
        contact: p.contact.as_deref().unwrap_or(
            "The team that runs this evaluation (set `contact` in the pipeline to name it).",
        ),
        notes: &e.notes,
    };
    xlsx::write(&e.tables, &cover, &dir.join("evaluation.xlsx"), internal)?;
    // Feedback to providers: their rejected rows, in an internal pack only.
    if internal {
        rejects_csv::write_feedback(p, dir)?;
    }
    let html = html::render(p, e, &charts, run_id, internal);
    std::fs::write(dir.join("index.html"), html)?;
    let finished = chrono::Utc::now();
    let run = json::RunInfo {
        id: run_id.into(),
        pipeline: p.path.display().to_string(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        finished_at: finished.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        internal,
    };
    let metrics = json::metrics_json(e, &run);
    std::fs::write(
        dir.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?,
    )?;
    // The pack's manifest: what it was made from. Input hashes and sizes only
    // in an internal pack (a size is a proxy for row counts, a hash confirms a guessed file).
    let inputs = match internal {
        true => crate::warehouse::read_table(&p.warehouse, crate::warehouse::MANIFEST)?,
        false => None,
    };
    let mut files = Vec::new();
    if let Some(m) = inputs {
        let t = metrics::Table::new("", "", m);
        for i in 0..t.height() {
            files.push(serde_json::json!({"path": t.text(i, "path"), "sha256": t.text(i, "sha256"), "size_bytes": t.f64(i, "size_bytes")}));
        }
    }
    let manifest = serde_json::json!({
        "run_id": run_id,
        "pipeline": p.path.display().to_string(),
        "pipeline_sha256": p.sha256,
        "tool_version": env!("CARGO_PKG_VERSION"),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "disclosure": if internal { "internal" } else { "published" },
        "demo_key": p.privacy.demo,
    });
    let mut manifest = manifest;
    if internal {
        manifest["inputs"] = serde_json::Value::Array(files);
    }
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    Ok(())
}
