//! The Flux stage: Flux installed from the pinned release, pointed at this repository, with
//! SOPS + age decryption, the cluster's Secrets rendered into the tree, committed and pushed,
//! then every Kustomization and HelmRelease followed to Ready (or to its root cause).
//!
//! Steps, in order (each journalled by the engine; each `check` observes whether its effect
//! already holds, so a killed run finishes on the next one with no duplicate commit or object,
//! and a second run changes nothing):
//!
//! | step | what | holds when |
//! |---|---|---|
//! | `repo/flux-install` | `<flux.path>/flux-install.yaml` = the release's install.yaml (pinned by `flux.version` + `flux.install_sha256`; `--flux-manifest FILE` or the release URL) | the file has those bytes |
//! | `repo/gotk-sync` | `<flux.path>/gotk-sync.yaml` from `flux.repo`, `flux.branch`, `flux.path` ([`sync`]) | same text |
//! | `repo/secrets` | the tree's `*.sops.yaml` Secrets from the env file (`secrets::cluster_secrets`) | nothing to write |
//! | `repo/lockout` | lock-out guard: every `cluster/**/*.sops.*` decrypts with the identity `sops-age` gets | verify only |
//! | `git/commit` | the diff shown (and confirmed), then one commit of those paths (git2, author from git config) | no diff |
//! | `git/push` | push `flux.branch` to `flux.repo` ([`remote`]) | the remote branch is at the local commit |
//! | `cluster/install` | server-side apply of flux-install.yaml, then its Deployments Available | dry run changes nothing |
//! | `cluster/sops-age` | Secret `flux-system/sops-age` (`age.agekey`) from the operator's age identity | dry run changes nothing |
//! | `cluster/lockout` | the in-cluster `sops-age` recipients hold one of `.sops.yaml`'s | verify only |
//! | `cluster/deploy-key` | an ed25519 deploy key and the git host's known_hosts in Secret `flux-system/flux-system`; its public line is shown with where to add it | the Secret exists |
//! | `cluster/sync` | server-side apply of gotk-sync.yaml | dry run changes nothing |
//! | `cluster/follow` | watch every GitRepository, Kustomization and HelmRelease to Ready ([`follow`]); on failure or timeout the root cause ([`diagnose`]) | all Ready |
//!
//! Size: about 1030 lines. The pieces that stand alone already have their modules (manifest,
//! sync objects, remote, cluster reads, follow, diagnosis); what stays is the twelve steps'
//! plan, check, execute and verify, which share the stage's state and read best side by side.

pub mod cluster;
pub mod diagnose;
pub mod follow;
pub mod manifest;
pub mod remote;
pub mod sync;

use crate::config::ClusterConfig;
use crate::secrets::cluster_secrets::{self, Outcome as SecretOutcome, RENDERED};
use crate::secrets::deploy_key::{self, DeployKey, FLUX_SYSTEM};
use crate::secrets::keys::{Identities, identities_from_text};
use crate::secrets::lockout::{self, AGE_KEY, SOPS_AGE};
use crate::secrets::rules::SopsConfig;
use crate::secrets::{EncryptedFile, Opened};
use crate::stages::engine::{
    Check, Holds, Intent, Plan, Prompt, Stage, StageError, StageId, StageResult, Step, StepCx, Unit,
};
use async_trait::async_trait;
use remote::GitRemote;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

pub const STEP_INSTALL_FILE: &str = "repo/flux-install";
pub const STEP_SYNC_FILE: &str = "repo/gotk-sync";
pub const STEP_SECRETS: &str = "repo/secrets";
pub const STEP_LOCKOUT: &str = "repo/lockout";
pub const STEP_COMMIT: &str = "git/commit";
pub const STEP_PUSH: &str = "git/push";
pub const STEP_INSTALL: &str = "cluster/install";
pub const STEP_SOPS_AGE: &str = "cluster/sops-age";
pub const STEP_CLUSTER_LOCKOUT: &str = "cluster/lockout";
pub const STEP_DEPLOY_KEY: &str = "cluster/deploy-key";
pub const STEP_SYNC: &str = "cluster/sync";
pub const STEP_FOLLOW: &str = "cluster/follow";

/// Every step, in order.
pub const STEPS: [&str; 12] = [
    STEP_INSTALL_FILE,
    STEP_SYNC_FILE,
    STEP_SECRETS,
    STEP_LOCKOUT,
    STEP_COMMIT,
    STEP_PUSH,
    STEP_INSTALL,
    STEP_SOPS_AGE,
    STEP_CLUSTER_LOCKOUT,
    STEP_DEPLOY_KEY,
    STEP_SYNC,
    STEP_FOLLOW,
];

/// Log lines starting with this carry the deploy key's public line (the wizard shows it with
/// its copy action); `DEPLOY_KEY_PAGE` the place to add it.
pub const DEPLOY_KEY_LINE: &str = "deploy key: ";
pub const DEPLOY_KEY_PAGE: &str = "add it at: ";

/// Diff lines shown before committing (the rest is counted).
const DIFF_LINES: usize = 400;

/// Where the stage reads and how long it waits.
#[derive(Debug, Clone)]
pub struct FluxOptions {
    /// The operator's kubeconfig and the cluster's context in it (the k3s stage merged it).
    pub kubeconfig: PathBuf,
    pub context: String,
    pub manifest: manifest::Source,
    /// The operator's age identity file: it becomes `sops-age`.
    pub identity_file: PathBuf,
    /// How long the install's Deployments may take to become Available.
    pub controllers_timeout: Duration,
    pub follow: follow::Limits,
}

impl FluxOptions {
    /// `$KUBECONFIG` (first entry) or `~/.kube/config`, context = the cluster's name; 5 min for
    /// the controllers, 15 min for everything to become Ready, 3 min of grace for a failure
    /// (time to add the deploy key).
    pub fn from_process(
        cfg: &ClusterConfig,
        identity_file: PathBuf,
        manifest: manifest::Source,
    ) -> Self {
        let kubeconfig = std::env::var_os("KUBECONFIG")
            .and_then(|v| std::env::split_paths(&v).next())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")))
            .unwrap_or_else(|| PathBuf::from(".kube/config"));
        FluxOptions {
            kubeconfig,
            context: cfg.name.clone(),
            manifest,
            identity_file,
            controllers_timeout: Duration::from_secs(300),
            follow: follow::Limits {
                timeout: Duration::from_secs(900),
                grace: Duration::from_secs(180),
            },
        }
    }
}

pub struct FluxStage {
    repo: PathBuf,
    cfg: ClusterConfig,
    remote: Arc<dyn GitRemote>,
    opts: FluxOptions,
}

fn io_err(what: &Path, e: impl std::fmt::Display) -> StageError {
    StageError::new(format!("{}: {e}", what.display()))
}

impl FluxStage {
    pub fn new(
        repo: PathBuf,
        cfg: ClusterConfig,
        remote: Arc<dyn GitRemote>,
        opts: FluxOptions,
    ) -> Self {
        FluxStage {
            repo,
            cfg,
            remote,
            opts,
        }
    }

    fn flux_dir(&self) -> String {
        self.cfg
            .flux
            .path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string()
    }

    fn rel_install(&self) -> String {
        format!("{}/{}", self.flux_dir(), sync::INSTALL_FILE)
    }

    fn rel_sync(&self) -> String {
        format!("{}/{}", self.flux_dir(), sync::FILE)
    }

    /// Every path the stage writes (what it commits).
    pub fn paths(&self) -> Vec<String> {
        let mut out = vec![self.rel_install(), self.rel_sync()];
        for s in RENDERED {
            out.push(s.rel_path());
            out.push(format!("{}/kustomization.yaml", s.dir));
        }
        out
    }

    fn commit_message(&self) -> String {
        format!(
            "flux: install Flux {}, sync {} from {}, the cluster's Secrets",
            self.cfg.flux.version, self.cfg.flux.branch, self.cfg.flux.path
        )
    }

    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> StageResult<T> + Send + 'static,
    ) -> StageResult<T> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| StageError::new(format!("a background task stopped: {e}")))?
    }

    async fn client(&self) -> StageResult<kube::Client> {
        cluster::connect(&self.opts.kubeconfig, &self.opts.context).await
    }

    /// The operator's age identity text (what `sops-age` holds).
    fn identity_text(&self) -> StageResult<Zeroizing<String>> {
        let path = &self.opts.identity_file;
        let text = std::fs::read_to_string(path).map_err(|e| {
            io_err(path, e).with_hint(
                "run the secrets stage first (it creates the age identity), or point \
                 SOPS_AGE_KEY_FILE at it",
            )
        })?;
        Ok(Zeroizing::new(text))
    }

    fn identities(&self) -> StageResult<Identities> {
        let text = self.identity_text()?;
        let ids = identities_from_text(&text, &self.opts.identity_file.display().to_string());
        if ids.is_empty() {
            return Err(StageError::new(format!(
                "{}: holds no {}... line",
                self.opts.identity_file.display(),
                crate::secrets::keys::AGE_SECRET_PREFIX
            )));
        }
        Ok(ids)
    }

    fn sops_config(&self) -> StageResult<SopsConfig> {
        let path = self.repo.join(".sops.yaml");
        SopsConfig::load(&path).map_err(|e| {
            io_err(&path, e).with_hint("run the secrets stage first (it writes .sops.yaml)")
        })
    }

    fn env(&self) -> StageResult<(Opened, String)> {
        let file = crate::config::env_file(&self.repo, &self.cfg.name);
        let shown = file
            .strip_prefix(&self.repo)
            .unwrap_or(&file)
            .display()
            .to_string();
        let opened = EncryptedFile::open_verified(&file, &self.identities()?)
            .map_err(|e| io_err(&file, e).with_hint("run the secrets stage first"))?;
        Ok((opened, shown))
    }

    /// The install manifest in the tree, checked against the pin.
    fn installed_manifest(&self) -> StageResult<String> {
        let path = self.repo.join(self.rel_install());
        let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
        let pin = self
            .cfg
            .flux
            .install_sha256
            .as_deref()
            .ok_or_else(|| manifest::unpinned(&self.cfg.flux.version))?;
        manifest::verify(&bytes, pin, &self.rel_install(), &self.cfg.flux.version)?;
        String::from_utf8(bytes).map_err(|_| io_err(&path, "not UTF-8 text"))
    }

    fn sync_text(&self) -> String {
        sync::render(&self.cfg.flux)
    }

    fn local_head(&self) -> StageResult<String> {
        let repo =
            git2::Repository::open(&self.repo).map_err(|e| io_err(&self.repo, e.message()))?;
        let refname = format!("refs/heads/{}", self.cfg.flux.branch);
        repo.refname_to_id(&refname)
            .map(|o| o.to_string())
            .map_err(|e| io_err(&self.repo, format!("{refname}: {}", e.message())))
    }

    /// Whether `id`'s effect holds (shared by `check` and `plan`).
    async fn holds(&self, id: &str) -> StageResult<Holds> {
        match id {
            STEP_INSTALL_FILE => {
                let want = self
                    .opts
                    .manifest
                    .fetch(
                        &self.cfg.flux.version,
                        self.cfg.flux.install_sha256.as_deref(),
                    )
                    .await?;
                let path = self.repo.join(self.rel_install());
                Ok(match std::fs::read(&path) {
                    Ok(have) if have == want => Holds::Yes(format!(
                        "{} is Flux {}",
                        self.rel_install(),
                        self.cfg.flux.version
                    )),
                    Ok(_) => Holds::No(format!(
                        "{} differs from the pinned release",
                        self.rel_install()
                    )),
                    Err(_) => Holds::No(format!("{} does not exist", self.rel_install())),
                })
            }
            STEP_SYNC_FILE => {
                let path = self.repo.join(self.rel_sync());
                Ok(match std::fs::read_to_string(&path) {
                    Ok(have) if have == self.sync_text() => Holds::Yes(format!(
                        "{} points at {}",
                        self.rel_sync(),
                        self.cfg.flux.repo
                    )),
                    Ok(_) => Holds::No(format!("{} differs from the definition", self.rel_sync())),
                    Err(_) => Holds::No(format!("{} does not exist", self.rel_sync())),
                })
            }
            STEP_SECRETS => {
                let (env, shown) = self.env()?;
                let config = self.sops_config()?;
                let ids = self.identities()?;
                let root = self.repo.clone();
                let pending = Self::blocking(move || {
                    cluster_secrets::pending(&root, &env, &shown, &config, &ids)
                        .map_err(StageError::new)
                })
                .await?;
                let todo: Vec<String> = pending
                    .iter()
                    .filter(|r| r.outcome == SecretOutcome::Written || r.listed)
                    .map(|r| r.file.clone())
                    .collect();
                Ok(if todo.is_empty() {
                    Holds::Yes(format!("{} Secrets are current", pending.len()))
                } else {
                    Holds::No(format!("to write: {}", todo.join(", ")))
                })
            }
            STEP_LOCKOUT => {
                let identity = self.identity_text()?;
                let root = self.repo.clone();
                Self::blocking(move || {
                    let files = lockout::sops_files(&root).map_err(|e| io_err(&root, e))?;
                    let mut texts = Vec::new();
                    for rel in &files {
                        let text =
                            std::fs::read_to_string(root.join(rel)).map_err(|e| io_err(rel, e))?;
                        texts.push((rel.display().to_string(), text));
                    }
                    lockout::before_commit(&texts, &identity).map_err(|problems| {
                        StageError::new(format!(
                            "lock-out guard: {}",
                            problems
                                .iter()
                                .map(|p| p.to_string())
                                .collect::<Vec<_>>()
                                .join("; ")
                        ))
                        .with_hint(
                            "nothing was committed; fix the recipients, then run the stage again",
                        )
                    })?;
                    Ok(Holds::Yes(format!(
                        "the sops-age identity decrypts all {} encrypted files",
                        texts.len()
                    )))
                })
                .await
            }
            STEP_COMMIT => {
                let repo = self.repo.clone();
                let paths = self.paths();
                let diff = Self::blocking(move || {
                    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
                    crate::backends::git_push::diff_text(&repo, &refs)
                        .map_err(|e| StageError::new(e.to_string()))
                })
                .await?;
                Ok(if diff.is_empty() {
                    Holds::Yes("nothing to commit".into())
                } else {
                    Holds::No(format!(
                        "{} changed lines to commit",
                        diff.lines().filter(|l| l.starts_with(['+', '-'])).count()
                    ))
                })
            }
            STEP_PUSH => {
                let local = self.local_head()?;
                let remote = self
                    .remote
                    .head(&self.repo, &self.cfg.flux.branch)
                    .await
                    .map_err(StageError::new)?;
                Ok(if remote.as_deref() == Some(local.as_str()) {
                    Holds::Yes(format!(
                        "{} is at {} on {}",
                        self.cfg.flux.branch,
                        short(&local),
                        self.remote.url()
                    ))
                } else {
                    Holds::No(format!(
                        "{} on the remote is at {}, here at {}",
                        self.cfg.flux.branch,
                        remote.as_deref().map(short).unwrap_or("nothing"),
                        short(&local)
                    ))
                })
            }
            STEP_INSTALL => {
                let text = self.installed_manifest()?;
                cluster::holds(&self.client().await?, "flux-install.yaml", &text).await
            }
            STEP_SOPS_AGE => {
                let text =
                    lockout::sops_age_secret(&self.identity_text()?).map_err(StageError::new)?;
                cluster::holds(&self.client().await?, "Secret flux-system/sops-age", &text).await
            }
            STEP_CLUSTER_LOCKOUT => {
                let client = self.client().await?;
                let key = cluster::secret_value(&client, FLUX_SYSTEM, SOPS_AGE, AGE_KEY)
                    .await?
                    .unwrap_or_default();
                lockout::after_apply(&key, &self.sops_config()?).map_err(|e| {
                    StageError::new(format!("lock-out guard: {e}"))
                        .with_hint("the cluster cannot decrypt the tree; fix it before Flux syncs")
                })?;
                Ok(Holds::Yes(
                    "the cluster's sops-age holds a recipient of .sops.yaml".into(),
                ))
            }
            STEP_DEPLOY_KEY => {
                let client = self.client().await?;
                let public =
                    cluster::secret_value(&client, FLUX_SYSTEM, FLUX_SYSTEM, "identity.pub")
                        .await?;
                let identity =
                    cluster::secret_value(&client, FLUX_SYSTEM, FLUX_SYSTEM, "identity").await?;
                Ok(match (public, identity) {
                    (Some(p), Some(_)) => Holds::Yes(format!("{DEPLOY_KEY_LINE}{}", p.trim())),
                    _ => Holds::No("Secret flux-system/flux-system holds no deploy key".into()),
                })
            }
            STEP_SYNC => {
                cluster::holds(&self.client().await?, "gotk-sync.yaml", &self.sync_text()).await
            }
            STEP_FOLLOW => {
                let client = self.client().await?;
                let objects = snapshot(&client).await?;
                Ok(match diagnose::root_cause(&objects) {
                    None if !objects.is_empty() => {
                        Holds::Yes(format!("{} Flux objects are Ready", objects.len()))
                    }
                    None => Holds::No("no Flux objects yet".into()),
                    Some(c) => Holds::No(format!(
                        "{}: {} {}",
                        diagnose::label(&c.key),
                        c.reason,
                        c.message
                    )),
                })
            }
            other => Err(StageError::new(format!("flux: unknown step {other}"))),
        }
    }

    /// Every step as the plan lists it (files, git operations, objects), before the observed
    /// state decides each intent.
    pub fn steps(&self) -> Vec<Step> {
        STEPS.iter().map(|id| self.step(id)).collect()
    }

    fn step(&self, id: &str) -> Step {
        let dir = self.flux_dir();
        let f = &self.cfg.flux;
        match id {
            STEP_INSTALL_FILE => Step::new(id, "repository", Intent::Create, format!("Write the Flux {} install manifest", f.version))
                .call(format!("read {}", self.opts.manifest.describe(&f.version)))
                .call(format!(
                    "check SHA-256 = {}",
                    f.install_sha256.as_deref().unwrap_or("(flux.install_sha256 is not set)")
                ))
                .call(format!("write {dir}/{}", sync::INSTALL_FILE)),
            STEP_SYNC_FILE => Step::new(id, "repository", Intent::Create, "Write the sync objects")
                .call(format!(
                    "write {dir}/{}: GitRepository flux-system/flux-system (url {}, branch {}, secretRef flux-system)",
                    sync::FILE, f.repo, f.branch
                ))
                .call(format!(
                    "  Kustomization flux-system/flux-system (path ./{dir}, prune, decryption sops via Secret sops-age)"
                )),
            STEP_SECRETS => {
                let mut s = Step::new(id, "repository", Intent::Create, "Render the cluster's Secrets from the env file");
                for r in RENDERED {
                    let keys: Vec<&str> = r.keys.iter().map(|(k, _)| *k).collect();
                    s = s.call(format!(
                        "write {} (Secret {}/{}: {}{}), list it in {}/kustomization.yaml",
                        r.rel_path(),
                        r.namespace,
                        r.name,
                        keys.join(", "),
                        if r.optional { "; skipped when empty" } else { "" },
                        r.dir
                    ));
                }
                s.with_note("encrypted to the recipients of .sops.yaml; unchanged files are left alone")
            }
            STEP_LOCKOUT => Step::new(id, "repository", Intent::Verify, "Lock-out guard before committing")
                .call("decrypt every cluster/**/*.sops.* with the age identity sops-age will hold"),
            STEP_COMMIT => Step::new(id, "git", Intent::Create, "Commit (the diff is shown first)")
                .call(format!("git add {}", self.paths().join(" ")))
                .call(format!("git commit -m {:?}", self.commit_message())),
            STEP_PUSH => Step::new(id, "git", Intent::Create, "Push")
                .call(format!("git push {} refs/heads/{b}:refs/heads/{b}", self.remote.url(), b = f.branch)),
            STEP_INSTALL => Step::new(id, "cluster", Intent::Create, "Install Flux")
                .call(format!("server-side apply {dir}/{} as homelab", sync::INSTALL_FILE))
                .call("wait for its Deployments (source-, kustomize-, helm-, notification-controller) to be Available"),
            STEP_SOPS_AGE => Step::new(id, "cluster", Intent::Create, "Apply the age key")
                .call(format!("server-side apply Secret flux-system/{SOPS_AGE} ({AGE_KEY}: the operator's age identity)")),
            STEP_CLUSTER_LOCKOUT => Step::new(id, "cluster", Intent::Verify, "Lock-out guard after applying")
                .call(format!("read Secret flux-system/{SOPS_AGE}; its recipient must be one of .sops.yaml's")),
            STEP_DEPLOY_KEY => Step::new(id, "cluster", Intent::Create, "Deploy key")
                .call("generate an ed25519 key (in memory only)")
                .call("server-side apply Secret flux-system/flux-system (identity, identity.pub, known_hosts of the git host)")
                .call(format!("show identity.pub; add it at {}", remote::deploy_key_page(&f.repo))),
            STEP_SYNC => Step::new(id, "cluster", Intent::Create, "Apply the sync objects")
                .call(format!("server-side apply {dir}/{}", sync::FILE)),
            _ => Step::new(STEP_FOLLOW, "cluster", Intent::Wait, "Follow every Kustomization and HelmRelease to Ready")
                .call("watch GitRepositories, Kustomizations and HelmReleases")
                .call(format!(
                    "give up after {}s, or {}s after an object fails; then show the root cause",
                    self.opts.follow.timeout.as_secs(),
                    self.opts.follow.grace.as_secs()
                )),
        }
    }

    async fn commit(&self, cx: &StepCx) -> StageResult<()> {
        let repo = self.repo.clone();
        let paths = self.paths();
        let diff = Self::blocking(move || {
            let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
            crate::backends::git_push::diff_text(&repo, &refs)
                .map_err(|e| StageError::new(e.to_string()))
        })
        .await?;
        let lines: Vec<&str> = diff.lines().collect();
        for l in lines.iter().take(DIFF_LINES) {
            cx.log(format!("diff {l}")).await;
        }
        if lines.len() > DIFF_LINES {
            cx.log(format!(
                "diff … {} more lines (`git diff` shows them)",
                lines.len() - DIFF_LINES
            ))
            .await;
        }
        let files: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("+++ b/"))
            .collect();
        let prompt = Prompt {
            title: format!(
                "Commit {} file(s) to {}?",
                files.len(),
                self.cfg.flux.branch
            ),
            detail: format!("{}\n\n{}", self.commit_message(), files.join("\n")),
            type_to_confirm: None,
        };
        if !cx.confirm(&prompt).await {
            return Err(
                StageError::new("the commit was declined; nothing was committed")
                    .with_hint("review the diff (`git diff`), then run the stage again"),
            );
        }
        let repo = self.repo.clone();
        let paths = self.paths();
        let message = self.commit_message();
        let oid = Self::blocking(move || {
            let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
            crate::backends::git_push::commit(&repo, &refs, &message)
                .map_err(|e| StageError::new(e.to_string()))
        })
        .await?;
        match oid {
            Some(oid) => {
                cx.note("commit", &oid.to_string())?;
                cx.log(format!("committed {}", short(&oid.to_string())))
                    .await;
            }
            None => cx.log("nothing to commit").await,
        }
        Ok(())
    }

    async fn deploy_key(&self, cx: &StepCx) -> StageResult<()> {
        let known_hosts = self.remote.known_hosts().await.map_err(StageError::new)?;
        let key = DeployKey::generate(&format!("flux@{}", self.cfg.name));
        let text = deploy_key::flux_system_secret(&key, &known_hosts).map_err(StageError::new)?;
        let client = self.client().await?;
        for line in cluster::apply_text(&client, "Secret flux-system/flux-system", &text).await? {
            cx.log(line).await;
        }
        cx.note("fingerprint", &key.fingerprint())?;
        cx.log(format!("{DEPLOY_KEY_LINE}{}", key.public_line()))
            .await;
        cx.log(format!(
            "{DEPLOY_KEY_PAGE}{}",
            remote::deploy_key_page(&self.cfg.flux.repo)
        ))
        .await;
        Ok(())
    }

    async fn follow(&self, cx: &StepCx) -> StageResult<()> {
        let client = self.client().await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Line>();
        let page = remote::deploy_key_page(&self.cfg.flux.repo);
        let limits = self.opts.follow;
        let tx2 = tx.clone();
        let run = async move {
            let mut on_line = |l: String| {
                let _ = tx.send(Line::Log(l));
            };
            let mut on_ready = |done: u64, total: u64| {
                let _ = tx2.send(Line::Ready(done, total));
            };
            follow::follow(&client, limits, Some(page), &mut on_line, &mut on_ready).await
        };
        tokio::pin!(run);
        let ended = loop {
            tokio::select! {
                ended = &mut run => break ended,
                Some(line) = rx.recv() => match line {
                    Line::Log(l) => cx.log(l).await,
                    Line::Ready(d, t) => cx.progress(d, Some(t), Unit::Items).await,
                },
                () = cancelled(cx) => return Err(StageError::cancelled()),
            }
        };
        // What the follow sent as it ended: its last rows and its last count (38/39 would
        // otherwise stay on screen after "all 39 Flux objects are Ready").
        while let Ok(line) = rx.try_recv() {
            match line {
                Line::Log(l) => cx.log(l).await,
                Line::Ready(d, t) => cx.progress(d, Some(t), Unit::Items).await,
            }
        }
        match ended {
            follow::Ended::Ready(n) => {
                cx.log(format!("all {n} Flux objects are Ready")).await;
                Ok(())
            }
            follow::Ended::Diagnosed(d) => {
                for l in d.lines() {
                    cx.log(l).await;
                }
                Err(StageError::new(d.message()).with_hint(d.fix.clone()))
            }
        }
    }
}

enum Line {
    Log(String),
    Ready(u64, u64),
}

/// Resolves when the run is cancelled.
async fn cancelled(cx: &StepCx) {
    while !cx.is_cancelled() {
        if cx.sleep(Duration::from_secs(3600)).await.is_err() {
            return;
        }
    }
}

fn short(oid: &str) -> &str {
    oid.get(..12).unwrap_or(oid)
}

/// Every followed Flux object, listed once (verify, the follow step's check, the storage
/// stage's diagnosis and the ingress stage's HelmRelease readiness).
pub async fn snapshot(
    client: &kube::Client,
) -> StageResult<std::collections::BTreeMap<diagnose::Key, serde_json::Value>> {
    use kube::api::{Api, ApiResource, DynamicObject, ListParams};
    use kube::core::GroupVersionKind;
    let mut out = std::collections::BTreeMap::new();
    for (kind, group, version) in follow::KINDS {
        let res = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &res);
        let list = match api.list(&ListParams::default()).await {
            Ok(l) => l,
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(StageError::new(format!("listing {kind}s: {e}"))),
        };
        for o in list.items {
            let mut v = serde_json::to_value(o).unwrap_or_default();
            v["kind"] = serde_json::Value::String(kind.into());
            v["apiVersion"] = serde_json::Value::String(res.api_version.clone());
            out.insert(diagnose::key_of(&v), v);
        }
    }
    Ok(out)
}

#[async_trait]
impl Stage for FluxStage {
    fn id(&self) -> StageId {
        StageId::Flux
    }

    async fn plan(&self) -> StageResult<Plan> {
        let mut plan = Plan::new(StageId::Flux);
        for id in STEPS {
            let mut step = self.step(id);
            if step.intent == Intent::Create {
                match self.holds(id).await {
                    Ok(Holds::Yes(d)) => {
                        step.intent = Intent::Verify;
                        step.note = Some(d);
                    }
                    Ok(Holds::No(d) | Holds::Drift(d)) => step.note = Some(d),
                    Err(e) => step.note = Some(format!("not known yet: {}", e.message)),
                }
            }
            plan.steps.push(step);
        }
        plan.notes.push(format!(
            "Flux {} from {}; the cluster through context {} of {}",
            self.cfg.flux.version,
            self.opts.manifest.describe(&self.cfg.flux.version),
            self.opts.context,
            self.opts.kubeconfig.display()
        ));
        Ok(plan)
    }

    async fn preflight(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        checks.push(match &self.cfg.flux.install_sha256 {
            Some(pin) if pin.len() == 64 && pin.chars().all(|c| c.is_ascii_hexdigit()) => {
                Check::pass(
                    "manifest/pin",
                    "Install manifest pinned",
                    format!("Flux {} sha256 {pin}", self.cfg.flux.version),
                )
            }
            _ => {
                let e = manifest::unpinned(&self.cfg.flux.version);
                Check::fail(
                    "manifest/pin",
                    "Install manifest pinned",
                    e.message,
                    e.hint.unwrap_or_default(),
                )
            }
        });
        checks.push(cluster::reachable(&self.opts.kubeconfig, &self.opts.context).await);
        checks.push(match self.local_head() {
            Ok(head) => Check::pass(
                "git/branch",
                "Branch to push",
                format!("{} at {}", self.cfg.flux.branch, short(&head)),
            ),
            Err(e) => Check::fail(
                "git/branch",
                "Branch to push",
                e.message,
                format!(
                    "create or check out branch {} (flux.branch)",
                    self.cfg.flux.branch
                ),
            ),
        });
        checks.push(
            match self.remote.head(&self.repo, &self.cfg.flux.branch).await {
                Ok(h) => Check::pass(
                    "git/remote",
                    "Git remote reachable",
                    format!(
                        "{}: {} at {}",
                        self.remote.url(),
                        self.cfg.flux.branch,
                        h.as_deref().map(short).unwrap_or("(no branch yet)")
                    ),
                ),
                Err(e) => Check::fail(
                    "git/remote",
                    "Git remote reachable",
                    e,
                    "check flux.repo, the SSH key or agent, and that this key may push",
                ),
            },
        );
        let identity = self.identities();
        checks.push(match &identity {
            Ok(ids) => Check::pass(
                "age/identity",
                "Age identity",
                format!(
                    "{}: {}",
                    self.opts.identity_file.display(),
                    ids.recipients().join(", ")
                ),
            ),
            Err(e) => Check::fail(
                "age/identity",
                "Age identity",
                e.message.clone(),
                e.hint.clone().unwrap_or_default(),
            ),
        });
        if identity.is_ok() {
            checks.push(match (self.identity_text(), self.sops_config()) {
                (Ok(text), Ok(config)) => match lockout::after_apply(&text, &config) {
                    Ok(()) => Check::pass("lockout", "Lock-out guard", "the age identity is a recipient of .sops.yaml's rule for cluster/"),
                    Err(e) => Check::fail("lockout", "Lock-out guard", e.to_string(), "use the age identity of a .sops.yaml recipient (SOPS_AGE_KEY_FILE), or add its recipient to .sops.yaml"),
                },
                (_, Err(e)) | (Err(e), _) => Check::fail("lockout", "Lock-out guard", e.message, e.hint.unwrap_or_default()),
            });
        }
        checks
    }

    async fn check(&self, step: &Step, cx: &StepCx) -> StageResult<Holds> {
        let holds = self.holds(&step.id).await?;
        if let (STEP_DEPLOY_KEY, Holds::Yes(line)) = (step.id.as_str(), &holds) {
            cx.log(line.clone()).await;
            cx.log(format!(
                "{DEPLOY_KEY_PAGE}{}",
                remote::deploy_key_page(&self.cfg.flux.repo)
            ))
            .await;
        }
        Ok(holds)
    }

    async fn execute(&self, step: &Step, cx: &StepCx) -> StageResult<()> {
        match step.id.as_str() {
            STEP_INSTALL_FILE => {
                let bytes = self
                    .opts
                    .manifest
                    .fetch(
                        &self.cfg.flux.version,
                        self.cfg.flux.install_sha256.as_deref(),
                    )
                    .await?;
                let path = self.repo.join(self.rel_install());
                write_file(&path, &bytes)?;
                cx.log(format!(
                    "wrote {} ({} bytes)",
                    self.rel_install(),
                    bytes.len()
                ))
                .await;
                Ok(())
            }
            STEP_SYNC_FILE => {
                let path = self.repo.join(self.rel_sync());
                write_file(&path, self.sync_text().as_bytes())?;
                cx.log(format!("wrote {}", self.rel_sync())).await;
                Ok(())
            }
            STEP_SECRETS => {
                let (env, shown) = self.env()?;
                let config = self.sops_config()?;
                let ids = self.identities()?;
                let root = self.repo.clone();
                let reports = Self::blocking(move || {
                    cluster_secrets::render_all(&root, &env, &shown, &config, &ids)
                        .map_err(StageError::new)
                })
                .await?;
                for r in reports {
                    let what = match r.outcome {
                        SecretOutcome::Written => "written".to_string(),
                        SecretOutcome::Unchanged => "unchanged".to_string(),
                        SecretOutcome::Skipped(why) => format!("skipped ({why})"),
                    };
                    let listed = if r.listed {
                        ", listed in its kustomization.yaml"
                    } else {
                        ""
                    };
                    cx.log(format!("{}: {what}{listed}", r.file)).await;
                }
                Ok(())
            }
            STEP_COMMIT => self.commit(cx).await,
            STEP_PUSH => {
                let head = self
                    .remote
                    .push(&self.repo, &self.cfg.flux.branch)
                    .await
                    .map_err(|e| StageError::new(e).with_hint("nothing in the cluster changed yet; fix the push and run the stage again"))?;
                cx.log(format!("pushed {} to {}", short(&head), self.remote.url()))
                    .await;
                Ok(())
            }
            STEP_INSTALL => {
                let text = self.installed_manifest()?;
                let client = self.client().await?;
                for line in cluster::apply_text(&client, "flux-install.yaml", &text).await? {
                    cx.log(line).await;
                }
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let timeout = self.opts.controllers_timeout;
                let wait = async move {
                    let mut on_line = |l: String| {
                        let _ = tx.send(l);
                    };
                    cluster::wait_controllers(&client, &text, timeout, &mut on_line).await
                };
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        r = &mut wait => {
                            while let Ok(l) = rx.try_recv() {
                                cx.log(l).await;
                            }
                            return r;
                        }
                        Some(l) = rx.recv() => cx.log(l).await,
                    }
                }
            }
            STEP_SOPS_AGE => {
                let text =
                    lockout::sops_age_secret(&self.identity_text()?).map_err(StageError::new)?;
                let client = self.client().await?;
                for line in
                    cluster::apply_text(&client, "Secret flux-system/sops-age", &text).await?
                {
                    cx.log(line).await;
                }
                Ok(())
            }
            STEP_DEPLOY_KEY => self.deploy_key(cx).await,
            STEP_SYNC => {
                let client = self.client().await?;
                for line in
                    cluster::apply_text(&client, "gotk-sync.yaml", &self.sync_text()).await?
                {
                    cx.log(line).await;
                }
                Ok(())
            }
            STEP_FOLLOW => self.follow(cx).await,
            // The guards' checks either hold or fail; there is nothing to execute.
            other => Err(StageError::new(format!(
                "flux: {other} has nothing to execute"
            ))),
        }
    }

    async fn verify(&self) -> StageResult<Vec<Check>> {
        let client = self.client().await?;
        let objects = snapshot(&client).await?;
        let mut checks = Vec::new();
        let ready = objects
            .values()
            .filter(|v| diagnose::state(v).ready)
            .count();
        checks.push(match diagnose::root_cause(&objects) {
            None if !objects.is_empty() => Check::pass(
                "flux/ready",
                "Flux objects Ready",
                format!("{ready} of {}", objects.len()),
            ),
            None => Check::fail(
                "flux/ready",
                "Flux objects Ready",
                "no Flux objects",
                "run the Flux stage",
            ),
            Some(c) => Check::fail(
                "flux/ready",
                "Flux objects Ready",
                format!(
                    "{ready} of {}; root cause {}: {} {}",
                    objects.len(),
                    diagnose::label(&c.key),
                    c.reason,
                    c.message
                ),
                diagnose::fix_for(&c, Some(&remote::deploy_key_page(&self.cfg.flux.repo))),
            ),
        });
        let key = cluster::secret_value(&client, FLUX_SYSTEM, SOPS_AGE, AGE_KEY)
            .await?
            .unwrap_or_default();
        checks.push(match lockout::after_apply(&key, &self.sops_config()?) {
            Ok(()) => Check::pass(
                "lockout",
                "sops-age matches .sops.yaml",
                "the in-cluster recipient is one of .sops.yaml's",
            ),
            Err(e) => Check::fail(
                "lockout",
                "sops-age matches .sops.yaml",
                e.to_string(),
                "run the Flux stage again with the right age identity",
            ),
        });
        Ok(checks)
    }
}

/// Through the one atomic writer, creating the folder (a tree file: 0644 unless it exists).
fn write_file(path: &Path, bytes: &[u8]) -> StageResult<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    crate::atomic_write::write(path, bytes, crate::atomic_write::Mode::KeepOr(0o644))
        .map_err(|e| io_err(path, e))
}
