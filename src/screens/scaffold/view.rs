//! Drawing the scaffold screen: the form (each field with its default or message), the
//! preview (every new file, or the diff), and the result (check, commit, push, watch, and the
//! reachability doctor's walk of the app's route, drawn by `widgets::doctor` as the console
//! draws it).

use super::form::Slot;
use super::{Done, Facts, Phase, Progress, ScaffoldState, Tab};
use crate::app::ViewCx;
use crate::domain::printable::sanitize;
use crate::msg::Action;
use crate::scaffold::apply::Applied;
use crate::scaffold::commit_message;
use crate::widgets::doctor::{self, Tone};
use crate::widgets::panel::block;
use crate::widgets::popup;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Width of the label column.
const LABEL_W: usize = 18;
/// A message under a field wraps to at most this many lines.
const MESSAGE_LINES: usize = 4;

/// What a line of the preview or result is, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Header,
    Added,
    Removed,
    Hunk,
    Good,
    Bad,
    Warn,
    Muted,
}

impl From<Tone> for Kind {
    fn from(t: Tone) -> Kind {
        match t {
            Tone::Ok => Kind::Good,
            Tone::Bad => Kind::Bad,
            Tone::Warn => Kind::Warn,
            Tone::Header => Kind::Header,
            Tone::Text => Kind::Text,
            Tone::Muted => Kind::Muted,
        }
    }
}

/// A line of the preview or the result: its pieces, each with its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyLine {
    pub parts: Vec<(Kind, String)>,
    /// Too wide: wrap the last piece under itself (the doctor's lines, whose fix must be read
    /// whole) instead of cutting the line at the edge.
    pub wrap: bool,
}

pub fn render(state: &ScaffoldState, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    match (&state.phase, &state.facts) {
        (Phase::Form | Phase::Planning, Facts::Loaded(_)) => render_form(state, frame, area, cx),
        (Phase::Form | Phase::Planning, Facts::Loading) => {
            let inner = panel(frame, area, "New app", cx);
            let text = format!("{} Reading the tree (zones, taken names)…", cx.spinner());
            frame.render_widget(Paragraph::new(Line::styled(text, cx.theme.ui.muted)), inner);
        }
        (Phase::Form | Phase::Planning, Facts::Failed(e)) => {
            let inner = panel(frame, area, "New app", cx);
            let mut lines = vec![Line::styled(
                "The scaffold needs the tree, and could not read it:",
                cx.theme.status.error,
            )];
            lines.extend(
                wrap(&sanitize(e), inner.width as usize)
                    .into_iter()
                    .map(|l| Line::styled(l, cx.theme.ui.text)),
            );
            let key = cx
                .keymap
                .label("scaffold", &Action::Refresh, false)
                .unwrap_or_else(|| "ctrl-r".into());
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                format!("Fix it, then press {key} to read it again."),
                cx.theme.ui.muted,
            ));
            frame.render_widget(Paragraph::new(lines), inner);
        }
        _ => render_body(state, frame, area, cx),
    }
}

fn panel(frame: &mut Frame, area: Rect, title: &str, cx: &ViewCx) -> Rect {
    let b = block(title, true, cx.theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    inner
}

/// Greedy word wrap to `width` columns (long words are cut).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_string();
        while word.chars().count() > width {
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            out.push(head);
        }
        if line.is_empty() {
            line = word;
        } else if line.chars().count() + 1 + word.chars().count() <= width {
            line.push(' ');
            line.push_str(&word);
        } else {
            out.push(std::mem::replace(&mut line, word));
        }
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

fn render_form(state: &ScaffoldState, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let t = cx.theme;
    let f = &state.form;
    let facts = match &state.facts {
        Facts::Loaded(x) => Some(&**x),
        _ => None,
    };
    let name = f.text(Slot::Name).trim();
    let cat = f.choice(Slot::Category).unwrap_or("<category>");
    let title = format!(
        "New app · cluster/kubernetes/apps/{cat}/{}",
        if name.is_empty() { "<name>" } else { name }
    );
    let inner = panel(frame, area, &title, cx);
    let [body, help, footer] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let width = body.width as usize;
    let value_w = width.saturating_sub(LABEL_W + 2);
    let mut lines: Vec<Line> = Vec::new();
    let mut focus_rows = (0, 0);
    for slot in f.visible() {
        let focused = slot == f.focus;
        let start = lines.len();
        let label = match slot {
            Slot::SecretValue(i) => format!("  {}", f.secret_key(i)),
            _ => slot.label().to_string(),
        };
        let label: String = label.chars().take(LABEL_W - 1).collect();
        let mut spans = vec![
            Span::styled(if focused { "› " } else { "  " }, t.form.label),
            Span::styled(format!("{label:<LABEL_W$}"), t.form.label),
        ];
        let style = if focused {
            t.form.input_focused
        } else {
            t.form.input
        };
        if slot.is_choice() {
            spans.extend(choice_spans(f, slot, focused, cx));
        } else if let Some(e) = f.edit(slot) {
            if e.is_empty() {
                if focused {
                    spans.push(Span::styled(
                        " ",
                        t.ui.input.add_modifier(ratatui::style::Modifier::REVERSED),
                    ));
                }
                spans.push(Span::styled(f.placeholder(slot, facts), t.form.placeholder));
            } else {
                spans.extend(e.spans(value_w, style, focused));
                if e.is_secret() {
                    let tag = if e.revealed() {
                        "  revealed"
                    } else {
                        "  masked"
                    };
                    spans.push(Span::styled(tag, t.ui.muted));
                }
            }
        }
        lines.push(Line::from(spans));
        if let Some(msg) = f.error(slot) {
            for (i, l) in wrap(&sanitize(msg), width.saturating_sub(LABEL_W + 5))
                .into_iter()
                .take(MESSAGE_LINES)
                .enumerate()
            {
                let mark = if i == 0 { "✕ " } else { "  " };
                lines.push(Line::from(vec![
                    Span::raw(" ".repeat(LABEL_W + 2)),
                    Span::styled(format!("{mark}{l}"), t.form.invalid),
                ]));
            }
        }
        if focused {
            focus_rows = (start, lines.len());
        }
    }
    let hidden = f.hidden_errors();
    if !hidden.is_empty() {
        lines.push(Line::raw(""));
        for e in hidden {
            for l in wrap(&sanitize(&e.to_string()), width.saturating_sub(4))
                .into_iter()
                .take(MESSAGE_LINES)
            {
                lines.push(Line::styled(format!("  ✕ {l}"), t.form.invalid));
            }
        }
    }
    let h = body.height as usize;
    let offset = focus_rows.1.saturating_sub(h).min(focus_rows.0);
    let shown: Vec<Line> = lines.into_iter().skip(offset).take(h).collect();
    frame.render_widget(Paragraph::new(shown), body);
    let help_text = if matches!(state.phase, Phase::Planning) {
        format!("{} Making the plan: encrypting the Secret…", cx.spinner())
    } else {
        f.help().to_string()
    };
    frame.render_widget(Paragraph::new(Line::styled(help_text, t.form.help)), help);
    let key = |a: Action| cx.keymap.label("form", &a, true);
    frame.render_widget(
        Paragraph::new(popup::key_footer(
            &[
                (key(Action::NextPane), "next"),
                (Some("←→".into()), "choose"),
                (key(Action::Save), "preview"),
                (key(Action::Reveal), "reveal"),
                (key(Action::Close), "leave"),
            ],
            t,
        )),
        footer,
    );
}

fn choice_spans(f: &super::Form, slot: Slot, focused: bool, cx: &ViewCx) -> Vec<Span<'static>> {
    let t = cx.theme;
    let chosen = f.choice(slot);
    let options: &[&str] = match slot {
        Slot::Path => &["default", "advanced"],
        Slot::Category => &super::form::CATEGORIES,
        Slot::Source => &["image", "helm chart"],
        Slot::Exposure => &["internal", "public"],
        Slot::Storage => &["none", "longhorn", "nfs"],
        Slot::RunsAsRoot => &["no", "yes"],
        _ => &[],
    };
    let mut spans = Vec::new();
    for o in options {
        if Some(*o) == chosen {
            let s = if focused {
                t.form.input_focused
            } else {
                t.ui.accent
            };
            spans.push(Span::styled(format!("[{o}]"), s));
        } else {
            spans.push(Span::styled(format!(" {o} "), t.form.placeholder));
        }
        spans.push(Span::raw(" "));
    }
    if chosen.is_none() && focused {
        spans.push(Span::styled("← → to choose", t.form.placeholder));
    }
    spans
}

/// The preview's or the result's lines (also what scrolling counts).
pub fn body_lines(state: &ScaffoldState) -> Vec<BodyLine> {
    let mut out = Vec::new();
    let text_lines = |out: &mut Vec<(Kind, String)>, text: &str, diff: bool| {
        for l in text.lines() {
            let k = if l.starts_with("==> ") {
                Kind::Header
            } else if !diff {
                Kind::Text
            } else if l.starts_with("+++") || l.starts_with("---") {
                Kind::Header
            } else if l.starts_with('+') {
                Kind::Added
            } else if l.starts_with('-') {
                Kind::Removed
            } else if l.starts_with("@@") {
                Kind::Hunk
            } else {
                Kind::Text
            };
            out.push((k, l.to_string()));
        }
    };
    match &state.phase {
        Phase::Preview(p) | Phase::Applying(p) => match state.tab {
            Tab::Files => text_lines(&mut out, &p.plan.preview(), false),
            Tab::Diff => text_lines(&mut out, &p.plan.diff(false), true),
        },
        Phase::Refused { why, report, .. } => {
            out.push((Kind::Bad, format!("Nothing was written: {}", sanitize(why))));
            if let Some(r) = report {
                out.push((Kind::Text, String::new()));
                text_lines(&mut out, &sanitize_lines(r), false);
            }
        }
        Phase::Done(d) => done_lines(d, &mut out),
        Phase::Form | Phase::Planning => {}
    }
    let mut lines: Vec<BodyLine> = out
        .into_iter()
        .map(|(k, l)| BodyLine {
            parts: vec![(k, l)],
            wrap: false,
        })
        .collect();
    if let Phase::Done(d) = &state.phase
        && let Some(w) = &d.doctor
    {
        doctor_lines(w, &mut lines);
    }
    lines
}

/// The result's line where the doctor's walk starts (the view scrolls there when it runs).
pub fn doctor_line(state: &ScaffoldState) -> Option<usize> {
    let lines = body_lines(state);
    lines.iter().position(|l| {
        l.parts
            .first()
            .is_some_and(|(_, t)| t.starts_with("Doctor: "))
    })
}

/// The doctor's walk of the app's route, after the watch's steps.
fn doctor_lines(w: &crate::domain::doctor::Walk, out: &mut Vec<BodyLine>) {
    let (tone, status) = doctor::status(w);
    let exposure = match w.exposure {
        crate::domain::doctor::Exposure::Public => "public",
        crate::domain::doctor::Exposure::Internal => "internal",
    };
    out.push(BodyLine {
        parts: vec![],
        wrap: false,
    });
    out.push(BodyLine {
        parts: vec![
            (
                Kind::Text,
                format!("Doctor: {} ({exposure}) ", sanitize(&w.host)),
            ),
            (tone.into(), status),
        ],
        wrap: true,
    });
    for row in doctor::rows(w) {
        out.push(BodyLine {
            parts: row.into_iter().map(|(t, s)| (t.into(), s)).collect(),
            wrap: true,
        });
    }
}

/// One body line as drawn at `width` columns: cut at the edge, or (`wrap`) its last piece
/// word-wrapped under where it starts.
fn draw_line(line: &BodyLine, width: usize, style: impl Fn(Kind) -> Style) -> Vec<Line<'static>> {
    let cut = |parts: &[(Kind, String)]| {
        let mut left = width;
        let spans: Vec<Span<'static>> = parts
            .iter()
            .map(|(k, s)| {
                let piece: String = s.chars().take(left).collect();
                left -= piece.chars().count();
                Span::styled(piece, style(*k))
            })
            .collect();
        Line::from(spans)
    };
    let Some(((kind, last), head)) = line.parts.split_last() else {
        return vec![Line::raw("")];
    };
    let used: usize = head.iter().map(|(_, s)| s.chars().count()).sum();
    let indent = last.chars().take_while(|c| *c == ' ').count();
    if !line.wrap || used + last.chars().count() <= width || used + indent + 8 > width {
        return vec![cut(&line.parts)];
    }
    let pad = " ".repeat(used + indent);
    wrap(last, width - used - indent)
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut spans: Vec<Span<'static>> = if i == 0 {
                head.iter()
                    .map(|(k, s)| Span::styled(s.clone(), style(*k)))
                    .chain(std::iter::once(Span::raw(" ".repeat(indent))))
                    .collect()
            } else {
                vec![Span::raw(pad.clone())]
            };
            spans.push(Span::styled(chunk, style(*kind)));
            Line::from(spans)
        })
        .collect()
}

fn sanitize_lines(text: &str) -> String {
    text.lines().map(sanitize).collect::<Vec<_>>().join("\n")
}

fn done_lines(d: &Done, out: &mut Vec<(Kind, String)>) {
    let files = d.applied.written().len();
    out.push((
        Kind::Good,
        format!("Wrote {files} files under {}", d.folder),
    ));
    match &d.applied {
        Applied::Committed { id, .. } => {
            let s = id.to_string();
            out.push((Kind::Good, "homelab check passes".into()));
            out.push((
                Kind::Good,
                format!(
                    "Committed {} \"{}\"",
                    &s[..s.len().min(12)],
                    commit_message(&d.req.name)
                ),
            ));
        }
        Applied::Written { .. } => out.push((Kind::Good, "homelab check passes".into())),
        Applied::CheckFails { report, .. } => {
            out.push((
                Kind::Bad,
                "The result fails homelab check: nothing was committed. Fix the files and commit them yourself, or remove the folder and restore the group kustomization.".into(),
            ));
            out.push((Kind::Text, String::new()));
            let text = crate::repo::output::human(report);
            for l in text.lines() {
                out.push((Kind::Text, sanitize(l).into_owned()));
            }
        }
        Applied::CommitFailed { error, .. } => out.push((
            Kind::Bad,
            format!(
                "homelab check passes, but git could not commit: {}; commit the files yourself",
                sanitize(error)
            ),
        )),
    }
    out.push((Kind::Text, String::new()));
    let (push, watch) = (&d.push, &d.watch);
    out.push(match push {
        Progress::Idle => (
            Kind::Muted,
            "Push: not yet (p pushes to the branch Flux follows)".into(),
        ),
        Progress::Running => (Kind::Muted, "Push: pushing…".into()),
        Progress::Done(m) => (Kind::Good, format!("Push: {}", sanitize(m))),
        Progress::Failed(e) => (Kind::Bad, format!("Push failed: {}", sanitize(e))),
    });
    out.push(match watch {
        Progress::Idle => (
            Kind::Muted,
            "Watch: not yet (w follows the app until Ready)".into(),
        ),
        Progress::Running => (Kind::Muted, "Watch: following the app…".into()),
        Progress::Done(m) => (Kind::Good, format!("Watch: {}", sanitize(m))),
        Progress::Failed(e) => (Kind::Bad, format!("Watch stopped: {}", sanitize(e))),
    });
    // Ready: every step is, and the line above says so; the room goes to the doctor.
    let steps: &[_] = match watch {
        Progress::Done(_) => &[],
        _ => &d.steps,
    };
    for s in steps {
        let (k, mark) = if s.ready {
            (Kind::Good, "✓")
        } else {
            (Kind::Text, "…")
        };
        out.push((
            k,
            format!("  {mark} {}  {}", sanitize(&s.what), sanitize(&s.detail)),
        ));
    }
}

fn render_body(state: &ScaffoldState, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let t = cx.theme;
    let title = match &state.phase {
        Phase::Preview(p) | Phase::Applying(p) | Phase::Refused { planned: p, .. } => {
            format!("Preview · {}", commit_message(&p.req.name))
        }
        Phase::Done(d) => format!("Scaffolded · {}", d.req.name),
        _ => "Scaffold".into(),
    };
    let inner = panel(frame, area, &title, cx);
    let [head, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let key = |a: Action| cx.keymap.label("scaffold", &a, false);
    let keys: Vec<(Option<String>, &str)> = match &state.phase {
        Phase::Preview(_) => vec![
            (key(Action::NextPane), "files/diff"),
            (key(Action::Save), "write + check + commit"),
            (key(Action::Edit), "edit"),
            (Some("j/k".into()), "scroll"),
        ],
        Phase::Refused { .. } => vec![
            (key(Action::Save), "try again"),
            (key(Action::Edit), "edit"),
        ],
        Phase::Done(d) if d.doctor.is_some() => vec![
            (key(Action::Retry), "doctor again"),
            (key(Action::Follow), "watch again"),
            (key(Action::Edit), "another app"),
            (Some("j/k".into()), "scroll"),
        ],
        Phase::Done(d) if d.commit().is_some() => vec![
            (key(Action::Run), "push"),
            (key(Action::Follow), "watch until Ready"),
            (key(Action::Edit), "another app"),
        ],
        Phase::Done(_) => vec![(key(Action::Edit), "edit")],
        _ => Vec::new(),
    };
    frame.render_widget(Paragraph::new(popup::key_footer(&keys, t)), footer);
    let head_line = match &state.phase {
        Phase::Preview(p) | Phase::Applying(p) => {
            let n_new = p.plan.files.iter().filter(|f| f.old.is_none()).count();
            let n_edit = p.plan.files.len() - n_new;
            let tab = |on: bool, text: String| {
                Span::styled(text, if on { t.ui.title_focused } else { t.ui.muted })
            };
            let mut spans = vec![
                tab(state.tab == Tab::Files, format!(" Files ({n_new} new) ")),
                Span::styled("│", t.ui.border),
                tab(state.tab == Tab::Diff, format!(" Diff ({n_edit} edited) ")),
            ];
            if matches!(state.phase, Phase::Applying(_)) {
                spans.push(Span::styled(
                    format!("  {} writing, checking, committing…", cx.spinner()),
                    t.status.spinner,
                ));
            } else if p.plan.files.iter().any(|f| f.rel.ends_with(".sops.yaml")) {
                spans.push(Span::styled(
                    "  the Secret is shown encrypted, as it will be written",
                    t.ui.muted,
                ));
            }
            Line::from(spans)
        }
        Phase::Refused { .. } => Line::styled(" The plan was not written", t.status.error),
        _ => Line::styled(" Result", t.ui.header),
    };
    frame.render_widget(Paragraph::new(head_line), head);
    let lines = body_lines(state);
    let h = body.height as usize;
    let w = body.width as usize;
    let style = |k: Kind| -> Style {
        match k {
            Kind::Text => t.ui.text,
            Kind::Header => t.ui.header,
            Kind::Added => t.env.added,
            Kind::Removed => t.env.removed,
            Kind::Hunk => t.ui.accent,
            Kind::Good => t.status.ok,
            Kind::Bad => t.status.error,
            Kind::Warn => t.status.warn,
            Kind::Muted => t.ui.muted,
        }
    };
    let shown: Vec<Line> = if matches!(state.phase, Phase::Done(_)) {
        // The result starts at the doctor once it runs (`doctor_line`), but never leaves rows
        // empty while lines above it are hidden: all of it from the top when it fits.
        let drawn: Vec<Vec<Line>> = lines.iter().map(|l| draw_line(l, w, style)).collect();
        let total: usize = drawn.iter().map(Vec::len).sum();
        let at: usize = drawn.iter().take(state.scroll).map(Vec::len).sum();
        drawn
            .into_iter()
            .flatten()
            .skip(at.min(total.saturating_sub(h)))
            .take(h)
            .collect()
    } else {
        let mut shown: Vec<Line> = Vec::new();
        for l in lines
            .iter()
            .skip(state.scroll.min(lines.len().saturating_sub(1)))
        {
            if shown.len() >= h {
                break;
            }
            shown.extend(draw_line(l, w, style));
        }
        shown.truncate(h);
        shown
    };
    frame.render_widget(Paragraph::new(shown), body);
}
