//! The wizard's backend events (`BackendEvent::Wizard`): results of the engine and the stages,
//! delivered to the wizard only.

use crate::stages::engine::{Check, Plan, StageError, StageEvent, StageHistory, StageId};

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
    /// The documented env keys (config/env/README.md) for the wizard's secrets value form.
    WizardSecretKeys(Vec<crate::stages::secrets::KeySpec>),
    /// Each stage's last run from the cluster's journal (read when the wizard opens), as of
    /// `read_at`; the error names the journal file.
    StageHistoryLoaded {
        read_at: jiff::Timestamp,
        result: Result<StageHistory, String>,
    },
}
