//! Waiting for an object to be ready, on the condition its kind really reports, watch-based
//! (kube::runtime watcher on the one object, never polling). The failing reason and message go
//! to the caller each time they change; a timeout returns the last ones seen.
//!
//! What "ready" means per kind:
//! - CustomResourceDefinition: `Established=True`.
//! - Deployment: `Available=True`.
//! - Gateway: `Accepted=True` and `Programmed=True`; GatewayClass: `Accepted=True`.
//! - HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, UDPRoute: every `status.parents[]` entry has
//!   `Accepted=True` and `ResolvedRefs=True` (a route without parents is not ready).
//! - PersistentVolumeClaim: `status.phase` is `Bound` (PVCs report no ready condition).
//! - Everything else (Pod, Node, Flux objects, cert-manager Certificates, ...): `Ready=True`.
//!
//! A status written for an older spec does not count: `status.observedGeneration`, and the
//! `observedGeneration` of each awaited condition, must equal `metadata.generation` when present;
//! Deployments and Flux objects (`*.toolkit.fluxcd.io`) must report `status.observedGeneration`.

use super::discovery::Resolved;
use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use std::time::Duration;

/// One observation of an object's readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// The condition (or phase) that decided: `Ready`, `Established`, `Bound`, ...
    pub condition: String,
    pub reason: String,
    pub message: String,
}

impl Readiness {
    pub fn not(condition: &str, reason: &str, message: String) -> Readiness {
        Readiness {
            ready: false,
            condition: condition.into(),
            reason: reason.into(),
            message,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("{what}: not ready after {secs}s: {condition} {reason}: {message}", condition = last.condition, reason = last.reason, message = last.message)]
    Timeout {
        what: String,
        secs: u64,
        last: Readiness,
    },
    #[error("{what}: deleted while waiting for it")]
    Deleted { what: String },
}

const ROUTES: &[&str] = &["HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"];

/// The conditions `kind` must report True.
fn awaited(kind: &str) -> &'static [&'static str] {
    match kind {
        "CustomResourceDefinition" => &["Established"],
        "Deployment" => &["Available"],
        "Gateway" => &["Accepted", "Programmed"],
        "GatewayClass" => &["Accepted"],
        k if ROUTES.contains(&k) => &["Accepted", "ResolvedRefs"],
        _ => &["Ready"],
    }
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Whether `kind` always reports `status.observedGeneration` once its controller has seen it.
fn reports_generation(kind: &str, api_version: &str) -> bool {
    kind == "Deployment"
        || api_version
            .split('/')
            .next()
            .is_some_and(|g| g.ends_with("toolkit.fluxcd.io"))
}

/// `conditions` (a status.conditions list) checked for every awaited type at `generation`.
fn check_conditions(conditions: &Value, want: &[&str], generation: Option<i64>) -> Readiness {
    for ty in want {
        let found = conditions.as_array().and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
        });
        let Some(c) = found else {
            return Readiness::not(ty, "NoCondition", format!("no {ty} condition reported yet"));
        };
        let seen = c.get("observedGeneration").and_then(Value::as_i64);
        if let (Some(seen), Some(g)) = (seen, generation)
            && seen != g
        {
            return Readiness::not(
                ty,
                "StaleCondition",
                format!("{ty} is for generation {seen}, the object is at generation {g}"),
            );
        }
        if text(c, "status") != "True" {
            return Readiness::not(ty, &text(c, "reason"), text(c, "message"));
        }
    }
    let last = want.last().copied().unwrap_or("Ready");
    let c = conditions.as_array().and_then(|cs| {
        cs.iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(last))
    });
    Readiness {
        ready: true,
        condition: last.into(),
        reason: c.map(|c| text(c, "reason")).unwrap_or_default(),
        message: c.map(|c| text(c, "message")).unwrap_or_default(),
    }
}

/// Readiness of one object (its JSON, with `kind` and `apiVersion`).
pub fn readiness(obj: &Value) -> Readiness {
    let kind = text(obj, "kind");
    let api_version = text(obj, "apiVersion");
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
    let status = obj.get("status").cloned().unwrap_or(Value::Null);
    let want = awaited(&kind);
    if kind == "PersistentVolumeClaim" {
        let phase = text(&status, "phase");
        return Readiness {
            ready: phase == "Bound",
            condition: "Bound".into(),
            reason: if phase.is_empty() {
                "NoPhase".into()
            } else {
                phase.clone()
            },
            message: format!(
                "phase {}",
                if phase.is_empty() {
                    "not reported yet"
                } else {
                    &phase
                }
            ),
        };
    }
    let observed = status.get("observedGeneration").and_then(Value::as_i64);
    match (observed, generation) {
        (Some(seen), Some(g)) if seen != g => {
            return Readiness::not(
                want[0],
                "StaleStatus",
                format!("status is for generation {seen}, the object is at generation {g}"),
            );
        }
        (None, Some(_)) if reports_generation(&kind, &api_version) => {
            return Readiness::not(
                want[0],
                "NotObserved",
                "the controller has not reported on this object yet".into(),
            );
        }
        _ => {}
    }
    if ROUTES.contains(&kind.as_str()) {
        let parents = status.get("parents").and_then(Value::as_array);
        let Some(parents) = parents.filter(|p| !p.is_empty()) else {
            return Readiness::not(
                "Accepted",
                "NoParents",
                "no parent has reported on this route yet".into(),
            );
        };
        let mut last = None;
        for p in parents {
            let r = check_conditions(
                p.get("conditions").unwrap_or(&Value::Null),
                want,
                generation,
            );
            if !r.ready {
                let parent = p
                    .pointer("/parentRef/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                return Readiness {
                    message: format!("parent {parent}: {}", r.message),
                    ..r
                };
            }
            last = Some(r);
        }
        return last.unwrap_or_else(|| Readiness::not("Accepted", "NoParents", String::new()));
    }
    check_conditions(
        status.get("conditions").unwrap_or(&Value::Null),
        want,
        generation,
    )
}

/// Watch `name` (in `namespace` when the kind is namespaced) until it is ready. `on_change` gets
/// each new readiness (reason and message as they change). A timeout returns the last seen.
pub async fn wait_ready(
    client: &Client,
    res: &Resolved,
    namespace: Option<&str>,
    name: &str,
    timeout: Duration,
    on_change: &mut (dyn FnMut(&Readiness) + Send),
) -> Result<Readiness, WaitError> {
    wait_until(client, res, namespace, name, timeout, &readiness, on_change).await
}

/// [`wait_ready`] with another judge of the object (its JSON, `kind` and `apiVersion` set):
/// e.g. ready *and* at a given revision.
pub async fn wait_until(
    client: &Client,
    res: &Resolved,
    namespace: Option<&str>,
    name: &str,
    timeout: Duration,
    judge: &(dyn Fn(&Value) -> Readiness + Send + Sync),
    on_change: &mut (dyn FnMut(&Readiness) + Send),
) -> Result<Readiness, WaitError> {
    let api: Api<DynamicObject> = match (res.namespaced, namespace) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &res.resource),
        _ => Api::all_with(client.clone(), &res.resource),
    };
    let what = match namespace.filter(|_| res.namespaced) {
        Some(ns) => format!("{} {ns}/{name}", res.resource.kind),
        None => format!("{} {name}", res.resource.kind),
    };
    let config = watcher::Config::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(60);
    let mut stream = Box::pin(watcher(api, config).default_backoff());
    let mut last = Readiness::not(
        awaited(&res.resource.kind)[0],
        "NotFound",
        "the object does not exist yet".into(),
    );
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let ev = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(ev)) => ev,
            Ok(None) | Err(_) => {
                return Err(WaitError::Timeout {
                    what,
                    secs: timeout.as_secs(),
                    last,
                });
            }
        };
        let obj = match ev {
            Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => o,
            Ok(watcher::Event::Delete(_)) => return Err(WaitError::Deleted { what }),
            Ok(watcher::Event::Init) | Ok(watcher::Event::InitDone) => continue,
            Err(e) => {
                let r = Readiness::not(&last.condition, "WatchError", e.to_string());
                if r != last {
                    on_change(&r);
                    last = r;
                }
                continue;
            }
        };
        let mut json = serde_json::to_value(&obj).unwrap_or(Value::Null);
        if json.get("kind").is_none() {
            json["kind"] = Value::String(res.resource.kind.clone());
            json["apiVersion"] = Value::String(res.resource.api_version.clone());
        }
        let r = judge(&json);
        if r != last {
            on_change(&r);
            last = r;
        }
        if last.ready {
            return Ok(last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(ty: &str, status: &str, reason: &str) -> Value {
        json!({"type": ty, "status": status, "reason": reason, "message": format!("{ty} {reason}")})
    }

    #[test]
    fn each_kind_waits_on_the_condition_it_reports() {
        let deploy = |observed: i64, available: &str| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generation": 2},
                "status": {"observedGeneration": observed,
                    "conditions": [cond("Available", available, "MinimumReplicasAvailable")]}})
        };
        assert!(readiness(&deploy(2, "True")).ready);
        let stale = readiness(&deploy(1, "True"));
        assert_eq!((stale.ready, stale.reason.as_str()), (false, "StaleStatus"));
        assert!(!readiness(&deploy(2, "False")).ready);

        let gateway = |programmed: &str| {
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                "metadata": {"generation": 1},
                "status": {"conditions": [
                    cond("Accepted", "True", "Accepted"),
                    json!({"type": "Programmed", "status": programmed, "reason": "AddressNotAssigned",
                        "message": "no address", "observedGeneration": 1})]}})
        };
        assert!(readiness(&gateway("True")).ready);
        let g = readiness(&gateway("False"));
        assert_eq!(
            (g.condition.as_str(), g.reason.as_str()),
            ("Programmed", "AddressNotAssigned")
        );

        let route = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"generation": 3},
            "status": {"parents": [{"parentRef": {"name": "internal"}, "conditions": [
                cond("Accepted", "True", "Accepted"),
                json!({"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs",
                    "message": "", "observedGeneration": 2})]}]}});
        let r = readiness(&route);
        assert_eq!((r.ready, r.condition.as_str()), (false, "ResolvedRefs"));
        assert!(r.message.starts_with("parent internal: "), "{}", r.message);

        let pvc = |phase: &str| json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": phase}});
        assert!(readiness(&pvc("Bound")).ready);
        assert_eq!(readiness(&pvc("Pending")).reason, "Pending");

        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"generation": 1},
            "status": {"conditions": [cond("NamesAccepted", "True", "NoConflicts"),
                cond("Established", "True", "InitialNamesAccepted")]}});
        let c = readiness(&crd);
        assert_eq!((c.ready, c.condition.as_str()), (true, "Established"));

        // Flux: no status.observedGeneration yet is not ready even with Ready=True.
        let hr = json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"generation": 1},
            "status": {"conditions": [cond("Ready", "True", "InstallSucceeded")]}});
        assert_eq!(readiness(&hr).reason, "NotObserved");
    }
}
