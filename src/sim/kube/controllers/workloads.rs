//! The workload controllers: Deployment -> ReplicaSet (named `<deploy>-<pod-template-hash>`,
//! older ones scaled to 0), ReplicaSet -> Pods (`<rs>-<5 chars>`), StatefulSet -> Pods
//! (`<sts>-<ordinal>`), DaemonSet -> one Pod per Node; each owner's status counted from its pods
//! the way kube-controller-manager reports it.

use super::{Pass, key, meta};
use serde_json::{Map, Value, json};
use std::sync::Arc;

const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const MANAGER: &str = "kube-controller-manager";

pub(super) fn reconcile(p: &mut Pass) {
    let deploys = p.list(&key("apps", "deployments"), None);
    for d in &deploys {
        deployment(p, d);
    }
    for rs in p.list(&key("apps", "replicasets"), None) {
        replicaset(p, &rs);
    }
    for s in p.list(&key("apps", "statefulsets"), None) {
        statefulset(p, &s);
    }
    let nodes: Vec<String> = p
        .list(&key("", "nodes"), None)
        .iter()
        .map(|n| meta(n, "name").to_string())
        .collect();
    for ds in p.list(&key("apps", "daemonsets"), None) {
        daemonset(p, &ds, &nodes);
    }
}

/// apimachinery's `rand.SafeEncodeString` of the template's FNV-32a hash: `pod-template-hash`.
pub(super) fn template_hash(template: &Value) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in template.to_string().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|b| SAFE[usize::from(b) % SAFE.len()] as char)
        .collect()
}

fn suffix() -> String {
    (0..5)
        .map(|_| SAFE[rand::random::<u8>() as usize % SAFE.len()] as char)
        .collect()
}

fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta(owner, "name"),
        "uid": meta(owner, "uid"),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

fn owned_by<'v>(items: &'v [Arc<Value>], owner: &Value) -> Vec<&'v Value> {
    let uid = meta(owner, "uid");
    items
        .iter()
        .map(|o| &**o)
        .filter(|o| {
            o.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
        })
        .collect()
}

fn live(o: &&Value) -> bool {
    o.pointer("/metadata/deletionTimestamp").is_none()
}

fn replicas(o: &Value) -> u64 {
    o.pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .min(10_000)
}

pub(super) fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Set condition `ty`; the transition time moves only when status or reason changes.
pub(super) fn set_condition(obj: &mut Value, ty: &str, status: &str, reason: &str, msg: &str) {
    let now = super::super::store::now();
    let conds = &mut obj["status"]["conditions"];
    if !conds.is_array() {
        *conds = json!([]);
    }
    let Some(list) = conds.as_array_mut() else {
        return;
    };
    let same = list
        .iter()
        .find(|c| c["type"] == ty)
        .filter(|c| c["status"] == status && c["reason"] == reason && c["message"] == msg);
    if same.is_some() {
        return;
    }
    list.retain(|c| c["type"] != ty);
    list.push(
        json!({"type": ty, "status": status, "reason": reason, "message": msg,
                     "lastTransitionTime": now, "lastUpdateTime": now}),
    );
}

/// A Pod from a template, owned by `owner`, with `extra` labels.
fn new_pod(owner: &Value, name: &str, extra: &Map<String, Value>, node: Option<&str>) -> Value {
    let tpl = owner.pointer("/spec/template").cloned().unwrap_or_default();
    let mut labels = tpl
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    labels.extend(extra.clone());
    // The store's defaulting (`defaults.rs`) fills in the pod's defaults when it is written.
    let mut spec = tpl.get("spec").cloned().unwrap_or_else(|| json!({}));
    if let Some(node) = node {
        // What the DaemonSet controller writes: the scheduler binds the pod to that node.
        spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}});
    }
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": meta(owner, "namespace"),
            "labels": labels,
            "ownerReferences": [owner_ref(owner)],
        },
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    });
    if let Some(a) = tpl.pointer("/metadata/annotations") {
        pod["metadata"]["annotations"] = a.clone();
    }
    pod
}

fn create(p: &Pass, obj: Value) {
    let k = match obj["kind"].as_str() {
        Some("Pod") => key("", "pods"),
        _ => key("apps", "replicasets"),
    };
    p.save(&k, None, obj, MANAGER);
}

fn delete_pod(p: &Pass, pod: &Value) {
    let _ = p.store.delete(
        &key("", "pods"),
        meta(pod, "namespace"),
        meta(pod, "name"),
        &Default::default(),
    );
}

fn deployment(p: &mut Pass, d: &Value) {
    let ns = meta(d, "namespace");
    let tpl = d.pointer("/spec/template").cloned().unwrap_or_default();
    let hash = template_hash(&tpl);
    let rs_name = format!("{}-{hash}", meta(d, "name"));
    let all_rs = p.list(&key("apps", "replicasets"), Some(ns));
    let mine = owned_by(&all_rs, d);
    let want = replicas(d);
    let revision = mine.len() as u64 + 1;
    let mut new_rs = None;
    for rs in &mine {
        let target = if meta(rs, "name") == rs_name { want } else { 0 };
        if meta(rs, "name") == rs_name {
            new_rs = Some(*rs);
        }
        if replicas(rs) != target {
            let mut next = (*rs).clone();
            next["spec"]["replicas"] = json!(target);
            p.save(&key("apps", "replicasets"), Some(rs), next, MANAGER);
        }
    }
    if new_rs.is_none() {
        let mut t = Value::clone(&tpl);
        t["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        let mut sel = d.pointer("/spec/selector").cloned().unwrap_or_default();
        sel["matchLabels"]["pod-template-hash"] = json!(hash);
        let labels = t["metadata"]["labels"].clone();
        create(
            p,
            json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": rs_name, "namespace": ns, "labels": labels,
                    "annotations": {"deployment.kubernetes.io/desired-replicas": want.to_string(),
                                    "deployment.kubernetes.io/max-replicas": (want + 1).to_string(),
                                    "deployment.kubernetes.io/revision": revision.to_string()},
                    "ownerReferences": [owner_ref(d)],
                },
                "spec": {"replicas": want, "selector": sel, "template": t},
            }),
        );
    }
    let count = |f: &str, rs: &[&Value]| -> u64 {
        rs.iter()
            .map(|r| {
                r.pointer(&format!("/status/{f}"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            })
            .sum()
    };
    let total = count("replicas", &mine);
    let ready = count("readyReplicas", &mine);
    let available = count("availableReplicas", &mine);
    let updated = new_rs.map_or(0, |r| count("replicas", &[r]));
    let mut next = Value::clone(d);
    let st = &mut next["status"];
    if !st.is_object() {
        *st = json!({});
    }
    st["observedGeneration"] = d["metadata"]["generation"].clone();
    st["replicas"] = json!(total);
    st["updatedReplicas"] = json!(updated);
    st["readyReplicas"] = json!(ready);
    st["availableReplicas"] = json!(available);
    st["unavailableReplicas"] = json!(want.saturating_sub(available));
    if let Some(o) = st.as_object_mut() {
        // The real status omits zero counts.
        o.retain(|k, v| k == "observedGeneration" || k == "conditions" || v != &json!(0));
    }
    if available >= want {
        set_condition(
            &mut next,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        );
    } else {
        set_condition(
            &mut next,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        );
    }
    let done = updated == want && total == want && available >= want;
    let (reason, msg) = if done {
        (
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
        )
    } else {
        (
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{rs_name}\" is progressing."),
        )
    };
    set_condition(&mut next, "Progressing", "True", reason, &msg);
    p.save(&key("apps", "deployments"), Some(d), next, MANAGER);
}

/// Pod counts of an owner's status.
struct Counts {
    total: u64,
    ready: u64,
}

fn counts(pods: &[&Value]) -> Counts {
    Counts {
        total: pods.len() as u64,
        ready: pods.iter().filter(|p| pod_ready(p)).count() as u64,
    }
}

fn replicaset(p: &mut Pass, rs: &Value) {
    let ns = meta(rs, "namespace");
    let pods = p.list(&key("", "pods"), Some(ns));
    let mine: Vec<&Value> = owned_by(&pods, rs).into_iter().filter(live).collect();
    let want = replicas(rs) as usize;
    for _ in mine.len()..want {
        let name = format!("{}-{}", meta(rs, "name"), suffix());
        create(p, new_pod(rs, &name, &Map::new(), None));
    }
    for extra in mine.iter().skip(want) {
        delete_pod(p, extra);
    }
    let c = counts(&mine[..mine.len().min(want)]);
    let mut next = Value::clone(rs);
    next["status"] = json!({
        "observedGeneration": rs["metadata"]["generation"],
        "replicas": c.total,
        "fullyLabeledReplicas": c.total,
        "readyReplicas": c.ready,
        "availableReplicas": c.ready,
    });
    p.save(&key("apps", "replicasets"), Some(rs), next, MANAGER);
}

fn statefulset(p: &mut Pass, s: &Value) {
    let ns = meta(s, "namespace");
    let name = meta(s, "name");
    let tpl = s.pointer("/spec/template").cloned().unwrap_or_default();
    let revision = format!("{name}-{}", template_hash(&tpl));
    let pods = p.list(&key("", "pods"), Some(ns));
    let mine: Vec<&Value> = owned_by(&pods, s).into_iter().filter(live).collect();
    let want = replicas(s);
    for i in 0..want {
        let pod_name = format!("{name}-{i}");
        if mine.iter().any(|p| meta(p, "name") == pod_name) {
            continue;
        }
        let mut extra = Map::new();
        extra.insert("statefulset.kubernetes.io/pod-name".into(), json!(pod_name));
        extra.insert("apps.kubernetes.io/pod-index".into(), json!(i.to_string()));
        extra.insert("controller-revision-hash".into(), json!(revision));
        let mut pod = new_pod(s, &pod_name, &extra, None);
        pod["spec"]["hostname"] = json!(pod_name);
        if let Some(svc) = s.pointer("/spec/serviceName") {
            pod["spec"]["subdomain"] = svc.clone();
        }
        create(p, pod);
    }
    let ordinal = |pod: &Value| {
        meta(pod, "name")
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse::<u64>().ok())
    };
    let (keep, extra): (Vec<&Value>, Vec<&Value>) = mine
        .into_iter()
        .partition(|pod| ordinal(pod).is_some_and(|i| i < want));
    for pod in extra {
        delete_pod(p, pod);
    }
    let c = counts(&keep);
    let mut next = Value::clone(s);
    next["status"] = json!({
        "observedGeneration": s["metadata"]["generation"],
        "replicas": c.total,
        "readyReplicas": c.ready,
        "availableReplicas": c.ready,
        "currentReplicas": c.total,
        "updatedReplicas": c.total,
        "currentRevision": revision,
        "updateRevision": revision,
        "collisionCount": 0,
    });
    p.save(&key("apps", "statefulsets"), Some(s), next, MANAGER);
}

/// The node a DaemonSet pod is pinned to (its `matchFields metadata.name In [node]`).
pub(super) fn pinned_node(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0")
        .and_then(Value::as_str)
}

fn daemonset(p: &mut Pass, ds: &Value, nodes: &[String]) {
    let ns = meta(ds, "namespace");
    let pods = p.list(&key("", "pods"), Some(ns));
    let mine: Vec<&Value> = owned_by(&pods, ds).into_iter().filter(live).collect();
    let tpl = ds.pointer("/spec/template").cloned().unwrap_or_default();
    let mut extra = Map::new();
    extra.insert(
        "controller-revision-hash".into(),
        json!(template_hash(&tpl)),
    );
    extra.insert("pod-template-generation".into(), json!("1"));
    for node in nodes {
        if !mine.iter().any(|p| pinned_node(p) == Some(node.as_str())) {
            let name = format!("{}-{}", meta(ds, "name"), suffix());
            create(p, new_pod(ds, &name, &extra, Some(node)));
        }
    }
    let (keep, gone): (Vec<&Value>, Vec<&Value>) = mine
        .into_iter()
        .partition(|pod| pinned_node(pod).is_some_and(|n| nodes.iter().any(|x| x == n)));
    for pod in gone {
        delete_pod(p, pod);
    }
    let c = counts(&keep);
    let mut next = Value::clone(ds);
    next["status"] = json!({
        "observedGeneration": ds["metadata"]["generation"],
        "desiredNumberScheduled": nodes.len(),
        "currentNumberScheduled": c.total,
        "updatedNumberScheduled": c.total,
        "numberReady": c.ready,
        "numberAvailable": c.ready,
        "numberMisscheduled": 0,
    });
    p.save(&key("apps", "daemonsets"), Some(ds), next, MANAGER);
}
