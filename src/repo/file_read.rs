//! Reading one file of the repository for `homelab check`, safely: only a regular file, only
//! inside the repository (a committed symlink may point inside it; one to `/dev/zero`,
//! `/dev/stdin` or another checkout is refused), never a FIFO or a device (opened non-blocking,
//! checked after the open, so nothing can be swapped in between), and at most
//! [`MAX_FILE_BYTES`].

use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest file `check` reads: far above any manifest or script, small enough to hold.
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// The bytes of `path`, a file found under `root`. Errors say why the file is refused.
pub fn read_regular(root: &Path, path: &Path) -> io::Result<Vec<u8>> {
    let mut target = path.to_path_buf();
    if fs::symlink_metadata(path)?.file_type().is_symlink() {
        let resolved = fs::canonicalize(path)?;
        let root = fs::canonicalize(root)?;
        if !resolved.starts_with(&root) {
            return Err(io::Error::other(format!(
                "it is a symlink to {}, outside the repository; check reads only files inside it (commit the file itself, or remove the link)",
                resolved.display()
            )));
        }
        target = resolved;
    }
    // O_NOFOLLOW: the path resolved above is the file opened; O_NONBLOCK: opening a FIFO does
    // not wait for a writer (the type check below then refuses it).
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&target)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(format!(
            "it is {}, not a regular file; check reads only regular files (remove it from the repository)",
            kind(&meta.file_type())
        )));
    }
    let too_big = || {
        io::Error::other(format!(
            "it is larger than {} MiB, the most check reads of one file",
            MAX_FILE_BYTES >> 20
        ))
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

fn kind(t: &fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::mpsc;
    use std::time::Duration;

    /// `read_regular` on another thread: a hang is a failure, not a stuck test run.
    fn read_within(root: &Path, path: &Path) -> io::Result<Vec<u8>> {
        let (tx, rx) = mpsc::channel();
        let (root, path) = (root.to_path_buf(), path.to_path_buf());
        std::thread::spawn(move || {
            let _ = tx.send(read_regular(&root, &path));
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("reading the file hung")
    }

    #[test]
    fn a_symlink_to_dev_zero_is_refused() {
        let repo = tempfile::tempdir().unwrap();
        let link = repo.path().join("zero.yaml");
        symlink("/dev/zero", &link).unwrap();
        let e = read_within(repo.path(), &link).unwrap_err().to_string();
        assert!(
            e.contains("symlink to /dev/zero, outside the repository"),
            "{e}"
        );
    }

    #[test]
    fn a_fifo_is_refused_without_hanging() {
        let repo = tempfile::tempdir().unwrap();
        let fifo = repo.path().join("pipe.yaml");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_within(repo.path(), &fifo).unwrap_err().to_string();
        assert!(e.contains("a FIFO, not a regular file"), "{e}");
    }

    #[test]
    fn a_symlink_escaping_the_repository_is_refused_one_inside_is_read() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("other.yaml");
        fs::write(&secret, "a: 1\n").unwrap();
        let repo = tempfile::tempdir().unwrap();
        let escape = repo.path().join("escape.yaml");
        symlink(&secret, &escape).unwrap();
        let e = read_within(repo.path(), &escape).unwrap_err().to_string();
        assert!(e.contains("outside the repository"), "{e}");
        let real = repo.path().join("real.yaml");
        fs::write(&real, "b: 2\n").unwrap();
        let inside = repo.path().join("inside.yaml");
        symlink("real.yaml", &inside).unwrap();
        assert_eq!(read_within(repo.path(), &inside).unwrap(), b"b: 2\n");
    }

    #[test]
    fn a_file_over_the_cap_is_refused() {
        let repo = tempfile::tempdir().unwrap();
        let big = repo.path().join("big.yaml");
        let f = fs::File::create(&big).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        let e = read_within(repo.path(), &big).unwrap_err().to_string();
        assert!(e.contains("larger than 8 MiB"), "{e}");
    }
}
