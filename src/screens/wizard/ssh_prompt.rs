//! The SSH backend's questions inside the wizard: trust an unknown host key (y/n, with the
//! fingerprint), a key passphrase or a sudo password (typed masked). Requests arrive from the
//! stage's tasks through a [`ChannelPrompter`]; the wizard polls them on its tick and answers on
//! the request's own reply channel. Typed secrets live in a zeroized buffer and are never drawn.
//! A question whose asker went away (its task ended: the reply channel is closed) is withdrawn
//! instead of waiting for an answer nobody reads ([`SshPrompts::withdraw_orphaned`]).

use crate::app::ViewCx;
use crate::backends::ssh::prompt::{ChannelPrompter, PromptRequest, Prompter};
use crate::keymap::{Key, Keymap};
use crate::msg::Action;
use crate::stages::engine::StageId;
use crate::widgets::line_edit::LineEdit;
use crate::widgets::popup;
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use std::sync::Arc;
use tokio::sync::mpsc;

pub struct SshPrompts {
    tx: mpsc::Sender<PromptRequest>,
    rx: mpsc::Receiver<PromptRequest>,
    pending: Option<PromptRequest>,
    /// The stage whose task asked the question showing.
    asked_by: Option<StageId>,
    /// The passphrase or password being typed (secret mode: masked, wiped).
    input: LineEdit,
}

impl Default for SshPrompts {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(16);
        Self {
            tx,
            rx,
            pending: None,
            asked_by: None,
            input: LineEdit::secret(),
        }
    }
}

impl SshPrompts {
    /// The prompter to hand to stages built for this wizard.
    pub fn prompter(&self) -> Arc<dyn Prompter> {
        Arc::new(ChannelPrompter::new(self.tx.clone()))
    }

    /// Take the next question if none is showing; `stage` is the stage whose task asks (named
    /// if the question is withdrawn). True when something changed.
    pub fn poll(&mut self, stage: StageId) -> bool {
        if self.pending.is_some() {
            return false;
        }
        match self.rx.try_recv() {
            Ok(req) => {
                self.input.clear();
                self.pending = Some(req);
                self.asked_by = Some(stage);
                true
            }
            Err(_) => false,
        }
    }

    /// When the question showing lost its asker (nobody waits for the answer), drop it and
    /// wipe what was typed. Returns the stage that asked and what it asked for, to tell the
    /// operator.
    pub fn withdraw_orphaned(&mut self) -> Option<(StageId, String)> {
        if !self.pending.as_ref().is_some_and(PromptRequest::is_closed) {
            return None;
        }
        let req = self.pending.take()?;
        self.input.clear();
        let what = match &req {
            PromptRequest::TrustHostKey { prompt, .. } => {
                format!("trust the host key of {}:{}", prompt.host, prompt.port)
            }
            PromptRequest::KeyPassphrase { key_path, .. } => {
                format!("the passphrase of {}", key_path.display())
            }
            PromptRequest::SudoPassword { user, host, .. } => {
                format!("the sudo password for {user}@{host}")
            }
        };
        // `asked_by` is set with every pending question; k3s is the stage that uses SSH.
        Some((self.asked_by.take().unwrap_or(StageId::K3s), what))
    }

    /// A question is showing (keys go to it).
    pub fn active(&self) -> bool {
        self.pending.is_some()
    }

    /// Answer with `yes` (trust) or the typed text; `no` refuses / gives none.
    fn answer(&mut self, yes: bool) {
        let Some(req) = self.pending.take() else {
            return;
        };
        let typed = self.input.take();
        match req {
            PromptRequest::TrustHostKey { reply, .. } => {
                let _ = reply.send(yes);
            }
            PromptRequest::KeyPassphrase { reply, .. }
            | PromptRequest::SudoPassword { reply, .. } => {
                let _ = reply.send(yes.then_some(typed));
            }
        }
    }

    /// A key while a question is showing, read through the keymap: the host-key question
    /// answers in the `confirm` context (`y` / `n`), falling back to `form` for cancel keys; a
    /// typed answer uses the `form` context (printable keys type). Returns true when it was used.
    pub fn on_key(&mut self, key: KeyEvent, keymap: &Keymap) -> bool {
        let Some(req) = &self.pending else {
            return false;
        };
        let typing = !matches!(req, PromptRequest::TrustHostKey { .. });
        let k = Key::from_event(&key);
        let action = if typing {
            keymap.action("form", k, true)
        } else {
            keymap
                .action("confirm", k, false)
                .or_else(|| keymap.action("form", k, false))
        };
        match action {
            Some(Action::Close) => self.answer(false),
            Some(Action::Confirm) if !typing => self.answer(true),
            Some(Action::Select) if typing => self.answer(true),
            _ if typing => {
                self.input.on_key(key);
            }
            _ => {}
        }
        true
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        match &self.pending {
            None => {}
            Some(PromptRequest::TrustHostKey { prompt, .. }) => {
                super::k3s::render_trust(prompt, frame, area, cx)
            }
            Some(PromptRequest::KeyPassphrase { key_path, .. }) => self.render_secret(
                "Key passphrase",
                format!("Passphrase for {}", key_path.display()),
                frame,
                area,
                cx,
            ),
            Some(PromptRequest::SudoPassword { user, host, .. }) => self.render_secret(
                "sudo password",
                format!("sudo password for {user}@{host} (kept in memory for this run only)"),
                frame,
                area,
                cx,
            ),
        }
    }

    fn render_secret(&self, title: &str, what: String, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        let rect = popup::centered(area, 64, 7);
        popup::dim(frame.buffer_mut(), area, cx.theme.ui.dim);
        let key = |a: Action| cx.keymap.label("form", &a, true);
        let footer = popup::key_footer(
            &[(key(Action::Select), "ok"), (key(Action::Close), "skip")],
            cx.theme,
        );
        let inner = popup::frame(frame, rect, title, Some(footer), cx.theme);
        let lines = vec![
            Line::styled(what, cx.theme.ui.text),
            Line::raw(""),
            Line::from(
                [Span::styled("> ", cx.theme.form.label)]
                    .into_iter()
                    .chain(self.input.spans(
                        usize::from(inner.width).saturating_sub(2),
                        cx.theme.form.input_focused,
                        true,
                    ))
                    .collect::<Vec<_>>(),
            ),
        ];
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::ssh::HostKeyPrompt;
    use crossterm::event::{KeyCode, KeyEventKind, KeyModifiers};

    impl SshPrompts {
        fn on_key_with(&mut self, key: KeyEvent) -> bool {
            self.on_key(key, &Keymap::builtin())
        }
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new_with_kind(code, KeyModifiers::NONE, KeyEventKind::Press)
    }

    #[tokio::test]
    async fn trust_and_sudo_answers_reach_the_asking_task() {
        let mut p = SshPrompts::default();
        let prompter = p.prompter();
        let ask = tokio::spawn(async move {
            let trusted = prompter
                .trust_host_key(&HostKeyPrompt {
                    host: "10.0.0.5".into(),
                    port: 22,
                    algorithm: "ssh-ed25519".into(),
                    fingerprint: "SHA256:x".into(),
                    known_hosts: "/k".into(),
                })
                .await;
            let pw = prompter.sudo_password("ubuntu", "10.0.0.5").await;
            (trusted, pw.map(|p| p.to_string()))
        });
        while !p.poll(StageId::K3s) {
            tokio::task::yield_now().await;
        }
        assert!(p.active());
        assert!(p.on_key_with(key(KeyCode::Char('y'))));
        while !p.poll(StageId::K3s) {
            tokio::task::yield_now().await;
        }
        for c in "s3cret".chars() {
            p.on_key_with(key(KeyCode::Char(c)));
        }
        p.on_key_with(key(KeyCode::Backspace));
        p.on_key_with(key(KeyCode::Enter));
        assert!(!p.active());
        assert_eq!(ask.await.unwrap(), (true, Some("s3cre".to_string())));
    }

    #[tokio::test]
    async fn escape_refuses_and_a_dropped_prompt_counts_as_no() {
        let mut p = SshPrompts::default();
        let prompter = p.prompter();
        let ask =
            tokio::spawn(async move { prompter.key_passphrase(std::path::Path::new("/k")).await });
        while !p.poll(StageId::K3s) {
            tokio::task::yield_now().await;
        }
        p.on_key_with(key(KeyCode::Esc));
        assert!(ask.await.unwrap().is_none());
        let prompter = p.prompter();
        let ask = tokio::spawn(async move {
            prompter
                .trust_host_key(&HostKeyPrompt {
                    host: "h".into(),
                    port: 22,
                    algorithm: "a".into(),
                    fingerprint: "f".into(),
                    known_hosts: "/k".into(),
                })
                .await
        });
        while !p.poll(StageId::K3s) {
            tokio::task::yield_now().await;
        }
        drop(p);
        assert!(!ask.await.unwrap());
    }

    #[tokio::test]
    async fn a_question_whose_task_stopped_is_withdrawn_and_the_typed_text_wiped() {
        let mut p = SshPrompts::default();
        let prompter = p.prompter();
        let ask = tokio::spawn(async move { prompter.sudo_password("ubuntu", "10.0.0.5").await });
        while !p.poll(StageId::K3s) {
            tokio::task::yield_now().await;
        }
        p.on_key_with(key(KeyCode::Char('s')));
        assert_eq!(p.withdraw_orphaned(), None, "still asked");
        // The run stops: its task (and the question's receiver) goes away.
        ask.abort();
        let _ = ask.await;
        assert_eq!(
            p.withdraw_orphaned(),
            Some((
                StageId::K3s,
                "the sudo password for ubuntu@10.0.0.5".to_string()
            ))
        );
        assert!(!p.active(), "keys go back to the screen");
        assert!(p.input.is_empty(), "typed text wiped");
        assert_eq!(p.withdraw_orphaned(), None, "once");
    }
}
