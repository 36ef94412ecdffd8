//! Where the command line's repository and cluster are, and the paths every layer derives
//! from them. The one place that turns `--repo` / `--cluster` (or the working directory) into a
//! repository root and a cluster file, and the one builder of the env-file path.

use super::load::{CLUSTERS_DIR, choose_cluster, find_repo_root, load_cluster};
use super::schema::ClusterConfig;
use std::path::{Path, PathBuf};

/// The folder, relative to the repository root, that holds the SOPS-encrypted env files.
pub const ENV_DIR: &str = "config/env";

/// The cluster's encrypted env file: `config/env/<cluster>.env` under `repo`.
pub fn env_file(repo: &Path, cluster: &str) -> PathBuf {
    repo.join(ENV_DIR).join(format!("{cluster}.env"))
}

/// The cluster's definition: `config/clusters/<cluster>.yaml` under `repo`.
pub fn cluster_file(repo: &Path, cluster: &str) -> PathBuf {
    repo.join(CLUSTERS_DIR).join(format!("{cluster}.yaml"))
}

/// The repository root: walked up from `--repo` when given, else from the working directory.
pub fn repo_root(repo: Option<&Path>) -> Result<PathBuf, String> {
    match repo {
        Some(r) => find_repo_root(r).map_err(|_| {
            format!(
                "--repo {}: no {CLUSTERS_DIR}/ folder there or above it",
                r.display()
            )
        }),
        None => {
            let cwd = std::env::current_dir()
                .map_err(|e| format!("cannot read the working directory: {e}"))?;
            find_repo_root(&cwd)
        }
    }
}

/// The repository root and the cluster file chosen by `--repo` / `--cluster` (or their
/// defaults). The error is the message to print.
pub fn repo_and_cluster(
    repo: Option<&Path>,
    cluster: Option<&str>,
) -> Result<(PathBuf, PathBuf), String> {
    let root = repo_root(repo)?;
    let file = choose_cluster(&root, cluster)?;
    Ok((root, file))
}

/// The validated cluster definition in `file`, or one message listing every problem as
/// `file:line:column: field: ...` lines.
pub fn valid_cluster(repo: &Path, file: &Path) -> Result<ClusterConfig, String> {
    let loaded = load_cluster(repo, file);
    loaded.config.map_err(|diags| {
        let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
        format!(
            "{} does not load ({} problem{}):\n{}",
            loaded.display,
            diags.len(),
            if diags.len() == 1 { "" } else { "s" },
            lines.join("\n")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_cluster_lists_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let clusters = dir.path().join(CLUSTERS_DIR);
        std::fs::create_dir_all(&clusters).unwrap();
        let good = include_str!("../../tests/fixtures/clusters/prox-n100.yaml");
        std::fs::write(clusters.join("prox-n100.yaml"), good).unwrap();
        let (repo, file) = repo_and_cluster(Some(dir.path()), None).unwrap();
        assert_eq!(repo, dir.path().canonicalize().unwrap());
        assert_eq!(valid_cluster(&repo, &file).unwrap().vms.len(), 3);
        assert_eq!(
            env_file(&repo, "prox-n100"),
            repo.join("config/env/prox-n100.env")
        );

        let bad = good
            .replace("vmid: 212", "vmid: 9000")
            .replace("version: v2.7.3", "version: 2.7");
        std::fs::write(clusters.join("prox-n100.yaml"), bad).unwrap();
        let (repo, file) = repo_and_cluster(Some(dir.path()), Some("prox-n100")).unwrap();
        assert_eq!(
            valid_cluster(&repo, &file).unwrap_err(),
            "config/clusters/prox-n100.yaml does not load (2 problems):\n\
             config/clusters/prox-n100.yaml:41:63: vms[2].vmid: 9000 is the template's vmid; expected a vmid not used by template.vmid\n\
             config/clusters/prox-n100.yaml:55:12: flux.version: `2.7` is not a Flux release; expected vMAJOR.MINOR.PATCH, e.g. v2.7.3"
        );
    }

    #[test]
    fn a_wrong_repo_flag_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = repo_root(Some(dir.path())).unwrap_err();
        assert!(err.starts_with("--repo "), "{err}");
        assert!(err.ends_with("no config/clusters/ folder there or above it"));
    }
}
