//! The platform stages in the wizard (storage, ingress, observability): their steps with
//! status on the left; on the right the plan's exact commands and objects (planning), then
//! the probes' evidence as they report it (what each probe wrote, what it read back, how long
//! it took) under the step that is running and its latest line, or the failure's root cause
//! and fix. The evidence travels as the stages' log lines ([`Evidence`]); drawing is pure.

use super::flux::{
    DIAGNOSIS, StepLine, StepStatus, boxed, render_plan, render_root_cause, render_steps,
    verified_line,
};
use crate::app::ViewCx;
use crate::domain::printable::sanitize;
use crate::stages::engine::{Check, EventKind, Plan, RunSummary, StageEvent, StageId};
use crate::stages::probe::{Evidence, took};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// Probes kept (a stage runs about ten).
const EVIDENCE_CAP: usize = 200;

/// A platform stage's view state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformView {
    pub stage: StageId,
    pub steps: Vec<StepLine>,
    /// Step titles from the plan, by step id (what the running step is doing).
    titles: Vec<(String, String)>,
    /// Evidence in the order first reported; a probe reported again replaces its row.
    pub evidence: Vec<Evidence>,
    /// The running step's latest log line (not evidence, not diagnosis).
    pub latest: Option<String>,
    pub diagnosis: Vec<String>,
    /// The failed step's error and hint.
    pub error: Option<(String, Option<String>)>,
    pub finished: Option<Result<RunSummary, String>>,
}

/// Whether `id` is shown by this view.
pub fn shows(id: StageId) -> bool {
    matches!(
        id,
        StageId::Storage | StageId::Ingress | StageId::Observability
    )
}

impl PlatformView {
    pub fn from_plan(plan: &Plan) -> Self {
        PlatformView {
            stage: plan.stage,
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
            titles: plan
                .steps
                .iter()
                .map(|s| (s.id.clone(), s.title.clone()))
                .collect(),
            evidence: vec![],
            latest: None,
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
        !self.evidence.is_empty() || self.steps.iter().any(|s| s.status != StepStatus::Pending)
    }

    fn title_of<'a>(&'a self, step: &'a str) -> &'a str {
        self.titles
            .iter()
            .find(|(id, _)| id == step)
            .map_or(step, |(_, t)| t.as_str())
    }

    /// Fold one engine event into the view.
    pub fn on_event(&mut self, ev: &StageEvent) {
        match &ev.kind {
            EventKind::Started { .. } => {
                self.finished = None;
                self.error = None;
                self.latest = None;
                self.diagnosis.clear();
                for s in &mut self.steps {
                    s.status = StepStatus::Pending;
                }
            }
            EventKind::StepStarted { step, .. } => {
                self.latest = None;
                self.set(step, StepStatus::Running)
            }
            EventKind::StepDone { step, outcome } => self.set(step, StepStatus::Done(*outcome)),
            EventKind::StepFailed { step, error } => {
                self.set(step, StepStatus::Failed);
                self.error = Some((error.message.clone(), error.hint.clone()));
            }
            EventKind::Progress { .. } => {}
            EventKind::Log { line, .. } => self.on_line(line),
            EventKind::Finished { summary } => {
                self.latest = None;
                self.finished = Some(Ok(*summary))
            }
            EventKind::Failed { error } => self.finished = Some(Err(error.message.clone())),
        }
    }

    fn on_line(&mut self, line: &str) {
        if let Some(e) = Evidence::parse(line) {
            match self.evidence.iter().position(|x| x.probe == e.probe) {
                Some(i) => self.evidence[i] = e,
                None if self.evidence.len() < EVIDENCE_CAP => self.evidence.push(e),
                None => {}
            }
        } else if DIAGNOSIS.iter().any(|p| line.starts_with(p)) {
            self.diagnosis.push(line.to_string());
        } else {
            self.latest = Some(line.to_string());
        }
    }
}

/// Draw the view into `area`. `verified`: the stage's verification after a finished run.
pub fn render(view: &PlatformView, verified: &[Check], frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let done = view
        .steps
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Done(_)))
        .count();
    let ok = view.evidence.iter().filter(|e| e.ok).count();
    let mut head = vec![
        Span::styled(view.stage.title().to_string(), cx.theme.ui.header),
        Span::styled(
            format!(" · {done}/{} steps", view.steps.len()),
            cx.theme.ui.muted,
        ),
    ];
    if !view.evidence.is_empty() {
        head.push(Span::styled(
            format!(" · {ok}/{} probes ok", view.evidence.len()),
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
    let top_h = if checked.is_empty() { 1 } else { 2 };
    let [top, body] = Layout::vertical([Constraint::Length(top_h), Constraint::Min(3)]).areas(area);
    let mut heading = vec![Line::from(head)];
    if !checked.is_empty() {
        heading.push(Line::from(checked));
    }
    frame.render_widget(Paragraph::new(heading).wrap(Wrap { trim: true }), top);
    let wide = body.width >= 100;
    let steps_w = view
        .steps
        .iter()
        .map(|s| s.id.chars().count() + if wide { 13 } else { 4 })
        .max()
        .unwrap_or(20)
        .clamp(20, usize::from(body.width / 2));
    let [left, right] = Layout::horizontal([
        Constraint::Length(u16::try_from(steps_w).unwrap_or(20)),
        Constraint::Min(20),
    ])
    .areas(body);
    render_steps(&view.steps, wide, frame, left, cx);
    if !view.diagnosis.is_empty() || view.error.is_some() {
        let [probes, cause] = if view.evidence.is_empty() {
            [Rect { height: 0, ..right }, right]
        } else {
            let per = if wide { 1 } else { 3 };
            let h = u16::try_from(view.evidence.len().saturating_mul(per) + 2)
                .unwrap_or(u16::MAX)
                .min(right.height / 2);
            Layout::vertical([Constraint::Length(h), Constraint::Min(3)]).areas(right)
        };
        if probes.height > 0 {
            render_evidence(view, wide, frame, probes, cx);
        }
        render_root_cause(&view.diagnosis, view.error.as_ref(), frame, cause, cx);
    } else if view.running() {
        let [probes, now] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(4)]).areas(right);
        render_evidence(view, wide, frame, probes, cx);
        render_now(view, frame, now, cx);
    } else {
        render_plan(
            &view.steps,
            "Plan: commands, objects, probes",
            frame,
            right,
            cx,
        );
    }
}

/// One row per probe: mark, probe, time, then what was written and what was read back (on a
/// second line when narrow).
fn render_evidence(view: &PlatformView, wide: bool, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let name_w = view
        .evidence
        .iter()
        .map(|e| e.probe.chars().count())
        .max()
        .unwrap_or(8)
        .min(usize::from(area.width / 3));
    let mut lines = Vec::new();
    if view.evidence.is_empty() {
        lines.push(Line::styled(
            "no probe has reported yet: probes run after the checks",
            cx.theme.ui.muted,
        ));
    }
    for e in &view.evidence {
        let (mark, style) = if e.ok {
            ("✓", cx.theme.wizard.stage_done)
        } else {
            ("✗", cx.theme.wizard.stage_failed)
        };
        let probe = sanitize(&e.probe).into_owned();
        let mut spans = vec![
            Span::styled(format!("{mark} "), style),
            Span::styled(format!("{probe:<name_w$} "), cx.theme.ui.text),
            Span::styled(format!("{:>9} ", took(e.took_ms)), cx.theme.ui.muted),
        ];
        let read = Span::styled(
            sanitize(&e.read).into_owned(),
            if e.ok {
                cx.theme.ui.text
            } else {
                cx.theme.status.error
            },
        );
        let wrote = Span::styled(sanitize(&e.wrote).into_owned(), cx.theme.ui.accent);
        // What was read back is the verdict's evidence: it comes first. Wide: one line per
        // probe. Narrow: the probe and its time, then what was read, then what was written.
        if wide {
            spans.push(Span::styled("read ", cx.theme.ui.muted));
            spans.push(read);
            if !e.wrote.is_empty() {
                spans.push(Span::styled(" · wrote ", cx.theme.ui.muted));
                spans.push(wrote);
            }
            lines.push(Line::from(spans));
        } else {
            lines.push(Line::from(spans));
            lines.push(Line::from(vec![
                Span::styled("  read ", cx.theme.ui.muted),
                read,
            ]));
            if !e.wrote.is_empty() {
                lines.push(Line::from(vec![
                    Span::styled("  wrote ", cx.theme.ui.muted),
                    wrote,
                ]));
            }
        }
    }
    // Not wrapped: one probe keeps its rows, the ends of long texts are cut at the border.
    frame.render_widget(
        Paragraph::new(lines).block(boxed("Probes: written, read back, time", cx)),
        area,
    );
}

fn render_now(view: &PlatformView, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let mut lines = Vec::new();
    match view.steps.iter().find(|s| s.status == StepStatus::Running) {
        Some(s) => {
            lines.push(Line::from(vec![
                Span::styled(format!("{} ", cx.spinner()), cx.theme.wizard.stage_active),
                Span::styled(
                    sanitize(view.title_of(&s.id)).into_owned(),
                    cx.theme.ui.text,
                ),
            ]));
            if let Some(l) = &view.latest {
                lines.push(Line::styled(
                    format!("  {}", sanitize(l)),
                    cx.theme.ui.muted,
                ));
            }
        }
        None if view.finished.is_some() => lines.push(Line::styled(
            "r runs the stage again (what holds is only checked) · l full log",
            cx.theme.ui.muted,
        )),
        None => lines.push(Line::styled("starting…", cx.theme.ui.muted)),
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(boxed("Now", cx)),
        area,
    );
}
