//! JSON shapes the simulator serves: Node objects as a k3s kubelet registers them, and /version.

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

/// Replace the Ready condition.
pub fn set_ready(obj: &mut Value, ready: bool) {
    if let Some(conds) = obj
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        conds.retain(|c| c["type"] != "Ready");
        conds.push(ready_condition(ready));
    }
}

pub fn version(git_version: &str) -> Value {
    let minor = crate::domain::version::parse_version(git_version)
        .map(|(_, m, _)| m.to_string())
        .unwrap_or_default();
    json!({"major":"1","minor":minor,"gitVersion":git_version,
           "gitCommit":"0000000000000000000000000000000000000000","gitTreeState":"clean",
           "buildDate":"2026-01-01T00:00:00Z","goVersion":"go1.24.4","compiler":"gc","platform":"linux/amd64"})
}
