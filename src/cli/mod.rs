//! The command line. Each subcommand's file parses its arguments and calls the
//! library; the help text is the documentation.

/// `println!` that carries on when standard output is closed (`smpeval run
/// | head -1`): the run's work and its record matter more than its printing.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `eprintln!` that carries on when standard error is closed.
macro_rules! err_out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod generate;
mod ingest;
mod init;
mod pipeline_docs;
mod report;
mod status;
mod validate;

use crate::ingest::nhs::mask_text;
use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::Path;

use crate::status::LastRun;
use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "smpeval",
    version,
    about = "Evaluate self-management programmes: ingest returns, hospital activity and PAM scores into a Parquet warehouse and write an evaluation pack.",
    after_help = "Examples:\n  smpeval validate pipelines/sample.toml\n  smpeval run pipelines/sample.toml\n  smpeval status pipelines/sample.toml --json\n  smpeval generate --out /tmp/demo --participants 2000 --seed 7\n  smpeval init --returns acme.csv --hospital hes_apc.csv --out pipelines/acme.toml\n\nExit codes: 0 success, 1 failure, 2 bad input or bad pipeline file, 3 the warehouse is locked by another run."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines on stderr as plain text, or one JSON object a line
    /// (time, level, step, message, counts) for schedulers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Print nothing but warnings and errors.
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
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
    /// What the warehouse holds, the last run, each input file's state and the lock.
    Status(status::Args),
    /// Write synthetic inputs with planted, documented effects.
    Generate(generate::Args),
    /// Write a starter pipeline from a provider return and, optionally, hospital and PAM files.
    Init(init::Args),
    /// Write the pipeline reference (docs/pipeline.md): every key, type, default and example.
    PipelineDocs(pipeline_docs::Args),
}

/// Runs the command line; prints any error and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, std::env::args_os().skip(1)),
    };
    let log = Log::new(cli.log_format, cli.quiet);
    quiet_panics();
    let result = guarded(|| match cli.command {
        Command::Validate(a) => validate::run(a, &log),
        Command::Ingest(a) => ingest::run(a, &log),
        Command::Report(a) => report::run(a, false, &log),
        Command::Run(a) => report::run(a, true, &log),
        Command::Status(a) => status::run(a, &log),
        Command::Generate(a) => generate::run(a),
        Command::Init(a) => init::run(a),
        Command::PipelineDocs(a) => pipeline_docs::run(a),
    });
    log.finish();
    match result {
        Ok(()) => crate::error::EXIT_OK,
        Err(err) => {
            log.error(&err);
            crate::error::exit_code(&err)
        }
    }
}

/// Where the first panic happened, kept by the hook [`quiet_panics`] sets
/// until [`guarded`] reports it.
static PANIC_PLACE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Makes a panic keep its place for [`guarded`] instead of printing a
/// message and backtrace (it may be in any thread; the first is kept).
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        if let (Some(l), Ok(mut kept)) = (info.location(), PANIC_PLACE.lock()) {
            kept.get_or_insert(format!("{}:{}", l.file(), l.line()));
        }
    }));
}

/// Runs `f`; a panic in it, or in a thread it waits on, becomes an
/// [`InternalError`](crate::error::InternalError), so that the run is
/// recorded as failed and exits 1 with one message (one JSON line with
/// `--log-format json`), masked like every message.
pub fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let payload = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => return result,
        Err(payload) => payload,
    };
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    let place = PANIC_PLACE.lock().ok().and_then(|mut kept| kept.take());
    let place = place.map(|p| format!(" (at {p})")).unwrap_or_default();
    Err(crate::error::InternalError(format!("{what}{place}")).into())
}

/// A command line clap cannot read: help and version printed as asked; any
/// other error as an `error:` line (one JSON object with `--log-format
/// json`, for schedulers), masked like every message (an argument may be an
/// NHS number). Returns the exit code (2 for a usage error).
fn usage_error(e: clap::Error, args: impl Iterator<Item = std::ffi::OsString>) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return e.exit_code();
    }
    let text = e.render().to_string();
    let text = text.trim_end().trim_start_matches("error: ");
    let log = Log::new(log_format_in(args), false);
    log.set_step("usage");
    match log.format {
        LogFormat::Text => err_out!("error: {}", mask_text(text)),
        // One line: the message, then clap's usage and tip, joined.
        LogFormat::Json => {
            let parts: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            log.line("error", &parts.join(" "), &[]);
        }
    }
    e.exit_code()
}

/// The log format the arguments ask for, read without clap (which has
/// refused them): `--log-format json` or `--log-format=json` anywhere.
fn log_format_in(args: impl Iterator<Item = std::ffi::OsString>) -> LogFormat {
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let json = args.iter().enumerate().any(|(i, a)| {
        a == "--log-format=json"
            || (a == "--log-format" && args.get(i + 1).is_some_and(|v| v == "json"))
    });
    match json {
        true => LogFormat::Json,
        false => LogFormat::Text,
    }
}

/// The log: a progress bar over the input files on a terminal, plain
/// `smpeval: …` lines otherwise (a scheduler's log keeps every line), or one
/// JSON object a line. Every message passes the NHS-number mask.
pub struct Log {
    bar: Option<indicatif::ProgressBar>,
    format: LogFormat,
    quiet: bool,
    step: RefCell<String>,
    run_id: RefCell<Option<String>>,
}

impl Log {
    pub fn new(format: LogFormat, quiet: bool) -> Self {
        let bar =
            (format == LogFormat::Text && !quiet && std::io::stderr().is_terminal()).then(|| {
                let b = indicatif::ProgressBar::new_spinner();
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                b
            });
        Log {
            bar,
            format,
            quiet,
            step: RefCell::new(String::new()),
            run_id: RefCell::new(None),
        }
    }
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
    pub fn set_step(&self, step: &str) {
        *self.step.borrow_mut() = step.to_string();
    }
    pub fn set_run_id(&self, id: &str) {
        *self.run_id.borrow_mut() = Some(id.to_string());
    }
    /// True when results go to stdout as text (not quiet, not JSON).
    pub fn prints(&self) -> bool {
        self.format == LogFormat::Text && !self.quiet
    }
    pub fn json(&self) -> bool {
        self.format == LogFormat::Json
    }
    pub fn line(&self, level: &str, message: &str, counts: &[(&str, u64)]) {
        if self.quiet && level == "info" {
            return;
        }
        let message = mask_text(message);
        let text = match self.format {
            LogFormat::Text => match level {
                "info" => format!("smpeval: {message}"),
                other => format!("smpeval: {other}: {message}"),
            },
            LogFormat::Json => {
                let counts: serde_json::Map<String, serde_json::Value> = counts
                    .iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                    .collect();
                let mut o = serde_json::json!({
                    "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "level": level,
                    "step": self.step.borrow().as_str(),
                    "message": message,
                    "counts": counts,
                });
                if let Some(id) = self.run_id.borrow().as_ref() {
                    o["run_id"] = serde_json::Value::from(id.as_str());
                }
                o.to_string()
            }
        };
        match &self.bar {
            Some(b) => b.println(text),
            None => err_out!("{text}"),
        }
    }
    /// The error chain: `error: …` and `caused by: …` lines, or one JSON object.
    pub fn error(&self, err: &anyhow::Error) {
        let chain: Vec<String> = err.chain().map(|c| in_words(&c.to_string())).collect();
        match self.format {
            LogFormat::Text => {
                err_out!("error: {}", mask_text(&chain[0]));
                for cause in &chain[1..] {
                    err_out!("  caused by: {}", mask_text(cause));
                }
            }
            LogFormat::Json => self.line("error", &chain.join(": "), &[]),
        }
    }
}

use crate::error::without_os_error_numbers as in_words;

impl crate::progress::Progress for Log {
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
        self.line("info", message, &[]);
    }
    fn counts(&self, message: &str, counts: &[(&str, u64)]) {
        self.line("info", message, counts);
    }
    fn warn(&self, message: &str) {
        self.line("warning", message, &[]);
    }
}

/// Records the outcome in the warehouse (only one smpeval made; a run that
/// found the warehouse locked records nothing, the holder will).
pub fn record_run(warehouse: &Path, mut record: LastRun, outcome: &Result<()>, log: &Log) {
    crate::status::mark_finished(warehouse);
    if !crate::files::is_ours(warehouse, crate::files::DirKind::Warehouse) {
        return;
    }
    if let Err(e) = outcome {
        record.exit_code = crate::error::exit_code(e);
        if record.exit_code == crate::error::EXIT_LOCKED {
            return;
        }
        record.result = "failed".into();
        record.message = Some(mask_text(&format!("{e:#}")).into_owned());
    }
    record.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if let Err(e) = crate::status::write_last_run(warehouse, &record) {
        use crate::progress::Progress;
        log.warn(&crate::error::chain_text(&e));
    }
}

/// Records that the command has started (`status` shows it as unfinished
/// if the process dies before [`record_run`]); a failure to is a warning.
pub fn mark_started(warehouse: &Path, record: &LastRun, log: &Log) {
    if let Err(e) = crate::status::mark_started(warehouse, record) {
        use crate::progress::Progress;
        log.warn(&crate::error::chain_text(&e));
    }
}

/// Prints the per-file table and the first rejects of each file (as JSON
/// log lines with `--log-format json`; nothing with `--quiet`).
pub fn print_summary(summary: &crate::ingest::Summary, log: &Log) {
    if log.json() {
        log_summary(summary, log);
    } else if log.prints() {
        print_table(summary);
        print_details(summary);
    }
}

/// The per-file summary as JSON log lines.
fn log_summary(summary: &crate::ingest::Summary, log: &Log) {
    for f in &summary.files {
        log.line(
            "info",
            &format!(
                "{}: {}",
                f.path,
                if f.ingested {
                    "ingested"
                } else {
                    "unchanged, skipped"
                }
            ),
            &[
                ("rows_read", f.rows_read as u64),
                ("accepted", f.accepted as u64),
                ("rejected", f.rejected as u64),
                ("written", f.written as u64),
            ],
        );
    }
    for path in &summary.removed {
        log.line(
            "info",
            &format!("{path}: removed (no longer matched by the pipeline)"),
            &[],
        );
    }
}

/// The per-file table: rows read, accepted, rejected and written.
fn print_table(summary: &crate::ingest::Summary) {
    out!(
        "{:<52} {:>9} {:>9} {:>9} {:>9}",
        "file",
        "read",
        "accepted",
        "rejected",
        "written"
    );
    for f in &summary.files {
        let chars: Vec<char> = f.path.chars().collect();
        let name = if chars.len() > 52 {
            format!("…{}", chars[chars.len() - 51..].iter().collect::<String>())
        } else {
            f.path.clone()
        };
        out!(
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
}

/// Warnings, removed files, sentinel dates and the first rejects and kept
/// rows of each file; every line passes the NHS-number mask.
fn print_details(summary: &crate::ingest::Summary) {
    for w in &summary.warnings {
        out!("warning: {}", mask_text(w));
    }
    for path in &summary.removed {
        out!("{path}: removed (no longer matched by the pipeline; its rows were taken out of the warehouse)");
    }
    for f in &summary.files {
        if f.sentinel_dates > 0 {
            out!(
                "{}: {} HES sentinel date(s) (1800-01-01 / 1801-01-01) found and not used as dates",
                f.path,
                f.sentinel_dates
            );
        }
        for m in &f.examples {
            out!("  rejected: {}", mask_text(m));
        }
        if f.rejected > f.examples.len() && !f.examples.is_empty() {
            out!(
                "  … and {} more rejects from this file",
                f.rejected - f.examples.len()
            );
        }
        for (why, n) in &f.warnings {
            out!("  warning: {n} row(s) kept with {}", mask_text(why));
        }
        for m in &f.warning_examples {
            out!("  kept: {}", mask_text(m));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_shown_without_the_system_error_number() {
        assert_eq!(
            in_words(
                "a.toml: cannot read the pipeline file: No such file or directory (os error 2)"
            ),
            "a.toml: cannot read the pipeline file: No such file or directory"
        );
        assert_eq!(in_words("x (os error 13) and y (os error 21)"), "x and y");
        assert_eq!(in_words("a plain message (one)"), "a plain message (one)");
    }

    #[test]
    fn a_panic_becomes_an_internal_error_with_its_message() {
        let r: Result<()> = guarded(|| panic!("out-of-range date"));
        let e = r.unwrap_err();
        let internal = e.downcast_ref::<crate::error::InternalError>().unwrap();
        assert!(
            internal.0.starts_with("out-of-range date"),
            "{}",
            internal.0
        );
        assert_eq!(crate::error::exit_code(&e), crate::error::EXIT_FAILURE);
        // A panic in a thread the work waits on is caught the same way.
        let r: Result<()> = guarded(|| {
            std::thread::scope(|s| s.spawn(|| panic!("in a worker")).join())
                .map_err(|_| anyhow::anyhow!("joined"))?;
            Ok(())
        });
        assert!(r.is_err());
        assert_eq!(guarded(|| Ok(7)).unwrap(), 7);
    }

    #[test]
    fn the_log_format_is_read_from_arguments_clap_refused() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(
            log_format_in(args(&["--log-format", "json", "run"]).into_iter()) == LogFormat::Json
        );
        assert!(log_format_in(args(&["run", "--log-format=json"]).into_iter()) == LogFormat::Json);
        assert!(
            log_format_in(args(&["run", "--log-format", "text"]).into_iter()) == LogFormat::Text
        );
    }
}
