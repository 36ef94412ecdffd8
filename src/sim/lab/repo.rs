//! The lab's temporary copy of the repository: a clone of the operator's (its committed
//! state), without the other clusters' definitions and env files (so nothing in the demo can
//! point at a real host), with config/clusters/demo.yaml committed on `main`.

use std::path::Path;

/// Clone `source` into `dest` and commit the demo cluster definition.
pub fn prepare(source: &Path, dest: &Path, cluster_yaml: &str) -> Result<(), String> {
    let from = source
        .canonicalize()
        .map_err(|e| format!("{}: {e}", source.display()))?;
    let repo = git2::build::RepoBuilder::new()
        .branch(&current_branch(&from).unwrap_or_else(|| "main".into()))
        .clone(&from.display().to_string(), dest)
        .or_else(|_| git2::Repository::clone(&from.display().to_string(), dest))
        .map_err(|e| {
            format!(
                "copying the repository {} to {}: {e}; the demo needs a git checkout of homelab \
                 (run it from one, or pass --repo)",
                from.display(),
                dest.display()
            )
        })?;
    // Flux syncs `main` (the cluster definition says so).
    let head = repo.head().and_then(|h| h.peel_to_commit()).map_err(git)?;
    repo.branch("main", &head, true).map_err(git)?;
    repo.set_head("refs/heads/main").map_err(git)?;
    repo.remote_delete("origin").ok();
    for dir in ["config/clusters", "config/env"] {
        let Ok(entries) = std::fs::read_dir(dest.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".env") {
                std::fs::remove_file(e.path()).map_err(|err| format!("{name}: {err}"))?;
            }
        }
    }
    let file = dest.join(format!("config/clusters/{}.yaml", super::layout::CLUSTER));
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    crate::atomic_write::write(
        &file,
        cluster_yaml.as_bytes(),
        crate::atomic_write::Mode::KeepOr(0o644),
    )
    .map_err(|e| format!("{}: {e}", file.display()))?;
    commit_all(
        &repo,
        "demo: the demo cluster's definition, other clusters removed",
    )
}

fn current_branch(repo: &Path) -> Option<String> {
    let r = git2::Repository::open(repo).ok()?;
    let h = r.head().ok()?;
    h.shorthand().ok().map(str::to_string)
}

fn git(e: git2::Error) -> String {
    format!("the demo's repository copy: {e}")
}

/// Stage every change (additions and removals) and commit it on HEAD.
pub fn commit_all(repo: &git2::Repository, message: &str) -> Result<(), String> {
    let mut index = repo.index().map_err(git)?;
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .map_err(git)?;
    index.update_all(["*"], None).map_err(git)?;
    index.write().map_err(git)?;
    let tree_id = index.write_tree().map_err(git)?;
    let tree = repo.find_tree(tree_id).map_err(git)?;
    let parent = repo.head().and_then(|h| h.peel_to_commit()).map_err(git)?;
    if parent.tree_id() == tree_id {
        return Ok(());
    }
    let sig = git2::Signature::now("homelab demo", "demo@demo.internal").map_err(git)?;
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[&parent])
        .map_err(git)?;
    Ok(())
}
