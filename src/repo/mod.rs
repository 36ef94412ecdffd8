//! The GitOps repository as data: the tree model ([`tree`]), the Stage 1 conformance rules
//! ([`check`]), their text/JSON output ([`output`]) and the `homelab check` command ([`cli`]).

pub mod check;
pub mod cli;
pub mod output;
pub mod tree;

use std::path::{Path, PathBuf};

/// The repository root: `explicit` if given, else the nearest ancestor of `start` holding
/// `config/clusters/`.
pub fn find_root(explicit: Option<&Path>, start: &Path) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    start
        .ancestors()
        .find(|a| a.join("config").join("clusters").is_dir())
        .map(Path::to_path_buf)
}
