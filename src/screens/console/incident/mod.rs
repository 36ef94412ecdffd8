//! The incident view: one alert followed across layers (alert, Flux owner, pods, the logs of
//! the five minutes before it, the Proxmox VM under each node), as a console overlay. Opened on
//! the selected alert by the keymap's `incident` action; the gatherer (`backends::incident`)
//! fills each section in as its source answers. Pure state; drawn by `view::incident`.

pub mod connect;

use super::events::ConsoleEffect;
use crate::backends::incident::Request;
use crate::domain::alerts::Alert;
use crate::domain::incident::{AlertFacts, Incident, IncidentUpdate, LogsOrigin, Part};

/// The view's sections, top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Alert,
    Flux,
    Pods,
    Logs,
    Vm,
}

impl Section {
    pub const ALL: [Section; 5] = [
        Section::Alert,
        Section::Flux,
        Section::Pods,
        Section::Logs,
        Section::Vm,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Section::Alert => "Alert",
            Section::Flux => "Flux owner",
            Section::Pods => "Pods",
            Section::Logs => "Logs (-5 min)",
            Section::Vm => "Proxmox VM",
        }
    }
    fn index(self) -> usize {
        Section::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// The open incident view.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentView {
    pub incident: Incident,
    /// The gather task's generation: answers of an older view are dropped.
    pub generation: u64,
    /// The section the cursor is on (Enter acts on it).
    pub section: Section,
}

/// What the alert says about itself.
pub fn facts(alert: &Alert) -> AlertFacts {
    AlertFacts {
        name: alert.name().to_owned(),
        severity: alert.severity().as_str().to_owned(),
        state: alert.state.as_str().to_owned(),
        labels: alert.labels.clone(),
        summary: alert
            .annotations
            .get("summary")
            .or_else(|| alert.annotations.get("description"))
            .or_else(|| alert.annotations.get("message"))
            .cloned(),
        starts_at: alert.active_since,
    }
}

/// What Enter on a section asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnterResult {
    /// Show `selector` in the logs pane from `from_ns` on (history, no tail).
    Logs {
        selector: String,
        from_ns: i64,
    },
    /// Nothing to open; say why.
    Notice(String),
    Nothing,
}

impl IncidentView {
    /// Open on `alert`; the effect starts the gatherer.
    pub fn open(alert: &Alert, generation: u64, now_s: i64) -> (Self, ConsoleEffect) {
        let view = Self {
            incident: Incident::new(facts(alert)),
            generation,
            section: Section::Alert,
        };
        let request = Request {
            labels: alert.labels.clone(),
            starts_at: alert.active_since,
            now_s,
        };
        (
            view,
            ConsoleEffect::GatherIncident {
                generation,
                request,
            },
        )
    }

    /// Ask everything again as `generation` (the console was left while it was gathering, which
    /// stopped the task): every part back to loading.
    pub fn regather(&mut self, generation: u64, now_s: i64) -> ConsoleEffect {
        let alert = self.incident.alert.clone();
        let request = Request {
            labels: alert.labels.clone(),
            starts_at: alert.starts_at,
            now_s,
        };
        self.incident = Incident::new(alert);
        self.generation = generation;
        ConsoleEffect::GatherIncident {
            generation,
            request,
        }
    }

    pub fn on_update(&mut self, generation: u64, update: IncidentUpdate) {
        if generation == self.generation {
            self.incident.apply(update);
        }
    }

    pub fn up(&mut self) {
        let i = self.section.index();
        self.section = Section::ALL[i.saturating_sub(1)];
    }

    pub fn down(&mut self) {
        let i = self.section.index();
        self.section = Section::ALL[(i + 1).min(Section::ALL.len() - 1)];
    }

    pub fn top(&mut self) {
        self.section = Section::Alert;
    }

    pub fn bottom(&mut self) {
        self.section = Section::Vm;
    }

    /// Enter: on the logs section, the logs pane at the window (when the lines came from Loki,
    /// which is what the pane reads).
    pub fn enter(&self) -> EnterResult {
        if self.section != Section::Logs {
            return EnterResult::Nothing;
        }
        match &self.incident.logs {
            Part::Ready(w) => match &w.origin {
                LogsOrigin::Loki { selector } => EnterResult::Logs {
                    selector: selector.clone(),
                    from_ns: w.from_ns,
                },
                LogsOrigin::PodApi { .. } => EnterResult::Notice(
                    "these lines came from the pod log API; the logs pane reads Loki, which did not answer"
                        .into(),
                ),
            },
            Part::Loading => EnterResult::Notice("the logs are still loading".into()),
            _ => EnterResult::Notice("no logs to open".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alerts::AlertState;
    use crate::domain::incident::LogsWindow;

    fn alert() -> Alert {
        let labels = [("alertname", "KubePodCrashLooping"), ("namespace", "media")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut a = Alert::new(labels, Default::default(), AlertState::Firing);
        a.active_since = Some(1_000);
        a
    }

    #[test]
    fn answers_of_an_older_view_are_dropped_and_enter_opens_loki_logs_only() {
        let (mut v, fx) = IncidentView::open(&alert(), 7, 2_000);
        assert!(matches!(
            fx,
            ConsoleEffect::GatherIncident { generation: 7, ref request } if request.starts_at == Some(1_000)
        ));
        let window = |origin| LogsWindow {
            from_ns: 700_000_000_000,
            to_ns: 1_000_000_000_000,
            origin,
            lines: Vec::new(),
            truncated: false,
            failed_pods: Vec::new(),
        };
        let loki = window(LogsOrigin::Loki {
            selector: r#"{namespace="media"}"#.into(),
        });
        v.on_update(6, IncidentUpdate::Logs(Part::Ready(loki.clone())));
        assert!(v.incident.logs.is_loading());
        v.down();
        v.down();
        v.down();
        assert_eq!(v.section, Section::Logs);
        assert!(matches!(v.enter(), EnterResult::Notice(_)));
        v.on_update(7, IncidentUpdate::Logs(Part::Ready(loki)));
        assert_eq!(
            v.enter(),
            EnterResult::Logs {
                selector: r#"{namespace="media"}"#.into(),
                from_ns: 700_000_000_000
            }
        );
        v.on_update(
            7,
            IncidentUpdate::Logs(Part::Ready(window(LogsOrigin::PodApi {
                pods: vec![],
                why: "x".into(),
            }))),
        );
        assert!(matches!(v.enter(), EnterResult::Notice(n) if n.contains("pod log API")));
        v.down();
        v.down();
        assert_eq!(v.section, Section::Vm);
        assert_eq!(v.enter(), EnterResult::Nothing);
        v.top();
        v.up();
        assert_eq!(v.section, Section::Alert);
        // Asked again (the console was left mid-way): loading, and the old answers dropped.
        let fx = v.regather(8, 3_000);
        assert!(matches!(
            fx,
            ConsoleEffect::GatherIncident { generation: 8, ref request } if request.starts_at == Some(1_000) && request.now_s == 3_000
        ));
        assert!(v.incident.logs.is_loading());
        v.on_update(7, IncidentUpdate::Logs(Part::Skipped("old".into())));
        assert!(v.incident.logs.is_loading());
    }
}
