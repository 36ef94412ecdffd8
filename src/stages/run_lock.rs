//! One bootstrap run per cluster at a time. Two runs against the same cluster would split the
//! steps between them (both see a step as not done, both clone, both start tasks), so a run -
//! `homelab bootstrap --yes` or the wizard's run - holds `<state dir>/<cluster>/run.lock` (see
//! [`crate::lockfile`]) from before its first stage until it ends, and a second run is refused
//! with the holder's pid, start time and command.

use super::engine::{Journal, StageError};
use crate::lockfile::{self, Lock, LockError};

/// Where the run lock of `cluster` lives: beside its journal.
pub fn path_for(cluster: &str) -> std::io::Result<std::path::PathBuf> {
    let journal = Journal::path_for(cluster)?;
    Ok(journal.with_file_name("run.lock"))
}

/// Take the run lock of `cluster` now, or say who holds it.
pub fn lock_cluster(cluster: &str) -> Result<Lock, StageError> {
    let path = path_for(cluster).map_err(|e| {
        StageError::new(format!("run lock: {e}"))
            .with_hint("set HOMELAB_STATE_DIR to a writable directory")
    })?;
    // The bootstrap command line holds flags, stage and step names, paths: no secrets.
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    lockfile::try_lock(&path, &command).map_err(|e| match e {
        LockError::Held { holder, .. } => StageError::new(format!(
            "another bootstrap of cluster `{cluster}` is running ({holder}); nothing was done"
        ))
        .with_hint(format!(
            "wait for it to finish, or stop it; the lock is {} and goes away with that process",
            path.display()
        )),
        LockError::Io { path, source } => {
            StageError::new(format!("run lock {}: {source}", path.display()))
                .with_hint("set HOMELAB_STATE_DIR to a writable directory")
        }
    })
}
