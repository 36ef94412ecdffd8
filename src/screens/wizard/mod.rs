//! The bootstrap wizard: the stage list, and for the selected stage its plan (per subject:
//! create / verify / drift), the preflight list with fix hints, live progress per subject with
//! gauges, the task log, retry / skip / abort, and the PVE certificate trust prompt.
//!
//! The shell is generic: it shows any [`Stage`] through the engine's plan, checks and events.
//! Stages plug in through [`stages::build`].

pub mod k3s;
pub mod model;
pub mod resume;
pub mod secrets_form;
pub mod ssh_prompt;
pub mod stage_confirm;
pub mod stages;
mod view;

use crate::app::{Session, UpdateCx, ViewCx};
use crate::msg::{Action, BackendEvent};
use crate::overlays::confirm::ConfirmState;
use crate::runtime::effects::{Task, TaskKey};
use crate::screens::{Handled, Screen};
use crate::stages::engine::*;
use crate::stages::secrets::{KeySpec, asked_keys};
use model::{History, Phase, StageModel};
use ratatui::Frame;
use ratatui::layout::Rect;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct WizardState {
    pub stages: Vec<StageModel>,
    pub selected: usize,
    /// Full-height log (`l`).
    pub show_log: bool,
    /// Lines scrolled up from the end of the log.
    pub log_scroll: usize,
    /// A fingerprint the operator trusted in this session.
    pub pinned: Option<String>,
    /// The fingerprint waiting for the operator's answer.
    pub trust_pending: Option<String>,
    /// Steps skipped by the operator (journalled as skipped).
    pub skip: BTreeSet<String>,
    cancel: Option<CancellationToken>,
    /// The k3s stage's per-node view (from its reviewed plan, fed by its events).
    pub k3s: Option<k3s::K3sView>,
    /// Questions from the SSH backend (host keys, passphrases, sudo passwords).
    pub ssh: ssh_prompt::SshPrompts,
    /// Questions from a running stage (delete an orphan VM, upgrade k3s, replace a context).
    pub confirms: stage_confirm::StageConfirms,
    /// The secrets stage's value form (masked fields), before its run.
    pub secrets_form: Option<secrets_form::SecretsForm>,
    /// Values from a submitted form, taken by the next secrets run.
    form_values: Option<Arc<secrets_form::FormValues>>,
    /// The operator chose a stage (moved the selection, reviewed or ran one): the journal's
    /// history no longer moves the selection.
    operator_picked: bool,
    /// Review the picked stage as soon as the screen opens (`pick`).
    review_on_enter: bool,
}

/// The top-bar badge of the system a stage's preflight reaches.
fn stage_badge(stage: StageId) -> Option<crate::app::Badge> {
    match stage {
        StageId::Proxmox => Some(crate::app::Badge::Pve),
        StageId::K3s => Some(crate::app::Badge::Ssh),
        _ => None,
    }
}

/// `1 step`, `3 steps`.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn key(id: StageId) -> TaskKey {
    TaskKey::new(format!("stage:{id}"))
}

impl WizardState {
    pub fn new(_session: &Session) -> Self {
        WizardState {
            stages: StageId::ALL.iter().map(|id| StageModel::new(*id)).collect(),
            selected: StageId::ALL
                .iter()
                .position(|s| *s == StageId::Proxmox)
                .unwrap_or(0),
            show_log: false,
            log_scroll: 0,
            pinned: None,
            trust_pending: None,
            skip: BTreeSet::new(),
            cancel: None,
            k3s: None,
            ssh: ssh_prompt::SshPrompts::default(),
            confirms: stage_confirm::StageConfirms::default(),
            secrets_form: None,
            form_values: None,
            operator_picked: false,
            review_on_enter: false,
        }
    }

    /// Open on `stage` (`homelab bootstrap --stage S`): the operator's choice, so the journal's
    /// history does not move the selection away from it.
    pub fn pick(&mut self, stage: StageId) {
        if let Some(i) = self.stages.iter().position(|s| s.id == stage) {
            self.selected = i;
            self.operator_picked = true;
            self.review_on_enter = true;
        }
    }

    pub fn current(&self) -> &StageModel {
        &self.stages[self.selected.min(self.stages.len() - 1)]
    }

    fn current_mut(&mut self) -> &mut StageModel {
        let i = self.selected.min(self.stages.len() - 1);
        &mut self.stages[i]
    }

    fn model(&mut self, id: StageId) -> &mut StageModel {
        let i = self.stages.iter().position(|s| s.id == id).unwrap_or(0);
        &mut self.stages[i]
    }

    /// The full-height pane shows the plan's calls (nothing logged yet).
    fn calls_view(&self) -> bool {
        self.show_log && self.current().log.is_empty() && self.current().plan.is_some()
    }

    fn running(&self) -> bool {
        self.stages.iter().any(|s| s.phase == Phase::Running)
    }

    /// The stage a question from a task most likely comes from: the running one, else the one
    /// being reviewed, else the one shown.
    fn asking_stage(&self) -> StageId {
        self.stages
            .iter()
            .find(|s| s.phase == Phase::Running)
            .or_else(|| self.stages.iter().find(|s| s.phase == Phase::Reviewing))
            .map_or(self.current().id, |s| s.id)
    }

    /// Read the cluster's journal in a task; [`Self::history_loaded`] resumes from it.
    fn load_history(&mut self, cx: &mut UpdateCx) {
        let cluster = cx.session.cluster.name.clone();
        cx.spawn(Task::blocking(
            TaskKey::new("wizard-history"),
            "read the bootstrap journal",
            move || resume::read_history(Journal::path_for(&cluster), jiff::Timestamp::now()),
        ));
    }

    /// Each stage's last run is known: show it, and unless the operator already chose a stage
    /// or one is running, select the first stage that did not finish and review it. A journal
    /// that cannot be read is an error toast; the wizard goes on as without history.
    fn history_loaded(
        &mut self,
        read_at: jiff::Timestamp,
        result: Result<StageHistory, String>,
        cx: &mut UpdateCx,
    ) {
        let history = match result {
            Ok(h) => h,
            Err(e) => {
                cx.error(e);
                if !self.operator_picked && !self.running() {
                    self.review_if_new(cx);
                }
                return;
            }
        };
        for m in &mut self.stages {
            // A running stage's open run is not "interrupted"; its events keep it current.
            if m.phase != Phase::Running {
                m.history = match history.get(&m.id) {
                    Some(run) => History::Last(run.clone()),
                    None => History::Never,
                };
            }
        }
        if self.operator_picked || self.running() {
            return;
        }
        if let Some(at) = resume::resume_at(&history, stages::available) {
            if let Some(i) = self.stages.iter().position(|s| s.id == at.stage())
                && i != self.selected
            {
                self.selected = i;
                self.log_scroll = 0;
            }
            cx.status(resume::status(at, &history, read_at));
        }
        self.review_if_new(cx);
    }

    /// Close questions (stage confirm overlay, SSH prompt) whose asker stopped waiting (the run
    /// was cancelled or failed, its task ended) and tell the operator. True when one was.
    fn withdraw_orphaned_questions(&mut self, cx: &mut UpdateCx) -> bool {
        let confirm = self.confirms.withdraw_orphaned(cx);
        let ssh = match self.ssh.withdraw_orphaned() {
            Some((stage, what)) => {
                cx.warn(format!(
                    "SSH question withdrawn: the {} stage stopped before it was answered ({what})",
                    stage.title()
                ));
                true
            }
            None => false,
        };
        confirm || ssh
    }

    /// Review the selected stage unless it was reviewed (or failed to plan) already.
    fn review_if_new(&mut self, cx: &mut UpdateCx) {
        // Reviewing too: a review asked for earlier may not have been started (effects returned
        // before the runtime ran are dropped); asking again replaces it (same task key).
        let m = self.current();
        if matches!(m.phase, Phase::Idle | Phase::Reviewing)
            && m.plan_error.is_none()
            && stages::available(m.id)
        {
            self.review(cx);
        }
    }

    /// Preflight + plan in a task.
    fn review(&mut self, cx: &mut UpdateCx) {
        let id = self.current().id;
        if !stages::available(id) {
            cx.status(format!("the {} stage is not in this build yet", id.title()));
            return;
        }
        let Ok(cfg) = cx.session.cluster.config.clone() else {
            cx.error(format!(
                "{} has errors; fix them first (home screen lists them)",
                cx.session.cluster.display
            ));
            return;
        };
        // A new review replaces the last one's verdict (a fixed env file, a trusted pin).
        self.current_mut().phase = Phase::Reviewing;
        self.current_mut().plan_error = None;
        let pin = self.pinned.clone();
        let repo = cx.session.repo_root.clone();
        let ssh = self.ssh.prompter();
        cx.spawn(Task::future(
            key(id),
            format!("{} preflight and plan", id.title()),
            async move {
                match stages::build_blocking(id, repo, cfg.clone(), pin, ssh).await {
                    stages::Build::Ready(stage) => {
                        let checks = stage.preflight().await;
                        let plan = stage.plan().await;
                        BackendEvent::StageReviewed {
                            stage: id,
                            checks,
                            plan,
                        }
                    }
                    stages::Build::NeedsTrust { host, port } => {
                        let t = std::time::Duration::from_secs(10);
                        match crate::backends::pve::tls::probe_fingerprint(&host, port, t).await {
                            Ok(fingerprint) => BackendEvent::StageTrustNeeded {
                                stage: id,
                                endpoint: format!("{host}:{port}"),
                                fingerprint,
                            },
                            Err(error) => BackendEvent::StageUnavailable { stage: id, error },
                        }
                    }
                    stages::Build::Unavailable(error) => {
                        BackendEvent::StageUnavailable { stage: id, error }
                    }
                }
            },
        ));
    }

    /// Observe the end state after a run (read-only) in a task.
    fn verify(&mut self, id: StageId, cx: &mut UpdateCx) {
        let Ok(cfg) = cx.session.cluster.config.clone() else {
            return;
        };
        let pin = self.pinned.clone();
        let repo = cx.session.repo_root.clone();
        let ssh = self.ssh.prompter();
        let key = TaskKey::new(format!("verify:{id}"));
        cx.spawn(Task::future(
            key,
            format!("verify {}", id.title()),
            async move {
                let result = match stages::build_blocking(id, repo, cfg.clone(), pin, ssh).await {
                    stages::Build::Ready(stage) => stage.verify().await,
                    _ => Err(StageError::new(
                        "the stage could not be built for verification",
                    )),
                };
                BackendEvent::StageVerified { stage: id, result }
            },
        ));
    }

    /// Apply the reviewed plan in a streaming task.
    fn run(&mut self, cx: &mut UpdateCx) {
        if self.wants_values() {
            self.open_secrets_form(cx);
            return;
        }
        self.run_plan(None, false, cx)
    }

    /// The secrets stage is about to create the env file: its values come from the form first.
    fn wants_values(&self) -> bool {
        let m = self.current();
        m.id == StageId::Secrets
            && self.form_values.is_none()
            && !self.running()
            && m.preflight_ok()
            && m.plan.as_ref().is_some_and(|p| {
                p.step("env-file")
                    .is_some_and(|s| s.intent.writes() && !asked_keys(s).is_empty())
            })
    }

    /// Read the documented keys (a file) on the blocking pool; the form opens when they arrive.
    fn open_secrets_form(&mut self, cx: &mut UpdateCx) {
        let repo = cx.session.repo_root.clone();
        cx.spawn(Task::blocking(
            TaskKey::new("secrets-form-keys"),
            "read config/env/README.md",
            move || BackendEvent::WizardSecretKeys(crate::stages::secrets::documented_keys(&repo)),
        ));
    }

    /// A field for each key the reviewed env-file step will ask for (every documented key for
    /// a new file, the missing ones for an existing file), in the documented order.
    fn show_secrets_form(&mut self, documented: Vec<KeySpec>, cx: &mut UpdateCx) {
        if !self.wants_values() || self.secrets_form.is_some() {
            return;
        }
        let asked: Vec<String> = self
            .current()
            .plan
            .as_ref()
            .and_then(|p| p.step("env-file"))
            .map(asked_keys)
            .unwrap_or_default();
        let cfg = cx.session.cluster.config.as_ref().ok();
        let file = format!("config/env/{}.env", cx.session.cluster.name);
        let keys = documented
            .into_iter()
            .filter(|k| asked.contains(&k.key))
            .collect();
        self.secrets_form = Some(secrets_form::SecretsForm::new(file, keys, |k| {
            crate::stages::secrets::default_for(k, cfg)
        }));
        cx.status("fill in the values (Tab: next field, Ctrl-R: reveal, Esc: cancel)");
    }

    fn on_form_key(&mut self, key: crossterm::event::KeyEvent, cx: &mut UpdateCx) {
        use secrets_form::FormOutcome;
        let Some(form) = self.secrets_form.as_mut() else {
            return;
        };
        match form.on_key(key) {
            FormOutcome::Stay => {}
            FormOutcome::Cancel => {
                self.secrets_form = None;
                cx.status("values discarded; nothing was written");
            }
            FormOutcome::Missing(k) => cx.warn(format!("{k} is required")),
            FormOutcome::Submit => {
                if let Some(form) = self.secrets_form.take() {
                    self.form_values = Some(Arc::new(form.into_values()));
                    self.run_plan(None, false, cx);
                }
            }
        }
    }

    /// Apply `only` (a part of the reviewed plan, e.g. one k3s node's steps) or the whole plan.
    /// Apply `only` (a part of the reviewed plan, e.g. one k3s node's steps) or the whole plan.
    /// `reconcile` (`R`) changes drift back and deletes orphans; every such write asks first.
    fn run_plan(&mut self, only: Option<Plan>, reconcile: bool, cx: &mut UpdateCx) {
        let m = self.current();
        let id = m.id;
        if self.running() {
            cx.status("a stage is already running");
            return;
        }
        let Some(plan) = only.or_else(|| m.plan.clone()) else {
            cx.status("press p to review the plan first");
            return;
        };
        if !m.preflight_ok() {
            cx.warn("preflight has failures: fix the items marked FAIL, then press p");
            return;
        }
        let Ok(cfg) = cx.session.cluster.config.clone() else {
            return;
        };
        let cancel = CancellationToken::new();
        self.cancel = Some(cancel.clone());
        let options = RunOptions {
            skip: self.skip.clone(),
            reconcile,
        };
        let confirm = self.confirms.confirmer(cancel.clone());
        let pin = self.pinned.clone();
        let cluster = cx.session.cluster.name.clone();
        let ssh = self.ssh.prompter();
        let values = self.form_values.take().filter(|_| id == StageId::Secrets);
        let repo = cx.session.repo_root.clone();
        self.current_mut().phase = Phase::Running;
        cx.spawn(Task::stream(
            key(id),
            format!("{} stage", id.title()),
            move |sink| async move {
                let built = match values {
                    Some(v) => stages::build_secrets_with(repo, &cfg, v),
                    None => stages::build_blocking(id, repo, cfg.clone(), pin, ssh).await,
                };
                let stage = match built {
                    stages::Build::Ready(s) => s,
                    _ => {
                        let error =
                            StageError::new("the stage could not be built; review it again (p)");
                        sink.send(failed(id, error)).await;
                        return;
                    }
                };
                // Held until this task ends: no second run of the cluster meanwhile.
                let _run_lock = match crate::stages::run_lock::lock_cluster(&cluster) {
                    Ok(l) => l,
                    Err(error) => {
                        sink.send(failed(id, error)).await;
                        return;
                    }
                };
                let journal = match Journal::open(&cluster) {
                    Ok(j) => j,
                    Err(e) => {
                        let error = StageError::new(format!("journal: {e}"))
                            .with_hint("set HOMELAB_STATE_DIR to a writable directory");
                        sink.send(failed(id, error)).await;
                        return;
                    }
                };
                let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
                // The stage's questions travel to the wizard (confirm overlay; deletions need
                // the name typed) and its answer comes back on the request's oneshot.
                let run = RunCx::new(tx, journal)
                    .with_cancel(cancel)
                    .with_options(options)
                    .with_confirm(confirm);
                let worker = tokio::spawn(async move { stage.apply(&plan, &run).await });
                while let Some(ev) = rx.recv().await {
                    if !sink.send(BackendEvent::Stage(ev)).await {
                        break;
                    }
                }
                let _ = worker.await;
            },
        ));
    }
}

impl Screen for WizardState {
    fn view(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        view::render(self, frame, area, cx);
    }

    fn on_enter(&mut self, cx: &mut UpdateCx) {
        // The review follows once the journal says where to resume (`history_loaded`), unless
        // the stage was picked on the command line.
        self.load_history(cx);
        if std::mem::take(&mut self.review_on_enter) {
            self.review_if_new(cx);
        }
    }

    fn on_action(&mut self, action: &Action, cx: &mut UpdateCx) -> Handled {
        if self.current().id == StageId::K3s && self.k3s.is_some() {
            let failed = matches!(self.current().phase, Phase::Failed(_));
            let plan = self.current().plan.clone();
            if let Some(v) = self.k3s.as_mut() {
                match action {
                    Action::Left | Action::PrevPane => {
                        v.focus_prev();
                        return Handled::Yes;
                    }
                    Action::Right | Action::NextPane => {
                        v.focus_next();
                        return Handled::Yes;
                    }
                    Action::Retry if failed => {
                        let only = plan.as_ref().and_then(|p| v.retry_plan(p));
                        if let Some(n) = v.focused() {
                            cx.status(format!("retrying {}", n.name));
                        }
                        self.run_plan(only, false, cx);
                        return Handled::Yes;
                    }
                    _ => {}
                }
            }
        }
        let picks = match action {
            Action::Up | Action::Down | Action::Top | Action::Bottom => !self.show_log,
            Action::Plan | Action::Refresh | Action::Run | Action::Select | Action::Reconcile => {
                true
            }
            _ => false,
        };
        self.operator_picked |= picks;
        match action {
            Action::Up | Action::Down | Action::Top | Action::Bottom if !self.show_log => {
                let last = self.stages.len() - 1;
                self.selected = match action {
                    Action::Up => self.selected.saturating_sub(1),
                    Action::Down => (self.selected + 1).min(last),
                    Action::Top => 0,
                    _ => last,
                };
                self.log_scroll = 0;
                cx.status(format!(
                    "{}: {}",
                    self.current().id.title(),
                    stage_blurb(self.current().id)
                ));
            }
            Action::Up | Action::PageUp | Action::Down | Action::PageDown => {
                let step = if matches!(action, Action::Up | Action::Down) {
                    1
                } else {
                    10
                };
                // The log counts lines up from its end; the plan view counts down from its top.
                let back = matches!(action, Action::Up | Action::PageUp) != self.calls_view();
                self.log_scroll = if back {
                    self.log_scroll.saturating_add(step)
                } else {
                    self.log_scroll.saturating_sub(step)
                };
            }
            Action::Bottom => self.log_scroll = 0,
            Action::Top => self.log_scroll = self.current().log.len(),
            Action::Plan | Action::Refresh => {
                if self.running() {
                    cx.status("a stage is running; its plan is fixed until it ends");
                } else {
                    self.review(cx);
                }
            }
            Action::Run | Action::Select => self.run(cx),
            Action::Reconcile => self.run_plan(None, true, cx),
            Action::Retry => match &self.current().phase {
                Phase::Failed(_) => self.run(cx),
                _ => cx.status("nothing failed to retry"),
            },
            Action::Skip => match self.current().failed_step.clone() {
                Some(step) if matches!(self.current().phase, Phase::Failed(_)) => {
                    let msg = format!(
                        "Skip `{step}` and continue? The skip is journalled; later steps may fail without it."
                    );
                    cx.confirm(
                        ConfirmState::new("skip", "Skip this step?", msg).labels("Skip", "Cancel"),
                    );
                }
                _ => cx.status("skip applies to the step that failed"),
            },
            Action::ToggleLog => {
                self.show_log = !self.show_log;
                self.log_scroll = 0;
            }
            Action::Cancel if self.running() => {
                if let Some(c) = &self.cancel {
                    c.cancel();
                }
                cx.status("cancelling after the current step's safe point");
            }
            _ => return Handled::No,
        }
        Handled::Yes
    }

    fn on_declined(&mut self, tag: &str, _cx: &mut UpdateCx) {
        match tag {
            stage_confirm::TAG => self.confirms.answer(false),
            "trust" => {
                // Without a trusted certificate there is no plan: say so where the plan goes.
                if let Some(fp) = self.trust_pending.take() {
                    self.current_mut().plan_error = Some(
                        StageError::new(format!("the PVE certificate {fp} was not trusted"))
                            .with_hint("compare it with `pvenode cert info` on the node, then review again (p) and trust it"),
                    );
                }
            }
            _ => {}
        }
    }

    fn on_confirmed(&mut self, tag: &str, cx: &mut UpdateCx) {
        match tag {
            stage_confirm::TAG => self.confirms.answer(true),
            "trust" => {
                let Some(fp) = self.trust_pending.take() else {
                    return;
                };
                let path = cx.session.cluster.path.clone();
                let id = self.current().id;
                cx.spawn(Task::blocking(
                    key(id),
                    "store the PVE certificate pin",
                    move || {
                        let result =
                            crate::backends::pve::trust::store_fingerprint(&path, &fp).map(|()| fp);
                        BackendEvent::StageTrustStored { stage: id, result }
                    },
                ));
            }
            "skip" => {
                if let Some(step) = self.current().failed_step.clone() {
                    self.skip.insert(step);
                    self.run(cx);
                }
            }
            _ => {}
        }
    }

    fn on_backend(&mut self, event: BackendEvent, cx: &mut UpdateCx) -> Option<BackendEvent> {
        match event {
            BackendEvent::StageReviewed {
                stage,
                checks,
                plan,
            } => {
                let fails = checks
                    .iter()
                    .filter(|c| c.status == CheckStatus::Fail)
                    .count();
                if stage == StageId::K3s
                    && let (Ok(p), Ok(cfg)) = (&plan, &cx.session.cluster.config)
                {
                    self.k3s = Some(k3s::K3sView::from_plan(p, cfg));
                }
                self.model(stage).reviewed(checks, plan);
                if fails > 0 {
                    cx.warn(format!(
                        "{}: {} failed; see the fix hints",
                        stage.title(),
                        count(fails, "preflight check", "preflight checks")
                    ));
                }
                // The badge of the system the stage's preflight talked to (the secrets stage
                // talks to none).
                if let Some(badge) = stage_badge(stage) {
                    cx.set_badge(
                        badge,
                        if fails > 0 {
                            crate::theme::Health::Degraded
                        } else {
                            crate::theme::Health::Live
                        },
                    );
                }
            }
            BackendEvent::StageUnavailable { stage, error } => {
                let m = self.model(stage);
                m.phase = Phase::Idle;
                m.plan_error = Some(StageError::new(error.clone()));
                cx.error(format!("{}: {error}", stage.title()));
            }
            BackendEvent::StageTrustNeeded {
                stage,
                endpoint,
                fingerprint,
            } => {
                self.model(stage).phase = Phase::Idle;
                self.trust_pending = Some(fingerprint.clone());
                let msg = format!(
                    "The PVE API at {endpoint} presents a certificate with SHA-256 fingerprint {fingerprint} . Compare it with `pvenode cert info` on the node. Trusting stores it in the cluster file (proxmox.tls.fingerprint)."
                );
                cx.confirm(
                    ConfirmState::new("trust", "Trust this certificate?", msg)
                        .labels("Trust", "Cancel"),
                );
            }
            BackendEvent::StageTrustStored { stage, result } => match result {
                Ok(fp) => {
                    self.pinned = Some(fp);
                    cx.notify(format!(
                        "certificate pinned in {}",
                        cx.session.cluster.display
                    ));
                    if let Some(i) = self.stages.iter().position(|s| s.id == stage) {
                        self.selected = i;
                    }
                    self.review(cx);
                }
                Err(e) => cx.error(format!("could not store the fingerprint: {e}")),
            },
            BackendEvent::WizardSecretKeys(keys) => self.show_secrets_form(keys, cx),
            BackendEvent::StageHistoryLoaded { read_at, result } => {
                self.history_loaded(read_at, result, cx)
            }
            BackendEvent::StageVerified { stage, result } => match result {
                Ok(checks) => self.model(stage).verified = checks,
                Err(e) => cx.warn(format!("{}: verify failed: {}", stage.title(), e.message)),
            },
            BackendEvent::Stage(ev) => {
                let id = ev.stage;
                if id == StageId::K3s {
                    if let Some(v) = self.k3s.as_mut() {
                        v.on_event(&ev);
                    }
                    k3s::update_badges(&ev, cx);
                }
                self.model(id).apply(&ev);
                match &ev.kind {
                    EventKind::Finished { summary } => {
                        self.cancel = None;
                        self.verify(id, cx);
                        cx.notify(format!(
                            "{} done: {} changed, {} already in place, {} drifted",
                            id.title(),
                            summary.changed,
                            summary.held,
                            summary.drifted
                        ));
                    }
                    EventKind::Failed { error } => {
                        self.cancel = None;
                        cx.error(format!("{} failed: {}", id.title(), error.message));
                    }
                    _ => {}
                }
                if matches!(
                    ev.kind,
                    EventKind::Finished { .. } | EventKind::Failed { .. }
                ) {
                    // A question the run left on screen goes with it.
                    self.withdraw_orphaned_questions(cx);
                }
            }
            other => return Some(other),
        }
        None
    }

    fn text_input_active(&self) -> bool {
        self.ssh.active() || self.secrets_form.is_some()
    }

    fn on_paste(&mut self, text: &str, _cx: &mut UpdateCx) {
        if let Some(f) = self.secrets_form.as_mut() {
            f.paste(text);
        }
    }

    fn on_leave(&mut self, _cx: &mut UpdateCx) {
        // Typed values never outlive the screen (dropping wipes them).
        self.secrets_form = None;
        if !self.running() {
            self.form_values = None;
        }
    }

    fn on_text_key(&mut self, key: crossterm::event::KeyEvent, cx: &mut UpdateCx) -> Handled {
        if self.ssh.active() && self.ssh.on_key(key) {
            Handled::Yes
        } else if self.secrets_form.is_some() {
            self.on_form_key(key, cx);
            Handled::Yes
        } else if self.ssh.on_key(key) {
            Handled::Yes
        } else {
            Handled::No
        }
    }

    fn on_tick(&mut self, cx: &mut UpdateCx) -> bool {
        let withdrawn = self.withdraw_orphaned_questions(cx);
        let asker = self.asking_stage();
        let ssh = self.ssh.poll(asker);
        let confirm = self.confirms.poll(asker, cx);
        withdrawn || ssh || confirm
    }

    fn busy(&self) -> Option<String> {
        self.stages
            .iter()
            .find(|s| s.phase == Phase::Running)
            .map(|s| format!("the {} stage is running", s.id.title()))
    }
}

/// A run that ended before the engine started.
fn failed(stage: StageId, error: StageError) -> BackendEvent {
    BackendEvent::Stage(StageEvent {
        at: jiff::Timestamp::now(),
        stage,
        kind: EventKind::Failed { error },
    })
}

/// One line on what a stage does (status bar, empty panes).
pub fn stage_blurb(id: StageId) -> &'static str {
    match id {
        StageId::Secrets => "age key, SOPS rules and the encrypted env file",
        StageId::Proxmox => "Ubuntu cloud-init VMs on Proxmox VE through its API",
        StageId::K3s => "k3s over SSH: server, then agents; swap stays on",
        StageId::Flux => "Flux with SOPS + age decryption, pointed at this repository",
        StageId::Storage => "Longhorn and NFS subdir on the Synology",
        StageId::Ingress => "Gateway API on Envoy Gateway, cloudflared, external-dns",
        StageId::Observability => "Prometheus, Alertmanager, Loki, Promtail, Grafana, OTel",
    }
}
