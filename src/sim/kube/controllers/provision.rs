//! Objects that become ready once something provisions them: PersistentVolumeClaims bind per
//! StorageClass (a PV `pvc-<uid>` is created; `WaitForFirstConsumer` waits for a pod that
//! mounts the claim), Gateways get an address and `Accepted`/`Programmed`, cert-manager
//! Certificates become `Ready`. [`Fault::PvcPending`](super::Fault) keeps a claim Pending with
//! a `ProvisioningFailed` warning.

use super::events::{Source, record};
use super::workloads::set_condition;
use super::{Fault, Pass, key, meta};
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) fn reconcile(p: &mut Pass) {
    let classes = p.list(&key("storage.k8s.io", "storageclasses"), None);
    for pvc in p.list(&key("", "persistentvolumeclaims"), None) {
        claim(p, &pvc, &classes);
    }
    for gw in p.list(&key("gateway.networking.k8s.io", "gateways"), None) {
        gateway(p, &gw);
    }
    for cert in p.list(&key("cert-manager.io", "certificates"), None) {
        certificate(p, &cert);
    }
}

fn class_for<'c>(pvc: &Value, classes: &'c [Arc<Value>]) -> Option<&'c Value> {
    let classes = classes.iter().map(|c| &**c);
    match pvc
        .pointer("/spec/storageClassName")
        .and_then(Value::as_str)
    {
        Some(name) => classes.clone().find(|c| meta(c, "name") == name),
        None => classes.clone().find(|c| {
            c.pointer("/metadata/annotations/storageclass.kubernetes.io~1is-default-class")
                == Some(&json!("true"))
        }),
    }
}

fn mounted(p: &Pass, pvc: &Value) -> bool {
    p.list(&key("", "pods"), Some(meta(pvc, "namespace")))
        .iter()
        .filter(|pod| pod.pointer("/spec/nodeName").is_some())
        .any(|pod| {
            pod.pointer("/spec/volumes")
                .and_then(Value::as_array)
                .is_some_and(|v| {
                    v.iter().any(|v| {
                        v.pointer("/persistentVolumeClaim/claimName")
                            .and_then(Value::as_str)
                            == Some(meta(pvc, "name"))
                    })
                })
        })
}

fn claim(p: &mut Pass, pvc: &Value, classes: &[Arc<Value>]) {
    if pvc.pointer("/status/phase") == Some(&json!("Bound"))
        || pvc.pointer("/metadata/deletionTimestamp").is_some()
    {
        return;
    }
    let Some(class) = class_for(pvc, classes) else {
        return;
    };
    let provisioner = class["provisioner"].as_str().unwrap_or_default();
    let src = Source {
        component: provisioner,
        host: None,
    };
    let class_name = meta(class, "name");
    let mut pending = Value::clone(pvc);
    pending["status"]["phase"] = json!("Pending");
    p.save(
        &key("", "persistentvolumeclaims"),
        Some(pvc),
        pending,
        "kube-controller-manager",
    );
    let stuck = p.faults.iter().any(|f| {
        matches!(f, Fault::PvcPending { namespace, name }
            if namespace == meta(pvc, "namespace") && name == meta(pvc, "name"))
    });
    if stuck {
        let msg = format!(
            "failed to provision volume with StorageClass \"{class_name}\": rpc error: code = Internal desc = no node has enough free storage for 1 replica"
        );
        record(p, pvc, true, "ProvisioningFailed", &msg, &src, None);
        return;
    }
    let wait = class["volumeBindingMode"] == "WaitForFirstConsumer";
    if wait && !mounted(p, pvc) {
        let cm = Source {
            component: "persistentvolume-controller",
            host: None,
        };
        record(
            p,
            pvc,
            false,
            "WaitForFirstConsumer",
            "waiting for first consumer to be created before binding",
            &cm,
            None,
        );
        return;
    }
    let pv_name = format!("pvc-{}", meta(pvc, "uid"));
    let size = pvc
        .pointer("/spec/resources/requests/storage")
        .cloned()
        .unwrap_or(json!("1Gi"));
    let modes = pvc
        .pointer("/spec/accessModes")
        .cloned()
        .unwrap_or(json!(["ReadWriteOnce"]));
    let pv = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": pv_name,
            "annotations": {"pv.kubernetes.io/provisioned-by": provisioner},
            "finalizers": ["kubernetes.io/pv-protection"],
        },
        "spec": {
            "capacity": {"storage": size},
            "accessModes": modes,
            "persistentVolumeReclaimPolicy": class.get("reclaimPolicy").cloned().unwrap_or(json!("Delete")),
            "storageClassName": class_name,
            "volumeMode": "Filesystem",
            "csi": {"driver": provisioner, "volumeHandle": pv_name, "fsType": "ext4"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "namespace": meta(pvc, "namespace"), "name": meta(pvc, "name"),
                "uid": meta(pvc, "uid"), "resourceVersion": meta(pvc, "resourceVersion")},
        },
        "status": {"phase": "Bound"},
    });
    p.save(
        &key("", "persistentvolumes"),
        None,
        pv,
        "kube-controller-manager",
    );
    let mut bound = Value::clone(pvc);
    bound["spec"]["volumeName"] = json!(pv_name);
    bound["spec"]["storageClassName"] = json!(class_name);
    let ann = &mut bound["metadata"]["annotations"];
    if !ann.is_object() {
        *ann = json!({});
    }
    ann["pv.kubernetes.io/bind-completed"] = json!("yes");
    ann["pv.kubernetes.io/bound-by-controller"] = json!("yes");
    ann["volume.kubernetes.io/storage-provisioner"] = json!(provisioner);
    bound["status"] =
        json!({"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}});
    p.save(
        &key("", "persistentvolumeclaims"),
        Some(pvc),
        bound,
        "kube-controller-manager",
    );
    let msg = format!("Successfully provisioned volume {pv_name}");
    record(p, pvc, false, "ProvisioningSucceeded", &msg, &src, None);
}

/// `observedGeneration` on each condition, as Gateway API and cert-manager write it.
fn observed(obj: &mut Value, gen_: &Value) {
    if let Some(list) = obj
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in list {
            c["observedGeneration"] = gen_.clone();
            if let Some(o) = c.as_object_mut() {
                o.remove("lastUpdateTime");
            }
        }
    }
}

fn gateway(p: &mut Pass, gw: &Value) {
    let mut next = Value::clone(gw);
    let address = gw
        .pointer("/spec/addresses/0/value")
        .and_then(Value::as_str)
        .unwrap_or("10.43.200.1")
        .to_string();
    set_condition(
        &mut next,
        "Accepted",
        "True",
        "Accepted",
        "Resource accepted",
    );
    let unaddressed = p.faults.iter().any(|f| {
        matches!(f, Fault::GatewayUnprogrammed { namespace, name }
            if namespace == meta(gw, "namespace") && name == meta(gw, "name"))
    });
    if unaddressed {
        if let Some(st) = next["status"].as_object_mut() {
            st.remove("addresses");
        }
        set_condition(
            &mut next,
            "Programmed",
            "False",
            "AddressNotAssigned",
            "No addresses have been assigned to the Gateway",
        );
    } else {
        next["status"]["addresses"] = json!([{"type": "IPAddress", "value": address}]);
        set_condition(
            &mut next,
            "Programmed",
            "True",
            "Programmed",
            "Resource programmed, assigned to service(s) envoy-gateway-system/envoy",
        );
    }
    let listeners: Vec<Value> = gw
        .pointer("/spec/listeners")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|l| {
            let old = gw
                .pointer("/status/listeners")
                .and_then(Value::as_array)
                .and_then(|o| o.iter().find(|x| x["name"] == l["name"]).cloned());
            // The listener's conditions are kept under `status` while they are updated.
            let mut s = old
                .map(|mut o| {
                    o["status"]["conditions"] = o["conditions"].take();
                    if let Some(m) = o.as_object_mut() {
                        m.remove("conditions");
                    }
                    o
                })
                .unwrap_or_else(|| {
                    json!({"name": l["name"], "attachedRoutes": 0,
                "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"},
                                   {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"}]})
                });
            for (ty, reason, msg) in [
                (
                    "Programmed",
                    "Programmed",
                    "Sending translated listener configuration to the data plane",
                ),
                (
                    "Accepted",
                    "Accepted",
                    "Listener has been successfully translated",
                ),
                (
                    "ResolvedRefs",
                    "ResolvedRefs",
                    "Listener has been successfully translated",
                ),
            ] {
                set_condition(&mut s, ty, "True", reason, msg);
            }
            observed(&mut s, &gw["metadata"]["generation"]);
            s["conditions"] = s["status"]["conditions"].take();
            if let Some(o) = s.as_object_mut() {
                o.remove("status");
            }
            s
        })
        .collect();
    if !listeners.is_empty() {
        next["status"]["listeners"] = json!(listeners);
    }
    observed(&mut next, &gw["metadata"]["generation"]);
    p.save(
        &key("gateway.networking.k8s.io", "gateways"),
        Some(gw),
        next,
        "envoy-gateway",
    );
}

fn certificate(p: &mut Pass, cert: &Value) {
    let mut next = Value::clone(cert);
    set_condition(
        &mut next,
        "Ready",
        "True",
        "Ready",
        "Certificate is up to date and has not expired",
    );
    observed(&mut next, &cert["metadata"]["generation"]);
    if next.pointer("/status/notAfter").is_none() {
        let now = jiff::Timestamp::now();
        let fmt = |t: jiff::Timestamp| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let day = jiff::SignedDuration::from_hours(24);
        next["status"]["notBefore"] = json!(fmt(now));
        next["status"]["notAfter"] = json!(fmt(now.checked_add(day * 90).unwrap_or(now)));
        next["status"]["renewalTime"] = json!(fmt(now.checked_add(day * 60).unwrap_or(now)));
        next["status"]["revision"] = json!(1);
    }
    p.save(
        &key("cert-manager.io", "certificates"),
        Some(cert),
        next,
        "cert-manager-certificates-issuing",
    );
}
