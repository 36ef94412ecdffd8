//! Observability peers reached through a port-forward: when neither a flag, the environment nor
//! the cluster definition (`observability.loki_url` / `prometheus_url` / `alertmanager_url`)
//! gives a peer's URL, the console listens on a loopback port and forwards each connection to
//! the Service this repository's cluster tree deploys for that peer
//! (`backends::kube::port_forward`), through the operator's kubeconfig at the cluster's context.
//! The clients get `http://127.0.0.1:<port>` at once; the Service is resolved on the first
//! connection, and again when its pod goes away. The cluster definition's port-forward targets
//! (`observability.loki_service` / `prometheus_service` / `alertmanager_service`, which the
//! observability stage writes after probing them) name the Service instead of the tree's
//! default when set ([`fill_from`]).

use super::endpoints::{Endpoint, Origin, Resolved};
use crate::backends::kube::port_forward::{self, OnEvent};
use crate::config::ObservabilityConfig;
use crate::config::service_target::ServiceTarget;
use std::borrow::Cow;
use std::path::PathBuf;

/// A Service port of the cluster tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub namespace: Cow<'static, str>,
    pub name: Cow<'static, str>,
    pub port: u16,
}

impl ServiceRef {
    /// A `namespace/service:port` target of the cluster definition.
    pub fn from_target(t: ServiceTarget) -> ServiceRef {
        ServiceRef {
            namespace: Cow::Owned(t.namespace),
            name: Cow::Owned(t.name),
            port: t.port,
        }
    }
}

impl std::fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.namespace, self.name, self.port)
    }
}

/// Where the cluster tree deploys Loki: the Service the chart names after the release
/// (`cluster/kubernetes/platform/logging/loki/helmrelease.yaml`, release `loki` in `logging`),
/// which `cluster/kubernetes/platform/logging/loki/httproute.yaml` routes to on port 3100.
pub const LOKI: ServiceRef = ServiceRef {
    namespace: Cow::Borrowed("logging"),
    name: Cow::Borrowed("loki"),
    port: 3100,
};

/// Prometheus: kube-prometheus-stack's Service
/// (`cluster/kubernetes/platform/monitoring/prometheus/helmrelease.yaml`), the backend of
/// `cluster/kubernetes/platform/monitoring/prometheus/config/httproute.yaml`, port 9090.
pub const PROMETHEUS: ServiceRef = ServiceRef {
    namespace: Cow::Borrowed("monitoring"),
    name: Cow::Borrowed("kube-prometheus-stack-prometheus"),
    port: 9090,
};

/// Alertmanager: the `alertmanager-operated` Service the Prometheus Operator creates for
/// `cluster/kubernetes/platform/monitoring/alertmanager/alertmanager.yaml`, the backend of
/// `cluster/kubernetes/platform/monitoring/alertmanager/httproute.yaml`, port 9093.
pub const ALERTMANAGER: ServiceRef = ServiceRef {
    namespace: Cow::Borrowed("monitoring"),
    name: Cow::Borrowed("alertmanager-operated"),
    port: 9093,
};

/// The kubeconfig and context the forwards use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kube {
    pub kubeconfig: PathBuf,
    pub context: String,
}

impl Kube {
    /// The operator's kubeconfig (`$KUBECONFIG`'s first entry, else `~/.kube/config`, where the
    /// k3s stage merges the cluster) at the context named after the cluster.
    pub fn for_cluster(cluster: &str) -> Kube {
        Kube {
            kubeconfig: crate::stages::k3s::K3sOptions::from_process().kubeconfig,
            context: cluster.to_string(),
        }
    }
}

/// The running forwards; dropping them stops listening.
#[derive(Debug, Default)]
pub struct Forwards(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Forwards {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// The text the console shows for a forwarded peer.
pub fn via(url: &str, svc: &ServiceRef) -> String {
    format!("{url} via port-forward to {svc}")
}

/// Give every peer `r` has no URL for a loopback URL forwarded to its Service. Needs a tokio
/// runtime (without one nothing changes). Returns the forwards and a note per forwarded peer;
/// failures of a forward go to `on_event`.
pub fn fill(r: &mut Resolved, kube: &Kube, on_event: OnEvent) -> (Forwards, Vec<String>) {
    fill_from(r, kube, None, on_event)
}

/// The Service for a peer: the cluster definition's target when it is set and valid (else a
/// note says why it was not used), the tree's default otherwise.
fn target(
    configured: Option<&String>,
    default: ServiceRef,
    field: &str,
    notes: &mut Vec<String>,
) -> ServiceRef {
    match configured.map(|t| ServiceTarget::parse(t)) {
        Some(Ok(t)) => ServiceRef::from_target(t),
        Some(Err(e)) => {
            notes.push(format!(
                "observability.{field}: {e}; forwarding to {default} instead"
            ));
            default
        }
        None => default,
    }
}

/// [`fill`], forwarding to the port-forward targets `cfg` names (`observability.*_service`)
/// where it names them.
pub fn fill_from(
    r: &mut Resolved,
    kube: &Kube,
    cfg: Option<&ObservabilityConfig>,
    on_event: OnEvent,
) -> (Forwards, Vec<String>) {
    let mut forwards = Forwards::default();
    let mut notes = vec![];
    if tokio::runtime::Handle::try_current().is_err() {
        return (forwards, notes);
    }
    let loki = target(
        cfg.and_then(|c| c.loki_service.as_ref()),
        LOKI,
        "loki_service",
        &mut notes,
    );
    let prometheus = target(
        cfg.and_then(|c| c.prometheus_service.as_ref()),
        PROMETHEUS,
        "prometheus_service",
        &mut notes,
    );
    let alertmanager = target(
        cfg.and_then(|c| c.alertmanager_service.as_ref()),
        ALERTMANAGER,
        "alertmanager_service",
        &mut notes,
    );
    for (slot, svc, what, field) in [
        (&mut r.loki, loki, "Loki", "loki_url"),
        (
            &mut r.prometheus,
            prometheus,
            "Prometheus",
            "prometheus_url",
        ),
        (
            &mut r.alertmanager,
            alertmanager,
            "Alertmanager",
            "alertmanager_url",
        ),
    ] {
        if slot.is_some() {
            continue;
        }
        let listener = match std::net::TcpListener::bind(("127.0.0.1", 0)) {
            Ok(l) => l,
            Err(e) => {
                notes.push(format!(
                    "{what}: cannot listen on 127.0.0.1 for a port-forward to {svc}: {e}"
                ));
                continue;
            }
        };
        let Ok(addr) = listener.local_addr() else {
            continue;
        };
        forwards.0.push(port_forward::spawn_lazy(
            listener,
            kube.kubeconfig.clone(),
            kube.context.clone(),
            (svc.namespace.to_string(), svc.name.to_string(), svc.port),
            on_event.clone(),
        ));
        let url = format!("http://{addr}");
        notes.push(format!(
            "{what}: no {field} in the cluster definition; {} (context {:?} of {})",
            via(&url, &svc),
            kube.context,
            kube.kubeconfig.display()
        ));
        *slot = Some(Endpoint {
            url,
            origin: Origin::PortForward(svc),
        });
    }
    (forwards, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_target_replaces_the_default_and_a_bad_one_is_noted() {
        let mut notes = vec![];
        let set = "logging/loki-gateway:80".to_string();
        let t = target(Some(&set), LOKI, "loki_service", &mut notes);
        assert_eq!(t.to_string(), "logging/loki-gateway:80");
        assert!(notes.is_empty());
        assert_eq!(target(None, LOKI, "loki_service", &mut notes), LOKI);
        let bad = "loki:3100".to_string();
        assert_eq!(target(Some(&bad), LOKI, "loki_service", &mut notes), LOKI);
        assert_eq!(
            notes,
            [
                "observability.loki_service: `loki:3100` is not namespace/service:port; forwarding to logging/loki:3100 instead"
            ]
        );
    }
}
