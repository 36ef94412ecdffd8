//! Observability peers reached through a port-forward: when neither a flag, the environment nor
//! the cluster definition (`observability.loki_url` / `prometheus_url` / `alertmanager_url`)
//! gives a peer's URL, the console listens on a loopback port and forwards each connection to
//! the Service this repository's cluster tree deploys for that peer
//! (`backends::kube::port_forward`), through the operator's kubeconfig at the cluster's context.
//! The clients get `http://127.0.0.1:<port>` at once; the Service is resolved on the first
//! connection, and again when its pod goes away.

use super::endpoints::{Endpoint, Origin, Resolved};
use crate::backends::kube::port_forward::{self, OnEvent};
use std::path::PathBuf;

/// A Service port of the cluster tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRef {
    pub namespace: &'static str,
    pub name: &'static str,
    pub port: u16,
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
    namespace: "logging",
    name: "loki",
    port: 3100,
};

/// Prometheus: kube-prometheus-stack's Service
/// (`cluster/kubernetes/platform/monitoring/prometheus/helmrelease.yaml`), the backend of
/// `cluster/kubernetes/platform/monitoring/prometheus/config/httproute.yaml`, port 9090.
pub const PROMETHEUS: ServiceRef = ServiceRef {
    namespace: "monitoring",
    name: "kube-prometheus-stack-prometheus",
    port: 9090,
};

/// Alertmanager: the `alertmanager-operated` Service the Prometheus Operator creates for
/// `cluster/kubernetes/platform/monitoring/alertmanager/alertmanager.yaml`, the backend of
/// `cluster/kubernetes/platform/monitoring/alertmanager/httproute.yaml`, port 9093.
pub const ALERTMANAGER: ServiceRef = ServiceRef {
    namespace: "monitoring",
    name: "alertmanager-operated",
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
pub fn via(url: &str, svc: ServiceRef) -> String {
    format!("{url} via port-forward to {svc}")
}

/// Give every peer `r` has no URL for a loopback URL forwarded to its Service. Needs a tokio
/// runtime (without one nothing changes). Returns the forwards and a note per forwarded peer;
/// failures of a forward go to `on_event`.
pub fn fill(r: &mut Resolved, kube: &Kube, on_event: OnEvent) -> (Forwards, Vec<String>) {
    let mut forwards = Forwards::default();
    let mut notes = vec![];
    if tokio::runtime::Handle::try_current().is_err() {
        return (forwards, notes);
    }
    for (slot, svc, what, field) in [
        (&mut r.loki, LOKI, "Loki", "loki_url"),
        (
            &mut r.prometheus,
            PROMETHEUS,
            "Prometheus",
            "prometheus_url",
        ),
        (
            &mut r.alertmanager,
            ALERTMANAGER,
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
            (svc.namespace.into(), svc.name.into(), svc.port),
            on_event.clone(),
        ));
        let url = format!("http://{addr}");
        notes.push(format!(
            "{what}: no {field} in the cluster definition; {} (context {:?} of {})",
            via(&url, svc),
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
