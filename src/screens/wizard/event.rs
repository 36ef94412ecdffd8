//! The wizard's backend events (`BackendEvent::Wizard`): results of its tasks, the engine's
//! events of a running stage, and the questions a stage's task asks the operator. Each question
//! says who asked ([`Asker`]) and carries the channel its answer goes back on.

use crate::backends::ssh::prompt::PromptRequest;
use crate::stages::engine::{
    Check, ConfirmRequest, Plan, StageError, StageEvent, StageHistory, StageId,
};
use crate::stages::secrets::KeySpec;

/// Who asked a question: the stage, and the wizard task (numbered per wizard) whose work asked.
/// Host and user are in the question itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asker {
    pub stage: StageId,
    pub task: u64,
}

#[derive(Debug)]
pub enum Event {
    /// Preflight and plan of a stage are known (wizard `p`).
    StageReviewed {
        stage: StageId,
        checks: Vec<Check>,
        plan: Result<Plan, StageError>,
    },
    /// A stage cannot run here (not in this build, no credentials...): why.
    StageUnavailable { stage: StageId, error: String },
    /// The PVE certificate is not pinned yet: the operator must compare and trust it.
    StageTrustNeeded {
        stage: StageId,
        endpoint: String,
        fingerprint: String,
        /// Where trusting stores it: `proxmox.tls.fingerprint` or
        /// `proxmox.hosts[N].tls.fingerprint`.
        field: String,
    },
    /// The trusted fingerprint was written to the cluster file (or could not be).
    StageTrustStored {
        stage: StageId,
        result: Result<String, String>,
    },
    /// An engine event of a running stage.
    Stage(StageEvent),
    /// The observed state after a finished run (`Stage::verify`).
    StageVerified {
        stage: StageId,
        result: Result<Vec<Check>, StageError>,
    },
    /// The documented env keys (config/env/README.md) for the secrets value form.
    WizardSecretKeys(Vec<KeySpec>),
    /// Each stage's last run from the cluster's journal (read when the wizard opens), as of
    /// `read_at`; the error names the journal file.
    StageHistoryLoaded {
        read_at: jiff::Timestamp,
        result: Result<StageHistory, String>,
    },
    /// The SSH backend asks the operator (trust a host key, a key passphrase, a sudo password).
    SshAsked {
        asker: Asker,
        request: PromptRequest,
    },
    /// A running stage asks the operator to confirm (delete an orphan VM, upgrade k3s...).
    ConfirmAsked {
        asker: Asker,
        request: ConfirmRequest,
    },
}
