//! The console's health pane: nodes, the Flux tree with root causes, crash-looping pods and
//! warning events, live through the watches of `backends::kube::health` (the model is in
//! `model.rs`, the drawing in `view.rs`). `Enter` on a pod, a workload or a Flux object opens
//! its logs in the logs pane (Loki, or the pod log API when Loki is unreachable; see
//! `ConsoleState::open_logs`); `r` starts the watches again (after Flux was installed).

pub mod model;
mod view;

use super::{LogsRequest, Pane};
use crate::app::Session;
use crate::backends::kube::pod_logs::{PodLogEvent, PodLogRequest};
use crate::backends::loki::TailEvent;
use crate::domain::health::{FluxKind, HealthChange};
use crate::msg::BackendEvent;
use crate::runtime::effects::{Task, TaskKey};
use crate::screens::console::conn::ConnState;
use crate::screens::console::effects::Planned;
use crate::screens::console::events::ConsoleEvent;
use crate::screens::console::state::ConsoleAction;
use crate::screens::console::view::Cx;
use model::{HealthModel, Row};
use ratatui::Frame;
use ratatui::layout::Rect;
use std::path::PathBuf;

/// The watch task (newest wins: `r` replaces it).
pub const WATCH_KEY: &str = "console:health:watch";
/// The pod log follow (Enter without Loki).
pub const POD_LOGS_KEY: &str = "console:health:pod-logs";
/// Batches queued between the watch and the UI at most (back-pressure beyond).
const QUEUE: usize = 16;

/// Where the cluster is: a kubeconfig file and the context named after the cluster (the k3s
/// stage merges it so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeTarget {
    pub kubeconfig: PathBuf,
    pub context: String,
}

impl KubeTarget {
    /// `$KUBECONFIG` (its first file) or `~/.kube/config`, context `cluster`.
    pub fn for_cluster(cluster: &str) -> Option<KubeTarget> {
        let path = std::env::var_os("KUBECONFIG")
            .and_then(|v| std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty()))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")))?;
        Some(KubeTarget {
            kubeconfig: path,
            context: cluster.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// (Re)start the watches.
    Watch,
    /// Follow a pod's log into the logs pane (its `generation`).
    FollowPodLogs {
        generation: u64,
        request: PodLogRequest,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Changes(Vec<HealthChange>),
    /// The client could not be built or the watches ended.
    Failed(String),
}

#[derive(Debug)]
pub struct HealthPane {
    pub model: HealthModel,
    /// Index into `model.rows`.
    pub selected: usize,
    pub conn: ConnState,
    /// What `Enter` asked for, taken by the console.
    pending_logs: Option<LogsRequest>,
    /// A one-line notice under the title.
    pub notice: Option<String>,
}

impl HealthPane {
    /// A pane on an empty model (tests and benches fill it with [`HealthPane::apply`]).
    pub fn empty(configured: bool) -> Self {
        let mut model = HealthModel::default();
        model.rebuild();
        Self {
            model,
            selected: 0,
            conn: if configured {
                ConnState::Connecting
            } else {
                ConnState::NotConfigured
            },
            pending_logs: None,
            notice: None,
        }
    }

    /// Apply a batch, keeping the selection on the same object.
    pub fn apply(&mut self, batch: Vec<HealthChange>) {
        let before = self.model.rows.get(self.selected).cloned();
        self.model.apply(batch);
        if let Some(row) = before
            && let Some(i) = self.model.rows.iter().position(|r| *r == row)
        {
            self.selected = i;
        }
        self.clamp_selection();
    }

    fn clamp_selection(&mut self) {
        let rows = &self.model.rows;
        if rows.is_empty() {
            self.selected = 0;
            return;
        }
        self.selected = self.selected.min(rows.len() - 1);
        if !rows[self.selected].selectable() {
            self.step(true);
        }
    }

    /// Move to the next (or previous) selectable row; stays put at the ends.
    fn step(&mut self, down: bool) {
        let rows = &self.model.rows;
        let mut i = self.selected;
        loop {
            let next = if down {
                i.checked_add(1).filter(|n| *n < rows.len())
            } else {
                i.checked_sub(1)
            };
            match next {
                Some(n) if rows[n].selectable() => {
                    self.selected = n;
                    return;
                }
                Some(n) => i = n,
                None => return,
            }
        }
    }

    fn page(&mut self, down: bool) {
        for _ in 0..10 {
            self.step(down);
        }
    }

    /// The logs request for the selected row, if it has logs.
    fn logs_for_selected(&self) -> Option<LogsRequest> {
        let m = &self.model;
        match m.rows.get(self.selected)? {
            Row::Pod { key, .. } => {
                let p = m.pods.get(key)?;
                Some(LogsRequest {
                    what: format!("pod {}/{}", p.namespace, p.name),
                    logql: format!(r#"{{namespace="{}", pod="{}"}}"#, p.namespace, p.name),
                    pod: Some(pod_request(p)),
                })
            }
            Row::Workload { key, .. } => {
                let w = m.workloads.get(key)?;
                Some(LogsRequest {
                    what: format!("{} {}/{}", w.kind, w.namespace, w.name),
                    logql: format!(r#"{{namespace="{}", pod=~"{}-.*"}}"#, w.namespace, w.name),
                    pod: self.pod_of(&[(&w.namespace, &w.kind, &w.name)]),
                })
            }
            Row::Flux { key, .. } => {
                let f = m.flux.get(key)?;
                let what = format!("{} {}/{}", f.kind.name(), f.namespace, f.name);
                let workloads: Vec<_> = m
                    .workloads
                    .values()
                    .filter(|w| {
                        f.kind == FluxKind::HelmRelease
                            && w.release.as_ref() == Some(&(f.namespace.clone(), f.name.clone()))
                    })
                    .collect();
                if let (Some(first), false) = (workloads.first(), workloads.is_empty()) {
                    // A release: the logs of its workloads' pods.
                    let names: Vec<String> =
                        workloads.iter().map(|w| format!("{}-.*", w.name)).collect();
                    let owners: Vec<(&str, &str, &str)> = workloads
                        .iter()
                        .map(|w| (w.namespace.as_str(), w.kind.as_str(), w.name.as_str()))
                        .collect();
                    return Some(LogsRequest {
                        what,
                        logql: format!(
                            r#"{{namespace="{}", pod=~"{}"}}"#,
                            first.namespace,
                            names.join("|")
                        ),
                        pod: self.pod_of(&owners),
                    });
                }
                // Otherwise what its controller says about it.
                let controller = match f.kind {
                    FluxKind::Kustomization => "kustomize-controller",
                    FluxKind::HelmRelease => "helm-controller",
                    _ => "source-controller",
                };
                let pod = m
                    .pods
                    .values()
                    .filter(|p| {
                        p.namespace == "flux-system"
                            && p.name.starts_with(&format!("{controller}-"))
                    })
                    .min_by(|a, b| a.name.cmp(&b.name))
                    .map(pod_request);
                Some(LogsRequest {
                    what: format!("{what} (its {controller})"),
                    logql: format!(
                        r#"{{namespace="flux-system", pod=~"{controller}-.*"}} |= "{}""#,
                        f.name
                    ),
                    pod,
                })
            }
            _ => None,
        }
    }

    /// A pod owned by one of `owners` (ns, kind, name): a failing one first.
    fn pod_of(&self, owners: &[(&str, &str, &str)]) -> Option<PodLogRequest> {
        let mut pods: Vec<_> = self
            .model
            .pods
            .values()
            .filter(|p| {
                p.owner.as_ref().is_some_and(|(k, n)| {
                    owners
                        .iter()
                        .any(|(ons, ok, on)| p.namespace == *ons && k == ok && n == on)
                })
            })
            .collect();
        pods.sort_by_key(|p| (!p.crash_looping(), p.ready, p.name.clone()));
        pods.first().map(|p| pod_request(p))
    }
}

fn pod_request(p: &crate::domain::health::PodHealth) -> PodLogRequest {
    PodLogRequest {
        namespace: p.namespace.clone(),
        pod: p.name.clone(),
        container: (!p.container.is_empty()).then(|| p.container.clone()),
    }
}

/// The pod log follow as the logs pane's tail events (`generation` is the logs pane's).
fn pod_log_event(generation: u64, e: PodLogEvent) -> BackendEvent {
    let event = match e {
        PodLogEvent::Live => TailEvent::Live { resumed: None },
        PodLogEvent::Lines(lines) => TailEvent::Lines(lines),
        PodLogEvent::Ended(reason) | PodLogEvent::Failed(reason) => TailEvent::Failed { reason },
    };
    BackendEvent::Console(ConsoleEvent::Tail { generation, event })
}

impl Pane for HealthPane {
    type Effect = Effect;
    type Event = Event;
    type Backend = Option<KubeTarget>;
    const TITLE: &'static str = "Health";

    fn new(session: Option<&Session>) -> Self {
        Self::empty(session.is_some())
    }

    fn connect(session: &Session) -> Self::Backend {
        KubeTarget::for_cluster(&session.cluster.name)
    }

    fn open(&mut self) -> Vec<Effect> {
        if self.conn == ConnState::NotConfigured {
            return Vec::new();
        }
        self.conn = ConnState::Connecting;
        vec![Effect::Watch]
    }

    fn on_event(&mut self, ev: Event) -> Vec<Effect> {
        match ev {
            Event::Changes(batch) => {
                self.apply(batch);
                self.conn = match &self.model.trouble {
                    Some(t) => ConnState::Reconnecting {
                        attempt: 1,
                        retry_in: std::time::Duration::ZERO,
                        reason: t.clone(),
                    },
                    None if self.model.connected => ConnState::Live,
                    None => ConnState::Connecting,
                };
            }
            Event::Failed(reason) => self.conn = ConnState::Failed { reason },
        }
        Vec::new()
    }

    fn on_action(&mut self, action: ConsoleAction, _now_ns: i64) -> Vec<Effect> {
        use ConsoleAction as A;
        match action {
            A::Up => self.step(false),
            A::Down => self.step(true),
            A::PageUp => self.page(false),
            A::PageDown => self.page(true),
            A::Top => {
                self.selected = 0;
                self.clamp_selection();
            }
            A::Bottom => {
                self.selected = self.model.rows.len().saturating_sub(1);
                if !self
                    .model
                    .rows
                    .get(self.selected)
                    .is_some_and(Row::selectable)
                {
                    self.step(false);
                }
            }
            A::Open => match self.logs_for_selected() {
                Some(r) => {
                    self.notice = None;
                    self.pending_logs = Some(r);
                }
                None => {
                    self.notice = Some("logs open from a pod, a workload or a Flux object".into());
                }
            },
            A::Refresh if self.conn != ConnState::NotConfigured => {
                self.conn = ConnState::Connecting;
                self.model.connected = false;
                return vec![Effect::Watch];
            }
            _ => {}
        }
        Vec::new()
    }

    fn take_logs_request(&mut self) -> Option<LogsRequest> {
        self.pending_logs.take()
    }

    fn pod_logs(generation: u64, request: PodLogRequest) -> Option<Effect> {
        Some(Effect::FollowPodLogs {
            generation,
            request,
        })
    }

    fn render(&self, f: &mut Frame, area: Rect, cx: &Cx, focused: bool) {
        view::render(self, f, area, cx, focused);
    }

    fn plan(effect: Effect, b: &Self::Backend, wrap: fn(Event) -> BackendEvent) -> Planned {
        let Some(target) = b.clone() else {
            return Planned::Nothing;
        };
        match effect {
            Effect::Watch => Planned::Spawn(Task::stream(
                TaskKey::new(WATCH_KEY),
                "cluster health watches",
                move |sink| async move {
                    let client = match crate::backends::kube::client::client_for(
                        &target.kubeconfig,
                        &target.context,
                    )
                    .await
                    {
                        Ok(c) => c,
                        Err(e) => {
                            sink.send(wrap(Event::Failed(e))).await;
                            return;
                        }
                    };
                    let (tx, mut rx) = tokio::sync::mpsc::channel(QUEUE);
                    let watch = crate::backends::kube::health::watch(client, tx);
                    let forward = async {
                        while let Some(batch) = rx.recv().await {
                            if !sink.send(wrap(Event::Changes(batch))).await {
                                return;
                            }
                        }
                    };
                    tokio::select! {
                        _ = watch => {
                            sink.send(wrap(Event::Failed(
                                "the watches ended; r starts them again".into(),
                            ))).await;
                        }
                        _ = forward => {}
                    }
                },
            )),
            Effect::FollowPodLogs {
                generation,
                request,
            } => Planned::Spawn(Task::stream(
                TaskKey::new(POD_LOGS_KEY),
                "pod log",
                move |sink| async move {
                    let client = match crate::backends::kube::client::client_for(
                        &target.kubeconfig,
                        &target.context,
                    )
                    .await
                    {
                        Ok(c) => c,
                        Err(e) => {
                            sink.send(pod_log_event(generation, PodLogEvent::Failed(e)))
                                .await;
                            return;
                        }
                    };
                    let (tx, mut rx) = tokio::sync::mpsc::channel(QUEUE);
                    let follow = crate::backends::kube::pod_logs::follow(client, request, tx);
                    let forward = async {
                        while let Some(e) = rx.recv().await {
                            if !sink.send(pod_log_event(generation, e)).await {
                                return;
                            }
                        }
                    };
                    // The follow ends after its last event; the forward drains the rest.
                    let (_, _) = tokio::join!(follow, forward);
                },
            )),
        }
    }

    fn subscription_keys() -> Vec<TaskKey> {
        vec![TaskKey::new(WATCH_KEY), TaskKey::new(POD_LOGS_KEY)]
    }
}

#[cfg(test)]
mod tests;
