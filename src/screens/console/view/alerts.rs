//! The alerts pane: grouped list, detail view, silence form, expire confirmation.

use super::text::{truncate, width};
use super::{Cx, conn_badge, pane_block, pane_title};
use crate::domain::alerts::{Alert, AlertState, Severity};
use crate::msg::Action;
use crate::screens::console::alerts::{AlertRow, AlertsPane};
use crate::screens::console::conn::{ConnState, human_secs};
use crate::screens::console::state::ConsoleState;
use crate::theme::Theme;
use crate::widgets::line_edit::LineEdit;
use crate::widgets::popup;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Paragraph, Wrap};

fn state_style(s: AlertState, theme: &Theme) -> Style {
    match s {
        AlertState::Firing => theme.console.alert_firing,
        AlertState::Pending => theme.console.alert_pending,
        AlertState::Suppressed => theme.console.alert_silenced,
    }
}

pub(super) fn render(
    p: &AlertsPane,
    f: &mut Frame,
    area: Rect,
    cx: &Cx,
    focused: bool,
    zoomed: bool,
    st: &ConsoleState,
) {
    let theme = cx.theme;
    let mut title = pane_title("Alerts", focused, theme);
    title.extend(conn_badge("Prometheus", &p.prometheus.conn, theme));
    title.push(Span::raw("  "));
    title.extend(conn_badge("Alertmanager", &p.alertmanager.conn, theme));
    if p.prometheus.loaded || p.alertmanager.loaded {
        let (firing, pending, silenced) = p.counts();
        title.push(Span::raw("  "));
        title.push(Span::styled(
            format!("{firing} firing"),
            theme.console.alert_firing,
        ));
        title.push(Span::styled(
            format!(" · {pending} pending"),
            theme.console.alert_pending,
        ));
        title.push(Span::styled(
            format!(" · {silenced} silenced"),
            theme.console.alert_silenced,
        ));
    }
    if zoomed {
        title.push(Span::styled("  [zoom]", theme.ui.muted));
    }
    title.push(Span::raw(" "));
    let block = pane_block(title, focused, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let [body, status] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(inner);
    render_status(p, f, status, theme);

    let nothing_loaded = !p.prometheus.loaded && !p.alertmanager.loaded;
    if st.endpoints.prometheus.is_none() && st.endpoints.alertmanager.is_none() {
        let t = Text::from(vec![
            Line::from("Prometheus and Alertmanager are not configured."),
            Line::from(
                "Pass --prometheus URL --alertmanager URL, set HOMELAB_PROMETHEUS_URL / HOMELAB_ALERTMANAGER_URL, or set observability.* in the cluster config.",
            ),
        ]);
        f.render_widget(Paragraph::new(t).wrap(Wrap { trim: false }), body);
        return;
    }
    if nothing_loaded {
        let mut lines = Vec::new();
        for (name, conn) in [
            ("Prometheus", &p.prometheus.conn),
            ("Alertmanager", &p.alertmanager.conn),
        ] {
            match conn {
                ConnState::NotConfigured => {}
                ConnState::Connecting | ConnState::Live => {
                    lines.push(Line::from(format!("Loading alerts from {name}…")))
                }
                ConnState::Reconnecting {
                    reason, retry_in, ..
                } => {
                    lines.push(Line::styled(
                        format!("{name}: {reason}"),
                        theme.status.error,
                    ));
                    lines.push(Line::styled(
                        format!(
                            "  retrying in {}",
                            crate::screens::console::conn::human_duration(*retry_in)
                        ),
                        theme.ui.muted,
                    ));
                }
                ConnState::Failed { reason } => lines.push(Line::styled(
                    format!("{name}: {reason}"),
                    theme.status.error,
                )),
            }
        }
        f.render_widget(
            Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false }),
            body,
        );
        return;
    }
    if p.alerts.is_empty() {
        f.render_widget(
            Paragraph::new("No alerts firing or pending. All quiet."),
            body,
        );
        return;
    }
    if p.detail {
        if let Some(a) = p.selected() {
            render_detail(a, f, body, cx);
        }
    } else {
        render_list(p, f, body, cx, focused);
    }
}

fn render_status(p: &AlertsPane, f: &mut Frame, row: Rect, theme: &Theme) {
    let mut spans = Vec::new();
    if let Some(n) = &p.notice {
        spans.push(Span::styled(n.clone(), theme.ui.muted));
    }
    for (name, conn, loaded) in [
        ("Prometheus", &p.prometheus.conn, p.prometheus.loaded),
        ("Alertmanager", &p.alertmanager.conn, p.alertmanager.loaded),
    ] {
        if let (Some(reason), true) = (conn.reason(), loaded) {
            if !spans.is_empty() {
                spans.push(Span::raw(" · "));
            }
            spans.push(Span::styled(
                format!(
                    "{name} {}: {reason} (showing its last answer)",
                    conn.badge()
                ),
                theme.status.degraded,
            ));
        }
    }
    let unhealthy: Vec<&str> = p
        .rules
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| r.health != "ok" && !r.health.is_empty())
        .map(|r| r.name.as_str())
        .collect();
    if !unhealthy.is_empty() {
        spans.push(Span::styled(
            format!(" · unhealthy rules: {}", unhealthy.join(", ")),
            theme.status.error,
        ));
    }
    if spans.is_empty() {
        let rules: usize = p.rules.iter().map(|g| g.rules.len()).sum();
        if rules > 0 {
            spans.push(Span::styled(
                format!("{rules} alerting rules"),
                theme.ui.muted,
            ));
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), row);
}

/// `instance=… job=…`: labels other than alertname and severity.
fn label_summary(a: &Alert) -> String {
    let order = [
        "namespace",
        "pod",
        "app",
        "container",
        "job",
        "instance",
        "node",
        "service",
    ];
    let mut parts: Vec<String> = order
        .iter()
        .filter_map(|k| a.labels.get(*k).map(|v| format!("{k}={v}")))
        .collect();
    for (k, v) in &a.labels {
        if !order.contains(&k.as_str()) && k != "alertname" && k != "severity" {
            parts.push(format!("{k}={v}"));
        }
    }
    parts.join(" ")
}

fn since(a: &Alert, now_s: i64) -> String {
    a.active_since
        .map(|t| human_secs(now_s - t))
        .unwrap_or_else(|| "-".into())
}

fn render_list(p: &AlertsPane, f: &mut Frame, body: Rect, cx: &Cx, focused: bool) {
    let theme = cx.theme;
    let rows = p.rows();
    let sel = p.selected_index();
    let sel_row = rows
        .iter()
        .position(|r| matches!(r, AlertRow::Alert(i) if Some(*i) == sel))
        .unwrap_or(0);
    let height = body.height as usize;
    // Keep the selection visible; show its group header when there is room.
    let offset = (sel_row + 1).saturating_sub(height);
    let cols = body.width as usize;
    let name_w = if cols >= 120 { 34 } else { 24 };
    let mut lines = Vec::with_capacity(height);
    for row in rows.iter().skip(offset).take(height) {
        match *row {
            AlertRow::Group { severity, count } => {
                let style = match severity {
                    Severity::Critical => theme.console.alert_firing,
                    Severity::Warning => theme.console.alert_pending,
                    _ => theme.ui.header,
                };
                lines.push(Line::styled(
                    format!("{} ({count})", severity.as_str().to_uppercase()),
                    style,
                ));
            }
            AlertRow::Alert(i) => {
                let a = &p.alerts[i];
                let state = format!("{:<9}", a.state.as_str().to_uppercase());
                let name = truncate(a.name(), name_w).into_owned();
                let name = format!("{name}{} ", " ".repeat(name_w.saturating_sub(width(&name))));
                let dur = format!("{:>7}  ", since(a, cx.now_s));
                let used = 2 + 9 + name_w + 1 + 9;
                let rest = cols.saturating_sub(used);
                let mut spans = vec![
                    Span::raw("  "),
                    Span::styled(state, state_style(a.state, theme)),
                    Span::styled(name, theme.ui.text),
                    Span::styled(dur, theme.ui.muted),
                ];
                if rest > 8 {
                    spans.push(Span::styled(
                        truncate(&label_summary(a), rest).into_owned(),
                        theme.console.log_labels,
                    ));
                }
                let mut line = Line::from(spans);
                if Some(i) == sel {
                    line.style = if focused {
                        theme.ui.selection
                    } else {
                        theme.ui.selection_unfocused
                    };
                }
                lines.push(line);
            }
        }
    }
    f.render_widget(Paragraph::new(Text::from(lines)), body);
}

fn render_detail(a: &Alert, f: &mut Frame, body: Rect, cx: &Cx) {
    let theme = cx.theme;
    let key = |k: &str| Span::styled(format!("{k:<13}"), theme.ui.muted);
    let mut lines = vec![Line::from(vec![
        Span::styled(a.name().to_owned(), theme.ui.header),
        Span::raw("  "),
        Span::styled(a.state.as_str().to_uppercase(), state_style(a.state, theme)),
    ])];
    for (k, v) in &a.annotations {
        lines.push(Line::from(vec![
            Span::styled(format!("{k}: "), theme.ui.muted),
            Span::raw(v.clone()),
        ]));
    }
    lines.push(Line::from(vec![
        key("severity"),
        Span::raw(a.severity().as_str()),
    ]));
    if let Some(t) = a.active_since {
        lines.push(Line::from(vec![
            key("active since"),
            Span::raw(format!("{} ({} ago)", utc(t), human_secs(cx.now_s - t))),
        ]));
    }
    if let Some(t) = a.ends_at {
        lines.push(Line::from(vec![key("ends"), Span::raw(utc(t))]));
    }
    let sources = match (a.sources.prometheus, a.sources.alertmanager) {
        (true, true) => "Prometheus, Alertmanager",
        (true, false) => "Prometheus only (not yet in Alertmanager)",
        (false, true) => "Alertmanager only",
        (false, false) => "-",
    };
    lines.push(Line::from(vec![key("seen by"), Span::raw(sources)]));
    if !a.silenced_by.is_empty() {
        lines.push(Line::from(vec![
            key("silenced by"),
            Span::styled(a.silenced_by.join(", "), theme.console.alert_silenced),
        ]));
    }
    if !a.inhibited_by.is_empty() {
        lines.push(Line::from(vec![
            key("inhibited by"),
            Span::raw(a.inhibited_by.join(", ")),
        ]));
    }
    if let Some(v) = &a.value {
        lines.push(Line::from(vec![key("value"), Span::raw(v.clone())]));
    }
    if let Some(fp) = &a.fingerprint {
        lines.push(Line::from(vec![
            key("fingerprint"),
            Span::styled(fp.clone(), theme.ui.muted),
        ]));
    }
    lines.push(Line::styled("Labels", theme.ui.header));
    for (k, v) in &a.labels {
        lines.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(format!("{k}="), theme.console.log_labels),
            Span::raw(v.clone()),
        ]));
    }
    let key = |a: Action| cx.keymap.label("console", &a, false);
    lines.push(popup::key_footer(
        &[
            (key(Action::Select), "logs"),
            (key(Action::Incident), "incident"),
            (key(Action::Silence), "silence"),
            (key(Action::Expire), "expire"),
            (cx.keymap.label("global", &Action::Close, false), "back"),
        ],
        theme,
    ));
    f.render_widget(
        Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false }),
        body,
    );
}

fn utc(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The silence form: a modal overlay over the whole console (drawn after every pane).
pub(super) fn render_silence_form(
    p: &AlertsPane,
    form: &crate::screens::console::alerts::SilenceForm,
    f: &mut Frame,
    area: Rect,
    cx: &Cx,
) {
    let theme = cx.theme;
    // Four fields and a message row inside the shared overlay frame (hints in its border).
    let rect = popup::centered(area, 72, 8);
    popup::dim(f.buffer_mut(), area, theme.ui.dim);
    let key = |a: Action| cx.keymap.label("form", &a, true);
    let footer = popup::hint_spans(
        &[
            (key(Action::Select), "create"),
            (key(Action::NextPane), "next field"),
            (key(Action::Close), "cancel"),
        ],
        theme,
    );
    let title = format!("Silence {}", form.alert.name());
    let inner = popup::frame(f, rect, &title, Some(footer), theme);
    let rows = Layout::vertical([Constraint::Length(1); 6]).split(inner);
    let field = |i: usize, label: &str, q: &LineEdit, f: &mut Frame| {
        if form.field == i {
            q.render(f, rows[i], label, "", theme.ui.key, theme);
        } else {
            let mut spans = vec![Span::styled(label.to_owned(), theme.ui.muted)];
            spans.extend(q.spans(usize::from(rows[i].width), theme.ui.overlay, false));
            f.render_widget(Paragraph::new(Line::from(spans)), rows[i]);
        }
    };
    field(0, "Duration  ", &form.duration, f);
    field(1, "Comment   ", &form.comment, f);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("Author    ", theme.ui.muted),
            Span::raw(p.author.clone()),
        ])),
        rows[2],
    );
    let matchers: Vec<String> = form
        .alert
        .labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("Matches   ", theme.ui.muted),
            Span::raw(
                truncate(
                    &matchers.join(", "),
                    (inner.width as usize).saturating_sub(10),
                )
                .into_owned(),
            ),
        ])),
        rows[3],
    );
    if let Some(e) = &form.error {
        f.render_widget(
            Paragraph::new(Span::styled(e.clone(), theme.status.error)),
            rows[5],
        );
    } else if p.busy {
        f.render_widget(
            Paragraph::new(Span::styled("Creating the silence…", theme.ui.muted)),
            rows[5],
        );
    }
}
