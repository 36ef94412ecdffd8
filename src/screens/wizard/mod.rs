//! The bootstrap wizard: the stage list, and for the selected stage its plan (per subject:
//! create / verify / drift), the preflight list with fix hints, live progress per subject with
//! gauges, the task log, retry / skip / abort, and the PVE certificate trust prompt.
//!
//! The shell is generic: it shows any [`Stage`] through the engine's plan, checks and events.
//! Stages plug in through the stage registry ([`crate::stages::registry`]). What the wizard
//! asks for is data ([`tasks::Effect`]); its backend events are [`Event`]s, and a stage's
//! questions arrive among them naming who asked.

pub mod asking;
pub mod event;
pub mod flux;
pub mod k3s;
pub mod model;
pub mod platform;
pub mod resume;
pub mod secrets_form;
pub mod ssh_prompt;
pub mod stage_confirm;
pub mod tasks;
mod view;

pub use event::Event;

use crate::app::{Session, UpdateCx, ViewCx};
use crate::msg::Action;
use crate::overlays::confirm::ConfirmState;
use crate::screens::{Handled, Owner, Screen};
use crate::stages::engine::*;
use crate::stages::registry::Reaches;
use crate::stages::secrets::{KeySpec, asked_keys};
use model::{History, Phase, StageModel};
use ratatui::Frame;
use ratatui::layout::Rect;
use std::collections::BTreeSet;
use std::sync::Arc;
use tasks::Effect;
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
    /// The Flux stage's view: steps, live rows, the root cause, the deploy key.
    pub flux: Option<flux::FluxView>,
    /// The storage, ingress or observability stage's view: steps, probe evidence, root cause.
    pub platform: Option<platform::PlatformView>,
    /// `--flux-manifest FILE` (else the Flux stage downloads the release's).
    pub flux_manifest: Option<std::path::PathBuf>,
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
    /// What was asked for and not yet handed to the runtime ([`Self::perform`]).
    asked: Vec<Effect>,
    /// Tasks started so far (numbers each task's [`event::Asker`]).
    tasks: u64,
}

/// The top-bar badge of the system a stage's preflight reaches.
fn stage_badge(stage: StageId) -> Option<crate::app::Badge> {
    stage.spec().reaches.map(|system| match system {
        Reaches::Pve => crate::app::Badge::Pve,
        Reaches::Ssh => crate::app::Badge::Ssh,
    })
}

/// `1 step`, `3 steps`.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl WizardState {
    pub fn new(_session: &Session) -> Self {
        WizardState {
            stages: StageId::all().map(StageModel::new).collect(),
            selected: StageId::all()
                .position(|s| s == StageId::Proxmox)
                .unwrap_or(0),
            show_log: false,
            log_scroll: 0,
            pinned: None,
            trust_pending: None,
            skip: BTreeSet::new(),
            cancel: None,
            k3s: None,
            flux: None,
            platform: None,
            flux_manifest: None,
            ssh: ssh_prompt::SshPrompts::default(),
            confirms: stage_confirm::StageConfirms::default(),
            secrets_form: None,
            form_values: None,
            operator_picked: false,
            review_on_enter: false,
            asked: Vec::new(),
            tasks: 0,
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

    /// Hand what was asked for to the runtime as keyed tasks.
    fn perform(&mut self, cx: &mut UpdateCx) {
        for effect in std::mem::take(&mut self.asked) {
            cx.spawn(tasks::task(effect, &cx.session.repo_root));
        }
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
        if let Some(at) = resume::resume_at(&history, StageId::available) {
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
            && m.id.available()
        {
            self.review(cx);
        }
    }

    /// Apply the reviewed plan in a streaming task.
    fn run(&mut self, cx: &mut UpdateCx) {
        if self.wants_values() {
            self.open_secrets_form();
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
        // As the form shows it: relative to the repository root.
        let file = crate::config::env_file(std::path::Path::new(""), &cx.session.cluster.name)
            .display()
            .to_string();
        let keys = documented
            .into_iter()
            .filter(|k| asked.contains(&k.key))
            .collect();
        // A value set in the environment pre-fills its field, as `bootstrap --yes` takes it
        // (`homelab demo` sets them for its lab).
        self.secrets_form = Some(secrets_form::SecretsForm::new(file, keys, |k| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .map(zeroize::Zeroizing::new)
                .or_else(|| crate::stages::secrets::default_for(k, cfg))
        }));
        cx.status("fill in the values (Tab: next field, Ctrl-R: reveal, Esc: cancel)");
    }

    fn on_form_key(&mut self, key: crossterm::event::KeyEvent, cx: &mut UpdateCx) {
        use secrets_form::FormOutcome;
        let Some(form) = self.secrets_form.as_mut() else {
            return;
        };
        match form.on_key(key, cx.keymap) {
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
}

/// The wizard's reactions as data: what each asks for, not yet performed (the screen hands it
/// to the runtime; tests assert it).
impl WizardState {
    pub fn act(&mut self, action: &Action, cx: &mut UpdateCx) -> (Handled, Vec<Effect>) {
        let handled = self.handle_action(action, cx);
        (handled, std::mem::take(&mut self.asked))
    }

    pub fn on_event(&mut self, event: Event, cx: &mut UpdateCx) -> Vec<Effect> {
        self.handle_event(event, cx);
        std::mem::take(&mut self.asked)
    }

    /// The wizard's reaction to `action`; what it asks for waits in `asked`.
    fn handle_action(&mut self, action: &Action, cx: &mut UpdateCx) -> Handled {
        if self.current().id == StageId::Flux
            && *action == Action::Copy
            && let Some(key) = self.flux.as_ref().and_then(|v| v.deploy_key.clone())
        {
            // Between frames, on the UI task: cannot interleave with a draw.
            use std::io::Write as _;
            let mut out = std::io::stdout();
            let _ = out.write_all(crate::domain::printable::osc52(&key).as_bytes());
            let _ = out.flush();
            cx.notify("deploy key copied (OSC 52); add it to the repository's deploy keys");
            return Handled::Yes;
        }
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
                    self.current().id.blurb()
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

    /// The wizard's reaction to one of its events; what it asks for waits in `asked`. A
    /// question left on screen by a task that stopped waiting goes with any event.
    fn handle_event(&mut self, event: Event, cx: &mut UpdateCx) {
        match event {
            Event::StageReviewed {
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
                if stage == StageId::Flux
                    && let (Ok(p), Ok(cfg)) = (&plan, &cx.session.cluster.config)
                {
                    self.flux = Some(flux::FluxView::from_plan(p, &cfg.flux.version));
                }
                if platform::shows(stage)
                    && let Ok(p) = &plan
                {
                    self.platform = Some(platform::PlatformView::from_plan(p));
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
            Event::StageUnavailable { stage, error } => {
                let m = self.model(stage);
                m.phase = Phase::Idle;
                m.plan_error = Some(StageError::new(error.clone()));
                cx.error(format!("{}: {error}", stage.title()));
            }
            Event::StageTrustNeeded {
                stage,
                endpoint,
                fingerprint,
                field,
            } => {
                self.model(stage).phase = Phase::Idle;
                self.trust_pending = Some(fingerprint.clone());
                let msg = format!(
                    "The PVE API at {endpoint} presents a certificate with SHA-256 fingerprint {fingerprint} . Compare it with `pvenode cert info` on the node. Trusting stores it in the cluster file ({field})."
                );
                cx.confirm(
                    ConfirmState::new("trust", "Trust this certificate?", msg)
                        .labels("Trust", "Cancel"),
                );
            }
            Event::StageTrustStored { stage, result } => match result {
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
            Event::WizardSecretKeys(keys) => self.show_secrets_form(keys, cx),
            Event::StageHistoryLoaded { read_at, result } => {
                self.history_loaded(read_at, result, cx)
            }
            Event::StageVerified { stage, result } => match result {
                Ok(checks) => self.model(stage).verified = checks,
                Err(e) => cx.warn(format!("{}: verify failed: {}", stage.title(), e.message)),
            },
            Event::Stage(ev) => {
                let id = ev.stage;
                if id == StageId::K3s {
                    if let Some(v) = self.k3s.as_mut() {
                        v.on_event(&ev);
                    }
                    k3s::update_badges(&ev, cx);
                }
                if id == StageId::Flux
                    && let Some(v) = self.flux.as_mut()
                {
                    v.on_event(&ev);
                }
                if let Some(v) = self.platform.as_mut().filter(|v| v.stage == id) {
                    v.on_event(&ev);
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
            }
            Event::SshAsked { asker, request } => self.ssh.asked(asker, request),
            Event::ConfirmAsked { asker, request } => self.confirms.asked(asker, request, cx),
        }
        self.withdraw_orphaned_questions(cx);
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
        self.perform(cx);
    }

    fn on_action(&mut self, action: &Action, cx: &mut UpdateCx) -> Handled {
        let handled = self.handle_action(action, cx);
        self.perform(cx);
        handled
    }

    fn on_declined(&mut self, tag: &str, cx: &mut UpdateCx) {
        match tag {
            stage_confirm::TAG => self.confirms.answer(false, cx),
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
            stage_confirm::TAG => self.confirms.answer(true, cx),
            "trust" => {
                let Some(fingerprint) = self.trust_pending.take() else {
                    return;
                };
                self.ask(Effect::StorePin {
                    stage: self.current().id,
                    cluster_file: cx.session.cluster.path.clone(),
                    fingerprint,
                });
            }
            "skip" => {
                if let Some(step) = self.current().failed_step.clone() {
                    self.skip.insert(step);
                    self.run(cx);
                }
            }
            _ => {}
        }
        self.perform(cx);
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
        if self.ssh.active() && self.ssh.on_key(key, cx.keymap) {
            Handled::Yes
        } else if self.secrets_form.is_some() {
            self.on_form_key(key, cx);
            self.perform(cx);
            Handled::Yes
        } else if self.ssh.on_key(key, cx.keymap) {
            Handled::Yes
        } else {
            Handled::No
        }
    }

    fn busy(&self) -> Option<String> {
        self.stages
            .iter()
            .find(|s| s.phase == Phase::Running)
            .map(|s| format!("the {} stage is running", s.id.title()))
    }
}

impl Owner<Event> for WizardState {
    fn on_event(&mut self, event: Event, cx: &mut UpdateCx) {
        self.handle_event(event, cx);
        self.perform(cx);
    }
}

impl crate::screens::Start for WizardState {
    fn start(session: &Session, params: &crate::screens::StartParams) -> Self {
        let mut wizard = Self::new(session);
        if let Some(stage) = params.wizard_stage {
            wizard.pick(stage);
        }
        wizard.flux_manifest = params.flux_manifest.clone();
        wizard
    }
}
