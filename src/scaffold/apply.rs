//! Writing a plan for real, shared by `homelab scaffold app` and the form screen: the checks
//! before anything is written ([`ready`]), then write, `homelab check` on the result and the
//! commit ([`apply`]). Blocking (files, git2): call it from a blocking task.

use super::plan::Plan;
use super::{commit, commit_message};
use crate::repo::check::{self, Report};
use crate::repo::tree::Tree;
use std::path::Path;

/// Why the plan may not be written; nothing was.
#[derive(Debug)]
pub enum NotReady {
    /// The tree already fails `homelab check`: the report, so the scaffold's own check speaks
    /// about the app only.
    TreeFails(Box<Report>),
    /// Anything else (no repository, no author, an edited file with changes of its own).
    Refused(String),
}

impl NotReady {
    /// One line for a message (the report itself is shown by the caller).
    pub fn summary(&self) -> String {
        match self {
            NotReady::TreeFails(r) => format!(
                "the tree already fails `homelab check` ({} violations); fix those first, so the scaffold's check speaks about the app only. Nothing was written.",
                r.violations.len()
            ),
            NotReady::Refused(m) => m.clone(),
        }
    }
}

/// Before writing: the tree passes `homelab check`, and with `commit`, the repository has an
/// author and the files the plan edits have no changes of their own.
pub fn ready(root: &Path, tree: &Tree, plan: &Plan, commit: bool) -> Result<(), NotReady> {
    let before = check::check_tree(tree);
    if !before.ok() {
        return Err(NotReady::TreeFails(Box::new(before)));
    }
    if !commit {
        return Ok(());
    }
    let edited: Vec<String> = plan
        .files
        .iter()
        .filter(|f| f.old.is_some())
        .map(|f| f.rel.clone())
        .collect();
    commit::ensure_clean(root, &edited).map_err(NotReady::Refused)?;
    let repo = git2::Repository::open(root).map_err(|e| {
        NotReady::Refused(format!(
            "{}: not a git repository ({}); the scaffold commits its files",
            root.display(),
            e.message()
        ))
    })?;
    commit::signature(&repo).map_err(NotReady::Refused)?;
    Ok(())
}

/// What writing the plan came to.
#[derive(Debug)]
pub enum Applied {
    /// Written, checked and committed: the commit.
    Committed { written: Vec<String>, id: git2::Oid },
    /// Written and checked; not committed because the caller asked so.
    Written { written: Vec<String> },
    /// Written, but the result fails `homelab check`: nothing was committed.
    CheckFails {
        written: Vec<String>,
        report: Box<Report>,
    },
    /// Written and checked, but git could not commit: why.
    CommitFailed { written: Vec<String>, error: String },
}

impl Applied {
    pub fn written(&self) -> &[String] {
        match self {
            Applied::Committed { written, .. }
            | Applied::Written { written }
            | Applied::CheckFails { written, .. }
            | Applied::CommitFailed { written, .. } => written,
        }
    }
}

/// Write the plan, run `homelab check` on the result and, with `commit` and a passing check,
/// commit exactly the plan's files as "apps: add <name>". An `Err` is a failed write (the
/// message lists what was already written) or an unreadable tree after the write.
pub fn apply(root: &Path, plan: &Plan, commit: bool) -> Result<Applied, String> {
    let written = plan.write(root)?;
    let report = check::run(root).map_err(|e| e.to_string())?;
    if !report.ok() {
        return Ok(Applied::CheckFails {
            written,
            report: Box::new(report),
        });
    }
    if !commit {
        return Ok(Applied::Written { written });
    }
    let rels: Vec<String> = plan.files.iter().map(|f| f.rel.clone()).collect();
    match commit::commit(root, &rels, &commit_message(&plan.name)) {
        Ok(id) => Ok(Applied::Committed { written, id }),
        Err(error) => Ok(Applied::CommitFailed { written, error }),
    }
}

/// The last file of the plan (the group kustomization), to restore after a failed check.
pub fn restore_hint(plan: &Plan) -> String {
    format!(
        "remove {} and restore {}",
        plan.folder,
        plan.files.last().map(|f| f.rel.as_str()).unwrap_or("")
    )
}
