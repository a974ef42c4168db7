//! The binary: parse the command line, run it, print the error chain and pick
//! the exit code (0 success, 1 failure, 2 bad input or bad pipeline).

fn main() {
    match smpeval::cli::main() {
        Ok(()) => std::process::exit(smpeval::error::EXIT_OK),
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::exit(smpeval::error::exit_code(&err));
        }
    }
}
