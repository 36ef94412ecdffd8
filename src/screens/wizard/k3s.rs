//! The k3s stage in the wizard: a column per node with its steps' status, the live command
//! output, on failure the exact command and its stderr; a row for the cluster steps (kubeconfig,
//! Ready); the host key trust prompt. State is fed by [`StageEvent`]s; drawing is pure.
//!
//! Keys (wizard context): `Tab`/`Shift-Tab` or the arrow keys move between nodes, `r` retries the focused node
//! (its steps only, see [`K3sView::retry_plan`]), `l` toggles the full log; the host key trust
//! prompt is [`render_trust`] (answered through `ssh_prompt`).

use crate::app::ViewCx;
use crate::backends::ssh::HostKeyPrompt;
use crate::config::ClusterConfig;
use crate::msg::Action;
use crate::stages::engine::{EventKind, Intent, Outcome, Plan, RunSummary, StageEvent};
use crate::stages::k3s::K3sStage;
use crate::widgets::popup;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};
use std::collections::VecDeque;

/// Lines of output kept per node.
const LOG_CAP: usize = 500;
/// Narrowest useful node column.
const MIN_COLUMN: u16 = 26;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Pending,
    Running,
    Done(Outcome),
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRow {
    pub id: String,
    /// Short name: the part after `<node>/`.
    pub name: String,
    pub intent: Intent,
    pub status: StepStatus,
}

/// One node (or the `cluster` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeColumn {
    pub name: String,
    pub role: String,
    pub steps: Vec<StepRow>,
    pub log: VecDeque<String>,
    /// The failure: message (command and stderr) and hint.
    pub error: Option<(String, Option<String>)>,
    /// Bytes (or items) done/total of the running step.
    pub progress: Option<(u64, Option<u64>)>,
}

impl NodeColumn {
    fn new(name: &str, role: &str) -> Self {
        Self {
            name: name.into(),
            role: role.into(),
            steps: vec![],
            log: VecDeque::new(),
            error: None,
            progress: None,
        }
    }

    fn status(&self) -> StepStatus {
        if self.steps.iter().any(|s| s.status == StepStatus::Failed) {
            StepStatus::Failed
        } else if self.steps.iter().any(|s| s.status == StepStatus::Running) {
            StepStatus::Running
        } else if !self.steps.is_empty()
            && self
                .steps
                .iter()
                .all(|s| matches!(s.status, StepStatus::Done(_)))
        {
            StepStatus::Done(Outcome::Changed)
        } else {
            StepStatus::Pending
        }
    }

    fn push_log(&mut self, line: String) {
        if self.log.len() == LOG_CAP {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }
}

/// The k3s stage view's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K3sView {
    pub version: String,
    pub nodes: Vec<NodeColumn>,
    pub cluster: NodeColumn,
    pub focus: usize,
    pub finished: Option<Result<RunSummary, String>>,
    pub full_log: bool,
}

impl K3sView {
    /// Columns for every node in the plan (in plan order: servers, then agents).
    pub fn from_plan(plan: &Plan, cluster: &ClusterConfig) -> Self {
        let mut nodes: Vec<NodeColumn> = Vec::new();
        let mut cluster_col = NodeColumn::new("cluster", "");
        for step in &plan.steps {
            let row = StepRow {
                id: step.id.clone(),
                name: step
                    .id
                    .rsplit_once('/')
                    .map(|(_, n)| n.to_string())
                    .unwrap_or_else(|| step.id.clone()),
                intent: step.intent,
                status: StepStatus::Pending,
            };
            if step.subject == "cluster" {
                cluster_col.steps.push(row);
                continue;
            }
            let col = match nodes.iter_mut().position(|c| c.name == step.subject) {
                Some(i) => &mut nodes[i],
                None => {
                    let role = cluster
                        .vms
                        .iter()
                        .find(|v| v.name == step.subject)
                        .map(|v| v.role.as_str())
                        .unwrap_or("");
                    nodes.push(NodeColumn::new(&step.subject, role));
                    let last = nodes.len() - 1;
                    &mut nodes[last]
                }
            };
            col.steps.push(row);
        }
        Self {
            version: cluster.k3s.version.clone(),
            nodes,
            cluster: cluster_col,
            focus: 0,
            finished: None,
            full_log: false,
        }
    }

    fn column_of(&mut self, step: &str) -> Option<&mut NodeColumn> {
        if self.cluster.steps.iter().any(|s| s.id == step) {
            return Some(&mut self.cluster);
        }
        self.nodes
            .iter_mut()
            .find(|c| c.steps.iter().any(|s| s.id == step))
    }

    fn set_status(&mut self, step: &str, status: StepStatus) {
        if let Some(col) = self.column_of(step)
            && let Some(row) = col.steps.iter_mut().find(|s| s.id == step)
        {
            row.status = status;
        }
    }

    /// Fold one engine event into the view.
    pub fn on_event(&mut self, ev: &StageEvent) {
        match &ev.kind {
            EventKind::Started { .. } => {
                self.finished = None;
            }
            EventKind::StepStarted { step, .. } => {
                self.set_status(step, StepStatus::Running);
                if let Some(col) = self.column_of(step) {
                    col.error = None;
                    col.progress = None;
                }
            }
            EventKind::Progress {
                step, done, total, ..
            } => {
                if let Some(col) = self.column_of(step) {
                    col.progress = Some((*done, *total));
                }
            }
            EventKind::Log {
                step: Some(step),
                line,
            } => {
                if let Some(col) = self.column_of(step) {
                    col.push_log(line.clone());
                }
            }
            EventKind::Log { step: None, line } => self.cluster.push_log(line.clone()),
            EventKind::StepDone { step, outcome } => {
                self.set_status(step, StepStatus::Done(*outcome));
                if let Some(col) = self.column_of(step) {
                    col.progress = None;
                }
            }
            EventKind::StepFailed { step, error } => {
                self.set_status(step, StepStatus::Failed);
                if let Some(col) = self.column_of(step) {
                    col.error = Some((error.message.clone(), error.hint.clone()));
                    col.progress = None;
                }
            }
            EventKind::Finished { summary } => self.finished = Some(Ok(*summary)),
            EventKind::Failed { error } => self.finished = Some(Err(error.message.clone())),
        }
    }

    pub fn focus_next(&mut self) {
        if !self.nodes.is_empty() {
            self.focus = (self.focus + 1) % self.nodes.len();
        }
    }

    pub fn focus_prev(&mut self) {
        if !self.nodes.is_empty() {
            self.focus = (self.focus + self.nodes.len() - 1) % self.nodes.len();
        }
    }

    pub fn focused(&self) -> Option<&NodeColumn> {
        self.nodes.get(self.focus)
    }

    /// The plan to run when the operator retries the focused node: that node's steps only.
    pub fn retry_plan(&self, plan: &Plan) -> Option<Plan> {
        let node = self.focused()?;
        let p = K3sStage::plan_for_node(plan, &node.name);
        (!p.steps.is_empty()).then_some(p)
    }
}

/// SSH and kube badges from the k3s stage's events: SSH is live once a node step finished and
/// degraded when one failed; kube is live once every node was Ready.
pub fn update_badges(ev: &StageEvent, cx: &mut crate::app::UpdateCx) {
    use crate::app::Badge;
    use crate::theme::Health;
    match &ev.kind {
        EventKind::StepDone { step, .. } if step == "cluster/ready" => {
            cx.set_badge(Badge::Kube, Health::Live)
        }
        EventKind::StepFailed { step, .. } if step == "cluster/ready" => {
            cx.set_badge(Badge::Kube, Health::Degraded)
        }
        EventKind::StepDone { step, .. } if !step.starts_with("cluster/") => {
            cx.set_badge(Badge::Ssh, Health::Live)
        }
        EventKind::StepFailed { step, .. } if !step.starts_with("cluster/") => {
            cx.set_badge(Badge::Ssh, Health::Degraded)
        }
        _ => {}
    }
}

fn glyph(status: StepStatus, cx: &ViewCx) -> (&'static str, Style) {
    let w = &cx.theme.wizard;
    match status {
        StepStatus::Pending => ("·", w.stage_todo),
        StepStatus::Running => (cx.spinner(), w.stage_active),
        StepStatus::Done(Outcome::Changed) => ("✓", w.stage_done),
        StepStatus::Done(Outcome::Held) => ("=", w.stage_done),
        StepStatus::Done(Outcome::Skipped) => ("»", w.stage_skipped),
        StepStatus::Done(Outcome::Drift) => ("~", w.stage_skipped),
        StepStatus::Failed => ("✗", w.stage_failed),
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.0} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn step_lines<'a>(col: &'a NodeColumn, cx: &ViewCx) -> Vec<Line<'a>> {
    col.steps
        .iter()
        .map(|s| {
            let (g, style) = glyph(s.status, cx);
            let mut spans = vec![
                Span::styled(format!("{g} "), style),
                Span::styled(s.name.clone(), style),
            ];
            match (s.status, s.intent) {
                (StepStatus::Running, _) => {
                    if let Some((done, total)) = col.progress {
                        let t = total
                            .map(|t| format!(" / {}", human_bytes(t)))
                            .unwrap_or_default();
                        spans.push(Span::styled(
                            format!("  {}{t}", human_bytes(done)),
                            cx.theme.wizard.progress,
                        ));
                    }
                }
                (StepStatus::Pending, Intent::Verify) => {
                    spans.push(Span::styled("  (holds)", cx.theme.ui.muted))
                }
                (StepStatus::Pending, Intent::Change) => {
                    spans.push(Span::styled("  (upgrade)", cx.theme.status.warn))
                }
                (StepStatus::Done(Outcome::Held), _) => {
                    spans.push(Span::styled("  already done", cx.theme.ui.muted))
                }
                _ => {}
            }
            Line::from(spans)
        })
        .collect()
}

fn log_line<'a>(l: &'a str, cx: &ViewCx) -> Line<'a> {
    if let Some(rest) = l.strip_prefix("! ") {
        Line::styled(rest, cx.theme.status.warn)
    } else if l.starts_with("$ ") {
        Line::styled(l, cx.theme.wizard.plan_command)
    } else {
        Line::styled(l, cx.theme.ui.text)
    }
}

fn render_column(
    col: &NodeColumn,
    focused: bool,
    full_log: bool,
    frame: &mut Frame,
    area: Rect,
    cx: &ViewCx,
) {
    let (g, gstyle) = glyph(col.status(), cx);
    let title = Line::from(vec![
        Span::raw(" "),
        Span::styled(format!("{g} "), gstyle),
        Span::styled(col.name.clone(), cx.theme.title(focused)),
        Span::styled(
            if col.role.is_empty() {
                String::new()
            } else {
                format!(" · {}", col.role)
            },
            cx.theme.ui.muted,
        ),
        Span::raw(" "),
    ]);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(cx.theme.border(focused))
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let steps = if full_log {
        vec![]
    } else {
        step_lines(col, cx)
    };
    let steps_h = (steps.len() as u16).min(inner.height);
    let [steps_area, rest] =
        Layout::vertical([Constraint::Length(steps_h), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(steps), steps_area);
    if rest.height < 2 {
        return;
    }
    let mut lines: Vec<Line> = vec![Line::styled(
        "─".repeat(rest.width as usize),
        cx.theme.ui.border,
    )];
    let body_h = rest.height.saturating_sub(1) as usize;
    let width = rest.width.max(1) as usize;
    match &col.error {
        Some((message, hint)) if !full_log => {
            // stderr and the hint first (they say why), then the exact command.
            let (head, stderr) = message
                .split_once("\nstderr:\n")
                .unwrap_or((message.as_str(), ""));
            lines.push(Line::styled("failed:", cx.theme.wizard.stage_failed));
            for l in stderr.lines() {
                lines.push(Line::styled(l, cx.theme.status.error));
            }
            if let Some(h) = hint {
                lines.push(Line::styled(format!("→ {h}"), cx.theme.ui.accent));
            }
            for l in head.lines() {
                lines.push(log_line(l, cx));
            }
        }
        _ => {
            // The newest lines that fit once wrapped.
            let mut rows = 0;
            let mut take = 0;
            for l in col.log.iter().rev() {
                rows += l.chars().count().div_ceil(width).max(1);
                if rows > body_h {
                    break;
                }
                take += 1;
            }
            let skip = col.log.len() - take;
            lines.extend(col.log.iter().skip(skip).map(|l| log_line(l, cx)));
            if col.log.is_empty() {
                lines.push(Line::styled("no output yet", cx.theme.ui.muted));
            }
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), rest);
}

fn render_cluster_row(view: &K3sView, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let mut spans = vec![Span::styled("cluster  ", cx.theme.ui.header)];
    for s in &view.cluster.steps {
        let (g, style) = glyph(s.status, cx);
        spans.push(Span::styled(format!("{g} {}   ", s.name), style));
    }
    let mut lines = vec![Line::from(spans)];
    match (&view.cluster.error, view.cluster.log.back()) {
        (Some((m, _)), _) => lines.extend(
            m.lines()
                .map(|l| Line::styled(l.to_string(), cx.theme.wizard.stage_failed)),
        ),
        (None, Some(last)) => lines.push(log_line(last, cx)),
        _ => {}
    }
    match &view.finished {
        Some(Ok(s)) => lines.push(Line::styled(
            format!(
                "done: {} changed, {} already held, {} skipped",
                s.changed, s.held, s.skipped
            ),
            cx.theme.wizard.stage_done,
        )),
        Some(Err(_)) => lines.push(Line::styled(
            match cx.keymap.label("wizard", &Action::Retry, false) {
                Some(r) => format!("stopped: fix the failed node, then {r} retries it"),
                None => "stopped: fix the failed node, then retry it".to_string(),
            },
            cx.theme.wizard.stage_failed,
        )),
        None => {}
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}

/// The unknown-host-key question (drawn by the wizard over whatever is showing).
pub fn render_trust(prompt: &HostKeyPrompt, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let rect = popup::centered(area, 72, 11);
    popup::dim(frame.buffer_mut(), area, cx.theme.ui.dim);
    let key = |a: Action| cx.keymap.label("confirm", &a, false);
    let footer = popup::key_footer(
        &[
            (key(Action::Confirm), "trust and remember"),
            (key(Action::Close), "refuse"),
        ],
        cx.theme,
    );
    let inner = popup::frame(frame, rect, "Unknown SSH host key", Some(footer), cx.theme);
    let host = if prompt.port == 22 {
        prompt.host.clone()
    } else {
        format!("{}:{}", prompt.host, prompt.port)
    };
    let lines = vec![
        Line::from(vec![
            Span::styled("host         ", cx.theme.form.label),
            Span::styled(host, cx.theme.ui.text),
        ]),
        Line::from(vec![
            Span::styled("key type     ", cx.theme.form.label),
            Span::styled(prompt.algorithm.clone(), cx.theme.ui.text),
        ]),
        Line::from(vec![
            Span::styled("fingerprint  ", cx.theme.form.label),
            Span::styled(prompt.fingerprint.clone(), cx.theme.ui.accent),
        ]),
        Line::raw(""),
        Line::styled(
            "Compare it on the node's console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub",
            cx.theme.ui.muted,
        ),
        Line::styled(
            format!("Trusting adds it to {}", prompt.known_hosts.display()),
            cx.theme.ui.muted,
        ),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// Draw the view into `area`.
pub fn render(view: &K3sView, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let servers = view.nodes.iter().filter(|n| n.role == "server").count();
    let agents = view.nodes.len() - servers;
    let detail = if area.width >= 90 {
        format!(
            " · {servers} server{} · {agents} agent{} (in parallel) · swap stays ON",
            if servers == 1 { "" } else { "s" },
            if agents == 1 { "" } else { "s" }
        )
    } else {
        format!(" · {servers}+{agents} nodes · swap ON")
    };
    let header = Line::from(vec![
        Span::styled(format!("k3s {}", view.version), cx.theme.ui.header),
        Span::styled(detail, cx.theme.ui.muted),
    ]);
    let cluster_h = if area.height >= 16 { 4 } else { 3 };
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(cluster_h),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(header), head);

    // As many columns as fit, keeping the focused node visible.
    let n = view.nodes.len().max(1);
    let fit = ((body.width / MIN_COLUMN) as usize).clamp(1, n);
    let start = view.focus.saturating_sub(fit - 1).min(n - fit);
    let shown = &view.nodes[start.min(view.nodes.len())..(start + fit).min(view.nodes.len())];
    let cols = Layout::horizontal(vec![Constraint::Ratio(1, fit as u32); fit]).split(body);
    for (i, col) in shown.iter().enumerate() {
        render_column(
            col,
            start + i == view.focus,
            view.full_log,
            frame,
            cols[i],
            cx,
        );
    }
    if fit < view.nodes.len() {
        let more = format!(
            " {}{} of {} nodes ",
            if start > 0 { "‹ " } else { "" },
            fit,
            view.nodes.len()
        );
        let more = if start + fit < view.nodes.len() {
            format!("{more}› ")
        } else {
            more
        };
        let w = more.chars().count() as u16;
        if body.width > w + 2 {
            let r = Rect::new(body.x + body.width - w - 1, body.y + body.height - 1, w, 1);
            frame.render_widget(Paragraph::new(Span::styled(more, cx.theme.ui.accent)), r);
        }
    }
    render_cluster_row(view, frame, foot, cx);
}
