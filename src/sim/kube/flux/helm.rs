//! helm-controller (HelmRelease v2): once the chart source is Ready and every `dependsOn`
//! release is Ready, the release is "installed": the chart's CRDs (`charts.rs`) and one
//! Deployment named after the release, labelled as helm-controller and Helm label what they
//! install (`helm.toolkit.fluxcd.io/name`, `helm.toolkit.fluxcd.io/namespace`,
//! `app.kubernetes.io/managed-by: Helm`, `meta.helm.sh/release-name` and
//! `meta.helm.sh/release-namespace`). Helm waits for it: Ready=Unknown `Progressing`
//! "Running 'install' action with timeout of 5m0s" until the Deployment is Available, then
//! Ready and Released True `InstallSucceeded` "Helm install succeeded for release
//! ns/name.v1 with chart chart@version", `status.history`. Messages as helm-controller
//! `internal/reconcile/install.go` words them.
//!
//! Injected ([`Fault::HelmInstall`]): the Deployment's pods crash-loop and the install fails
//! as Helm 4's wait reports it: `InstallFailed` "Helm install failed for release ns/name with
//! chart c@v: resource Deployment/ns/name not ready. status: InProgress, message: Available:
//! 0/1\ncontext deadline exceeded", a Warning Event, `installFailures`. Not simulated:
//! templates and values (one Deployment stands for the chart's workloads), upgrades,
//! remediation retries, tests, drift detection, the release Secret.

use super::super::controllers::events::{Source, record};
use super::super::controllers::{Fault, Pass, key, meta};
use super::charts;
use super::conditions::{self, generation};
use super::crds::{HELM, SOURCE};
use super::duration;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

const MANAGER: &str = "helm-controller";
const SRC: Source = Source {
    component: MANAGER,
    host: None,
};

pub(crate) fn reconcile(p: &mut Pass) {
    for hr in p.list(&key(HELM, "helmreleases"), None) {
        release(p, &hr);
    }
}

/// What a HelmRelease installs.
struct Chart {
    name: String,
    version: String,
    /// `<source ns>/<hr ns>-<hr name>` for a `chart.spec`, empty for a `chartRef`.
    helm_chart: String,
}

fn s<'v>(v: &'v Value, p: &str) -> &'v str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

fn release(p: &mut Pass, hr: &Value) {
    if hr.pointer("/metadata/deletionTimestamp").is_some()
        || hr.pointer("/spec/suspend") == Some(&json!(true))
    {
        return;
    }
    let done = conditions::get(hr, "Ready")
        .is_some_and(|(_, r, _)| r == "InstallSucceeded" || r == "InstallFailed")
        && hr
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            == Some(generation(hr));
    if done {
        // `flux reconcile hr` annotates and waits for the echo; the release stays as it is.
        if let Some(at) = hr.pointer("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")
            && hr.pointer("/status/lastHandledReconcileAt") != Some(at)
        {
            let mut next = Value::clone(hr);
            next["status"]["lastHandledReconcileAt"] = at.clone();
            super::save_status(p, &key(HELM, "helmreleases"), hr, next, MANAGER);
        }
        return;
    }
    let hr_ns = meta(hr, "namespace");
    let hr_name = meta(hr, "name");
    let mut next = Value::clone(hr);
    let k = key(HELM, "helmreleases");
    let chart = match chart_source(p, hr) {
        Ok(c) => c,
        Err(msg) => {
            conditions::set(&mut next, "Ready", "False", "ArtifactFailed", &msg);
            super::save_status(p, &k, hr, next, MANAGER);
            return;
        }
    };
    for dep in hr
        .pointer("/spec/dependsOn")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s(dep, "/name");
        let ns = match s(dep, "/namespace") {
            "" => hr_ns,
            n => n,
        };
        let ready = p
            .store
            .get(&k, ns, name)
            .is_ok_and(|d| conditions::ready_now(&d));
        if !ready {
            let msg = format!("dependency '{ns}/{name}' is not ready");
            conditions::set(&mut next, "Ready", "False", "DependencyNotReady", &msg);
            super::save_status(p, &k, hr, next, MANAGER);
            return;
        }
    }
    let rel_ns = match s(hr, "/spec/targetNamespace") {
        "" => hr_ns.to_string(),
        t => t.to_string(),
    };
    let rel_name = match (s(hr, "/spec/releaseName"), s(hr, "/spec/targetNamespace")) {
        ("", "") => hr_name.to_string(),
        ("", t) => format!("{t}-{hr_name}"),
        (r, _) => r.to_string(),
    };
    let storage_ns = match s(hr, "/spec/storageNamespace") {
        "" => hr_ns,
        n => n,
    };
    let timeout = hr
        .pointer("/spec/install/timeout")
        .or(hr.pointer("/spec/timeout"))
        .and_then(Value::as_str)
        .and_then(duration::parse)
        .unwrap_or(Duration::from_secs(300));
    next["status"]["helmChart"] = json!(chart.helm_chart);
    if chart.helm_chart.is_empty()
        && let Some(st) = next["status"].as_object_mut()
    {
        st.remove("helmChart");
    }
    next["status"]["storageNamespace"] = json!(storage_ns);
    next["status"]["lastAttemptedRevision"] = json!(chart.version);
    next["status"]["lastAttemptedReleaseAction"] = json!("install");
    next["status"]["lastAttemptedGeneration"] = json!(generation(hr));
    let deploy_key = key("apps", "deployments");
    let workload = match p.store.get(&deploy_key, &rel_ns, &rel_name) {
        Ok(d) => d,
        Err(_) => {
            if hr.pointer("/spec/install/crds") != Some(&json!("Skip")) {
                for crd in charts::crds_of(&chart.name) {
                    let name = s(&crd, "/metadata/name").to_string();
                    let exists = p
                        .store
                        .get(&super::super::resources::crd_key(), "", &name)
                        .is_ok();
                    if !exists {
                        p.save(&super::super::resources::crd_key(), None, crd, MANAGER);
                    }
                }
            }
            let d = deployment(hr, &chart, &rel_ns, &rel_name);
            if let Err(e) = p.store.put(&deploy_key, d, MANAGER) {
                let msg = format!(
                    "Helm install failed for release {rel_ns}/{rel_name} with chart {}@{}: failed to create resource: {}",
                    chart.name, chart.version, e.message
                );
                fail(p, hr, next, &msg);
                return;
            }
            let msg = format!(
                "Running 'install' action with timeout of {}",
                duration::format(timeout)
            );
            conditions::progressing(&mut next, &msg);
            super::save_status(p, &k, hr, next, MANAGER);
            return;
        }
    };
    let available = conditions::get(&workload, "Available").is_some_and(|(st, _, _)| st == "True");
    let faulted = p.faults.iter().any(|f| {
        matches!(f, Fault::HelmInstall { namespace, name } if namespace == hr_ns && name == hr_name)
    });
    if faulted {
        // Helm's wait ends when the pods have crashed (the timeout, in a real cluster).
        let crashed = p
            .list(&key("", "pods"), Some(&rel_ns))
            .iter()
            .filter(|pod| meta(pod, "name").starts_with(&format!("{rel_name}-")))
            .any(|pod| {
                pod.pointer("/status/containerStatuses/0/state/waiting/reason")
                    == Some(&json!("CrashLoopBackOff"))
            });
        if !crashed {
            return;
        }
        let want = workload
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let avail = workload
            .pointer("/status/availableReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let msg = format!(
            "Helm install failed for release {rel_ns}/{rel_name} with chart {}@{}: resource Deployment/{rel_ns}/{rel_name} not ready. status: InProgress, message: Available: {avail}/{want}\ncontext deadline exceeded",
            chart.name, chart.version
        );
        next["status"]["history"] = json!([snapshot(hr, &chart, &rel_ns, &rel_name, "failed")]);
        fail(p, hr, next, &msg);
        return;
    }
    if !available {
        return;
    }
    let msg = format!(
        "Helm install succeeded for release {rel_ns}/{rel_name}.v1 with chart {}@{}",
        chart.name, chart.version
    );
    conditions::remove(&mut next, "Reconciling");
    conditions::set(&mut next, "Ready", "True", "InstallSucceeded", &msg);
    conditions::set(&mut next, "Released", "True", "InstallSucceeded", &msg);
    next["status"]["observedGeneration"] = json!(generation(hr));
    next["status"]["history"] = json!([snapshot(hr, &chart, &rel_ns, &rel_name, "deployed")]);
    super::save_status(p, &k, hr, next, MANAGER);
    record(p, hr, false, "InstallSucceeded", &msg, &SRC, None);
}

fn fail(p: &mut Pass, hr: &Value, mut next: Value, msg: &str) {
    conditions::remove(&mut next, "Reconciling");
    conditions::set(&mut next, "Ready", "False", "InstallFailed", msg);
    conditions::set(&mut next, "Released", "False", "InstallFailed", msg);
    next["status"]["observedGeneration"] = json!(generation(hr));
    next["status"]["failures"] = json!(1);
    next["status"]["installFailures"] = json!(1);
    super::save_status(p, &key(HELM, "helmreleases"), hr, next, MANAGER);
    record(p, hr, true, "InstallFailed", msg, &SRC, None);
}

/// The chart to install, once its source is Ready; else the message for ArtifactFailed.
fn chart_source(p: &mut Pass, hr: &Value) -> Result<Chart, String> {
    let hr_ns = meta(hr, "namespace");
    if let Some(r) = hr.pointer("/spec/chartRef") {
        let ns = match s(r, "/namespace") {
            "" => hr_ns,
            n => n,
        };
        let (kind, name) = (s(r, "/kind"), s(r, "/name"));
        let plural = if kind == "HelmChart" {
            "helmcharts"
        } else {
            "ocirepositories"
        };
        let src = p
            .store
            .get(&key(SOURCE, plural), ns, name)
            .map_err(|e| format!("could not get Source object: {}", e.message))?;
        if !conditions::ready_now(&src) {
            let why = conditions::get(&src, "Ready")
                .map(|c| c.2)
                .unwrap_or_default();
            return Err(format!("{kind} '{ns}/{name}' is not ready: {why}"));
        }
        let url = s(&src, "/spec/url");
        let chart = url.rsplit('/').next().unwrap_or(name).to_string();
        let tag = s(&src, "/spec/ref/tag");
        let version = tag.strip_prefix('v').unwrap_or(tag).to_string();
        return Ok(Chart {
            name: chart,
            version,
            helm_chart: String::new(),
        });
    }
    let spec = hr.pointer("/spec/chart/spec").cloned().unwrap_or_default();
    let src_ns = match s(&spec, "/sourceRef/namespace") {
        "" => hr_ns,
        n => n,
    };
    let hc_name = format!("{hr_ns}-{}", meta(hr, "name"));
    let helm_chart = format!("{src_ns}/{hc_name}");
    let hc_key = key(SOURCE, "helmcharts");
    let hc = match p.store.get(&hc_key, src_ns, &hc_name) {
        Ok(hc) => hc,
        Err(_) => {
            let mut source_ref =
                json!({"kind": s(&spec, "/sourceRef/kind"), "name": s(&spec, "/sourceRef/name")});
            if source_ref["kind"] == "" {
                source_ref["kind"] = json!("HelmRepository");
            }
            let hc = json!({
                "apiVersion": format!("{SOURCE}/v1"),
                "kind": "HelmChart",
                "metadata": {"name": hc_name, "namespace": src_ns},
                "spec": {
                    "chart": s(&spec, "/chart"),
                    "version": match s(&spec, "/version") { "" => "*", v => v },
                    "sourceRef": source_ref,
                    "interval": match s(&spec, "/interval") { "" => s(hr, "/spec/interval"), i => i },
                    "reconcileStrategy": "ChartVersion",
                },
            });
            p.save(&hc_key, None, hc, MANAGER);
            return Err(format!("HelmChart '{helm_chart}' is not ready: "));
        }
    };
    if !conditions::ready_now(&hc) {
        let why = conditions::get(&hc, "Ready")
            .map(|c| c.2)
            .unwrap_or_default();
        return Err(format!("HelmChart '{helm_chart}' is not ready: {why}"));
    }
    Ok(Chart {
        name: s(&hc, "/spec/chart").to_string(),
        version: s(&hc, "/status/artifact/revision").to_string(),
        helm_chart,
    })
}

/// The one workload that stands for the chart's templates.
fn deployment(hr: &Value, chart: &Chart, ns: &str, name: &str) -> Value {
    let selector =
        json!({"app.kubernetes.io/name": chart.name, "app.kubernetes.io/instance": name});
    let mut labels = Value::clone(&selector);
    labels["app.kubernetes.io/managed-by"] = json!("Helm");
    labels["app.kubernetes.io/version"] = json!(chart.version);
    labels["helm.sh/chart"] = json!(format!("{}-{}", chart.name, chart.version));
    labels["helm.toolkit.fluxcd.io/name"] = json!(meta(hr, "name"));
    labels["helm.toolkit.fluxcd.io/namespace"] = json!(meta(hr, "namespace"));
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": labels,
            "annotations": {"meta.helm.sh/release-name": name, "meta.helm.sh/release-namespace": ns},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {"containers": [{
                    "name": chart.name,
                    "image": format!("{}:{}", chart.name, chart.version),
                }]},
            },
        },
    })
}

/// One `status.history` entry (helm-controller `api/v2` Snapshot).
fn snapshot(hr: &Value, chart: &Chart, ns: &str, name: &str, status: &str) -> Value {
    let now = super::super::store::now();
    let values = hr.pointer("/spec/values").cloned().unwrap_or(json!({}));
    let config = hex::encode(Sha256::digest(values.to_string().as_bytes()));
    let digest = hex::encode(Sha256::digest(format!("{ns}/{name}/1/{config}").as_bytes()));
    json!({
        "apiVersion": "v2",
        "name": name,
        "namespace": ns,
        "version": 1,
        "status": status,
        "chartName": chart.name,
        "chartVersion": chart.version,
        "appVersion": chart.version,
        "configDigest": format!("sha256:{config}"),
        "digest": format!("sha256:{digest}"),
        "firstDeployed": now,
        "lastDeployed": now,
    })
}
