//! Readiness: the observability HelmReleases are Ready (or the root cause of the one that is
//! not, through `stages::flux::diagnose`), Promtail's DaemonSet has a Ready pod on every node,
//! and every probed Service has a Ready pod behind it.

use super::components::{PROMTAIL, RELEASES, SERVICES};
use super::wait::Pending;
use crate::backends::kube::port_forward;
use crate::stages::engine::StageError;
use crate::stages::flux::diagnose::{self, Diagnosis, HELM_RELEASE, Key};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use serde_json::Value;
use std::collections::BTreeMap;

/// Every HelmRelease of the cluster, by key.
async fn helm_releases(client: &Client) -> Result<BTreeMap<Key, Value>, Pending> {
    let gvk = GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", HELM_RELEASE);
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk));
    let list = api.list(&ListParams::default()).await.map_err(|e| {
        Pending::fatal(
            StageError::new(format!("listing HelmReleases: {e}"))
                .with_hint("run the Flux stage first: it installs Flux and its CRDs"),
        )
    })?;
    let mut out = BTreeMap::new();
    for o in list.items {
        let mut v = serde_json::to_value(&o).unwrap_or(Value::Null);
        v["kind"] = Value::from(HELM_RELEASE);
        out.insert(diagnose::key_of(&v), v);
    }
    Ok(out)
}

/// The observability releases are all Ready: the detail; else what is not.
pub async fn releases(client: &Client) -> Result<String, Pending> {
    let all = helm_releases(client).await?;
    let keys: Vec<Key> = RELEASES
        .iter()
        .map(|(ns, n)| (HELM_RELEASE.to_string(), ns.to_string(), n.to_string()))
        .collect();
    let missing: Vec<String> = keys
        .iter()
        .filter(|k| !all.contains_key(*k))
        .map(diagnose::label)
        .collect();
    if !missing.is_empty() {
        return Err(Pending::waiting(
            StageError::new(format!("{} not in the cluster yet", missing.join(", "))).with_hint(
                "Flux applies them from cluster/kubernetes/platform/monitoring and logging: \
                 check `flux get kustomizations` and that the Flux stage finished",
            ),
        ));
    }
    let not_ready: Vec<&Key> = keys
        .iter()
        .filter(|k| all.get(*k).is_none_or(|v| !diagnose::state(v).ready))
        .collect();
    if not_ready.is_empty() {
        return Ok(format!("{} HelmReleases Ready", keys.len()));
    }
    // The root cause among what the observability releases wait for.
    let cause = diagnose::root_cause(&all).filter(|c| {
        not_ready.iter().any(|k| **k == c.key)
            || c.blocked
                .iter()
                .any(|b| not_ready.iter().any(|k| diagnose::label(k) == *b))
    });
    match cause {
        Some(cause) if cause.failed => {
            let d = Diagnosis {
                headline: "failed".into(),
                helm: all
                    .get(&cause.key)
                    .map(diagnose::helm_lines)
                    .unwrap_or_default(),
                fix: diagnose::fix_for(&cause, None),
                events: Vec::new(),
                cause,
            };
            Err(Pending::fatal(
                StageError::new(d.message()).with_hint(d.fix.clone()),
            ))
        }
        _ => {
            let names: Vec<String> = not_ready.iter().map(|k| diagnose::label(k)).collect();
            let why: Vec<String> = not_ready
                .iter()
                .filter_map(|k| all.get(*k))
                .map(|v| {
                    let st = diagnose::state(v);
                    format!("{} {}", st.reason, st.message)
                })
                .collect();
            Err(Pending::waiting(
                StageError::new(format!(
                    "not Ready yet: {} ({})",
                    names.join(", "),
                    why.join("; ")
                ))
                .with_hint("`flux get helmreleases -A` shows their progress"),
            ))
        }
    }
}

fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status.as_ref().is_some_and(|s| {
            s.conditions
                .as_ref()
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
}

/// Promtail's DaemonSet: desired = ready = the number of nodes; else the nodes without a Ready
/// Promtail pod.
pub async fn promtail(client: &Client) -> Result<String, Pending> {
    let (ns, name) = PROMTAIL;
    let nodes: Vec<String> = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| Pending::fatal(StageError::new(format!("listing nodes: {e}"))))?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    let ds = Api::<DaemonSet>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .map_err(|e| {
            Pending::fatal(StageError::new(format!(
                "reading DaemonSet {ns}/{name}: {e}"
            )))
        })?;
    let Some(ds) = ds else {
        return Err(Pending::waiting(
            StageError::new(format!("DaemonSet {ns}/{name} does not exist yet")).with_hint(
                "the promtail HelmRelease creates it: `flux get helmreleases -n logging`",
            ),
        ));
    };
    let ds_uid = ds.metadata.uid.clone().unwrap_or_default();
    let st = ds.status.unwrap_or_default();
    let (desired, ready) = (st.desired_number_scheduled, st.number_ready);
    let total = i32::try_from(nodes.len()).unwrap_or(i32::MAX);
    if desired == total && ready == total && total > 0 {
        return Ok(format!(
            "DaemonSet {ns}/{name}: {ready}/{desired} Ready, one per node ({total} nodes)"
        ));
    }
    // Which nodes have no Ready promtail pod.
    let labels = ds
        .spec
        .and_then(|s| s.selector.match_labels)
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&labels))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    // The DaemonSet's own pods: other workloads may carry the same labels.
    let owned = |p: &Pod| {
        p.metadata.owner_references.as_ref().is_some_and(|o| {
            o.iter()
                .any(|o| o.kind == "DaemonSet" && o.name == name && o.uid == ds_uid)
        })
    };
    let without: Vec<&String> = nodes
        .iter()
        .filter(|n| {
            !pods.iter().any(|p| {
                owned(p)
                    && pod_ready(p)
                    && p.spec.as_ref().and_then(|s| s.node_name.as_ref()) == Some(*n)
            })
        })
        .collect();
    let nodes_word = without
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Err(Pending::waiting(
        StageError::new(format!(
            "DaemonSet {ns}/{name}: {ready} of {desired} pods Ready for {total} nodes; no Ready promtail pod on {}",
            if nodes_word.is_empty() { "(none named)".to_string() } else { nodes_word }
        ))
        .with_hint(format!(
            "`kubectl -n {ns} get pods -l {labels} -o wide` and `kubectl -n {ns} describe` the one on that node (taints, image pulls)"
        )),
    ))
}

/// Every probed Service resolves to a Ready pod (as a port-forward would).
pub async fn services(client: &Client) -> Result<String, Pending> {
    let mut found = Vec::new();
    for svc in SERVICES {
        match port_forward::resolve(client, svc.namespace, svc.name, svc.port).await {
            Ok(t) => found.push(format!(
                "{} {} -> {}:{}",
                svc.what,
                svc.label(),
                t.pod,
                t.port
            )),
            Err(e) => {
                return Err(Pending::waiting(
                    StageError::new(format!("{} Service {}: {}", svc.what, svc.label(), e.message))
                        .with_hint(format!(
                            "`kubectl -n {} get svc,pods` — the chart of its HelmRelease creates the Service",
                            svc.namespace
                        )),
                ));
            }
        }
    }
    Ok(found.join("; "))
}
