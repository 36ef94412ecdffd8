//! Read-modify-write of an encrypted file without losing someone else's write. The file's hash
//! is remembered when it is read ([`Seen`]); a save takes the file's advisory lock (a sibling
//! `.NAME.lock`, see [`crate::lockfile`]), checks that the file is still what was read, and only
//! then replaces it. A file that changed meanwhile (`homelab env set` while the editor has it
//! open, sops, a text editor) is refused with [`SopsError::ChangedOnDisk`]; the caller reloads
//! or merges.

use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::atomic;
use super::error::{Result, SopsError};
use crate::lockfile::{self, LockError};

/// How long a save waits for another homelab's save of the same file (a few milliseconds of
/// encryption and an fsync; a holder that takes longer is reported by pid).
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// What a file held when it was read: the SHA-256 of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen([u8; 32]);

impl Seen {
    pub fn of(bytes: &[u8]) -> Seen {
        Seen(Sha256::digest(bytes).into())
    }
}

/// Read a file and remember what it held.
pub fn read(path: &Path) -> Result<(String, Seen)> {
    let bytes = std::fs::read(path).map_err(|e| SopsError::io(path, e))?;
    let seen = Seen::of(&bytes);
    let text = String::from_utf8(bytes).map_err(|e| {
        SopsError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
        )
    })?;
    Ok((text, seen))
}

/// Take the file's lock (waiting briefly for another save).
pub fn lock(path: &Path) -> Result<lockfile::Lock> {
    let what = format!("homelab writing {}", path.display());
    lockfile::lock_within(&lockfile::sibling(path), LOCK_WAIT, &what).map_err(|e| match e {
        LockError::Held { holder, .. } => SopsError::Locked {
            path: path.to_path_buf(),
            holder: holder.to_string(),
        },
        LockError::Io { path: lock, source } => SopsError::io(lock, source),
    })
}

/// Replace `path` with `contents` under its lock, if it still holds what `expected` says (no
/// check when `expected` is `None`: a new file, or one homelab did not read first). Returns
/// what the file holds now.
pub fn write_if_unchanged(path: &Path, expected: Option<Seen>, contents: &[u8]) -> Result<Seen> {
    let _lock = lock(path)?;
    if let Some(expected) = expected {
        let now = match std::fs::read(path) {
            Ok(bytes) => Some(Seen::of(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(SopsError::io(path, e)),
        };
        if now != Some(expected) {
            return Err(SopsError::ChangedOnDisk {
                path: path.to_path_buf(),
            });
        }
    }
    atomic::write_atomic(path, contents).map_err(|e| SopsError::io(path, e))?;
    Ok(Seen::of(contents))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_over_a_changed_file_is_refused_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.env");
        std::fs::write(&path, "A=1\n").unwrap();
        let (_, seen) = read(&path).unwrap();
        std::fs::write(&path, "A=2\n").unwrap();
        let e = write_if_unchanged(&path, Some(seen), b"A=3\n").unwrap_err();
        assert!(matches!(e, SopsError::ChangedOnDisk { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "A=2\n");
        let (_, seen) = read(&path).unwrap();
        let now = write_if_unchanged(&path, Some(seen), b"A=3\n").unwrap();
        assert_eq!(now, Seen::of(b"A=3\n"));
    }
}
