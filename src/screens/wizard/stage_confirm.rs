//! The stage engine's confirmations inside the wizard: deleting an orphan VM (the operator types
//! its name), upgrading k3s on a node, replacing a kubeconfig context. A running stage asks through
//! a `ChannelConfirm`; its task forwards each request as a backend event naming who asked
//! ([`super::asking`], as for the SSH backend's questions in [`super::ssh_prompt`]). The wizard
//! shows foundation's confirm overlay (the typed-name variant when the prompt names something to
//! type) and sends the answer back on the request's oneshot. Esc, `n`, Enter on No or a click
//! outside answer "no". A question whose asker stopped waiting (the run was cancelled or failed:
//! the oneshot is closed) is withdrawn: its overlay closes and the operator is told why
//! ([`StageConfirms::withdraw_orphaned`]).

use super::event::Asker;
use crate::app::UpdateCx;
use crate::overlays::confirm::ConfirmState;
use crate::stages::engine::{ConfirmRequest, StageId};
use std::collections::VecDeque;
use tokio::sync::oneshot;

/// The confirm overlay's tag for stage questions.
pub const TAG: &str = "stage-confirm";

/// The stage question on screen and those waiting behind it.
#[derive(Default)]
pub struct StageConfirms {
    /// The question on screen.
    pending: Option<Pending>,
    /// Questions asked while another was on screen, oldest first.
    queued: VecDeque<(Asker, ConfirmRequest)>,
}

/// The question on screen: its title and stage (to say what was withdrawn) and its reply.
struct Pending {
    title: String,
    stage: StageId,
    reply: oneshot::Sender<bool>,
}

impl StageConfirms {
    /// A question arrived ([`super::event::Event::ConfirmAsked`]): raise the confirm overlay for
    /// it, or queue it behind the one on screen.
    pub fn asked(&mut self, asker: Asker, request: ConfirmRequest, cx: &mut UpdateCx) {
        self.queued.push_back((asker, request));
        self.show_next(cx);
    }

    /// Raise the overlay for the oldest queued question whose asker still waits, if none is
    /// on screen.
    fn show_next(&mut self, cx: &mut UpdateCx) {
        if self.pending.is_some() {
            return;
        }
        while let Some((asker, req)) = self.queued.pop_front() {
            if req.reply.is_closed() {
                continue;
            }
            let p = req.prompt;
            let title = p.title.clone();
            let mut confirm = ConfirmState::new(TAG, p.title, p.detail);
            confirm = match p.type_to_confirm {
                Some(name) => confirm.labels("Delete", "Keep").type_to_confirm(name),
                None => confirm.labels("Yes", "No"),
            };
            cx.confirm(confirm);
            self.pending = Some(Pending {
                title,
                stage: asker.stage,
                reply: req.reply,
            });
            return;
        }
    }

    /// A question is on screen, waiting for the operator.
    pub fn waiting(&self) -> bool {
        self.pending.as_ref().is_some_and(|p| !p.reply.is_closed())
    }

    /// When the question on screen lost its asker (the run was cancelled or failed, its task
    /// ended: nobody waits for the answer), close its overlay and say so. True when it did.
    pub fn withdraw_orphaned(&mut self, cx: &mut UpdateCx) -> bool {
        if !self.pending.as_ref().is_some_and(|p| p.reply.is_closed()) {
            return false;
        }
        let Some(p) = self.pending.take() else {
            return false;
        };
        cx.withdraw_confirm(TAG);
        cx.warn(format!(
            "Question withdrawn: the {} stage stopped before it was answered (\"{}\")",
            p.stage.title(),
            p.title
        ));
        self.show_next(cx);
        true
    }

    /// The operator's answer to the question on screen (if the stage still waits for it).
    pub fn answer(&mut self, yes: bool, cx: &mut UpdateCx) {
        if let Some(p) = self.pending.take() {
            let _ = p.reply.send(yes);
        }
        self.show_next(cx);
    }
}
