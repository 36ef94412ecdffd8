//! Finding the repository and the cluster definition, and parsing it with located errors.

use super::schema::ClusterConfig;
use super::validate;
use crate::diag::Diagnostic;
use std::path::{Path, PathBuf};

/// The folder, relative to the repository root, that holds the cluster definitions.
pub const CLUSTERS_DIR: &str = "config/clusters";

/// A cluster definition file and what came of reading it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedCluster {
    /// The file stem (`prox-n100`).
    pub name: String,
    pub path: PathBuf,
    /// The path as diagnostics show it: relative to the repository root.
    pub display: String,
    pub config: Result<ClusterConfig, Vec<Diagnostic>>,
}

/// Walk up from `start` to the first folder holding `config/clusters/`.
pub fn find_repo_root(start: &Path) -> Result<PathBuf, String> {
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    for dir in start.ancestors() {
        if dir.join(CLUSTERS_DIR).is_dir() {
            return Ok(dir.to_path_buf());
        }
    }
    Err(format!(
        "no homelab repository found: none of {} or its parents holds {CLUSTERS_DIR}/. Run homelab inside the repository or pass --repo PATH.",
        start.display()
    ))
}

/// The names (file stems) of the cluster definitions in config/clusters/, sorted.
pub fn cluster_names(repo: &Path) -> Result<Vec<String>, String> {
    let dir = repo.join(CLUSTERS_DIR);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: cannot read ({e})", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The cluster file to use: `name` if given, else the only `*.yaml` in config/clusters/.
pub fn choose_cluster(repo: &Path, name: Option<&str>) -> Result<PathBuf, String> {
    let dir = repo.join(CLUSTERS_DIR);
    let names = cluster_names(repo)?;
    let file_of = |n: &str| {
        let yaml = dir.join(format!("{n}.yaml"));
        if yaml.is_file() {
            yaml
        } else {
            dir.join(format!("{n}.yml"))
        }
    };
    match name {
        Some(n) if names.iter().any(|x| x == n) => Ok(file_of(n)),
        Some(n) => Err(format!(
            "cluster `{n}` not found in {CLUSTERS_DIR}/ (available: {})",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        )),
        None => match names.as_slice() {
            [only] => Ok(file_of(only)),
            [] => Err(format!(
                "{CLUSTERS_DIR}/ holds no cluster definition (*.yaml); see docs/cluster-config.md"
            )),
            many => Err(format!(
                "{CLUSTERS_DIR}/ holds several clusters; choose one with --cluster NAME: {}",
                many.join(", ")
            )),
        },
    }
}

/// Read and parse `path`; `repo` makes the displayed path relative.
pub fn load_cluster(repo: &Path, path: &Path) -> LoadedCluster {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let display = path
        .strip_prefix(repo)
        .unwrap_or(path)
        .display()
        .to_string();
    let config = match std::fs::read_to_string(path) {
        Ok(text) => parse_cluster(&name, &display, &text),
        Err(e) => Err(vec![Diagnostic::new(
            &display,
            0,
            0,
            format!("cannot read: {e}"),
        )]),
    };
    LoadedCluster {
        name,
        path: path.to_path_buf(),
        display,
        config,
    }
}

/// Parse and validate a cluster definition. `name` is the file stem the `name:` field must match.
pub fn parse_cluster(
    name: &str,
    display: &str,
    text: &str,
) -> Result<ClusterConfig, Vec<Diagnostic>> {
    let config: ClusterConfig = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let mut message = e.to_string();
        if let Some(i) = message.rfind(" at line ") {
            message.truncate(i);
        }
        vec![Diagnostic::new(display, line, column, message)]
    })?;
    let problems = validate::validate(&config, name, display, text);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn repo_root_and_cluster_choice() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("config/clusters")).unwrap();
        fs::create_dir_all(root.join("docs/deep")).unwrap();
        assert_eq!(find_repo_root(&root.join("docs/deep")).unwrap(), root);
        assert_eq!(
            choose_cluster(&root, None).unwrap_err(),
            "config/clusters/ holds no cluster definition (*.yaml); see docs/cluster-config.md"
        );
        fs::write(root.join("config/clusters/a.yaml"), "").unwrap();
        assert_eq!(
            choose_cluster(&root, None).unwrap(),
            root.join("config/clusters/a.yaml")
        );
        fs::write(root.join("config/clusters/b.yaml"), "").unwrap();
        assert_eq!(
            choose_cluster(&root, None).unwrap_err(),
            "config/clusters/ holds several clusters; choose one with --cluster NAME: a, b"
        );
        assert_eq!(
            choose_cluster(&root, Some("b")).unwrap(),
            root.join("config/clusters/b.yaml")
        );
        assert_eq!(
            choose_cluster(&root, Some("c")).unwrap_err(),
            "cluster `c` not found in config/clusters/ (available: a, b)"
        );
        let outside = tempfile::tempdir().unwrap();
        assert!(
            find_repo_root(outside.path())
                .unwrap_err()
                .starts_with("no homelab repository found")
        );
    }

    #[test]
    fn the_shipped_cluster_definition_is_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let loaded = load_cluster(root, &root.join("config/clusters/prox-n100.yaml"));
        assert_eq!(loaded.display, "config/clusters/prox-n100.yaml");
        let cfg = loaded.config.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(cfg.name, "prox-n100");
        assert_eq!(cfg.servers().count(), 1);
    }
}
