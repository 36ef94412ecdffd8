//! One authenticated SSH connection (possibly through ProxyJump hosts): host key verification,
//! agent and key-file authentication, streaming exec, SFTP upload with progress.

use super::command::{ExecOutcome, LineSplitter, OutputLine, Stream, mask};
use super::config::StrictHostKeyChecking;
use super::known_hosts::{self, HostKeyStatus};
use super::prompt::{HostKeyPrompt, Prompter};
use super::proxy_command::ProxyStream;
use super::{Resolved, Route, SshEnv, SshError, keys};
use russh::client::{self, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// russh callbacks for one hop: host key verification against known_hosts.
pub struct HostKeyCheck {
    host: String,
    port: u16,
    files: Vec<PathBuf>,
    /// Where a trusted key is recorded (`None`: no user known_hosts file at all).
    write_to: Option<PathBuf>,
    strict: StrictHostKeyChecking,
    prompter: Arc<dyn Prompter>,
}

impl client::Handler for HostKeyCheck {
    type Error = SshError;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key: &PublicKey = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(_) => {
                return Err(SshError::Setup(format!(
                    "{}:{}: the server presented a host certificate; homelab verifies plain host keys only",
                    self.host, self.port
                )));
            }
        };
        let fingerprint = known_hosts::fingerprint(key);
        let status = known_hosts::check(&self.files, &self.host, self.port, key)
            .map_err(|e| SshError::Setup(format!("reading known_hosts for {}: {e}", self.host)))?;
        match status {
            HostKeyStatus::Known { .. } => Ok(true),
            HostKeyStatus::Changed {
                file,
                line,
                expected_fingerprint,
            } => Err(SshError::HostKeyChanged(Box::new(super::ChangedHostKey {
                host: self.host.clone(),
                port: self.port,
                name: known_hosts::host_port_name(&self.host, self.port),
                file: file.display().to_string(),
                line,
                expected: expected_fingerprint,
                actual: fingerprint,
            }))),
            HostKeyStatus::Revoked { file, line } => Err(SshError::HostKeyRevoked {
                host: self.host.clone(),
                port: self.port,
                fingerprint,
                file: file.display().to_string(),
                line,
            }),
            status @ (HostKeyStatus::Unknown | HostKeyStatus::OtherTypes { .. }) => {
                let other_keys = match status {
                    HostKeyStatus::OtherTypes { known } => {
                        known.iter().map(ToString::to_string).collect()
                    }
                    _ => Vec::new(),
                };
                let Some(user_file) = self.write_to.clone() else {
                    return Err(SshError::Setup("no known_hosts file configured".into()));
                };
                let is_new = other_keys.is_empty();
                let trusted = match self.strict {
                    StrictHostKeyChecking::Yes => {
                        return Err(SshError::HostKeyStrict {
                            host: self.host.clone(),
                            port: self.port,
                            fingerprint,
                            files: self
                                .files
                                .iter()
                                .map(|f| f.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                        });
                    }
                    StrictHostKeyChecking::No => true,
                    StrictHostKeyChecking::AcceptNew if is_new => true,
                    // `ask`, and accept-new for a host on record with another key type (not new:
                    // the prompt shows the keys on record; --accept-new does not cover it).
                    StrictHostKeyChecking::AcceptNew | StrictHostKeyChecking::Ask => {
                        let prompt = HostKeyPrompt {
                            host: self.host.clone(),
                            port: self.port,
                            algorithm: key.algorithm().to_string(),
                            fingerprint: fingerprint.clone(),
                            known_hosts: user_file.clone(),
                            other_keys,
                        };
                        self.prompter.trust_host_key(&prompt).await
                    }
                };
                if !trusted {
                    return Err(SshError::HostKeyNotTrusted {
                        host: self.host.clone(),
                        port: self.port,
                        fingerprint,
                    });
                }
                known_hosts::append(&user_file, &self.host, self.port, key).map_err(|e| {
                    SshError::KnownHostsWrite {
                        host: self.host.clone(),
                        port: self.port,
                        file: user_file.display().to_string(),
                        message: e.to_string(),
                    }
                })?;
                Ok(true)
            }
        }
    }
}

/// An open, authenticated connection to a node.
pub struct SshSession {
    handle: Handle<HostKeyCheck>,
    /// Jump host connections the target connection is tunnelled through (kept alive).
    _jumps: Vec<Handle<HostKeyCheck>>,
    pub route: Route,
}

fn client_config(env: &SshEnv, hop: &Resolved) -> Arc<client::Config> {
    let known = known_hosts::known_algorithms(&hop.known_hosts, &hop.host, hop.port);
    let mut preferred = russh::Preferred::default();
    if !known.is_empty() {
        // Prefer host key types already recorded for this host, like OpenSSH does, so a host
        // with a known ed25519 key is not asked for an ecdsa one and mistaken for "unknown".
        let family = |a: &russh::keys::Algorithm| std::mem::discriminant(a);
        let (mut first, rest): (Vec<_>, Vec<_>) = preferred
            .key
            .iter()
            .cloned()
            .partition(|a| known.iter().any(|k| family(k) == family(a)));
        first.extend(rest);
        preferred.key = Cow::Owned(first);
    }
    Arc::new(client::Config {
        keepalive_interval: Some(env.keepalive),
        keepalive_max: 3,
        nodelay: true,
        preferred,
        ..Default::default()
    })
}

impl SshSession {
    /// Connect along `route` (jump hosts first), verifying every hop's host key and
    /// authenticating every hop.
    pub async fn connect(
        env: &SshEnv,
        route: Route,
        prompter: Arc<dyn Prompter>,
    ) -> Result<Self, SshError> {
        let mut held: Vec<Handle<HostKeyCheck>> = Vec::new();
        let hops: Vec<Resolved> = route
            .jumps
            .iter()
            .cloned()
            .chain(std::iter::once(route.target.clone()))
            .collect();
        for hop in &hops {
            let handler = HostKeyCheck {
                host: hop.host.clone(),
                port: hop.port,
                files: hop.known_hosts.clone(),
                write_to: hop.known_hosts_write.clone(),
                strict: hop.strict,
                prompter: prompter.clone(),
            };
            let config = client_config(env, hop);
            // The first hop may go through its ProxyCommand; later hops are tunnelled.
            let mut proxy = match (&hop.proxy_command, held.is_empty()) {
                (Some(command), true) => Some(ProxyStream::spawn(command, &hop.host, hop.port)?),
                _ => None,
            };
            let proxy_tail = proxy.as_ref().map(|(_, tail)| tail.clone());
            let connecting = async {
                match held.last() {
                    None => match proxy.take() {
                        None => {
                            client::connect(config, (hop.host.as_str(), hop.port), handler).await
                        }
                        Some((stream, _)) => client::connect_stream(config, stream, handler).await,
                    },
                    Some(prev) => {
                        let ch = prev
                            .channel_open_direct_tcpip(
                                hop.host.clone(),
                                hop.port as u32,
                                "127.0.0.1",
                                0,
                            )
                            .await
                            .map_err(|e| SshError::Connect {
                                host: hop.host.clone(),
                                port: hop.port,
                                message: format!("through the jump host: {e}"),
                            })?;
                        client::connect_stream(config, ch.into_stream(), handler).await
                    }
                }
            };
            let connected = tokio::time::timeout(env.connect_timeout, connecting)
                .await
                .map_err(|_| SshError::Timeout {
                    host: hop.host.clone(),
                    what: "connecting".into(),
                    secs: env.connect_timeout.as_secs(),
                })
                .and_then(|r| r);
            let mut handle = match (connected, &proxy_tail) {
                (Ok(h), _) => h,
                (Err(SshError::Protocol(russh::Error::IO(io))), None) => {
                    return Err(SshError::Connect {
                        host: hop.host.clone(),
                        port: hop.port,
                        message: io.to_string(),
                    });
                }
                (Err(e @ (SshError::Protocol(_) | SshError::Timeout { .. })), Some(tail)) => {
                    return Err(SshError::Connect {
                        host: hop.host.clone(),
                        port: hop.port,
                        message: format!(
                            "through ProxyCommand `{}`: {e}; the command said: {}",
                            hop.proxy_command.as_deref().unwrap_or_default(),
                            tail.text().await
                        ),
                    });
                }
                (Err(other), _) => return Err(other),
            };
            tokio::time::timeout(
                env.connect_timeout * 3,
                authenticate(&mut handle, env, hop, prompter.as_ref()),
            )
            .await
            .map_err(|_| SshError::Timeout {
                host: hop.host.clone(),
                what: "authenticating".into(),
                secs: env.connect_timeout.as_secs() * 3,
            })??;
            held.push(handle);
        }
        let handle = held
            .pop()
            .ok_or_else(|| SshError::Setup("empty route".into()))?;
        Ok(Self {
            handle,
            _jumps: held,
            route,
        })
    }

    pub fn host(&self) -> &str {
        &self.route.target.host
    }

    pub fn user(&self) -> &str {
        &self.route.target.user
    }

    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Run `command` (a full remote command line), feed `stdin`, stream lines to `on_line`
    /// (secrets masked) and return the exit status and collected output. `label` names the
    /// command in errors (defaults to the command line).
    #[allow(clippy::too_many_arguments)]
    pub async fn exec(
        &self,
        command: &str,
        label: Option<&str>,
        stdin: Option<&[u8]>,
        secrets: &[String],
        timeout: Option<Duration>,
        on_line: &mut (dyn FnMut(OutputLine) + Send),
    ) -> Result<ExecOutcome, SshError> {
        let host = self.host().to_string();
        let label = mask(label.unwrap_or(command), secrets);
        let lost = |message: String| SshError::Disconnected {
            host: host.clone(),
            message,
        };
        let mut channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| lost(format!("opening a channel: {e}")))?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| lost(format!("starting the command: {e}")))?;
        if let Some(input) = stdin {
            channel
                .data(input)
                .await
                .map_err(|e| lost(format!("writing stdin: {e}")))?;
        }
        channel.eof().await.ok();

        let mut out = ExecOutcome::default();
        let mut split_out = LineSplitter::default();
        let mut split_err = LineSplitter::default();
        let mut emit = |stream: Stream, text: String, out: &mut ExecOutcome| {
            let text = mask(&text, secrets);
            let buf = match stream {
                Stream::Stdout => &mut out.stdout,
                Stream::Stderr => &mut out.stderr,
            };
            buf.push_str(&text);
            buf.push('\n');
            on_line(OutputLine { stream, text });
        };
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut closed_cleanly = false;
        loop {
            let msg = match deadline {
                Some(d) => match tokio::time::timeout_at(d, channel.wait()).await {
                    Ok(m) => m,
                    Err(_) => {
                        let _ = channel.close().await;
                        return Err(SshError::Timeout {
                            host,
                            what: format!("running `{label}`"),
                            secs: timeout.map(|t| t.as_secs()).unwrap_or_default(),
                        });
                    }
                },
                None => channel.wait().await,
            };
            let Some(msg) = msg else { break };
            match msg {
                ChannelMsg::Data { data } => {
                    let mut lines = vec![];
                    split_out.push(&data, |l| lines.push(l));
                    for l in lines {
                        emit(Stream::Stdout, l, &mut out);
                    }
                }
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    let mut lines = vec![];
                    split_err.push(&data, |l| lines.push(l));
                    for l in lines {
                        emit(Stream::Stderr, l, &mut out);
                    }
                }
                ChannelMsg::ExitStatus { exit_status } => out.exit_status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    out.exit_signal = Some(format!("{signal_name:?}"))
                }
                ChannelMsg::Close => {
                    closed_cleanly = true;
                    break;
                }
                _ => {}
            }
        }
        let mut tail = vec![];
        split_out.finish(|l| tail.push((Stream::Stdout, l)));
        split_err.finish(|l| tail.push((Stream::Stderr, l)));
        for (s, l) in tail {
            emit(s, l, &mut out);
        }
        if out.exit_status.is_none() && out.exit_signal.is_none() && !closed_cleanly {
            return Err(lost(format!(
                "the connection dropped while `{label}` was running"
            )));
        }
        Ok(out)
    }

    /// Upload `size` bytes from `reader` to `remote_path` (written to `<path>.partial`, then
    /// renamed), with `mode`, reporting `(sent, total)` after every chunk.
    pub async fn upload(
        &self,
        reader: &mut (dyn AsyncRead + Unpin + Send),
        size: u64,
        remote_path: &str,
        mode: u32,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<u64, SshError> {
        let host = self.host().to_string();
        let sftp_err = |message: String| SshError::Sftp {
            host: host.clone(),
            path: remote_path.to_string(),
            message,
        };
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| sftp_err(format!("opening a channel: {e}")))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| sftp_err(format!("starting the sftp subsystem: {e}")))?;
        let sftp = russh_sftp::client::SftpSession::new(channel.into_stream())
            .await
            .map_err(|e| sftp_err(format!("sftp handshake: {e}")))?;
        let partial = format!("{remote_path}.partial");
        let mut file = sftp
            .create(partial.clone())
            .await
            .map_err(|e| sftp_err(format!("creating {partial}: {e}")))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        progress(0, size);
        loop {
            let n = reader
                .read(&mut buf)
                .await
                .map_err(|e| sftp_err(format!("reading the local file: {e}")))?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n])
                .await
                .map_err(|e| sftp_err(format!("writing: {e}")))?;
            sent += n as u64;
            progress(sent, size);
        }
        file.flush()
            .await
            .map_err(|e| sftp_err(format!("flushing: {e}")))?;
        file.shutdown()
            .await
            .map_err(|e| sftp_err(format!("closing: {e}")))?;
        let attrs = russh_sftp::protocol::FileAttributes {
            permissions: Some(mode),
            ..Default::default()
        };
        sftp.set_metadata(partial.clone(), attrs)
            .await
            .map_err(|e| sftp_err(format!("chmod {mode:o}: {e}")))?;
        if sftp.try_exists(remote_path).await.unwrap_or(false) {
            sftp.remove_file(remote_path)
                .await
                .map_err(|e| sftp_err(format!("replacing the old file: {e}")))?;
        }
        sftp.rename(partial, remote_path)
            .await
            .map_err(|e| sftp_err(format!("rename into place: {e}")))?;
        let _ = sftp.close().await;
        Ok(sent)
    }

    /// Start `command` on a channel of its own and hand the channel over, for peers that speak
    /// a protocol of their own over stdin/stdout (git's smart protocol, `backends::git_push`).
    pub async fn open_exec(&self, command: &str) -> Result<russh::Channel<client::Msg>, SshError> {
        let lost = |message: String| SshError::Disconnected {
            host: self.host().to_string(),
            message,
        };
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| lost(format!("opening a channel: {e}")))?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| lost(format!("starting `{command}`: {e}")))?;
        Ok(channel)
    }

    pub async fn disconnect(&self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "bye", "en")
            .await;
    }
}

/// Agent identities first (no prompts), then key files (asking for passphrases).
async fn authenticate(
    handle: &mut Handle<HostKeyCheck>,
    env: &SshEnv,
    hop: &Resolved,
    prompter: &dyn Prompter,
) -> Result<(), SshError> {
    let mut tried: Vec<String> = Vec::new();
    let file_pubkeys: Vec<PublicKey> = hop
        .identity_files
        .iter()
        .filter_map(|p| keys::public_key_of(p))
        .collect();
    let rsa_hash = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    let mut agent_keys: Vec<PublicKey> = Vec::new();

    if let Some(sock) = &env.agent_socket
        && let Ok(mut agent) = AgentClient::connect_uds(sock).await
    {
        let identities = agent.request_identities().await.unwrap_or_default();
        for id in identities {
            let AgentIdentity::PublicKey { key, comment } = id else {
                continue;
            };
            if hop.identities_only && !file_pubkeys.iter().any(|k| k.key_data() == key.key_data()) {
                continue;
            }
            tried.push(format!(
                "agent:{}",
                if comment.is_empty() {
                    key.algorithm().to_string()
                } else {
                    comment
                }
            ));
            let hash = if key.algorithm().is_rsa() {
                rsa_hash
            } else {
                None
            };
            match handle
                .authenticate_publickey_with(hop.user.clone(), key.clone(), hash, &mut agent)
                .await
            {
                Ok(r) if r.success() => return Ok(()),
                _ => agent_keys.push(key),
            }
        }
    }

    for path in &hop.identity_files {
        if !path.exists() {
            continue;
        }
        if let Some(pk) = keys::public_key_of(path)
            && agent_keys.iter().any(|k| k.key_data() == pk.key_data())
        {
            continue; // already offered through the agent
        }
        let key = match env.unlocked.load(path, prompter).await {
            Ok(k) => k,
            Err(why) => {
                tried.push(why);
                continue;
            }
        };
        tried.push(path.display().to_string());
        let hash = if key.algorithm().is_rsa() {
            rsa_hash
        } else {
            None
        };
        let res = handle
            .authenticate_publickey(hop.user.clone(), PrivateKeyWithHashAlg::new(key, hash))
            .await?;
        if res.success() {
            return Ok(());
        }
    }
    Err(SshError::AuthFailed {
        host: hop.host.clone(),
        user: hop.user.clone(),
        tried: if tried.is_empty() {
            "no keys: no agent and no identity files".into()
        } else {
            tried.join(", ")
        },
    })
}
