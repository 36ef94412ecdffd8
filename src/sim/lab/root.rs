//! The lab's directory: private (0700) under the system's temporary directory, removed with
//! everything in it when dropped.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

pub struct LabDir {
    path: PathBuf,
}

impl LabDir {
    /// A new, empty `homelab-demo-<random>` folder in `$TMPDIR` (or /tmp).
    pub fn create() -> std::io::Result<LabDir> {
        let base = std::env::temp_dir();
        let mut last = None;
        for _ in 0..16 {
            let path = base.join(format!("homelab-demo-{:016x}", rand::random::<u64>()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(LabDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free name")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LabDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
