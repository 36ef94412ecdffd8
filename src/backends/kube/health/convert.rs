//! Kubernetes objects -> the health pane's plain data (`domain::health`). Pure; every field read
//! is optional (a missing field is "not reported", never a panic).

use crate::domain::health::{
    FluxKind, FluxObject, InventoryRef, NodeHealth, NodeUsage, PodHealth, WarningEvent,
    WorkloadHealth,
};
use crate::domain::units::quantity;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use serde_json::Value;

/// The labels helm-controller puts on every object of a release (WIRE-2.md H.6).
pub const RELEASE_NAME_LABEL: &str = "helm.toolkit.fluxcd.io/name";
pub const RELEASE_NAMESPACE_LABEL: &str = "helm.toolkit.fluxcd.io/namespace";

/// Conditions that mean trouble when True (kubelet's node conditions).
const PRESSURE: [&str; 4] = [
    "MemoryPressure",
    "DiskPressure",
    "PIDPressure",
    "NetworkUnavailable",
];

fn millis(q: &str) -> u64 {
    quantity(q).map_or(0, |c| (c * 1000.0).round().min(u64::MAX as f64) as u64)
}

fn bytes(q: &str) -> u64 {
    quantity(q).map_or(0, |b| b.round().min(u64::MAX as f64) as u64)
}

pub fn node(n: &Node) -> NodeHealth {
    let status = n.status.as_ref();
    let conds = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
    let ready = conds
        .iter()
        .find(|c| c.type_ == "Ready")
        .and_then(|c| match c.status.as_str() {
            "True" => Some(true),
            "False" => Some(false),
            _ => None,
        });
    let pressure = conds
        .iter()
        .filter(|c| c.status == "True" && PRESSURE.contains(&c.type_.as_str()))
        .map(|c| c.type_.clone())
        .collect();
    let alloc = status.and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()));
    let get = |k: &str| alloc.and_then(|a| a.get(k)).map(|q| q.0.as_str());
    NodeHealth {
        name: n.metadata.name.clone().unwrap_or_default(),
        ready,
        pressure,
        unschedulable: n
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false),
        cpu_millis: get("cpu").map_or(0, millis),
        memory_bytes: get("memory").map_or(0, bytes),
    }
}

/// A ReplicaSet `<deployment>-<pod-template-hash>` belongs to `<deployment>`.
fn deployment_of(rs: &str) -> &str {
    rs.rsplit_once('-').map_or(rs, |(d, _)| d)
}

pub fn pod(p: &Pod) -> PodHealth {
    let status = p.status.as_ref();
    let cs = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    let restarts = cs
        .iter()
        .map(|c| u32::try_from(c.restart_count.max(0)).unwrap_or(0))
        .fold(0u32, u32::saturating_add);
    let waiting = cs
        .iter()
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
        .next();
    let last_terminated = cs
        .iter()
        .filter_map(|c| c.last_state.as_ref()?.terminated.as_ref())
        .map(|t| {
            format!(
                "{} (exit {})",
                t.reason.as_deref().unwrap_or("Terminated"),
                t.exit_code
            )
        })
        .next();
    let ready = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[])
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let owner = p
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| match o.kind.as_str() {
            "ReplicaSet" => ("Deployment".to_string(), deployment_of(&o.name).to_string()),
            k => (k.to_string(), o.name.clone()),
        });
    PodHealth {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        name: p.metadata.name.clone().unwrap_or_default(),
        node: p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default(),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
        ready,
        restarts,
        waiting,
        last_terminated,
        owner,
        container: p
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .map(|c| c.name.clone())
            .unwrap_or_default(),
    }
}

/// A Deployment, StatefulSet or DaemonSet as JSON (one reader for the three shapes).
pub fn workload(kind: &str, v: &Value) -> WorkloadHealth {
    let meta = &v["metadata"];
    let s = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    let (desired, ready) = if kind == "DaemonSet" {
        (
            s("/status/desiredNumberScheduled"),
            s("/status/numberReady"),
        )
    } else {
        (
            v.pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .unwrap_or(1),
            s("/status/readyReplicas"),
        )
    };
    let label = |k: &str| meta["labels"][k].as_str().map(str::to_string);
    let namespace = meta["namespace"].as_str().unwrap_or_default().to_string();
    let release = label(RELEASE_NAME_LABEL).map(|name| {
        (
            label(RELEASE_NAMESPACE_LABEL).unwrap_or_else(|| namespace.clone()),
            name,
        )
    });
    WorkloadHealth {
        kind: kind.to_string(),
        name: meta["name"].as_str().unwrap_or_default().to_string(),
        namespace,
        desired: clamp(desired),
        ready: clamp(ready),
        release,
    }
}

fn ns_name(v: &Value, own_ns: &str) -> Option<(String, String)> {
    let name = v["name"].as_str()?;
    let ns = v["namespace"].as_str().unwrap_or(own_ns);
    Some((ns.to_string(), name.to_string()))
}

/// A Flux object (any of [`FluxKind`]) as JSON.
pub fn flux(kind: FluxKind, v: &Value) -> FluxObject {
    let meta = &v["metadata"];
    let namespace = meta["namespace"].as_str().unwrap_or_default().to_string();
    let ready_cond = v
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let text = |c: Option<&Value>, f: &str| {
        c.and_then(|c| c[f].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let ready = ready_cond.and_then(|c| match c["status"].as_str() {
        Some("True") => Some(true),
        Some("False") => Some(false),
        _ => None,
    });
    let depends_on = v
        .pointer("/spec/dependsOn")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| ns_name(d, &namespace))
        .collect();
    let source_ref = v
        .pointer("/spec/sourceRef")
        .or_else(|| v.pointer("/spec/chart/spec/sourceRef"))
        .or_else(|| v.pointer("/spec/chartRef"));
    let source = source_ref.and_then(|s| {
        let (ns, name) = ns_name(s, &namespace)?;
        Some((s["kind"].as_str().unwrap_or_default().to_string(), ns, name))
    });
    let inventory = v
        .pointer("/status/inventory/entries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| InventoryRef::parse(e["id"].as_str()?))
        .collect();
    let revision = ["/status/lastAppliedRevision", "/status/artifact/revision"]
        .iter()
        .chain(&["/status/lastAttemptedRevision"])
        .find_map(|p| v.pointer(p).and_then(Value::as_str))
        .unwrap_or_default()
        .to_string();
    FluxObject {
        kind,
        name: meta["name"].as_str().unwrap_or_default().to_string(),
        namespace,
        ready,
        reason: text(ready_cond, "reason"),
        message: text(ready_cond, "message"),
        suspended: v.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true),
        depends_on,
        source,
        inventory,
        revision,
    }
}

pub fn event(e: &Event) -> WarningEvent {
    let seen = e
        .last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0));
    WarningEvent {
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        name: e.metadata.name.clone().unwrap_or_default(),
        object_kind: e.involved_object.kind.clone().unwrap_or_default(),
        object_name: e.involved_object.name.clone().unwrap_or_default(),
        reason: e.reason.clone().unwrap_or_default(),
        message: e.message.clone().unwrap_or_default(),
        count: e
            .count
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(1)
            .max(1),
        last_seen: seen.map_or(0, |t| t.as_second()),
    }
}

/// metrics.k8s.io `NodeMetricsList` -> (node, CPU millicores, memory bytes).
pub fn node_metrics(list: &Value) -> Vec<(String, u64, u64)> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let name = i.pointer("/metadata/name")?.as_str()?;
            let cpu = i.pointer("/usage/cpu").and_then(Value::as_str).map(millis);
            let mem = i
                .pointer("/usage/memory")
                .and_then(Value::as_str)
                .map(bytes);
            Some((name.to_string(), cpu.unwrap_or(0), mem.unwrap_or(0)))
        })
        .collect()
}

/// Swap of a kubelet Summary (`/stats/summary`: `node.swap.{swapUsageBytes,
/// swapAvailableBytes}`, kubelet `pkg/apis/stats/v1alpha1` `SwapStats`): (used, free).
pub fn summary_swap(summary: &Value) -> (Option<u64>, Option<u64>) {
    let swap = &summary["node"]["swap"];
    (
        swap["swapUsageBytes"].as_u64(),
        swap["swapAvailableBytes"].as_u64(),
    )
}

/// Usage from a metrics row and a node's swap.
pub fn usage(cpu: u64, mem: u64, swap: (Option<u64>, Option<u64>)) -> NodeUsage {
    NodeUsage {
        cpu_millis: Some(cpu),
        memory_bytes: Some(mem),
        swap_bytes: swap.0,
        swap_free_bytes: swap.1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_helm_release_reads_its_source_and_failure() {
        let hr = json!({
            "metadata": {"name": "jellyfin", "namespace": "media"},
            "spec": {"chart": {"spec": {"sourceRef": {"kind": "HelmRepository", "name": "jellyfin", "namespace": "flux-system"}}},
                     "dependsOn": [{"name": "longhorn", "namespace": "longhorn-system"}, {"name": "nfs"}]},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "InstallFailed",
                        "message": "Helm install failed for release media/jellyfin with chart jellyfin@2.1.0: timeout"}]}
        });
        let f = flux(FluxKind::HelmRelease, &hr);
        assert_eq!(f.ready, Some(false));
        assert_eq!(f.reason, "InstallFailed");
        assert_eq!(
            f.source,
            Some((
                "HelmRepository".into(),
                "flux-system".into(),
                "jellyfin".into()
            ))
        );
        assert_eq!(
            f.depends_on,
            vec![
                ("longhorn-system".into(), "longhorn".into()),
                ("media".into(), "nfs".into())
            ]
        );
    }

    #[test]
    fn inventory_ids_split_into_their_parts() {
        let r = InventoryRef::parse("media_jellyfin_helm.toolkit.fluxcd.io_HelmRelease").unwrap();
        assert_eq!(
            (r.namespace.as_str(), r.name.as_str(), r.kind.as_str()),
            ("media", "jellyfin", "HelmRelease")
        );
        let ns = InventoryRef::parse("_media__Namespace").unwrap();
        assert_eq!((ns.namespace.as_str(), ns.group.as_str()), ("", ""));
        assert!(InventoryRef::parse("garbage").is_none());
    }

    #[test]
    fn a_replica_set_owner_names_its_deployment() {
        assert_eq!(deployment_of("web-5d9c8f7b6d"), "web");
        assert_eq!(deployment_of("web"), "web");
    }

    #[test]
    fn metrics_and_swap_parse_as_served() {
        let list = json!({"items": [{"metadata": {"name": "n1"}, "usage": {"cpu": "151608133n", "memory": "1383732Ki"}}]});
        assert_eq!(
            node_metrics(&list),
            vec![("n1".into(), 152, 1_383_732 * 1024)]
        );
        let s = json!({"node": {"swap": {"swapUsageBytes": 5, "swapAvailableBytes": 7}}});
        assert_eq!(summary_swap(&s), (Some(5), Some(7)));
        assert_eq!(summary_swap(&json!({})), (None, None));
    }
}
