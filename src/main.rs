//! The binary: run the command line, which prints any error chain and picks
//! the exit code (0 success, 1 failure, 2 bad input or bad pipeline, 3 locked).

fn main() {
    // glibc gives a large allocation its own mapping and unmaps it when it
    // is freed, so every column polars builds faults its pages in afresh
    // (a third of an ingest's time went to the kernel). Freed memory up to
    // these sizes is kept for reuse instead (bench/run.sh: about 15% less
    // CPU at 10M hospital rows, peak RSS within the 2 GiB target).
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
    std::process::exit(smpeval::cli::main());
}
