//! The scaffold's commit, through git2: HEAD's tree plus exactly the plan's files (whatever
//! else is staged or changed stays out), the author and committer from the git config, and the
//! index updated for those files so `git status` shows them committed.

use git2::{IndexEntry, IndexTime, Repository, Signature};
use std::path::Path;

/// Refuse early when a file the plan edits has changes of its own that are not committed:
/// the scaffold's commit would carry them along.
pub fn ensure_clean(root: &Path, rels: &[String]) -> Result<(), String> {
    let repo = open(root)?;
    for rel in rels {
        match repo.status_file(Path::new(rel)) {
            Ok(s) if s.is_empty() => {}
            Ok(_) => {
                return Err(format!(
                    "{rel} has uncommitted changes; commit or stash them first, so the scaffold's commit holds only the app"
                ));
            }
            Err(e) if e.code() == git2::ErrorCode::NotFound => {}
            Err(e) => return Err(format!("{rel}: git status failed: {}", e.message())),
        }
    }
    Ok(())
}

fn open(root: &Path) -> Result<Repository, String> {
    Repository::open(root).map_err(|e| {
        format!(
            "{}: not a git repository ({}); the scaffold commits its files, or use --no-commit",
            root.display(),
            e.message()
        )
    })
}

/// The author from the git config (user.name, user.email), as `git commit` would take it.
pub fn signature(repo: &Repository) -> Result<Signature<'static>, String> {
    repo.signature().map_err(|e| {
        format!(
            "git has no author: set user.name and user.email (git config --global user.name \"...\"): {}",
            e.message()
        )
    })
}

/// Commit `rels` (files under `root`, as they are on disk) with `message` on HEAD. Returns the
/// new commit's id.
pub fn commit(root: &Path, rels: &[String], message: &str) -> Result<git2::Oid, String> {
    let repo = open(root)?;
    let g = |what: &str, e: git2::Error| format!("git: {what}: {}", e.message());
    let sig = signature(&repo)?;
    let head = match repo.head() {
        Ok(h) => Some(h.peel_to_commit().map_err(|e| g("read HEAD", e))?),
        Err(e) if e.code() == git2::ErrorCode::UnbornBranch => None,
        Err(e) => return Err(g("read HEAD", e)),
    };
    let mut index = git2::Index::new().map_err(|e| g("make an index", e))?;
    if let Some(h) = &head {
        let tree = h.tree().map_err(|e| g("read HEAD's tree", e))?;
        index
            .read_tree(&tree)
            .map_err(|e| g("read HEAD's tree", e))?;
    }
    for rel in rels {
        let bytes = crate::repo::file_read::read_regular(root, &root.join(rel))
            .map_err(|e| format!("{rel}: cannot read it back for the commit: {e}"))?;
        let blob = repo
            .blob(&bytes)
            .map_err(|e| g(&format!("store {rel}"), e))?;
        let entry = IndexEntry {
            ctime: IndexTime::new(0, 0),
            mtime: IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            file_size: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
            id: blob,
            flags: 0,
            flags_extended: 0,
            path: rel.as_bytes().to_vec(),
        };
        index.add(&entry).map_err(|e| g(&format!("add {rel}"), e))?;
    }
    let tree_id = index
        .write_tree_to(&repo)
        .map_err(|e| g("write the tree", e))?;
    let tree = repo.find_tree(tree_id).map_err(|e| g("find the tree", e))?;
    let parents: Vec<&git2::Commit> = head.iter().collect();
    let id = repo
        .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .map_err(|e| g("commit", e))?;
    // The working index: the committed files now match HEAD there too.
    let mut real = repo.index().map_err(|e| g("open the index", e))?;
    for rel in rels {
        real.add_path(Path::new(rel))
            .map_err(|e| g(&format!("stage {rel}"), e))?;
    }
    real.write().map_err(|e| g("write the index", e))?;
    Ok(id)
}
