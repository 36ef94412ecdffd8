//! The logs pane.

use super::text::{rows_for, sanitize, truncate, width, wrap_spans};
use super::{Cx, conn_badge, pane_block, pane_title};
use crate::domain::logs::{LogLevel, LogLine};
use crate::screens::console::conn::ConnState;
use crate::screens::console::logs::{LogsMode, LogsPane, LogsPrompt};
use crate::screens::console::state::ConsoleState;
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Paragraph, Wrap};

const LABEL_COL: usize = 28;
const LABEL_COL_NARROW: usize = 16;

pub(super) fn render(
    p: &LogsPane,
    f: &mut Frame,
    area: Rect,
    cx: &Cx,
    focused: bool,
    zoomed: bool,
    st: &ConsoleState,
) {
    let theme = cx.theme;
    let mut title = pane_title("Logs", focused, theme);
    // Lines from elsewhere (the health pane's pod log API fallback) name their source.
    let source = if p.external.is_some() {
        "pod log API"
    } else {
        "Loki"
    };
    title.extend(conn_badge(source, &p.conn, theme));
    title.push(Span::styled(
        format!("  {}", window_text(p, &st.tz)),
        theme.ui.muted,
    ));
    match (p.mode, p.following()) {
        (LogsMode::Historic { .. }, _) => {
            title.push(Span::styled("  HISTORY", theme.status.degraded))
        }
        (_, true) => title.push(Span::styled("  FOLLOW", theme.status.live)),
        (_, false) => {
            title.push(Span::styled("  PAUSED", theme.status.degraded));
            let unseen = p.unseen();
            if unseen > 0 {
                title.push(Span::styled(
                    format!(" +{unseen} new"),
                    theme.status.degraded,
                ));
            }
        }
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

    let editing_query = p.prompt == Some(LogsPrompt::Query);
    let show_candidates = editing_query && !p.query_box.candidates.is_empty();
    let [query_row, body, cand_row, status_row] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(u16::from(show_candidates)),
        Constraint::Length(1),
    ])
    .areas(inner);

    // Query row: the running query, or the LogQL box being edited.
    if editing_query {
        p.query_box
            .edit()
            .render(f, query_row, "LogQL ❯ ", "", theme.ui.key, theme);
    } else {
        let q = if p.query.is_empty() {
            "(no query: e edits one)"
        } else {
            &p.query
        };
        let line = Line::from(vec![
            Span::styled("❯ ", theme.ui.key),
            Span::styled(
                truncate(q, (query_row.width as usize).saturating_sub(2)).into_owned(),
                theme.ui.input,
            ),
        ]);
        f.render_widget(Paragraph::new(line), query_row);
    }
    if show_candidates {
        let mut spans = vec![Span::styled("Tab ", theme.ui.key)];
        for (i, c) in p.query_box.candidates.iter().take(12).enumerate() {
            let style = if Some(i) == p.query_box.candidate_idx {
                theme.ui.selection
            } else {
                theme.ui.muted
            };
            spans.push(Span::styled(c.clone(), style));
            spans.push(Span::raw(" "));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), cand_row);
    }

    render_status(p, f, status_row, theme);
    p.page.set(body.height as usize);

    if p.buffer.is_empty() {
        let (msg, style) = empty_message(p, st);
        f.render_widget(
            Paragraph::new(msg).style(style).wrap(Wrap { trim: false }),
            body,
        );
        return;
    }
    render_lines(p, f, body, cx, focused, &st.tz);
}

fn empty_message(p: &LogsPane, st: &ConsoleState) -> (Text<'static>, Style) {
    let look_err = Style::new();
    if st.endpoints.loki.is_none() && p.external.is_none() {
        return (
            Text::from(vec![
                Line::from("Loki is not configured."),
                Line::from(
                    "Pass --loki URL, set HOMELAB_LOKI_URL, or set observability.loki_url in the cluster config.",
                ),
            ]),
            Style::new(),
        );
    }
    if let Some(e) = &p.error {
        return (
            Text::from(vec![
                Line::from("The query failed:"),
                Line::from(e.clone()),
                Line::from(""),
                Line::from("e edits the query (Up for history, Tab completes labels and values)."),
            ]),
            look_err,
        );
    }
    if let ConnState::Failed { reason } = &p.conn {
        return (
            Text::from(vec![
                Line::from("The tail failed:"),
                Line::from(reason.clone()),
            ]),
            look_err,
        );
    }
    if p.loading {
        let what = window_text(p, &st.tz);
        return (Text::from(format!("Querying Loki: {what}…")), Style::new());
    }
    if let ConnState::Reconnecting {
        reason, retry_in, ..
    } = &p.conn
    {
        return (
            Text::from(vec![
                Line::from(format!(
                    "Loki is unreachable; retrying in {}.",
                    crate::screens::console::conn::human_duration(*retry_in)
                )),
                Line::from(reason.clone()),
            ]),
            Style::new(),
        );
    }
    (
        Text::from(format!(
            "No lines ({}) for this query. New lines appear here as they arrive; W sets the window.",
            window_text(p, &st.tz)
        )),
        Style::new(),
    )
}

fn render_status(p: &LogsPane, f: &mut Frame, row: Rect, theme: &Theme) {
    if let Some(prompt) = p.prompt.filter(|pr| *pr != LogsPrompt::Query) {
        let label = match prompt {
            LogsPrompt::Search => "/",
            LogsPrompt::Jump => "jump to (14:05, -15m, 2026-11-23 14:05) ❯ ",
            LogsPrompt::Window => "window (15m, 500, 30m 2000) ❯ ",
            LogsPrompt::Query => "",
        };
        p.prompt_input
            .render(f, row, label, "", theme.ui.key, theme);
        return;
    }
    let mut spans: Vec<Span> = Vec::new();
    spans.push(Span::styled(
        format!("{} lines", p.buffer.len()),
        theme.ui.muted,
    ));
    if p.buffer.evicted() > 0 {
        spans.push(Span::styled(
            format!(
                " · {} dropped (buffer {})",
                p.buffer.evicted(),
                p.buffer.capacity()
            ),
            theme.status.degraded,
        ));
    }
    if p.loki_dropped > 0 {
        spans.push(Span::styled(
            format!(" · Loki dropped {}", p.loki_dropped),
            theme.status.degraded,
        ));
    }
    if let Some(s) = &p.search {
        let pos = p
            .selected_seq()
            .and_then(|q| s.position(q))
            .map(|i| i.to_string())
            .unwrap_or_else(|| "-".into());
        spans.push(Span::styled(
            format!(" · /{} {pos}/{}", s.pattern, s.matches().len()),
            theme.ui.key,
        ));
        if s.context.is_some() {
            spans.push(Span::styled(" (matches + context)", theme.ui.muted));
        }
    }
    if let Some(e) = p.error.as_ref().filter(|_| !p.buffer.is_empty()) {
        spans.push(Span::styled(format!(" · {e}"), theme.status.error));
    } else if let Some(n) = &p.notice {
        spans.push(Span::styled(format!(" · {n}"), theme.ui.muted));
    } else if let Some(r) = p.conn.reason().filter(|_| !p.buffer.is_empty()) {
        spans.push(Span::styled(format!(" · {r}"), theme.status.degraded));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), row);
}

fn level_style(level: LogLevel, theme: &Theme) -> Style {
    match level {
        LogLevel::Trace | LogLevel::Debug => theme.console.log_debug,
        LogLevel::Info | LogLevel::Unknown => theme.console.log_info,
        LogLevel::Warn => theme.console.log_warn,
        LogLevel::Error | LogLevel::Fatal => theme.console.log_error,
    }
}

/// The label column: `namespace/pod` (or app, job, whatever identifies the stream).
fn stream_name(line: &LogLine) -> String {
    let l = &line.labels;
    let who = l
        .get("pod")
        .or_else(|| l.get("app"))
        .or_else(|| l.get("container"))
        .or_else(|| l.get("job"));
    match (l.get("namespace"), who) {
        (Some(ns), Some(w)) => format!("{ns}/{w}"),
        (None, Some(w)) => w.clone(),
        (Some(ns), None) => ns.clone(),
        (None, None) => l
            .iter()
            .next()
            .map(|(k, v)| format!("{k}={v}"))
            .unwrap_or_default(),
    }
}

/// `last 15m or 1000 lines`, or `since 17:25:42 or 1000 lines` after a pivot.
fn window_text(p: &LogsPane, tz: &jiff::tz::TimeZone) -> String {
    match p.history_from {
        Some(from) => format!(
            "since {} or {} lines",
            clock(from, tz).get(..8).unwrap_or(""),
            p.window.lines
        ),
        None => p.window.to_string(),
    }
}

fn clock(ts_ns: i64, tz: &jiff::tz::TimeZone) -> String {
    let Ok(ts) = jiff::Timestamp::from_nanosecond(i128::from(ts_ns)) else {
        return "??:??:??.???".into();
    };
    let dt = tz.to_datetime(ts);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    )
}

fn line_spans(
    p: &LogsPane,
    line: &LogLine,
    cols: usize,
    tz: &jiff::tz::TimeZone,
    theme: &Theme,
) -> Vec<Span<'static>> {
    let mut spans = Vec::with_capacity(6);
    if p.show_time {
        spans.push(Span::styled(
            clock(line.ts_ns, tz),
            theme.console.log_timestamp,
        ));
        spans.push(Span::raw(" "));
    }
    if p.show_labels {
        let w = if cols >= 120 {
            LABEL_COL
        } else {
            LABEL_COL_NARROW
        };
        let name = stream_name(line);
        let cut = truncate(&name, w);
        let pad = w.saturating_sub(width(&cut));
        spans.push(Span::styled(
            format!("{cut}{}", " ".repeat(pad)),
            theme.console.log_labels,
        ));
        spans.push(Span::raw(" "));
    }
    let text = sanitize(&line.line);
    let base = level_style(line.level, theme);
    match &p.search {
        Some(s) => {
            let mut at = 0;
            for (a, b) in s.spans(&text) {
                if a > at {
                    spans.push(Span::styled(text[at..a].to_owned(), base));
                }
                spans.push(Span::styled(
                    text[a..b].to_owned(),
                    base.patch(theme.console.log_match),
                ));
                at = b;
            }
            if at < text.len() {
                spans.push(Span::styled(text[at..].to_owned(), base));
            }
        }
        None => spans.push(Span::styled(text.into_owned(), base)),
    }
    spans
}

fn render_lines(
    p: &LogsPane,
    f: &mut Frame,
    body: Rect,
    cx: &Cx,
    focused: bool,
    tz: &jiff::tz::TimeZone,
) {
    let theme = cx.theme;
    let cols = body.width as usize;
    let height = body.height as usize;
    let selected = p.selected_seq();
    let sel_style = if focused {
        theme.ui.selection
    } else {
        theme.ui.selection_unfocused
    };
    // Walk up from the bottom line until the body is full.
    let seqs = p.lines_up_from_bottom(height);
    let mut rows: Vec<Line<'static>> = Vec::with_capacity(height);
    let mut blocks: Vec<Vec<Line<'static>>> = Vec::with_capacity(seqs.len());
    let mut used = 0;
    let mut prev: Option<i64> = None;
    for &seq in &seqs {
        if used >= height {
            break;
        }
        let Some(line) = p.buffer.get(seq) else {
            continue;
        };
        let mut spans = line_spans(p, line, cols, tz, theme);
        if Some(seq) == selected {
            for s in &mut spans {
                s.style = s.style.patch(sel_style);
            }
        }
        let mut block: Vec<Line<'static>> = if p.wrap {
            let w: usize = spans.iter().map(|s| s.width()).sum();
            if rows_for(w, cols) == 1 {
                vec![Line::from(spans)]
            } else {
                wrap_spans(spans, cols)
                    .into_iter()
                    .map(Line::from)
                    .collect()
            }
        } else {
            vec![Line::from(spans)]
        };
        if Some(seq) == selected {
            for l in &mut block {
                l.style = sel_style;
            }
        }
        // A gap in the context view gets a separator below the older block.
        if let Some(newer) = prev
            && newer != seq + 1
        {
            block.push(Line::styled("--", theme.ui.muted));
        }
        used += block.len();
        blocks.push(block);
        prev = Some(seq);
    }
    for block in blocks.into_iter().rev() {
        rows.extend(block);
    }
    // If the oldest block overflowed, drop its first rows.
    let skip = rows.len().saturating_sub(height);
    let text = Text::from(rows.split_off(skip));
    f.render_widget(Paragraph::new(text), body);
}
