//! A git2 custom transport for `ssh://` on our russh client (`backends::ssh`).
//!
//! libgit2 is synchronous and calls the transport on the thread that called `push`; russh is
//! async. [`super::push`] runs libgit2 on a blocking thread, [`Context::install`] puts the SSH
//! settings in a thread-local for the transport factory to pick up, and the stream drives the
//! russh channel with `Handle::block_on` (allowed on a blocking thread, never on a runtime one).
//! git's stateful smart protocol runs over the channel of `git-receive-pack '<path>'`, the same
//! command line OpenSSH's git sends and `git-shell` accepts.

use super::PushError;
use crate::backends::ssh::session::SshSession;
use crate::backends::ssh::{self, SshError, SshTarget};
use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};
use russh::ChannelMsg;
use std::cell::RefCell;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// No byte from the git host for this long ends the push.
const IDLE: Duration = Duration::from_secs(120);

/// A parsed SSH remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// As the remote command gets it (`/srv/git/x.git`, `~/x.git`, `x.git`).
    pub path: String,
}

/// `ssh://[user@]host[:port]/path` or scp-like `[user@]host:path`.
pub fn parse_url(url: &str) -> Result<RemoteUrl, String> {
    let bad = |m: &str| Err(m.to_string());
    if url.chars().any(char::is_control) {
        return bad("the URL holds a control character");
    }
    let (user_host, path, port) = if let Some(rest) = url.strip_prefix("ssh://") {
        let Some((authority, path)) = rest.split_once('/') else {
            return bad("no path after the host");
        };
        // ssh://host/~user/x and ssh://host/~/x name paths relative to a home, as git does.
        let path = if path.starts_with('~') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let port_part = if authority.ends_with(']') {
            None
        } else {
            authority.rsplit_once(':')
        };
        let (user_host, port) = match port_part {
            Some((h, p)) => {
                let port: u16 = p
                    .parse()
                    .map_err(|_| format!("port {p:?} is not a number from 1 to 65535"))?;
                if port == 0 {
                    return bad("port 0");
                }
                (h.to_string(), Some(port))
            }
            _ => (authority.to_string(), None),
        };
        (user_host, path, port)
    } else if url.contains("://") {
        return bad("only ssh:// remotes are pushed to (an https remote needs a token)");
    } else {
        let Some((user_host, path)) = url.split_once(':') else {
            return bad("not an SSH remote");
        };
        (user_host.to_string(), path.to_string(), None)
    };
    let (user, host) = match user_host.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h.to_string()),
        None => (None, user_host),
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if host.is_empty() || host.starts_with('-') {
        return bad("no host");
    }
    if path.is_empty() || path == "/" {
        return bad("no repository path");
    }
    if user
        .as_deref()
        .is_some_and(|u| u.is_empty() || u.starts_with('-'))
    {
        return bad("an empty user, or one starting with '-'");
    }
    Ok(RemoteUrl {
        user,
        host,
        port,
        path,
    })
}

/// What one push's transport needs: SSH settings, the runtime, and where errors and the
/// remote's stderr go.
pub(super) struct Context {
    access: super::SshAccess,
    rt: tokio::runtime::Handle,
    ssh_error: Mutex<Option<SshError>>,
    remote_lines: Arc<Mutex<String>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Context>>> = const { RefCell::new(None) };
}

/// Clears the thread's context when the push is over.
pub(super) struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

impl Context {
    pub(super) fn new(
        access: super::SshAccess,
        rt: tokio::runtime::Handle,
        remote_lines: Arc<Mutex<String>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            access,
            rt,
            ssh_error: Mutex::new(None),
            remote_lines,
        })
    }

    /// Make this the context of pushes on this thread until the guard drops.
    pub(super) fn install(self: &Arc<Self>) -> Installed {
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        Installed
    }

    /// The typed SSH error behind a failed push, if that is what failed.
    pub(super) fn take_ssh_error(&self) -> Option<SshError> {
        self.ssh_error.lock().ok().and_then(|mut e| e.take())
    }
}

pub(super) fn append_capped(buf: &Mutex<String>, text: &str, cap: usize) {
    let Ok(mut b) = buf.lock() else { return };
    let room = cap.saturating_sub(b.len());
    let mut take = text.len().min(room);
    while !text.is_char_boundary(take) {
        take -= 1;
    }
    b.push_str(&text[..take]);
}

/// Register the transport for `ssh://` (and scp-like URLs, which libgit2 routes to it) once per
/// process. git2 is built without libssh2, so nothing else claims the scheme.
pub(super) fn register() -> Result<(), PushError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            // SAFETY: runs once (OnceLock), before any transport of this scheme is created.
            unsafe {
                git2::transport::register("ssh", |remote| {
                    let ctx = CURRENT.with(|c| c.borrow().clone()).ok_or_else(|| {
                        git2::Error::from_str(
                            "ssh remotes are pushed through backends::git_push::push only",
                        )
                    })?;
                    Transport::smart(remote, false, Russh { ctx })
                })
            }
            .map_err(|e| e.message().to_string())
        })
        .clone()
        .map_err(|message| PushError::Failed {
            url: String::new(),
            message: format!("registering the SSH transport: {message}"),
            remote: String::new(),
        })
}

struct Russh {
    ctx: Arc<Context>,
}

impl SmartSubtransport for Russh {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let program = match action {
            Service::ReceivePackLs | Service::ReceivePack => "git-receive-pack",
            Service::UploadPackLs | Service::UploadPack => "git-upload-pack",
        };
        let remote = parse_url(url).map_err(|m| git2::Error::from_str(&format!("{url}: {m}")))?;
        let command = format!(
            "{program} {}",
            crate::shell_quote::quote_always(&remote.path)
        );
        let ctx = self.ctx.clone();
        let opened = ctx.rt.block_on(open(&ctx, &remote, &command));
        match opened {
            Ok((session, channel)) => Ok(Box::new(GitChannel {
                ctx,
                _session: session,
                channel,
                pending: Vec::new(),
                at: 0,
                done: false,
                exit: None,
            })),
            Err(e) => {
                let msg = e.to_string();
                if let Ok(mut slot) = self.ctx.ssh_error.lock() {
                    *slot = Some(e);
                }
                Err(git2::Error::from_str(&msg))
            }
        }
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

async fn open(
    ctx: &Context,
    remote: &RemoteUrl,
    command: &str,
) -> Result<(SshSession, russh::Channel<russh::client::Msg>), SshError> {
    let target = SshTarget {
        alias: remote.host.clone(),
        user: remote.user.clone(),
        port: remote.port,
        identity_file: ctx.access.identity_file.clone(),
    };
    let route = ssh::resolve(&ctx.access.env, &target)?;
    let session = SshSession::connect(&ctx.access.env, route, ctx.access.prompter.clone()).await?;
    let channel = session.open_exec(command).await?;
    Ok((session, channel))
}

/// The remote command's stdin/stdout as a blocking stream; its stderr goes to the context.
struct GitChannel {
    ctx: Arc<Context>,
    _session: SshSession,
    channel: russh::Channel<russh::client::Msg>,
    pending: Vec<u8>,
    at: usize,
    done: bool,
    exit: Option<u32>,
}

impl GitChannel {
    fn stderr(&self, data: &[u8]) {
        append_capped(
            &self.ctx.remote_lines,
            &String::from_utf8_lossy(data),
            super::REMOTE_LINES_CAP,
        );
    }
}

impl Read for GitChannel {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.at < self.pending.len() {
                let n = buf.len().min(self.pending.len() - self.at);
                buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            if self.done {
                return match self.exit {
                    Some(code) if code != 0 => Err(std::io::Error::other(format!(
                        "the remote git exited with status {code}"
                    ))),
                    _ => Ok(0),
                };
            }
            let rt = self.ctx.rt.clone();
            let msg = rt
                .block_on(async { tokio::time::timeout(IDLE, self.channel.wait()).await })
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the git host sent nothing for {}s", IDLE.as_secs()),
                    )
                })?;
            match msg {
                Some(ChannelMsg::Data { data }) => {
                    self.pending = data.to_vec();
                    self.at = 0;
                }
                Some(ChannelMsg::ExtendedData { data, .. }) => self.stderr(&data),
                Some(ChannelMsg::ExitStatus { exit_status }) => self.exit = Some(exit_status),
                Some(ChannelMsg::Eof) => {}
                Some(ChannelMsg::Close) | None => self.done = true,
                Some(_) => {}
            }
        }
    }
}

impl Write for GitChannel {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let rt = self.ctx.rt.clone();
        rt.block_on(async {
            tokio::time::timeout(IDLE, self.channel.data_bytes(buf.to_vec())).await
        })
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the git host took nothing for {}s", IDLE.as_secs()),
            )
        })?
        .map_err(|e| std::io::Error::other(format!("writing to the git host: {e}")))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_and_scp_like_urls_parse() {
        let u = parse_url("ssh://git@git.lab:2222/srv/git/flux.git").unwrap();
        assert_eq!(
            u,
            RemoteUrl {
                user: Some("git".into()),
                host: "git.lab".into(),
                port: Some(2222),
                path: "/srv/git/flux.git".into()
            }
        );
        let u = parse_url("git@github.com:me/homelab.git").unwrap();
        assert_eq!(u.user.as_deref(), Some("git"));
        assert_eq!(u.host, "github.com");
        assert_eq!(u.port, None);
        assert_eq!(u.path, "me/homelab.git");
        assert_eq!(parse_url("ssh://h/~/r.git").unwrap().path, "~/r.git");
        assert_eq!(parse_url("ssh://[::1]:22/r").unwrap().host, "::1");
        for bad in [
            "https://github.com/me/x.git",
            "ssh://host",
            "ssh://host:99999/x",
            "ssh://-oProxyCommand=x/y",
            "noremote",
            "ssh://a\nb/x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
