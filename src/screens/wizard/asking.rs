//! How a wizard task's stage asks the operator. The task hands the stage a prompter (SSH
//! questions) and a confirmer (stage confirmations) from its [`Asking`], and runs its work
//! through [`Asking::run`], which forwards each question to the wizard as a backend event
//! ([`Event::SshAsked`], [`Event::ConfirmAsked`]) naming the [`Asker`]. The answer goes back on
//! the question's own reply channel; nothing is polled.

use super::event::{Asker, Event};
use crate::backends::ssh::prompt::{ChannelPrompter, PromptRequest, Prompter};
use crate::msg::BackendEvent;
use crate::runtime::effects::EventSink;
use crate::stages::engine::{CancellationToken, ChannelConfirm, Confirm, ConfirmRequest};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The question channels of one task.
pub struct Asking {
    asker: Asker,
    ssh_tx: mpsc::Sender<PromptRequest>,
    ssh_rx: mpsc::Receiver<PromptRequest>,
    confirm_tx: mpsc::Sender<ConfirmRequest>,
    confirm_rx: mpsc::Receiver<ConfirmRequest>,
}

impl Asking {
    pub fn new(asker: Asker) -> Self {
        let (ssh_tx, ssh_rx) = mpsc::channel(16);
        let (confirm_tx, confirm_rx) = mpsc::channel(16);
        Self {
            asker,
            ssh_tx,
            ssh_rx,
            confirm_tx,
            confirm_rx,
        }
    }

    /// The prompter to build the task's stage with.
    pub fn prompter(&self) -> Arc<dyn Prompter> {
        Arc::new(ChannelPrompter::new(self.ssh_tx.clone()))
    }

    /// The confirmer for the task's run (`RunCx::with_confirm`); `cancel` is the run's token.
    pub fn confirmer(&self, cancel: CancellationToken) -> Arc<dyn Confirm> {
        Arc::new(ChannelConfirm::new(self.confirm_tx.clone(), cancel))
    }

    /// The next question asked through this task's prompter or confirmer, as the event the
    /// wizard gets.
    pub async fn next(&mut self) -> Event {
        let asker = self.asker;
        tokio::select! {
            Some(request) = self.ssh_rx.recv() => Event::SshAsked { asker, request },
            Some(request) = self.confirm_rx.recv() => Event::ConfirmAsked { asker, request },
            else => std::future::pending().await,
        }
    }

    /// Run `work` to its end, sending every question it asks meanwhile through `sink`.
    pub async fn run<F: Future>(mut self, sink: &EventSink, work: F) -> F::Output {
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                question = self.next() => {
                    sink.send(BackendEvent::Wizard(question)).await;
                }
            }
        }
    }
}
