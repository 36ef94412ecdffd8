//! The stage engine: what every bootstrap stage (secrets, proxmox, k3s, flux, storage, ingress,
//! observability) is built on.
//!
//! # The shape of a stage
//!
//! A stage implements [`Stage`] over its backend traits (never over the TUI):
//!
//! | method | returns | writes? |
//! |---|---|---|
//! | [`Stage::plan`] | a [`Plan`]: ordered [`Step`]s, each with the exact API calls or commands it would run and an [`Intent`] (create / change / verify / drift / wait) | never |
//! | [`Stage::preflight`] | [`Check`]s with [`CheckStatus`] pass / warn / fail and a fix hint | never |
//! | [`Stage::check`] | whether one step's effect already [`Holds`] (yes / no / drift; observed, not journalled) | never |
//! | [`Stage::execute`] | performs one step, streaming log lines and progress through its [`StepCx`] | yes |
//! | [`Stage::verify`] | [`Check`]s describing the observed end state | never |
//! | [`Stage::apply`] | provided: runs a plan through [`run_plan`] | via `execute` |
//!
//! [`run_plan`] is the one place that sequences steps. For every step it: honours cancellation and
//! the caller's skip list, emits [`EventKind::StepStarted`], calls `check` first and only calls
//! `execute` when the effect does not already hold (so re-running a finished stage writes nothing),
//! journals the outcome and emits [`EventKind::StepDone`] or [`EventKind::StepFailed`]. It stops at
//! the first failure. Retrying is running the plan again (held steps pass quickly); skipping is
//! running it again with the step id in [`RunOptions::skip`] (journalled as skipped).
//!
//! # Events
//!
//! Progress leaves the engine as [`StageEvent`]s on a bounded `tokio::sync::mpsc` channel given in
//! [`RunCx`]. The wizard screen turns them into `BackendEvent`s; `homelab bootstrap --yes` prints
//! them with [`super::printer`]. A step reports through its [`StepCx`]: [`StepCx::log`] (task log
//! lines, command output), [`StepCx::progress`] (bytes or items, total when known). Sending awaits
//! when the channel is full (back-pressure); a closed channel is ignored (the run continues and is
//! still journalled).
//!
//! # Journal
//!
//! [`Journal`] is an append-only JSON-lines file per cluster in the XDG state dir
//! (`$XDG_STATE_HOME/homelab/<cluster>/journal.jsonl`, override the directory with
//! `HOMELAB_STATE_DIR`), never in git. It records run starts/ends, each step's outcome, and step
//! notes ([`StepCx::note`], e.g. the UPID of a task that was started) so a run killed mid-step can be
//! resumed: the next run's `check` can consult [`StepCx::notes`] (e.g. "a clone for VMID 201 was
//! started by us, wait for it instead of refusing the VMID"). Never put secrets in notes or details.
//! [`Journal::last_runs`] summarises it per stage ([`LastRun`]: finished / failed at a step /
//! cancelled / interrupted, and when); the wizard uses it to open where the operator left off.
//!
//! # Cancellation
//!
//! [`RunCx::cancel`] is a `tokio_util` [`CancellationToken`]. The engine checks it between steps; a
//! step checks it at safe points via [`StepCx::is_cancelled`] / [`StepCx::sleep`] (which returns
//! [`StageError::cancelled`] when cancelled), so nothing is killed in the middle of a write.
//!
//! # Confirmations
//!
//! Destructive actions go through [`RunCx::confirm`] ([`Confirm`]): the wizard shows a prompt that
//! names the object (through [`ChannelConfirm`]: each [`ConfirmRequest`] travels to the UI task
//! with a oneshot reply; typed-name prompts show the typed-name overlay), the plain runner answers
//! from `--yes`, except prompts with [`Prompt::type_to_confirm`] set, which [`AutoConfirm`] always
//! refuses.
//!
//! # Example
//!
//! ```no_run
//! # use homelab::stages::engine::*;
//! # async fn demo(stage: &dyn Stage) -> Result<(), StageError> {
//! let (tx, mut rx) = tokio::sync::mpsc::channel(256);
//! let journal = Journal::open("prox-n100").map_err(StageError::from_io)?;
//! let run = RunCx::new(tx, journal);
//! let plan = stage.plan().await?;
//! tokio::spawn(async move { while let Some(ev) = rx.recv().await { println!("{}", homelab::stages::printer::line(&ev)); } });
//! let summary = stage.apply(&plan, &run).await?;
//! # let _ = summary; Ok(()) }
//! ```
//!
//! Size: about 1100 lines, of which some 320 are its tests (the toy stage that drives
//! `run_plan`); the contract and the one runner that sequences every stage stay together.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
pub use tokio_util::sync::CancellationToken;

pub use super::journal::*;

pub use super::registry::StageId;

/// Stable identifier of a step inside its stage, e.g. `vm/k3s-agent-1/clone`. Journal key.
pub type StepId = String;

/// What a step will do, decided at plan time from observed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    /// The effect is absent and will be created.
    Create,
    /// The effect exists but differs and will be changed (reconciling drift the operator asked for).
    Change,
    /// The effect already holds; the step only re-checks it.
    Verify,
    /// The effect exists but differs; reported only, nothing is written unless reconciling.
    Drift,
    /// Read-only waiting or probing (e.g. for an IP address or an open port).
    Wait,
}

impl Intent {
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Create => "create",
            Intent::Change => "change",
            Intent::Verify => "verify",
            Intent::Drift => "drift",
            Intent::Wait => "wait",
        }
    }
    /// Whether the step is expected to write.
    pub fn writes(self) -> bool {
        matches!(self, Intent::Create | Intent::Change)
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub id: StepId,
    /// One line for humans: "Clone template 9000 to VM 201 (k3s-server-1)".
    pub title: String,
    /// What the step belongs to, for grouping in views (a VM name, "image", "template").
    pub subject: String,
    pub intent: Intent,
    /// The exact API calls or shell commands, in order, for review. Secrets are masked.
    pub calls: Vec<String>,
    /// Extra detail (drift description, why a step is only verified).
    pub note: Option<String>,
}

impl Step {
    pub fn new(
        id: impl Into<String>,
        subject: impl Into<String>,
        intent: Intent,
        title: impl Into<String>,
    ) -> Self {
        Step {
            id: id.into(),
            title: title.into(),
            subject: subject.into(),
            intent,
            calls: Vec::new(),
            note: None,
        }
    }
    pub fn call(mut self, call: impl Into<String>) -> Self {
        self.calls.push(call.into());
        self
    }
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// The steps a stage would take, for review before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub stage: StageId,
    pub steps: Vec<Step>,
    /// Stage-level remarks (assumptions, derived values).
    pub notes: Vec<String>,
}

impl Plan {
    pub fn new(stage: StageId) -> Self {
        Plan {
            stage,
            steps: Vec::new(),
            notes: Vec::new(),
        }
    }
    /// Steps expected to write.
    pub fn writes(&self) -> usize {
        self.steps.iter().filter(|s| s.intent.writes()).count()
    }
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
    /// Subjects in first-seen order (VM names, "image"...), for per-subject views.
    pub fn subjects(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for s in &self.steps {
            if !seen.contains(&s.subject.as_str()) {
                seen.push(&s.subject);
            }
        }
        seen
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

/// A preflight or verify result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable id, e.g. `privilege/VM.Clone`.
    pub id: String,
    pub title: String,
    pub status: CheckStatus,
    /// What was observed.
    pub detail: String,
    /// What to do about a warn/fail.
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(
        id: impl Into<String>,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Check::new(
            CheckStatus::Pass,
            id.into(),
            title.into(),
            detail.into(),
            None,
        )
    }
    pub fn warn(
        id: impl Into<String>,
        title: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check::new(
            CheckStatus::Warn,
            id.into(),
            title.into(),
            detail.into(),
            Some(fix.into()),
        )
    }
    pub fn fail(
        id: impl Into<String>,
        title: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check::new(
            CheckStatus::Fail,
            id.into(),
            title.into(),
            detail.into(),
            Some(fix.into()),
        )
    }
    fn new(
        status: CheckStatus,
        id: String,
        title: String,
        detail: String,
        fix: Option<String>,
    ) -> Self {
        Check {
            id,
            title,
            status,
            detail,
            fix,
        }
    }
}

/// True when no check failed.
pub fn preflight_ok(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != CheckStatus::Fail)
}

/// A stage failure: what failed (the peer's own words), and what to try.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct StageError {
    pub message: String,
    pub hint: Option<String>,
    #[serde(default)]
    pub cancelled: bool,
}

impl StageError {
    pub fn new(message: impl Into<String>) -> Self {
        StageError {
            message: message.into(),
            hint: None,
            cancelled: false,
        }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn cancelled() -> Self {
        StageError {
            message: "cancelled by the operator".into(),
            hint: None,
            cancelled: true,
        }
    }
    pub fn from_io(e: std::io::Error) -> Self {
        StageError::new(e.to_string())
    }
    /// Prefix the message with context ("VM 201 (k3s-server-1): ...").
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// A PVE call that failed, as a stage error with the backend's hint (the stage layer knows
/// both; the backend does not know stages).
impl From<crate::backends::pve::PveError> for StageError {
    fn from(e: crate::backends::pve::PveError) -> Self {
        let hint = e.hint();
        let err = StageError::new(e.to_string());
        match hint {
            Some(h) => err.with_hint(h),
            None => err,
        }
    }
}

pub type StageResult<T> = Result<T, StageError>;

/// Whether a step's effect already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holds {
    /// Yes; nothing to do. The string says what was observed.
    Yes(String),
    /// No; the string says what is missing or different.
    No(String),
    /// The effect exists but differs from the definition, and the run was not asked to reconcile:
    /// reported, nothing written. The string describes the difference.
    Drift(String),
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// `execute` ran and changed something.
    Changed,
    /// The effect already held; nothing was written.
    Held,
    /// Skipped by the operator.
    Skipped,
    /// Differs from the definition; reported, not changed (see [`RunOptions::reconcile`]).
    Drift,
}

/// Unit of a progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Bytes,
    Items,
    Percent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The run began; `steps` is the plan length.
    Started {
        steps: usize,
    },
    StepStarted {
        step: StepId,
        subject: String,
        title: String,
    },
    Progress {
        step: StepId,
        done: u64,
        total: Option<u64>,
        unit: Unit,
    },
    /// A log line from the step (task log, command output) or from the engine (`step: None`).
    Log {
        step: Option<StepId>,
        line: String,
    },
    StepDone {
        step: StepId,
        outcome: Outcome,
    },
    StepFailed {
        step: StepId,
        error: StageError,
    },
    Finished {
        summary: RunSummary,
    },
    Failed {
        error: StageError,
    },
}

/// What the engine and stages emit while applying.
#[derive(Debug, Clone, PartialEq)]
pub struct StageEvent {
    pub at: jiff::Timestamp,
    pub stage: StageId,
    pub kind: EventKind,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub changed: usize,
    pub held: usize,
    pub skipped: usize,
    /// Steps whose object drifted from the definition and was left as is.
    pub drifted: usize,
}

impl RunSummary {
    /// Count one step's outcome.
    pub fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Changed => self.changed += 1,
            Outcome::Held => self.held += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Drift => self.drifted += 1,
        }
    }
}

/// Something the operator must agree to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub title: String,
    pub detail: String,
    /// When set, the operator must type this (e.g. the VM name) to agree.
    pub type_to_confirm: Option<String>,
}

#[async_trait]
pub trait Confirm: Send + Sync {
    async fn confirm(&self, prompt: &Prompt) -> bool;
}

/// Answers every prompt with a fixed value, except typed confirmations, which it always refuses.
pub struct AutoConfirm(pub bool);

#[async_trait]
impl Confirm for AutoConfirm {
    async fn confirm(&self, prompt: &Prompt) -> bool {
        self.0 && prompt.type_to_confirm.is_none()
    }
}

/// A confirmation in flight from a running stage to the UI, with the channel the answer goes
/// back on. Dropping `reply` unanswered counts as "no".
#[derive(Debug)]
pub struct ConfirmRequest {
    pub prompt: Prompt,
    pub reply: tokio::sync::oneshot::Sender<bool>,
}

/// Sends each prompt to the UI task (the wizard polls the other end on its tick and shows the
/// confirm overlay) and waits for the operator's answer. A closed channel or a dropped reply
/// (UI gone, run cancelled) is "no"; a cancelled run stops waiting and answers "no".
#[derive(Debug, Clone)]
pub struct ChannelConfirm {
    tx: mpsc::Sender<ConfirmRequest>,
    cancel: CancellationToken,
}

impl ChannelConfirm {
    pub fn new(tx: mpsc::Sender<ConfirmRequest>, cancel: CancellationToken) -> Self {
        Self { tx, cancel }
    }
}

#[async_trait]
impl Confirm for ChannelConfirm {
    async fn confirm(&self, prompt: &Prompt) -> bool {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let req = ConfirmRequest {
            prompt: prompt.clone(),
            reply,
        };
        if self.tx.send(req).await.is_err() {
            return false;
        }
        tokio::select! {
            answer = rx => answer.unwrap_or(false),
            _ = self.cancel.cancelled() => false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Steps the operator chose to skip (journalled as skipped).
    pub skip: BTreeSet<StepId>,
    /// Change drifted objects back to the definition (otherwise drift is only reported).
    pub reconcile: bool,
}

/// Everything a run needs from its caller.
#[derive(Clone)]
pub struct RunCx {
    pub events: mpsc::Sender<StageEvent>,
    pub journal: Journal,
    pub cancel: CancellationToken,
    pub confirm: Arc<dyn Confirm>,
    pub options: RunOptions,
}

impl RunCx {
    /// Defaults: fresh cancellation token, every confirmation refused, no skips, no reconcile.
    pub fn new(events: mpsc::Sender<StageEvent>, journal: Journal) -> Self {
        RunCx {
            events,
            journal,
            cancel: CancellationToken::new(),
            confirm: Arc::new(AutoConfirm(false)),
            options: RunOptions::default(),
        }
    }
    pub fn with_confirm(mut self, confirm: Arc<dyn Confirm>) -> Self {
        self.confirm = confirm;
        self
    }
    pub fn with_options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    async fn emit(&self, stage: StageId, kind: EventKind) {
        let _ = self
            .events
            .send(StageEvent {
                at: jiff::Timestamp::now(),
                stage,
                kind,
            })
            .await;
    }

    /// A context for one step (also used by stages that check/execute outside [`run_plan`]).
    pub fn step_cx(&self, stage: StageId, step: &Step) -> StepCx {
        StepCx {
            run: self.clone(),
            stage,
            step: step.id.clone(),
        }
    }
}

/// Handed to [`Stage::check`] and [`Stage::execute`]: the step's channel to the outside.
#[derive(Clone)]
pub struct StepCx {
    run: RunCx,
    stage: StageId,
    step: StepId,
}

impl StepCx {
    pub fn step_id(&self) -> &str {
        &self.step
    }
    pub fn options(&self) -> &RunOptions {
        &self.run.options
    }
    pub async fn log(&self, line: impl Into<String>) {
        let kind = EventKind::Log {
            step: Some(self.step.clone()),
            line: line.into(),
        };
        self.run.emit(self.stage, kind).await;
    }
    pub async fn progress(&self, done: u64, total: Option<u64>, unit: Unit) {
        let kind = EventKind::Progress {
            step: self.step.clone(),
            done,
            total,
            unit,
        };
        self.run.emit(self.stage, kind).await;
    }
    /// Journal a note for this step (e.g. `upid`), for resume after a crash.
    pub fn note(&self, key: &str, value: &str) -> StageResult<()> {
        let mut data = BTreeMap::new();
        data.insert(key.to_owned(), value.to_owned());
        self.run
            .journal
            .record(&JournalEntry::new(self.stage, Some(&self.step), JournalKind::Note).data(data))
            .map_err(StageError::from_io)
    }
    /// Notes journalled for `step` of this stage by any run (latest value per key).
    pub fn notes(&self, step: &str) -> BTreeMap<String, String> {
        self.run.journal.notes(self.stage, step)
    }
    pub fn is_cancelled(&self) -> bool {
        self.run.cancel.is_cancelled()
    }
    /// Err(cancelled) if the run was cancelled.
    pub fn ensure_running(&self) -> StageResult<()> {
        if self.is_cancelled() {
            Err(StageError::cancelled())
        } else {
            Ok(())
        }
    }
    /// Sleep, waking early with Err(cancelled) when the run is cancelled.
    pub async fn sleep(&self, d: Duration) -> StageResult<()> {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.run.cancel.cancelled() => Err(StageError::cancelled()),
        }
    }
    pub async fn confirm(&self, prompt: &Prompt) -> bool {
        self.run.confirm.confirm(prompt).await
    }
}

/// A bootstrap stage. See the module docs for the contract.
#[async_trait]
pub trait Stage: Send + Sync {
    fn id(&self) -> StageId;
    /// The steps this stage would take given the current observed state. Read-only.
    async fn plan(&self) -> StageResult<Plan>;
    /// Checks that must pass before applying. Read-only; never errors (a failure is a `Fail` check).
    async fn preflight(&self) -> Vec<Check>;
    /// Whether `step`'s effect already holds. Read-only.
    async fn check(&self, step: &Step, cx: &StepCx) -> StageResult<Holds>;
    /// Perform `step`. Called only when `check` said it does not hold.
    async fn execute(&self, step: &Step, cx: &StepCx) -> StageResult<()>;
    /// The observed end state. Read-only.
    async fn verify(&self) -> StageResult<Vec<Check>>;
    /// Run `plan` (see [`run_plan`]).
    async fn apply(&self, plan: &Plan, run: &RunCx) -> StageResult<RunSummary> {
        run_plan(self, plan, run).await
    }
}

/// Sequence `plan`'s steps: cancel check, skip list, check-then-execute, journal, events.
pub async fn run_plan<S: Stage + ?Sized>(
    stage: &S,
    plan: &Plan,
    run: &RunCx,
) -> StageResult<RunSummary> {
    begin_run(stage.id(), plan, run).await?;
    let mut summary = RunSummary::default();
    for step in &plan.steps {
        if run.cancel.is_cancelled() {
            return finish_run(stage.id(), run, Err(StageError::cancelled())).await;
        }
        match run_step(stage, step, run).await {
            Ok(outcome) => summary.count(outcome),
            Err(error) => return finish_run(stage.id(), run, Err(error)).await,
        }
    }
    finish_run(stage.id(), run, Ok(summary)).await
}

/// Journal `RunStarted` and emit [`EventKind::Started`]. For stages that sequence steps
/// themselves (e.g. k3s runs its agents concurrently) with [`run_step`] and [`finish_run`].
pub async fn begin_run(id: StageId, plan: &Plan, run: &RunCx) -> StageResult<()> {
    run.journal
        .record(&JournalEntry::new(id, None, JournalKind::RunStarted))
        .map_err(StageError::from_io)?;
    run.emit(
        id,
        EventKind::Started {
            steps: plan.steps.len(),
        },
    )
    .await;
    Ok(())
}

/// One step as [`run_plan`] runs it: `StepStarted`, the skip list, `check` then `execute` only
/// when the effect does not hold, the journal entry, and `StepDone` or `StepFailed`. Safe to call
/// concurrently for different steps of the same run.
pub async fn run_step<S: Stage + ?Sized>(
    stage: &S,
    step: &Step,
    run: &RunCx,
) -> StageResult<Outcome> {
    let id = stage.id();
    let journal = &run.journal;
    let io = StageError::from_io;
    let started = EventKind::StepStarted {
        step: step.id.clone(),
        subject: step.subject.clone(),
        title: step.title.clone(),
    };
    run.emit(id, started).await;
    if run.options.skip.contains(&step.id) {
        journal
            .record(&JournalEntry::new(id, Some(&step.id), JournalKind::Skipped))
            .map_err(io)?;
        run.emit(
            id,
            EventKind::StepDone {
                step: step.id.clone(),
                outcome: Outcome::Skipped,
            },
        )
        .await;
        return Ok(Outcome::Skipped);
    }
    let cx = run.step_cx(id, step);
    let outcome = match stage.check(step, &cx).await {
        Ok(Holds::Yes(detail)) => {
            cx.log(format!("already done: {detail}")).await;
            Ok(Outcome::Held)
        }
        Ok(Holds::Drift(detail)) => {
            cx.log(format!("drift (not changed; reconcile to apply): {detail}"))
                .await;
            Ok(Outcome::Drift)
        }
        Ok(Holds::No(detail)) => {
            cx.log(detail).await;
            journal
                .record(&JournalEntry::new(
                    id,
                    Some(&step.id),
                    JournalKind::StepStarted,
                ))
                .map_err(io)?;
            match super::rehearsal::injected(id, &step.id) {
                Some(e) => Err(e),
                None => stage.execute(step, &cx).await.map(|()| Outcome::Changed),
            }
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(outcome) => {
            let kind = match outcome {
                Outcome::Held => JournalKind::Held,
                Outcome::Drift => JournalKind::Drift,
                _ => JournalKind::Changed,
            };
            journal
                .record(&JournalEntry::new(id, Some(&step.id), kind))
                .map_err(io)?;
            run.emit(
                id,
                EventKind::StepDone {
                    step: step.id.clone(),
                    outcome,
                },
            )
            .await;
            Ok(outcome)
        }
        Err(error) => {
            let entry =
                JournalEntry::new(id, Some(&step.id), JournalKind::Failed).detail(&error.message);
            journal.record(&entry).map_err(io)?;
            run.emit(
                id,
                EventKind::StepFailed {
                    step: step.id.clone(),
                    error: error.clone(),
                },
            )
            .await;
            Err(error)
        }
    }
}

/// Journal the end of a run (finished, failed or cancelled) and emit `Finished` or `Failed`.
pub async fn finish_run(
    id: StageId,
    run: &RunCx,
    result: StageResult<RunSummary>,
) -> StageResult<RunSummary> {
    match result {
        Ok(summary) => {
            let entry = JournalEntry::new(id, None, JournalKind::RunFinished).detail(&format!(
                "{} changed, {} held, {} skipped, {} drifted",
                summary.changed, summary.held, summary.skipped, summary.drifted
            ));
            run.journal.record(&entry).map_err(StageError::from_io)?;
            run.emit(id, EventKind::Finished { summary }).await;
            Ok(summary)
        }
        Err(error) => {
            let kind = if error.cancelled {
                JournalKind::RunCancelled
            } else {
                JournalKind::RunFailed
            };
            let _ = run
                .journal
                .record(&JournalEntry::new(id, None, kind).detail(&error.message));
            run.emit(
                id,
                EventKind::Failed {
                    error: error.clone(),
                },
            )
            .await;
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Mutex;

    /// A stage over an in-memory set of "present" effects; counts executes.
    struct Toy {
        present: Mutex<BTreeSet<String>>,
        fail_on: Option<&'static str>,
        executed: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Stage for Toy {
        fn id(&self) -> StageId {
            StageId::Proxmox
        }
        async fn plan(&self) -> StageResult<Plan> {
            let mut p = Plan::new(StageId::Proxmox);
            for s in ["a", "b", "c"] {
                p.steps.push(
                    Step::new(s, "toy", Intent::Create, format!("make {s}"))
                        .call(format!("touch {s}")),
                );
            }
            Ok(p)
        }
        async fn preflight(&self) -> Vec<Check> {
            vec![Check::pass("x", "x", "ok")]
        }
        async fn check(&self, step: &Step, _cx: &StepCx) -> StageResult<Holds> {
            let present = self.present.lock().unwrap().contains(&step.id);
            Ok(if present {
                Holds::Yes("present".into())
            } else {
                Holds::No("absent".into())
            })
        }
        async fn execute(&self, step: &Step, cx: &StepCx) -> StageResult<()> {
            if self.fail_on == Some(step.id.as_str()) {
                return Err(StageError::new("boom").with_hint("try again"));
            }
            cx.note("made", &step.id)?;
            cx.progress(1, Some(1), Unit::Items).await;
            self.executed.lock().unwrap().push(step.id.clone());
            self.present.lock().unwrap().insert(step.id.clone());
            Ok(())
        }
        async fn verify(&self) -> StageResult<Vec<Check>> {
            Ok(vec![])
        }
    }

    fn toy(fail_on: Option<&'static str>) -> Toy {
        Toy {
            present: Mutex::new(BTreeSet::new()),
            fail_on,
            executed: Mutex::new(vec![]),
        }
    }

    fn run_cx(dir: &Path) -> (RunCx, mpsc::Receiver<StageEvent>) {
        let (tx, rx) = mpsc::channel(1024);
        (
            RunCx::new(tx, Journal::at(dir.join("j.jsonl")).unwrap()),
            rx,
        )
    }

    fn drain(rx: &mut mpsc::Receiver<StageEvent>) -> Vec<EventKind> {
        let mut out = vec![];
        while let Ok(e) = rx.try_recv() {
            out.push(e.kind);
        }
        out
    }

    #[tokio::test]
    async fn second_run_executes_nothing_and_journals_held() {
        let dir = tempfile::tempdir().unwrap();
        let stage = toy(None);
        let (run, mut rx) = run_cx(dir.path());
        let plan = stage.plan().await.unwrap();
        let s1 = stage.apply(&plan, &run).await.unwrap();
        assert_eq!(
            s1,
            RunSummary {
                changed: 3,
                held: 0,
                skipped: 0,
                drifted: 0,
            }
        );
        let s2 = stage.apply(&plan, &run).await.unwrap();
        assert_eq!(
            s2,
            RunSummary {
                changed: 0,
                held: 3,
                skipped: 0,
                drifted: 0,
            }
        );
        assert_eq!(stage.executed.lock().unwrap().len(), 3);
        let kinds = drain(&mut rx);
        assert!(matches!(
            kinds.first(),
            Some(EventKind::Started { steps: 3 })
        ));
        assert!(kinds.iter().any(|k| matches!(
            k,
            EventKind::Progress {
                done: 1,
                total: Some(1),
                ..
            }
        )));
        assert_eq!(
            run.journal.last_outcome(StageId::Proxmox, "b"),
            Some(JournalKind::Held)
        );
        assert_eq!(
            run.journal
                .notes(StageId::Proxmox, "c")
                .get("made")
                .map(String::as_str),
            Some("c")
        );
    }

    #[tokio::test]
    async fn failure_stops_the_run_and_skip_lets_it_continue() {
        let dir = tempfile::tempdir().unwrap();
        let stage = toy(Some("b"));
        let (run, mut rx) = run_cx(dir.path());
        let plan = stage.plan().await.unwrap();
        let err = stage.apply(&plan, &run).await.unwrap_err();
        assert_eq!(err.hint.as_deref(), Some("try again"));
        assert_eq!(*stage.executed.lock().unwrap(), vec!["a".to_string()]);
        let kinds = drain(&mut rx);
        assert!(
            kinds
                .iter()
                .any(|k| matches!(k, EventKind::StepFailed { step, .. } if step == "b"))
        );
        assert!(matches!(kinds.last(), Some(EventKind::Failed { .. })));
        assert_eq!(
            run.journal.last_outcome(StageId::Proxmox, "b"),
            Some(JournalKind::Failed)
        );

        let mut opts = RunOptions::default();
        opts.skip.insert("b".into());
        let run = run.with_options(opts);
        let s = stage.apply(&plan, &run).await.unwrap();
        assert_eq!(
            s,
            RunSummary {
                changed: 1,
                held: 1,
                skipped: 1,
                drifted: 0,
            }
        );
        assert_eq!(
            run.journal.last_outcome(StageId::Proxmox, "b"),
            Some(JournalKind::Skipped)
        );
    }

    #[tokio::test]
    async fn cancelled_run_stops_before_the_next_step() {
        let dir = tempfile::tempdir().unwrap();
        let stage = toy(None);
        let (run, _rx) = run_cx(dir.path());
        run.cancel.cancel();
        let plan = stage.plan().await.unwrap();
        let err = stage.apply(&plan, &run).await.unwrap_err();
        assert!(err.cancelled);
        assert!(stage.executed.lock().unwrap().is_empty());
        let last = run.journal.entries().unwrap().pop().unwrap();
        assert_eq!(last.kind, JournalKind::RunCancelled);
    }

    /// Reports drift for step "b" instead of changing it.
    struct Drifting(Toy);

    #[async_trait]
    impl Stage for Drifting {
        fn id(&self) -> StageId {
            self.0.id()
        }
        async fn plan(&self) -> StageResult<Plan> {
            self.0.plan().await
        }
        async fn preflight(&self) -> Vec<Check> {
            self.0.preflight().await
        }
        async fn check(&self, step: &Step, cx: &StepCx) -> StageResult<Holds> {
            if step.id == "b" && !cx.options().reconcile {
                return Ok(Holds::Drift("cores: 4 (definition: 2)".into()));
            }
            self.0.check(step, cx).await
        }
        async fn execute(&self, step: &Step, cx: &StepCx) -> StageResult<()> {
            self.0.execute(step, cx).await
        }
        async fn verify(&self) -> StageResult<Vec<Check>> {
            self.0.verify().await
        }
    }

    #[tokio::test]
    async fn drift_is_counted_journalled_and_not_executed_unless_reconciling() {
        let dir = tempfile::tempdir().unwrap();
        let stage = Drifting(toy(None));
        let (run, mut rx) = run_cx(dir.path());
        let plan = stage.plan().await.unwrap();
        let s = stage.apply(&plan, &run).await.unwrap();
        assert_eq!((s.changed, s.drifted), (2, 1));
        assert!(!stage.0.executed.lock().unwrap().contains(&"b".to_string()));
        assert_eq!(
            run.journal.last_outcome(StageId::Proxmox, "b"),
            Some(JournalKind::Drift)
        );
        let kinds = drain(&mut rx);
        assert!(kinds.iter().any(
            |k| matches!(k, EventKind::StepDone { step, outcome: Outcome::Drift } if step == "b")
        ));
        let run = run.with_options(RunOptions {
            reconcile: true,
            ..Default::default()
        });
        let s = stage.apply(&plan, &run).await.unwrap();
        assert_eq!((s.changed, s.held, s.drifted), (1, 2, 0));
    }

    #[tokio::test]
    async fn last_runs_read_what_the_engine_journals() {
        let dir = tempfile::tempdir().unwrap();
        let stage = toy(Some("b"));
        let (run, _rx) = run_cx(dir.path());
        let plan = stage.plan().await.unwrap();
        stage.apply(&plan, &run).await.unwrap_err();
        let h = run.journal.last_runs().unwrap();
        let p = &h[&StageId::Proxmox];
        assert_eq!(p.outcome, RunOutcome::Failed);
        assert_eq!(p.failed_step.as_deref(), Some("b"));
        assert_eq!(p.detail.as_deref(), Some("boom"));
        let run = run.with_options(RunOptions {
            skip: ["b".to_string()].into(),
            ..Default::default()
        });
        stage.apply(&plan, &run).await.unwrap();
        let p = &run.journal.last_runs().unwrap()[&StageId::Proxmox];
        assert!(p.finished(), "{p:?}");
        assert_eq!(p.failed_step, None);
        assert_eq!(
            p.detail.as_deref(),
            Some("1 changed, 1 held, 1 skipped, 0 drifted")
        );
    }

    #[test]
    fn stage_ids_parse_and_name_the_choices() {
        assert_eq!("Proxmox".parse::<StageId>(), Ok(StageId::Proxmox));
        let e = "nope".parse::<StageId>().unwrap_err();
        assert!(e.contains("secrets, proxmox, k3s"), "{e}");
    }

    #[tokio::test]
    async fn channel_confirm_waits_for_the_ui_and_treats_silence_as_no() {
        let prompt = Prompt {
            title: "Upgrade?".into(),
            detail: String::new(),
            type_to_confirm: None,
        };
        let (tx, mut rx) = mpsc::channel(4);
        let cancel = CancellationToken::new();
        let c = ChannelConfirm::new(tx, cancel.clone());
        // Answered yes.
        let (ask, ()) = tokio::join!(c.confirm(&prompt), async {
            let req = rx.recv().await.unwrap();
            assert_eq!(req.prompt, prompt);
            req.reply.send(true).unwrap();
        });
        assert!(ask);
        // The UI dropped the question: no.
        let (ask, ()) = tokio::join!(c.confirm(&prompt), async {
            drop(rx.recv().await.unwrap());
        });
        assert!(!ask);
        // The run was cancelled while the question was up: no, without an answer.
        let (ask, _req) = tokio::join!(c.confirm(&prompt), async {
            let req = rx.recv().await.unwrap();
            cancel.cancel();
            req
        });
        assert!(!ask);
        // Nobody listens any more: no.
        drop(rx);
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let c = ChannelConfirm::new(tx, CancellationToken::new());
        assert!(!c.confirm(&prompt).await);
    }

    #[tokio::test]
    async fn auto_confirm_never_answers_typed_prompts() {
        let typed = Prompt {
            title: "delete".into(),
            detail: String::new(),
            type_to_confirm: Some("vm".into()),
        };
        let plain = Prompt {
            type_to_confirm: None,
            ..typed.clone()
        };
        assert!(!AutoConfirm(true).confirm(&typed).await);
        assert!(AutoConfirm(true).confirm(&plain).await);
        assert!(!AutoConfirm(false).confirm(&plain).await);
    }
}
