//! The Flux stage against the kube simulator (its Flux controllers fetch from a real local
//! bare git repository the stage pushes to) with this repository's whole `cluster/` tree: a
//! fresh run, a second run that changes nothing, a kill at every step then a rerun, each
//! injected failure diagnosed with the right object and message, and the lock-out guard. The
//! push over SSH to OpenSSH sshd + git-shell is in `flux_stage_ssh.rs`.

use homelab::config::ClusterConfig;
use homelab::secrets::keys::generate_identity;
use homelab::secrets::metadata::CryptRule;
use homelab::secrets::rules::homelab_config;
use homelab::secrets::{Format, Opened};
use homelab::sim::kube::controllers::{Fault, Timing};
use homelab::sim::kube::objects::NodeSpec;
use homelab::sim::kube::{KubeSim, SimOptions};
use homelab::stages::engine::{
    AutoConfirm, EventKind, Journal, RunCx, RunSummary, Stage, StageError, StageEvent,
};
use homelab::stages::flux::remote::GitRemote;
use homelab::stages::flux::{self, FluxOptions, FluxStage, follow, manifest};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The URL Flux is pointed at; the simulator's source-controller maps it to the bare repository.
pub const URL: &str = "ssh://git@127.0.0.1:2222/srv/git/lab.git";
const HOST_KEY: &str = "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A stand-in for `flux install`'s output that the simulator serves: the namespace, the Flux
/// CRDs as the simulator knows them, and the four controllers' Deployments.
pub fn install_manifest() -> String {
    homelab::sim::kube::flux::install_manifest("v2.7.3")
}

fn git_commit_all(repo: &git2::Repository, message: &str) -> git2::Oid {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = repo.signature().unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
}

/// Push `refs/heads/main` of `work` to the repository at `bare` over git2's local transport.
fn push_local(work: &Path, bare: &Path, branch: &str) -> Result<String, String> {
    let repo = git2::Repository::open(work).map_err(|e| e.to_string())?;
    let mut remote = repo
        .remote_anonymous(bare.to_str().unwrap())
        .map_err(|e| e.to_string())?;
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let rejected = std::cell::RefCell::new(None::<String>);
    let mut cb = git2::RemoteCallbacks::new();
    cb.push_update_reference(|name, status| {
        if let Some(s) = status {
            *rejected.borrow_mut() = Some(format!("{name}: {s}"));
        }
        Ok(())
    });
    let mut opts = git2::PushOptions::new();
    opts.remote_callbacks(cb);
    remote
        .push(&[refspec.as_str()], Some(&mut opts))
        .map_err(|e| e.to_string())?;
    drop(opts);
    if let Some(r) = rejected.into_inner() {
        return Err(r);
    }
    Ok(repo
        .refname_to_id(&format!("refs/heads/{branch}"))
        .unwrap()
        .to_string())
}

/// The git host as a real bare repository on this machine.
pub struct LocalRemote {
    pub bare: PathBuf,
}

#[async_trait::async_trait]
impl GitRemote for LocalRemote {
    fn url(&self) -> String {
        URL.into()
    }
    async fn head(&self, _repo: &Path, branch: &str) -> Result<Option<String>, String> {
        let repo = git2::Repository::open(&self.bare).map_err(|e| e.to_string())?;
        Ok(repo
            .refname_to_id(&format!("refs/heads/{branch}"))
            .ok()
            .map(|o| o.to_string()))
    }
    async fn push(&self, repo: &Path, branch: &str) -> Result<String, String> {
        let (work, bare, branch) = (repo.to_path_buf(), self.bare.clone(), branch.to_string());
        tokio::task::spawn_blocking(move || push_local(&work, &bare, &branch))
            .await
            .unwrap()
    }
    async fn known_hosts(&self) -> Result<String, String> {
        Ok(format!("{HOST_KEY}\n"))
    }
}

pub struct FluxLab {
    pub sim: KubeSim,
    /// Holds the lab's files until the lab is dropped.
    pub _dir: tempfile::TempDir,
    pub work: PathBuf,
    pub bare: PathBuf,
    pub kubeconfig: PathBuf,
    pub identity_file: PathBuf,
    pub manifest: PathBuf,
    pub cfg: ClusterConfig,
    pub journal: PathBuf,
}

/// What a lab's tree looks like before the first commit (the test's edits).
#[derive(Default)]
pub struct Setup {
    /// `.sops.yaml`'s recipient for `cluster/` differs from the operator's.
    pub foreign_cluster_recipient: bool,
    /// A Kustomization of apps.yaml depends on one that does not exist.
    pub missing_dependency: bool,
    /// Flux's URL and the repository the simulator fetches for it (empty at first; the stage
    /// pushes there), instead of a local bare repository holding the tree.
    pub remote: Option<(String, PathBuf)>,
    /// The env file's text instead of the default one (the ingress stage's tests put the
    /// Cloudflare simulator's tokens in it).
    pub env: Option<String>,
}

pub async fn sim() -> KubeSim {
    let sim = KubeSim::start(SimOptions {
        controllers: Some(Timing::instant(Duration::from_millis(200))),
        ..Default::default()
    })
    .await
    .unwrap();
    for (i, name) in ["k3s-server-1", "k3s-agent-1", "k3s-agent-2"]
        .iter()
        .enumerate()
    {
        sim.upsert_node(NodeSpec {
            name: name.to_string(),
            ip: format!("127.0.0.{}", i + 21),
            server: i == 0,
            ready: true,
            kubelet_version: "v1.33.5+k3s1".into(),
        });
    }
    sim
}

impl FluxLab {
    pub async fn new(setup: Setup) -> FluxLab {
        let sim = sim().await;
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        copy_dir(
            &repo_root().join("cluster/kubernetes"),
            &work.join("cluster/kubernetes"),
        );
        let (identity, recipient) = generate_identity();
        let identity_file = dir.path().join("keys.txt");
        std::fs::write(&identity_file, identity.as_str()).unwrap();
        let sops_yaml = if setup.foreign_cluster_recipient {
            let (_, other) = generate_identity();
            format!(
                "creation_rules:\n  - path_regex: ^config/env/[^/]+\\.env$\n    age: {recipient}\n  - path_regex: ^cluster/.*\\.sops\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {other}\n"
            )
        } else {
            homelab_config(std::slice::from_ref(&recipient))
        };
        std::fs::write(work.join(".sops.yaml"), sops_yaml).unwrap();
        std::fs::create_dir_all(work.join("config/env")).unwrap();
        let env_path = work.join("config/env/fluxlab.env");
        Opened::new_plain(
            &env_path,
            Format::Dotenv,
            setup.env.as_deref().unwrap_or(
                "GRAFANA_ADMIN_USER=admin\nGRAFANA_ADMIN_PASSWORD=pw-1\nCLOUDFLARE_API_TOKEN=cf-1\n\
                 CLOUDFLARE_TUNNEL_TOKEN=tunnel-1\nTAILSCALE_AUTH_KEY=tskey-1\nVSCODE_SERVER_PASSWORD=code-1\n",
            ),
            CryptRule::default(),
            false,
            std::slice::from_ref(&recipient),
        )
        .unwrap()
        .save_as(&env_path)
        .unwrap();
        if setup.missing_dependency {
            let apps = work.join("cluster/kubernetes/flux/apps.yaml");
            let text = std::fs::read_to_string(&apps).unwrap();
            let text = text.replacen(
                "  name: apps-demos\n  namespace: flux-system\nspec:\n  dependsOn:\n",
                "  name: apps-demos\n  namespace: flux-system\nspec:\n  dependsOn:\n    - name: ghost\n",
                1,
            );
            assert!(text.contains("- name: ghost"));
            std::fs::write(apps, text).unwrap();
        }
        let repo = git2::Repository::init_opts(
            &work,
            git2::RepositoryInitOptions::new().initial_head("main"),
        )
        .unwrap();
        {
            let mut c = repo.config().unwrap();
            c.set_str("user.name", "Op Erator").unwrap();
            c.set_str("user.email", "op@example.org").unwrap();
        }
        git_commit_all(&repo, "the tree");
        let (url, bare) = match setup.remote {
            Some((url, bare)) => (url, bare),
            None => {
                let bare = dir.path().join("lab.git");
                git2::Repository::init_opts(
                    &bare,
                    git2::RepositoryInitOptions::new()
                        .bare(true)
                        .initial_head("main"),
                )
                .unwrap();
                push_local(&work, &bare, "main").unwrap();
                (URL.to_string(), bare)
            }
        };
        sim.serve_git(&url, &bare);

        let manifest = dir.path().join("install.yaml");
        std::fs::write(&manifest, install_manifest()).unwrap();
        let pin = manifest::sha256_hex(&std::fs::read(&manifest).unwrap());
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, sim.kubeconfig(&sim.url())).unwrap();
        let mut cfg: ClusterConfig =
            serde_yaml::from_str(include_str!("../../config/clusters/prox-n100.yaml")).unwrap();
        cfg.name = "fluxlab".into();
        cfg.proxmox.endpoint = "https://127.0.0.1:9".into();
        cfg.flux.repo = url;
        cfg.flux.install_sha256 = Some(pin);
        let journal = dir.path().join("journal.jsonl");
        FluxLab {
            sim,
            _dir: dir,
            work,
            bare,
            kubeconfig,
            identity_file,
            manifest,
            cfg,
            journal,
        }
    }

    pub fn options(&self) -> FluxOptions {
        FluxOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: "default".into(),
            manifest: manifest::Source::File(self.manifest.clone()),
            identity_file: self.identity_file.clone(),
            controllers_timeout: Duration::from_secs(60),
            follow: follow::Limits {
                timeout: Duration::from_secs(120),
                grace: Duration::ZERO,
            },
        }
    }

    pub fn stage(&self) -> FluxStage {
        self.stage_with(Arc::new(LocalRemote {
            bare: self.bare.clone(),
        }))
    }

    pub fn stage_with(&self, remote: Arc<dyn GitRemote>) -> FluxStage {
        FluxStage::new(self.work.clone(), self.cfg.clone(), remote, self.options())
    }

    pub fn commits(&self, path: &Path) -> usize {
        let repo = git2::Repository::open(path).unwrap();
        let mut walk = repo.revwalk().unwrap();
        walk.push_ref("refs/heads/main").unwrap();
        walk.count()
    }

    pub fn bare_has(&self, rel: &str) -> bool {
        let repo = git2::Repository::open(&self.bare).unwrap();
        let tree = repo
            .find_reference("refs/heads/main")
            .unwrap()
            .peel_to_tree()
            .unwrap();
        tree.get_path(Path::new(rel)).is_ok()
    }

    /// `Kind ns/name` -> resourceVersion of every object homelab applied.
    pub fn object(&self, api: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let rt = self.sim.store().for_kind(api, kind)?;
        self.sim.store().get(&rt.key(), ns, name).ok()
    }
}

/// Run a stage's plan once, collecting its events (every stage's tests use it).
pub async fn run(
    stage: &dyn homelab::stages::engine::Stage,
    journal: &Path,
) -> (Result<RunSummary, StageError>, Vec<StageEvent>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let collect = tokio::spawn(async move {
        let mut out = vec![];
        while let Some(e) = rx.recv().await {
            out.push(e);
        }
        out
    });
    let run = RunCx::new(tx, Journal::at(journal.to_path_buf()).unwrap())
        .with_confirm(Arc::new(AutoConfirm(true)));
    let plan = stage.plan().await.unwrap();
    let result = stage.apply(&plan, &run).await;
    drop(run);
    (result, collect.await.unwrap())
}

pub fn logs(events: &[StageEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Log { line, .. } => Some(line.clone()),
            _ => None,
        })
        .collect()
}

pub fn failed_step(events: &[StageEvent]) -> Option<(String, StageError)> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::StepFailed { step, error } => Some((step.clone(), error.clone())),
        _ => None,
    })
}

/// The step that failed and its error (panics when none did).
pub fn failed(events: &[StageEvent]) -> (String, StageError) {
    failed_step(events).expect("a step failed")
}

/// The probes' evidence the run reported (its `evidence: ` log lines).
pub fn evidence(events: &[StageEvent]) -> Vec<homelab::stages::probe::Evidence> {
    logs(events)
        .iter()
        .filter_map(|l| homelab::stages::probe::Evidence::parse(l))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_run_installs_commits_pushes_and_follows_then_a_second_run_changes_nothing() {
    let lab = FluxLab::new(Setup::default()).await;
    let stage = lab.stage();
    let before = lab.commits(&lab.work);
    let preflight = stage.preflight().await;
    assert!(
        homelab::stages::engine::preflight_ok(&preflight),
        "{preflight:#?}"
    );
    let (result, events) = run(&stage, &lab.journal).await;
    let summary = result.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", logs(&events)));
    assert!(summary.changed >= 9, "{summary:?}");

    // One commit, pushed, holding the install manifest, the sync objects and the Secrets.
    assert_eq!(lab.commits(&lab.work), before + 1);
    assert_eq!(lab.commits(&lab.bare), before + 1);
    for rel in [
        "cluster/kubernetes/flux/flux-install.yaml",
        "cluster/kubernetes/flux/gotk-sync.yaml",
        "cluster/kubernetes/platform/monitoring/grafana/grafana-admin.sops.yaml",
    ] {
        assert!(lab.bare_has(rel), "{rel} pushed");
    }
    let sync =
        std::fs::read_to_string(lab.work.join("cluster/kubernetes/flux/gotk-sync.yaml")).unwrap();
    assert!(sync.contains(&format!("url: {URL}")), "{sync}");

    // The Secrets the stage applies; the deploy key shown with where to add it.
    let sops_age = lab
        .object("v1", "Secret", "flux-system", "sops-age")
        .unwrap();
    let deploy = lab
        .object("v1", "Secret", "flux-system", "flux-system")
        .unwrap();
    assert!(deploy["data"]["identity"].is_string());
    let lines = logs(&events);
    let key_line = lines
        .iter()
        .find(|l| l.starts_with(flux::DEPLOY_KEY_LINE))
        .expect("the deploy key is shown");
    assert!(key_line.contains("ssh-ed25519 AAAA"), "{key_line}");
    assert!(lines.iter().any(|l| l.starts_with(flux::DEPLOY_KEY_PAGE)));
    // Live rows: the root Kustomization and a HelmRelease, ending Ready.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("row Kustomization flux-system/flux-system: ready")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("row HelmRelease cert-manager/cert-manager: ready")),
        "{lines:#?}"
    );
    let verify = stage.verify().await.unwrap();
    assert!(
        verify
            .iter()
            .all(|c| c.status == homelab::stages::engine::CheckStatus::Pass),
        "{verify:#?}"
    );

    // Again: nothing changes, no commit, the same objects.
    let (again, events) = run(&stage, &lab.journal).await;
    let again = again.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", logs(&events)));
    assert_eq!(again.changed, 0, "{again:?}\n{:#?}", logs(&events));
    assert_eq!(lab.commits(&lab.work), before + 1);
    assert_eq!(lab.commits(&lab.bare), before + 1);
    let rv = |v: &Value| v["metadata"]["resourceVersion"].clone();
    assert_eq!(
        rv(&lab
            .object("v1", "Secret", "flux-system", "sops-age")
            .unwrap()),
        rv(&sops_age)
    );
    assert_eq!(
        lab.object("v1", "Secret", "flux-system", "flux-system")
            .unwrap()["data"],
        deploy["data"],
        "the deploy key is kept"
    );
    let plan = stage.plan().await.unwrap();
    assert_eq!(plan.writes(), 0, "{plan:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_every_step_a_rerun_finishes_with_one_commit_and_one_deploy_key() {
    for (i, step) in flux::STEPS.iter().enumerate() {
        let lab = FluxLab::new(Setup::default()).await;
        let before = lab.commits(&lab.work);
        let stage = Arc::new(lab.stage());
        // Kill: the run is dropped (as a SIGKILL would leave it) once the step has started.
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let cx = RunCx::new(tx, Journal::at(lab.journal.clone()).unwrap())
            .with_confirm(Arc::new(AutoConfirm(true)));
        let plan = stage.plan().await.unwrap();
        let s2 = stage.clone();
        let task = tokio::spawn(async move { s2.apply(&plan, &cx).await });
        let want = step.to_string();
        let mut reached = false;
        while let Some(ev) = rx.recv().await {
            if matches!(&ev.kind, EventKind::StepStarted { step, .. } if *step == want) {
                reached = true;
                break;
            }
        }
        assert!(reached, "step {step} ({i}) started");
        task.abort();
        let _ = task.await;
        let key_after_kill = lab
            .object("v1", "Secret", "flux-system", "flux-system")
            .map(|s| s["data"]["identity.pub"].clone());

        let (result, events) = run(&*stage, &lab.journal).await;
        result.unwrap_or_else(|e| panic!("killed at {step}: {e:?}\n{:#?}", logs(&events)));
        assert_eq!(lab.commits(&lab.work), before + 1, "killed at {step}");
        assert_eq!(lab.commits(&lab.bare), before + 1, "killed at {step}");
        let key = lab
            .object("v1", "Secret", "flux-system", "flux-system")
            .unwrap()["data"]["identity.pub"]
            .clone();
        if let Some(k) = key_after_kill {
            assert_eq!(k, key, "killed at {step}: the deploy key was replaced");
        }
        let (again, events) = run(&*stage, &lab.journal).await;
        let again = again.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", logs(&events)));
        assert_eq!(again.changed, 0, "killed at {step}: {again:?}");
    }
}

/// Run a lab with `fault` (or its setup) and return the failed step and error.
async fn diagnosed(setup: Setup, fault: Option<Fault>) -> (String, StageError, Vec<StageEvent>) {
    let lab = FluxLab::new(setup).await;
    if let Some(f) = fault {
        lab.sim.inject(f);
    }
    let (result, events) = run(&lab.stage(), &lab.journal).await;
    let err = result.expect_err("the run fails");
    let (step, step_err) = failed_step(&events).expect("a step failed");
    assert_eq!(err, step_err);
    (step, err, events)
}

/// The printed form `homelab bootstrap --yes` writes for the failed step carries it too.
fn printed(events: &[StageEvent]) -> String {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::StepFailed { .. } | EventKind::Log { .. }))
        .map(homelab::stages::printer::line)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitrepository_that_cannot_authenticate_is_the_root_cause_with_the_deploy_key_to_add() {
    let (step, err, events) = diagnosed(
        Setup::default(),
        Some(Fault::GitAuth {
            namespace: "flux-system".into(),
            name: "flux-system".into(),
        }),
    )
    .await;
    assert_eq!(step, flux::STEP_FOLLOW);
    assert!(
        err.message.contains(
            "root cause: GitRepository flux-system/flux-system: failed GitOperationFailed"
        ),
        "{err:?}"
    );
    assert!(err.message.contains("unable to authenticate"), "{err:?}");
    assert!(
        err.message
            .contains("waiting on it: Kustomization flux-system/flux-system"),
        "{err:?}"
    );
    assert!(err.message.contains("event: Warning"), "{err:?}");
    assert!(
        err.hint.as_deref().unwrap().contains("add the deploy key"),
        "{err:?}"
    );
    let out = printed(&events);
    assert!(out.contains("[cluster/follow] FAILED: Flux reports a failure: root cause: GitRepository flux-system/flux-system"), "{out}");
    assert!(
        out.contains("fix: source-controller cannot log in"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decryption_failure_names_the_kustomization_and_sops_words() {
    let (step, err, _) = diagnosed(
        Setup::default(),
        Some(Fault::SopsDecryption {
            namespace: "flux-system".into(),
            name: "grafana".into(),
        }),
    )
    .await;
    assert_eq!(step, flux::STEP_FOLLOW);
    assert!(
        err.message.contains(
            "root cause: Kustomization flux-system/grafana: failed BuildFailed: decryption failed"
        ),
        "{err:?}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap()
            .contains("sops-age cannot decrypt"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_install_failure_names_the_release_with_helms_messages() {
    let (step, err, _) = diagnosed(
        Setup::default(),
        Some(Fault::HelmInstall {
            namespace: "cert-manager".into(),
            name: "cert-manager".into(),
        }),
    )
    .await;
    assert_eq!(step, flux::STEP_FOLLOW);
    assert!(
        err.message.contains("root cause: HelmRelease cert-manager/cert-manager: failed InstallFailed: Helm install failed for release cert-manager/cert-manager"),
        "{err:?}"
    );
    assert!(
        err.message.contains("helm: Released=False InstallFailed"),
        "{err:?}"
    );
    assert!(err.message.contains("helm: release v1 failed"), "{err:?}");
    assert!(
        err.message.contains("event: Warning InstallFailed"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dependency_is_named_with_the_object_that_waits_for_it() {
    let (step, err, _) = diagnosed(
        Setup {
            missing_dependency: true,
            ..Default::default()
        },
        None,
    )
    .await;
    assert_eq!(step, flux::STEP_FOLLOW);
    assert!(
        err.message.contains("root cause: Kustomization flux-system/apps-demos: failed DependencyNotFound: Kustomization flux-system/apps-demos waits for Kustomization flux-system/ghost, which does not exist"),
        "{err:?}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap()
            .contains("remove it from the dependsOn"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lockout_guard_stops_a_wrong_recipient_before_anything_is_committed() {
    let lab = FluxLab::new(Setup {
        foreign_cluster_recipient: true,
        ..Default::default()
    })
    .await;
    let stage = lab.stage();
    let before = lab.commits(&lab.work);
    let preflight = stage.preflight().await;
    let guard = preflight.iter().find(|c| c.id == "lockout").unwrap();
    assert_eq!(
        guard.status,
        homelab::stages::engine::CheckStatus::Fail,
        "{guard:?}"
    );
    let (result, events) = run(&stage, &lab.journal).await;
    let err = result.unwrap_err();
    let (step, _) = failed_step(&events).unwrap();
    assert_eq!(step, flux::STEP_LOCKOUT);
    assert!(
        err.message
            .starts_with("lock-out guard: cluster/kubernetes/"),
        "{err:?}"
    );
    assert!(
        err.message
            .contains("the cluster's sops-age key cannot decrypt it"),
        "{err:?}"
    );
    assert_eq!(lab.commits(&lab.work), before, "nothing committed");
    assert!(
        lab.object("v1", "Secret", "flux-system", "sops-age")
            .is_none()
    );
}
