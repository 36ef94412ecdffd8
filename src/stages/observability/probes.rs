//! The five probes, each through a port-forward to its Service (`backends::kube::port_forward`)
//! and each reporting [`Evidence`]: Prometheus' targets up, Alertmanager's Watchdog firing,
//! Promtail's logs in Loki from every node, Grafana's datasources healthy, and an OTLP span
//! through the collector found again in Tempo.

use super::components::{
    ALERTMANAGER, GRAFANA, GRAFANA_ADMIN, GRAFANA_PASSWORD_KEY, GRAFANA_USER_KEY, LOKI, NODE_LABEL,
    OTEL_COLLECTOR, PROMETHEUS, Service, TEMPO,
};
use super::wait::{Passed, Pending};
use crate::backends::endpoint::{Auth, EndpointError, Timeouts};
use crate::backends::grafana::GrafanaClient;
use crate::backends::kube::port_forward::{self, ServiceForward};
use crate::backends::loki::LokiClient;
use crate::backends::prom::{AlertmanagerClient, PrometheusClient};
use crate::backends::traces::{OtlpClient, ProbeSpan, TempoClient};
use crate::domain::printable::sanitize;
use crate::stages::engine::StageError;
use crate::stages::probe::{Evidence, Stopwatch};
use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, ListParams};
use std::sync::Arc;
use std::time::Duration;

/// Timeouts of one probe request.
fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        request: Duration::from_secs(10),
    }
}

/// A Service reached through a port-forward for as long as this lives.
pub struct Reached {
    _forward: ServiceForward,
    pub url: String,
}

/// Forward a loopback port to `svc`.
pub async fn reach(client: &Client, svc: Service) -> Result<Reached, Pending> {
    let fwd = port_forward::forward_service(
        client.clone(),
        svc.namespace,
        svc.name,
        svc.port,
        Arc::new(|_| {}),
    )
    .await
    .map_err(|e| {
        Pending::waiting(
            StageError::new(format!("{}: {e}", svc.what)).with_hint(format!(
                "`kubectl -n {} get svc,pods` — is the {} pod Ready?",
                svc.namespace, svc.what
            )),
        )
    })?;
    Ok(Reached {
        url: format!("http://{}", fwd.local),
        _forward: fwd,
    })
}

fn peer_failed(svc: Service, e: &EndpointError) -> Pending {
    Pending::waiting(StageError::new(format!(
        "{} at {} (port-forward): {}",
        svc.what,
        svc.label(),
        sanitize(&e.to_string())
    )))
}

fn client_err(svc: Service, e: EndpointError) -> Pending {
    Pending::fatal(StageError::new(format!("{}: {e}", svc.what)))
}

/// Prometheus: every active target `health: up`; `unknown` ones are waited for, down ones named.
pub async fn prometheus_targets(client: &Client) -> Result<Passed, Pending> {
    let at = reach(client, PROMETHEUS).await?;
    let prom = PrometheusClient::new(&at.url, Auth::None, timeouts())
        .map_err(|e| client_err(PROMETHEUS, e))?;
    let clock = Stopwatch::start();
    let sent = "GET /api/v1/targets?state=active";
    let targets = prom
        .targets()
        .await
        .map_err(|e| peer_failed(PROMETHEUS, &e))?;
    let down: Vec<String> = targets
        .iter()
        .filter(|t| t.health == "down")
        .map(|t| {
            let why = sanitize(&t.last_error);
            if why.is_empty() {
                sanitize(&t.name()).into_owned()
            } else {
                format!("{} ({why})", sanitize(&t.name()))
            }
        })
        .collect();
    let unknown = targets
        .iter()
        .filter(|t| t.health != "up" && t.health != "down")
        .count();
    let up = targets.len() - down.len() - unknown;
    let read = if down.is_empty() {
        format!("{up} of {} active targets up", targets.len())
    } else {
        format!("down: {}", down.join(", "))
    };
    let ok = !targets.is_empty() && down.is_empty() && unknown == 0;
    let evidence = Evidence::new("prometheus/targets", sent, &read, clock.elapsed(), ok);
    if targets.is_empty() {
        return Err(Pending::waiting(
            StageError::new("Prometheus has no active scrape targets")
                .with_hint("check the ServiceMonitors and the kube-prometheus-stack values in cluster/kubernetes/platform/monitoring/prometheus/helmrelease.yaml"),
        )
        .with_evidence(evidence));
    }
    if !down.is_empty() {
        return Err(Pending::waiting(
            StageError::new(format!("Prometheus targets down: {}", down.join(", "))).with_hint(
                "open Prometheus' Targets page (`kubectl -n monitoring port-forward svc/kube-prometheus-stack-prometheus 9090`) \
                 and fix the exporter or its ServiceMonitor in the tree",
            ),
        )
        .with_evidence(evidence));
    }
    if unknown > 0 {
        return Err(Pending::waiting(StageError::new(format!(
            "{unknown} Prometheus target(s) not scraped yet"
        )))
        .with_evidence(evidence));
    }
    Ok(Passed {
        detail: format!("Prometheus: {read}"),
        evidence: Some(evidence),
    })
}

/// Alertmanager: the Watchdog alert is there and active.
pub async fn watchdog(client: &Client) -> Result<Passed, Pending> {
    let at = reach(client, ALERTMANAGER).await?;
    let am = AlertmanagerClient::new(&at.url, Auth::None, timeouts())
        .map_err(|e| client_err(ALERTMANAGER, e))?;
    let clock = Stopwatch::start();
    let alerts = am
        .alerts()
        .await
        .map_err(|e| peer_failed(ALERTMANAGER, &e))?;
    let dog = alerts
        .iter()
        .find(|a| a.labels.get("alertname").map(String::as_str) == Some("Watchdog"));
    let read = match dog {
        Some(a) => format!(
            "Watchdog {} since {}",
            a.status.state,
            a.starts_at.as_deref().unwrap_or("?")
        ),
        None => format!("{} alerts, no Watchdog", alerts.len()),
    };
    let ok = dog.is_some_and(|a| a.status.state == "active");
    let evidence = Evidence::new(
        "alertmanager/watchdog",
        "GET /api/v2/alerts",
        sanitize(&read),
        clock.elapsed(),
        ok,
    );
    if !ok {
        return Err(Pending::waiting(
            StageError::new(format!("Alertmanager does not show the Watchdog alert firing: {}", sanitize(&read)))
                .with_hint(
                    "the Watchdog rule comes with kube-prometheus-stack (defaultRules) and reaches Alertmanager through \
                     prometheusSpec.alertingEndpoints in cluster/kubernetes/platform/monitoring/prometheus/helmrelease.yaml: \
                     check both, and Prometheus' /api/v1/alertmanagers",
                ),
        )
        .with_evidence(evidence));
    }
    Ok(Passed {
        detail: format!("Alertmanager: {read}"),
        evidence: Some(evidence),
    })
}

/// Loki: lines from every node over the last five minutes (`{node_name="<node>"}`, the label
/// Promtail gives every stream).
pub async fn loki_nodes(client: &Client) -> Result<Passed, Pending> {
    let nodes: Vec<String> = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| Pending::fatal(StageError::new(format!("listing nodes: {e}"))))?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    let at = reach(client, LOKI).await?;
    let loki = LokiClient::new(&at.url, Auth::None, timeouts()).map_err(|e| client_err(LOKI, e))?;
    let clock = Stopwatch::start();
    let to = jiff::Timestamp::now().as_nanosecond();
    let to = i64::try_from(to).unwrap_or(i64::MAX);
    let from = to.saturating_sub(300 * 1_000_000_000);
    let mut counts = Vec::new();
    let mut silent = Vec::new();
    for node in &nodes {
        let query = format!("{{{NODE_LABEL}=\"{node}\"}}");
        let n = loki
            .count_lines(&query, from, to)
            .await
            .map_err(|e| peer_failed(LOKI, &e))?;
        counts.push(format!("{node}: {n}"));
        if n == 0 {
            silent.push(node.clone());
        }
    }
    let wrote = format!(
        "count_over_time({{{NODE_LABEL}=\"<node>\"}} [5m]) for {} nodes",
        nodes.len()
    );
    let read = format!("lines {}", counts.join(", "));
    let ok = silent.is_empty() && !nodes.is_empty();
    let evidence = Evidence::new("loki/promtail", wrote, &read, clock.elapsed(), ok);
    if let Some(node) = silent.first() {
        let all = silent.join(", ");
        return Err(Pending::waiting(
            StageError::new(format!("Loki has no Promtail logs from node {all} in the last 5 minutes"))
                .with_hint(format!(
                    "look at the promtail pod on {node}: `kubectl -n logging logs -l app.kubernetes.io/name=promtail --field-selector spec.nodeName={node}` \
                     (push errors, a wrong clients.url in cluster/kubernetes/platform/logging/promtail/helmrelease.yaml)"
                )),
        )
        .with_evidence(evidence));
    }
    if nodes.is_empty() {
        return Err(
            Pending::waiting(StageError::new("the cluster has no nodes")).with_evidence(evidence),
        );
    }
    Ok(Passed {
        detail: format!("Loki: Promtail logs from every node ({read})"),
        evidence: Some(evidence),
    })
}

/// Grafana: `/api/datasources/uid/{uid}/health` answers OK for every datasource, logged in with
/// the admin Secret the Grafana release uses.
pub async fn grafana_datasources(client: &Client) -> Result<Passed, Pending> {
    let (ns, secret) = GRAFANA_ADMIN;
    let read_key = |key: &'static str| async move {
        crate::stages::flux::cluster::secret_value(client, ns, secret, key)
            .await
            .map_err(Pending::fatal)?
            .ok_or_else(|| {
                Pending::waiting(
                    StageError::new(format!("Secret {ns}/{secret} has no `{key}`"))
                        .with_hint("the Flux stage renders it from the env file (GRAFANA_ADMIN_*): run it again, and `flux get kustomizations`"),
                )
            })
    };
    let user = read_key(GRAFANA_USER_KEY).await?;
    let password = read_key(GRAFANA_PASSWORD_KEY).await?;
    let auth = Auth::Basic {
        user: user.to_string(),
        password,
    };
    let at = reach(client, GRAFANA).await?;
    let grafana =
        GrafanaClient::new(&at.url, auth, timeouts()).map_err(|e| client_err(GRAFANA, e))?;
    let clock = Stopwatch::start();
    let sources = grafana
        .datasources()
        .await
        .map_err(|e| peer_failed(GRAFANA, &e))?;
    let mut answers = Vec::new();
    let mut failing = Vec::new();
    for d in &sources {
        let h = grafana
            .health(&d.uid)
            .await
            .map_err(|e| peer_failed(GRAFANA, &e))?;
        let line = format!(
            "{}: {} {}",
            sanitize(&d.uid),
            sanitize(&h.status),
            sanitize(&h.message)
        );
        if !h.ok() {
            failing.push(line.clone());
        }
        answers.push(line);
    }
    let wrote = format!(
        "GET /api/datasources/uid/{{uid}}/health for {} datasources",
        sources.len()
    );
    let read = answers.join("; ");
    let ok = failing.is_empty() && !sources.is_empty();
    let evidence = Evidence::new("grafana/datasources", wrote, &read, clock.elapsed(), ok);
    if sources.is_empty() {
        return Err(Pending::waiting(
            StageError::new("Grafana has no datasources")
                .with_hint("datasources come from the values of cluster/kubernetes/platform/monitoring/grafana/helmrelease.yaml"),
        )
        .with_evidence(evidence));
    }
    if !failing.is_empty() {
        return Err(Pending::waiting(
            StageError::new(format!("Grafana datasource health failed: {}", failing.join("; "))).with_hint(
                "check the datasource's url in cluster/kubernetes/platform/monitoring/grafana/helmrelease.yaml and that its Service answers",
            ),
        )
        .with_evidence(evidence));
    }
    Ok(Passed {
        detail: format!("Grafana: {read}"),
        evidence: Some(evidence),
    })
}

/// Traces: one span sent to the collector over OTLP/HTTP, then Tempo asked for its trace until
/// it has it (at most `wait`).
pub async fn otlp_trace(
    client: &Client,
    wait: Duration,
    poll: Duration,
) -> Result<Passed, Pending> {
    let collector = reach(client, OTEL_COLLECTOR).await?;
    let tempo_at = reach(client, TEMPO).await?;
    let otlp = OtlpClient::new(&collector.url, Auth::None, timeouts())
        .map_err(|e| client_err(OTEL_COLLECTOR, e))?;
    let tempo = TempoClient::new(&tempo_at.url, Auth::None, timeouts())
        .map_err(|e| client_err(TEMPO, e))?;
    let span = ProbeSpan::random("homelab-probe", "observability-stage");
    let clock = Stopwatch::start();
    otlp.send(&span)
        .await
        .map_err(|e| peer_failed(OTEL_COLLECTOR, &e))?;
    let wrote = format!(
        "POST /v1/traces span {} of trace {}",
        span.span_id, span.trace_id
    );
    let deadline = tokio::time::Instant::now() + wait;
    let mut backoff = crate::stages::poll::Backoff::new(poll);
    loop {
        let found = tempo
            .trace(&span.trace_id)
            .await
            .map_err(|e| peer_failed(TEMPO, &e))?;
        if let Some(spans) = found {
            let ours = spans
                .iter()
                .any(|s| s.trace_id == span.trace_id && s.span_id == span.span_id);
            let read = format!(
                "trace {} with {} span(s){}",
                span.trace_id,
                spans.len(),
                if ours {
                    ", ours among them"
                } else {
                    ", not ours"
                }
            );
            let evidence = Evidence::new("otlp/trace", &wrote, &read, clock.elapsed(), ours);
            if ours {
                return Ok(Passed {
                    detail: format!("OTel collector -> Tempo: {read}"),
                    evidence: Some(evidence),
                });
            }
            return Err(Pending::waiting(StageError::new(format!(
                "Tempo's trace {} does not hold the span the probe sent ({read})",
                span.trace_id
            )))
            .with_evidence(evidence));
        }
        if tokio::time::Instant::now() + backoff.peek() > deadline {
            let evidence = Evidence::new(
                "otlp/trace",
                &wrote,
                "404: no such trace",
                clock.elapsed(),
                false,
            );
            return Err(Pending::waiting(
                StageError::new(format!(
                    "the OTel collector accepted the span but Tempo has no trace {} after {} s",
                    span.trace_id,
                    wait.as_secs()
                ))
                .with_hint(
                    "the collector's traces pipeline must export to Tempo: check exporters and service.pipelines.traces in \
                     cluster/kubernetes/platform/monitoring/otel-collector/helmrelease.yaml",
                ),
            )
            .with_evidence(evidence));
        }
        tokio::time::sleep(backoff.next_interval()).await;
    }
}
