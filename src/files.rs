//! Careful file operations shared by the warehouse and the pack: the marker
//! that says a folder is ours, durable writes (fsync before rename, then the
//! folder), a rename that never replaces, and the failpoints tests use to make
//! a write fail.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{FileOp, SafetyError, StoreError, StoreResult};

/// The marker file smpeval puts in every warehouse and reports folder it makes.
pub const MARKER: &str = ".smpeval";
/// How smpeval's temporary files and folders are named (`.tmp-…`).
pub const TEMP_PREFIX: &str = ".tmp-";

/// What a marked folder holds (the marker's first line names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirKind {
    Warehouse,
    Reports,
}

impl DirKind {
    fn tag(self) -> &'static str {
        match self {
            DirKind::Warehouse => "smpeval warehouse",
            DirKind::Reports => "smpeval reports",
        }
    }
    fn key(self) -> &'static str {
        match self {
            DirKind::Warehouse => "warehouse",
            DirKind::Reports => "reports",
        }
    }
}

/// True when `dir` holds smpeval's marker for `kind`.
pub fn is_ours(dir: &Path, kind: DirKind) -> bool {
    marker_tag(dir).is_some_and(|t| t == kind.tag())
}

fn marker_tag(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(MARKER)).ok()?;
    Some(text.lines().next().unwrap_or_default().trim().to_string())
}

/// Makes `dir` ours: creates it (and its marker) when missing or empty;
/// accepts it when it already holds our marker for `kind`; refuses a
/// non-empty folder without one, so a mistyped path cannot hurt anything.
pub fn claim_dir(dir: &Path, kind: DirKind) -> StoreResult<()> {
    if let Some(tag) = marker_tag(dir) {
        if tag == kind.tag() {
            return Ok(());
        }
        return Err(SafetyError::WrongKind {
            path: dir.to_path_buf(),
            found: tag,
            wanted: kind.tag(),
        }
        .into());
    }
    let text = format!(
        "{}\nThis folder is managed by smpeval: it writes, replaces and deletes files only in folders that hold this marker.\n",
        kind.tag()
    );
    let link = dir
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink());
    if link && !dir.exists() {
        return Err(SafetyError::BrokenLink {
            path: dir.to_path_buf(),
            target: std::fs::read_link(dir).unwrap_or_default(),
            key: kind.key(),
        }
        .into());
    }
    if dir.exists() && !dir.is_dir() {
        return Err(SafetyError::NotAFolder {
            path: dir.to_path_buf(),
            key: kind.key(),
        }
        .into());
    }
    if dir.exists() {
        let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
            .and_then(|d| d.collect())
            .map_err(StoreError::io(FileOp::ReadFolder, dir))?;
        // A run killed while it wrote this marker leaves the folder holding
        // only the marker's temporary file (part of this text): still ours.
        let half_marker = |e: &std::fs::DirEntry| {
            e.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
                && e.file_type().is_ok_and(|t| t.is_file())
                && std::fs::read(e.path()).is_ok_and(|b| text.as_bytes().starts_with(&b))
        };
        if !entries.iter().all(half_marker) {
            let (path, key) = (dir.to_path_buf(), kind.key());
            // The root or the home folder is never marked as smpeval's, so
            // the advice to mark a foreign folder is not given for them.
            return Err(match is_root_or_home(dir) {
                true => SafetyError::SharedDir { path, key },
                false => SafetyError::ForeignDir { path, key },
            }
            .into());
        }
        for e in &entries {
            std::fs::remove_file(e.path()).map_err(StoreError::io(FileOp::Remove, &e.path()))?;
        }
    } else {
        std::fs::create_dir_all(dir).map_err(StoreError::io(FileOp::CreateFolder, dir))?;
    }
    write_atomic(&dir.join(MARKER), text.as_bytes(), "marker")
}

/// True when `dir` (links resolved) is the root folder or `$HOME`.
fn is_root_or_home(dir: &Path) -> bool {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    dir.parent().is_none()
        || std::env::var_os("HOME")
            .is_some_and(|h| Path::new(&h).canonicalize().ok().as_deref() == Some(dir.as_path()))
}

/// Flushes a folder's entries (a rename or a new file) to disk.
pub fn fsync_dir(dir: &Path) -> StoreResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(FileOp::FlushFolder, dir))
}

/// Flushes every file and folder under `dir` to disk (a pack before it is
/// renamed into place, a warehouse version before it is published).
pub fn fsync_tree(dir: &Path) -> StoreResult<()> {
    for e in std::fs::read_dir(dir).map_err(StoreError::io(FileOp::Read, dir))? {
        let e = e.map_err(StoreError::io(FileOp::Read, dir))?;
        let t = e.file_type().map_err(StoreError::io(FileOp::Read, dir))?;
        if t.is_dir() {
            fsync_tree(&e.path())?;
        } else if t.is_file() {
            File::open(e.path())
                .and_then(|f| f.sync_all())
                .map_err(StoreError::io(FileOp::Flush, &e.path()))?;
        }
    }
    fsync_dir(dir)
}

/// Starts writing a file's data to disk without waiting for it (Linux:
/// `sync_file_range`), so that a later fsync finds most of it written. Only
/// a hint: what makes the file durable is that fsync.
pub fn start_writeback(file: &File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: an open file's descriptor; the call only schedules writeback.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Why a command must not write its output to `out`, or None. Outputs are
/// written to a temporary file renamed over `out`, which would destroy an
/// existing `out` that is not a regular file (a device such as /dev/null, a
/// pipe, a socket, a folder); and `out` must not be (links resolved) one of
/// the `inputs` the command reads.
pub fn why_not_written(out: &Path, inputs: &[&Path]) -> Option<&'static str> {
    if let Ok(m) = std::fs::metadata(out) {
        if !m.is_file() {
            return Some("is not a regular file (a device, a pipe or a folder); name a file");
        }
    }
    let target = out.canonicalize().ok()?;
    inputs
        .iter()
        .filter_map(|i| i.canonicalize().ok())
        .any(|i| i == target)
        .then_some("is a file this command reads; choose another")
}

/// [`write_atomic`] for a file people open (a starter pipeline, the
/// pipeline reference): it keeps the mode of the file it replaces, and a new
/// one is readable by all (0644), not only by its owner as a temporary file is.
pub fn write_shared(path: &Path, bytes: &[u8], site: &str) -> StoreResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map_or(0o644, |m| m.permissions().mode() & 0o7777);
    write_atomic(path, bytes, site)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(StoreError::io(FileOp::Write, path))
}

/// Writes `bytes` to `path` durably and atomically: a temporary file beside it,
/// fsynced, renamed over `path`, then the folder fsynced. `site` names the
/// write for the failpoints.
pub fn write_atomic(path: &Path, bytes: &[u8], site: &str) -> StoreResult<()> {
    let dir = folder_of(path);
    let mut tmp = temp_file_in(dir)?;
    failpoint(site)
        .and_then(|()| tmp.write_all(bytes))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(StoreError::io(FileOp::Write, path))?;
    persist(tmp, path)?;
    fsync_dir(dir)
}

/// The folder a file path is in (`.` for a bare file name).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A temporary file in `dir`, named `.tmp-…`, removed unless persisted.
pub fn temp_file_in(dir: &Path) -> StoreResult<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(StoreError::io(FileOp::CreateTempFileIn, dir))
}

/// A temporary folder in `dir`, named `.tmp-<pid>-…` (so a later run can
/// tell a killed run's folder from a running one's), removed unless kept.
pub fn temp_dir_in(dir: &Path) -> StoreResult<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .tempdir_in(dir)
        .map_err(StoreError::io(FileOp::CreateTempFolderIn, dir))
}

/// Renames a finished temporary file over `path`; the file, still open
/// (and holding any lock taken on it), now at `path`.
pub fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> StoreResult<File> {
    tmp.persist(path)
        .map_err(|e| StoreError::io(FileOp::MoveIntoPlace, path)(e.error))
}

/// Renames `from` to `to` unless `to` exists (never replaces it, even a
/// folder made at the same instant by another run).
pub fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let a = CString::new(from.as_os_str().as_bytes())?;
        let b = CString::new(to.as_os_str().as_bytes())?;
        // SAFETY: two valid NUL-terminated paths, resolved against the working folder.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        // Filesystems without RENAME_NOREPLACE: fall back to check-then-rename.
        if e.raw_os_error() != Some(libc::EINVAL) && e.raw_os_error() != Some(libc::ENOSYS) {
            return Err(e);
        }
    }
    if to.symlink_metadata().is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} already exists", to.display()),
        ));
    }
    std::fs::rename(from, to)
}

/// A write that tests can make fail. With the `failpoints` feature (tests
/// only), `SMPEVAL_FAILPOINTS=site[,site…]` makes the named sites fail as a
/// full disk would (`site=eacces` fails as permission denied; `site=pause`
/// says `failpoint <site>: paused` on stderr and waits a minute, for the kill
/// test to kill the run exactly there; `site=panic` panics, as a bug would).
/// Without the feature this is nothing.
pub fn failpoint(site: &str) -> std::io::Result<()> {
    #[cfg(feature = "failpoints")]
    if let Ok(list) = std::env::var("SMPEVAL_FAILPOINTS") {
        for item in list.split(',') {
            let (name, kind) = item.split_once('=').unwrap_or((item, "enospc"));
            if name.trim() == site {
                let code = match kind {
                    "pause" => {
                        eprintln!("failpoint {site}: paused");
                        std::thread::sleep(std::time::Duration::from_secs(60));
                        return Ok(());
                    }
                    "panic" => panic!("failpoint {site}: a panic the test asked for"),
                    "eacces" => libc::EACCES,
                    _ => libc::ENOSPC,
                };
                return Err(std::io::Error::from_raw_os_error(code));
            }
        }
    }
    let _ = site;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_to_nothing_is_said_to_be_one() {
        let d = tempfile::tempdir().unwrap();
        let wh = d.path().join("wh");
        std::os::unix::fs::symlink(d.path().join("gone"), &wh).unwrap();
        let e = claim_dir(&wh, DirKind::Warehouse).unwrap_err().to_string();
        assert!(
            e.contains("is a link to") && e.contains("gone, which does not exist"),
            "{e}"
        );
        assert!(!d.path().join("gone").exists());
    }

    #[test]
    fn a_file_named_as_a_folder_is_said_to_be_a_file_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("afile");
        std::fs::write(&file, "mine").unwrap();
        let text = claim_dir(&file, DirKind::Reports).unwrap_err().to_string();
        assert!(text.contains("is a file, not a folder"), "{text}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    }

    #[test]
    fn the_root_folder_is_refused_without_the_advice_to_mark_it() {
        let e = claim_dir(Path::new("/"), DirKind::Warehouse).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("is the root folder or your home folder"),
            "{text}"
        );
        assert!(!text.contains("printf"), "{text}");
        assert!(!Path::new("/").join(MARKER).exists());
    }

    #[test]
    fn a_folder_is_claimed_only_when_missing_empty_or_already_ours() {
        let root = tempfile::tempdir().unwrap();
        let missing = root.path().join("a/b");
        claim_dir(&missing, DirKind::Warehouse).unwrap();
        assert!(is_ours(&missing, DirKind::Warehouse));
        claim_dir(&missing, DirKind::Warehouse).unwrap();
        // Ours, but for the other kind.
        let e = claim_dir(&missing, DirKind::Reports).unwrap_err();
        assert!(e
            .to_string()
            .contains("made for smpeval warehouse, not for smpeval reports"));

        let empty = root.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        claim_dir(&empty, DirKind::Reports).unwrap();
        assert!(is_ours(&empty, DirKind::Reports));

        let foreign = root.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
        let e = claim_dir(&foreign, DirKind::Reports).unwrap_err();
        assert!(e
            .to_string()
            .contains("is not empty and was not made by smpeval"));
        assert!(!foreign.join(MARKER).exists());

        // A run killed while writing the marker left only its temporary
        // file (empty, or part of the marker): the folder is still claimed.
        for written in ["", "smpeval"] {
            let half = root.path().join(format!("half{}", written.len()));
            std::fs::create_dir(&half).unwrap();
            std::fs::write(half.join(".tmp-abc123"), written).unwrap();
            claim_dir(&half, DirKind::Warehouse).unwrap();
            assert!(is_ours(&half, DirKind::Warehouse));
            assert_eq!(std::fs::read_dir(&half).unwrap().count(), 1);
        }
        // A temporary-looking file holding anything else is someone's.
        let other = root.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join(".tmp-abc123"), "my notes").unwrap();
        assert!(claim_dir(&other, DirKind::Warehouse).is_err());
        assert!(other.join(".tmp-abc123").exists());
    }

    #[test]
    fn rename_no_replace_never_replaces() {
        let root = tempfile::tempdir().unwrap();
        let (a, b) = (root.path().join("a"), root.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        // An empty folder is what a plain rename(2) would silently replace.
        let e = rename_no_replace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert!(a.is_dir());
        rename_no_replace(&a, &root.path().join("c")).unwrap();
    }
}
