//! The stage engine's confirmations inside the wizard: deleting an orphan VM (the operator types
//! its name), upgrading k3s on a node, replacing a kubeconfig context. A running stage asks through
//! a [`ChannelConfirm`]; the wizard polls the other end on its tick (as it does for the SSH
//! backend's questions in [`super::ssh_prompt`]), shows foundation's confirm overlay (the
//! typed-name variant when the prompt names something to type) and sends the answer back on the
//! request's oneshot. Esc, `n`, Enter on No or a click outside answer "no". A question whose
//! asker stopped waiting (the run was cancelled or failed: the oneshot is closed) is withdrawn:
//! its overlay closes and the operator is told why ([`StageConfirms::withdraw_orphaned`]).

use crate::app::UpdateCx;
use crate::overlays::confirm::ConfirmState;
use crate::stages::engine::{CancellationToken, ChannelConfirm, Confirm, ConfirmRequest, StageId};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The confirm overlay's tag for stage questions.
pub const TAG: &str = "stage-confirm";

pub struct StageConfirms {
    tx: mpsc::Sender<ConfirmRequest>,
    rx: mpsc::Receiver<ConfirmRequest>,
    /// The question on screen.
    pending: Option<Pending>,
}

/// The question on screen: its title and stage (to say what was withdrawn) and its reply.
struct Pending {
    title: String,
    stage: StageId,
    reply: oneshot::Sender<bool>,
}

impl Default for StageConfirms {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(16);
        Self {
            tx,
            rx,
            pending: None,
        }
    }
}

impl StageConfirms {
    /// The confirmer to hand to a run (`RunCx::with_confirm`); `cancel` is the run's token.
    pub fn confirmer(&self, cancel: CancellationToken) -> Arc<dyn Confirm> {
        Arc::new(ChannelConfirm::new(self.tx.clone(), cancel))
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
        true
    }

    /// Take the next question if none is showing and raise the confirm overlay for it; `stage`
    /// is the stage asking (named if the question is withdrawn). A question left by a stopped
    /// run is withdrawn first. True when something changed.
    pub fn poll(&mut self, stage: StageId, cx: &mut UpdateCx) -> bool {
        let withdrawn = self.withdraw_orphaned(cx);
        if self.pending.is_some() {
            return withdrawn;
        }
        let Ok(req) = self.rx.try_recv() else {
            return withdrawn;
        };
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
            stage,
            reply: req.reply,
        });
        true
    }

    /// The operator's answer to the question on screen (if the stage still waits for it).
    pub fn answer(&mut self, yes: bool) {
        if let Some(p) = self.pending.take() {
            let _ = p.reply.send(yes);
        }
    }
}
