//! Advisory locks between homelab processes: `flock(2)` on a lock file that is never replaced
//! or removed (a lock on a file that an atomic write renames over would protect nothing). The
//! holder writes who it is into the locked file - pid, start time, and a command the caller
//! gives (never the raw argv: `homelab env set FILE KEY VALUE` has a secret in it) - so a second
//! process can say who holds it. Released when the [`Lock`] is dropped or the process ends,
//! however it ends (the kernel drops flock locks with the last descriptor).
//!
//! The lock file's content is written in place, through the locked descriptor, not through the
//! atomic writer: replacing the file would replace the inode the lock is on. It holds no secret.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Who holds a lock, as it wrote itself into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holder {
    pub pid: Option<u32>,
    pub started: String,
    pub command: String,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(
                f,
                "pid {pid}, started {}, command `{}`",
                if self.started.is_empty() {
                    "?"
                } else {
                    &self.started
                },
                printable(&self.command)
            ),
            None => f.write_str("another process (it did not say which)"),
        }
    }
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it.
    Held { path: PathBuf, holder: Holder },
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Held { path, holder } => {
                write!(f, "{} is locked by {holder}", path.display())
            }
            LockError::Io { path, source } => {
                write!(f, "cannot lock {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for LockError {}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
}

impl Lock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Leave the file (removing it would race with a process about to lock it); say nobody
        // holds it any more.
        let _ = self.file.set_len(0);
    }
}

/// Keep control characters from a command line out of the terminal.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn this_process(command: &str) -> Holder {
    Holder {
        pid: Some(std::process::id()),
        started: jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        command: command.replace('\n', " "),
    }
}

fn parse_holder(text: &str) -> Holder {
    let mut h = Holder::default();
    for line in text.lines() {
        match line.split_once('=') {
            Some(("pid", v)) => h.pid = v.trim().parse().ok(),
            Some(("started", v)) => h.started = v.trim().to_string(),
            Some(("command", v)) => h.command = v.to_string(),
            _ => {}
        }
    }
    h
}

/// Take the lock at `path` now, or say who holds it. `command` says what this process is doing
/// (shown to a process that finds the lock taken; no secrets).
pub fn try_lock(path: &Path, command: &str) -> Result<Lock, LockError> {
    let io = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .map_err(io)?;
    // SAFETY: flock on a descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut text = String::new();
            let _ = (&file).take(4096).read_to_string(&mut text);
            return Err(LockError::Held {
                path: path.to_path_buf(),
                holder: parse_holder(&text),
            });
        }
        return Err(io(err));
    }
    let me = this_process(command);
    let record = format!(
        "pid={}\nstarted={}\ncommand={}\n",
        me.pid.unwrap_or_default(),
        me.started,
        me.command
    );
    file.set_len(0)
        .and_then(|_| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(record.as_bytes()))
        .map_err(io)?;
    Ok(Lock {
        file,
        path: path.to_path_buf(),
    })
}

/// Take the lock at `path`, waiting up to `wait` for a holder to finish (short read-modify-write
/// sections), then say who holds it.
pub fn lock_within(path: &Path, wait: Duration, command: &str) -> Result<Lock, LockError> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(5);
    loop {
        match try_lock(path, command) {
            Err(LockError::Held { .. }) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// The lock file that guards `file`: `.NAME.lock` beside it (same folder, so the same
/// filesystem and the same people can take it).
pub fn sibling(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = file.parent().unwrap_or(Path::new(""));
    dir.join(format!(".{name}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_is_free_after_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = try_lock(&path, "homelab test").unwrap();
        // flock locks belong to the open file description: a second open in this process
        // conflicts just as another process would.
        match try_lock(&path, "second") {
            Err(LockError::Held { holder, .. }) => {
                assert_eq!(holder.pid, Some(std::process::id()));
                assert!(!holder.started.is_empty());
                assert_eq!(holder.command, "homelab test");
            }
            other => panic!("{other:?}"),
        }
        drop(held);
        try_lock(&path, "third").unwrap();
    }

    #[test]
    fn the_sibling_is_hidden_beside_the_file() {
        assert_eq!(
            sibling(Path::new("config/env/a.env")),
            PathBuf::from("config/env/.a.env.lock")
        );
    }
}
