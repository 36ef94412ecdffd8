//! The workload an alert names and its pods, through kube-rs: a pod is followed up its
//! controller owner references (Pod -> ReplicaSet -> Deployment, or StatefulSet, DaemonSet,
//! Job); a workload's pods are listed with its `spec.selector.matchLabels`.

use super::target::Kind;
use crate::domain::incident::{PodRow, Workload, WorkloadRef};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Every Kubernetes call of the incident view answers within this, or is reported as failed.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many pods are listed (and their logs and nodes looked up).
pub const MAX_PODS: u32 = 50;

/// What the lookups found, with what the later steps need.
#[derive(Debug, Clone)]
pub struct Found {
    pub workload: Workload,
    /// The workload's own labels (where Flux's ownership labels are).
    pub labels: BTreeMap<String, String>,
    /// The first pod's labels (Flux labels are looked for there too).
    pub pod_labels: BTreeMap<String, String>,
    /// Each pod's containers, for the pod log fallback.
    pub containers: Vec<(String, Vec<String>)>,
}

/// A failed step: what was asked, and the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub step: String,
    pub reason: String,
}

/// One Kubernetes call with the view's time bound; errors say the API's own message.
pub async fn call<T>(
    step: impl Into<String>,
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, StepError> {
    let step = step.into();
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(StepError {
            step,
            reason: reason(&e),
        }),
        Err(_) => Err(StepError {
            step,
            reason: format!("no answer within {}s", CALL_TIMEOUT.as_secs()),
        }),
    }
}

/// The API server's message for a `Status` error, else the client's.
pub fn reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

fn api(client: &Client, kind: Kind, ns: &str) -> Api<DynamicObject> {
    let (group, version, plural) = kind.resource();
    let gvk = GroupVersionKind::gvk(group, version, kind.name());
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

async fn get(client: &Client, kind: Kind, ns: &str, name: &str) -> Result<Value, StepError> {
    let obj = call(
        format!("get {} {ns}/{name}", kind.name()),
        api(client, kind, ns).get(name),
    )
    .await?;
    serde_json::to_value(&obj).map_err(|e| StepError {
        step: format!("get {} {ns}/{name}", kind.name()),
        reason: e.to_string(),
    })
}

/// The controller owner of `obj`: (kind, name).
fn controller(obj: &Value) -> Option<(String, String)> {
    obj.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or("").to_owned(),
                r["name"].as_str().unwrap_or("").to_owned(),
            )
        })
}

fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Find the workload `kind` `name` in `ns` names (a pod is followed to its owner) and its pods.
pub async fn find(client: &Client, ns: &str, kind: Kind, name: &str) -> Result<Found, StepError> {
    let (mut kind, mut name, mut obj) = (kind, name.to_owned(), get(client, kind, ns, name).await?);
    let mut alert_pod = None;
    if kind == Kind::Pod {
        alert_pod = Some(obj.clone());
        // Pod -> ReplicaSet -> Deployment, or straight to its StatefulSet/DaemonSet/Job.
        if let Some((owner_kind, owner)) = controller(&obj) {
            let (next_kind, next) = if owner_kind == "ReplicaSet" {
                let rs = replica_set(client, ns, &owner).await?;
                match controller(&rs) {
                    Some((k, n)) if k == "Deployment" => (Some(Kind::Deployment), n),
                    _ => (None, owner),
                }
            } else {
                (Kind::from_name(&owner_kind), owner)
            };
            if let Some(k) = next_kind {
                obj = get(client, k, ns, &next).await?;
                (kind, name) = (k, next);
            }
        }
    }
    let labels = labels_of(&obj);
    let pods: Vec<Value> = match (kind, obj.pointer("/spec/selector/matchLabels")) {
        (Kind::Pod, _) => vec![obj.clone()],
        (_, Some(Value::Object(sel))) if !sel.is_empty() => {
            let selector: Vec<String> = sel
                .iter()
                .filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?)))
                .collect();
            let selector = selector.join(",");
            let list = call(
                format!("list pods in {ns} with {selector}"),
                Api::<DynamicObject>::namespaced_with(
                    client.clone(),
                    ns,
                    &ApiResource::from_gvk_with_plural(
                        &GroupVersionKind::gvk("", "v1", "Pod"),
                        "pods",
                    ),
                )
                .list(&ListParams::default().labels(&selector).limit(MAX_PODS)),
            )
            .await?;
            list.items
                .iter()
                .filter_map(|p| serde_json::to_value(p).ok())
                .collect()
        }
        // No selector to list with: the pod the alert named, if any.
        _ => alert_pod.iter().cloned().collect(),
    };
    let pod_labels = pods.first().map(labels_of).unwrap_or_default();
    let containers = pods
        .iter()
        .map(|p| {
            let names = p
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect();
            (
                p.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                names,
            )
        })
        .collect();
    let mut rows: Vec<PodRow> = pods.iter().map(pod_row).collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Found {
        workload: Workload {
            workload: WorkloadRef {
                kind: kind.name().to_owned(),
                namespace: ns.to_owned(),
                name,
            },
            pods: rows,
        },
        labels,
        pod_labels,
        containers,
    })
}

async fn replica_set(client: &Client, ns: &str, name: &str) -> Result<Value, StepError> {
    let gvk = GroupVersionKind::gvk("apps", "v1", "ReplicaSet");
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "replicasets"),
    );
    let rs = call(format!("get ReplicaSet {ns}/{name}"), api.get(name)).await?;
    serde_json::to_value(&rs).map_err(|e| StepError {
        step: format!("get ReplicaSet {ns}/{name}"),
        reason: e.to_string(),
    })
}

/// One pod as a row: the waiting reason when a container waits, else the phase.
pub fn pod_row(p: &Value) -> PodRow {
    let s = |ptr: &str| p.pointer(ptr).and_then(Value::as_str).unwrap_or("");
    let statuses: Vec<&Value> = p
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let waiting = statuses
        .iter()
        .find_map(|c| c.pointer("/state/waiting/reason").and_then(Value::as_str));
    let phase = s("/status/phase");
    let status = waiting
        .or((!phase.is_empty()).then_some(phase))
        .unwrap_or("Unknown")
        .to_owned();
    let ready = p
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
    let restarts = statuses
        .iter()
        .filter_map(|c| c["restartCount"].as_i64())
        .fold(0i64, i64::saturating_add);
    let last_termination = statuses.iter().find_map(|c| {
        c.pointer("/lastState/terminated/reason")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    PodRow {
        name: s("/metadata/name").to_owned(),
        status,
        ready,
        restarts: i32::try_from(restarts.clamp(0, i64::from(i32::MAX))).unwrap_or(i32::MAX),
        node: s("/spec/nodeName").to_owned(),
        last_termination,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_crash_looping_pod_shows_its_waiting_reason_and_restarts() {
        let p = json!({
            "metadata": {"name": "web-1"},
            "spec": {"nodeName": "k3s-2"},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {"restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                     "lastState": {"terminated": {"reason": "Error"}}},
                    {"restartCount": 1, "state": {"running": {}}}]}
        });
        let r = pod_row(&p);
        assert_eq!(
            (r.status.as_str(), r.ready, r.restarts, r.node.as_str()),
            ("CrashLoopBackOff", false, 5, "k3s-2")
        );
        assert_eq!(r.last_termination.as_deref(), Some("Error"));
        let r = pod_row(&json!({"metadata": {"name": "x"}}));
        assert_eq!(
            (r.status.as_str(), r.ready, r.restarts),
            ("Unknown", false, 0)
        );
    }
}
