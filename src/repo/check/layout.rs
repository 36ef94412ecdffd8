//! The repository keeps the Stage 1 layout: no new top-level folders or files.

use super::{Rule, Violation};
use crate::repo::tree::Tree;

pub const TOP_LEVEL: Rule = Rule {
    id: "layout/top-level",
    title: "No new top-level entries (Stage 1 memo 4)",
    hint: "move it under an existing folder: Flux objects in cluster/kubernetes/, scripts in infrastructure/, docs in docs/",
};

/// The agreed top level: the crate, the homelab folders of the memo (including `ai/`, which
/// `layout/skeleton` requires), and the usual dotfiles and tool configs.
pub const ALLOWED_TOP_LEVEL: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "README.md",
    "LICENSE",
    "src",
    "themes",
    "cluster",
    "config",
    "infrastructure",
    "docs",
    "snapshots",
    "tests",
    "benches",
    "fuzz",
    "ai",
    ".ci",
    ".github",
    ".sops.yaml",
    ".gitignore",
    "rustfmt.toml",
    "clippy.toml",
    "deny.toml",
    "rust-toolchain.toml",
];

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    for name in &tree.top_level {
        if !ALLOWED_TOP_LEVEL.contains(&name.as_str()) {
            out.push(Violation::new(
                &TOP_LEVEL,
                name,
                None,
                format!("`{name}` is not part of the Stage 1 top-level layout"),
            ));
        }
    }
}
