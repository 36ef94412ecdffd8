//! JSON shapes the simulator serves: Node objects as a k3s kubelet registers them, metav1.Status,
//! /version and core/v1 discovery.

use serde_json::{Value, json};

/// What a simulated node looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub ip: String,
    pub server: bool,
    pub ready: bool,
    pub kubelet_version: String,
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn ready_condition(ready: bool) -> Value {
    let t = now();
    if ready {
        json!({"type":"Ready","status":"True","reason":"KubeletReady",
               "message":"kubelet is posting ready status","lastHeartbeatTime":t,"lastTransitionTime":t})
    } else {
        json!({"type":"Ready","status":"False","reason":"KubeletNotReady",
               "message":"container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
               "lastHeartbeatTime":t,"lastTransitionTime":t})
    }
}

/// A core/v1 Node.
pub fn node(spec: &NodeSpec, rv: u64) -> Value {
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "k3s",
    });
    if spec.server {
        labels["node-role.kubernetes.io/control-plane"] = json!("true");
        labels["node-role.kubernetes.io/master"] = json!("true");
        labels["node-role.kubernetes.io/etcd"] = json!("true");
    }
    let t = now();
    let pressure = |ty: &str, reason: &str, msg: &str| {
        json!({"type":ty,"status":"False","reason":reason,"message":msg,
               "lastHeartbeatTime":t,"lastTransitionTime":t})
    };
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "uid": format!("{:08x}-0000-4000-8000-{:012x}", rv, rv),
            "resourceVersion": rv.to_string(),
            "creationTimestamp": t,
            "labels": labels,
            "annotations": {"k3s.io/internal-ip": spec.ip, "k3s.io/hostname": spec.name},
        },
        "spec": {"podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"], "providerID": format!("k3s://{}", spec.name)},
        "status": {
            "addresses": [{"type":"InternalIP","address":spec.ip},{"type":"Hostname","address":spec.name}],
            "capacity": {"cpu":"2","memory":"4015836Ki","pods":"110","ephemeral-storage":"61608748Ki"},
            "allocatable": {"cpu":"2","memory":"4015836Ki","pods":"110","ephemeral-storage":"59932990208"},
            "conditions": [
                pressure("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                pressure("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                pressure("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                ready_condition(spec.ready),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": format!("{:032x}", rv),
                "containerRuntimeVersion": "containerd://2.0.4-k3s2",
                "kernelVersion": "6.8.0-48-generic",
                "kubeProxyVersion": spec.kubelet_version,
                "kubeletVersion": spec.kubelet_version,
                "machineID": format!("{:032x}", rv + 1),
                "operatingSystem": "linux",
                "osImage": "Ubuntu 24.04.1 LTS",
                "systemUUID": format!("{:08x}-0000-4000-8000-000000000000", rv),
            },
        },
    })
}

/// Replace the Ready condition and bump the resourceVersion.
pub fn set_ready(obj: &mut Value, ready: bool, rv: u64) {
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    if let Some(conds) = obj
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        conds.retain(|c| c["type"] != "Ready");
        conds.push(ready_condition(ready));
    }
}

/// metav1.Status for errors (docs/reference/kubernetes.md §5).
pub fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut v = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                       "message":message,"reason":reason,"code":code});
    if let Some(d) = details {
        v["details"] = d;
    }
    v
}

pub fn version(git_version: &str) -> Value {
    let minor = crate::domain::version::parse_version(git_version)
        .map(|(_, m, _)| m.to_string())
        .unwrap_or_default();
    json!({"major":"1","minor":minor,"gitVersion":git_version,
           "gitCommit":"0000000000000000000000000000000000000000","gitTreeState":"clean",
           "buildDate":"2026-01-01T00:00:00Z","goVersion":"go1.24.4","compiler":"gc","platform":"linux/amd64"})
}

pub fn core_v1_resources() -> Value {
    json!({"kind":"APIResourceList","groupVersion":"v1","resources":[
        {"name":"nodes","singularName":"node","namespaced":false,"kind":"Node",
         "verbs":["create","delete","deletecollection","get","list","patch","update","watch"],
         "shortNames":["no"]},
        {"name":"nodes/status","singularName":"","namespaced":false,"kind":"Node",
         "verbs":["get","patch","update"]}
    ]})
}

/// Human age like kubectl prints it: `42s`, `5m`, `3h`, `2d`.
fn age(created: &str) -> String {
    let Ok(t) = created.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Server-side printing of nodes (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), the
/// columns `kubectl get nodes` (and `-o wide`) shows.
pub fn node_table(nodes: &[Value], rv: u64) -> Value {
    let col = |name: &str, priority: u8, format: &str| json!({"name":name,"type":"string","format":format,"description":"","priority":priority});
    let rows: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let s = |p: &str| n.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
            let ready = n
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .map(|c| c["status"] == "True")
                .unwrap_or(false);
            let mut roles: Vec<String> = n
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|l| {
                    l.keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            roles.sort();
            let ip = n
                .pointer("/status/addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
                .and_then(|x| x["address"].as_str())
                .unwrap_or("<none>")
                .to_string();
            json!({
                "cells": [
                    s("/metadata/name"),
                    if ready { "Ready" } else { "NotReady" },
                    if roles.is_empty() { "<none>".to_string() } else { roles.join(",") },
                    age(&s("/metadata/creationTimestamp")),
                    s("/status/nodeInfo/kubeletVersion"),
                    ip,
                    "<none>",
                    s("/status/nodeInfo/osImage"),
                    s("/status/nodeInfo/kernelVersion"),
                    s("/status/nodeInfo/containerRuntimeVersion"),
                ],
                "object": {"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata": n["metadata"].clone()},
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": [
            col("Name", 0, "name"), col("Status", 0, ""), col("Roles", 0, ""), col("Age", 0, ""),
            col("Version", 0, ""), col("Internal-IP", 1, ""), col("External-IP", 1, ""),
            col("OS-Image", 1, ""), col("Kernel-Version", 1, ""), col("Container-Runtime", 1, ""),
        ],
        "rows": rows,
    })
}
