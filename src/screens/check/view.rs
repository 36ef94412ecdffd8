//! Drawing the check screen: the violations grouped by rule, and beside (wide) or below
//! (narrow) them the selected violation's details or the file viewer.

use super::{CheckState, Run, Viewer};
use crate::app::ViewCx;
use crate::repo::check::{RULES, Report, Violation, rule};
use crate::widgets::list;
use crate::widgets::panel::block;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// From this width the detail pane sits beside the list.
const SIDE_BY_SIDE: u16 = 120;

/// The list pane and the detail/viewer pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckLayout {
    pub list: Rect,
    pub detail: Rect,
}

pub fn layout(area: Rect, viewer_open: bool) -> CheckLayout {
    if area.width >= SIDE_BY_SIDE {
        let list_w = area.width * 45 / 100;
        CheckLayout {
            list: Rect {
                width: list_w,
                ..area
            },
            detail: Rect {
                x: area.x + list_w,
                width: area.width - list_w,
                ..area
            },
        }
    } else {
        let detail_h = if viewer_open {
            area.height * 3 / 5
        } else {
            area.height.min(9)
        };
        let list_h = area.height - detail_h;
        CheckLayout {
            list: Rect {
                height: list_h,
                ..area
            },
            detail: Rect {
                y: area.y + list_h,
                height: detail_h,
                ..area
            },
        }
    }
}

pub fn render(state: &CheckState, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    match (&state.run, &state.report) {
        (_, Some(report)) if report.ok() => render_ok(state, report, frame, area, cx),
        (_, Some(report)) => {
            let l = layout(area, state.viewer.is_some());
            render_list(state, report, frame, l.list, cx);
            match &state.viewer {
                Some(v) => render_viewer(v, frame, l.detail, cx),
                None => render_detail(state, report, frame, l.detail, cx),
            }
        }
        (Run::Failed(e), None) => {
            let text = vec![
                Line::styled(
                    "The check could not read the repository.",
                    cx.theme.check.violation,
                ),
                Line::raw(""),
                Line::styled(e.clone(), cx.theme.ui.text),
                Line::raw(""),
                Line::styled(
                    "Fix the path or permissions, then press r to run it again.",
                    cx.theme.ui.muted,
                ),
            ];
            frame.render_widget(
                Paragraph::new(text).wrap(Wrap { trim: false }).block(block(
                    "Check repository",
                    true,
                    cx.theme,
                )),
                area,
            );
        }
        (_, None) => {
            let text = Line::from(vec![
                Span::styled(cx.spinner(), cx.theme.status.spinner),
                Span::styled(
                    format!(
                        " Checking {} against the Stage 1 rules ({})...",
                        state.root.display(),
                        RULES.len()
                    ),
                    cx.theme.ui.text,
                ),
            ]);
            frame.render_widget(
                Paragraph::new(text).block(block("Check repository", true, cx.theme)),
                area,
            );
        }
    }
}

fn summary(report: &Report) -> String {
    format!(
        "{} files, {} YAML documents, {} rules",
        report.files,
        report.documents,
        RULES.len()
    )
}

/// A clean tree: the verdict, then every rule that passed (a scrollable list, the selected
/// rule's fix hint at the bottom, so the rules are browsable even at 80x24).
fn render_ok(state: &CheckState, report: &Report, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let b = block("Check repository", true, cx.theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let header = vec![
        Line::styled(
            "✓ The repository conforms to the Stage 1 architecture",
            cx.theme.check.pass,
        ),
        Line::styled(
            format!("{}  ·  {}", state.root.display(), summary(report)),
            cx.theme.ui.muted,
        ),
        Line::raw(""),
    ];
    let head_h = (header.len() as u16).min(inner.height);
    frame.render_widget(
        Paragraph::new(header),
        Rect {
            height: head_h,
            ..inner
        },
    );
    let selected = state.selected.min(RULES.len() - 1);
    let hint_h = if inner.height > head_h + 4 { 2 } else { 0 };
    let list_area = Rect {
        y: inner.y + head_h,
        height: inner.height.saturating_sub(head_h + hint_h),
        ..inner
    };
    let id_width = RULES.iter().map(|r| r.id.len()).max().unwrap_or(0) + 2;
    let title_room = list::text_width(list_area, RULES.len()).saturating_sub(id_width + 2);
    let rows: Vec<Line> = RULES
        .iter()
        .map(|r| {
            Line::from(vec![
                Span::styled("✓ ", cx.theme.check.pass),
                Span::styled(format!("{:<id_width$}", r.id), cx.theme.check.rule),
                Span::styled(truncate(r.title, title_room), cx.theme.ui.text),
            ])
        })
        .collect();
    list::render(frame, list_area, rows, selected, true, cx.theme);
    if hint_h > 0 {
        let hint = Line::from(vec![
            Span::styled("fix when it fails: ", cx.theme.ui.key),
            Span::styled(RULES[selected].hint, cx.theme.ui.muted),
        ]);
        let hint_area = Rect {
            y: list_area.bottom(),
            height: hint_h,
            ..inner
        };
        frame.render_widget(Paragraph::new(hint).wrap(Wrap { trim: false }), hint_area);
    }
}

/// One list row: a rule header (not selectable) or a violation.
enum Row<'a> {
    Header(&'static str, &'static str, usize),
    Item(usize, &'a Violation),
}

fn rows(report: &Report) -> Vec<Row<'_>> {
    let mut out = Vec::new();
    let mut index = 0;
    for (r, vs) in report.by_rule() {
        out.push(Row::Header(r.id, r.title, vs.len()));
        for v in vs {
            out.push(Row::Item(index, v));
            index += 1;
        }
    }
    out
}

/// For each list row, the violation it shows (`None` for a rule header), for mouse hit-testing.
pub fn row_targets(report: &Report) -> Vec<Option<usize>> {
    rows(report)
        .iter()
        .map(|r| match r {
            Row::Header(..) => None,
            Row::Item(i, _) => Some(*i),
        })
        .collect()
}

/// The list row showing violation `selected`.
pub fn selected_row(report: &Report, selected: usize) -> usize {
    row_targets(report)
        .iter()
        .position(|t| *t == Some(selected))
        .unwrap_or(0)
}

fn render_list(state: &CheckState, report: &Report, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let n = report.violations.len();
    let groups = report.by_rule().len();
    let title = format!(
        "{n} violation{} of {groups} rule{}",
        plural(n),
        plural(groups)
    );
    let b = block(title, state.viewer.is_none(), cx.theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    if inner.height == 0 {
        return;
    }
    let rows = rows(report);
    let width = list::text_width(inner, rows.len());
    let lines: Vec<Line> = rows
        .iter()
        .map(|row| match row {
            Row::Header(id, title, count) => Line::from(vec![
                Span::styled(format!("{id} "), cx.theme.check.rule),
                Span::styled(format!("({count}) "), cx.theme.ui.muted),
                Span::styled(
                    truncate(title, width.saturating_sub(id.len() + 6)),
                    cx.theme.ui.muted,
                ),
            ]),
            Row::Item(_, v) => {
                let loc = v.location();
                let room = width.saturating_sub(loc.len() + 4);
                Line::from(vec![
                    Span::raw("  "),
                    Span::styled(loc, cx.theme.check.path),
                    Span::raw("  "),
                    Span::styled(truncate(&v.message, room), cx.theme.ui.text),
                ])
            }
        })
        .collect();
    list::render(
        frame,
        inner,
        lines,
        selected_row(report, state.selected),
        state.viewer.is_none(),
        cx.theme,
    );
}

fn render_detail(state: &CheckState, report: &Report, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let Some(v) = report.violations.get(state.selected) else {
        return;
    };
    let r = rule(v.rule);
    let mut text = vec![
        Line::from(vec![
            Span::styled(v.rule, cx.theme.check.rule),
            Span::styled(
                format!("  {}", r.map_or("", |r| r.title)),
                cx.theme.ui.muted,
            ),
        ]),
        Line::styled(v.location(), cx.theme.check.path),
        Line::styled(v.message.clone(), cx.theme.check.violation),
    ];
    if let Some(r) = r {
        text.push(Line::from(vec![
            Span::styled("fix: ", cx.theme.ui.key),
            Span::styled(r.hint, cx.theme.ui.text),
        ]));
    }
    text.push(Line::styled(
        format!("{}  ·  Enter views the file, e edits it", summary(report)),
        cx.theme.ui.muted,
    ));
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(block("Violation", false, cx.theme)),
        area,
    );
}

fn render_viewer(v: &Viewer, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let title = match v.line {
        Some(l) => format!("{}:{l}  (Esc closes)", v.file),
        None => format!("{}  (Esc closes)", v.file),
    };
    let b = block(title, true, cx.theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let lines = match &v.lines {
        None => {
            let text = Line::from(vec![
                Span::styled(cx.spinner(), cx.theme.status.spinner),
                Span::styled(format!(" reading {}...", v.file), cx.theme.ui.muted),
            ]);
            frame.render_widget(Paragraph::new(text), inner);
            return;
        }
        Some(Err(e)) => {
            frame.render_widget(
                Paragraph::new(Line::styled(e.clone(), cx.theme.check.violation))
                    .wrap(Wrap { trim: false }),
                inner,
            );
            return;
        }
        Some(Ok(lines)) => lines,
    };
    let height = inner.height as usize;
    let first = v
        .focus
        .saturating_sub(height / 3)
        .min(lines.len().saturating_sub(height));
    let gutter = lines.len().to_string().len();
    let target = v.line.map(|l| l as usize);
    let body: Vec<Line> = lines
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, text)| {
            let no = i + 1;
            let is_target = target == Some(no);
            let number_style = if is_target {
                cx.theme.check.violation
            } else {
                cx.theme.ui.muted
            };
            let mut line = Line::from(vec![
                Span::styled(
                    format!("{no:>gutter$} {} ", if is_target { '▶' } else { '│' }),
                    number_style,
                ),
                Span::styled(text.replace('\t', "    "), cx.theme.ui.text),
            ]);
            if is_target {
                line = line.patch_style(cx.theme.selection(true));
            }
            line
        })
        .collect();
    frame.render_widget(Paragraph::new(body), inner);
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Cut `s` to `max` columns with an ellipsis.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}
