//! The incident view: a console overlay with one section per layer (Alert, Flux owner, Pods,
//! Logs (-5 min), Proxmox VM), each showing its answer, "asking…", why it was skipped, or the
//! failure with source, host and step. Everything from peers goes through the one sanitizer.

use super::Cx;
use super::text::{truncate, wrap_spans};
use crate::domain::incident::{
    FluxOwner, Incident, LogsOrigin, LogsWindow, Part, SourceFailure, VmFacts, VmRow, Workload,
};
use crate::domain::printable::sanitize;
use crate::msg::Action;
use crate::screens::console::conn::human_secs;
use crate::screens::console::incident::{IncidentView, Section};
use crate::theme::Theme;
use crate::widgets::popup;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::Paragraph;

/// At most this many of the window's lines are shown (the newest); Enter opens them all.
pub const LOG_LINES_SHOWN: usize = 8;
/// The indent of a wrapped line's continuation.
const HANG: usize = 4;

fn clean(s: &str) -> String {
    sanitize(s).into_owned()
}

fn hms(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .map(|t| t.strftime("%H:%M:%S").to_string())
        .unwrap_or_default()
}

fn utc(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The lines of a part that has no answer yet, was skipped, or failed; `None` when ready.
fn not_ready<T>(part: &Part<T>, asking: &str, theme: &Theme) -> Option<Vec<Line<'static>>> {
    match part {
        Part::Ready(_) => None,
        Part::Loading => Some(vec![Line::styled(format!("  {asking}…"), theme.ui.muted)]),
        Part::Skipped(why) => Some(vec![Line::styled(
            format!("  – {}", clean(why)),
            theme.ui.muted,
        )]),
        Part::Failed(f) => Some(vec![failure(f, theme)]),
    }
}

fn failure(f: &SourceFailure, theme: &Theme) -> Line<'static> {
    Line::styled(format!("  ✗ {}", clean(&f.to_string())), theme.status.error)
}

fn field(name: &str, theme: &Theme) -> Span<'static> {
    Span::styled(format!("  {name:<9} "), theme.ui.muted)
}

fn alert_lines(i: &Incident, cx: &Cx) -> Vec<Line<'static>> {
    let theme = cx.theme;
    let a = &i.alert;
    let state_style = match a.state.as_str() {
        "firing" => theme.console.alert_firing,
        "pending" => theme.console.alert_pending,
        _ => theme.console.alert_silenced,
    };
    let mut lines = vec![Line::from(vec![
        Span::raw("  "),
        Span::styled(clean(&a.name), theme.ui.header),
        Span::raw("  "),
        Span::styled(a.state.to_uppercase(), state_style),
        Span::styled(format!("  {}", a.severity), theme.ui.muted),
    ])];
    let since = match a.starts_at {
        Some(t) => format!(
            "{} ({} ago)",
            utc(t),
            human_secs(cx.now_s.saturating_sub(t))
        ),
        None => "unknown: the logs window ends now".into(),
    };
    lines.push(Line::from(vec![field("since", theme), Span::raw(since)]));
    if let Some(s) = &a.summary {
        lines.push(Line::from(vec![
            field("summary", theme),
            Span::raw(clean(s)),
        ]));
    }
    let labels: Vec<String> = a
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname" && k.as_str() != "severity")
        .map(|(k, v)| format!("{k}={}", clean(v)))
        .collect();
    lines.push(Line::from(vec![
        field("labels", theme),
        Span::styled(labels.join(" "), theme.console.log_labels),
    ]));
    lines
}

fn ready_style(ready: &str, theme: &Theme) -> Style {
    match ready {
        "True" => theme.status.live,
        "False" => theme.status.down,
        _ => theme.status.unknown,
    }
}

fn flux_lines(i: &Incident, theme: &Theme) -> Vec<Line<'static>> {
    if let Some(l) = not_ready(&i.flux, "asking Kubernetes for the Flux owner", theme) {
        return l;
    }
    let Some(FluxOwner {
        kind,
        namespace,
        name,
        ready,
        reason,
        message,
    }) = i.flux.ready()
    else {
        return Vec::new();
    };
    let ready_text = if ready.is_empty() {
        "no Ready condition yet".to_owned()
    } else {
        format!("Ready={}", clean(ready))
    };
    let mut lines = vec![Line::from(vec![
        Span::raw("  "),
        Span::styled(
            format!("{kind} {}/{}", clean(namespace), clean(name)),
            theme.ui.text,
        ),
        Span::raw("  "),
        Span::styled(ready_text, ready_style(ready, theme)),
        Span::styled(format!("  {}", clean(reason)), theme.ui.muted),
    ])];
    if !message.is_empty() {
        lines.push(Line::from(vec![
            field("message", theme),
            Span::raw(clean(message)),
        ]));
    }
    lines
}

fn pod_lines(i: &Incident, theme: &Theme) -> Vec<Line<'static>> {
    if let Some(l) = not_ready(&i.workload, "asking Kubernetes for the workload", theme) {
        return l;
    }
    let Some(Workload { workload, pods }) = i.workload.ready() else {
        return Vec::new();
    };
    let mut lines = vec![Line::from(vec![
        Span::raw("  "),
        Span::styled(clean(&workload.to_string()), theme.ui.text),
        Span::styled(
            format!(
                "  {} pod{}",
                pods.len(),
                if pods.len() == 1 { "" } else { "s" }
            ),
            theme.ui.muted,
        ),
    ])];
    if pods.is_empty() {
        lines.push(Line::styled("  – no pods", theme.ui.muted));
    }
    let name_w = pods.iter().map(|p| p.name.len()).max().unwrap_or(0).min(48);
    for p in pods {
        let healthy = p.ready && p.status == "Running";
        let status_style = if healthy {
            theme.status.live
        } else {
            theme.status.down
        };
        let mut spans = vec![
            Span::raw("  "),
            Span::styled(
                format!("{:<name_w$}  ", truncate(&clean(&p.name), name_w)),
                theme.ui.text,
            ),
            Span::styled(format!("{:<16} ", clean(&p.status)), status_style),
            Span::styled(
                if p.ready { "ready     " } else { "not ready " },
                theme.ui.muted,
            ),
            Span::raw(format!("{:>3} restarts", p.restarts)),
        ];
        if let Some(t) = &p.last_termination {
            spans.push(Span::styled(
                format!(" (last: {})", clean(t)),
                theme.status.down,
            ));
        }
        let node = if p.node.is_empty() {
            "not scheduled".to_owned()
        } else {
            clean(&p.node)
        };
        spans.push(Span::styled(format!("  on {node}"), theme.ui.muted));
        lines.push(Line::from(spans));
    }
    lines
}

fn logs_lines(i: &Incident, cx: &Cx, selected: bool) -> Vec<Line<'static>> {
    let theme = cx.theme;
    if let Some(l) = not_ready(&i.logs, "asking for the logs", theme) {
        return l;
    }
    let Some(LogsWindow {
        from_ns,
        to_ns,
        origin,
        lines: log,
        truncated,
        failed_pods,
    }) = i.logs.ready()
    else {
        return Vec::new();
    };
    let count = format!(
        "{}{} line{}",
        log.len(),
        if *truncated { "+" } else { "" },
        if log.len() == 1 { "" } else { "s" }
    );
    let shown = if log.len() > LOG_LINES_SHOWN {
        format!(", the newest {LOG_LINES_SHOWN} below")
    } else {
        String::new()
    };
    let mut lines = vec![Line::from(vec![
        Span::raw(format!("  {} – {} UTC  ", hms(*from_ns), hms(*to_ns))),
        Span::styled(format!("{count}{shown}"), theme.ui.muted),
    ])];
    match origin {
        LogsOrigin::Loki { selector } => lines.push(Line::from(vec![
            field("from Loki", theme),
            Span::styled(clean(selector), theme.console.log_labels),
        ])),
        LogsOrigin::PodApi { pods, why } => {
            lines.push(Line::styled(
                format!("  from the pod log API of {}", clean(&pods.join(", "))),
                theme.status.degraded,
            ));
            lines.push(Line::styled(
                format!("  because {}", clean(why)),
                theme.status.degraded,
            ));
        }
    }
    for f in failed_pods {
        lines.push(failure(f, theme));
    }
    if log.is_empty() {
        lines.push(Line::styled(
            "  – no lines in the five minutes before the alert",
            theme.ui.muted,
        ));
    }
    for l in log.iter().skip(log.len().saturating_sub(LOG_LINES_SHOWN)) {
        let style = match l.level {
            crate::domain::logs::LogLevel::Error | crate::domain::logs::LogLevel::Fatal => {
                theme.console.log_error
            }
            crate::domain::logs::LogLevel::Warn => theme.console.log_warn,
            crate::domain::logs::LogLevel::Debug | crate::domain::logs::LogLevel::Trace => {
                theme.console.log_debug
            }
            _ => theme.console.log_info,
        };
        let pod = l.labels.get("pod").map(|p| clean(p)).unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(format!("  {} ", hms(l.ts_ns)), theme.console.log_timestamp),
            Span::styled(format!("{pod} "), theme.console.log_labels),
            Span::styled(clean(&l.line), style),
        ]));
    }
    if selected && matches!(origin, LogsOrigin::Loki { .. }) {
        let key = cx
            .keymap
            .label("console", &Action::Select, false)
            .unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(format!("  {key}"), theme.ui.key),
            Span::styled(" opens the window in the logs pane", theme.ui.muted),
        ]));
    }
    lines
}

fn vm_facts(f: &VmFacts) -> String {
    let mut parts = vec![f.status.clone()];
    if let Some(q) = f.qmpstatus.as_ref().filter(|q| **q != f.status) {
        parts.push(format!("({})", clean(q)));
    }
    if let Some(cpu) = f.cpu {
        let of = f.cpus.map(|c| format!(" of {c}")).unwrap_or_default();
        parts.push(format!("CPU {:.0}%{of}", (cpu * 100.0).min(100_000.0)));
    }
    match (f.mem, f.maxmem) {
        (Some(m), Some(max)) => parts.push(format!(
            "mem {} / {}",
            crate::domain::units::bytes(m),
            crate::domain::units::bytes(max)
        )),
        (None, Some(max)) => parts.push(format!("mem - / {}", crate::domain::units::bytes(max))),
        _ => {}
    }
    if let Some(u) = f.uptime.filter(|u| *u > 0) {
        parts.push(format!(
            "up {}",
            human_secs(i64::try_from(u).unwrap_or(i64::MAX))
        ));
    }
    parts.join("  ")
}

fn vm_lines(i: &Incident, theme: &Theme) -> Vec<Line<'static>> {
    if let Some(l) = not_ready(&i.vms, "waiting for the pods' nodes", theme) {
        return l;
    }
    let rows: &[VmRow] = i.vms.ready().map(Vec::as_slice).unwrap_or(&[]);
    let mut lines = Vec::new();
    for r in rows {
        let head = if r.vmid == 0 {
            format!("  {} ", clean(&r.node))
        } else {
            format!(
                "  {} → VM {} {} on {}  ",
                clean(&r.node),
                r.vmid,
                clean(&r.vm_name),
                clean(&r.pve_node)
            )
        };
        let mut spans = vec![Span::styled(head, theme.ui.text)];
        match &r.facts {
            Part::Loading => spans.push(Span::styled("asking Proxmox VE…", theme.ui.muted)),
            Part::Skipped(why) => {
                spans.push(Span::styled(format!("– {}", clean(why)), theme.ui.muted))
            }
            Part::Ready(f) => {
                let style = if f.status == "running" {
                    theme.status.live
                } else {
                    theme.status.down
                };
                spans.push(Span::styled(vm_facts(f), style));
            }
            Part::Failed(f) => {
                lines.push(Line::from(spans));
                lines.push(failure(f, theme));
                continue;
            }
        }
        lines.push(Line::from(spans));
    }
    lines
}

/// Draw the view over `area` (the console body).
pub fn render(v: &IncidentView, f: &mut Frame, area: Rect, cx: &Cx) {
    let theme = cx.theme;
    popup::dim(f.buffer_mut(), area, theme.ui.dim);
    let rect = popup::centered(area, 140, area.height.saturating_sub(2).max(10));
    let key = |ctx: &str, a: Action| cx.keymap.label(ctx, &a, false);
    let updown = match (key("global", Action::Down), key("global", Action::Up)) {
        (Some(d), Some(u)) => Some(format!("{d}/{u}")),
        (d, u) => d.or(u),
    };
    let footer = popup::hint_spans(
        &[
            (updown, "section"),
            (key("console", Action::Select), "logs"),
            (key("global", Action::Close), "close"),
        ],
        theme,
    );
    let busy = if v.incident.loading() { " …" } else { "" };
    let title = format!(
        "Incident: {}{busy}",
        truncate(&clean(&v.incident.alert.name), 60)
    );
    let inner = popup::frame(f, rect, &title, Some(footer), theme);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    let cols = usize::from(inner.width);
    let mut rows: Vec<Line<'static>> = Vec::new();
    let mut selected_at = 0;
    for s in Section::ALL {
        let selected = s == v.section;
        if selected {
            selected_at = rows.len();
        }
        let marker = if selected { "▸ " } else { "  " };
        let title = format!("{marker}{} ", s.title());
        let rule = "─".repeat(cols.saturating_sub(super::text::width(&title)));
        let mut head = Line::styled(format!("{title}{rule}"), theme.ui.header);
        if selected {
            head = head.patch_style(theme.ui.selection);
        }
        rows.push(head);
        let body = match s {
            Section::Alert => alert_lines(&v.incident, cx),
            Section::Flux => flux_lines(&v.incident, theme),
            Section::Pods => pod_lines(&v.incident, theme),
            Section::Logs => logs_lines(&v.incident, cx, selected),
            Section::Vm => vm_lines(&v.incident, theme),
        };
        // Long lines wrap with a hanging indent under the section's text.
        for line in body {
            let style = line.style;
            for (i, mut spans) in wrap_spans(line.spans, cols.saturating_sub(HANG).max(1))
                .into_iter()
                .enumerate()
            {
                if i > 0 {
                    spans.insert(0, Span::raw(" ".repeat(HANG)));
                }
                rows.push(Line::from(spans).style(style));
            }
        }
    }
    // Keep the selected section's heading on screen; from there it reads downwards.
    let height = usize::from(inner.height);
    let offset = selected_at.min(rows.len().saturating_sub(height));
    let shown: Vec<Line> = rows.into_iter().skip(offset).take(height).collect();
    f.render_widget(Paragraph::new(Text::from(shown)), inner);
}
