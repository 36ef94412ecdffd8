//! The lab's observability peers behind the Services the observability charts create (the
//! kube simulator's `flux/observability.rs`): each Service's pods get the simulator's listener
//! attached on the Service's port (`KubeSim::serve_port`), so a port-forward through the
//! Kubernetes API (the observability stage's probes, the console) reaches it. Also: the alerts
//! simulator starts firing one more alert once the stage's first probe has read Prometheus'
//! targets ("an alert that starts firing once observability is up").

use super::layout::Layout;
use crate::sim::alerts::{AlertsSim, SimAlert};
use crate::sim::grafana::GrafanaSim;
use crate::sim::kube::KubeSim;
use crate::sim::loki::LokiSim;
use crate::sim::traces::TracesSim;

/// The alert that fires once the observability stage has probed Prometheus.
pub const FIRES_ONCE_UP: &str = "KubeMemoryOvercommit";

/// Start Grafana, the collector and Tempo, and attach every observability peer to its pods.
pub async fn start(
    l: &Layout,
    kube: &KubeSim,
    loki: &LokiSim,
    alerts: &AlertsSim,
) -> Result<(GrafanaSim, TracesSim), String> {
    let grafana = GrafanaSim::start(l.grafana_addr(), None)
        .await
        .map_err(|e| format!("the demo's Grafana cannot listen: {e}"))?;
    let traces = TracesSim::start(l.collector_addr(), l.tempo_addr(), true)
        .await
        .map_err(|e| format!("the demo's OTel collector / Tempo cannot listen: {e}"))?;
    let attach = [
        ("monitoring", "kube-prometheus-stack", 9090, alerts.addr()),
        ("monitoring", "kube-prometheus-stack", 9093, alerts.addr()),
        ("logging", "loki", 3100, loki.addr()),
        ("monitoring", "grafana", 80, grafana.addr()),
        (
            "monitoring",
            "otel-collector",
            4318,
            traces.collector_addr(),
        ),
        ("monitoring", "tempo", 3200, traces.tempo_addr()),
    ];
    for (ns, release, port, addr) in attach {
        kube.serve_port(
            ns,
            &format!("app.kubernetes.io/instance={release}"),
            port,
            addr,
        )
        .map_err(|e| format!("the demo cannot attach {ns}/{release}:{port}: {e}"))?;
    }
    let now = jiff::Timestamp::now().as_second();
    alerts.fire_once_probed(vec![
        SimAlert::new(FIRES_ONCE_UP, "warning", false, now)
            .label("namespace", "kube-system")
            .annotation("summary", "Cluster has overcommitted memory resource requests.")
            .annotation(
                "description",
                "Cluster has overcommitted memory resource requests for Pods by 1.2 GiB and cannot tolerate node failure.",
            ),
    ]);
    Ok((grafana, traces))
}
