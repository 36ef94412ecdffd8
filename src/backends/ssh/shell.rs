//! A node's shell as stages use it: connects lazily, reconnects after a dropped connection
//! (re-running only idempotent commands), and runs root commands through sudo, with or without
//! a password. A sudo password is asked once per node and kept in memory only (zeroized).

use super::command::{ExecOutcome, OutputLine, RemoteCommand};
use super::prompt::Prompter;
use super::session::SshSession;
use super::{RemoteShell, SshEnv, SshError, SshTarget, resolve};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::io::AsyncRead;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

#[derive(Debug, Clone)]
enum Sudo {
    Unknown,
    /// Logged in as root.
    NotNeeded,
    Passwordless,
    Password(Zeroizing<String>),
}

/// A node reachable over SSH.
pub struct NodeShell {
    env: Arc<SshEnv>,
    target: SshTarget,
    prompter: Arc<dyn Prompter>,
    session: Mutex<Option<Arc<SshSession>>>,
    sudo: Mutex<Sudo>,
}

impl NodeShell {
    pub fn new(env: Arc<SshEnv>, target: SshTarget, prompter: Arc<dyn Prompter>) -> Self {
        Self {
            env,
            target,
            prompter,
            session: Mutex::new(None),
            sudo: Mutex::new(Sudo::Unknown),
        }
    }

    /// The alias this shell was asked to reach.
    pub fn alias(&self) -> &str {
        &self.target.alias
    }

    /// The live session, connecting (again) when there is none or it was closed.
    pub async fn session(&self) -> Result<Arc<SshSession>, SshError> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref()
            && !s.is_closed()
        {
            return Ok(s.clone());
        }
        let route = resolve(&self.env, &self.target)?;
        let s = Arc::new(SshSession::connect(&self.env, route, self.prompter.clone()).await?);
        *slot = Some(s.clone());
        Ok(s)
    }

    /// Drop the connection (the next command reconnects).
    pub async fn disconnect(&self) {
        if let Some(s) = self.session.lock().await.take() {
            s.disconnect().await;
        }
    }

    async fn run_once(
        &self,
        cmd: &RemoteCommand,
        on_line: &mut (dyn FnMut(OutputLine) + Send),
    ) -> Result<ExecOutcome, SshError> {
        let session = self.session().await?;
        // The script travels on stdin (`sh -s`), so secrets in it never show up in the node's
        // process list or in sudo's SUDO_COMMAND.
        let (line, mut stdin) = if cmd.sudo {
            self.sudo_wrap(&session).await?
        } else {
            ("sh -s".to_string(), Zeroizing::new(String::new()))
        };
        stdin.push_str(&cmd.script);
        stdin.push('\n');
        let display = cmd.display();
        let res = session
            .exec(
                &line,
                Some(&display),
                Some(stdin.as_bytes()),
                &cmd.secrets,
                cmd.timeout,
                on_line,
            )
            .await;
        if res.is_err() && session.is_closed() {
            self.session.lock().await.take();
        }
        let out = res?;
        if cmd.sudo && out.exit_status == Some(1) && out.stderr.contains("incorrect password") {
            *self.sudo.lock().await = Sudo::Unknown;
            return Err(SshError::Sudo {
                host: session.host().to_string(),
                message: "the sudo password was rejected".into(),
            });
        }
        Ok(out)
    }

    /// The sudo command line and the start of stdin (the password line, if one is needed;
    /// sudo reads it byte by byte, the rest of stdin is the script for `sh -s`).
    async fn sudo_wrap(
        &self,
        session: &SshSession,
    ) -> Result<(String, Zeroizing<String>), SshError> {
        let mode = self.sudo_mode(session).await?;
        Ok(match mode {
            Sudo::NotNeeded => ("sh -s".into(), Zeroizing::new(String::new())),
            Sudo::Passwordless | Sudo::Unknown => {
                ("sudo -n -- sh -s".into(), Zeroizing::new(String::new()))
            }
            Sudo::Password(pw) => (
                "sudo -k -S -p '' -- sh -s".into(),
                Zeroizing::new(format!("{}\n", pw.as_str())),
            ),
        })
    }

    async fn sudo_mode(&self, session: &SshSession) -> Result<Sudo, SshError> {
        let mut guard = self.sudo.lock().await;
        if !matches!(*guard, Sudo::Unknown) {
            return Ok(guard.clone());
        }
        let host = session.host().to_string();
        let sudo_err = |message: String| SshError::Sudo {
            host: host.clone(),
            message,
        };
        if session.user() == "root" {
            *guard = Sudo::NotNeeded;
            return Ok(Sudo::NotNeeded);
        }
        let probe = session
            .exec(
                "sudo -n true",
                None,
                None,
                &[],
                Some(std::time::Duration::from_secs(30)),
                &mut |_| {},
            )
            .await?;
        if probe.success() {
            *guard = Sudo::Passwordless;
            return Ok(Sudo::Passwordless);
        }
        if probe.stderr.contains("command not found") || probe.exit_status == Some(127) {
            return Err(sudo_err(
                "sudo is not installed; install it or log in as root".into(),
            ));
        }
        if !probe.stderr.contains("password") {
            return Err(sudo_err(format!(
                "`sudo -n true` failed: {}",
                probe.stderr.trim()
            )));
        }
        let Some(pw) = self.prompter.sudo_password(session.user(), &host).await else {
            return Err(sudo_err(format!(
                "{} needs a password for sudo and none was given; answer the prompt in the \
                 wizard or allow NOPASSWD sudo for this user",
                session.user()
            )));
        };
        let stdin = Zeroizing::new(format!("{}\n", pw.as_str()));
        let check = session
            .exec(
                "sudo -k -S -p '' true",
                None,
                Some(stdin.as_bytes()),
                &[],
                Some(std::time::Duration::from_secs(30)),
                &mut |_| {},
            )
            .await?;
        if !check.success() {
            return Err(sudo_err("the sudo password was rejected".into()));
        }
        *guard = Sudo::Password(pw);
        Ok(guard.clone())
    }
}

#[async_trait]
impl RemoteShell for NodeShell {
    /// Run `cmd`, streaming lines to `on_line`. A non-zero exit is an `Ok` outcome; transport
    /// failures are errors. Idempotent commands are retried once after reconnecting.
    async fn run(
        &self,
        cmd: &RemoteCommand,
        on_line: &mut (dyn FnMut(OutputLine) + Send),
    ) -> Result<ExecOutcome, SshError> {
        match self.run_once(cmd, on_line).await {
            Err(e) if e.is_transient() && cmd.idempotent => {
                self.session.lock().await.take();
                self.run_once(cmd, on_line).await
            }
            other => other,
        }
    }

    /// Upload to `remote_path` as the login user (use a temp dir, then `install` with sudo).
    async fn upload(
        &self,
        reader: &mut (dyn AsyncRead + Unpin + Send),
        size: u64,
        remote_path: &str,
        mode: u32,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<u64, SshError> {
        let session = self.session().await?;
        let res = session
            .upload(reader, size, remote_path, mode, progress)
            .await;
        if res.is_err() && session.is_closed() {
            self.session.lock().await.take();
        }
        res
    }
}
