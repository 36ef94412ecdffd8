//! Runs [`ConsoleEffect`]s as tokio tasks that report back as [`ConsoleEvent`]s on the app's
//! bounded channel. The tail and the alert pollers are long-lived subscriptions: a new tail
//! replaces the old one (newest request wins), and dropping the runner stops everything.

use super::events::{AlertSource, AlertsUpdate, ConsoleEffect, ConsoleEvent};
use crate::backends::backoff::Backoff;
use crate::backends::loki::{LokiClient, TailEvent};
use crate::backends::prom::{AlertmanagerClient, PrometheusClient};
use base64::Engine;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

/// The clients the console talks to; `None` when that peer is not configured.
#[derive(Debug, Clone, Default)]
pub struct ConsoleBackends {
    pub loki: Option<LokiClient>,
    pub prometheus: Option<PrometheusClient>,
    pub alertmanager: Option<AlertmanagerClient>,
}

/// How often alerts are polled while things are fine.
pub const ALERT_POLL: Duration = Duration::from_secs(5);

/// Owns the console's running tasks.
pub struct ConsoleTasks {
    backends: ConsoleBackends,
    tail: Option<JoinHandle<()>>,
    pollers: Vec<JoinHandle<()>>,
    refresh: Arc<Notify>,
    poll_every: Duration,
    /// Where OSC 52 goes (the terminal; tests use a buffer).
    clipboard: Box<dyn FnMut(&str) + Send>,
}

impl Drop for ConsoleTasks {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// The OSC 52 sequence that puts `text` on the terminal's clipboard.
pub fn osc52(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", base64::engine::general_purpose::STANDARD.encode(text))
}

impl ConsoleTasks {
    pub fn new(backends: ConsoleBackends) -> Self {
        Self {
            backends,
            tail: None,
            pollers: Vec::new(),
            refresh: Arc::new(Notify::new()),
            poll_every: ALERT_POLL,
            clipboard: Box::new(|seq| {
                let mut out = std::io::stdout();
                let _ = out.write_all(seq.as_bytes());
                let _ = out.flush();
            }),
        }
    }

    /// Poll alerts this often (tests use a short interval).
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.poll_every = every;
        self
    }

    /// Send OSC 52 sequences somewhere else than stdout.
    pub fn with_clipboard(mut self, sink: impl FnMut(&str) + Send + 'static) -> Self {
        self.clipboard = Box::new(sink);
        self
    }

    pub fn backends(&self) -> &ConsoleBackends {
        &self.backends
    }

    pub fn stop_all(&mut self) {
        if let Some(t) = self.tail.take() {
            t.abort();
        }
        for p in self.pollers.drain(..) {
            p.abort();
        }
    }

    /// Start the work for `effect`; results arrive on `tx`.
    pub fn run<T>(&mut self, effect: ConsoleEffect, tx: &mpsc::Sender<T>)
    where
        T: From<ConsoleEvent> + Send + 'static,
    {
        let tx = tx.clone();
        let send = move |ev: ConsoleEvent| {
            let tx = tx.clone();
            async move { tx.send(T::from(ev)).await.is_ok() }
        };
        match effect {
            ConsoleEffect::QueryLogs { generation, query } => {
                let Some(loki) = self.backends.loki.clone() else { return };
                tokio::spawn(async move {
                    let result = loki.query_range(&query).await.map_err(|e| e.to_string());
                    send(ConsoleEvent::LogsLoaded { generation, result }).await;
                });
            }
            ConsoleEffect::StartTail { generation, request } => {
                if let Some(t) = self.tail.take() {
                    t.abort();
                }
                let Some(loki) = self.backends.loki.clone() else { return };
                self.tail = Some(tokio::spawn(async move {
                    let (ttx, mut trx) = mpsc::channel::<TailEvent>(256);
                    let tail = tokio::spawn(async move { loki.tail(request, ttx).await });
                    // Forward, merging consecutive line batches so a flood becomes few events.
                    while let Some(first) = trx.recv().await {
                        let mut after = None;
                        let ev = match first {
                            TailEvent::Lines(mut lines) => {
                                loop {
                                    match trx.try_recv() {
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
                        if !send(ConsoleEvent::Tail { generation, event: ev }).await {
                            break;
                        }
                        if let Some(event) = after {
                            if !send(ConsoleEvent::Tail { generation, event }).await {
                                break;
                            }
                        }
                    }
                    tail.abort();
                }));
            }
            ConsoleEffect::StopTail => {
                if let Some(t) = self.tail.take() {
                    t.abort();
                }
            }
            ConsoleEffect::FetchLabels => {
                let Some(loki) = self.backends.loki.clone() else { return };
                tokio::spawn(async move {
                    let result = loki.labels(6 * 3600).await.map_err(|e| e.short());
                    send(ConsoleEvent::LabelsLoaded(result)).await;
                });
            }
            ConsoleEffect::FetchLabelValues { name } => {
                let Some(loki) = self.backends.loki.clone() else { return };
                tokio::spawn(async move {
                    let result = loki.label_values(&name, 6 * 3600).await.map_err(|e| e.short());
                    send(ConsoleEvent::LabelValuesLoaded { name, result }).await;
                });
            }
            ConsoleEffect::WatchAlerts => {
                if !self.pollers.is_empty() {
                    return;
                }
                if let Some(p) = self.backends.prometheus.clone() {
                    let fetch = move || {
                        let p = p.clone();
                        async move {
                            let alerts = p.alerts().await?;
                            let rules = p.alert_rules().await?;
                            Ok(AlertsUpdate::Prometheus { alerts, rules })
                        }
                    };
                    self.pollers.push(tokio::spawn(poll(AlertSource::Prometheus, fetch, self.poll_every, self.refresh.clone(), send.clone())));
                }
                if let Some(am) = self.backends.alertmanager.clone() {
                    let fetch = move || {
                        let am = am.clone();
                        async move { Ok(AlertsUpdate::Alertmanager { alerts: am.alerts().await? }) }
                    };
                    self.pollers.push(tokio::spawn(poll(AlertSource::Alertmanager, fetch, self.poll_every, self.refresh.clone(), send)));
                }
            }
            ConsoleEffect::RefreshAlerts => self.refresh.notify_waiters(),
            ConsoleEffect::CreateSilence(silence) => {
                let Some(am) = self.backends.alertmanager.clone() else {
                    tokio::spawn(async move {
                        send(ConsoleEvent::SilenceCreated(Err("Alertmanager is not configured".into()))).await;
                    });
                    return;
                };
                tokio::spawn(async move {
                    let result = am.create_silence(&silence).await.map_err(|e| e.to_string());
                    send(ConsoleEvent::SilenceCreated(result)).await;
                });
            }
            ConsoleEffect::ExpireSilence { id } => {
                let Some(am) = self.backends.alertmanager.clone() else { return };
                tokio::spawn(async move {
                    let result = am.expire_silence(&id).await.map_err(|e| e.to_string());
                    send(ConsoleEvent::SilenceExpired { id, result }).await;
                });
            }
            ConsoleEffect::Copy(text) => (self.clipboard)(&osc52(&text)),
        }
    }
}

/// Poll one source until the receiver goes away: every `every` while it answers, with
/// backoff while it does not; `refresh` polls at once.
async fn poll<F, Fut, S, SFut>(source: AlertSource, fetch: F, every: Duration, refresh: Arc<Notify>, send: S)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<AlertsUpdate, crate::backends::endpoint::EndpointError>>,
    S: Fn(ConsoleEvent) -> SFut,
    SFut: std::future::Future<Output = bool>,
{
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut healthy = false;
    loop {
        // Say "connecting" on the first attempt and on retries, not on every healthy poll.
        if !healthy && !send(ConsoleEvent::Alerts { source, update: AlertsUpdate::Connecting }).await {
            return;
        }
        let wait = match fetch().await {
            Ok(update) => {
                healthy = true;
                backoff.reset();
                if !send(ConsoleEvent::Alerts { source, update }).await {
                    return;
                }
                every
            }
            Err(e) => {
                healthy = false;
                let retry_in = backoff.next_delay();
                let update = AlertsUpdate::Failed { reason: e.to_string(), attempt: backoff.attempt(), retry_in };
                if !send(ConsoleEvent::Alerts { source, update }).await {
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
