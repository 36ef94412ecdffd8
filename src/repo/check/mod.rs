//! `homelab check`: the Stage 1 rules over the [`Tree`], one file per rule family.
//!
//! Every rule has a stable id (`family/name`), a one-line title and a fix hint; every violation
//! names the rule, the file and (where there is one) the line.

mod clusters;
mod exposure;
mod flux_graph;
mod flux_order;
mod image_checksum;
mod layout;
mod media_storage;
mod observability;
mod pinning;
mod platform;
mod private_keys;
mod references;
mod secret_refs;
mod secrets;
mod skeleton;
mod storage;
mod structure;
mod swap;
mod workloads;

/// What other modules reuse of the rules (the scaffold validates with the same lists).
pub use exposure::PUBLIC_APPS;
pub use pinning::{exact_version, unpinned};

use super::synced::Synced;
use super::tree::{Tree, TreeError};
use serde::Serialize;
use std::path::Path;

/// A named rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub title: &'static str,
    pub hint: &'static str,
}

/// Every rule `homelab check` enforces, in report order.
pub const RULES: &[Rule] = &[
    structure::YAML_PARSE,
    structure::KUSTOMIZE_ENTRY,
    structure::FLUX_PATH,
    structure::FLUX_DEPENDS_ON,
    flux_order::FLUX_ORDER,
    structure::FLUX_DECRYPTION,
    structure::HELM_SOURCE,
    references::NAMESPACE,
    layout::TOP_LEVEL,
    skeleton::SKELETON,
    platform::PLATFORM_PIECES,
    exposure::NO_INGRESS,
    exposure::SERVICE_TYPE,
    exposure::PUBLIC_ALLOWLIST,
    storage::STORAGE_CLASS,
    media_storage::MEDIA_ON_NFS,
    secrets::PLAINTEXT_SECRET,
    secrets::PLAINTEXT_ENV,
    private_keys::PRIVATE_KEY,
    references::SECRET_DOCUMENTED,
    secret_refs::RESOLVES,
    pinning::CHART_VERSION,
    pinning::IMAGE_TAG,
    image_checksum::IMAGE_CHECKSUM,
    workloads::RESOURCE_REQUESTS,
    swap::SWAP_DISABLED,
    observability::OTEL_COLLECTOR,
    observability::GRAFANA_DATASOURCES,
    clusters::SHARED_TREE,
    platform::GRAFANA_DASHBOARDS,
];

/// Look a rule up by id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub rule: &'static str,
    /// Repository-relative path, `/`-separated.
    pub file: String,
    /// 1-based line; `None` for a directory or a missing file.
    pub line: Option<u32>,
    pub message: String,
}

impl Violation {
    pub fn new(rule: &Rule, file: &str, line: Option<u32>, message: impl Into<String>) -> Self {
        Violation {
            rule: rule.id,
            file: file.to_string(),
            line,
            message: message.into(),
        }
    }
    /// `file:line` (or just `file`).
    pub fn location(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{l}", self.file),
            None => self.file.clone(),
        }
    }
}

/// The outcome of a check run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub root: String,
    pub files: usize,
    pub documents: usize,
    pub violations: Vec<Violation>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
    /// Violations grouped by rule, in [`RULES`] order.
    pub fn by_rule(&self) -> Vec<(&'static Rule, Vec<&Violation>)> {
        RULES
            .iter()
            .filter_map(|r| {
                let v: Vec<&Violation> =
                    self.violations.iter().filter(|v| v.rule == r.id).collect();
                (!v.is_empty()).then_some((r, v))
            })
            .collect()
    }
}

/// Run every rule over an already loaded tree.
pub fn check_tree(tree: &Tree) -> Report {
    let mut out = Vec::new();
    structure::check(tree, &mut out);
    references::check(tree, &mut out);
    layout::check(tree, &mut out);
    let synced = Synced::of(tree);
    exposure::check(tree, &synced, &mut out);
    storage::check(tree, &mut out);
    secrets::check(tree, &mut out);
    secret_refs::check(tree, &mut out);
    private_keys::check(tree, &mut out);
    pinning::check(tree, &mut out);
    image_checksum::check(tree, &mut out);
    workloads::check(tree, &mut out);
    swap::check(tree, &mut out);
    observability::check(tree, &mut out);
    clusters::check(&synced, &mut out);
    skeleton::check(tree, &mut out);
    media_storage::check(tree, &mut out);
    let graph = flux_graph::FluxGraph::build(tree);
    flux_order::check(tree, &graph, &mut out);
    platform::check(tree, &graph, &mut out);
    let order = |id: &str| RULES.iter().position(|r| r.id == id).unwrap_or(usize::MAX);
    out.sort_by(|a, b| (order(a.rule), &a.file, a.line).cmp(&(order(b.rule), &b.file, b.line)));
    out.dedup();
    Report {
        root: tree.root.display().to_string(),
        files: tree.yaml.len() + tree.scripts.len() + tree.env_files.len(),
        documents: tree.yaml.iter().map(|f| f.docs.len()).sum(),
        violations: out,
    }
}

/// Load the repository at `root` and check it.
pub fn run(root: &Path) -> Result<Report, TreeError> {
    Ok(check_tree(&Tree::load(root)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_namespaced() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        for r in RULES {
            assert!(r.id.contains('/'), "{}", r.id);
            assert!(!r.hint.is_empty() && !r.title.is_empty());
        }
    }
}
