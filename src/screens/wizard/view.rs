//! Drawing the wizard: stage list (left), the selected stage's preflight + plan or its live
//! progress (right), the task log (bottom, or full height with `l`).

use super::WizardState;
use super::model::{History, Phase, StageModel, StepStatus, SubjectRow};
use super::resume::ago;
use crate::app::ViewCx;
use crate::msg::Action;
use crate::stages::engine::{CheckStatus, Intent, LastRun, Outcome, RunOutcome, Unit};
use crate::stages::printer;
use crate::widgets::panel::block;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// The stage list's width; wider terminals give it up to a quarter of the width when its
/// history lines need it.
const STAGES_W: u16 = 22;
/// Below this width the stage list is hidden.
const MIN_WITH_LIST: u16 = 70;
/// History lines are indented under the stage title.
const DETAIL_INDENT: usize = 3;
const NEVER_RUN: &str = "never run";

pub fn render(w: &WizardState, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    render_body(w, frame, area, cx);
    if let Some(f) = &w.secrets_form {
        f.render(frame, area, cx);
    }
    w.ssh.render(frame, area, cx);
}

fn render_body(w: &WizardState, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let m = w.current();
    if w.show_log {
        match &m.plan {
            Some(plan) if m.log.is_empty() => render_calls(plan, w.log_scroll, frame, area, cx),
            _ => render_log(m, w.log_scroll, frame, area, cx, true),
        }
        return;
    }
    let quiet =
        m.log.is_empty() && matches!(m.phase, Phase::Idle | Phase::Reviewing | Phase::Reviewed);
    let log_h = if area.height >= 20 && !quiet {
        (area.height / 3).max(6)
    } else {
        0
    };
    let top = Rect {
        height: area.height - log_h,
        ..area
    };
    let log = Rect {
        y: top.bottom(),
        height: log_h,
        ..area
    };
    let (list, main) = if area.width >= MIN_WITH_LIST {
        let list_w = list_width(w, area.width, cx);
        (
            Some(Rect {
                width: list_w,
                ..top
            }),
            Rect {
                x: top.x + list_w,
                width: top.width - list_w,
                ..top
            },
        )
    } else {
        (None, top)
    };
    if let Some(list) = list {
        render_stages(w, frame, list, cx);
    }
    match &w.k3s {
        // The k3s stage shows a column per node once it runs.
        Some(v)
            if m.id == crate::stages::engine::StageId::K3s
                && matches!(m.phase, Phase::Running | Phase::Failed(_) | Phase::Done(_)) =>
        {
            super::k3s::render(v, frame, main, cx)
        }
        // The Flux stage shows its steps, live rows or root cause, and the deploy key.
        _ if m.id == crate::stages::engine::StageId::Flux && w.flux.is_some() => {
            if let Some(v) = &w.flux {
                super::flux::render(v, &m.verified, frame, main, cx)
            }
        }
        // The storage, ingress and observability stages show their probes' evidence.
        _ if w.platform.as_ref().is_some_and(|v| v.stage == m.id)
            && super::platform::shows(m.id) =>
        {
            if let Some(v) = &w.platform {
                super::platform::render(v, &m.verified, frame, main, cx)
            }
        }
        _ => render_main(m, frame, main, cx),
    }
    if log_h > 0 {
        render_log(m, w.log_scroll, frame, log, cx, false);
    }
}

/// The mark and style of a stage's title in the list: this session's phase, or for a stage not
/// looked at yet, its last journalled run.
fn stage_mark<'a>(s: &StageModel, cx: &'a ViewCx) -> (&'a str, Style) {
    let t = &cx.theme.wizard;
    match &s.phase {
        Phase::Done(_) => ("✓", t.stage_done),
        Phase::Failed(_) => ("✗", t.stage_failed),
        Phase::Running | Phase::Reviewing => (cx.spinner(), t.stage_active),
        Phase::Reviewed => ("•", t.stage_active),
        Phase::Idle => match &s.history {
            History::Last(r) => match r.outcome {
                RunOutcome::Finished => ("✓", t.stage_done),
                RunOutcome::Failed => ("✗", t.stage_failed),
                RunOutcome::Cancelled | RunOutcome::Interrupted => ("!", cx.theme.status.warn),
            },
            _ if s.id.available() => ("·", t.stage_todo),
            _ => ("-", t.stage_skipped),
        },
    }
}

/// What the list says under a stage about its last run.
struct Detail {
    /// `done`, `failed`, `never run`...
    word: &'static str,
    /// `2d ago` (empty when there is no run).
    age: String,
    /// The step a failed run stopped at.
    step: Option<String>,
    style: Style,
}

impl Detail {
    /// Everything on one line: `failed 3h ago: vm/k3s-agent-1/clone`.
    fn one_line(&self) -> String {
        let mut text = self.word.to_owned();
        if !self.age.is_empty() {
            text = format!("{text} {}", self.age);
        }
        if let Some(step) = &self.step {
            text = format!("{text}: {step}");
        }
        text
    }

    /// The lines for `width` columns: one when it fits; else two (the step, cut from the left
    /// so the node and action stay, on its own line), or one cut short when `compact`.
    fn lines(&self, width: usize, compact: bool) -> Vec<String> {
        let one = self.one_line();
        if one.chars().count() <= width {
            return vec![one];
        }
        let head = if self.age.is_empty() {
            self.word.to_owned()
        } else {
            format!("{} {}", self.word, self.age)
        };
        if compact {
            return vec![truncate(&head, width)];
        }
        match &self.step {
            Some(step) => vec![truncate(&head, width), truncate_left(step, width)],
            None if head.chars().count() > width && !self.age.is_empty() => {
                vec![self.word.to_owned(), self.age.clone()]
            }
            None => vec![truncate(&head, width)],
        }
    }
}

fn detail(s: &StageModel, cx: &ViewCx) -> Option<Detail> {
    let w = &cx.theme.wizard;
    let plain = |word, style| Detail {
        word,
        age: String::new(),
        step: None,
        style,
    };
    if s.phase == Phase::Running {
        return (s.history != History::Unknown).then(|| plain("running", w.stage_active));
    }
    let run: &LastRun = match &s.history {
        History::Unknown => return None,
        History::Never if s.id.available() => return Some(plain(NEVER_RUN, w.stage_todo)),
        History::Never => return None,
        History::Last(r) => r,
    };
    let (word, style) = match run.outcome {
        RunOutcome::Finished => ("done", w.stage_done),
        RunOutcome::Failed => ("failed", cx.theme.status.error),
        RunOutcome::Cancelled => ("cancelled", cx.theme.status.warn),
        RunOutcome::Interrupted => ("interrupted", cx.theme.status.warn),
    };
    Some(Detail {
        word,
        age: ago(run.ended, cx.now),
        step: run.failed_step.clone(),
        style,
    })
}

/// The list's width: [`STAGES_W`], or wider (up to a quarter of `area_w`) so history lines fit
/// on one line.
fn list_width(w: &WizardState, area_w: u16, cx: &ViewCx) -> u16 {
    let cap = (area_w / 4).max(STAGES_W);
    let want = w
        .stages
        .iter()
        .map(|s| {
            let title = 3 + s.id.title().chars().count();
            let detail = detail(s, cx).map_or(0, |d| DETAIL_INDENT + d.one_line().chars().count());
            title.max(detail) + 3
        })
        .max()
        .unwrap_or(0);
    (want as u16).clamp(STAGES_W, cap)
}

/// How much of the history the list can show in its height: everything, then one line per
/// stage, then without "never run", then only the selected stage's, then none.
fn detail_lines(w: &WizardState, width: usize, height: usize, cx: &ViewCx) -> Vec<Vec<String>> {
    let details: Vec<Option<Detail>> = w.stages.iter().map(|s| detail(s, cx)).collect();
    let width = width.saturating_sub(DETAIL_INDENT);
    for level in 0..4 {
        let lines: Vec<Vec<String>> = details
            .iter()
            .enumerate()
            .map(|(i, d)| match (level, d) {
                (_, None) => Vec::new(),
                (0, Some(d)) => d.lines(width, false),
                (1, Some(d)) => d.lines(width, true),
                (2, Some(d)) if d.word != NEVER_RUN => d.lines(width, true),
                (3, Some(d)) if i == w.selected => d.lines(width, true),
                _ => Vec::new(),
            })
            .collect();
        if w.stages.len() + lines.iter().map(Vec::len).sum::<usize>() <= height {
            return lines;
        }
    }
    vec![Vec::new(); w.stages.len()]
}

fn render_stages(w: &WizardState, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let inner_w = area.width.saturating_sub(2) as usize;
    let inner_h = area.height.saturating_sub(2) as usize;
    let details = detail_lines(w, inner_w, inner_h, cx);
    let mut lines: Vec<Line> = Vec::new();
    for (i, (s, detail_rows)) in w.stages.iter().zip(details).enumerate() {
        let (mark, style) = stage_mark(s, cx);
        let mut rows = vec![Line::from(vec![
            Span::styled(format!(" {mark} "), style),
            Span::styled(s.id.title(), style),
        ])];
        let detail_style = detail(s, cx).map_or(cx.theme.ui.muted, |d| d.style);
        for text in detail_rows {
            rows.push(Line::from(vec![
                Span::raw(" ".repeat(DETAIL_INDENT)),
                Span::styled(text, detail_style),
            ]));
        }
        if i == w.selected {
            rows = rows
                .into_iter()
                .map(|l| l.patch_style(cx.theme.selection(true)))
                .collect();
        }
        lines.extend(rows);
    }
    frame.render_widget(
        Paragraph::new(lines).block(block("Stages", false, cx.theme)),
        area,
    );
}

/// `Last run: failed 3h ago at vm/k3s-agent-1/clone: 403 ...` above the selected stage's plan.
fn last_run_line<'a>(m: &StageModel, cx: &ViewCx) -> Option<Line<'a>> {
    let History::Last(r) = &m.history else {
        return None;
    };
    let when = ago(r.ended, cx.now);
    let (text, style) = match r.outcome {
        RunOutcome::Finished => {
            let detail = r
                .detail
                .as_deref()
                .map_or(String::new(), |d| format!(" ({d})"));
            (
                format!("finished {when}{detail}"),
                cx.theme.wizard.stage_done,
            )
        }
        RunOutcome::Failed => {
            let mut t = format!("failed {when}");
            if let Some(step) = &r.failed_step {
                t = format!("{t} at {step}");
            }
            if let Some(d) = &r.detail {
                t = format!("{t}: {d}");
            }
            (t, cx.theme.status.error)
        }
        RunOutcome::Cancelled => (format!("cancelled {when}"), cx.theme.status.warn),
        RunOutcome::Interrupted => (
            format!(
                "interrupted {when}: the journal has no end for it (killed, or still running elsewhere)"
            ),
            cx.theme.status.warn,
        ),
    };
    Some(Line::from(vec![
        Span::styled("Last run: ", cx.theme.ui.muted),
        Span::styled(text, style),
    ]))
}

fn intent_label(i: Intent) -> &'static str {
    match i {
        Intent::Create => "create",
        Intent::Change => "change",
        Intent::Verify => "verify",
        Intent::Drift => "drift",
        Intent::Wait => "wait",
    }
}

fn intent_style(i: Intent, cx: &ViewCx) -> Style {
    match i {
        Intent::Create | Intent::Change => cx.theme.wizard.stage_active,
        Intent::Verify | Intent::Wait => cx.theme.status.ok,
        Intent::Drift => cx.theme.status.warn,
    }
}

fn check_lines<'a>(m: &'a StageModel, width: usize, cx: &ViewCx) -> Vec<Line<'a>> {
    let mut checks: Vec<_> = m.checks.iter().collect();
    checks.sort_by_key(|c| std::cmp::Reverse(c.status));
    let mut out = vec![Line::from(Span::styled("Preflight", cx.theme.ui.header))];
    let passes = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Pass)
        .count();
    for c in checks.iter().filter(|c| c.status != CheckStatus::Pass) {
        let (mark, style) = if c.status == CheckStatus::Fail {
            ("✗", cx.theme.status.error)
        } else {
            ("!", cx.theme.status.warn)
        };
        out.push(Line::from(vec![
            Span::styled(format!(" {mark} "), style),
            Span::styled(format!("{}: ", c.title), style),
            Span::styled(c.detail.as_str(), cx.theme.ui.text),
        ]));
        if let Some(fix) = &c.fix {
            out.push(Line::from(vec![
                Span::styled("     fix: ", cx.theme.ui.muted),
                Span::styled(fix.as_str(), cx.theme.wizard.plan_command),
            ]));
        }
    }
    if passes > 0 {
        let names: Vec<&str> = checks
            .iter()
            .filter(|c| c.status == CheckStatus::Pass)
            .map(|c| c.title.as_str())
            .collect();
        let mut text = format!("{passes} passed: {}", names.join(", "));
        text = truncate(&text, width.saturating_sub(4));
        out.push(Line::from(vec![
            Span::styled(" ✓ ", cx.theme.status.ok),
            Span::styled(text, cx.theme.ui.muted),
        ]));
    }
    out
}

fn gauge<'a>(ratio: f64, width: usize, cx: &ViewCx) -> Vec<Span<'a>> {
    let filled = ((ratio.clamp(0.0, 1.0)) * width as f64).round() as usize;
    vec![
        Span::styled("█".repeat(filled), cx.theme.wizard.progress),
        Span::styled("░".repeat(width - filled), cx.theme.ui.muted),
    ]
}

fn subject_line<'a>(
    s: &SubjectRow,
    name_w: usize,
    running: bool,
    width: usize,
    cx: &ViewCx,
) -> Line<'a> {
    let name = format!(" {:<name_w$} ", s.subject);
    if !running {
        let mut spans = vec![
            Span::styled(name, cx.theme.ui.text),
            Span::styled(
                format!("{:<7}", intent_label(s.intent)),
                intent_style(s.intent, cx),
            ),
        ];
        let note = match (&s.note, s.intent) {
            (Some(n), _) => n.clone(),
            (None, Intent::Verify) => "in place; checked again".into(),
            (None, _) => super::count(s.total, "step", "steps"),
        };
        spans.push(Span::styled(format!(" {note}"), cx.theme.ui.muted));
        return Line::from(spans);
    }
    let bar_w = 16.min(width.saturating_sub(name_w + 20)).max(4);
    let (ratio, label) = match (&s.failed, &s.current) {
        (Some(m), _) => (
            s.done as f64 / s.total.max(1) as f64,
            format!("failed: {m}"),
        ),
        (None, Some((title, Some((done, Some(total), unit))))) if *total > 0 => (
            *done as f64 / *total as f64,
            format!("{title} {}", printer::progress(*done, Some(*total), *unit)),
        ),
        (None, Some((title, _))) => (s.done as f64 / s.total.max(1) as f64, title.clone()),
        (None, None) if s.done == s.total => (1.0, "done".into()),
        (None, None) => (s.done as f64 / s.total.max(1) as f64, "waiting".into()),
    };
    let style = if s.failed.is_some() {
        cx.theme.status.error
    } else {
        cx.theme.ui.text
    };
    let mut spans = vec![Span::styled(name, cx.theme.ui.text)];
    spans.extend(gauge(ratio, bar_w, cx));
    spans.push(Span::styled(
        format!(" {}/{} ", s.done, s.total),
        cx.theme.ui.muted,
    ));
    spans.push(Span::styled(label, style));
    Line::from(spans)
}

/// At most `n` characters, with an ellipsis when cut.
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `n` characters, cut from the left with an ellipsis (`…k3s-agent-1/clone`).
fn truncate_left(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        return s.to_owned();
    }
    let keep = n.saturating_sub(1);
    let mut out = String::from("…");
    out.extend(s.chars().skip(count - keep));
    out
}

fn render_main(m: &StageModel, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let width = area.width.saturating_sub(2) as usize;
    let mut title = m.id.title().to_owned();
    if let Some(p) = &m.plan {
        title = format!("{title} · {} steps, {} to write", p.steps.len(), p.writes());
    }
    let mut lines: Vec<Line> = Vec::new();
    let subjects = m.subjects();
    let name_w = subjects
        .iter()
        .map(|s| s.subject.chars().count())
        .max()
        .unwrap_or(8)
        .min(20);
    match &m.phase {
        Phase::Idle => {
            lines.push(Line::from(Span::styled(m.id.blurb(), cx.theme.ui.text)));
            lines.push(Line::default());
            if let Some(last) = last_run_line(m, cx) {
                lines.push(last);
                lines.push(Line::default());
            }
            if let Some(e) = &m.plan_error {
                lines.push(Line::from(Span::styled(
                    format!("✗ {}", e.message),
                    cx.theme.status.error,
                )));
                lines.extend(try_line(e, cx));
            } else if m.id.available() {
                lines.push(Line::from(Span::styled(
                    format!(
                        "Press {} to run the preflight checks and review the plan.",
                        key_label(cx, Action::Plan)
                    ),
                    cx.theme.ui.muted,
                )));
            } else {
                lines.push(Line::from(Span::styled(
                    "This stage is not in this build yet.",
                    cx.theme.ui.muted,
                )));
            }
        }
        Phase::Reviewing => {
            lines.push(Line::from(vec![
                Span::styled(format!("{} ", cx.spinner()), cx.theme.status.spinner),
                Span::styled("running preflight checks and planning...", cx.theme.ui.text),
            ]));
        }
        Phase::Reviewed => {
            if let Some(last) = last_run_line(m, cx) {
                lines.push(last);
                lines.push(Line::default());
            }
            lines.extend(check_lines(m, width, cx));
            lines.push(Line::default());
            match (&m.plan, &m.plan_error) {
                (Some(_), _) => {
                    lines.push(Line::from(Span::styled("Plan", cx.theme.ui.header)));
                    for s in &subjects {
                        lines.push(subject_line(s, name_w, false, width, cx));
                    }
                    lines.push(Line::default());
                    let hint = if m.preflight_ok() {
                        format!(
                            "{} runs the stage · {} shows each step's exact calls",
                            key_label(cx, Action::Run),
                            key_label(cx, Action::ToggleLog)
                        )
                    } else {
                        format!(
                            "fix the FAIL items, then {} to check again",
                            key_label(cx, Action::Plan)
                        )
                    };
                    lines.push(Line::from(Span::styled(hint, cx.theme.ui.muted)));
                }
                (None, Some(e)) => {
                    lines.push(Line::from(Span::styled(
                        format!("✗ cannot plan: {}", e.message),
                        cx.theme.status.error,
                    )));
                    lines.extend(try_line(e, cx));
                }
                (None, None) => {}
            }
        }
        Phase::Running | Phase::Done(_) | Phase::Failed(_) => {
            for s in &subjects {
                lines.push(subject_line(s, name_w, true, width, cx));
            }
            lines.push(Line::default());
            match &m.phase {
                Phase::Done(sum) => {
                    lines.push(Line::from(Span::styled(
                        format!(
                            "✓ done: {} changed, {} already in place, {} skipped, {} drifted",
                            sum.changed, sum.held, sum.skipped, sum.drifted
                        ),
                        cx.theme.wizard.stage_done,
                    )));
                    let drift: Vec<_> = m
                        .steps
                        .iter()
                        .filter(|r| r.status == StepStatus::Done(Outcome::Drift))
                        .collect();
                    for r in drift {
                        lines.push(Line::from(Span::styled(
                            format!("  drift left as is: {}", r.step.title),
                            cx.theme.status.warn,
                        )));
                    }
                    if !m.verified.is_empty() {
                        lines.push(Line::default());
                        lines.push(Line::from(Span::styled(
                            "Verified (observed now)",
                            cx.theme.ui.header,
                        )));
                        for c in &m.verified {
                            let (mark, style) = match c.status {
                                CheckStatus::Pass => ("✓", cx.theme.status.ok),
                                CheckStatus::Warn => ("!", cx.theme.status.warn),
                                CheckStatus::Fail => ("✗", cx.theme.status.error),
                            };
                            let text = truncate(
                                &format!("{}: {}", c.title, c.detail),
                                width.saturating_sub(4),
                            );
                            lines.push(Line::from(vec![
                                Span::styled(format!(" {mark} "), style),
                                Span::styled(text, cx.theme.ui.text),
                            ]));
                        }
                    }
                }
                Phase::Failed(e) => {
                    let step = m.failed_step.clone().unwrap_or_default();
                    lines.push(Line::from(Span::styled(
                        format!("✗ {step}: {}", e.message),
                        cx.theme.status.error,
                    )));
                    lines.extend(try_line(e, cx));
                    lines.push(Line::from(Span::styled(
                        format!(
                            "{} retry · {} skip this step · {} review again",
                            key_label(cx, Action::Retry),
                            key_label(cx, Action::Skip),
                            key_label(cx, Action::Plan)
                        ),
                        cx.theme.ui.muted,
                    )));
                }
                _ => {
                    let running = m.steps.iter().find(|r| r.status == StepStatus::Running);
                    if let Some(r) = running {
                        let mut spans = vec![
                            Span::styled(format!("{} ", cx.spinner()), cx.theme.status.spinner),
                            Span::styled(r.step.title.clone(), cx.theme.ui.text),
                        ];
                        if let Some((d, t, u)) = r.progress {
                            let text = if u == Unit::Percent {
                                format!(" ({d}%)")
                            } else {
                                format!(" ({})", printer::progress(d, t, u))
                            };
                            spans.push(Span::styled(text, cx.theme.ui.muted));
                        }
                        lines.push(Line::from(spans));
                        if let Some(call) = r.step.calls.first() {
                            lines.push(Line::from(Span::styled(
                                format!("  {call}"),
                                cx.theme.wizard.plan_command,
                            )));
                        }
                    }
                    lines.push(Line::from(Span::styled(
                        "Ctrl-C stops after the current step's safe point",
                        cx.theme.ui.muted,
                    )));
                }
            }
        }
    }
    let p = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(block(title, true, cx.theme));
    frame.render_widget(p, area);
}

fn render_log(
    m: &StageModel,
    scroll: usize,
    frame: &mut Frame,
    area: Rect,
    cx: &ViewCx,
    full: bool,
) {
    let inner_h = area.height.saturating_sub(2) as usize;
    let total = m.log.len();
    let end = total.saturating_sub(scroll.min(total));
    let start = end.saturating_sub(inner_h);
    let lines: Vec<Line> = m
        .log
        .iter()
        .skip(start)
        .take(end - start)
        .map(|l| {
            let ts = l.at.strftime("%H:%M:%S").to_string();
            let mut spans = vec![Span::styled(
                format!("{ts} "),
                cx.theme.console.log_timestamp,
            )];
            if full && let Some(s) = &l.step {
                spans.push(Span::styled(format!("[{s}] "), cx.theme.console.log_labels));
            }
            let style = if l.text.starts_with("FAILED") || l.text.starts_with("TASK ERROR") {
                cx.theme.console.log_error
            } else if l.text.starts_with("drift") {
                cx.theme.console.log_warn
            } else {
                cx.theme.console.log_info
            };
            spans.push(Span::styled(l.text.clone(), style));
            Line::from(spans)
        })
        .collect();
    let title = if scroll > 0 {
        format!("Task log (scrolled {scroll} up)")
    } else {
        "Task log".to_owned()
    };
    frame.render_widget(
        Paragraph::new(lines).block(block(title, full, cx.theme)),
        area,
    );
}

/// The plan with each step's exact calls and commands (what `homelab bootstrap --plan` prints), scrollable.
fn render_calls(
    plan: &crate::stages::engine::Plan,
    scroll: usize,
    frame: &mut Frame,
    area: Rect,
    cx: &ViewCx,
) {
    let text = printer::plan(plan);
    let lines: Vec<Line> = text
        .lines()
        .skip(scroll)
        .map(|l| {
            let style = if l.starts_with("          ") {
                cx.theme.wizard.plan_command
            } else {
                cx.theme.ui.text
            };
            Line::from(Span::styled(l.to_owned(), style))
        })
        .collect();
    let p = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(block("Plan: every call and command", true, cx.theme));
    frame.render_widget(p, area);
}

/// `  try: <hint>` under an error, when it has a hint.
fn try_line<'a>(e: &'a crate::stages::engine::StageError, cx: &ViewCx) -> Option<Line<'a>> {
    e.hint.as_ref().map(|h| {
        Line::from(vec![
            Span::styled("  try: ", cx.theme.ui.muted),
            Span::styled(h.as_str(), cx.theme.ui.text),
        ])
    })
}

/// The key bound to `action` in the wizard's keymap context, as the help overlay shows it.
fn key_label(cx: &ViewCx, action: Action) -> String {
    cx.keymap
        .label("wizard", &action, false)
        .unwrap_or_else(|| format!(":{action}"))
}
