//! SSH to the cluster's nodes on russh, the way the operator's own `ssh` would connect:
//! ~/.ssh/config (Host and Match host blocks), ssh-agent and key files, known_hosts (hashed too,
//! UserKnownHostsFile and StrictHostKeyChecking honoured), ProxyJump and ProxyCommand.
//!
//! - [`SshEnv`]: where config, keys, known_hosts and the agent live (the operator's home, or a
//!   test's temporary one).
//! - [`SshTarget`] + [`resolve`]: cluster-config overrides on top of ~/.ssh/config.
//! - [`session::SshSession`]: one authenticated connection (through jump hosts), streaming exec,
//!   SFTP upload.
//! - [`shell::NodeShell`]: what stages use: reconnects, sudo with or without a password.

pub mod command;
pub mod config;
pub mod keys;
pub mod known_hosts;
pub mod prompt;
pub mod proxy_command;
pub mod public_keys;
pub mod session;
pub mod shell;

pub use command::{ExecOutcome, OutputLine, RemoteCommand, Stream};
pub use prompt::{HostKeyPrompt, NonInteractive, Prompter};
pub use shell::NodeShell;

use async_trait::async_trait;
use config::{JumpHost, SshConfigFile, StrictHostKeyChecking};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncRead;

/// A node's shell as stages see it (the real one is [`NodeShell`]; benches and fault-injection
/// wrappers implement it too).
#[async_trait]
pub trait RemoteShell: Send + Sync {
    /// Run `cmd`, streaming lines; a non-zero exit is `Ok` with that status.
    async fn run(
        &self,
        cmd: &RemoteCommand,
        on_line: &mut (dyn FnMut(OutputLine) + Send),
    ) -> Result<ExecOutcome, SshError>;
    /// Upload `size` bytes to `remote_path` with `mode`, reporting `(sent, total)`.
    async fn upload(
        &self,
        reader: &mut (dyn AsyncRead + Unpin + Send),
        size: u64,
        remote_path: &str,
        mode: u32,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<u64, SshError>;
}

/// Where the SSH client reads its configuration.
#[derive(Debug, Clone)]
pub struct SshEnv {
    pub home: PathBuf,
    pub config: SshConfigFile,
    /// The user's known_hosts files, checked in order; new keys are appended to the first.
    /// A host's `UserKnownHostsFile` replaces this list for that host.
    pub known_hosts: Vec<PathBuf>,
    /// Checked after the user's files for every host, never written.
    pub global_known_hosts: Vec<PathBuf>,
    /// Key files unlocked in this run: a passphrase is asked once per key per run.
    pub unlocked: keys::UnlockedKeys,
    /// `SSH_AUTH_SOCK`.
    pub agent_socket: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// SSH-level keepalive; the connection drops after 3 unanswered.
    pub keepalive: Duration,
}

impl SshEnv {
    /// The operator's environment: `$HOME/.ssh/config`, `~/.ssh/known_hosts` then
    /// `/etc/ssh/ssh_known_hosts`, `$SSH_AUTH_SOCK`.
    pub fn from_process() -> Result<Self, SshError> {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| SshError::Setup("HOME is not set; cannot find ~/.ssh".into()))?;
        let agent = std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from);
        let mut env = Self::for_home(&home, agent)?;
        env.global_known_hosts
            .push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
        Ok(env)
    }

    /// An environment rooted at `home` (tests use a temporary directory).
    pub fn for_home(home: &Path, agent_socket: Option<PathBuf>) -> Result<Self, SshError> {
        let config = SshConfigFile::load(&home.join(".ssh").join("config"))?;
        let known_hosts = vec![home.join(".ssh").join("known_hosts")];
        Ok(Self {
            home: home.to_path_buf(),
            config,
            known_hosts,
            global_known_hosts: Vec::new(),
            unlocked: keys::UnlockedKeys::default(),
            agent_socket,
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
        })
    }
}

/// Which node to reach and the cluster config's overrides (like `ssh -l user -i key -p port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Looked up in ~/.ssh/config `Host` patterns (the node's IP or name).
    pub alias: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<String>,
}

/// A fully resolved hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
    pub identities_only: bool,
    /// `ProxyCommand` with its tokens expanded and quoted; run through `sh -c`, SSH is spoken
    /// over its stdin and stdout.
    pub proxy_command: Option<String>,
    pub strict: StrictHostKeyChecking,
    /// known_hosts files checked for this hop, in order: the user's (`UserKnownHostsFile` or
    /// [`SshEnv::known_hosts`]) then the global ones.
    pub known_hosts: Vec<PathBuf>,
    /// Where a newly trusted key is recorded (the first user file).
    pub known_hosts_write: Option<PathBuf>,
}

/// A target plus the jump hosts in front of it (outermost first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub jumps: Vec<Resolved>,
    pub target: Resolved,
}

fn resolve_hop(
    env: &SshEnv,
    target: &SshTarget,
) -> Result<(Resolved, Option<Vec<JumpHost>>), SshError> {
    let s = env.config.settings_for(&target.alias);
    let host = s
        .host_name
        .as_deref()
        .map(|h| config::expand_host_name(h, &target.alias))
        .unwrap_or_else(|| target.alias.clone());
    let user = target
        .user
        .clone()
        .or(s.user.clone())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into());
    let port = target.port.or(s.port).unwrap_or(22);
    let mut raw: Vec<String> = target.identity_file.iter().cloned().collect();
    raw.extend(s.identity_files.iter().cloned());
    let mut identity_files: Vec<PathBuf> = raw
        .iter()
        .map(|r| config::expand_path(r, &env.home, &host, &user))
        .collect();
    if identity_files.is_empty() {
        identity_files = keys::default_identity_files(&env.home);
    }
    identity_files.dedup();
    let proxy_command = match s.proxy_command.as_deref() {
        None => None,
        Some(raw) if raw.eq_ignore_ascii_case("none") => None,
        Some(raw) => Some(
            config::expand_proxy_command(raw, &host, port, &user, &target.alias)
                .map_err(|m| SshError::Setup(format!("ssh config, Host {}: {m}", target.alias)))?,
        ),
    };
    let user_files: Vec<PathBuf> = match &s.user_known_hosts_files {
        Some(raw) => raw
            .iter()
            .map(|r| config::expand_path(r, &env.home, &host, &user))
            .collect(),
        None => env.known_hosts.clone(),
    };
    let known_hosts_write = user_files.first().cloned();
    let mut known_hosts = user_files;
    known_hosts.extend(env.global_known_hosts.iter().cloned());
    Ok((
        Resolved {
            host,
            port,
            user,
            identity_files,
            identities_only: s.identities_only.unwrap_or(false),
            proxy_command,
            strict: s.strict_host_key_checking.unwrap_or_default(),
            known_hosts,
            known_hosts_write,
        },
        s.proxy_jump,
    ))
}

/// Apply ~/.ssh/config to `target`, including its ProxyJump chain (each hop is itself looked up).
pub fn resolve(env: &SshEnv, target: &SshTarget) -> Result<Route, SshError> {
    let (resolved, jumps) = resolve_hop(env, target)?;
    let jumps = jumps
        .unwrap_or_default()
        .into_iter()
        .map(|j| {
            resolve_hop(
                env,
                &SshTarget {
                    alias: j.host,
                    user: j.user,
                    port: j.port,
                    identity_file: None,
                },
            )
            .map(|(hop, _)| hop)
        })
        .collect::<Result<_, _>>()?;
    Ok(Route {
        jumps,
        target: resolved,
    })
}

/// A host whose key differs from the one recorded in known_hosts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{host}:{port}: HOST KEY CHANGED. The server offers {actual} but {file}:{line} records \
     {expected}. This can mean someone is intercepting the connection, or the node was \
     reinstalled. homelab stopped and did not touch known_hosts. If the node really was \
     rebuilt, remove the old entry with `ssh-keygen -R {name} -f {file}` and run again."
)]
pub struct ChangedHostKey {
    pub host: String,
    pub port: u16,
    /// The known_hosts name (`host` or `[host]:port`).
    pub name: String,
    pub file: String,
    pub line: usize,
    pub expected: String,
    pub actual: String,
}

/// Everything that can go wrong talking to a node. Messages name the host and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("{0}")]
    Setup(String),
    #[error("ssh config: {0}")]
    Config(#[from] config::ConfigError),
    #[error("{host}:{port}: cannot connect: {message}")]
    Connect {
        host: String,
        port: u16,
        message: String,
    },
    #[error("{host}: timed out {what} after {secs}s")]
    Timeout {
        host: String,
        what: String,
        secs: u64,
    },
    #[error("{0}")]
    HostKeyChanged(Box<ChangedHostKey>),
    #[error(
        "{host}:{port}: host key {fingerprint} is marked @revoked in {file}:{line}; refusing to connect"
    )]
    HostKeyRevoked {
        host: String,
        port: u16,
        fingerprint: String,
        file: String,
        line: usize,
    },
    #[error(
        "{host}:{port}: unknown host key {fingerprint} was not trusted. Check it on the node \
         (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then trust it in the wizard or \
         pass --accept-new"
    )]
    HostKeyNotTrusted {
        host: String,
        port: u16,
        fingerprint: String,
    },
    #[error(
        "{host}:{port}: host key {fingerprint} is not in {files} and ssh_config sets \
         StrictHostKeyChecking yes for this host, so homelab did not ask. Check the key on the \
         node (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) and add it with \
         `ssh-keyscan`, or set StrictHostKeyChecking ask or accept-new for this host"
    )]
    HostKeyStrict {
        host: String,
        port: u16,
        fingerprint: String,
        files: String,
    },
    #[error("{host}:{port}: cannot update {file}: {message}")]
    KnownHostsWrite {
        host: String,
        port: u16,
        file: String,
        message: String,
    },
    #[error(
        "{user}@{host}: authentication failed (tried: {tried}). Add the key to ssh-agent, set \
         identity_file in the cluster config, or check authorized_keys on the node"
    )]
    AuthFailed {
        host: String,
        user: String,
        tried: String,
    },
    #[error("{host}: connection lost ({message}); it will be re-established on the next step")]
    Disconnected { host: String, message: String },
    #[error("{host}: sudo: {message}")]
    Sudo { host: String, message: String },
    #[error("{host}: sftp {path}: {message}")]
    Sftp {
        host: String,
        path: String,
        message: String,
    },
    #[error("ssh protocol: {0}")]
    Protocol(#[from] russh::Error),
}

impl SshError {
    /// Transport problems a reconnect may cure (as opposed to trust or auth decisions).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SshError::Connect { .. }
                | SshError::Disconnected { .. }
                | SshError::Timeout { .. }
                | SshError::Protocol(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_overrides_win_and_jumps_resolve_through_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".ssh")).unwrap();
        std::fs::write(
            dir.path().join(".ssh/config"),
            "Host gw\n  HostName 10.9.9.9\n  User jumper\n  Port 2022\n\
             Host 192.168.1.*\n  User cfguser\n  Port 2200\n  IdentityFile ~/.ssh/cfg_key\n  ProxyJump gw\n",
        )
        .unwrap();
        let env = SshEnv::for_home(dir.path(), None).unwrap();
        let route = resolve(
            &env,
            &SshTarget {
                alias: "192.168.1.21".into(),
                user: Some("ubuntu".into()),
                port: None,
                identity_file: Some("~/.ssh/cluster_key".into()),
            },
        )
        .unwrap();
        assert_eq!(route.target.user, "ubuntu");
        assert_eq!(route.target.port, 2200);
        assert_eq!(
            route.target.identity_files,
            vec![
                dir.path().join(".ssh/cluster_key"),
                dir.path().join(".ssh/cfg_key")
            ]
        );
        assert_eq!(route.jumps.len(), 1);
        assert_eq!(route.jumps[0].host, "10.9.9.9");
        assert_eq!(route.jumps[0].user, "jumper");
        assert_eq!(route.jumps[0].port, 2022);
    }

    #[test]
    fn user_known_hosts_files_proxy_command_and_strictness_resolve_per_host() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".ssh")).unwrap();
        std::fs::write(
            dir.path().join(".ssh/config"),
            "Host cf-*\n  HostName %h.lab.example\n  User ops\n  Port 2222\n\
             \x20 ProxyCommand cloudflared access ssh --hostname %h --port %p --user %r\n\
             \x20 UserKnownHostsFile ~/.ssh/kh_%h /dev/null\n  StrictHostKeyChecking accept-new\n\
             Host direct\n  ProxyCommand none\nHost *\n  ProxyCommand never\n",
        )
        .unwrap();
        let mut env = SshEnv::for_home(dir.path(), None).unwrap();
        env.global_known_hosts = vec![PathBuf::from("/etc/ssh/ssh_known_hosts")];
        let t = |alias: &str| SshTarget {
            alias: alias.into(),
            user: None,
            port: None,
            identity_file: None,
        };
        let route = resolve(&env, &t("cf-n1")).unwrap();
        let hop = &route.target;
        assert_eq!(
            hop.proxy_command.as_deref(),
            Some("cloudflared access ssh --hostname cf-n1.lab.example --port 2222 --user ops")
        );
        assert_eq!(hop.strict, StrictHostKeyChecking::AcceptNew);
        assert_eq!(
            hop.known_hosts,
            vec![
                dir.path().join(".ssh/kh_cf-n1.lab.example"),
                PathBuf::from("/dev/null"),
                PathBuf::from("/etc/ssh/ssh_known_hosts")
            ]
        );
        assert_eq!(
            hop.known_hosts_write,
            Some(dir.path().join(".ssh/kh_cf-n1.lab.example"))
        );
        let direct = resolve(&env, &t("direct")).unwrap().target;
        assert_eq!(direct.proxy_command, None, "ProxyCommand none came first");
        assert_eq!(direct.strict, StrictHostKeyChecking::Ask);
        assert_eq!(
            direct.known_hosts,
            vec![
                dir.path().join(".ssh/known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts")
            ]
        );
    }
}
