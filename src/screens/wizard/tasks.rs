//! The wizard's tasks: reading the journal, building a stage and reviewing it (preflight and
//! plan), verifying after a run, reading the documented env keys, and running a plan as a
//! streaming task whose engine events come back as `BackendEvent`s.

use super::model;
use super::{WizardState, resume};
use crate::app::UpdateCx;
use crate::msg::BackendEvent;
use crate::runtime::effects::{Task, TaskKey};
use crate::stages::engine::*;
use crate::stages::registry::{self, Build, BuildCx};
use crate::stages::secrets::{AskValues, EnvValues};
use model::Phase;
use std::path::Path;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub(super) fn key(id: StageId) -> TaskKey {
    TaskKey::new(format!("stage:{id}"))
}

impl WizardState {
    /// Read the cluster's journal in a task; [`Self::history_loaded`] resumes from it.
    pub(super) fn load_history(&mut self, cx: &mut UpdateCx) {
        let cluster = cx.session.cluster.name.clone();
        cx.spawn(Task::blocking(
            TaskKey::new("wizard-history"),
            "read the bootstrap journal",
            move || resume::read_history(Journal::path_for(&cluster), jiff::Timestamp::now()),
        ));
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
        let pin = self.pinned.clone();
        let repo = cx.session.repo_root.clone();
        let ssh = self.ssh.prompter();
        cx.spawn(Task::future(
            key(id),
            format!("{} preflight and plan", id.title()),
            async move {
                match registry::build_blocking(id, build_cx(&repo, cfg, pin, ssh, None)).await {
                    Build::Ready(stage) => {
                        let checks = stage.preflight().await;
                        let plan = stage.plan().await;
                        BackendEvent::StageReviewed {
                            stage: id,
                            checks,
                            plan,
                        }
                    }
                    Build::NeedsTrust { host, port } => {
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
                    Build::Unavailable(error) => {
                        BackendEvent::StageUnavailable { stage: id, error }
                    }
                }
            },
        ));
    }

    /// Observe the end state after a run (read-only) in a task.
    pub(super) fn verify(&mut self, id: StageId, cx: &mut UpdateCx) {
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
                let cx = build_cx(&repo, cfg, pin, ssh, None);
                let result = match registry::build_blocking(id, cx).await {
                    Build::Ready(stage) => stage.verify().await,
                    _ => Err(StageError::new(
                        "the stage could not be built for verification",
                    )),
                };
                BackendEvent::StageVerified { stage: id, result }
            },
        ));
    }

    /// Read the documented keys (a file) on the blocking pool; the form opens when they arrive.
    pub(super) fn open_secrets_form(&mut self, cx: &mut UpdateCx) {
        let repo = cx.session.repo_root.clone();
        cx.spawn(Task::blocking(
            TaskKey::new("secrets-form-keys"),
            "read config/env/README.md",
            move || BackendEvent::WizardSecretKeys(crate::stages::secrets::documented_keys(&repo)),
        ));
    }

    /// Apply `only` (a part of the reviewed plan, e.g. one k3s node's steps) or the whole plan.
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
        let confirm = self.confirms.confirmer(cancel.clone());
        let pin = self.pinned.clone();
        let cluster = cx.session.cluster.name.clone();
        let ssh = self.ssh.prompter();
        let values = self
            .form_values
            .take()
            .filter(|_| id == StageId::Secrets)
            .map(|v| v as Arc<dyn AskValues>);
        let repo = cx.session.repo_root.clone();
        self.current_mut().phase = Phase::Running;
        cx.spawn(Task::stream(
            key(id),
            format!("{} stage", id.title()),
            move |sink| async move {
                let cx = build_cx(&repo, cfg, pin, ssh, values);
                let stage = match registry::build_blocking(id, cx).await {
                    Build::Ready(s) => s,
                    _ => {
                        let error =
                            StageError::new("the stage could not be built; review it again (p)");
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

/// What `registry::build` needs: values for the secrets stage from the wizard's form, else
/// from the environment.
fn build_cx(
    repo: &Path,
    cfg: crate::config::ClusterConfig,
    pin: Option<String>,
    ssh: Arc<dyn crate::backends::ssh::Prompter>,
    values: Option<Arc<dyn AskValues>>,
) -> BuildCx {
    BuildCx {
        repo: repo.to_path_buf(),
        cfg,
        pin,
        ssh,
        values: values.unwrap_or_else(|| Arc::new(EnvValues)),
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
