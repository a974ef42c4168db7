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

/// What the reference starts with: an existing file that does not is not
/// replaced.
const TITLE: &str = "# Pipeline reference";

pub fn run(args: Args) -> Result<()> {
    let refuse = |why: &str| {
        crate::error::InputError::Argument(format!("--out {}: {why}", args.out.display()))
    };
    if let Some(why) = crate::files::why_not_written(&args.out, &[]) {
        return Err(refuse(why).into());
    }
    if let Ok(old) = std::fs::read(&args.out) {
        if !old.starts_with(TITLE.as_bytes()) {
            return Err(refuse(
                "exists and is not a pipeline reference; remove it or choose another",
            )
            .into());
        }
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // A new file renamed into place: a link named by --out is replaced, not
    // written through.
    crate::files::write_shared(
        &args.out,
        crate::pipeline::docs::markdown().as_bytes(),
        "docs.out",
    )
    .with_context(|| format!("cannot write {}", args.out.display()))?;
    out!("wrote {}", args.out.display());
    Ok(())
}
