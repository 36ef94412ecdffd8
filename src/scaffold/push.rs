//! Pushing the scaffold's commit to the repository Flux follows, over the Flux stage's path
//! (`backends::git_push`: git2 on our russh transport). Only when HEAD is on the branch Flux
//! follows: the commit landed on HEAD, and pushing another branch would not reach Flux.

use crate::backends::git_push::{self, SshAccess};
use std::path::Path;

/// Push HEAD's branch to `url` when it is `branch`; the line to show, or why not.
pub async fn push(
    root: &Path,
    url: &str,
    branch: &str,
    access: SshAccess,
) -> Result<String, String> {
    let head = head_branch(root)?;
    if head != branch {
        return Err(format!(
            "HEAD is on `{head}`, but Flux follows `{branch}` (flux.branch in the cluster definition); merge the commit into {branch} and push it yourself"
        ));
    }
    let pushed = git_push::push(root, url, branch, access)
        .await
        .map_err(|e| e.to_string())?;
    let id = pushed.head.to_string();
    Ok(format!(
        "pushed {} to {branch} at {url}",
        &id[..id.len().min(12)]
    ))
}

/// The branch HEAD is on (`HEAD` when detached).
fn head_branch(root: &Path) -> Result<String, String> {
    let repo = git2::Repository::open(root)
        .map_err(|e| format!("{}: not a git repository ({})", root.display(), e.message()))?;
    let head = repo
        .head()
        .map_err(|e| format!("{}: reading HEAD: {}", root.display(), e.message()))?;
    Ok(if head.is_branch() {
        head.shorthand().unwrap_or("HEAD").to_string()
    } else {
        "HEAD".to_string()
    })
}
