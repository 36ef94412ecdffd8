//! The Flux stage in the wizard: its steps with their status on the left; on the right the
//! plan's exact files, git operations and objects (planning), then one live row per
//! GitRepository, Kustomization and HelmRelease (following), or the failure's root cause
//! (diagnosis: the object, its reason and message, what waits on it, its events, Helm's
//! words, the fix); below, the deploy key with its copy action (`y`, OSC 52) and where to add
//! it on the git host. State is fed by [`StageEvent`]s (rows and the deploy key travel as the
//! stage's log lines, `stages::flux::follow::Row`); drawing is pure.

use crate::app::ViewCx;
use crate::domain::printable::sanitize;
use crate::stages::engine::{
    Check, CheckStatus, EventKind, Intent, Outcome, Plan, RunSummary, StageEvent,
};
use crate::stages::flux::follow::{Row, RowStatus};
use crate::stages::flux::{DEPLOY_KEY_LINE, DEPLOY_KEY_PAGE, STEP_FOLLOW};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};

/// Diagnosis lines start with one of these (`stages::flux::diagnose::Diagnosis::lines`).
pub(super) const DIAGNOSIS: &[&str] = &[
    "root cause: ",
    "waiting on it: ",
    "event: ",
    "helm: ",
    "fix: ",
];
/// Objects kept (a tree of this size has about 60).
const ROWS_CAP: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Pending,
    Running,
    Done(Outcome),
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLine {
    pub id: String,
    pub intent: Intent,
    pub status: StepStatus,
    /// The exact calls (files, git operations, objects) from the plan.
    pub calls: Vec<String>,
}

/// The Flux stage view's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxView {
    pub version: String,
    pub steps: Vec<StepLine>,
    /// Live rows in the order first seen.
    pub rows: Vec<Row>,
    pub ready: Option<(u64, u64)>,
    pub deploy_key: Option<String>,
    pub deploy_page: Option<String>,
    pub diagnosis: Vec<String>,
    /// The failed step's error and hint.
    pub error: Option<(String, Option<String>)>,
    pub finished: Option<Result<RunSummary, String>>,
}

impl FluxView {
    pub fn from_plan(plan: &Plan, version: &str) -> Self {
        FluxView {
            version: version.into(),
            steps: plan
                .steps
                .iter()
                .map(|s| StepLine {
                    id: s.id.clone(),
                    intent: s.intent,
                    status: StepStatus::Pending,
                    calls: s.calls.clone(),
                })
                .collect(),
            rows: vec![],
            ready: None,
            deploy_key: None,
            deploy_page: None,
            diagnosis: vec![],
            error: None,
            finished: None,
        }
    }

    fn set(&mut self, step: &str, status: StepStatus) {
        if let Some(s) = self.steps.iter_mut().find(|s| s.id == step) {
            s.status = status;
        }
    }

    fn running(&self) -> bool {
        self.steps.iter().any(|s| s.status != StepStatus::Pending)
    }

    /// Fold one engine event into the view.
    pub fn on_event(&mut self, ev: &StageEvent) {
        match &ev.kind {
            EventKind::Started { .. } => {
                self.finished = None;
                self.error = None;
                self.diagnosis.clear();
                for s in &mut self.steps {
                    s.status = StepStatus::Pending;
                }
            }
            EventKind::StepStarted { step, .. } => self.set(step, StepStatus::Running),
            EventKind::StepDone { step, outcome } => self.set(step, StepStatus::Done(*outcome)),
            EventKind::StepFailed { step, error } => {
                self.set(step, StepStatus::Failed);
                self.error = Some((error.message.clone(), error.hint.clone()));
            }
            EventKind::Progress {
                step, done, total, ..
            } if step == STEP_FOLLOW => self.ready = Some((*done, total.unwrap_or(*done))),
            EventKind::Progress { .. } => {}
            EventKind::Log { line, .. } => self.on_line(line),
            EventKind::Finished { summary } => self.finished = Some(Ok(*summary)),
            EventKind::Failed { error } => self.finished = Some(Err(error.message.clone())),
        }
    }

    fn on_line(&mut self, line: &str) {
        if let Some(row) = Row::parse(line) {
            let at = self.rows.iter().position(|r| {
                (&r.kind, &r.namespace, &r.name) == (&row.kind, &row.namespace, &row.name)
            });
            match at {
                Some(i) => self.rows[i] = row,
                None if self.rows.len() < ROWS_CAP => self.rows.push(row),
                None => {}
            }
        } else if let Some(k) = line.strip_prefix(DEPLOY_KEY_LINE) {
            self.deploy_key = Some(k.trim().to_string());
        } else if let Some(p) = line.strip_prefix(DEPLOY_KEY_PAGE) {
            self.deploy_page = Some(p.trim().to_string());
        } else if DIAGNOSIS.iter().any(|p| line.starts_with(p)) {
            self.diagnosis.push(line.to_string());
        }
    }
}

pub(super) fn step_mark(s: StepStatus, cx: &ViewCx) -> (String, Style) {
    let t = &cx.theme.wizard;
    match s {
        StepStatus::Pending => ("·".into(), t.stage_todo),
        StepStatus::Running => (cx.spinner().to_string(), t.stage_active),
        StepStatus::Done(Outcome::Held) => ("=".into(), t.stage_done),
        StepStatus::Done(Outcome::Skipped | Outcome::Drift) => ("~".into(), t.stage_skipped),
        StepStatus::Done(_) => ("✓".into(), t.stage_done),
        StepStatus::Failed => ("✗".into(), t.stage_failed),
    }
}

pub(super) fn boxed<'a>(title: &'a str, cx: &ViewCx) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(cx.theme.ui.border)
        .title(Span::styled(format!(" {title} "), cx.theme.ui.header))
}

fn short_kind(kind: &str) -> &str {
    match kind {
        "Kustomization" => "ks",
        "HelmRelease" => "hr",
        "GitRepository" => "git",
        k => k,
    }
}

/// After a finished run, the heading's second line: what verify observed (empty otherwise).
pub(super) fn verified_line(
    finished: Option<&Result<RunSummary, String>>,
    verified: &[Check],
    cx: &ViewCx,
) -> Vec<Span<'static>> {
    let mut checked = Vec::new();
    if matches!(finished, Some(Ok(_))) && !verified.is_empty() {
        checked.push(Span::styled("Verified (observed now)", cx.theme.ui.header));
        for (i, c) in verified.iter().enumerate() {
            let (mark, style) = match c.status {
                CheckStatus::Pass => ("✓", cx.theme.status.ok),
                CheckStatus::Warn => ("!", cx.theme.status.warn),
                CheckStatus::Fail => ("✗", cx.theme.status.error),
            };
            let sep = if i == 0 { " " } else { " · " };
            checked.push(Span::styled(format!("{sep}{mark} "), style));
            checked.push(Span::styled(
                sanitize(&format!("{}: {}", c.title, c.detail)).into_owned(),
                cx.theme.ui.text,
            ));
        }
    }
    checked
}

/// Draw the view into `area`.
/// `verified`: the stage's verification after a finished run (observed then), shown in the
/// heading after the run's summary.
pub fn render(view: &FluxView, verified: &[Check], frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let done = view
        .steps
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Done(_)))
        .count();
    let mut head = vec![
        Span::styled(format!("Flux {}", view.version), cx.theme.ui.header),
        Span::styled(
            format!(" · {done}/{} steps", view.steps.len()),
            cx.theme.ui.muted,
        ),
    ];
    if let Some((r, t)) = view.ready {
        head.push(Span::styled(
            format!(" · {r}/{t} objects Ready"),
            cx.theme.ui.muted,
        ));
    }
    match &view.finished {
        Some(Ok(s)) => head.push(Span::styled(
            format!(" · done: {} changed, {} in place", s.changed, s.held),
            cx.theme.wizard.stage_done,
        )),
        Some(Err(_)) => head.push(Span::styled(" · failed", cx.theme.wizard.stage_failed)),
        None => {}
    }
    let checked = verified_line(view.finished.as_ref(), verified, cx);
    let key_h = match (&view.deploy_key, area.width >= 100) {
        (None, _) => 0,
        (Some(_), true) => 4,
        (Some(_), false) => 5,
    };
    let top_h = if checked.is_empty() { 1 } else { 2 };
    let [top, body, key] = Layout::vertical([
        Constraint::Length(top_h),
        Constraint::Min(3),
        Constraint::Length(key_h),
    ])
    .areas(area);
    let mut heading = vec![Line::from(head)];
    if !checked.is_empty() {
        heading.push(Line::from(checked));
    }
    frame.render_widget(Paragraph::new(heading), top);
    let wide = body.width >= 100;
    let steps_w = if wide { 30 } else { 22 };
    let [left, right] =
        Layout::horizontal([Constraint::Length(steps_w), Constraint::Min(20)]).areas(body);
    render_steps(&view.steps, wide, frame, left, cx);
    if !view.diagnosis.is_empty() || view.error.is_some() {
        render_diagnosis(view, frame, right, cx);
    } else if view.running() {
        render_rows(view, frame, right, cx);
    } else {
        render_plan(&view.steps, "Plan: files, git, objects", frame, right, cx);
    }
    if key_h > 0 {
        render_key(view, frame, key, cx);
    }
}

/// The step list (shared with the platform stages' view).
pub(super) fn render_steps(
    steps: &[StepLine],
    wide: bool,
    frame: &mut Frame,
    area: Rect,
    cx: &ViewCx,
) {
    let lines: Vec<Line> = steps
        .iter()
        .map(|s| {
            let (mark, style) = step_mark(s.status, cx);
            let word = match s.status {
                StepStatus::Pending => s.intent.as_str().to_string(),
                StepStatus::Done(Outcome::Held) => "in place".into(),
                StepStatus::Done(_) => "done".into(),
                StepStatus::Running => "running".into(),
                StepStatus::Failed => "failed".into(),
            };
            let mut spans = vec![
                Span::styled(format!("{mark} "), style),
                Span::styled(s.id.clone(), cx.theme.ui.text),
            ];
            // Narrow: the mark says it; the id must stay whole.
            if wide {
                spans.push(Span::styled(format!(" {word}"), cx.theme.ui.muted));
            }
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(boxed("Steps", cx)), area);
}

/// Each step's exact calls under a `title` box (shared with the platform stages' view).
pub(super) fn render_plan(
    steps: &[StepLine],
    title: &str,
    frame: &mut Frame,
    area: Rect,
    cx: &ViewCx,
) {
    let mut lines = Vec::new();
    for s in steps {
        lines.push(Line::from(vec![
            Span::styled(s.id.clone(), cx.theme.ui.text),
            Span::styled(format!("  {}", s.intent.as_str()), cx.theme.ui.muted),
        ]));
        for c in &s.calls {
            lines.push(Line::styled(
                format!("  {}", sanitize(c)),
                cx.theme.wizard.plan_command,
            ));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(boxed(title, cx)),
        area,
    );
}

fn render_rows(view: &FluxView, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let name_w = view
        .rows
        .iter()
        .map(|r| r.namespace.len() + r.name.len() + 1)
        .max()
        .unwrap_or(10)
        .min(usize::from(area.width / 2));
    let lines: Vec<Line> = if view.rows.is_empty() {
        vec![Line::styled(
            "waiting for the Flux objects to appear…",
            cx.theme.ui.muted,
        )]
    } else {
        view.rows
            .iter()
            .map(|r| {
                let (mark, style) = match r.status {
                    RowStatus::Ready => ("✓", cx.theme.wizard.stage_done),
                    RowStatus::Waiting => ("…", cx.theme.wizard.stage_todo),
                    RowStatus::Failed => ("✗", cx.theme.wizard.stage_failed),
                };
                let name = format!("{}/{}", r.namespace, r.name);
                Line::from(vec![
                    Span::styled(format!("{mark} "), style),
                    Span::styled(format!("{:<3} ", short_kind(&r.kind)), cx.theme.ui.muted),
                    Span::styled(format!("{name:<name_w$} "), cx.theme.ui.text),
                    Span::styled(
                        sanitize(&format!("{}: {}", r.reason, r.message)).into_owned(),
                        if r.status == RowStatus::Failed {
                            cx.theme.status.error
                        } else {
                            cx.theme.ui.muted
                        },
                    ),
                ])
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines).block(boxed("Kustomizations and HelmReleases", cx)),
        area,
    );
}

fn render_diagnosis(view: &FluxView, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    render_root_cause(&view.diagnosis, view.error.as_ref(), frame, area, cx);
}

/// The failure: the diagnosis lines (root cause and fix first), else the step's error and
/// hint, and the keys that retry. Shared with the platform stages' view.
pub(super) fn render_root_cause(
    diagnosis: &[String],
    error: Option<&(String, Option<String>)>,
    frame: &mut Frame,
    area: Rect,
    cx: &ViewCx,
) {
    let mut lines = Vec::new();
    if diagnosis.is_empty()
        && let Some((message, hint)) = error
    {
        lines.push(Line::styled(
            sanitize(message).into_owned(),
            cx.theme.status.error,
        ));
        if let Some(h) = hint {
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                format!("fix: {}", sanitize(h)),
                cx.theme.ui.accent,
            ));
        }
    }
    // The cause and the fix first: on a small terminal they are what must show.
    let rank = |l: &str| {
        if l.starts_with("root cause: ") {
            0
        } else if l.starts_with("fix: ") {
            1
        } else {
            2
        }
    };
    let mut ordered: Vec<&String> = diagnosis.iter().collect();
    ordered.sort_by_key(|l| rank(l));
    for l in ordered {
        let style = if l.starts_with("root cause: ") {
            cx.theme.status.error
        } else if l.starts_with("fix: ") {
            cx.theme.ui.accent
        } else {
            cx.theme.ui.text
        };
        lines.push(Line::styled(sanitize(l).into_owned(), style));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "r retry · p review again · l full log",
        cx.theme.ui.muted,
    ));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(boxed("Root cause", cx)),
        area,
    );
}

fn render_key(view: &FluxView, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let key = view.deploy_key.as_deref().unwrap_or("");
    let page = view
        .deploy_page
        .as_deref()
        .unwrap_or("the repository's deploy keys");
    // The whole key is what `y` copies; a narrow frame shows its ends.
    let room = usize::from(area.width.saturating_sub(2));
    let key = sanitize(key).into_owned();
    let shown = if key.chars().count() > room && room > 10 {
        let head: String = key.chars().take(room / 2 - 1).collect();
        let tail: String = key
            .chars()
            .rev()
            .take(room - room / 2 - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{head}…{tail}")
    } else {
        key
    };
    let lines = vec![
        Line::styled(shown, cx.theme.ui.accent),
        Line::from(vec![
            Span::styled("y copies it · add it at ", cx.theme.ui.muted),
            Span::styled(sanitize(page).into_owned(), cx.theme.ui.text),
        ]),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(boxed("Deploy key (read access)", cx)),
        area,
    );
}
