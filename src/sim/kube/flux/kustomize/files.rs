//! Where a build reads its files: a commit of a git repository (the artifact of a
//! GitRepository) or a folder on disk. Paths are relative to the root, `/`-separated.

use std::path::{Path, PathBuf};

/// The largest file a build reads (the real controller refuses artifacts far below this).
pub const MAX_FILE: usize = 8 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    File,
    Dir,
}

pub trait Files {
    /// What `path` is, None when it does not exist.
    fn entry(&self, path: &str) -> Option<Entry>;
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;
}

/// The tree of one commit.
pub struct GitTree<'r> {
    tree: git2::Tree<'r>,
    repo: &'r git2::Repository,
}

impl<'r> GitTree<'r> {
    pub fn new(repo: &'r git2::Repository, commit: git2::Oid) -> Result<GitTree<'r>, String> {
        let tree = repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| format!("commit {commit}: {}", e.message()))?;
        Ok(GitTree { tree, repo })
    }
}

impl Files for GitTree<'_> {
    fn entry(&self, path: &str) -> Option<Entry> {
        if path.is_empty() {
            return Some(Entry::Dir);
        }
        let e = self.tree.get_path(Path::new(path)).ok()?;
        match e.kind() {
            Some(git2::ObjectType::Tree) => Some(Entry::Dir),
            Some(git2::ObjectType::Blob) => Some(Entry::File),
            _ => None,
        }
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        let e = self
            .tree
            .get_path(Path::new(path))
            .map_err(|_| format!("{path}: no such file"))?;
        let blob = self
            .repo
            .find_blob(e.id())
            .map_err(|_| format!("{path}: not a file"))?;
        if blob.size() > MAX_FILE {
            return Err(format!("{path}: larger than {MAX_FILE} bytes"));
        }
        Ok(blob.content().to_vec())
    }
}

/// A folder on disk (tests; a checkout).
pub struct Dir(pub PathBuf);

impl Files for Dir {
    fn entry(&self, path: &str) -> Option<Entry> {
        let meta = std::fs::symlink_metadata(self.0.join(path)).ok()?;
        if meta.is_dir() {
            Some(Entry::Dir)
        } else if meta.is_file() {
            Some(Entry::File)
        } else {
            None
        }
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        let full = self.0.join(path);
        let len = std::fs::metadata(&full)
            .map_err(|e| format!("{path}: {e}"))?
            .len();
        if len > MAX_FILE as u64 {
            return Err(format!("{path}: larger than {MAX_FILE} bytes"));
        }
        std::fs::read(&full).map_err(|e| format!("{path}: {e}"))
    }
}
