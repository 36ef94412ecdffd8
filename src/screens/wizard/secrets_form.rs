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
use crate::keymap::{Key, Keymap};
use crate::msg::Action;
use crate::stages::engine::{StageError, StageResult};
use crate::stages::secrets::{AskValues, KeySpec};
use crate::widgets::line_edit::LineEdit;
use crate::widgets::popup;
use async_trait::async_trait;
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// One field of the form.
pub struct Field {
    pub spec: KeySpec,
    /// A secret-mode field (wiped on drop); drawn masked for secret keys until revealed.
    value: LineEdit,
}

impl Field {
    pub fn new(spec: KeySpec, default: Option<Zeroizing<String>>) -> Self {
        let mut value = LineEdit::secret();
        if let Some(d) = default {
            value.insert_str(&d);
        }
        if !spec.secret {
            value.toggle_reveal();
        }
        Field { spec, value }
    }

    pub fn value(&self) -> &str {
        self.value.value()
    }

    /// A secret key's value is showing.
    pub fn revealed(&self) -> bool {
        self.spec.secret && self.value.revealed()
    }

    /// Required and empty.
    fn missing(&self) -> bool {
        !self.spec.optional && self.value.is_empty()
    }
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

    /// A key, read through the keymap's `form` context (printable keys type into the field).
    pub fn on_key(&mut self, key: KeyEvent, keymap: &Keymap) -> FormOutcome {
        match keymap.action("form", Key::from_event(&key), true) {
            Some(Action::Close) => return FormOutcome::Cancel,
            Some(Action::Reveal) => {
                if let Some(f) = self.fields.get_mut(self.focus)
                    && f.spec.secret
                {
                    f.value.toggle_reveal();
                }
            }
            Some(Action::NextPane) => self.next(),
            Some(Action::PrevPane) => self.prev(),
            Some(Action::Save) => return self.submit(),
            Some(Action::Select) => {
                if self.focus + 1 < self.fields.len() {
                    self.next();
                } else {
                    return self.submit();
                }
            }
            _ => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.value.on_key(key);
                }
            }
        }
        FormOutcome::Stay
    }

    /// Pasted text goes into the focused field (line breaks dropped: env values are one line).
    pub fn paste(&mut self, text: &str) {
        if let Some(f) = self.fields.get_mut(self.focus) {
            f.value.insert_str(text);
        }
    }

    /// Hand the values to the stage (the form is consumed; its buffers move, no copies).
    pub fn into_values(self) -> FormValues {
        FormValues {
            values: self
                .fields
                .into_iter()
                .map(|mut f| (std::mem::take(&mut f.spec.key), f.value.take()))
                .collect(),
        }
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        let t = cx.theme;
        let height = (self.fields.len() as u16 * 2 + 4).min(area.height);
        let rect = popup::centered(area, area.width.saturating_sub(4).min(96), height);
        popup::dim(frame.buffer_mut(), area, t.ui.dim);
        let key = |a: Action| cx.keymap.label("form", &a, true);
        let footer = popup::key_footer(
            &[
                (key(Action::NextPane), "next"),
                (key(Action::Select), "accept"),
                (key(Action::Save), "save"),
                (key(Action::Reveal), "reveal"),
                (key(Action::Close), "cancel"),
            ],
            t,
        );
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
            if f.value.is_empty() {
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
                let room = usize::from(inner.width).saturating_sub(label_w + 3 + 10);
                spans.extend(f.value.spans(room, style, focused));
            }
            if f.spec.secret && !f.value.is_empty() {
                let tag = if f.revealed() {
                    "  revealed"
                } else {
                    "  masked"
                };
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
    use crossterm::event::{KeyCode, KeyEventKind, KeyModifiers};

    fn press(f: &mut SecretsForm, key: KeyEvent) -> FormOutcome {
        f.on_key(key, &Keymap::builtin())
    }

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
        press(&mut f, key(KeyCode::BackTab));
        assert_eq!(f.focus, 2);
        assert_eq!(
            press(&mut f, key(KeyCode::Enter)),
            FormOutcome::Missing("TOKEN".into())
        );
        assert_eq!(f.focus, 0);
        for c in "s3cr3tt".chars() {
            press(&mut f, key(KeyCode::Char(c)));
        }
        press(&mut f, key(KeyCode::Backspace));
        f.paste(&"x".repeat(300));
        assert_eq!(
            f.fields[0].value().len(),
            306,
            "grows past the initial buffer"
        );
        press(
            &mut f,
            KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
        );
        f.paste("s3cr3t\n");
        assert_eq!(press(&mut f, key(KeyCode::Enter)), FormOutcome::Stay);
        assert_eq!(press(&mut f, key(KeyCode::Tab)), FormOutcome::Stay);
        assert_eq!(press(&mut f, key(KeyCode::Enter)), FormOutcome::Submit);
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
        assert_eq!(press(&mut f, ctrl_s), FormOutcome::Missing("TOKEN".into()));
        assert_eq!(f.focus, 1, "the empty required field gets the focus");
        f.paste("t0ken");
        press(&mut f, key(KeyCode::BackTab));
        assert_eq!(f.focus, 0);
        assert_eq!(
            press(&mut f, ctrl_s),
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
        press(
            &mut f,
            KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL),
        );
        assert!(f.fields[0].revealed() && !f.fields[1].revealed());
        assert_eq!(press(&mut f, key(KeyCode::Esc)), FormOutcome::Cancel);
    }
}
