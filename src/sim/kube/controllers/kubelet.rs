//! The scheduler and the kubelet: a pod without a node is bound to its DaemonSet node or the
//! Ready node with the fewest pods (`Scheduled`); after `Timing::start` its containers are
//! pulled, created and started (`Pulling`, `Pulled`, `Created`, `Started`) and the pod is Running
//! and Ready with a podIP. A pod hit by [`Fault::CrashLoop`](super::Fault) instead exits with
//! code 1 each time its back-off ends: `CrashLoopBackOff`, `restartCount` growing,
//! `lastState.terminated.reason: Error`, a `BackOff` warning.

use super::events::{Source, record};
use super::workloads::{pinned_node, set_condition};
use super::{Memory, Pass, key, meta};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const KUBELET: &str = "kubelet";

fn containers(pod: &Value) -> Vec<(String, String)> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["image"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn hex(seed: &str, len: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = String::new();
    let mut round = 0u8;
    while out.len() < len {
        for b in seed.bytes().chain([round]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
        round = round.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// `docker.io/library/nginx:1.27` for `nginx:1.27`, as containerd reports image names.
fn full_image(image: &str) -> String {
    let first = image.split('/').next().unwrap_or_default();
    if !image.contains('/') {
        format!("docker.io/library/{image}")
    } else if first.contains('.') || first.contains(':') {
        image.to_string()
    } else {
        format!("docker.io/{image}")
    }
}

fn node_ip(nodes: &[Arc<Value>], name: &str) -> String {
    nodes
        .iter()
        .find(|n| meta(n, "name") == name)
        .and_then(|n| n.pointer("/status/addresses").and_then(Value::as_array))
        .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
        .and_then(|x| x["address"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn node_ready(n: &Value) -> bool {
    n.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

pub(super) fn reconcile(p: &mut Pass, mem: &mut Memory) {
    let nodes = p.list(&key("", "nodes"), None);
    let pods = p.list(&key("", "pods"), None);
    mem.due.retain(|(ns, name, uid), _| {
        pods.iter()
            .any(|p| meta(p, "namespace") == ns && meta(p, "name") == name && meta(p, "uid") == uid)
    });
    for pod in &pods {
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let node = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if node.is_empty() {
            schedule(p, mem, pod, &nodes, &pods);
        } else {
            kubelet(p, mem, pod, &nodes, node);
        }
    }
}

fn schedule(
    p: &mut Pass,
    mem: &mut Memory,
    pod: &Value,
    nodes: &[Arc<Value>],
    pods: &[Arc<Value>],
) {
    let on = |n: &str| {
        pods.iter()
            .filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(n))
            .count()
    };
    let chosen = match pinned_node(pod) {
        Some(n) => nodes.iter().find(|x| meta(x, "name") == n),
        None => nodes
            .iter()
            .filter(|n| node_ready(n))
            .min_by_key(|n| on(meta(n, "name"))),
    };
    let Some(node) = chosen.map(|n| meta(n, "name").to_string()) else {
        return;
    };
    let mut next = Value::clone(pod);
    next["spec"]["nodeName"] = json!(node);
    set_condition(&mut next, "PodScheduled", "True", "", "");
    strip_update_time(&mut next);
    p.save(&key("", "pods"), Some(pod), next, "default-scheduler");
    let msg = format!(
        "Successfully assigned {}/{} to {node}",
        meta(pod, "namespace"),
        meta(pod, "name")
    );
    let src = Source {
        component: "default-scheduler",
        host: None,
    };
    record(p, pod, false, "Scheduled", &msg, &src, None);
    let at = p.now + p.timing.start;
    mem.due.insert(id(pod), at);
    p.wake_at(at);
}

fn id(pod: &Value) -> (String, String, String) {
    (
        meta(pod, "namespace").to_string(),
        meta(pod, "name").to_string(),
        meta(pod, "uid").to_string(),
    )
}

/// Pod conditions carry no lastUpdateTime.
fn strip_update_time(pod: &mut Value) {
    if let Some(list) = pod
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in list {
            if let Some(o) = c.as_object_mut() {
                o.remove("lastUpdateTime");
                if o.get("reason").is_some_and(|m| m == "") {
                    o.remove("reason");
                }
                if o.get("message").is_some_and(|m| m == "") {
                    o.remove("message");
                }
            }
        }
    }
}

fn kubelet(p: &mut Pass, mem: &mut Memory, pod: &Value, nodes: &[Arc<Value>], node: &str) {
    let started = pod.pointer("/status/containerStatuses").is_some();
    let crashing = p
        .faults
        .iter()
        .any(|f| f.hits_pod(meta(pod, "namespace"), meta(pod, "name")));
    if started && !crashing {
        return;
    }
    let due = *mem.due.entry(id(pod)).or_insert(
        p.now
            + if started {
                p.timing.crash_backoff
            } else {
                p.timing.start
            },
    );
    if due > p.now {
        p.wake_at(due);
        return;
    }
    let src = Source {
        component: KUBELET,
        host: Some(node),
    };
    let now = super::super::store::now();
    let mut next = Value::clone(pod);
    let names = containers(pod);
    if !started {
        for (c, image) in &names {
            let path = format!("spec.containers{{{c}}}");
            let path = Some(path.as_str());
            record(
                p,
                pod,
                false,
                "Pulling",
                &format!("Pulling image \"{image}\""),
                &src,
                path,
            );
            record(
                p,
                pod,
                false,
                "Pulled",
                &format!(
                    "Successfully pulled image \"{image}\" in 1.2s (1.2s including waiting). Image size: 72099501 bytes."
                ),
                &src,
                path,
            );
            record(
                p,
                pod,
                false,
                "Created",
                &format!("Created container: {c}"),
                &src,
                path,
            );
            record(
                p,
                pod,
                false,
                "Started",
                &format!("Started container {c}"),
                &src,
                path,
            );
        }
        let host_ip = node_ip(nodes, node);
        let idx = nodes
            .iter()
            .position(|n| meta(n, "name") == node)
            .unwrap_or(0);
        mem.next_ip = mem.next_ip.wrapping_add(1);
        let pod_ip = format!("10.42.{}.{}", idx.min(255), mem.next_ip % 250 + 3);
        let st = &mut next["status"];
        st["phase"] = json!("Running");
        st["hostIP"] = json!(host_ip);
        st["hostIPs"] = json!([{"ip": host_ip}]);
        st["podIP"] = json!(pod_ip);
        st["podIPs"] = json!([{"ip": pod_ip}]);
        st["startTime"] = json!(now);
        set_condition(&mut next, "PodReadyToStartContainers", "True", "", "");
        set_condition(&mut next, "Initialized", "True", "", "");
    }
    let uid = meta(pod, "uid");
    let restarts = pod
        .pointer("/status/containerStatuses/0/restartCount")
        .and_then(Value::as_u64)
        .map_or(0, |r| r + 1);
    let statuses: Vec<Value> = names
        .iter()
        .map(|(c, image)| {
            let full = full_image(image);
            let mut s = json!({
                "name": c,
                "image": full,
                "imageID": format!("{}@sha256:{}", full.split(':').next().unwrap_or_default(), hex(image, 64)),
                "containerID": format!("containerd://{}", hex(&format!("{uid}{c}{restarts}"), 64)),
                "ready": !crashing,
                "started": !crashing,
                "restartCount": if crashing { restarts } else { 0 },
                "state": {"running": {"startedAt": now}},
                "lastState": {},
            });
            if crashing {
                let backoff = backoff_secs(restarts);
                s["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                    "message": format!("back-off {backoff}s restarting failed container={c} pod={}_{}({uid})",
                        meta(pod, "name"), meta(pod, "namespace"))}});
                s["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error",
                    "startedAt": now, "finishedAt": now,
                    "containerID": format!("containerd://{}", hex(&format!("{uid}{c}{}", restarts.saturating_sub(1)), 64))}});
            }
            s
        })
        .collect();
    next["status"]["containerStatuses"] = json!(statuses);
    let unready: Vec<&str> = names.iter().map(|(c, _)| c.as_str()).collect();
    if crashing {
        let msg = format!("containers with unready status: [{}]", unready.join(" "));
        set_condition(&mut next, "Ready", "False", "ContainersNotReady", &msg);
        set_condition(
            &mut next,
            "ContainersReady",
            "False",
            "ContainersNotReady",
            &msg,
        );
    } else {
        set_condition(&mut next, "Ready", "True", "", "");
        set_condition(&mut next, "ContainersReady", "True", "", "");
    }
    set_condition(&mut next, "PodScheduled", "True", "", "");
    strip_update_time(&mut next);
    p.save(&key("", "pods"), Some(pod), next, KUBELET);
    if crashing {
        for (c, _) in &names {
            let path = format!("spec.containers{{{c}}}");
            record(
                p,
                pod,
                true,
                "BackOff",
                &format!(
                    "Back-off restarting failed container {c} in pod {}_{}({uid})",
                    meta(pod, "name"),
                    meta(pod, "namespace")
                ),
                &src,
                Some(&path),
            );
        }
        let wait = p
            .timing
            .crash_backoff
            .saturating_mul(1u32 << restarts.min(5));
        let at = p.now + wait.min(Duration::from_secs(300));
        mem.due.insert(id(pod), at);
        p.wake_at(at);
    } else {
        mem.due.remove(&id(pod));
    }
}

/// The kubelet's back-off: 10 s doubling to 5 min.
fn backoff_secs(restarts: u64) -> u64 {
    (10u64 << restarts.min(5)).min(300)
}
