//! The first bootstrap stage, secrets: the operator's age identity (outside the repository,
//! mode 0600), `.sops.yaml` creation rules for `config/env/*.env` and `cluster/**/*.sops.yaml`,
//! and `config/env/<cluster>.env` with the documented keys (config/env/README.md), each value
//! asked for (masked) with sensible defaults, encrypted in memory and written atomically.
//!
//! Steps (each checks before it writes, so a second run changes nothing):
//! 1. `identity`: find the identity sops would use, or create one.
//! 2. `sops-config`: `.sops.yaml` with rules naming the identity's recipient.
//! 3. `env-file`: the encrypted env file with every documented key.
//!
//! Size: about 930 lines, of which some 150 are its tests; the three steps share the identity
//! and env-file helpers above them.

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use rand::RngCore;
use zeroize::Zeroizing;

use super::engine::*;
use crate::config::ClusterConfig;
use crate::secrets::document::{EncryptedFile, Format, Opened};
use crate::secrets::keys::{Identities, default_key_file, generate_identity, identities_from_text};
use crate::secrets::rules::{SopsConfig, homelab_config};
use crate::secrets::tree::{Entry, Node, PathStep, Scalar};

/// One documented key of the env file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub key: String,
    /// Sensitive on its own (masked input, never shown).
    pub secret: bool,
    /// What it is, from the README's "example / format" column.
    pub help: String,
    pub optional: bool,
}

/// Defaults and help for the keys config/env/README.md documents (the README is the list; this
/// table only knows how to fill them in).
const KNOWN: &[(&str, bool, &str)] = &[
    (
        "PROXMOX_TOKEN_SECRET",
        true,
        "UUID secret of the Proxmox API token",
    ),
    ("K3S_TOKEN", true, "k3s cluster token (generated if empty)"),
    (
        "CLOUDFLARE_API_TOKEN",
        true,
        "Cloudflare API token (Zone/DNS/Edit, Zone/Zone/Read)",
    ),
    ("CLOUDFLARE_TUNNEL_TOKEN", true, "cloudflared tunnel token"),
    (
        "TAILSCALE_AUTH_KEY",
        true,
        "tskey-auth-... (reusable, pre-approved)",
    ),
    ("GRAFANA_ADMIN_USER", false, "Grafana admin user"),
    (
        "GRAFANA_ADMIN_PASSWORD",
        true,
        "Grafana admin password (generated if empty)",
    ),
    (
        "VSCODE_SERVER_PASSWORD",
        true,
        "VSCode Server password (generated if empty)",
    ),
    (
        "ALERTMANAGER_WEBHOOK_URL",
        true,
        "optional chat/ntfy webhook URL",
    ),
    ("DOMAIN", false, "public domain"),
    ("ACME_EMAIL", false, "Let's Encrypt account e-mail"),
    ("NFS_SERVER", false, "Synology NFS server address"),
    ("NFS_EXPORT", false, "NFS export path"),
    ("SYNOLOGY_SSH_USER", false, "DSM user with sudo"),
];

/// The keys config/env/README.md lists in its table (first column, back-ticked), in order.
/// Falls back to the built-in list when the README is missing or lists none.
pub fn documented_keys(repo: &Path) -> Vec<KeySpec> {
    let readme = std::fs::read_to_string(repo.join("config/env/README.md")).unwrap_or_default();
    let mut keys = Vec::new();
    for line in readme.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let key = cells[1].trim_matches('`').to_string();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        let secret = cells[2].contains("yes");
        let optional = cells[2].contains("optional");
        let help = cells.get(3).map(|c| c.to_string()).unwrap_or_default();
        keys.push(KeySpec {
            key,
            secret,
            help,
            optional,
        });
    }
    if keys.is_empty() {
        keys = KNOWN
            .iter()
            .map(|(k, secret, help)| KeySpec {
                key: k.to_string(),
                secret: *secret,
                help: help.to_string(),
                optional: *k == "ALERTMANAGER_WEBHOOK_URL",
            })
            .collect();
    }
    keys
}

/// A random token: 32 characters from an unambiguous alphabet.
pub fn random_token() -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Zeroizing::new(
        bytes
            .iter()
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
            .collect(),
    )
}

/// The default for a key: from the cluster definition, a fixed value, or generated.
pub fn default_for(key: &str, cluster: Option<&ClusterConfig>) -> Option<Zeroizing<String>> {
    let from_cluster = |f: &dyn Fn(&ClusterConfig) -> String| cluster.map(|c| Zeroizing::new(f(c)));
    match key {
        "K3S_TOKEN" | "GRAFANA_ADMIN_PASSWORD" | "VSCODE_SERVER_PASSWORD" => Some(random_token()),
        "GRAFANA_ADMIN_USER" | "SYNOLOGY_SSH_USER" => Some(Zeroizing::new("admin".into())),
        "DOMAIN" => from_cluster(&|c| c.domain.clone()),
        "ACME_EMAIL" => from_cluster(&|c| format!("admin@{}", c.domain)),
        "NFS_SERVER" => from_cluster(&|c| c.storage.nfs_server.clone().unwrap_or_default())
            .filter(|v| !v.is_empty()),
        "NFS_EXPORT" => from_cluster(&|c| c.storage.nfs_export.clone().unwrap_or_default())
            .filter(|v| !v.is_empty()),
        "ALERTMANAGER_WEBHOOK_URL" => Some(Zeroizing::new(String::new())),
        _ => None,
    }
}

/// Where values come from: the operator (masked prompts, a TUI form) or the environment.
#[async_trait]
pub trait AskValues: Send + Sync {
    /// The value for `spec`; `default` is what an empty answer means. An error stops the stage.
    async fn ask(&self, spec: &KeySpec, default: Option<&str>) -> StageResult<Zeroizing<String>>;
}

/// Non-interactive: the environment variable of the same name, else the default.
pub struct EnvValues;

#[async_trait]
impl AskValues for EnvValues {
    async fn ask(&self, spec: &KeySpec, default: Option<&str>) -> StageResult<Zeroizing<String>> {
        if let Some(v) = std::env::var_os(&spec.key).filter(|v| !v.is_empty()) {
            return Ok(Zeroizing::new(v.to_string_lossy().into_owned()));
        }
        match default {
            Some(d) => Ok(Zeroizing::new(d.to_string())),
            None => Err(
                StageError::new(format!("{} has no value ({})", spec.key, spec.help)).with_hint(
                    format!(
                        "export {}=... before running, or run `homelab bootstrap --stage secrets --yes` in a terminal to be asked",
                        spec.key
                    ),
                ),
            ),
        }
    }
}

/// Interactive on the terminal: one masked prompt per key (secrets show `*`), Enter keeps the
/// default. Falls back to [`EnvValues`] for keys set in the environment.
pub struct TerminalValues;

#[async_trait]
impl AskValues for TerminalValues {
    async fn ask(&self, spec: &KeySpec, default: Option<&str>) -> StageResult<Zeroizing<String>> {
        if std::env::var_os(&spec.key).is_some_and(|v| !v.is_empty()) {
            return EnvValues.ask(spec, default).await;
        }
        let spec = spec.clone();
        let default = default.map(|d| Zeroizing::new(d.to_string()));
        tokio::task::spawn_blocking(move || {
            prompt_masked(&spec, default.as_deref().map(|d| d.as_str()))
        })
        .await
        .map_err(|e| StageError::new(format!("prompt failed: {e}")))?
    }
}

fn prompt_masked(spec: &KeySpec, default: Option<&str>) -> StageResult<Zeroizing<String>> {
    use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers, read};
    let hint = match default {
        Some("") => " [empty]".to_string(),
        Some(d) if spec.secret => format!(" [keep generated {} chars]", d.chars().count()),
        Some(d) => format!(" [{d}]"),
        None => String::new(),
    };
    eprint!("{} ({}){hint}: ", spec.key, spec.help);
    let _ = std::io::stderr().flush();
    crossterm::terminal::enable_raw_mode()
        .map_err(|e| StageError::new(format!("terminal: {e}")))?;
    let mut value = Zeroizing::new(String::new());
    let result = loop {
        match read() {
            Ok(Event::Key(k)) if k.kind == KeyEventKind::Press => match k.code {
                KeyCode::Enter => break Ok(()),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                    break Err(StageError::cancelled());
                }
                KeyCode::Char(c) => {
                    value.push(c);
                    eprint!("{}", if spec.secret { '*' } else { c });
                }
                KeyCode::Backspace if value.pop().is_some() => eprint!("\u{8} \u{8}"),
                _ => {}
            },
            Ok(Event::Paste(text)) => {
                value.push_str(&text);
                let shown: String = if spec.secret {
                    "*".repeat(text.chars().count())
                } else {
                    text
                };
                eprint!("{shown}");
            }
            Ok(_) => {}
            Err(e) => break Err(StageError::new(format!("terminal: {e}"))),
        }
        let _ = std::io::stderr().flush();
    };
    let _ = crossterm::terminal::disable_raw_mode();
    eprintln!();
    result?;
    if value.is_empty() {
        match default {
            Some(d) => Ok(Zeroizing::new(d.to_string())),
            None if spec.optional => Ok(value),
            None => Err(StageError::new(format!("{} is required", spec.key))),
        }
    } else {
        Ok(value)
    }
}

/// The secrets stage.
pub struct SecretsStage {
    pub repo: PathBuf,
    pub cluster: String,
    pub cluster_config: Option<ClusterConfig>,
    /// Where the identity lives (or will be created).
    pub identity_file: PathBuf,
    pub ask: Arc<dyn AskValues>,
}

/// Where the operator's identity is: SOPS_AGE_KEY_FILE, else sops' default keys.txt.
pub fn identity_location() -> Option<PathBuf> {
    std::env::var_os("SOPS_AGE_KEY_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(default_key_file)
}

const STEP_IDENTITY: &str = "identity";
const STEP_CONFIG: &str = "sops-config";
const STEP_ENV: &str = "env-file";

/// The env-file step's first call lists the keys it will ask for: `ask: KEY, KEY`.
pub const ASK_CALL: &str = "ask: ";

/// The keys a reviewed env-file step will ask for (from its `ask: ` call).
pub fn asked_keys(step: &Step) -> Vec<String> {
    step.calls
        .iter()
        .find_map(|c| c.strip_prefix(ASK_CALL))
        .map(|list| {
            list.split(',')
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

impl SecretsStage {
    pub fn new(
        repo: PathBuf,
        cluster: &ClusterConfig,
        identity_file: PathBuf,
        ask: Arc<dyn AskValues>,
    ) -> Self {
        SecretsStage {
            repo,
            cluster: cluster.name.clone(),
            cluster_config: Some(cluster.clone()),
            identity_file,
            ask,
        }
    }

    pub fn env_file(&self) -> PathBuf {
        crate::config::env_file(&self.repo, &self.cluster)
    }

    fn sops_yaml(&self) -> PathBuf {
        self.repo.join(".sops.yaml")
    }

    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.repo)
            .map(|r| r.display().to_string())
            .unwrap_or_else(|_| p.display().to_string())
    }

    fn identities(&self) -> Option<Identities> {
        let text = Zeroizing::new(std::fs::read_to_string(&self.identity_file).ok()?);
        let ids = identities_from_text(&text, &self.identity_file.display().to_string());
        (!ids.is_empty()).then_some(ids)
    }

    fn recipient(&self) -> StageResult<String> {
        self.identities()
            .and_then(|ids| ids.recipients().into_iter().next())
            .ok_or_else(|| {
                StageError::new(format!(
                    "no age identity in {}",
                    self.identity_file.display()
                ))
            })
    }

    fn inside_repo(&self) -> bool {
        let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let dir = self.identity_file.parent().map(canon).unwrap_or_default();
        dir.starts_with(canon(&self.repo))
    }

    /// Does `.sops.yaml` send both kinds of files to a rule naming `recipient`?
    fn config_state(&self, recipient: &str) -> Holds {
        let path = self.sops_yaml();
        let cfg = match SopsConfig::load(&path) {
            Ok(c) => c,
            Err(_) if !path.exists() => return Holds::No(".sops.yaml does not exist".into()),
            Err(e) => return Holds::Drift(format!("{e}")),
        };
        for sample in [
            "config/env/x.env",
            "cluster/kubernetes/apps/x/secret.sops.yaml",
        ] {
            match cfg.rule_for(&self.repo.join(sample)) {
                Ok(rule) if rule.age.iter().any(|r| r == recipient) => {}
                Ok(_) => {
                    return Holds::Drift(format!(
                        "the rule for {sample} does not list {recipient}"
                    ));
                }
                Err(_) => return Holds::Drift(format!("no creation rule matches {sample}")),
            }
        }
        Holds::Yes(format!(
            ".sops.yaml routes env files and *.sops.yaml to {recipient}"
        ))
    }

    /// Keys documented but missing from the existing env file (None: file absent).
    fn missing_keys(&self) -> StageResult<Option<Vec<KeySpec>>> {
        let path = self.env_file();
        if !path.exists() {
            return Ok(None);
        }
        let ids = self
            .identities()
            .ok_or_else(|| StageError::new("no age identity to open the env file"))?;
        let opened = EncryptedFile::load(&path)
            .and_then(|f| f.open(&ids))
            .map_err(|e| {
                StageError::new(e.to_string())
                    .with_hint("fix the file with `homelab env edit` or restore it from git")
            })?;
        opened
            .require_mac()
            .map_err(|e| StageError::new(e.to_string()))?;
        let missing = documented_keys(&self.repo)
            .into_iter()
            .filter(|k| opened.get(&[PathStep::Key(k.key.clone())]).is_none())
            .collect();
        Ok(Some(missing))
    }

    async fn ask_all(&self, keys: &[KeySpec], cx: &StepCx) -> StageResult<Vec<Entry>> {
        let mut entries = Vec::new();
        for spec in keys {
            cx.ensure_running()?;
            let default = default_for(&spec.key, self.cluster_config.as_ref());
            let value = self
                .ask
                .ask(spec, default.as_deref().map(|d| d.as_str()))
                .await?;
            let shown = if spec.secret || value.is_empty() {
                if value.is_empty() {
                    "(empty)".to_string()
                } else {
                    "(set, masked)".to_string()
                }
            } else {
                value.to_string()
            };
            cx.log(format!("{} = {shown}", spec.key)).await;
            entries.push(Entry::Pair(
                spec.key.clone(),
                Node::Scalar(Scalar::Str(value.to_string())),
            ));
        }
        Ok(entries)
    }

    fn create_identity(&self) -> StageResult<String> {
        if self.inside_repo() {
            return Err(StageError::new(format!(
                "{} is inside the repository; the age private key must live outside it",
                self.identity_file.display()
            ))
            .with_hint("set SOPS_AGE_KEY_FILE to a path outside the repository, e.g. ~/.config/sops/age/keys.txt"));
        }
        if let Some(dir) = self.identity_file.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(StageError::from_io)?;
        }
        let (text, recipient) = generate_identity();
        crate::atomic_write::create_new(
            &self.identity_file,
            text.as_bytes(),
            crate::atomic_write::Mode::Secret,
        )
        .map_err(|e| StageError::new(format!("{}: {e}", self.identity_file.display())))?;
        Ok(recipient)
    }
}

#[async_trait]
impl Stage for SecretsStage {
    fn id(&self) -> StageId {
        StageId::Secrets
    }

    async fn plan(&self) -> StageResult<Plan> {
        let mut plan = Plan::new(StageId::Secrets);
        let identity = self.identity_file.display().to_string();
        let recipient = self
            .identities()
            .and_then(|i| i.recipients().into_iter().next());
        plan.steps.push(match &recipient {
            Some(r) => Step::new(
                STEP_IDENTITY,
                "identity",
                Intent::Verify,
                format!("Use the age identity in {identity}"),
            )
            .with_note(format!("recipient {r}")),
            None => Step::new(
                STEP_IDENTITY,
                "identity",
                Intent::Create,
                format!("Create an age identity in {identity}"),
            )
            .call(format!(
                "age-keygen -o {identity}   (mode 0600, outside the repository)"
            )),
        });
        let config_intent = match recipient.as_deref().map(|r| self.config_state(r)) {
            Some(Holds::Yes(_)) => Intent::Verify,
            Some(Holds::Drift(_)) => Intent::Drift,
            _ if self.sops_yaml().exists() => Intent::Drift,
            _ => Intent::Create,
        };
        plan.steps.push(
            Step::new(STEP_CONFIG, ".sops.yaml", config_intent, "Write .sops.yaml creation rules")
                .call("creation_rules: ^config/env/[^/]+\\.env$ -> age <recipient>")
                .call("creation_rules: ^cluster/.*\\.sops\\.yaml$ (encrypted_regex ^(data|stringData)$) -> age <recipient>"),
        );
        let env = self.rel(&self.env_file());
        let keys = documented_keys(&self.repo);
        // The keys the env-file step will ask for: all of them for a new file; for an existing
        // one, those it lacks (decrypting it read-only; when it cannot be opened the step stays
        // a check and its `check` reports why).
        let (env_step, ask) = match self.env_file().exists() {
            true => match self.missing_keys() {
                Ok(Some(missing)) if !missing.is_empty() => (
                    Step::new(
                        STEP_ENV,
                        "env",
                        Intent::Change,
                        format!("Add {} missing key(s) to {env}", missing.len()),
                    )
                    .with_note("existing values are kept"),
                    missing,
                ),
                _ => (
                    Step::new(
                        STEP_ENV,
                        "env",
                        Intent::Verify,
                        format!("Check {env} has every documented key"),
                    )
                    .with_note("missing keys are asked for and added; existing values are kept"),
                    keys,
                ),
            },
            false => (
                Step::new(
                    STEP_ENV,
                    "env",
                    Intent::Create,
                    format!("Create {env} ({} keys)", keys.len()),
                ),
                keys,
            ),
        };
        plan.steps.push(
            env_step
                .call(format!(
                    "{ASK_CALL}{}",
                    ask.iter()
                        .map(|k| k.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .call(format!(
                    "encrypt in memory (sops dotenv, age) and write {env} atomically"
                )),
        );
        plan.notes
            .push("Values are asked for masked and never written in plaintext.".into());
        Ok(plan)
    }

    async fn preflight(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        if self.inside_repo() {
            checks.push(Check::fail(
                "identity/outside-repo",
                "The age identity lives outside the repository",
                format!(
                    "{} is inside {}",
                    self.identity_file.display(),
                    self.repo.display()
                ),
                "point SOPS_AGE_KEY_FILE outside the repository",
            ));
        } else {
            checks.push(Check::pass(
                "identity/outside-repo",
                "The age identity lives outside the repository",
                self.identity_file.display().to_string(),
            ));
        }
        if self.identity_file.exists() && self.identities().is_none() {
            checks.push(Check::fail(
                "identity/readable",
                "The identity file holds an age identity",
                format!(
                    "{} exists but has no AGE-SECRET-KEY line",
                    self.identity_file.display()
                ),
                "fix the file or point SOPS_AGE_KEY_FILE at your key",
            ));
        }
        if !self.repo.join("config").is_dir() {
            checks.push(Check::fail(
                "repo/config",
                "The repository has config/",
                format!("{} has no config/ folder", self.repo.display()),
                "run inside the homelab repository (or pass --repo)",
            ));
        }
        if !self.repo.join("config/env/README.md").exists() {
            checks.push(Check::warn(
                "env/readme",
                "config/env/README.md documents the keys",
                "missing; using the built-in list",
                "restore config/env/README.md from git",
            ));
        }
        checks
    }

    async fn check(&self, step: &Step, _cx: &StepCx) -> StageResult<Holds> {
        match step.id.as_str() {
            STEP_IDENTITY => Ok(match self.identities() {
                Some(ids) => Holds::Yes(format!(
                    "{} holds {}",
                    self.identity_file.display(),
                    ids.recipients().join(", ")
                )),
                None => Holds::No(format!("no identity in {}", self.identity_file.display())),
            }),
            STEP_CONFIG => Ok(self.config_state(&self.recipient()?)),
            STEP_ENV => Ok(match self.missing_keys()? {
                None => Holds::No(format!("{} does not exist", self.rel(&self.env_file()))),
                Some(missing) if missing.is_empty() => Holds::Yes(format!(
                    "{} has every documented key",
                    self.rel(&self.env_file())
                )),
                Some(missing) => Holds::No(format!(
                    "missing: {}",
                    missing
                        .iter()
                        .map(|k| k.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }),
            other => Err(StageError::new(format!("unknown step {other}"))),
        }
    }

    async fn execute(&self, step: &Step, cx: &StepCx) -> StageResult<()> {
        match step.id.as_str() {
            STEP_IDENTITY => {
                let recipient = self.create_identity()?;
                cx.log(format!(
                    "created {} (mode 0600); recipient {recipient}. Back it up: without it the env file cannot be opened.",
                    self.identity_file.display()
                ))
                .await;
                Ok(())
            }
            STEP_CONFIG => {
                let recipient = self.recipient()?;
                let mut recipients = vec![recipient.clone()];
                if let Ok(cfg) = SopsConfig::load(&self.sops_yaml()) {
                    // Reconciling keeps the recipients already there.
                    for rule in &cfg.rules {
                        for r in &rule.age {
                            if !recipients.contains(r) {
                                recipients.push(r.clone());
                            }
                        }
                    }
                }
                let text = homelab_config(&recipients);
                crate::secrets::atomic::write_atomic(&self.sops_yaml(), text.as_bytes())
                    .map_err(|e| StageError::new(format!(".sops.yaml: {e}")))?;
                cx.log(format!("wrote .sops.yaml for {}", recipients.join(", ")))
                    .await;
                Ok(())
            }
            STEP_ENV => {
                let path = self.env_file();
                let ids = self
                    .identities()
                    .ok_or_else(|| StageError::new("no age identity"))?;
                let cfg = SopsConfig::load(&self.sops_yaml())
                    .map_err(|e| StageError::new(e.to_string()))?;
                let rule = cfg
                    .rule_for(&path)
                    .map_err(|e| StageError::new(e.to_string()))?
                    .clone();
                let mut opened = match self.missing_keys()? {
                    None => {
                        let keys = documented_keys(&self.repo);
                        let entries = self.ask_all(&keys, cx).await?;
                        let mut o = Opened::new_plain(
                            &path,
                            Format::Dotenv,
                            "",
                            rule.rule,
                            rule.mac_only_encrypted,
                            &rule.age,
                        )
                        .map_err(|e| StageError::new(e.to_string()))?;
                        *o.entries_mut() = entries;
                        o
                    }
                    Some(missing) => {
                        let mut o = EncryptedFile::load(&path)
                            .and_then(|f| f.open(&ids))
                            .map_err(|e| StageError::new(e.to_string()))?;
                        let added = self.ask_all(&missing, cx).await?;
                        o.entries_mut().extend(added);
                        o
                    }
                };
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(StageError::from_io)?;
                }
                opened.save().map_err(|e| StageError::new(e.to_string()))?;
                cx.log(format!(
                    "encrypted and wrote {} for {}",
                    self.rel(&path),
                    rule.age.join(", ")
                ))
                .await;
                Ok(())
            }
            other => Err(StageError::new(format!("unknown step {other}"))),
        }
    }

    async fn verify(&self) -> StageResult<Vec<Check>> {
        let mut checks = Vec::new();
        let recipient = self.recipient()?;
        checks.push(Check::pass(
            "identity",
            "age identity",
            format!("{} (recipient {recipient})", self.identity_file.display()),
        ));
        checks.push(match self.config_state(&recipient) {
            Holds::Yes(d) => Check::pass("sops-config", ".sops.yaml creation rules", d),
            Holds::No(d) | Holds::Drift(d) => Check::fail(
                "sops-config",
                ".sops.yaml creation rules",
                d,
                "run the secrets stage with reconcile",
            ),
        });
        let path = self.env_file();
        let ids = self
            .identities()
            .ok_or_else(|| StageError::new("no identity"))?;
        match EncryptedFile::load(&path).and_then(|f| f.open(&ids)) {
            Ok(opened) if opened.require_mac().is_ok() => {
                let keys: Vec<String> = opened
                    .entries()
                    .iter()
                    .filter_map(|e| match e {
                        Entry::Pair(k, _) => Some(k.clone()),
                        _ => None,
                    })
                    .collect();
                checks.push(Check::pass(
                    "env-file",
                    format!("{} decrypts and its MAC verifies", self.rel(&path)),
                    format!("{} keys (values masked): {}", keys.len(), keys.join(", ")),
                ));
            }
            Ok(opened) => checks.push(Check::fail(
                "env-file",
                format!("{} MAC", self.rel(&path)),
                opened
                    .require_mac()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
                "restore the file from git",
            )),
            Err(e) => checks.push(Check::fail(
                "env-file",
                format!("{} decrypts", self.rel(&path)),
                e.to_string(),
                "see the message",
            )),
        }
        Ok(checks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tokio::sync::mpsc;

    /// Answers from a map; counts questions.
    struct MapValues(HashMap<String, String>, std::sync::Mutex<Vec<String>>);

    #[async_trait]
    impl AskValues for MapValues {
        async fn ask(
            &self,
            spec: &KeySpec,
            default: Option<&str>,
        ) -> StageResult<Zeroizing<String>> {
            self.1.lock().unwrap().push(spec.key.clone());
            let v = self
                .0
                .get(&spec.key)
                .cloned()
                .or(default.map(str::to_string))
                .unwrap_or_default();
            Ok(Zeroizing::new(v))
        }
    }

    fn cluster() -> ClusterConfig {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/clusters/prox-n100.yaml"
        ))
        .unwrap();
        serde_yaml::from_str(&text).unwrap()
    }

    #[tokio::test]
    async fn creates_identity_rules_and_env_file_then_holds() {
        let home = tempfile::tempdir().unwrap();
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("config/env")).unwrap();
        std::fs::write(
            repo.path().join("config/env/README.md"),
            "| key | secret | example |\n|---|---|---|\n| `PROXMOX_TOKEN_SECRET` | **yes** | UUID |\n| `DOMAIN` | no | example.org |\n| `K3S_TOKEN` | **yes** | random |\n",
        )
        .unwrap();
        let identity = home.path().join("sops/age/keys.txt");
        let answers =
            HashMap::from([("PROXMOX_TOKEN_SECRET".to_string(), "fake-token".to_string())]);
        let ask = Arc::new(MapValues(answers, Default::default()));
        let stage = SecretsStage::new(
            repo.path().to_path_buf(),
            &cluster(),
            identity.clone(),
            ask.clone(),
        );
        assert!(preflight_ok(&stage.preflight().await));
        let plan = stage.plan().await.unwrap();
        assert_eq!(plan.writes(), 3);
        assert_eq!(
            asked_keys(plan.step(STEP_ENV).unwrap()),
            vec!["PROXMOX_TOKEN_SECRET", "DOMAIN", "K3S_TOKEN"]
        );

        let (tx, mut rx) = mpsc::channel(256);
        let journal = Journal::at(home.path().join("journal.jsonl")).unwrap();
        let run = RunCx::new(tx, journal);
        let summary = stage.apply(&plan, &run).await.unwrap();
        assert_eq!(summary.changed, 3);
        let mut logs = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            if let EventKind::Log { line, .. } = ev.kind {
                logs.push(line);
            }
        }
        assert!(
            logs.iter()
                .any(|l| l == "PROXMOX_TOKEN_SECRET = (set, masked)"),
            "{logs:?}"
        );
        assert!(
            !logs.iter().any(|l| l.contains("fake-token")),
            "never log secrets"
        );

        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&identity).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let env = std::fs::read_to_string(repo.path().join("config/env/prox-n100.env")).unwrap();
        assert!(!env.contains("fake-token"));
        assert!(env.contains("PROXMOX_TOKEN_SECRET=ENC[AES256_GCM"));
        let checks = stage.verify().await.unwrap();
        assert!(
            checks.iter().all(|c| c.status == CheckStatus::Pass),
            "{checks:?}"
        );

        // Second run: nothing changes, nothing is asked.
        let asked = ask.1.lock().unwrap().len();
        let (tx, _rx) = mpsc::channel(256);
        let run = RunCx::new(tx, Journal::at(home.path().join("journal.jsonl")).unwrap());
        let before = std::fs::read_to_string(repo.path().join("config/env/prox-n100.env")).unwrap();
        let again = stage
            .apply(&stage.plan().await.unwrap(), &run)
            .await
            .unwrap();
        assert_eq!(again.changed, 0);
        assert_eq!(ask.1.lock().unwrap().len(), asked);
        assert_eq!(
            std::fs::read_to_string(repo.path().join("config/env/prox-n100.env")).unwrap(),
            before
        );
        let plan = stage.plan().await.unwrap();
        let env_step = plan.step(STEP_ENV).unwrap();
        assert_eq!(env_step.intent, Intent::Verify);

        // A key documented later: the plan names exactly the missing one (the wizard's form
        // asks for it alone).
        std::fs::write(
            repo.path().join("config/env/README.md"),
            "| key | secret | example |\n|---|---|---|\n| `PROXMOX_TOKEN_SECRET` | **yes** | UUID |\n| `DOMAIN` | no | example.org |\n| `K3S_TOKEN` | **yes** | random |\n| `NEW_KEY` | no | x |\n",
        )
        .unwrap();
        let plan = stage.plan().await.unwrap();
        let env_step = plan.step(STEP_ENV).unwrap();
        assert_eq!(env_step.intent, Intent::Change);
        assert_eq!(asked_keys(env_step), vec!["NEW_KEY".to_string()]);
    }

    #[tokio::test]
    async fn identity_inside_the_repo_is_refused() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("config")).unwrap();
        let stage = SecretsStage::new(
            repo.path().to_path_buf(),
            &cluster(),
            repo.path().join("keys.txt"),
            Arc::new(EnvValues),
        );
        assert!(!preflight_ok(&stage.preflight().await));
    }

    #[test]
    fn documented_keys_fall_back_to_the_built_in_list() {
        let dir = tempfile::tempdir().unwrap();
        let keys = documented_keys(dir.path());
        assert_eq!(keys.len(), KNOWN.len());
        assert!(
            keys.iter()
                .any(|k| k.key == "ALERTMANAGER_WEBHOOK_URL" && k.optional)
        );
        assert_eq!(random_token().len(), 32);
    }
}
