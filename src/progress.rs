//! What long work reports as it goes. The command line shows it as a progress
//! bar on a terminal and as plain log lines otherwise; tests can ignore it.

pub trait Progress {
    /// The number of files about to be read.
    fn files(&self, _total: usize) {}
    /// A file is being read (a transient status on a terminal; not logged).
    fn reading(&self, _path: &str) {}
    /// A file is done (read and checked, or skipped as unchanged).
    fn file_done(&self) {}
    /// A line worth keeping in the log.
    fn say(&self, message: &str);
    /// A line worth keeping with counts (a file's rows read, accepted, rejected).
    fn counts(&self, message: &str, _counts: &[(&str, u64)]) {
        self.say(message)
    }
    /// Something the operator should look at, though the run goes on.
    fn warn(&self, message: &str) {
        self.say(&format!("warning: {message}"))
    }
}
