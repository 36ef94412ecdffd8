//! The secrets stage's value form inside the wizard: one masked field per documented key of
//! `config/env/<cluster>.env` (the stage's own key list), defaults pre-filled where the stage has
//! one. Tab / Shift-Tab (or Up / Down) move between fields, Enter accepts a field and moves on (on
//! the last field it submits; Ctrl-S submits from any field), Ctrl-R reveals / masks the focused
//! field, Esc closes the form.
//!
//! Values live only in memory, in zeroized buffers that never reallocate without wiping the old
//! one; the form is dropped (and wiped) when it is submitted, cancelled or the wizard is left. The
//! stage gets them through [`FormValues`] and encrypts them in memory.

use crate::app::ViewCx;
use crate::stages::engine::{StageError, StageResult};
use crate::stages::secrets::{AskValues, KeySpec};
use crate::widgets::popup;
use async_trait::async_trait;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// One field of the form.
pub struct Field {
    pub spec: KeySpec,
    value: Zeroizing<String>,
    pub revealed: bool,
}

impl Field {
    pub fn new(spec: KeySpec, default: Option<Zeroizing<String>>) -> Self {
        let mut value = Zeroizing::new(String::with_capacity(128));
        if let Some(d) = default {
            push_str(&mut value, &d);
        }
        Field {
            spec,
            value,
            revealed: false,
        }
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// Required and empty.
    fn missing(&self) -> bool {
        !self.spec.optional && self.value.is_empty()
    }
}

/// Append without leaving a copy behind: when the buffer must grow, the text moves to a larger
/// zeroized buffer and the old one is wiped on drop.
fn push_str(buf: &mut Zeroizing<String>, s: &str) {
    if buf.len() + s.len() > buf.capacity() {
        let mut bigger = Zeroizing::new(String::with_capacity((buf.len() + s.len()) * 2));
        bigger.push_str(buf);
        *buf = bigger;
    }
    buf.push_str(s);
}

/// What a key press did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormOutcome {
    Stay,
    Cancel,
    Submit,
    /// Enter on the last field with a required field empty: its key.
    Missing(String),
}

pub struct SecretsForm {
    /// The env file the values go to (shown in the title).
    pub file: String,
    pub fields: Vec<Field>,
    pub focus: usize,
}

impl SecretsForm {
    /// A form for `keys`, each pre-filled with `default(key)`.
    pub fn new(
        file: String,
        keys: Vec<KeySpec>,
        default: impl Fn(&str) -> Option<Zeroizing<String>>,
    ) -> Self {
        let fields = keys
            .into_iter()
            .map(|spec| {
                let d = default(&spec.key);
                Field::new(spec, d)
            })
            .collect();
        SecretsForm {
            file,
            fields,
            focus: 0,
        }
    }

    fn next(&mut self) {
        if !self.fields.is_empty() {
            self.focus = (self.focus + 1) % self.fields.len();
        }
    }

    fn prev(&mut self) {
        if !self.fields.is_empty() {
            self.focus = (self.focus + self.fields.len() - 1) % self.fields.len();
        }
    }

    /// The first required field that is empty.
    pub fn first_missing(&self) -> Option<usize> {
        self.fields.iter().position(Field::missing)
    }

    /// Submit, or focus the first required field still empty.
    fn submit(&mut self) -> FormOutcome {
        match self.first_missing() {
            Some(i) => {
                self.focus = i;
                FormOutcome::Missing(self.fields[i].spec.key.clone())
            }
            None => FormOutcome::Submit,
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> FormOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancel,
            KeyCode::Char('c') if ctrl => return FormOutcome::Cancel,
            KeyCode::Char('r') if ctrl => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.revealed = !f.revealed;
                }
            }
            KeyCode::Char('u') if ctrl => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.value = Zeroizing::new(String::with_capacity(128));
                }
            }
            KeyCode::Tab if key.modifiers.contains(KeyModifiers::SHIFT) => self.prev(),
            KeyCode::Tab | KeyCode::Down => self.next(),
            KeyCode::BackTab | KeyCode::Up => self.prev(),
            // Ctrl-S submits from any field (the defaults below are fine as they are).
            KeyCode::Char('s') if ctrl => return self.submit(),
            KeyCode::Enter => {
                if self.focus + 1 < self.fields.len() {
                    self.next();
                } else {
                    return self.submit();
                }
            }
            KeyCode::Backspace => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.value.pop();
                }
            }
            KeyCode::Char(c) if !ctrl => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    let mut b = [0u8; 4];
                    push_str(&mut f.value, c.encode_utf8(&mut b));
                }
            }
            _ => {}
        }
        FormOutcome::Stay
    }

    /// Pasted text goes into the focused field (line breaks dropped: env values are one line).
    pub fn paste(&mut self, text: &str) {
        if let Some(f) = self.fields.get_mut(self.focus) {
            let clean = Zeroizing::new(text.replace(['\r', '\n'], ""));
            push_str(&mut f.value, &clean);
        }
    }

    /// Hand the values to the stage (the form is consumed; its buffers move, no copies).
    pub fn into_values(self) -> FormValues {
        FormValues {
            values: self
                .fields
                .into_iter()
                .map(|f| (f.spec.key, f.value))
                .collect(),
        }
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        let t = cx.theme;
        let height = (self.fields.len() as u16 * 2 + 4).min(area.height);
        let rect = popup::centered(area, area.width.saturating_sub(4).min(96), height);
        popup::dim(frame.buffer_mut(), area, t.ui.dim);
        let footer = Line::from(vec![
            Span::styled(" tab ", t.ui.key),
            Span::styled("next  ", t.ui.key_desc),
            Span::styled(" enter ", t.ui.key),
            Span::styled("accept  ", t.ui.key_desc),
            Span::styled(" ctrl-s ", t.ui.key),
            Span::styled("save  ", t.ui.key_desc),
            Span::styled(" ctrl-r ", t.ui.key),
            Span::styled("reveal  ", t.ui.key_desc),
            Span::styled(" esc ", t.ui.key),
            Span::styled("cancel ", t.ui.key_desc),
        ]);
        let title = format!("Values for {}", self.file);
        let inner = popup::frame(frame, rect, &title, Some(footer), cx.theme);
        let label_w = self
            .fields
            .iter()
            .map(|f| f.spec.key.chars().count())
            .max()
            .unwrap_or(8)
            .min(28);
        let mut lines = vec![Line::styled(
            "Kept in memory only; encrypted with your age key before anything is written.",
            t.ui.muted,
        )];
        for (i, f) in self.fields.iter().enumerate() {
            let focused = i == self.focus;
            let shown = if f.revealed || !f.spec.secret {
                f.value.to_string()
            } else {
                "•".repeat(f.value.chars().count())
            };
            let marker = if focused { "› " } else { "  " };
            let mut spans = vec![
                Span::styled(marker, t.form.label),
                Span::styled(format!("{:<label_w$} ", f.spec.key), t.form.label),
            ];
            let style = if focused {
                t.form.input_focused
            } else {
                t.form.input
            };
            if shown.is_empty() {
                let empty = if f.spec.optional {
                    "(optional, empty)"
                } else {
                    "(required)"
                };
                let s = if f.missing() {
                    t.form.invalid
                } else {
                    t.form.placeholder
                };
                spans.push(Span::styled(empty, s));
            } else {
                spans.push(Span::styled(shown, style));
            }
            if f.spec.secret && !f.value.is_empty() {
                let tag = if f.revealed { "  revealed" } else { "  masked" };
                spans.push(Span::styled(tag, t.ui.muted));
            }
            lines.push(Line::from(spans));
            lines.push(Line::styled(
                format!("  {:<label_w$}  {}", "", f.spec.help),
                t.form.help,
            ));
        }
        // Keep the focused field on screen: scroll by whole fields.
        let visible = inner.height.saturating_sub(1) as usize;
        let focus_row = 1 + self.focus * 2 + 1;
        let scroll = focus_row
            .saturating_sub(visible.max(1))
            .min(u16::MAX as usize) as u16;
        frame.render_widget(
            Paragraph::new(lines)
                .scroll((scroll, 0))
                .style(t.ui.overlay),
            inner,
        );
    }
}

/// The form's answers, for [`crate::stages::secrets::SecretsStage`]. A key the form did not
/// have falls back to its default (or stops the stage, naming the key, when it has none).
pub struct FormValues {
    values: BTreeMap<String, Zeroizing<String>>,
}

#[async_trait]
impl AskValues for FormValues {
    async fn ask(&self, spec: &KeySpec, default: Option<&str>) -> StageResult<Zeroizing<String>> {
        match (self.values.get(&spec.key), default) {
            (Some(v), _) if !v.is_empty() || spec.optional => Ok(v.clone()),
            (_, Some(d)) => Ok(Zeroizing::new(d.to_string())),
            _ if spec.optional => Ok(Zeroizing::new(String::new())),
            _ => Err(StageError::new(format!("{} has no value", spec.key))
                .with_hint("run the stage again (Enter) and fill in the field")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventKind;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new_with_kind(code, KeyModifiers::NONE, KeyEventKind::Press)
    }

    fn spec(k: &str, secret: bool, optional: bool) -> KeySpec {
        KeySpec {
            key: k.into(),
            secret,
            help: format!("help for {k}"),
            optional,
        }
    }

    #[tokio::test]
    async fn typing_moving_and_submitting_reach_the_stage_values() {
        let mut f = SecretsForm::new(
            "config/env/lab.env".into(),
            vec![
                spec("TOKEN", true, false),
                spec("USER", false, false),
                spec("HOOK", true, true),
            ],
            |k| (k == "USER").then(|| Zeroizing::new("admin".to_string())),
        );
        assert_eq!(f.fields[1].value(), "admin", "default pre-filled");
        // Enter on the last field with TOKEN empty goes back to it.
        f.on_key(key(KeyCode::BackTab));
        assert_eq!(f.focus, 2);
        assert_eq!(
            f.on_key(key(KeyCode::Enter)),
            FormOutcome::Missing("TOKEN".into())
        );
        assert_eq!(f.focus, 0);
        for c in "s3cr3tt".chars() {
            f.on_key(key(KeyCode::Char(c)));
        }
        f.on_key(key(KeyCode::Backspace));
        f.paste(&"x".repeat(300));
        assert_eq!(
            f.fields[0].value().len(),
            306,
            "grows past the initial buffer"
        );
        f.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        f.paste("s3cr3t\n");
        assert_eq!(f.on_key(key(KeyCode::Enter)), FormOutcome::Stay);
        assert_eq!(f.on_key(key(KeyCode::Tab)), FormOutcome::Stay);
        assert_eq!(f.on_key(key(KeyCode::Enter)), FormOutcome::Submit);
        let v = f.into_values();
        async fn ask(
            v: &FormValues,
            k: &str,
            secret: bool,
            optional: bool,
            d: Option<&str>,
        ) -> StageResult<String> {
            v.ask(&spec(k, secret, optional), d)
                .await
                .map(|z| z.to_string())
        }
        assert_eq!(ask(&v, "TOKEN", true, false, None).await.unwrap(), "s3cr3t");
        assert_eq!(ask(&v, "USER", false, false, None).await.unwrap(), "admin");
        assert_eq!(ask(&v, "HOOK", true, true, None).await.unwrap(), "");
        assert_eq!(
            ask(&v, "OTHER", false, false, Some("d")).await.unwrap(),
            "d"
        );
        let e = ask(&v, "MISSING", true, false, None).await.unwrap_err();
        assert!(e.message.contains("MISSING"), "{}", e.message);
    }

    #[test]
    fn ctrl_s_submits_from_any_field_or_focuses_the_missing_one() {
        let ctrl_s = KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL);
        let mut f = SecretsForm::new(
            "config/env/lab.env".into(),
            vec![
                spec("USER", false, false),
                spec("TOKEN", true, false),
                spec("HOOK", true, true),
            ],
            |k| (k == "USER").then(|| Zeroizing::new("admin".to_string())),
        );
        assert_eq!(f.focus, 0);
        assert_eq!(f.on_key(ctrl_s), FormOutcome::Missing("TOKEN".into()));
        assert_eq!(f.focus, 1, "the empty required field gets the focus");
        f.paste("t0ken");
        f.on_key(key(KeyCode::BackTab));
        assert_eq!(f.focus, 0);
        assert_eq!(
            f.on_key(ctrl_s),
            FormOutcome::Submit,
            "from the first field"
        );
        assert_eq!(f.fields[1].value(), "t0ken", "no `s` typed into a field");
    }

    #[test]
    fn escape_cancels_and_ctrl_r_reveals_one_field() {
        let mut f = SecretsForm::new(
            "f".into(),
            vec![spec("A", true, false), spec("B", true, false)],
            |_| None,
        );
        f.on_key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL));
        assert!(f.fields[0].revealed && !f.fields[1].revealed);
        assert_eq!(f.on_key(key(KeyCode::Esc)), FormOutcome::Cancel);
    }
}
