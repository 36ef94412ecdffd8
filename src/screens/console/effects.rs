//! Turns [`ConsoleEffect`]s into the app's keyed [`Task`]s (the runtime runs them and delivers
//! their [`BackendEvent`]s). The tail and the alert pollers are long-lived streams; a new tail
//! replaces the old one because it reuses the key (newest request wins), and leaving the
//! console cancels them by key.

use super::events::{AlertSource, AlertsUpdate, ConsoleEffect, ConsoleEvent};
use crate::backends::backoff::Backoff;
use crate::backends::endpoint::EndpointError;
use crate::backends::loki::{LokiClient, TailEvent};
use crate::backends::prom::{AlertmanagerClient, PrometheusClient};
use crate::msg::BackendEvent;
use crate::runtime::effects::{EventSink, Task, TaskKey};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// The clients the console talks to; `None` when that peer is not configured.
#[derive(Debug, Clone)]
pub struct ConsoleBackends {
    pub loki: Option<LokiClient>,
    pub prometheus: Option<PrometheusClient>,
    pub alertmanager: Option<AlertmanagerClient>,
    /// How often alerts are polled while the peers answer.
    pub alert_poll: Duration,
    /// "Poll now" for the alert pollers (after a silence change).
    pub refresh: Arc<Notify>,
    /// The clients of the panes added through the registry.
    pub panes: super::panes::PaneBackends,
    /// How the incident view reaches Kubernetes and Proxmox VE (`None`: no cluster definition,
    /// as in the demo; the view then says so).
    pub incident: Option<Arc<super::incident::connect::IncidentConnect>>,
}

impl Default for ConsoleBackends {
    fn default() -> Self {
        Self {
            loki: None,
            prometheus: None,
            alertmanager: None,
            alert_poll: ALERT_POLL,
            refresh: Arc::new(Notify::new()),
            panes: super::panes::PaneBackends::default(),
            incident: None,
        }
    }
}

/// Default alert poll interval.
pub const ALERT_POLL: Duration = Duration::from_secs(5);

pub const TAIL_KEY: &str = "console:loki-tail";
pub const PROMETHEUS_KEY: &str = "console:alerts:prometheus";
pub const ALERTMANAGER_KEY: &str = "console:alerts:alertmanager";
pub const INCIDENT_KEY: &str = "console:incident";

/// Keys of the console's subscriptions (cancelled when leaving the screen).
pub fn subscription_keys() -> Vec<TaskKey> {
    let mut keys = vec![
        TaskKey::new(TAIL_KEY),
        TaskKey::new(PROMETHEUS_KEY),
        TaskKey::new(ALERTMANAGER_KEY),
        TaskKey::new(INCIDENT_KEY),
    ];
    keys.extend(super::panes::subscription_keys());
    keys
}

/// What an effect becomes.
#[derive(Debug)]
pub enum Planned {
    Spawn(Task),
    Cancel(TaskKey),
    /// Write this OSC 52 sequence to the terminal (on the UI task, between frames).
    Terminal(String),
    /// Nothing to do (peer not configured; already reported in the pane).
    Nothing,
    /// Poke the alert pollers.
    Notify,
}

/// The OSC 52 sequence that puts `text` on the terminal's clipboard (sanitized: the one
/// function is `domain::printable::osc52`).
pub fn osc52(text: &str) -> String {
    crate::domain::printable::osc52(text)
}

fn ev(e: ConsoleEvent) -> BackendEvent {
    BackendEvent::Console(e)
}

/// Plan the work for `effect`.
pub fn plan(effect: ConsoleEffect, b: &ConsoleBackends) -> Vec<Planned> {
    if let ConsoleEffect::WatchAlerts = effect {
        return alert_pollers(b).into_iter().map(Planned::Spawn).collect();
    }
    vec![plan_one(effect, b)]
}

fn plan_one(effect: ConsoleEffect, b: &ConsoleBackends) -> Planned {
    match effect {
        ConsoleEffect::QueryLogs { generation, query } => {
            let Some(loki) = b.loki.clone() else {
                return Planned::Nothing;
            };
            Planned::Spawn(Task::future(
                TaskKey::new("console:loki-query"),
                "Loki query",
                async move {
                    let result = loki.query_range(&query).await.map_err(|e| e.to_string());
                    ev(ConsoleEvent::LogsLoaded { generation, result })
                },
            ))
        }
        ConsoleEffect::StartTail {
            generation,
            request,
        } => {
            let Some(loki) = b.loki.clone() else {
                return Planned::Nothing;
            };
            Planned::Spawn(Task::stream(
                TaskKey::new(TAIL_KEY),
                "Loki live tail",
                move |sink| async move {
                    let (tx, rx) = mpsc::channel::<TailEvent>(256);
                    let tail = tokio::spawn(async move { loki.tail(request, tx).await });
                    forward_tail(rx, generation, &sink).await;
                    tail.abort();
                },
            ))
        }
        ConsoleEffect::StopTail => Planned::Cancel(TaskKey::new(TAIL_KEY)),
        ConsoleEffect::FetchLabels => {
            let Some(loki) = b.loki.clone() else {
                return Planned::Nothing;
            };
            Planned::Spawn(Task::future(
                TaskKey::new("console:loki-labels"),
                "Loki labels",
                async move {
                    ev(ConsoleEvent::LabelsLoaded(
                        loki.labels(6 * 3600).await.map_err(|e| e.short()),
                    ))
                },
            ))
        }
        ConsoleEffect::FetchLabelValues { name } => {
            let Some(loki) = b.loki.clone() else {
                return Planned::Nothing;
            };
            let key = TaskKey::new(format!("console:loki-values:{name}"));
            Planned::Spawn(Task::future(key, "Loki label values", async move {
                let result = loki
                    .label_values(&name, 6 * 3600)
                    .await
                    .map_err(|e| e.short());
                ev(ConsoleEvent::LabelValuesLoaded { name, result })
            }))
        }
        ConsoleEffect::WatchAlerts => Planned::Nothing,
        ConsoleEffect::RefreshAlerts => Planned::Notify,
        ConsoleEffect::CreateSilence(silence) => {
            let am = b.alertmanager.clone();
            Planned::Spawn(Task::future(
                TaskKey::new("console:silence"),
                "create a silence",
                async move {
                    let result = match am {
                        Some(am) => am.create_silence(&silence).await.map_err(|e| e.to_string()),
                        None => Err("Alertmanager is not configured".into()),
                    };
                    ev(ConsoleEvent::SilenceCreated(result))
                },
            ))
        }
        ConsoleEffect::ExpireSilence { id } => {
            let Some(am) = b.alertmanager.clone() else {
                return Planned::Nothing;
            };
            let key = TaskKey::new(format!("console:expire:{id}"));
            Planned::Spawn(Task::future(key, "expire a silence", async move {
                let result = am.expire_silence(&id).await.map_err(|e| e.to_string());
                ev(ConsoleEvent::SilenceExpired { id, result })
            }))
        }
        ConsoleEffect::Copy(text) => Planned::Terminal(osc52(&text)),
        ConsoleEffect::GatherIncident {
            generation,
            request,
        } => Planned::Spawn(gather_incident(generation, request, b)),
        ConsoleEffect::StopIncident => Planned::Cancel(TaskKey::new(INCIDENT_KEY)),
        ConsoleEffect::Pane(effect) => super::panes::plan(effect, &b.panes),
    }
}

/// The incident view's gatherer: connect (kubeconfig, PVE credentials: inside the task), then
/// forward each part as it answers.
fn gather_incident(
    generation: u64,
    request: crate::backends::incident::Request,
    b: &ConsoleBackends,
) -> Task {
    let (connect, loki) = (b.incident.clone(), b.loki.clone());
    Task::stream(
        TaskKey::new(INCIDENT_KEY),
        "gather the incident view",
        move |sink| async move {
            let sources = match connect {
                Some(c) => c.sources(loki).await,
                None => super::incident::connect::unconfigured(loki, "no cluster definition"),
            };
            let (tx, mut rx) = mpsc::channel(32);
            let gather = tokio::spawn(crate::backends::incident::gather(request, sources, tx));
            while let Some(update) = rx.recv().await {
                if !sink
                    .send(ev(ConsoleEvent::Incident { generation, update }))
                    .await
                {
                    break;
                }
            }
            gather.abort();
        },
    )
}

/// The alert pollers for `WatchAlerts` (one task per configured source).
pub fn alert_pollers(b: &ConsoleBackends) -> Vec<Task> {
    let mut tasks = Vec::new();
    if let Some(p) = b.prometheus.clone() {
        tasks.push(poller(
            PROMETHEUS_KEY,
            AlertSource::Prometheus,
            p,
            b,
            |p| async move {
                let alerts = p.alerts().await?;
                let rules = p.alert_rules().await?;
                Ok(AlertsUpdate::Prometheus { alerts, rules })
            },
        ));
    }
    if let Some(am) = b.alertmanager.clone() {
        tasks.push(poller(
            ALERTMANAGER_KEY,
            AlertSource::Alertmanager,
            am,
            b,
            |am| async move {
                Ok(AlertsUpdate::Alertmanager {
                    alerts: am.alerts().await?,
                })
            },
        ));
    }
    tasks
}

/// A keyed stream task polling one source with `fetch(client)`.
fn poller<C, F, Fut>(
    key: &str,
    source: AlertSource,
    client: C,
    b: &ConsoleBackends,
    fetch: F,
) -> Task
where
    C: Clone + Send + Sync + 'static,
    F: Fn(C) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<AlertsUpdate, EndpointError>> + Send,
{
    let (every, refresh) = (b.alert_poll, b.refresh.clone());
    let label = format!("poll {} alerts", source.name());
    Task::stream(TaskKey::new(key), label, move |sink| async move {
        poll(source, move || fetch(client.clone()), every, refresh, sink).await
    })
}

/// Forward tail events, merging consecutive line batches so a flood becomes few events
/// (and the pane redraws once per frame, not once per line).
async fn forward_tail(mut rx: mpsc::Receiver<TailEvent>, generation: u64, sink: &EventSink) {
    while let Some(first) = rx.recv().await {
        let mut after = None;
        let event = match first {
            TailEvent::Lines(mut lines) => {
                loop {
                    match rx.try_recv() {
                        Ok(TailEvent::Lines(more)) => lines.extend(more),
                        Ok(other) => {
                            after = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                TailEvent::Lines(lines)
            }
            other => other,
        };
        if !sink
            .send(ev(ConsoleEvent::Tail { generation, event }))
            .await
        {
            return;
        }
        if let Some(event) = after
            && !sink
                .send(ev(ConsoleEvent::Tail { generation, event }))
                .await
        {
            return;
        }
    }
}

/// Poll one source until the app goes away: every `every` while it answers, with backoff
/// while it does not; `refresh` polls at once.
async fn poll<F, Fut>(
    source: AlertSource,
    fetch: F,
    every: Duration,
    refresh: Arc<Notify>,
    sink: EventSink,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<AlertsUpdate, EndpointError>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut healthy = false;
    loop {
        // "connecting" on the first attempt and on retries, not on every healthy poll.
        if !healthy
            && !sink
                .send(ev(ConsoleEvent::Alerts {
                    source,
                    update: AlertsUpdate::Connecting,
                }))
                .await
        {
            return;
        }
        let wait = match fetch().await {
            Ok(update) => {
                healthy = true;
                backoff.reset();
                if !sink.send(ev(ConsoleEvent::Alerts { source, update })).await {
                    return;
                }
                every
            }
            Err(e) => {
                healthy = false;
                let retry_in = backoff.next_delay();
                let update = AlertsUpdate::Failed {
                    reason: e.to_string(),
                    attempt: backoff.attempt(),
                    retry_in,
                };
                if !sink.send(ev(ConsoleEvent::Alerts { source, update })).await {
                    return;
                }
                retry_in
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = refresh.notified() => {}
        }
    }
}
