//! The wizard's effects: what it asks the runtime to do, as data ([`Effect`], so tests can
//! assert what was asked), and [`task`], which turns one into the runtime's keyed task: reading
//! the journal, building a stage and reviewing it (preflight and plan), verifying after a run,
//! reading the documented env keys, storing a trusted certificate pin, and running a plan as a
//! streaming task whose engine events come back as [`Event::Stage`]. A stage's questions travel
//! through [`Asking`] as events naming who asked.

use super::WizardState;
use super::asking::Asking;
use super::event::{Asker, Event};
use super::model::Phase;
use super::resume;
use crate::app::UpdateCx;
use crate::config::ClusterConfig;
use crate::msg::BackendEvent;
use crate::runtime::effects::{Task, TaskKey};
use crate::stages::engine::*;
use crate::stages::registry::{self, Build, BuildCx};
use crate::stages::secrets::{AskValues, EnvValues};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the wizard asks for. Each becomes one keyed task ([`task`]).
pub enum Effect {
    /// Read the cluster's journal ([`Event::StageHistoryLoaded`]).
    LoadHistory { cluster: String },
    /// Build the stage and run its preflight and plan ([`Event::StageReviewed`], or
    /// [`Event::StageTrustNeeded`] / [`Event::StageUnavailable`]).
    Review { asker: Asker, setup: Setup },
    /// Observe the end state after a run ([`Event::StageVerified`]).
    Verify { asker: Asker, setup: Setup },
    /// Apply a plan ([`Event::Stage`] events).
    Run(Box<RunRequest>),
    /// Read the documented env keys for the secrets form ([`Event::WizardSecretKeys`]).
    ReadSecretKeys,
    /// Write a trusted PVE certificate fingerprint to the cluster file
    /// ([`Event::StageTrustStored`]).
    StorePin {
        stage: StageId,
        cluster_file: PathBuf,
        fingerprint: String,
    },
}

/// What building a stage takes besides the repository and the questions (the task supplies
/// those).
pub struct Setup {
    pub cfg: ClusterConfig,
    /// A PVE certificate fingerprint trusted in this session.
    pub pin: Option<String>,
    /// Values for the secrets stage from the wizard's form (else the environment's).
    pub values: Option<Arc<dyn AskValues>>,
    /// `--flux-manifest FILE` from the command line.
    pub flux_manifest: Option<std::path::PathBuf>,
}

/// A run of the reviewed plan (or a part of it).
pub struct RunRequest {
    pub asker: Asker,
    pub setup: Setup,
    /// The cluster whose journal records the run.
    pub cluster: String,
    pub plan: Plan,
    pub options: RunOptions,
    pub cancel: CancellationToken,
}

impl Effect {
    /// The key of the task it becomes: one task per stage (review, run and pin share it, so
    /// the newest wins), one per verify, one per file read.
    pub fn key(&self) -> TaskKey {
        match self {
            Effect::LoadHistory { .. } => TaskKey::new("wizard-history"),
            Effect::Review { asker, .. } => key(asker.stage),
            Effect::Run(run) => key(run.asker.stage),
            Effect::StorePin { stage, .. } => key(*stage),
            Effect::Verify { asker, .. } => TaskKey::new(format!("verify:{}", asker.stage)),
            Effect::ReadSecretKeys => TaskKey::new("secrets-form-keys"),
        }
    }
}

fn key(id: StageId) -> TaskKey {
    TaskKey::new(format!("stage:{id}"))
}

/// Everything `registry::build` needs, with this task's questions.
fn build_cx(repo: &Path, setup: Setup, asking: &Asking) -> BuildCx {
    BuildCx {
        repo: repo.to_path_buf(),
        cfg: setup.cfg,
        pin: setup.pin,
        ssh: asking.prompter(),
        values: setup.values.unwrap_or_else(|| Arc::new(EnvValues)),
        flux_manifest: setup.flux_manifest,
    }
}

fn wizard(event: Event) -> BackendEvent {
    BackendEvent::Wizard(event)
}

/// The task that performs `effect` in the repository `repo`.
pub fn task(effect: Effect, repo: &Path) -> Task {
    let key = effect.key();
    let repo = repo.to_path_buf();
    match effect {
        Effect::LoadHistory { cluster } => {
            let label = format!("read the bootstrap journal of cluster {cluster}");
            Task::blocking(key, label, move || {
                wizard(resume::read_history(
                    Journal::path_for(&cluster),
                    jiff::Timestamp::now(),
                ))
            })
        }
        Effect::ReadSecretKeys => Task::blocking(key, "read config/env/README.md", move || {
            wizard(Event::WizardSecretKeys(
                crate::stages::secrets::documented_keys(&repo),
            ))
        }),
        Effect::StorePin {
            stage,
            cluster_file,
            fingerprint,
        } => Task::blocking(key, "store the PVE certificate pin", move || {
            let result =
                crate::backends::pve::trust::store_fingerprint(&cluster_file, &fingerprint)
                    .map(|()| fingerprint);
            wizard(Event::StageTrustStored { stage, result })
        }),
        Effect::Review { asker, setup } => {
            let id = asker.stage;
            Task::stream(
                key,
                format!("{} preflight and plan", id.title()),
                move |sink| async move {
                    let asking = Asking::new(asker);
                    let cx = build_cx(&repo, setup, &asking);
                    let event = asking.run(&sink, review(id, cx)).await;
                    sink.send(wizard(event)).await;
                },
            )
        }
        Effect::Verify { asker, setup } => {
            let id = asker.stage;
            Task::stream(
                key,
                format!("verify {}", id.title()),
                move |sink| async move {
                    let asking = Asking::new(asker);
                    let cx = build_cx(&repo, setup, &asking);
                    let work = async {
                        match registry::build_blocking(id, cx).await {
                            Build::Ready(stage) => stage.verify().await,
                            _ => Err(StageError::new(
                                "the stage could not be built for verification",
                            )),
                        }
                    };
                    let result = asking.run(&sink, work).await;
                    sink.send(wizard(Event::StageVerified { stage: id, result }))
                        .await;
                },
            )
        }
        Effect::Run(run) => {
            let id = run.asker.stage;
            Task::stream(
                key,
                format!("{} stage", id.title()),
                move |sink| async move {
                    let RunRequest {
                        asker,
                        setup,
                        cluster,
                        plan,
                        options,
                        cancel,
                    } = *run;
                    let asking = Asking::new(asker);
                    let cx = build_cx(&repo, setup, &asking);
                    // The stage's questions travel to the wizard (confirm overlay; deletions need
                    // the name typed) and its answer comes back on the request's oneshot.
                    let confirm = asking.confirmer(cancel.clone());
                    let work = async {
                        let stage = match registry::build_blocking(id, cx).await {
                            Build::Ready(s) => s,
                            _ => {
                                let error = StageError::new(
                                    "the stage could not be built; review it again (p)",
                                );
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
                        let run = RunCx::new(tx, journal)
                            .with_cancel(cancel)
                            .with_options(options)
                            .with_confirm(confirm);
                        let worker = tokio::spawn(async move { stage.apply(&plan, &run).await });
                        while let Some(ev) = rx.recv().await {
                            if !sink.send(wizard(Event::Stage(ev))).await {
                                break;
                            }
                        }
                        let _ = worker.await;
                    };
                    asking.run(&sink, work).await;
                },
            )
        }
    }
}

/// Build stage `id`, then its preflight and plan; or why it cannot be reviewed.
async fn review(id: StageId, cx: BuildCx) -> Event {
    match registry::build_blocking(id, cx).await {
        Build::Ready(stage) => {
            let checks = stage.preflight().await;
            let plan = stage.plan().await;
            Event::StageReviewed {
                stage: id,
                checks,
                plan,
            }
        }
        Build::NeedsTrust { host, port, field } => {
            let t = std::time::Duration::from_secs(10);
            match crate::backends::pve::tls::probe_fingerprint(&host, port, t).await {
                Ok(fingerprint) => Event::StageTrustNeeded {
                    stage: id,
                    endpoint: format!("{host}:{port}"),
                    fingerprint,
                    field,
                },
                Err(error) => Event::StageUnavailable { stage: id, error },
            }
        }
        Build::Unavailable(error) => Event::StageUnavailable { stage: id, error },
    }
}

/// A run that ended before the engine started.
fn failed(stage: StageId, error: StageError) -> BackendEvent {
    wizard(Event::Stage(StageEvent {
        at: jiff::Timestamp::now(),
        stage,
        kind: EventKind::Failed { error },
    }))
}

impl WizardState {
    /// Ask for `effect`; the Screen entry point performs what was asked when it returns.
    pub(super) fn ask(&mut self, effect: Effect) {
        self.asked.push(effect);
    }

    /// A new asker for a task of `stage`.
    fn asker(&mut self, stage: StageId) -> Asker {
        self.tasks = self.tasks.wrapping_add(1);
        Asker {
            stage,
            task: self.tasks,
        }
    }

    /// Read the cluster's journal in a task; [`Self::history_loaded`] resumes from it.
    pub(super) fn load_history(&mut self, cx: &mut UpdateCx) {
        let cluster = cx.session.cluster.name.clone();
        self.ask(Effect::LoadHistory { cluster });
    }

    /// Preflight + plan in a task.
    pub(super) fn review(&mut self, cx: &mut UpdateCx) {
        let id = self.current().id;
        if !id.available() {
            cx.status(registry::not_in_build(id));
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
        let asker = self.asker(id);
        let setup = Setup {
            cfg,
            pin: self.pinned.clone(),
            values: None,
            flux_manifest: self.flux_manifest.clone(),
        };
        self.ask(Effect::Review { asker, setup });
    }

    /// Observe the end state after a run (read-only) in a task.
    pub(super) fn verify(&mut self, id: StageId, cx: &mut UpdateCx) {
        let Ok(cfg) = cx.session.cluster.config.clone() else {
            return;
        };
        let asker = self.asker(id);
        let setup = Setup {
            cfg,
            pin: self.pinned.clone(),
            values: None,
            flux_manifest: self.flux_manifest.clone(),
        };
        self.ask(Effect::Verify { asker, setup });
    }

    /// Read the documented keys (a file) on the blocking pool; the form opens when they arrive.
    pub(super) fn open_secrets_form(&mut self) {
        self.ask(Effect::ReadSecretKeys);
    }

    /// Apply `only` (a part of the reviewed plan, e.g. one k3s node's steps) or the whole plan.
    /// `reconcile` (`R`) changes drift back and deletes orphans; every such write asks first.
    pub(super) fn run_plan(&mut self, only: Option<Plan>, reconcile: bool, cx: &mut UpdateCx) {
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
        let values = self
            .form_values
            .take()
            .filter(|_| id == StageId::Secrets)
            .map(|v| v as Arc<dyn AskValues>);
        let asker = self.asker(id);
        self.current_mut().phase = Phase::Running;
        self.ask(Effect::Run(Box::new(RunRequest {
            asker,
            setup: Setup {
                cfg,
                pin: self.pinned.clone(),
                values,
                flux_manifest: self.flux_manifest.clone(),
            },
            cluster: cx.session.cluster.name.clone(),
            plan,
            options,
            cancel,
        })));
    }
}
