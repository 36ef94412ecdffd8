//! The console's reachability pane: the public hostnames of the tree's HTTPRoutes (those under
//! the cluster's domain); `Enter` runs the reachability doctor on the selected one
//! (`backends::doctor`, docs/doctor.md; the task is `screens::doctor_walk`, the drawing
//! `widgets::doctor`, both shared with the scaffold screen) and each link appears as it is
//! checked, the first broken one with its fix; `r` reads the hostnames again.

use super::Pane;
use crate::app::Session;
use crate::domain::doctor::{Exposure, Walk, WalkEvent};
use crate::domain::printable::sanitize;
use crate::msg::{Action, BackendEvent};
use crate::runtime::effects::{Task, TaskKey};
use crate::screens::console::effects::Planned;
use crate::screens::console::state::ConsoleAction;
use crate::screens::console::view::{Cx, pane_block, pane_title};
use crate::screens::doctor_walk;
use crate::widgets::{doctor, list, popup};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// The doctor's walk (newest wins: a new `Enter` replaces it).
pub const WALK_KEY: &str = "console:reach:walk";
const LOAD_KEY: &str = "console:reach:hosts";

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Read the hostnames from the tree.
    Load,
    /// Walk this host.
    Walk(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Hosts(Result<Vec<String>, String>),
    /// The walk's findings, its end, or why the doctor could not start.
    Walk(WalkEvent),
}

#[derive(Debug)]
pub struct ReachPane {
    pub hosts: Vec<String>,
    pub selected: usize,
    pub walk: Option<Walk>,
    /// Why there are no hostnames (the tree did not read).
    pub notice: Option<String>,
    configured: bool,
}

impl ReachPane {
    /// A pane with these hostnames (tests and the demo).
    pub fn with_hosts(hosts: Vec<String>) -> Self {
        Self {
            hosts,
            selected: 0,
            walk: None,
            notice: None,
            configured: false,
        }
    }
}

/// The public hostnames of the tree's HTTPRoutes under `domain`, sorted.
pub fn public_hosts(facts: &crate::domain::doctor::Facts) -> Vec<String> {
    let domain = facts
        .domain
        .as_ref()
        .map(|d| d.value.trim_end_matches('.').to_ascii_lowercase());
    let mut hosts: Vec<String> = facts
        .of_kind("HTTPRoute")
        .flat_map(|r| {
            r.value
                .pointer("/spec/hostnames")
                .and_then(serde_json::Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|h| h.as_str().map(str::to_ascii_lowercase))
        .filter(|h| {
            domain
                .as_ref()
                .is_some_and(|d| h.ends_with(&format!(".{d}")))
        })
        .filter(|h| crate::backends::doctor::check_host(h).is_ok())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

impl Pane for ReachPane {
    type Effect = Effect;
    type Event = Event;
    type Backend = Option<doctor_walk::Target>;
    const TITLE: &'static str = "Reachability";

    fn new(session: Option<&Session>) -> Self {
        Self {
            configured: session.is_some(),
            ..Self::with_hosts(vec![])
        }
    }

    fn connect(session: &Session) -> Self::Backend {
        let kube = super::health::KubeTarget::for_cluster(&session.cluster.name)?;
        Some(doctor_walk::Target {
            repo_root: session.repo_root.clone(),
            definition: session.cluster.path.clone(),
            cluster: session.cluster.name.clone(),
            kubeconfig: kube.kubeconfig,
        })
    }

    fn open(&mut self) -> Vec<Effect> {
        if self.configured && self.hosts.is_empty() {
            vec![Effect::Load]
        } else {
            Vec::new()
        }
    }

    fn on_event(&mut self, ev: Event) -> Vec<Effect> {
        match ev {
            Event::Hosts(Ok(hosts)) => {
                self.notice = hosts.is_empty().then(|| {
                    "no HTTPRoute of the tree has a hostname under the cluster's domain".into()
                });
                self.hosts = hosts;
                self.selected = self.selected.min(self.hosts.len().saturating_sub(1));
            }
            Event::Hosts(Err(e)) => self.notice = Some(e),
            Event::Walk(e) => {
                if let Some(w) = &mut self.walk {
                    w.apply(e);
                }
            }
        }
        Vec::new()
    }

    fn on_action(&mut self, action: ConsoleAction, _now_ns: i64) -> Vec<Effect> {
        use ConsoleAction as A;
        let last = self.hosts.len().saturating_sub(1);
        match action {
            A::Up => self.selected = self.selected.saturating_sub(1),
            A::Down => self.selected = (self.selected + 1).min(last),
            A::Top => self.selected = 0,
            A::Bottom => self.selected = last,
            A::Open => {
                if let Some(host) = self.hosts.get(self.selected).cloned() {
                    self.walk = Some(Walk::new(host.clone(), Exposure::Public));
                    return vec![Effect::Walk(host)];
                }
            }
            A::Refresh if self.configured => {
                self.hosts.clear();
                return vec![Effect::Load];
            }
            _ => {}
        }
        Vec::new()
    }

    fn render(&self, f: &mut Frame, area: Rect, cx: &Cx, focused: bool) {
        render(self, f, area, cx, focused);
    }

    /// Collapsed (the selected host) until a walk has something to show.
    fn weight(&self) -> u16 {
        if self.walk.is_some() {
            super::LOGS_WEIGHT
        } else {
            0
        }
    }

    fn plan(effect: Effect, b: &Self::Backend, wrap: fn(Event) -> BackendEvent) -> Planned {
        let Some(t) = b.clone() else {
            return Planned::Nothing;
        };
        match effect {
            Effect::Load => Planned::Spawn(Task::blocking(
                TaskKey::new(LOAD_KEY),
                "public hostnames",
                move || {
                    let facts =
                        crate::repo::doctor_facts::read(&t.repo_root, &t.definition, &t.cluster);
                    wrap(Event::Hosts(facts.map(|f| public_hosts(&f))))
                },
            )),
            Effect::Walk(host) => Planned::Spawn(doctor_walk::task(
                TaskKey::new(WALK_KEY),
                t,
                host,
                Exposure::Public,
                move |e| wrap(Event::Walk(e)),
            )),
        }
    }

    fn subscription_keys() -> Vec<TaskKey> {
        vec![TaskKey::new(WALK_KEY)]
    }
}

fn clean(s: &str) -> String {
    sanitize(s).into_owned()
}

fn render(p: &ReachPane, f: &mut Frame, area: Rect, cx: &Cx, focused: bool) {
    let theme = cx.theme;
    let mut title = pane_title(ReachPane::TITLE, focused, theme);
    if let Some(w) = &p.walk {
        let (tone, text) = doctor::status(w);
        title.push(Span::styled(format!(" {} ", clean(&w.host)), theme.ui.text));
        title.push(Span::styled(text, tone.style(theme)));
        title.push(Span::raw(" "));
    }
    let block = pane_block(title, focused, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let hosts_h = u16::try_from(p.hosts.len().clamp(1, 6)).unwrap_or(6);
    let [hosts_area, walk_area, footer] = Layout::vertical([
        Constraint::Length(hosts_h),
        Constraint::Fill(1),
        Constraint::Length(u16::from(focused && inner.height > 3)),
    ])
    .areas(inner);
    if p.hosts.is_empty() {
        let text = p
            .notice
            .clone()
            .unwrap_or_else(|| "  reading the tree's public hostnames…".into());
        f.render_widget(
            Paragraph::new(Line::styled(clean(&text), theme.ui.muted)),
            hosts_area,
        );
    } else {
        let height = hosts_area.height as usize;
        let off = list::offset(p.selected, p.hosts.len(), height);
        let end = off.saturating_add(height).min(p.hosts.len());
        let lines: Vec<Line> = p.hosts[off..end]
            .iter()
            .map(|h| Line::styled(format!("  {}", clean(h)), theme.ui.text))
            .collect();
        list::render(
            f,
            hosts_area,
            lines,
            p.selected.saturating_sub(off),
            focused,
            theme,
        );
    }
    let lines: Vec<Line> = match &p.walk {
        None => vec![Line::styled(
            "  Enter walks the selected host: Cloudflare record, tunnel, Gateway, route, endpoints, certificate",
            theme.ui.muted,
        )],
        Some(w) => doctor::lines(w, theme),
    };
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), walk_area);
    if footer.height > 0 {
        let key = |a: Action| cx.keymap.label("console", &a, false);
        f.render_widget(
            Paragraph::new(popup::key_footer(
                &[
                    (key(Action::Select), "walk the host"),
                    (key(Action::Refresh), "read hosts again"),
                ],
                theme,
            )),
            footer,
        );
    }
}
