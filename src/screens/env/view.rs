//! Drawing the env editor. Values are masked unless revealed; the mask has a fixed width so it
//! does not give away a value's length.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};

use super::model::Change;
use super::textarea::TextArea;
use super::{Doc, EnvState, Mode, Phase, display};
use crate::app::ViewCx;
use crate::msg::Action;
use crate::secrets::MacStatus;
use crate::widgets::{list, popup};

/// What a masked value looks like.
pub const MASK: &str = "••••••••";

pub fn render(state: &EnvState, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    match &state.phase {
        Phase::Pick { files, selected } => pick(files, *selected, frame, area, cx),
        Phase::Loading { path, .. } => {
            let block = panel(&display(path), cx, false);
            let inner = block.inner(area);
            frame.render_widget(block, area);
            let line = Line::from(vec![
                Span::styled(format!("{} ", cx.spinner()), cx.theme.status.spinner),
                Span::styled(
                    format!("Decrypting {} with your age identity…", display(path)),
                    cx.theme.ui.text,
                ),
            ]);
            frame.render_widget(Paragraph::new(line), inner);
        }
        Phase::Failed {
            path,
            message,
            can_open_read_only,
        } => failed(path, message, *can_open_read_only, frame, area, cx),
        Phase::Ready(doc) => ready(doc, frame, area, cx),
    }
}

fn panel<'a>(title: &str, cx: &ViewCx, error: bool) -> Block<'a> {
    let t = cx.theme;
    let border = if error {
        t.status.error
    } else {
        t.border(true)
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(border)
        .title(Line::from(vec![
            Span::raw(" "),
            Span::styled(title.to_owned(), t.title(true)),
            Span::raw(" "),
        ]))
}

fn pick(files: &[std::path::PathBuf], selected: usize, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let block = panel("Env files · config/env/*.env", cx, false);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if files.is_empty() {
        let text = vec![
            Line::styled(
                "No encrypted env files in config/env/ yet.",
                cx.theme.ui.text,
            ),
            Line::default(),
            Line::styled(
                "The bootstrap wizard's secrets stage creates config/env/<cluster>.env; or encrypt a dotenv file with `homelab env encrypt FILE`.",
                cx.theme.ui.muted,
            ),
        ];
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
        return;
    }
    let rows: Vec<Line> = files
        .iter()
        .map(|f| {
            Line::styled(
                format!(
                    " {}",
                    f.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                ),
                cx.theme.env.key,
            )
        })
        .collect();
    list::render(frame, inner, rows, selected, true, cx.theme);
}

fn failed(
    path: &std::path::Path,
    message: &str,
    read_only: bool,
    frame: &mut Frame,
    area: Rect,
    cx: &ViewCx,
) {
    let block = panel(&format!("{} · cannot open", display(path)), cx, true)
        .padding(ratatui::widgets::Padding::horizontal(1));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines: Vec<Line> = message
        .lines()
        .map(|l| Line::styled(l.to_owned(), cx.theme.ui.text))
        .collect();
    lines.push(Line::default());
    if read_only {
        lines.push(popup::key_footer(
            &[(
                screen_key(cx, Action::Edit),
                "open read-only to inspect (nothing can be saved)",
            )],
            cx.theme,
        ));
    }
    lines.push(popup::key_footer(
        &[
            (screen_key(cx, Action::Refresh), "try again"),
            (screen_key(cx, Action::Back), "back"),
        ],
        cx.theme,
    ));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// A short form of an age recipient: `age1l70n…x6ev`.
/// By characters, never bytes: a recipient comes from the file and may be any text.
fn short_recipient(r: &str) -> String {
    let n = r.chars().count();
    if n > 16 {
        let head: String = r.chars().take(8).collect();
        let tail: String = r.chars().skip(n - 4).collect();
        format!("{head}…{tail}")
    } else {
        r.to_owned()
    }
}

fn value_text(value: &str) -> String {
    let mut lines = value.split('\n');
    let first: String = lines
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_control() { '·' } else { c })
        .collect();
    let more = lines.count();
    if more > 0 {
        format!(
            "{first} ⏎ (+{more} line{})",
            if more == 1 { "" } else { "s" }
        )
    } else {
        first
    }
}

fn ready(doc: &Doc, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let t = cx.theme;
    let rows = doc.rows();
    let total = doc.model.rows("").len();
    let mac = match (&doc.mac, doc.read_only) {
        (MacStatus::Verified, _) => "MAC verified".to_owned(),
        (_, true) => "READ-ONLY · MAC does not verify".to_owned(),
        _ => "MAC unknown".to_owned(),
    };
    let recipients = match doc.recipients.as_slice() {
        [one] => short_recipient(one),
        many => format!("{} recipients", many.len()),
    };
    let title = format!(
        "{} · {total} keys · {mac} · {recipients}",
        display(&doc.path)
    );
    let dirty = doc.model.diff().len();
    let mut block = panel(&title, cx, doc.read_only);
    if dirty > 0 {
        block = block.title_bottom(
            Line::from(Span::styled(
                format!(" {dirty} unsaved change(s) · ctrl-s to review and save "),
                t.env.dirty,
            ))
            .right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 2 {
        return;
    }

    let search_h = u16::from(matches!(doc.mode, Mode::Search(_)) || !doc.filter.is_empty());
    let key_w = rows
        .iter()
        .filter_map(|i| doc.model.key(*i))
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(3)
        .clamp(8, (inner.width as usize / 2).max(8));
    let header = Line::from(vec![
        Span::styled(format!(" {:<key_w$}  ", "KEY"), t.ui.header),
        Span::styled("VALUE", t.ui.header),
    ]);
    frame.render_widget(Paragraph::new(header), Rect { height: 1, ..inner });
    let list_area = Rect {
        y: inner.y + 1,
        height: inner.height - 1 - search_h,
        ..inner
    };

    let status_w = 10usize;
    let value_w = (inner.width as usize).saturating_sub(key_w + 4 + status_w);
    let lines: Vec<Line> = rows
        .iter()
        .map(|&i| {
            let key = doc.model.key(i).unwrap_or_default();
            let value = doc.model.value(i).unwrap_or_default();
            let (text, style) = if value.is_empty() {
                ("(empty)".to_owned(), t.ui.muted)
            } else if doc.is_revealed(i, cx.tick) {
                (value_text(value), t.env.value)
            } else {
                (MASK.to_owned(), t.env.value_masked)
            };
            let text: String = text.chars().take(value_w).collect();
            let (mark, mark_style) = match doc.model.row_state(i) {
                Some(Change::Added(_)) => ("+ added", t.env.added),
                Some(Change::Changed(_)) => ("~ changed", t.env.dirty),
                Some(Change::Renamed { .. }) => ("→ renamed", t.env.dirty),
                _ => ("", t.ui.muted),
            };
            let pad = value_w.saturating_sub(text.chars().count());
            Line::from(vec![
                Span::styled(format!(" {:<key_w$}  ", truncate(key, key_w)), t.env.key),
                Span::styled(text, style),
                Span::raw(" ".repeat(pad + 1)),
                Span::styled(mark.to_owned(), mark_style),
            ])
        })
        .collect();
    if lines.is_empty() {
        let msg = if doc.filter.is_empty() {
            "No keys yet: a adds one."
        } else {
            "No key matches the search."
        };
        frame.render_widget(
            Paragraph::new(Line::styled(format!(" {msg}"), t.ui.muted)),
            list_area,
        );
    } else {
        list::render(frame, list_area, lines, doc.selected, true, cx.theme);
    }
    if search_h == 1 {
        let search_area = Rect {
            y: inner.bottom() - 1,
            height: 1,
            ..inner
        };
        match &doc.mode {
            Mode::Search(input) => input.render(
                frame,
                search_area,
                " / ",
                "type to filter keys",
                t.ui.key,
                cx.theme,
            ),
            _ => frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled(" / ", t.ui.key),
                    Span::styled(doc.filter.clone(), t.ui.text),
                    Span::styled(
                        format!("  ({} of {total}) · Esc clears", rows.len()),
                        t.ui.muted,
                    ),
                ])),
                search_area,
            ),
        }
    }
    modal(doc, frame, area, cx);
}

fn truncate(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_owned()
    } else {
        s.chars().take(w.saturating_sub(1)).chain(['…']).collect()
    }
}

/// `key desc · key desc` for a popup footer; an action with no key bound (`None`) is left out.
fn hints(pairs: &[(Option<String>, &'static str)], cx: &ViewCx) -> Line<'static> {
    popup::hint_spans(pairs, cx.theme)
}

/// The label of the key bound to `action` on the env screen (its own context, then global).
fn screen_key(cx: &ViewCx, action: Action) -> Option<String> {
    cx.keymap
        .label("env", &action, false)
        .or_else(|| cx.keymap.label("global", &action, false))
}

/// The label of the key bound to `action` in the `form` context (popups with a text field).
fn form_key(cx: &ViewCx, action: Action) -> Option<String> {
    cx.keymap.label("form", &action, true)
}

fn modal(doc: &Doc, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let t = cx.theme;
    let width = area.width.saturating_sub(6).clamp(20, 72);
    match &doc.mode {
        Mode::Edit { index, area: text } => {
            let key = doc.model.key(*index).unwrap_or_default();
            let h = (text.line_count() as u16 + 2).clamp(3, area.height.saturating_sub(4).max(3));
            let rect = popup::centered(area, width, h);
            let footer = hints(
                &[
                    (form_key(cx, Action::Select), "done"),
                    (Some(TextArea::NEWLINE_KEY.to_owned()), "new line"),
                    (form_key(cx, Action::Close), "cancel"),
                ],
                cx,
            );
            let inner = popup::frame(frame, rect, &format!("Edit {key}"), Some(footer), cx.theme);
            let lines = text.lines(inner.height as usize, t.form.input_focused, true);
            frame.render_widget(Paragraph::new(lines), inner);
        }
        Mode::Add {
            key,
            value,
            on_value,
            error,
        } => {
            let h = (value.line_count() as u16 + 5).clamp(6, area.height.saturating_sub(2).max(6));
            let rect = popup::centered(area, width, h);
            let footer = hints(
                &[
                    (form_key(cx, Action::NextPane), "switch"),
                    (form_key(cx, Action::Select), "next / add"),
                    (form_key(cx, Action::Close), "cancel"),
                ],
                cx,
            );
            let inner = popup::frame(frame, rect, "Add a key", Some(footer), cx.theme);
            let key_style = if *on_value {
                t.form.label
            } else {
                t.form.input_focused
            };
            let label_w = 7;
            let key_area = Rect {
                x: inner.x + label_w,
                width: inner.width.saturating_sub(label_w),
                height: 1,
                ..inner
            };
            frame.render_widget(
                Paragraph::new(Span::styled("Key", t.form.label)),
                Rect {
                    height: 1,
                    width: label_w,
                    ..inner
                },
            );
            if *on_value {
                frame.render_widget(
                    Paragraph::new(Span::styled(key.value().to_owned(), t.form.input)),
                    key_area,
                );
            } else {
                key.render(frame, key_area, "", "NEW_KEY", key_style, cx.theme);
            }
            let value_label = Rect {
                y: inner.y + 1,
                height: 1,
                width: label_w,
                ..inner
            };
            frame.render_widget(
                Paragraph::new(Span::styled("Value", t.form.label)),
                value_label,
            );
            let value_area = Rect {
                x: inner.x + label_w,
                y: inner.y + 1,
                width: inner.width.saturating_sub(label_w),
                height: inner.height.saturating_sub(2),
            };
            let style = if *on_value {
                t.form.input_focused
            } else {
                t.form.input
            };
            frame.render_widget(
                Paragraph::new(value.lines(value_area.height as usize, style, *on_value)),
                value_area,
            );
            if let Some(e) = error {
                let err_area = Rect {
                    y: inner.bottom().saturating_sub(1),
                    height: 1,
                    ..inner
                };
                frame.render_widget(
                    Paragraph::new(Span::styled(e.clone(), t.form.invalid)),
                    err_area,
                );
            }
        }
        Mode::Rename {
            index,
            input,
            error,
        } => {
            let key = doc.model.key(*index).unwrap_or_default();
            let rect = popup::centered(area, width, 4);
            let footer = hints(
                &[
                    (form_key(cx, Action::Select), "rename"),
                    (form_key(cx, Action::Close), "cancel"),
                ],
                cx,
            );
            let inner = popup::frame(
                frame,
                rect,
                &format!("Rename {key}"),
                Some(footer),
                cx.theme,
            );
            input.render(
                frame,
                Rect { height: 1, ..inner },
                "New name: ",
                "KEY",
                t.form.label,
                cx.theme,
            );
            if let Some(e) = error {
                let err_area = Rect {
                    y: inner.y + 1,
                    height: 1,
                    ..inner
                };
                frame.render_widget(
                    Paragraph::new(Span::styled(e.clone(), t.form.invalid)),
                    err_area,
                );
            }
        }
        Mode::Diff(changes) | Mode::SavingDiff(changes) => {
            let saving = matches!(doc.mode, Mode::SavingDiff(_));
            let h = (changes.len() as u16 + 5).clamp(6, area.height.saturating_sub(2).max(6));
            let rect = popup::centered(area, width, h);
            let footer = if saving {
                Line::from(Span::styled(
                    format!(" {} encrypting and writing… ", cx.spinner()),
                    t.status.spinner,
                ))
            } else {
                hints(
                    &[
                        (form_key(cx, Action::Select), "encrypt and save"),
                        (form_key(cx, Action::Close), "back to editing"),
                    ],
                    cx,
                )
            };
            let inner = popup::frame(
                frame,
                rect,
                &format!("Save {}?", display(&doc.path)),
                Some(footer),
                cx.theme,
            );
            let mut lines: Vec<Line> = changes
                .iter()
                .map(|c| match c {
                    Change::Added(k) => Line::from(vec![
                        Span::styled("+ added    ", t.env.added),
                        Span::styled(k.clone(), t.env.key),
                        Span::styled(format!("  {MASK}"), t.env.value_masked),
                    ]),
                    Change::Changed(k) => Line::from(vec![
                        Span::styled("~ changed  ", t.env.dirty),
                        Span::styled(k.clone(), t.env.key),
                        Span::styled(format!("  {MASK} → {MASK}"), t.env.value_masked),
                    ]),
                    Change::Renamed {
                        from,
                        to,
                        value_changed,
                    } => Line::from(vec![
                        Span::styled("→ renamed  ", t.env.dirty),
                        Span::styled(format!("{from} → {to}"), t.env.key),
                        Span::styled(
                            if *value_changed {
                                "  (value changed)"
                            } else {
                                ""
                            },
                            t.ui.muted,
                        ),
                    ]),
                    Change::Removed(k) => Line::from(vec![
                        Span::styled("- removed  ", t.env.removed),
                        Span::styled(k.clone(), t.env.key),
                    ]),
                })
                .collect();
            lines.push(Line::default());
            lines.push(Line::styled(
                "Unchanged values keep their exact ciphertext.",
                t.ui.muted,
            ));
            frame.render_widget(Paragraph::new(lines), inner);
        }
        Mode::Conflict => {
            let rect = popup::centered(area, width, 7);
            let footer = {
                let key = |a: Action| cx.keymap.label("conflict", &a, false);
                hints(
                    &[
                        (key(Action::Refresh), "reload"),
                        (key(Action::Merge), "merge"),
                        (key(Action::Close), "cancel"),
                    ],
                    cx,
                )
            };
            let inner = popup::frame(
                frame,
                rect,
                &format!("{} changed on disk", display(&doc.path)),
                Some(footer),
                cx.theme,
            );
            let n = doc.model.diff().len();
            let label = |a: Action| {
                cx.keymap
                    .label("conflict", &a, false)
                    .unwrap_or_else(|| format!(":{a}"))
            };
            let lines = vec![
                Line::from("Someone wrote the file since you opened it; nothing was saved."),
                Line::default(),
                Line::styled(
                    format!(
                        "{}  reload it and drop your {n} change(s)",
                        label(Action::Refresh)
                    ),
                    t.ui.muted,
                ),
                Line::styled(
                    format!(
                        "{}  merge: apply your {n} change(s) on top of it, then review",
                        label(Action::Merge)
                    ),
                    t.ui.muted,
                ),
            ];
            frame.render_widget(
                Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
                inner,
            );
        }
        Mode::Browse | Mode::Search(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::short_recipient;

    #[test]
    fn a_non_ascii_recipient_is_shortened_by_characters() {
        assert_eq!(short_recipient("ééééééééééééééééé"), "éééééééé…éééé");
        assert_eq!(
            short_recipient("age1l70nabcdefghijklmnopx6ev"),
            "age1l70n…x6ev"
        );
    }
}
