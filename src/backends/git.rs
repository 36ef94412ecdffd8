//! Git state through git2 (no network features: libgit2 is built from its bundled source).

use crate::domain::repo::{Change, DirtyFile, RepoStatus};
use git2::{Repository, Status, StatusOptions};
use std::path::Path;

/// Read branch, HEAD and changed files of the repository containing `path`. Blocking: call it
/// from `Task::blocking`.
pub fn status(path: &Path) -> Result<RepoStatus, String> {
    let repo = Repository::discover(path)
        .map_err(|e| format!("{}: not a git repository ({})", path.display(), e.message()))?;
    let root = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
    let (branch, head) = match repo.head() {
        Ok(head) => {
            let commit = head.peel_to_commit().ok();
            let short = commit.as_ref().map(|c| c.id().to_string()[..7].to_owned());
            let branch = if head.is_branch() {
                head.shorthand().unwrap_or("?").to_owned()
            } else {
                format!("HEAD (detached at {})", short.clone().unwrap_or_default())
            };
            let head = commit.map(|c| {
                (
                    c.id().to_string()[..7].to_owned(),
                    String::from_utf8_lossy(c.summary_bytes().unwrap_or_default()).into_owned(),
                )
            });
            (branch, head)
        }
        Err(e) if e.code() == git2::ErrorCode::UnbornBranch => {
            ("(no commits yet)".to_owned(), None)
        }
        Err(e) => {
            return Err(format!(
                "{}: cannot read HEAD ({})",
                root.display(),
                e.message()
            ));
        }
    };
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo
        .statuses(Some(&mut opts))
        .map_err(|e| format!("{}: git status failed ({})", root.display(), e.message()))?;
    let mut dirty: Vec<DirtyFile> = statuses
        .iter()
        .filter_map(|entry| {
            let s = entry.status();
            let change = if s.is_conflicted() {
                Change::Conflicted
            } else if s.intersects(Status::WT_NEW) && !s.intersects(Status::INDEX_NEW) {
                Change::Untracked
            } else if s.intersects(Status::INDEX_NEW) {
                Change::Added
            } else if s.intersects(Status::INDEX_DELETED | Status::WT_DELETED) {
                Change::Deleted
            } else if s.intersects(Status::INDEX_RENAMED | Status::WT_RENAMED) {
                Change::Renamed
            } else if s.intersects(
                Status::INDEX_MODIFIED
                    | Status::WT_MODIFIED
                    | Status::INDEX_TYPECHANGE
                    | Status::WT_TYPECHANGE,
            ) {
                Change::Modified
            } else {
                return None;
            };
            Some(DirtyFile {
                path: entry.path().unwrap_or("?").to_owned(),
                change,
            })
        })
        .collect();
    dirty.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(RepoStatus {
        root,
        branch,
        head,
        dirty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn reads_branch_head_and_dirty_files_of_a_real_repo() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let st = status(dir.path()).unwrap();
        assert_eq!(st.branch, "(no commits yet)");
        assert_eq!(st.head, None);

        fs::write(dir.path().join("a.txt"), "one\n").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("a.txt")).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "first commit", &tree, &[])
            .unwrap();

        fs::write(dir.path().join("a.txt"), "two\n").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/new.txt"), "x").unwrap();
        let st = status(&dir.path().join("sub")).unwrap();
        let branch = repo.head().unwrap().shorthand().unwrap().to_owned();
        assert_eq!(st.branch, branch);
        assert_eq!(st.head.as_ref().map(|h| h.1.as_str()), Some("first commit"));
        assert_eq!(
            st.dirty,
            vec![
                DirtyFile {
                    path: "a.txt".into(),
                    change: Change::Modified
                },
                DirtyFile {
                    path: "sub/new.txt".into(),
                    change: Change::Untracked
                },
            ]
        );
    }

    #[test]
    fn not_a_repository_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = status(dir.path()).unwrap_err();
        assert!(err.contains("not a git repository"), "{err}");
    }
}
