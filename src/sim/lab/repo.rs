//! The lab's temporary copy of the repository: a clone of the operator's (its committed
//! state), without the other clusters' definitions and env files (so nothing in the demo can
//! point at a real host), with config/clusters/demo.yaml committed on `main` and the tree's
//! cluster values (domain, node addresses) pointed at it ([`super::tree_values`]); and the git
//! host's bare repository cloned from it ([`publish`]), which the copy's `origin` names.

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
    // A clone of a checkout on `main` is on `main` already (and git refuses to move the
    // branch HEAD is on); any other branch gets a `main` at the same commit.
    let on_main = repo
        .head()
        .ok()
        .and_then(|h| h.name().ok().map(str::to_string))
        == Some("refs/heads/main".into());
    if !on_main {
        repo.branch("main", &head, true).map_err(git)?;
        repo.set_head("refs/heads/main").map_err(git)?;
    }
    repo.remote_delete("origin").ok();
    // The tree points at the demo cluster (its domain, its nodes), from the shipped definitions.
    if let Ok(entries) = std::fs::read_dir(dest.join("config/clusters")) {
        for e in entries.flatten() {
            let Ok(shipped) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            let pairs = super::tree_values::pairs(&shipped, cluster_yaml);
            super::tree_values::apply(dest, &pairs)?;
        }
    }
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
    let marker = dest.join(crate::config::LAB_MARKER);
    crate::atomic_write::write(
        &marker,
        LAB_NOTE.as_bytes(),
        crate::atomic_write::Mode::KeepOr(0o644),
    )
    .map_err(|e| format!("{}: {e}", marker.display()))?;
    commit_all(
        &repo,
        "demo: the demo cluster's definition, other clusters removed, the tree pointed at it",
    )
}

/// What the lab copy's marker says (`homelab check` reads its presence: the shipped
/// definition may be missing here).
const LAB_NOTE: &str = "# A `homelab demo` lab copy\n\n\
This repository is the temporary copy `homelab demo` made of homelab for its simulated lab.\n\
It holds one cluster definition, `config/clusters/demo.yaml`, whose every address is on\n\
loopback. The shipped definitions (`config/clusters/prox-n100.yaml` and its env file) are\n\
left out on purpose, so that nothing run here can reach the real hosts; `homelab check`\n\
knows this copy by this file and does not ask for them. The copy is removed when the demo\n\
exits.\n";

/// The git host's repository: a bare clone of the copy at `copy` in `bare` (the state the
/// operator's remote had before any stage ran), and `origin` of the copy set to `url`, the
/// URL the git host serves it at. Flux reads the bare repository: what it syncs is what was
/// pushed.
pub fn publish(copy: &Path, bare: &Path, url: &str) -> Result<(), String> {
    if let Some(parent) = bare.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    git2::build::RepoBuilder::new()
        .bare(true)
        .branch("main")
        .clone(&copy.display().to_string(), bare)
        .map_err(|e| format!("the demo's git host repository {}: {e}", bare.display()))?;
    let repo = git2::Repository::open(copy).map_err(git)?;
    repo.remote_delete("origin").ok();
    repo.remote("origin", url).map_err(git)?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A source checkout on `main` (a fresh clone of the project, as CI makes) and one on
    /// another branch both give a copy on `main` holding the demo definition.
    #[test]
    fn the_copy_is_on_main_whatever_branch_the_source_is_on() {
        for branch in ["main", "feature"] {
            let dir = tempfile::tempdir().unwrap();
            let src = dir.path().join("src");
            let repo = git2::Repository::init_opts(
                &src,
                git2::RepositoryInitOptions::new().initial_head(branch),
            )
            .unwrap();
            std::fs::create_dir_all(src.join("config/clusters")).unwrap();
            std::fs::write(src.join("config/clusters/real.yaml"), "x: 1\n").unwrap();
            let mut index = repo.index().unwrap();
            index
                .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
                .unwrap();
            let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
            let sig = git2::Signature::now("t", "t@example.org").unwrap();
            repo.commit(Some("HEAD"), &sig, &sig, "first", &tree, &[])
                .unwrap();
            let dest = dir.path().join("copy");
            prepare(&src, &dest, "name: demo\n").unwrap_or_else(|e| panic!("{branch}: {e}"));
            let copy = git2::Repository::open(&dest).unwrap();
            assert_eq!(
                copy.head().unwrap().name(),
                Ok("refs/heads/main"),
                "{branch}"
            );
            assert!(!dest.join("config/clusters/real.yaml").exists(), "{branch}");
            assert!(
                dest.join(format!(
                    "config/clusters/{}.yaml",
                    super::super::layout::CLUSTER
                ))
                .is_file()
            );
            // The git host's bare repository holds the copy's main; origin names its URL.
            let bare = dir.path().join("git/homelab.git");
            publish(&dest, &bare, "ssh://git@127.1.2.4:2222/homelab.git").unwrap();
            let b = git2::Repository::open_bare(&bare).unwrap();
            assert!(b.is_bare());
            assert_eq!(
                b.refname_to_id("refs/heads/main").unwrap(),
                copy.refname_to_id("refs/heads/main").unwrap()
            );
            assert_eq!(b.head().unwrap().name(), Ok("refs/heads/main"));
            assert_eq!(
                copy.find_remote("origin").unwrap().url(),
                Ok("ssh://git@127.1.2.4:2222/homelab.git")
            );
        }
    }
}
