use std::path::PathBuf;

use anyhow::{Context, Result};

/// Write the pipeline reference: every key of a pipeline file with its type,
/// default and an example, and every canonical field, from the code's own
/// lists (a test keeps them in step with the parser).
///
/// Example: `smpeval pipeline-docs --out docs/pipeline.md`
#[derive(clap::Args)]
pub struct Args {
    /// Where to write the Markdown.
    #[arg(long, value_name = "FILE", default_value = "docs/pipeline.md")]
    pub out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&args.out, crate::pipeline::docs::markdown())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    out!("wrote {}", args.out.display());
    Ok(())
}
