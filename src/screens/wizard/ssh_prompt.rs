//! The SSH backend's questions inside the wizard: trust an unknown host key (y/n, with the
//! fingerprint), a key passphrase or a sudo password (typed masked). Requests arrive as backend
//! events from the stage's tasks ([`super::asking`]), naming who asked; the wizard answers on the
//! request's own reply channel. Typed secrets live in a zeroized buffer and are never drawn.
//! A question whose asker went away (its task ended: the reply channel is closed) is withdrawn
//! instead of waiting for an answer nobody reads ([`SshPrompts::withdraw_orphaned`]).

use super::event::Asker;
use crate::app::ViewCx;
use crate::backends::ssh::prompt::PromptRequest;
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
use std::collections::VecDeque;

/// The SSH question showing and those waiting behind it, each with who asked.
pub struct SshPrompts {
    pending: Option<(Asker, PromptRequest)>,
    /// Questions asked while another was showing, oldest first.
    queued: VecDeque<(Asker, PromptRequest)>,
    /// The passphrase or password being typed (secret mode: masked, wiped).
    input: LineEdit,
}

impl Default for SshPrompts {
    fn default() -> Self {
        Self {
            pending: None,
            queued: VecDeque::new(),
            input: LineEdit::secret(),
        }
    }
}

impl SshPrompts {
    /// A question arrived ([`super::event::Event::SshAsked`]): show it, or queue it behind the
    /// one showing.
    pub fn asked(&mut self, asker: Asker, request: PromptRequest) {
        self.queued.push_back((asker, request));
        self.show_next();
    }

    /// Show the oldest queued question whose asker still waits, if none is showing.
    fn show_next(&mut self) {
        if self.pending.is_some() {
            return;
        }
        while let Some((asker, request)) = self.queued.pop_front() {
            if !request.is_closed() {
                self.input.clear();
                self.pending = Some((asker, request));
                return;
            }
        }
    }

    /// When the question showing lost its asker (nobody waits for the answer), drop it and
    /// wipe what was typed. Returns the stage that asked and what it asked for, to tell the
    /// operator.
    pub fn withdraw_orphaned(&mut self) -> Option<(StageId, String)> {
        if !self.pending.as_ref().is_some_and(|(_, r)| r.is_closed()) {
            return None;
        }
        let (asker, req) = self.pending.take()?;
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
        self.show_next();
        Some((asker.stage, what))
    }

    /// A question is showing (keys go to it).
    pub fn active(&self) -> bool {
        self.pending.is_some()
    }

    /// Answer with `yes` (trust) or the typed text; `no` refuses / gives none.
    fn answer(&mut self, yes: bool) {
        let Some((_, req)) = self.pending.take() else {
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
        self.show_next();
    }

    /// A key while a question is showing, read through the keymap: the host-key question
    /// answers in the `confirm` context (`y` / `n`), falling back to `form` for cancel keys; a
    /// typed answer uses the `form` context (printable keys type). Returns true when it was used.
    pub fn on_key(&mut self, key: KeyEvent, keymap: &Keymap) -> bool {
        let Some((_, req)) = &self.pending else {
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
        match self.pending.as_ref().map(|(_, r)| r) {
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
    use crate::backends::ssh::prompt::{ChannelPrompter, Prompter};
    use crossterm::event::{KeyCode, KeyEventKind, KeyModifiers};
    use tokio::sync::mpsc;

    impl SshPrompts {
        fn on_key_with(&mut self, key: KeyEvent) -> bool {
            self.on_key(key, &Keymap::builtin())
        }
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new_with_kind(code, KeyModifiers::NONE, KeyEventKind::Press)
    }

    const K3S: Asker = Asker {
        stage: StageId::K3s,
        task: 1,
    };

    /// A stage's prompter and the wizard's end of its questions.
    fn asking() -> (ChannelPrompter, mpsc::Receiver<PromptRequest>) {
        let (tx, rx) = mpsc::channel(4);
        (ChannelPrompter::new(tx), rx)
    }

    fn host_key(host: &str) -> HostKeyPrompt {
        HostKeyPrompt {
            host: host.into(),
            port: 22,
            algorithm: "ssh-ed25519".into(),
            fingerprint: "SHA256:x".into(),
            known_hosts: "/k".into(),
            other_keys: vec![],
        }
    }

    #[tokio::test]
    async fn trust_and_sudo_answers_reach_the_asking_task() {
        let mut p = SshPrompts::default();
        let (prompter, mut questions) = asking();
        let ask = tokio::spawn(async move {
            let trusted = prompter.trust_host_key(&host_key("10.0.0.5")).await;
            let pw = prompter.sudo_password("ubuntu", "10.0.0.5").await;
            (trusted, pw.map(|p| p.to_string()))
        });
        p.asked(K3S, questions.recv().await.unwrap());
        assert!(p.active());
        assert!(p.on_key_with(key(KeyCode::Char('y'))));
        p.asked(K3S, questions.recv().await.unwrap());
        for c in "s3cret".chars() {
            p.on_key_with(key(KeyCode::Char(c)));
        }
        p.on_key_with(key(KeyCode::Backspace));
        p.on_key_with(key(KeyCode::Enter));
        assert!(!p.active());
        assert_eq!(ask.await.unwrap(), (true, Some("s3cre".to_string())));
    }

    #[tokio::test]
    async fn questions_asked_together_are_shown_one_after_the_other() {
        let mut p = SshPrompts::default();
        let (prompter, mut questions) = asking();
        let second = prompter.clone();
        let first = tokio::spawn(async move { prompter.trust_host_key(&host_key("a")).await });
        let second = tokio::spawn(async move { second.trust_host_key(&host_key("b")).await });
        p.asked(K3S, questions.recv().await.unwrap());
        p.asked(K3S, questions.recv().await.unwrap());
        p.on_key_with(key(KeyCode::Char('n')));
        assert!(p.active(), "the second question shows next");
        p.on_key_with(key(KeyCode::Char('y')));
        assert!(!p.active());
        let answers = [first.await.unwrap(), second.await.unwrap()];
        assert_eq!(answers.iter().filter(|a| **a).count(), 1, "{answers:?}");
    }

    #[tokio::test]
    async fn escape_refuses_and_a_dropped_prompt_counts_as_no() {
        let mut p = SshPrompts::default();
        let (prompter, mut questions) = asking();
        let ask =
            tokio::spawn(async move { prompter.key_passphrase(std::path::Path::new("/k")).await });
        p.asked(K3S, questions.recv().await.unwrap());
        p.on_key_with(key(KeyCode::Esc));
        assert!(ask.await.unwrap().is_none());
        let (prompter, mut questions) = asking();
        let ask = tokio::spawn(async move { prompter.trust_host_key(&host_key("h")).await });
        p.asked(K3S, questions.recv().await.unwrap());
        drop(p);
        assert!(!ask.await.unwrap());
    }

    #[tokio::test]
    async fn a_question_whose_task_stopped_is_withdrawn_and_the_typed_text_wiped() {
        let mut p = SshPrompts::default();
        let (prompter, mut questions) = asking();
        let ask = tokio::spawn(async move { prompter.sudo_password("ubuntu", "10.0.0.5").await });
        p.asked(K3S, questions.recv().await.unwrap());
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
