//! Drawing the health pane with the shared Theme: only the visible rows are formatted, so a
//! frame costs the same with 50 or 5,000 pods in the model. Text from the cluster goes through
//! `domain::printable::sanitize`; key labels come from the keymap.

use super::HealthPane;
use super::model::Row;
use crate::domain::printable::sanitize;
use crate::domain::units::bytes;
use crate::msg::Action;
use crate::screens::console::conn::{ConnState, human_secs};
use crate::screens::console::view::{Cx, conn_badge, pane_block, pane_title};
use crate::theme::Theme;
use crate::widgets::{list, popup};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

fn clean(s: &str) -> String {
    sanitize(s).into_owned()
}

/// `main@sha1:<40 hex>` -> `main@sha1:<12 hex>` (as `git log --oneline` would); others as is.
fn short_revision(r: &str) -> &str {
    match r.find("@sha1:") {
        Some(i) => {
            let end = (i + "@sha1:".len() + 12).min(r.len());
            r.get(..end).unwrap_or(r)
        }
        None => r,
    }
}

fn mark(ok: Option<bool>, theme: &Theme) -> Span<'static> {
    match ok {
        Some(true) => Span::styled("✓ ", theme.status.ok),
        Some(false) => Span::styled("✗ ", theme.status.error),
        None => Span::styled("◌ ", theme.status.warn),
    }
}

fn percent(used: u64, total: u64) -> String {
    if total == 0 {
        return "?".into();
    }
    format!("{}%", used.saturating_mul(100) / total)
}

fn line(p: &HealthPane, row: &Row, cx: &Cx) -> Line<'static> {
    let theme = cx.theme;
    let m = &p.model;
    let muted = theme.ui.muted;
    match row {
        Row::Header {
            title,
            summary,
            bad,
        } => Line::from(vec![
            Span::styled(format!("{title}  "), theme.ui.header),
            Span::styled(
                summary.clone(),
                if *bad {
                    theme.status.error
                } else {
                    theme.status.ok
                },
            ),
        ]),
        Row::Node(name) => {
            let Some(n) = m.nodes.get(name) else {
                return Line::default();
            };
            let ok = n.ready == Some(true) && n.pressure.is_empty();
            let mut spans = vec![
                Span::raw("  "),
                mark(if ok { Some(true) } else { Some(false) }, theme),
                Span::styled(clean(&n.name), theme.ui.text),
                Span::styled(
                    match n.ready {
                        Some(true) => "  Ready",
                        Some(false) => "  NotReady",
                        None => "  Unknown",
                    },
                    if n.ready == Some(true) {
                        theme.status.ok
                    } else {
                        theme.status.error
                    },
                ),
            ];
            if n.unschedulable {
                spans.push(Span::styled(",SchedulingDisabled", theme.status.warn));
            }
            let u = m.usage.get(name).copied().unwrap_or_default();
            let cpu = match u.cpu_millis {
                Some(c) => format!("  cpu {} {c}m", percent(c, n.cpu_millis)),
                None => "  cpu -".into(),
            };
            let mem = match u.memory_bytes {
                Some(b) => format!("  mem {} {}", percent(b, n.memory_bytes), bytes(b)),
                None => "  mem -".into(),
            };
            let swap = match u.swap_bytes {
                Some(b) => format!("  swap {}", bytes(b)),
                None => "  swap -".into(),
            };
            spans.push(Span::styled(format!("{cpu}{mem}{swap}"), theme.ui.text));
            for c in &n.pressure {
                spans.push(Span::styled(format!("  {}", clean(c)), theme.status.error));
            }
            Line::from(spans)
        }
        Row::Flux { key, prefix } => {
            let Some(f) = m.flux.get(key) else {
                return Line::default();
            };
            let mut spans = vec![
                Span::styled(prefix.clone(), muted),
                mark(f.ready, theme),
                Span::styled(format!("{} ", f.kind.name()), theme.ui.accent),
                Span::styled(
                    format!("{}/{}", clean(&f.namespace), clean(&f.name)),
                    theme.ui.text,
                ),
            ];
            if f.suspended {
                spans.push(Span::styled("  suspended", theme.status.warn));
            }
            let tail = if f.is_ready() {
                clean(short_revision(&f.revision))
            } else {
                clean(&f.reason)
            };
            if !tail.is_empty() {
                spans.push(Span::styled(
                    format!("  {tail}"),
                    if f.is_ready() {
                        muted
                    } else {
                        theme.status.error
                    },
                ));
            }
            Line::from(spans)
        }
        Row::Workload { key, prefix } => {
            let Some(w) = m.workloads.get(key) else {
                return Line::default();
            };
            let ok = w.ready >= w.desired;
            Line::from(vec![
                Span::styled(prefix.clone(), muted),
                mark(Some(ok), theme),
                Span::styled(format!("{} ", w.kind), theme.ui.accent),
                Span::styled(
                    format!("{}/{}", clean(&w.namespace), clean(&w.name)),
                    theme.ui.text,
                ),
                Span::styled(
                    format!("  {}/{} ready", w.ready, w.desired),
                    if ok { muted } else { theme.status.error },
                ),
            ])
        }
        Row::Pod { key, prefix } => {
            let Some(pd) = m.pods.get(key) else {
                return Line::default();
            };
            let mut spans = vec![
                Span::styled(prefix.clone(), muted),
                mark(Some(pd.ready), theme),
                Span::styled("Pod ", theme.ui.accent),
                Span::styled(
                    format!("{}/{}", clean(&pd.namespace), clean(&pd.name)),
                    theme.ui.text,
                ),
            ];
            let state = pd.waiting.clone().unwrap_or_else(|| pd.phase.clone());
            spans.push(Span::styled(
                format!("  {}", clean(&state)),
                theme.status.error,
            ));
            if pd.restarts > 0 {
                spans.push(Span::styled(
                    format!("  restarts {}", pd.restarts),
                    theme.status.warn,
                ));
            }
            if let Some(t) = &pd.last_terminated {
                spans.push(Span::styled(format!("  last {}", clean(t)), muted));
            }
            Line::from(spans)
        }
        Row::Cause {
            prefix,
            label,
            text,
        } => Line::from(vec![
            Span::styled(prefix.clone(), muted),
            Span::styled(format!("{label}: "), theme.status.warn),
            Span::styled(clean(text), theme.ui.text),
        ]),
        Row::Event(key) => {
            let Some(e) = m.events.get(key) else {
                return Line::default();
            };
            let age = if e.last_seen > 0 {
                human_secs(cx.now_s.saturating_sub(e.last_seen).max(0))
            } else {
                "?".into()
            };
            let mut spans = vec![
                Span::styled(format!("  {age:>6}  "), theme.console.log_timestamp),
                Span::styled(format!("{} ", clean(&e.reason)), theme.status.warn),
                Span::styled(
                    format!(
                        "{} {}/{}",
                        clean(&e.object_kind),
                        clean(&e.namespace),
                        clean(&e.object_name)
                    ),
                    theme.ui.accent,
                ),
            ];
            if e.count > 1 {
                spans.push(Span::styled(format!(" ×{}", e.count), muted));
            }
            spans.push(Span::styled(
                format!("  {}", clean(&e.message)),
                theme.ui.text,
            ));
            Line::from(spans)
        }
        Row::Note(t) => Line::styled(format!("  {}", clean(t)), muted),
    }
}

pub(super) fn render(p: &HealthPane, f: &mut Frame, area: Rect, cx: &Cx, focused: bool) {
    let theme = cx.theme;
    let m = &p.model;
    let mut title = pane_title("Health", focused, theme);
    title.extend(conn_badge("Kubernetes", &p.conn, theme));
    if m.connected {
        title.push(Span::raw("  "));
        let (bad, style): (Vec<String>, Style) = {
            let mut v = Vec::new();
            for (n, what) in [
                (m.nodes_not_ready, "nodes not Ready"),
                (m.flux_not_ready, "Flux not Ready"),
                (m.crash_looping, "crash-looping"),
                (m.pods_not_ready, "pods not Ready"),
            ] {
                if n > 0 {
                    v.push(format!("{n} {what}"));
                }
            }
            let s = if v.is_empty() {
                theme.status.ok
            } else {
                theme.status.error
            };
            (v, s)
        };
        title.push(Span::styled(
            if bad.is_empty() {
                "all healthy".to_string()
            } else {
                bad.join(" · ")
            },
            style,
        ));
    }
    title.push(Span::raw(" "));
    let block = pane_block(title, focused, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);

    let notice = p
        .notice
        .clone()
        .or_else(|| p.conn.reason().map(str::to_string))
        .or_else(|| m.usage_note.clone());
    let [note_area, body, footer] = Layout::vertical([
        Constraint::Length(u16::from(notice.is_some())),
        Constraint::Fill(1),
        Constraint::Length(u16::from(focused && inner.height > 3)),
    ])
    .areas(inner);
    if let Some(n) = notice {
        f.render_widget(
            Paragraph::new(Line::styled(clean(&n), theme.status.warn)),
            note_area,
        );
    }
    if p.conn == ConnState::NotConfigured {
        f.render_widget(
            Paragraph::new(Line::styled(
                "  no Kubernetes context for this cluster: $KUBECONFIG or ~/.kube/config with a context named after it (the k3s stage writes one)",
                theme.ui.muted,
            )),
            body,
        );
    } else if !m.connected && m.nodes.is_empty() && m.flux.is_empty() {
        let text = match &p.conn {
            ConnState::Failed { .. } => "  no cluster health: see the error above; r tries again",
            _ => "  waiting for the first lists from the Kubernetes API…",
        };
        f.render_widget(Paragraph::new(Line::styled(text, theme.ui.muted)), body);
    } else {
        // Format only the visible rows.
        let rows = &m.rows;
        let height = body.height as usize;
        let off = list::offset(p.selected, rows.len(), height);
        let end = off.saturating_add(height).min(rows.len());
        let lines: Vec<Line> = rows[off..end].iter().map(|r| line(p, r, cx)).collect();
        let sel = p.selected.saturating_sub(off);
        list::render(f, body, lines, sel, focused, theme);
    }
    if footer.height > 0 {
        let key = |a: Action| cx.keymap.label("console", &a, false);
        f.render_widget(
            Paragraph::new(popup::key_footer(
                &[
                    (key(Action::Select), "logs"),
                    (key(Action::Refresh), "watch again"),
                ],
                theme,
            )),
            footer,
        );
    }
}
