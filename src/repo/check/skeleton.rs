//! The memo's repository skeleton (Stage 1 memo 4) is required: every folder and file it lists
//! exists. [`SKELETON`] is the one table of them; each entry names the memo section(s) that list it.

use super::{Rule, Violation};
use crate::repo::tree::Tree;

pub const SKELETON: Rule = Rule {
    id: "layout/skeleton",
    title: "Every folder and file of the memo's repository skeleton exists (Stage 1 memo 4)",
    hint: "restore the path (`git restore PATH` if it was deleted by mistake) or recreate it there; the memo's layout may be deepened, never replaced",
};

/// Whether a skeleton entry must be in a fresh clone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Committed: `check` requires it.
    Committed,
    /// Written by a bootstrap stage, not in git before it runs (the reason): listed so the table
    /// is the memo's whole skeleton, not checked.
    AtBootstrap(&'static str),
    /// Committed in the shipped repository; a `homelab demo` lab copy (it holds [`LAB_MARKER`])
    /// leaves it out on purpose, so that nothing in the demo can point at the real hosts.
    Shipped,
}

pub use crate::config::LAB_MARKER;

/// One path of the memo's skeleton. A path ending in `/` is a folder; a `*` in the last segment
/// is a pattern at least one file must match.
#[derive(Debug, Clone, Copy)]
pub struct Required {
    pub path: &'static str,
    /// The memo section(s) that list it.
    pub section: &'static str,
    pub presence: Presence,
}

const fn req(path: &'static str, section: &'static str) -> Required {
    Required {
        path,
        section,
        presence: Presence::Committed,
    }
}

/// The skeleton of Stage 1 memo 4, in the memo's order.
pub const PATHS: &[Required] = &[
    req("cluster/kubernetes/flux/", "4"),
    Required {
        path: "cluster/kubernetes/flux/flux-install.yaml",
        section: "4",
        presence: Presence::AtBootstrap(
            "applied at bootstrap from the pinned Flux release, by hand until the Flux stage exists (cluster/kubernetes/flux/README.md)",
        ),
    },
    req("cluster/kubernetes/flux/gotk-*.yaml", "4"),
    req("cluster/kubernetes/flux/apps.yaml", "4"),
    req("cluster/kubernetes/flux/kustomization.yaml", "4"),
    req("cluster/kubernetes/platform/ingress/cloudflared/", "4, 7.2"),
    req("cluster/kubernetes/platform/ingress/gateway-api/", "4, 7.1"),
    req("cluster/kubernetes/platform/dns/external-dns/", "4, 7.2"),
    req("cluster/kubernetes/platform/certs/", "4"),
    req("cluster/kubernetes/platform/storage/longhorn/", "4, 5.1"),
    req("cluster/kubernetes/platform/storage/nfs-subdir/", "4, 5.2"),
    req("cluster/kubernetes/platform/logging/loki/", "4, 6.2"),
    req("cluster/kubernetes/platform/logging/promtail/", "4, 6.2"),
    req(
        "cluster/kubernetes/platform/monitoring/prometheus/",
        "4, 6.1",
    ),
    req("cluster/kubernetes/platform/monitoring/grafana/", "4, 6.4"),
    req(
        "cluster/kubernetes/platform/monitoring/metrics-server/",
        "4, 6.1",
    ),
    req(
        "cluster/kubernetes/platform/monitoring/alertmanager/",
        "4, 6.1",
    ),
    req("cluster/kubernetes/platform/security/", "4"),
    req("cluster/kubernetes/apps/media/jellyfin/", "4, 8.1"),
    req("cluster/kubernetes/apps/media/jellyseer/", "4, 8.1"),
    req("cluster/kubernetes/apps/media/navidrome/", "4, 8.1"),
    req("cluster/kubernetes/apps/tools/ai-studio/", "4, 8.2"),
    req("cluster/kubernetes/apps/tools/portainer/", "4, 8.2"),
    req("cluster/kubernetes/apps/tools/syncthing/", "4, 8.2"),
    req("cluster/kubernetes/apps/tools/tailscale/", "4, 7.2, 8.2"),
    req("cluster/kubernetes/apps/tools/vscode-server/", "4, 8.2"),
    req("cluster/kubernetes/apps/games/minecraft/", "4, 8.3"),
    req("cluster/kubernetes/apps/demos/", "4, 8.4"),
    Required {
        path: "config/clusters/prox-n100.yaml",
        section: "4",
        presence: Presence::Shipped,
    },
    Required {
        path: "config/env/prox-n100.env",
        section: "4",
        presence: Presence::AtBootstrap(
            "the secrets stage creates it, encrypted; a human edits it after (config/env/README.md)",
        ),
    },
    req("infrastructure/proxmox/cluster_bootstrap.sh", "4, 10"),
    req("infrastructure/synology/setup.sh", "4, 9"),
    req("docs/architecture.md", "4"),
    req("docs/stage1_k3s_overview.md", "4"),
    req("docs/bootstrap-stages.md", "4"),
    req("ai/", "4"),
];

fn present(tree: &Tree, path: &str) -> bool {
    // a folder is there when it holds a file: git keeps no empty folders
    if path.ends_with('/') {
        return tree.files.iter().any(|f| f.starts_with(path));
    }
    match path.rsplit_once('/') {
        Some((dir, pattern)) if pattern.contains('*') => tree
            .files
            .iter()
            .filter_map(|f| f.strip_prefix(dir)?.strip_prefix('/'))
            .any(|name| !name.contains('/') && matches(pattern, name)),
        _ => tree.files.contains(path),
    }
}

/// `name` matches `pattern` with one `*` (any run of characters).
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
        }
        None => pattern == name,
    }
}

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    let lab_copy = tree.files.contains(LAB_MARKER);
    let checked = |r: &&Required| match r.presence {
        Presence::Committed => true,
        Presence::Shipped => !lab_copy,
        Presence::AtBootstrap(_) => false,
    };
    for r in PATHS.iter().filter(checked) {
        if present(tree, r.path) {
            continue;
        }
        let what = if r.path.ends_with('/') {
            "folder"
        } else if r.path.contains('*') {
            "file pattern (no file matches)"
        } else {
            "file"
        };
        out.push(Violation::new(
            &SKELETON,
            r.path,
            None,
            format!(
                "`{}` is missing: Stage 1 memo {} lists this {what} in the repository skeleton; restore or recreate it there",
                r.path, r.section
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lab_copy_may_leave_out_the_shipped_definition_and_nothing_else() {
        let shipped: Vec<_> = PATHS
            .iter()
            .filter(|r| r.presence == Presence::Shipped)
            .map(|r| r.path)
            .collect();
        assert_eq!(shipped, ["config/clusters/prox-n100.yaml"]);
        let mut tree = Tree::default();
        let mut out = vec![];
        check(&tree, &mut out);
        assert!(
            out.iter()
                .any(|v| v.file == "config/clusters/prox-n100.yaml")
        );
        tree.files.insert(LAB_MARKER.to_string());
        let mut lab = vec![];
        check(&tree, &mut lab);
        assert!(
            !lab.iter()
                .any(|v| v.file == "config/clusters/prox-n100.yaml")
        );
        // Every other path is still required in a lab copy.
        assert_eq!(lab.len() + 1, out.len());
    }

    #[test]
    fn patterns_match_one_run() {
        assert!(matches("gotk-*.yaml", "gotk-sync.yaml"));
        assert!(!matches("gotk-*.yaml", "gotk.yaml"));
        assert!(!matches("gotk-*.yaml", "sync.yaml"));
    }

    #[test]
    fn every_path_lives_under_an_allowed_top_level_entry() {
        for r in PATHS {
            let top = r.path.split('/').next().unwrap_or("");
            assert!(
                super::super::layout::ALLOWED_TOP_LEVEL.contains(&top),
                "{}",
                r.path
            );
        }
    }
}
