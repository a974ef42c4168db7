//! The command line. Each subcommand's file parses its arguments and calls the
//! library; the help text is the documentation.

mod generate;
mod ingest;
mod init;
mod pipeline_docs;
mod report;
mod validate;

use crate::ingest::nhs::mask_text;
use std::io::IsTerminal;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "smpeval",
    version,
    about = "Evaluate self-management programmes: ingest returns, hospital activity and PAM scores into a Parquet warehouse and write an evaluation pack.",
    after_help = "Examples:\n  smpeval validate pipelines/sample.toml\n  smpeval run pipelines/sample.toml\n  smpeval generate --out /tmp/demo --participants 2000 --seed 7\n  smpeval init --returns acme.csv --hospital hes_apc.csv --out pipelines/acme.toml\n\nExit codes: 0 success, 1 failure, 2 bad input or bad pipeline file."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read and check every input of a pipeline; write nothing.
    Validate(validate::Args),
    /// Read, check and pseudonymise every input into the pipeline's Parquet warehouse.
    Ingest(ingest::Args),
    /// Compute the evaluation from the warehouse and write the pack.
    Report(report::Args),
    /// Everything: ingest, then the evaluation pack.
    Run(report::Args),
    /// Write synthetic inputs with planted, documented effects.
    Generate(generate::Args),
    /// Write a starter pipeline from a provider return and, optionally, hospital and PAM files.
    Init(init::Args),
    /// Write the pipeline reference (docs/pipeline.md): every key, type, default and example.
    PipelineDocs(pipeline_docs::Args),
}

pub fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Ingest(a) => ingest::run(a),
        Command::Report(a) => report::run(a, false),
        Command::Run(a) => report::run(a, true),
        Command::Generate(a) => generate::run(a),
        Command::Init(a) => init::run(a),
        Command::PipelineDocs(a) => pipeline_docs::run(a),
    }
}

/// Progress for long work: a bar over the input files on a terminal, plain
/// `smpeval: …` log lines otherwise (a scheduler's log keeps every line).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        Progress { bar }
    }
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl crate::progress::Progress for Progress {
    fn files(&self, total: usize) {
        if let Some(b) = &self.bar {
            b.set_length(total as u64);
            b.set_position(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} files  {msg}",
            ) {
                b.set_style(style);
            }
        }
    }
    fn reading(&self, path: &str) {
        if let Some(b) = &self.bar {
            b.set_message(path.to_string());
        }
    }
    fn file_done(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }
    fn say(&self, message: &str) {
        match &self.bar {
            Some(b) => b.println(format!("smpeval: {}", mask_text(message))),
            None => eprintln!("smpeval: {}", mask_text(message)),
        }
    }
}

/// Prints the per-file table and the first rejects of each file.
pub fn print_summary(summary: &crate::ingest::Summary) {
    println!(
        "{:<52} {:>9} {:>9} {:>9} {:>9}",
        "file", "read", "accepted", "rejected", "written"
    );
    for f in &summary.files {
        let chars: Vec<char> = f.path.chars().collect();
        let name = if chars.len() > 52 {
            format!("…{}", chars[chars.len() - 51..].iter().collect::<String>())
        } else {
            f.path.clone()
        };
        println!(
            "{:<52} {:>9} {:>9} {:>9} {:>9}{}",
            name,
            f.rows_read,
            f.accepted,
            f.rejected,
            f.written,
            if f.ingested {
                ""
            } else {
                "  (unchanged, skipped)"
            }
        );
    }
    for w in &summary.warnings {
        println!("warning: {}", mask_text(w));
    }
    for path in &summary.removed {
        println!("{path}: removed (no longer matched by the pipeline; its rows were taken out of the warehouse)");
    }
    for f in &summary.files {
        if f.sentinel_dates > 0 {
            println!(
                "{}: {} HES sentinel date(s) (1800-01-01 / 1801-01-01) found and not used as dates",
                f.path, f.sentinel_dates
            );
        }
        for m in &f.examples {
            println!("  rejected: {}", mask_text(m));
        }
        if f.rejected > f.examples.len() && !f.examples.is_empty() {
            println!(
                "  … and {} more rejects from this file",
                f.rejected - f.examples.len()
            );
        }
        for (why, n) in &f.warnings {
            println!("  warning: {n} row(s) kept with {}", mask_text(why));
        }
        for m in &f.warning_examples {
            println!("  kept: {}", mask_text(m));
        }
    }
}
