//! The binary: parse the command line, run it, print the error chain and pick
//! the exit code (0 success, 1 failure, 2 bad input or bad pipeline).

fn main() {
    match smpeval::cli::main() {
        Ok(()) => std::process::exit(smpeval::error::EXIT_OK),
        Err(err) => {
            // A message may quote a value from an input file: it passes the
            // one masking function, like everything written outside ingest.
            let mask = |m: String| smpeval::ingest::nhs::mask_text(&m).into_owned();
            eprintln!("error: {}", mask(err.to_string()));
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {}", mask(cause.to_string()));
            }
            std::process::exit(smpeval::error::exit_code(&err));
        }
    }
}
