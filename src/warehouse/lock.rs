//! The warehouse lock: one run at a time writes a warehouse.
//!
//! `<warehouse>/.lock` is opened without following a symbolic link
//! (`O_NOFOLLOW`) and held with `flock`, which the kernel drops when the
//! holder exits however it exits. The file says who holds it (pid, host,
//! start time); a file that still names a holder but whose lock is free was
//! left by a run that was killed, and is taken over with a warning.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{FileOp, LockError, SafetyError, StoreError, StoreResult};

pub const LOCK_FILE: &str = ".lock";

/// An exclusive lock on a warehouse, released when dropped.
pub struct Lock {
    file: File,
    /// The holder a killed run left in the lock file, when this run took it over.
    pub stale: Option<String>,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Empty means "nobody"; the flock itself goes with the file handle.
        let _ = self.file.set_len(0);
    }
}

/// Who holds a lock, as its file says.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub started_at: String,
    pub command: String,
    /// True when that process is still running (checked only on this host).
    pub running: Option<bool>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pid == 0 {
            return write!(f, "{} on host {}", self.command, self.host);
        }
        write!(
            f,
            "pid {} on host {}, started {} ({})",
            self.pid, self.host, self.started_at, self.command
        )
    }
}

fn parse_holder(text: &str) -> Option<Holder> {
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
    };
    let pid = get("pid")?.parse().ok()?;
    let host = get("host").unwrap_or_default();
    let running = (host == hostname()).then(|| pid_running(pid));
    Some(Holder {
        pid,
        host,
        started_at: get("started_at").unwrap_or_default(),
        command: get("command").unwrap_or_default(),
        running,
    })
}

/// This machine's name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// True when a process with this id exists on this machine.
pub fn pid_running(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Opens the lock file, creating it if missing, never through a symbolic link.
fn open_lock_file(path: &Path) -> StoreResult<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    match opened {
        Ok(f) => {
            let meta = f.metadata().map_err(StoreError::io(FileOp::Read, path))?;
            if !meta.is_file() {
                return Err(SafetyError::LockNotAFile {
                    path: path.to_path_buf(),
                }
                .into());
            }
            Ok(f)
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(SafetyError::SymlinkedLock {
            path: path.to_path_buf(),
        }
        .into()),
        Err(e) => Err(StoreError::io(FileOp::Open, path)(e)),
    }
}

fn read_all(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    text
}

/// Takes the warehouse lock, or fails at once (exit code 3) naming the holder.
pub fn lock(warehouse: &Path, command: &str) -> StoreResult<Lock> {
    let path = warehouse.join(LOCK_FILE);
    let mut file = open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(LockError {
                warehouse: warehouse.to_path_buf(),
                lock: path,
                holder: parse_holder(&read_all(&mut file)).map(|h| h.to_string()),
            }
            .into())
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(FileOp::Lock, &path)(e)),
    }
    let stale = parse_holder(&read_all(&mut file)).map(|h| h.to_string());
    let me = format!(
        "pid={}\nhost={}\nstarted_at={}\ncommand={command}\n",
        std::process::id(),
        hostname(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(me.as_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(StoreError::io(FileOp::Write, &path))?;
    Ok(Lock { file, stale })
}

/// Who holds the lock now, if anyone (without taking it: `status` must not
/// make a starting run fail). Whether the lock is held is asked of the
/// kernel (`/proc/locks`), not judged from the pid the file names: a lock
/// the file names but nobody holds is stale (`running: Some(false)`, a
/// killed run's, whatever process has that pid now), and a lock held by a
/// process that wrote no name (`flock` in a restore) is still held.
pub fn holder(warehouse: &Path) -> Option<Holder> {
    let path: PathBuf = warehouse.join(LOCK_FILE);
    let meta = path.symlink_metadata().ok()?;
    if meta.file_type().is_symlink() {
        return None;
    }
    let named = parse_holder(&std::fs::read_to_string(&path).ok()?);
    match (flock_held(&meta), named) {
        (Some(true), Some(h)) => Some(Holder {
            running: Some(true),
            ..h
        }),
        (Some(true), None) => Some(Holder {
            pid: 0,
            host: hostname(),
            started_at: String::new(),
            command: "a process that did not write its name (flock?)".into(),
            running: Some(true),
        }),
        (Some(false), Some(h)) => Some(Holder {
            running: Some(false),
            ..h
        }),
        (Some(false), None) => None,
        // No /proc/locks: judged by the pid, as before.
        (None, named) => named,
    }
}

/// Whether any process holds a `flock` on the file `meta` describes, from
/// the kernel's list of locks (None where that list cannot be read).
fn flock_held(meta: &std::fs::Metadata) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // `major:minor:inode`; matched on the inode alone, since an overlay's
    // device number is not the one the kernel lists.
    let inode = format!(":{}", meta.ino());
    Some(locks.lines().any(|l| {
        let mut f = l.split_whitespace().skip(1);
        f.next() == Some("FLOCK") && f.nth(3).is_some_and(|id| id.ends_with(&inode))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_file_names_its_holder_and_a_foreign_host_is_not_judged() {
        let h = parse_holder(
            "pid=4242\nhost=elsewhere.example\nstarted_at=2026-11-27T18:00:00.000Z\ncommand=ingest\n",
        )
        .unwrap();
        assert_eq!(h.pid, 4242);
        assert_eq!(h.command, "ingest");
        assert_eq!(
            h.running, None,
            "a process on another host cannot be checked"
        );
        assert_eq!(
            h.to_string(),
            "pid 4242 on host elsewhere.example, started 2026-11-27T18:00:00.000Z (ingest)"
        );
        assert!(parse_holder("").is_none(), "an empty file: nobody");
        assert!(parse_holder("pid=x\n").is_none());
    }

    #[test]
    fn whether_the_lock_is_held_is_asked_of_the_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        // Names a live process (this one) but nobody holds it: stale.
        let me = format!(
            "pid={}\nhost={}\nstarted_at=t\ncommand=ingest\n",
            std::process::id(),
            hostname()
        );
        std::fs::write(&path, me).unwrap();
        assert_eq!(holder(dir.path()).unwrap().running, Some(false));
        // Held by a process that wrote no name (flock in a restore): held.
        std::fs::write(&path, "").unwrap();
        let f = File::open(&path).unwrap();
        f.lock().unwrap();
        let h = holder(dir.path()).unwrap();
        assert_eq!(h.running, Some(true));
        assert!(h.to_string().contains("did not write its name"), "{h}");
        drop(f);
        assert!(holder(dir.path()).is_none());
    }

    #[test]
    fn a_second_lock_on_one_warehouse_is_refused_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path(), "ingest").unwrap();
        let second = lock(dir.path(), "report").err().unwrap();
        assert!(matches!(second, StoreError::Locked(_)), "{second}");
        assert!(second.to_string().contains("(ingest)"), "{second}");
        drop(first);
        assert!(
            lock(dir.path(), "report").is_ok(),
            "free again once dropped"
        );
    }
}
