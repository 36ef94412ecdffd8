//! Workloads declare what they need: every container of a Deployment, StatefulSet, DaemonSet,
//! Job or CronJob has resource requests, so the scheduler can place them on small nodes.

use super::{Rule, Violation};
use crate::repo::tree::Tree;
use serde_yaml::Value;

pub const RESOURCE_REQUESTS: Rule = Rule {
    id: "workloads/resource-requests",
    title: "Every workload container has resource requests",
    hint: "add resources.requests (cpu and memory) sized from what the app uses idle; add a memory limit where it can leak",
};

/// The pod template of a workload kind.
fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            Some(&["spec", "template", "spec"])
        }
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    for (f, d) in tree.docs() {
        let Some(path) = d.kind().and_then(pod_spec_path) else {
            continue;
        };
        let Some(pod) = d.get(path) else { continue };
        for list in ["initContainers", "containers"] {
            let containers = pod
                .get(list)
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten();
            for (i, c) in containers.enumerate() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
                let requests = c
                    .get("resources")
                    .and_then(|r| r.get("requests"))
                    .and_then(Value::as_mapping);
                if requests.is_some_and(|m| !m.is_empty()) {
                    continue;
                }
                let at = format!("{}.{list}[{i}].name", path.join("."));
                out.push(Violation::new(
                    &RESOURCE_REQUESTS,
                    &f.rel,
                    Some(d.line_at(&at)),
                    format!(
                        "{} `{}`: container `{name}` has no resource requests",
                        d.kind().unwrap_or("?"),
                        d.name().unwrap_or("?")
                    ),
                ));
            }
        }
    }
}
