//! Several cluster definitions in one repository: definitions that sync the same tree must
//! agree on the values that tree depends on (node addresses, domain). Which definition syncs
//! which file is [`crate::repo::synced`]'s.

use super::{Rule, Violation};
use crate::repo::synced::{Definition, Synced};

pub const SHARED_TREE: Rule = Rule {
    id: "clusters/shared-tree",
    title: "Cluster definitions that sync the same tree agree on the values it depends on",
    hint: "one tree holds one cluster's node addresses (the EnvoyProxy's externalIPs) and domain: give the second cluster (a sandbox) its own flux.path with its own copy of the cluster-dependent folders (platform/ingress/gateway-api/), or make the values equal (docs/clusters.md)",
};

pub fn check(synced: &Synced, out: &mut Vec<Violation>) {
    let defs = &synced.definitions;
    for (i, later) in defs.iter().enumerate() {
        let Some(earlier) = defs[..i].iter().find(|d| d.flux_path == later.flux_path) else {
            continue;
        };
        let mut differ = Vec::new();
        if let Some(what) = differing_nodes(earlier, later) {
            differ.push(what);
        }
        if earlier.domain != later.domain {
            differ.push(format!(
                "domain ({}: {}; {}: {})",
                earlier.file,
                earlier.domain.as_deref().unwrap_or("none"),
                later.file,
                later.domain.as_deref().unwrap_or("none")
            ));
        }
        if !differ.is_empty() {
            out.push(Violation::new(
                &SHARED_TREE,
                &later.file,
                Some(later.flux_line),
                format!(
                    "{} and {} both sync {} (flux.path) but differ in {}: one tree serves one set of these values",
                    earlier.file,
                    later.file,
                    later.flux_path,
                    differ.join(" and ")
                ),
            ));
        }
    }
}

/// When two definitions' node addresses are not the same set: the text naming both.
pub fn differing_nodes(a: &Definition, b: &Definition) -> Option<String> {
    (a.node_set() != b.node_set()).then(|| {
        format!(
            "node addresses ({}: {}; {}: {})",
            a.file,
            a.node_set().join(", "),
            b.file,
            b.node_set().join(", ")
        )
    })
}

/// The first pair of `owners` whose node addresses differ, as text naming both files.
pub fn owners_disagree(owners: &[&Definition]) -> Option<String> {
    let first = owners.first()?;
    owners[1..]
        .iter()
        .find_map(|other| differing_nodes(first, other))
}
