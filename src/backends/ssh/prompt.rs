//! Questions the SSH backend asks the operator: trust an unknown host key, a key passphrase, a
//! sudo password. The TUI answers through [`ChannelPrompter`] (requests travel to the UI task with
//! a oneshot reply); the CLI answers with [`NonInteractive`] (`--accept-new`) or on the terminal.
//! Answers are held in memory only (zeroized on drop), never written anywhere.

use async_trait::async_trait;
use std::path::{Path, PathBuf};
use tokio::sync::{mpsc, oneshot};
use zeroize::Zeroizing;

/// What the operator sees before trusting a host on first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyPrompt {
    /// Host as we connect to it (after HostName).
    pub host: String,
    pub port: u16,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `rsa-sha2-512`...
    pub algorithm: String,
    /// `SHA256:...`, compare with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the node.
    pub fingerprint: String,
    /// The file the key will be added to when trusted.
    pub known_hosts: PathBuf,
    /// Keys of other types already on record for this host (`ssh-ed25519 SHA256:... (file:line)`).
    /// Not empty means the host is NOT new: it now shows a key type it never showed before,
    /// which may be a reinstall or someone in between. `--accept-new` does not cover it.
    pub other_keys: Vec<String>,
}

impl HostKeyPrompt {
    /// The host has no key on record at all (what `--accept-new` may trust).
    pub fn is_new_host(&self) -> bool {
        self.other_keys.is_empty()
    }

    /// The question as the terminal asks it (the wizard draws the same facts).
    pub fn question(&self) -> String {
        let mut q = if self.is_new_host() {
            format!(
                "The authenticity of host {}:{} can't be established.\n{} key fingerprint is {}.\n",
                self.host, self.port, self.algorithm, self.fingerprint
            )
        } else {
            let mut q = format!(
                "Host {}:{} is already known with another key type:\n",
                self.host, self.port
            );
            for k in &self.other_keys {
                q.push_str(&format!("  {k}\n"));
            }
            q.push_str(&format!(
                "It now shows a {} key ({}) that is not on record. A reinstalled node does this, \
                 and so does a machine in the middle: compare it on the node's console first.\n",
                self.algorithm, self.fingerprint
            ));
            q
        };
        q.push_str(&format!(
            "Trust it and add it to {}? [y/N] ",
            self.known_hosts.display()
        ));
        q
    }
}

#[async_trait]
pub trait Prompter: Send + Sync {
    /// Unknown host: `true` trusts the key and records it in known_hosts.
    async fn trust_host_key(&self, prompt: &HostKeyPrompt) -> bool;
    /// Passphrase of an encrypted private key; `None` skips the key.
    async fn key_passphrase(&self, key_path: &Path) -> Option<Zeroizing<String>>;
    /// sudo password for `user@host`; `None` gives up on sudo for that host.
    async fn sudo_password(&self, user: &str, host: &str) -> Option<Zeroizing<String>>;
}

/// Non-interactive runs (`homelab bootstrap --yes`): trust new hosts only with `--accept-new`,
/// no passphrases, no sudo passwords (use NOPASSWD sudo or an agent).
#[derive(Debug, Clone, Copy, Default)]
pub struct NonInteractive {
    pub accept_new: bool,
}

#[async_trait]
impl Prompter for NonInteractive {
    async fn trust_host_key(&self, prompt: &HostKeyPrompt) -> bool {
        self.accept_new && prompt.is_new_host()
    }
    async fn key_passphrase(&self, _key_path: &Path) -> Option<Zeroizing<String>> {
        None
    }
    async fn sudo_password(&self, _user: &str, _host: &str) -> Option<Zeroizing<String>> {
        None
    }
}

/// A question in flight to the UI, with the channel its answer goes back on.
#[derive(Debug)]
pub enum PromptRequest {
    TrustHostKey {
        prompt: HostKeyPrompt,
        reply: oneshot::Sender<bool>,
    },
    KeyPassphrase {
        key_path: PathBuf,
        reply: oneshot::Sender<Option<Zeroizing<String>>>,
    },
    SudoPassword {
        user: String,
        host: String,
        reply: oneshot::Sender<Option<Zeroizing<String>>>,
    },
}

impl PromptRequest {
    /// Nobody waits for the answer any more (the asking task ended or stopped waiting).
    pub fn is_closed(&self) -> bool {
        match self {
            PromptRequest::TrustHostKey { reply, .. } => reply.is_closed(),
            PromptRequest::KeyPassphrase { reply, .. }
            | PromptRequest::SudoPassword { reply, .. } => reply.is_closed(),
        }
    }
}

/// Sends each question to the UI task and waits for its answer. A dropped reply (UI gone,
/// prompt cancelled) counts as "no".
#[derive(Debug, Clone)]
pub struct ChannelPrompter {
    tx: mpsc::Sender<PromptRequest>,
}

impl ChannelPrompter {
    pub fn new(tx: mpsc::Sender<PromptRequest>) -> Self {
        Self { tx }
    }
}

#[async_trait]
impl Prompter for ChannelPrompter {
    async fn trust_host_key(&self, prompt: &HostKeyPrompt) -> bool {
        let (reply, rx) = oneshot::channel();
        let req = PromptRequest::TrustHostKey {
            prompt: prompt.clone(),
            reply,
        };
        if self.tx.send(req).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
    async fn key_passphrase(&self, key_path: &Path) -> Option<Zeroizing<String>> {
        let (reply, rx) = oneshot::channel();
        let req = PromptRequest::KeyPassphrase {
            key_path: key_path.to_path_buf(),
            reply,
        };
        self.tx.send(req).await.ok()?;
        rx.await.ok().flatten()
    }
    async fn sudo_password(&self, user: &str, host: &str) -> Option<Zeroizing<String>> {
        let (reply, rx) = oneshot::channel();
        let req = PromptRequest::SudoPassword {
            user: user.to_string(),
            host: host.to_string(),
            reply,
        };
        self.tx.send(req).await.ok()?;
        rx.await.ok().flatten()
    }
}

/// `homelab bootstrap --yes` on a terminal: unknown hosts are trusted with `--accept-new` or a
/// y/N answer; passphrases and sudo passwords are read without echo. Without a terminal it
/// behaves like [`NonInteractive`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TerminalPrompter {
    pub accept_new: bool,
}

fn on_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Read a line from the terminal without echo (raw mode, restored before returning).
fn read_hidden(prompt: String) -> Option<Zeroizing<String>> {
    use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers, read};
    use std::io::Write;
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    crossterm::terminal::enable_raw_mode().ok()?;
    let mut buf = Zeroizing::new(String::new());
    let answer = loop {
        match read() {
            Ok(Event::Key(k)) if k.kind == KeyEventKind::Press => match k.code {
                KeyCode::Enter => break Some(buf),
                KeyCode::Esc => break None,
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => break None,
                KeyCode::Backspace => {
                    buf.pop();
                }
                KeyCode::Char(c) => buf.push(c),
                _ => {}
            },
            Ok(_) => {}
            Err(_) => break None,
        }
    };
    let _ = crossterm::terminal::disable_raw_mode();
    eprintln!();
    answer
}

#[async_trait]
impl Prompter for TerminalPrompter {
    async fn trust_host_key(&self, prompt: &HostKeyPrompt) -> bool {
        if self.accept_new && prompt.is_new_host() {
            eprintln!(
                "trusting new host key for {}:{} ({} {}) (--accept-new)",
                prompt.host, prompt.port, prompt.algorithm, prompt.fingerprint
            );
            return true;
        }
        if !on_terminal() {
            if !prompt.is_new_host() {
                eprintln!(
                    "{}:{} is already known with another key type ({}); --accept-new trusts only hosts with no key on record",
                    prompt.host,
                    prompt.port,
                    prompt.other_keys.join("; ")
                );
            }
            return false;
        }
        let question = prompt.question();
        tokio::task::spawn_blocking(move || {
            use std::io::{BufRead, Write};
            eprint!("{question}");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).is_ok()
                && matches!(line.trim(), "y" | "Y" | "yes")
        })
        .await
        .unwrap_or(false)
    }
    async fn key_passphrase(&self, key_path: &Path) -> Option<Zeroizing<String>> {
        if !on_terminal() {
            return None;
        }
        let prompt = format!("Enter passphrase for key '{}': ", key_path.display());
        tokio::task::spawn_blocking(move || read_hidden(prompt))
            .await
            .ok()
            .flatten()
    }
    async fn sudo_password(&self, user: &str, host: &str) -> Option<Zeroizing<String>> {
        if !on_terminal() {
            return None;
        }
        let prompt = format!("[sudo] password for {user}@{host}: ");
        tokio::task::spawn_blocking(move || read_hidden(prompt))
            .await
            .ok()
            .flatten()
    }
}
