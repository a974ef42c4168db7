use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::error::InputError;

/// Write a starter pipeline from sample files: each header is matched to a
/// canonical field by its name and its values (dates, NHS numbers, session
/// marks), with a comment on every guess; the date formats, delimiter,
/// encoding and title rows are detected. Review it, then `smpeval validate`.
///
/// Example: `smpeval init --returns acme_q3.csv --hospital hes_apc.csv --pam pam.csv --out pipelines/acme.toml`
#[derive(clap::Args)]
pub struct Args {
    /// A provider return (CSV).
    #[arg(long, value_name = "FILE")]
    pub returns: PathBuf,
    /// A hospital extract (CSV); repeat for APC, A&E and outpatient files.
    #[arg(long, value_name = "FILE")]
    pub hospital: Vec<PathBuf>,
    /// PAM scores (CSV).
    #[arg(long, value_name = "FILE")]
    pub pam: Option<PathBuf>,
    /// Where to write the pipeline.
    #[arg(long, value_name = "FILE", default_value = "pipeline.toml")]
    pub out: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args) -> Result<()> {
    // A link, even one to nothing, is there to be replaced.
    if std::fs::symlink_metadata(&args.out).is_ok() && !args.force {
        return Err(InputError::Argument(format!(
            "{} exists: choose another --out, or add --force to replace it",
            args.out.display()
        ))
        .into());
    }
    let mut inputs = vec![args.returns.as_path()];
    inputs.extend(args.hospital.iter().map(|h| h.as_path()));
    inputs.extend(args.pam.as_deref());
    if let Some(why) = crate::files::why_not_written(&args.out, &inputs) {
        return Err(InputError::Argument(format!("--out {}: {why}", args.out.display())).into());
    }
    let text = crate::init::starter_pipeline(
        &args.out,
        &args.returns,
        &args.hospital,
        args.pam.as_deref(),
    )?;
    // A new file renamed into place: a link named by --out is replaced, not
    // written through.
    crate::files::write_shared(&args.out, text.as_bytes(), "init.out")
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    out!(
        "wrote {}: review the guesses, then run `smpeval validate {}`",
        args.out.display(),
        args.out.display()
    );
    Ok(())
}
