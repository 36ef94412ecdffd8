//! Commit and push the GitOps repository with git2, over our own SSH (russh).
//!
//! - [`diff_text`]: what a commit of `paths` would record, as a unified diff (show it first).
//! - [`commit`]: commit `paths` with the author from the git config; `Ok(None)` when nothing
//!   changed (never an empty commit).
//! - [`push`]: push a branch to an `ssh://` or `user@host:path` remote. The bytes travel over
//!   a git2 custom transport ([`transport`]) on `backends::ssh`: the operator's ssh_config,
//!   agent and keys, ProxyCommand/ProxyJump, and our host-key trust (a changed key stops the
//!   push). Why this and not libgit2's own libssh2 transport: docs/architecture.md, "Git push".
//!
//! Blocking functions ([`diff_text`], [`commit`]) belong in `Task::blocking`; [`push`] is async
//! and runs libgit2 on a blocking thread itself.

mod transport;

use super::ssh::{Prompter, SshEnv, SshError};
use git2::{DiffFormat, DiffOptions, IndexAddOption, Oid, Repository};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use transport::{RemoteUrl, parse_url};

/// The diff text is cut here (the rest is summarised in one line).
pub const DIFF_CAP: usize = 4 << 20;
/// Lines the remote prints (hooks, `remote: ...`) kept for an error.
const REMOTE_LINES_CAP: usize = 64 * 1024;

/// Something went wrong in the local repository. Messages name the repository and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{repo}: not a git repository ({message}); run `git init` there or pass --repo")]
    Open { repo: PathBuf, message: String },
    #[error(
        "{repo}: git has no author: {message}. Set it with `git config --global user.name \"Your Name\"` \
         and `git config --global user.email you@example.org` (or in the repository without --global)"
    )]
    NoAuthor { repo: PathBuf, message: String },
    #[error("{repo}: {step}: {message}")]
    Git {
        repo: PathBuf,
        step: &'static str,
        message: String,
    },
}

fn open(repo: &Path) -> Result<Repository, GitError> {
    Repository::open(repo).map_err(|e| GitError::Open {
        repo: repo.to_path_buf(),
        message: e.message().to_string(),
    })
}

fn step<'a>(repo: &'a Path, step: &'static str) -> impl Fn(git2::Error) -> GitError + 'a {
    move |e| GitError::Git {
        repo: repo.to_path_buf(),
        step,
        message: e.message().to_string(),
    }
}

/// The unified diff between HEAD and the working tree for `paths` (pathspecs relative to the
/// repository root; empty = everything), untracked files included, as a commit of the same
/// paths would record it. Raw text from files: sanitize before printing it to a terminal.
pub fn diff_text(repo_path: &Path, paths: &[&str]) -> Result<String, GitError> {
    let repo = open(repo_path)?;
    let head_tree = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
    let mut opts = DiffOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true);
    for p in paths {
        opts.pathspec(p);
    }
    let diff = repo
        .diff_tree_to_workdir_with_index(head_tree.as_ref(), Some(&mut opts))
        .map_err(step(repo_path, "computing the diff"))?;
    let mut text = String::new();
    let mut cut = false;
    diff.print(DiffFormat::Patch, |_, _, line| {
        if text.len() >= DIFF_CAP {
            cut = true;
            return false;
        }
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin());
        }
        text.push_str(&String::from_utf8_lossy(line.content()));
        true
    })
    .or_else(|e| {
        if cut {
            Ok(())
        } else {
            Err(step(repo_path, "printing the diff")(e))
        }
    })?;
    if cut {
        text.push_str(&format!(
            "\n[diff cut at {} MiB; see `git diff` in {}]\n",
            DIFF_CAP >> 20,
            repo_path.display()
        ));
    }
    Ok(text)
}

/// Stage `paths` (pathspecs; additions, changes and deletions) and commit them on the current
/// branch with the author and committer from the git config (`user.name`, `user.email`).
/// Returns the new commit, or `None` when the staged tree equals HEAD's (no empty commits).
pub fn commit(repo_path: &Path, paths: &[&str], message: &str) -> Result<Option<Oid>, GitError> {
    let repo = open(repo_path)?;
    let signature = repo.signature().map_err(|e| GitError::NoAuthor {
        repo: repo_path.to_path_buf(),
        message: e.message().to_string(),
    })?;
    let mut index = repo.index().map_err(step(repo_path, "reading the index"))?;
    let specs: Vec<&str> = if paths.is_empty() {
        vec!["."]
    } else {
        paths.to_vec()
    };
    index
        .add_all(specs.iter(), IndexAddOption::DEFAULT, None)
        .map_err(step(repo_path, "staging files"))?;
    index
        .update_all(specs.iter(), None)
        .map_err(step(repo_path, "staging deletions"))?;
    let tree_id = index
        .write_tree()
        .map_err(step(repo_path, "writing the tree"))?;
    let parent = match repo.head() {
        Ok(h) => Some(
            h.peel_to_commit()
                .map_err(step(repo_path, "reading HEAD"))?,
        ),
        Err(e) if e.code() == git2::ErrorCode::UnbornBranch => None,
        Err(e) => return Err(step(repo_path, "reading HEAD")(e)),
    };
    let empty_tree = repo
        .treebuilder(None)
        .and_then(|b| b.write())
        .map_err(step(repo_path, "writing the tree"))?;
    let unchanged = match &parent {
        Some(p) => p.tree_id() == tree_id,
        None => tree_id == empty_tree,
    };
    if unchanged {
        return Ok(None);
    }
    index
        .write()
        .map_err(step(repo_path, "writing the index"))?;
    let tree = repo
        .find_tree(tree_id)
        .map_err(step(repo_path, "reading the tree"))?;
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let oid = repo
        .commit(
            Some("HEAD"),
            &signature,
            &signature,
            message,
            &tree,
            &parents,
        )
        .map_err(step(repo_path, "committing"))?;
    Ok(Some(oid))
}

/// How to reach the git host over SSH.
#[derive(Clone)]
pub struct SshAccess {
    pub env: Arc<SshEnv>,
    /// Asked to trust an unknown host key (never asked about a changed one: that stops).
    pub prompter: Arc<dyn Prompter>,
    /// A key file to try before the ssh_config ones (like `ssh -i`).
    pub identity_file: Option<String>,
}

/// What a successful push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub branch: String,
    /// The commit the remote branch now points to.
    pub head: Oid,
    /// What the remote printed (hooks, `remote: ...`), raw: sanitize before printing.
    pub remote_lines: String,
}

/// Why a push did not land. Messages name the remote and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{0}")]
    Local(#[from] GitError),
    #[error("{url}: {0}", url = .1)]
    Ssh(SshError, String),
    #[error("{url}: {message}; use ssh://[user@]host[:port]/path or user@host:path")]
    BadUrl { url: String, message: String },
    #[error(
        "{url}: the remote refused {refname}: {reason}.{remote} Fix what the remote's hook or \
         policy asks for, or push to a branch it accepts"
    )]
    Rejected {
        url: String,
        refname: String,
        reason: String,
        /// `" The remote said: ..."` or empty.
        remote: String,
    },
    #[error(
        "{url}: {branch} on the remote has commits this repository does not have (non-fast-forward): \
         {message}. Fetch and rebase onto it (`git pull --rebase {url} {branch}`), then run again; \
         homelab never force-pushes"
    )]
    NonFastForward {
        url: String,
        branch: String,
        message: String,
    },
    #[error("{url}: push failed: {message}{remote}")]
    Failed {
        url: String,
        message: String,
        /// `" The remote said: ..."` or empty.
        remote: String,
    },
}

fn remote_said(lines: &str) -> String {
    let t = lines.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(" The remote said: {}", t.replace('\n', " | "))
    }
}

/// Push the local `branch` to the same branch at `url` (never forced). Host keys go through
/// `access.prompter` and the operator's known_hosts; a changed key stops the push.
pub async fn push(
    repo_path: &Path,
    url: &str,
    branch: &str,
    access: SshAccess,
) -> Result<Pushed, PushError> {
    parse_url(url).map_err(|message| PushError::BadUrl {
        url: url.to_string(),
        message,
    })?;
    let repo_path = repo_path.to_path_buf();
    let url = url.to_string();
    let branch = branch.to_string();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || push_blocking(&repo_path, &url, &branch, access, rt))
        .await
        .map_err(|e| PushError::Failed {
            url: String::new(),
            message: format!("the push task stopped: {e}"),
            remote: String::new(),
        })?
}

fn push_blocking(
    repo_path: &Path,
    url: &str,
    branch: &str,
    access: SshAccess,
    rt: tokio::runtime::Handle,
) -> Result<Pushed, PushError> {
    transport::register()?;
    let repo = open(repo_path)?;
    let refname = format!("refs/heads/{branch}");
    let head = repo
        .refname_to_id(&refname)
        .map_err(step(repo_path, "finding the branch to push"))?;
    let mut remote = repo
        .remote_anonymous(url)
        .map_err(step(repo_path, "setting up the remote"))?;
    let remote_lines = Arc::new(Mutex::new(String::new()));
    let rejected: Arc<Mutex<Option<(String, String)>>> = Arc::default();
    let ctx = transport::Context::new(access, rt, remote_lines.clone());
    let _guard = ctx.install();
    let mut callbacks = git2::RemoteCallbacks::new();
    let lines = remote_lines.clone();
    callbacks.sideband_progress(move |data| {
        transport::append_capped(&lines, &String::from_utf8_lossy(data), REMOTE_LINES_CAP);
        true
    });
    let rej = rejected.clone();
    callbacks.push_update_reference(move |name, status| {
        if let Some(reason) = status {
            *rej.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((name.to_string(), reason.to_string()));
        }
        Ok(())
    });
    let mut opts = git2::PushOptions::new();
    opts.remote_callbacks(callbacks);
    let spec = format!("{refname}:{refname}");
    let result = remote.push(&[spec.as_str()], Some(&mut opts));
    let said = remote_lines.lock().map(|l| l.clone()).unwrap_or_default();
    if let Some(e) = ctx.take_ssh_error() {
        return Err(PushError::Ssh(e, url.to_string()));
    }
    if let Err(e) = result {
        if e.code() == git2::ErrorCode::NotFastForward {
            return Err(PushError::NonFastForward {
                url: url.to_string(),
                branch: branch.to_string(),
                message: e.message().to_string(),
            });
        }
        return Err(PushError::Failed {
            url: url.to_string(),
            message: e.message().to_string(),
            remote: remote_said(&said),
        });
    }
    let rejected = rejected.lock().map(|r| r.clone()).unwrap_or_default();
    if let Some((refname, reason)) = rejected {
        return Err(PushError::Rejected {
            url: url.to_string(),
            refname,
            reason,
            remote: remote_said(&said),
        });
    }
    Ok(Pushed {
        branch: branch.to_string(),
        head,
        remote_lines: said,
    })
}

/// The commit `branch` points to at `url` (`None`: the remote has no such branch), as
/// `git ls-remote` lists it, over the same SSH as [`push`]. The Flux stage asks this to know
/// whether its commit is already pushed, and its preflight to know the remote answers.
pub async fn remote_head(
    repo_path: &Path,
    url: &str,
    branch: &str,
    access: SshAccess,
) -> Result<Option<Oid>, PushError> {
    parse_url(url).map_err(|message| PushError::BadUrl {
        url: url.to_string(),
        message,
    })?;
    let repo_path = repo_path.to_path_buf();
    let url = url.to_string();
    let branch = branch.to_string();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        transport::register()?;
        let repo = open(&repo_path)?;
        let mut remote = repo
            .remote_anonymous(&url)
            .map_err(step(&repo_path, "setting up the remote"))?;
        let lines = Arc::new(Mutex::new(String::new()));
        let ctx = transport::Context::new(access, rt, lines.clone());
        let _guard = ctx.install();
        let connected = remote.connect(git2::Direction::Push);
        if let Some(e) = ctx.take_ssh_error() {
            return Err(PushError::Ssh(e, url.clone()));
        }
        let said = lines.lock().map(|l| l.clone()).unwrap_or_default();
        let failed = |e: git2::Error| PushError::Failed {
            url: url.clone(),
            message: format!("listing the remote's branches: {}", e.message()),
            remote: remote_said(&said),
        };
        connected.map_err(failed)?;
        let want = format!("refs/heads/{branch}");
        let head = remote
            .list()
            .map_err(failed)?
            .iter()
            .find(|h| h.name() == want)
            .map(|h| h.oid());
        let _ = remote.disconnect();
        Ok(head)
    })
    .await
    .map_err(|e| PushError::Failed {
        url: String::new(),
        message: format!("the ls-remote task stopped: {e}"),
        remote: String::new(),
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with_author(dir: &Path) -> Repository {
        let repo = Repository::init(dir).unwrap();
        let mut cfg = repo.config().unwrap();
        cfg.set_str("user.name", "Op Erator").unwrap();
        cfg.set_str("user.email", "op@example.org").unwrap();
        repo
    }

    #[test]
    fn commit_records_changes_with_the_configured_author_and_never_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with_author(dir.path());
        std::fs::create_dir_all(dir.path().join("cluster")).unwrap();
        std::fs::write(dir.path().join("cluster/a.yaml"), "a: 1\n").unwrap();
        std::fs::write(dir.path().join("other.txt"), "not mine\n").unwrap();

        let diff = diff_text(dir.path(), &["cluster"]).unwrap();
        assert!(diff.contains("+a: 1"), "{diff}");
        assert!(diff.contains("cluster/a.yaml"), "{diff}");
        assert!(!diff.contains("other.txt"), "only the asked paths: {diff}");

        let first = commit(dir.path(), &["cluster"], "flux: first").unwrap();
        let first = first.expect("a change makes a commit");
        let c = repo.find_commit(first).unwrap();
        assert_eq!(c.author().name().ok(), Some("Op Erator"));
        assert_eq!(c.author().email().ok(), Some("op@example.org"));
        assert!(c.tree().unwrap().get_path(Path::new("other.txt")).is_err());

        assert_eq!(commit(dir.path(), &["cluster"], "again").unwrap(), None);
        assert!(diff_text(dir.path(), &["cluster"]).unwrap().is_empty());

        std::fs::write(dir.path().join("cluster/a.yaml"), "a: 2\n").unwrap();
        let diff = diff_text(dir.path(), &["cluster"]).unwrap();
        assert!(diff.contains("-a: 1") && diff.contains("+a: 2"), "{diff}");
        let second = commit(dir.path(), &["cluster"], "flux: second")
            .unwrap()
            .unwrap();
        assert_eq!(
            repo.find_commit(second).unwrap().parent_id(0).unwrap(),
            first
        );

        std::fs::remove_file(dir.path().join("cluster/a.yaml")).unwrap();
        let third = commit(dir.path(), &["cluster"], "flux: removed")
            .unwrap()
            .unwrap();
        let tree = repo.find_commit(third).unwrap().tree().unwrap();
        assert!(tree.get_path(Path::new("cluster/a.yaml")).is_err());
    }

    #[test]
    fn an_empty_first_commit_is_refused_and_a_missing_author_says_how_to_set_it() {
        let dir = tempfile::tempdir().unwrap();
        repo_with_author(dir.path());
        assert_eq!(commit(dir.path(), &[], "nothing").unwrap(), None);

        let bare = tempfile::tempdir().unwrap();
        let repo = Repository::init(bare.path()).unwrap();
        // A config of its own with no identity (the test machine's global one is not read).
        let mut cfg = repo.config().unwrap();
        cfg.set_str("user.name", "").unwrap();
        cfg.set_str("user.email", "").unwrap();
        std::fs::write(bare.path().join("f"), "x").unwrap();
        match commit(bare.path(), &[], "m") {
            Err(e @ GitError::NoAuthor { .. }) => {
                assert!(
                    e.to_string().contains("git config --global user.name"),
                    "{e}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
