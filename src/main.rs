//! The binary: run the command line, which prints any error chain and picks
//! the exit code (0 success, 1 failure, 2 bad input or bad pipeline, 3 locked).

fn main() {
    std::process::exit(smpeval::cli::main());
}
