//! The one way homelab replaces or creates a file: a temp file in the same folder (mode 0600
//! from the moment it exists), written, fsynced, renamed over the target, then the folder is
//! fsynced. Readers see the old file or the new one, never half of one; a crash leaves at most a
//! temp file, which the next write beside the same target removes.
//!
//! - [`Mode::Secret`] files (kubeconfig, the age identity, backups of either) are 0600 from
//!   creation to the end; an existing secret file that was wider is tightened.
//! - [`Mode::KeepOr`] keeps an existing file's mode and owner; a new file gets the given mode.
//! - A symlink is kept: the write goes through to the file it points at (the link's target is
//!   replaced, in the target's folder), so `config/env/x.env -> ~/secrets/x.env` stays a link.
//! - The temp file is removed on every error path (and on a panic while writing).
//!
//! Append-only logs (the stage journal, `homelab.log`) are not replaced and do not come here.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;

/// Test hook: when this variable names a file path, the writer creates that file after the temp
/// file is written and synced and then waits before renaming, so a test can kill the process
/// at exactly that point. Never set in normal use.
pub const PAUSE_BEFORE_RENAME_ENV: &str = "HOMELAB_TEST_PAUSE_BEFORE_RENAME";

/// The mode of the written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 0600, whatever the file had before.
    Secret,
    /// An existing file keeps its mode and owner; a new one gets this mode.
    KeepOr(u32),
}

/// Mode of every temp file, from its creation (umask can only narrow it).
const TEMP_MODE: u32 = 0o600;
/// Symlink hops followed before giving up (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// Replace `path` with `contents`, keeping an existing file's mode, else 0644 (ciphertext and
/// definitions, which git keeps 0644 anyway).
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    write(path, contents, Mode::KeepOr(0o644))
}

/// Replace (or create) `path` with `contents` atomically, with `mode`.
pub fn write(path: &Path, contents: &[u8], mode: Mode) -> io::Result<()> {
    let target = follow_links(path)?;
    let existing = fs::metadata(&target).ok();
    let final_mode = match (mode, &existing) {
        (Mode::Secret, _) => 0o600,
        (Mode::KeepOr(_), Some(m)) => m.permissions().mode() & 0o7777,
        (Mode::KeepOr(new), None) => new,
    };
    let owner = existing.as_ref().map(|m| (m.uid(), m.gid()));
    replace(&target, contents, final_mode, owner, Commit::Rename)
}

/// Create `path` with `contents`, failing with `AlreadyExists` (and touching nothing) when it
/// exists. The file appears complete or not at all.
pub fn create_new(path: &Path, contents: &[u8], mode: Mode) -> io::Result<()> {
    let target = follow_links(path)?;
    let final_mode = match mode {
        Mode::Secret => 0o600,
        Mode::KeepOr(m) => m,
    };
    replace(&target, contents, final_mode, None, Commit::Link)
}

/// `path` itself, or the file its symlink chain ends at (which need not exist yet).
fn follow_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&p)?;
                p = if to.is_absolute() {
                    to
                } else {
                    parent(&p).join(to)
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other(format!(
        "{}: more than {MAX_LINKS} symbolic links in a row",
        path.display()
    )))
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

enum Commit {
    /// rename(2) over the target.
    Rename,
    /// link(2), which fails when the target exists; then the temp name is unlinked.
    Link,
}

/// Removes the temp file unless disarmed (every error path, a panic included).
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn replace(
    target: &Path,
    contents: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    commit: Commit,
) -> io::Result<()> {
    remove_stale_temps(target);
    let (tmp, mut file) = create_temp(target)?;
    let mut guard = TempGuard(Some(tmp.clone()));
    file.write_all(contents)?;
    if mode != TEMP_MODE {
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    if let Some((uid, gid)) = owner {
        // Keep the owner. Only root can give a file away; for everyone else it already matches.
        if let Err(e) = std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
            && e.kind() != io::ErrorKind::PermissionDenied
        {
            return Err(e);
        }
    }
    file.sync_all()?;
    drop(file);
    pause_hook();
    match commit {
        Commit::Rename => {
            fs::rename(&tmp, target)?;
            guard.0 = None;
        }
        Commit::Link => {
            fs::hard_link(&tmp, target)?;
            // The guard unlinks the temp name; the target keeps the data.
        }
    }
    drop(guard);
    sync_dir(parent(target))
}

/// A new, empty temp file beside `target`, opened `O_EXCL` with mode 0600.
fn create_temp(target: &Path) -> io::Result<(PathBuf, File)> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tag = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut tag);
    let tmp = parent(target).join(format!(
        ".{name}.{}.{}.homelab-tmp",
        std::process::id(),
        hex::encode(tag)
    ));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(TEMP_MODE)
        .open(&tmp)?;
    Ok((tmp, file))
}

/// Remove temp files an earlier, killed writer left beside `path`.
fn remove_stale_temps(path: &Path) {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(parent(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".homelab-tmp"))
        else {
            continue;
        };
        let pid = rest.split('.').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// fsync the folder so the rename itself survives a crash. Filesystems that cannot sync a
/// directory (EINVAL) are accepted.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        other => other,
    }
}

fn pause_hook() {
    if let Some(signal) = std::env::var_os(PAUSE_BEFORE_RENAME_ENV) {
        let _ = fs::write(&signal, b"paused\n");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn temps_in(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".homelab-tmp"))
            .collect()
    }

    #[test]
    fn replaces_content_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.env");
        fs::write(&path, "old\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"new\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(mode_of(&path), 0o640);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
    }

    #[test]
    fn new_files_get_0644() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.env");
        write_atomic(&path, b"x\n").unwrap();
        assert_eq!(mode_of(&path), 0o644);
    }

    /// The temp file is 0600 the moment it exists (before a byte is written), so a secret is
    /// never readable by others, not even for an instant; the final secret file is 0600 too,
    /// also when it replaces a world-readable one.
    #[test]
    fn secret_files_are_0600_from_creation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        let (tmp, file) = create_temp(&path).unwrap();
        assert_eq!(mode_of(&tmp), 0o600);
        assert_eq!(file.metadata().unwrap().len(), 0);
        drop(file);
        fs::remove_file(&tmp).unwrap();

        write(&path, b"secret\n", Mode::Secret).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write(&path, b"secret 2\n", Mode::Secret).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(fs::read_to_string(&path).unwrap(), "secret 2\n");
    }

    /// The rename fails (the target is a directory): the error comes back and no temp file
    /// stays behind.
    #[test]
    fn the_temp_file_is_removed_when_the_write_fails() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), "x").unwrap();
        assert!(write(&target, b"data", Mode::Secret).is_err());
        assert_eq!(temps_in(dir.path()), Vec::<String>::new());
        // create_new on an existing file: AlreadyExists, the file untouched, no temp left.
        let f = dir.path().join("identity");
        fs::write(&f, "original").unwrap();
        let err = create_new(&f, b"other", Mode::Secret).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&f).unwrap(), "original");
        assert_eq!(temps_in(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn create_new_makes_a_complete_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("keys.txt");
        create_new(&f, b"identity\n", Mode::Secret).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "identity\n");
        assert_eq!(mode_of(&f), 0o600);
        assert_eq!(temps_in(dir.path()), Vec::<String>::new());
    }

    /// A symlinked file keeps its link; the content lands in the file it points at, which keeps
    /// its own mode.
    #[test]
    fn a_symlink_is_written_through_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        fs::create_dir(&store).unwrap();
        let real = store.join("x.env");
        fs::write(&real, "old\n").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
        let repo = dir.path().join("repo");
        fs::create_dir(&repo).unwrap();
        let link = repo.join("x.env");
        std::os::unix::fs::symlink("../store/x.env", &link).unwrap();
        write_atomic(&link, b"new\n").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("../store/x.env"));
        assert_eq!(fs::read_to_string(&real).unwrap(), "new\n");
        assert_eq!(mode_of(&real), 0o600);
        assert_eq!(temps_in(&repo), Vec::<String>::new());
        assert_eq!(temps_in(&store), Vec::<String>::new());
        // A dangling link gets its target created.
        let dangling = repo.join("y.env");
        std::os::unix::fs::symlink("../store/y.env", &dangling).unwrap();
        write_atomic(&dangling, b"y\n").unwrap();
        assert_eq!(fs::read_to_string(store.join("y.env")).unwrap(), "y\n");
        assert!(
            fs::symlink_metadata(&dangling)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // A loop is an error, not a hang.
        let a = repo.join("a");
        let b = repo.join("b");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        assert!(write_atomic(&a, b"z").is_err());
    }
}
