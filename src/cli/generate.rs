use std::path::PathBuf;

use anyhow::Result;

use crate::error::InputError;
use crate::generate::{self, Options};

/// Write synthetic inputs (three providers, HES-shaped hospital activity, PAM
/// scores), a pipeline.toml that ingests them, and truth.json describing the
/// planted effects. With --faults, also plant known bad rows listed in faults.json.
///
/// Example: `smpeval generate --out /tmp/demo --participants 2000 --seed 7 --faults`
#[derive(clap::Args)]
pub struct Args {
    /// Folder to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of referrals.
    #[arg(long, default_value_t = 1000)]
    pub participants: usize,
    /// Pad the hospital extract with never-referred people up to this many rows.
    #[arg(long, default_value_t = 0)]
    pub hospital_rows: usize,
    /// Random seed: the same seed gives the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Plant known bad rows (listed in faults.json).
    #[arg(long)]
    pub faults: bool,
    /// Make who starts depend on who they are: `latent` (deprivation,
    /// conditions and a latent hospital risk; the unmatched DiD is biased) or
    /// `observed` (deprivation only, which is matched on).
    #[arg(long, value_enum)]
    pub confounded: Option<generate::Confounding>,
}

/// Fewest referrals that leave rows in every file to plant faults in.
const MIN_FOR_FAULTS: usize = 100;

pub fn run(a: Args) -> Result<()> {
    if a.participants == 0 {
        return Err(InputError::Argument("--participants must be at least 1".into()).into());
    }
    if a.faults && a.participants < MIN_FOR_FAULTS {
        return Err(InputError::Argument(format!(
            "--faults needs at least {MIN_FOR_FAULTS} participants, so that every file has rows to plant faults in (got {})",
            a.participants
        ))
        .into());
    }
    let faults = generate::generate(&Options {
        out: a.out.clone(),
        participants: a.participants,
        hospital_rows: a.hospital_rows,
        stream_above: generate::STREAM_ABOVE,
        seed: a.seed,
        faults: a.faults,
        confounded: a.confounded,
    })?;
    out!(
        "wrote synthetic data to {} ({} referrals, {} planted faults); ingest it with: smpeval ingest {}",
        a.out.display(),
        a.participants,
        faults.len(),
        a.out.join("pipeline.toml").display()
    );
    Ok(())
}
