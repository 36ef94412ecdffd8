//! API-server defaulting in the kube simulator (src/sim/kube/defaults.rs), seen through the real
//! kubectl: the defaults show in `get -o yaml`, the applier's managedFields claim none of them,
//! a second identical apply writes nothing, a Service gets its ClusterIP.

use crate::kube_api::Kubectl;
use crate::nodes::{require_peer, which};
use homelab::sim::kube::{KubeSim, SimOptions};
use serde_json::Value;

const APPLIED: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        ports:
        - containerPort: 80
      - name: sidecar
        image: busybox
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector: {app: web}
  ports:
  - port: 80
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_fills_in_defaults_the_applier_does_not_own() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    let sim = KubeSim::start(SimOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(&sim, dir.path());
    let manifest = dir.path().join("web.yaml");
    std::fs::write(&manifest, APPLIED).unwrap();
    let path = manifest.to_str().unwrap();
    k.ok(&["apply", "--server-side", "-f", path]).await;

    let yaml = k
        .ok(&["get", "deploy", "web", "-n", "demo", "-o", "yaml"])
        .await;
    for line in [
        "  progressDeadlineSeconds: 600",
        "  replicas: 1",
        "  revisionHistoryLimit: 10",
        "      maxSurge: 25%",
        "      maxUnavailable: 25%",
        "    type: RollingUpdate",
        "      dnsPolicy: ClusterFirst",
        "      restartPolicy: Always",
        "      schedulerName: default-scheduler",
        "      securityContext: {}",
        "      terminationGracePeriodSeconds: 30",
        "        imagePullPolicy: IfNotPresent",
        "        imagePullPolicy: Always",
        "          protocol: TCP",
        "        terminationMessagePath: /dev/termination-log",
        "        terminationMessagePolicy: File",
    ] {
        assert!(
            yaml.lines().any(|l| l == line),
            "missing {line:?} in\n{yaml}"
        );
    }

    // managedFields: kubectl's apply entry holds what it sent, none of the defaults.
    let d: Value = serde_json::from_str(
        &k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "demo",
            "-o",
            "json",
            "--show-managed-fields",
        ])
        .await,
    )
    .unwrap();
    let entries = d["metadata"]["managedFields"].as_array().unwrap();
    let apply = entries
        .iter()
        .find(|e| e["manager"] == "kubectl" && e["operation"] == "Apply")
        .unwrap();
    let fields = apply["fieldsV1"].to_string();
    assert!(fields.contains("f:selector"), "{fields}");
    for default in [
        "f:strategy",
        "f:revisionHistoryLimit",
        "f:progressDeadlineSeconds",
        "f:replicas",
        "f:dnsPolicy",
        "f:imagePullPolicy",
        "f:protocol",
    ] {
        assert!(!fields.contains(default), "{default} in {fields}");
    }

    // The same apply again changes nothing: defaults are not a difference.
    let rv = d["metadata"]["resourceVersion"].clone();
    k.ok(&["apply", "--server-side", "-f", path]).await;
    let again = k
        .ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "demo",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .await;
    assert_eq!(Value::String(again), rv);

    // The Service: ClusterIP allocated in k3s's range, port defaults, shown by `get svc`.
    let svc: Value = serde_json::from_str(
        &k.ok(&["get", "svc", "web", "-n", "demo", "-o", "json"])
            .await,
    )
    .unwrap();
    let spec = &svc["spec"];
    let ip = spec["clusterIP"].as_str().unwrap();
    assert!(ip.starts_with("10.43."), "{spec}");
    assert_eq!(spec["clusterIPs"], serde_json::json!([ip]));
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(
        spec["ports"][0],
        serde_json::json!({"port": 80, "protocol": "TCP", "targetPort": 80})
    );
    let table = k.ok(&["get", "svc", "web", "-n", "demo"]).await;
    assert!(table.contains(ip), "{table}");
}
