//! The demo lab's git host: the SSH server behind `flux.repo`
//! (`ssh://git@127.A.B.4:2222/homelab.git`). An in-process russh server with its own ed25519
//! host key, accepting one user (`git`) with one public key (the operator's), like a plain git
//! server with `git-shell` as the login shell: it runs `git-upload-pack '<path>'` and
//! `git-receive-pack '<path>'` for its one repository and refuses anything else with a message
//! and exit status 1.
//!
//! Each accepted command is a real `git upload-pack` / `git receive-pack` subprocess on the
//! bare repository, streamed both ways as the bytes arrive (the smart protocol is a
//! conversation: the server advertises, the client answers, the server sends the pack):
//! channel data goes to the child's stdin, its stdout back as channel data, its stderr as
//! extended data; the client's EOF closes the child's stdin; when the child exits its status
//! is sent, then EOF and close. A `GIT_PROTOCOL` environment request (what OpenSSH's git sends
//! for protocol v2) is passed to the child; other variables are refused. `git` must be on
//! PATH when a command runs; if it is not, the client is told so on stderr (exit 127).

use russh::keys::ssh_key::{HashAlg, PrivateKey, PublicKey};
use russh::server::{
    Auth, ChannelOpenHandle, Handle, Handler, Msg, PublicKeyOffer, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How the git host is started.
#[derive(Clone)]
pub struct GitHostOptions {
    pub listen: SocketAddr,
    /// The login user (`git`, as in the URL).
    pub user: String,
    /// The only key that may log in.
    pub authorized: PublicKey,
    pub host_key: Arc<PrivateKey>,
    /// The repository's path as the URL names it (`/homelab.git`).
    pub path: String,
    /// The bare repository it maps to.
    pub repo: PathBuf,
    /// The git program (`git`: looked up on PATH when a command runs).
    pub git: PathBuf,
}

/// A running git host. Dropping it stops the server, its sessions and their git processes.
pub struct GitHost {
    pub addr: SocketAddr,
    pub host_key: PublicKey,
    stop: CancellationToken,
}

impl Drop for GitHost {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl GitHost {
    pub async fn start(opts: GitHostOptions) -> std::io::Result<GitHost> {
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        let key = (*opts.host_key).clone();
        let host_key = key.public_key().clone();
        let config = crate::sim::ssh_server::config(key);
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            opts,
            stop: stop.clone(),
        });
        let make = {
            let shared = shared.clone();
            move || Connection {
                shared: shared.clone(),
                channels: HashMap::new(),
            }
        };
        tokio::spawn(crate::sim::ssh_server::accept_loop(
            listener,
            config,
            stop.clone(),
            make,
        ));
        Ok(GitHost {
            addr,
            host_key,
            stop,
        })
    }

    /// `SHA256:...` of the host key, as a trust prompt shows it.
    pub fn fingerprint(&self) -> String {
        self.host_key.fingerprint(HashAlg::Sha256).to_string()
    }

    pub fn shutdown(&self) {
        self.stop.cancel();
    }
}

struct Shared {
    opts: GitHostOptions,
    stop: CancellationToken,
}

/// The two services a git host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    /// The `git` subcommand that serves it.
    pub fn subcommand(self) -> &'static str {
        match self {
            Service::UploadPack => "upload-pack",
            Service::ReceivePack => "receive-pack",
        }
    }
}

/// `git-upload-pack '<path>'` or `git-receive-pack '<path>'` (what OpenSSH's git and libgit2
/// send; git-shell takes the same): the service and the unquoted path. The path must be one
/// single-quoted word as git's `sq_quote` writes it (`'` inside it as `'\''`, `!` as `'\!'`);
/// anything else is refused with the reason.
pub fn parse_command(command: &str) -> Result<(Service, String), String> {
    let (program, arg) = command.split_once(' ').ok_or_else(|| {
        format!("`{command}`: expected git-upload-pack or git-receive-pack and a quoted path")
    })?;
    let service = match program {
        "git-upload-pack" => Service::UploadPack,
        "git-receive-pack" => Service::ReceivePack,
        _ => {
            return Err(format!(
                "`{program}` is not allowed here: this git host runs only git-upload-pack and git-receive-pack"
            ));
        }
    };
    let path = unquote(arg).ok_or_else(|| {
        format!("{program}: the path must be one single-quoted word, got `{arg}`")
    })?;
    if path.is_empty() {
        return Err(format!("{program}: an empty path"));
    }
    Ok((service, path))
}

/// One word quoted the way git's `sq_quote` quotes it: `'...'` runs, joined by `\'` or `\!`.
fn unquote(arg: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = arg.chars();
    loop {
        // A quoted run.
        if chars.next()? != '\'' {
            return None;
        }
        loop {
            match chars.next()? {
                '\'' => break,
                c => out.push(c),
            }
        }
        // The end, or an escaped quote or bang and the next run.
        match chars.next() {
            None => return Some(out),
            Some('\\') => match chars.next()? {
                c @ ('\'' | '!') => out.push(c),
                _ => return None,
            },
            Some(_) => return None,
        }
    }
}

/// One channel: its environment, and the running command's stdin while it takes input.
#[derive(Default)]
struct ChannelState {
    /// `GIT_PROTOCOL`, if the client asked for it.
    protocol: Option<String>,
    /// Set once a command (or a refusal) runs; a second exec on the channel is refused.
    started: bool,
    /// Chunks for the child's stdin; dropped on the client's EOF (the child sees its EOF).
    stdin: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// Stops the child when the client closes the channel early.
    cancel: CancellationToken,
}

struct Connection {
    shared: Arc<Shared>,
    channels: HashMap<ChannelId, ChannelState>,
}

impl Handler for Connection {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.allowed(user, offer.public_key))
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.allowed(user, key.public_key))
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), ChannelState::default());
        reply.accept().await;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // `version=2` and the like: printable, short, no shell or line metacharacters.
        let sane = value.len() <= 64
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "=:._-".contains(c));
        match self.channels.get_mut(&channel) {
            Some(st) if name == "GIT_PROTOCOL" && sane && !st.started => {
                st.protocol = Some(value.to_string());
                session.channel_success(channel)?;
            }
            _ => session.channel_failure(channel)?,
        }
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // `ssh -T git@host`: a greeting, as git hosts answer, and no shell.
        session.channel_success(channel)?;
        let message = format!(
            "This is the homelab demo lab's git host: no shell here, only git-upload-pack and \
             git-receive-pack of {} (clone, fetch, push).\n",
            self.shared.opts.path
        );
        self.refuse(channel, session, message);
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let handle = session.handle();
        let Some(st) = self.channels.get_mut(&channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        if st.started {
            session.channel_failure(channel)?;
            return Ok(());
        }
        st.started = true;
        session.channel_success(channel)?;
        let command = String::from_utf8_lossy(data).into_owned();
        let (service, path) = match parse_command(&command) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.refuse(channel, session, format!("fatal: {e}\n"));
                return Ok(());
            }
        };
        if !self.shared.serves(&path) {
            let message = format!(
                "fatal: '{path}' does not appear to be a git repository (this git host serves {})\n",
                self.shared.opts.path
            );
            self.refuse(channel, session, message);
            return Ok(());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        st.stdin = Some(tx);
        let run = Run {
            shared: self.shared.clone(),
            handle,
            channel,
            service,
            protocol: st.protocol.clone(),
            cancel: st.cancel.clone(),
        };
        tokio::spawn(run.run(rx));
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Passed on as it arrives: the protocol is a conversation, not a request body.
        if let Some(tx) = self.channels.get(&channel).and_then(|st| st.stdin.as_ref()) {
            let _ = tx.send(data.to_vec());
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(st) = self.channels.get_mut(&channel) {
            st.stdin = None;
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(st) = self.channels.remove(&channel) {
            st.cancel.cancel();
        }
        Ok(())
    }
}

impl Connection {
    fn allowed(&self, user: &str, key: &PublicKey) -> Auth {
        let o = &self.shared.opts;
        crate::sim::ssh_server::allowed(user, key, &o.user, &o.authorized)
    }

    /// `message` on stderr, exit status 1, EOF, close.
    fn refuse(&self, channel: ChannelId, session: &mut Session, message: String) {
        let handle = session.handle();
        tokio::spawn(async move {
            let _ = handle.extended_data(channel, 1, message.into_bytes()).await;
            let _ = handle.exit_status_request(channel, 1).await;
            let _ = handle.eof(channel).await;
            let _ = handle.close(channel).await;
        });
    }
}

impl Shared {
    /// The URL's path, also as git sends it for `git@host:homelab.git` and `~/homelab.git`.
    fn serves(&self, path: &str) -> bool {
        let mine = self.opts.path.trim_start_matches('/');
        let asked = path
            .strip_prefix("~/")
            .unwrap_or(path)
            .trim_start_matches('/');
        asked == mine
    }
}

/// One accepted command: the git subprocess and the pumps between it and the channel.
struct Run {
    shared: Arc<Shared>,
    handle: Handle,
    channel: ChannelId,
    service: Service,
    protocol: Option<String>,
    cancel: CancellationToken,
}

impl Run {
    async fn run(self, mut input: mpsc::UnboundedReceiver<Vec<u8>>) {
        let status = self.child(&mut input).await;
        let _ = self.handle.exit_status_request(self.channel, status).await;
        let _ = self.handle.eof(self.channel).await;
        let _ = self.handle.close(self.channel).await;
    }

    /// Run the child to its end; its exit status (127: git could not be started).
    async fn child(&self, input: &mut mpsc::UnboundedReceiver<Vec<u8>>) -> u32 {
        let opts = &self.shared.opts;
        let mut cmd = tokio::process::Command::new(&opts.git);
        cmd.arg(self.service.subcommand())
            .arg(&opts.repo)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        // Nothing of this process's git setting (GIT_DIR of a hook, GIT_CONFIG_*...) reaches
        // the server side.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GIT_") {
                cmd.env_remove(k);
            }
        }
        if let Some(p) = &self.protocol {
            cmd.env("GIT_PROTOCOL", p);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    format!(
                        "`{}` is not on PATH; the demo lab's git host runs git to serve {} \
                         (install git, e.g. `apt-get install git`, and run the demo again)",
                        opts.git.display(),
                        opts.path
                    )
                } else {
                    format!(
                        "cannot start `{} {}`: {e}",
                        opts.git.display(),
                        self.service.subcommand()
                    )
                };
                let _ = self
                    .handle
                    .extended_data(self.channel, 1, format!("fatal: {why}\n").into_bytes())
                    .await;
                return 127;
            }
        };
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return 1;
        };
        let feed = async move {
            while let Some(chunk) = input.recv().await {
                if stdin.write_all(&chunk).await.is_err() {
                    break;
                }
                let _ = stdin.flush().await;
            }
            // The client's EOF (or the channel gone): the child reads its end of input.
            drop(stdin);
        };
        let out = pump(stdout, &self.handle, self.channel, None);
        let err = pump(stderr, &self.handle, self.channel, Some(1));
        let streams = async {
            tokio::join!(out, err);
        };
        tokio::pin!(feed);
        tokio::pin!(streams);
        let mut fed = false;
        let done = loop {
            tokio::select! {
                () = &mut feed, if !fed => fed = true,
                () = &mut streams => break true,
                () = self.cancel.cancelled() => break false,
                () = self.shared.stop.cancelled() => break false,
            }
        };
        if !done {
            let _ = child.kill().await;
            return 1;
        }
        match child.wait().await {
            // As a shell reports it: the exit code, or 128 + the signal that ended it.
            Ok(s) => {
                use std::os::unix::process::ExitStatusExt;
                s.code()
                    .or_else(|| s.signal().map(|n| 128 + n))
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(1)
            }
            Err(_) => 1,
        }
    }
}

/// Copy one output of the child to the channel (`ext`: extended data of that type) until EOF.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    handle: &Handle,
    channel: ChannelId,
    ext: Option<u32>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let bytes = buf[..n].to_vec();
        let sent = match ext {
            None => handle.data(channel, bytes).await,
            Some(code) => handle.extended_data(channel, code, bytes).await,
        };
        if sent.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_git_services_with_one_quoted_path_are_taken() {
        assert_eq!(
            parse_command("git-upload-pack '/homelab.git'"),
            Ok((Service::UploadPack, "/homelab.git".into()))
        );
        assert_eq!(
            parse_command("git-receive-pack 'homelab.git'"),
            Ok((Service::ReceivePack, "homelab.git".into()))
        );
        // git's sq_quote: a quote as '\'' and a bang as '\!'.
        assert_eq!(
            parse_command(r"git-upload-pack '/it'\''s'\!'.git'"),
            Ok((Service::UploadPack, "/it's!.git".into()))
        );
        // What our transport sends (shell_quote::quote_always) parses back to the path.
        for p in ["/homelab.git", "/a b/it's.git", "~/x.git"] {
            let cmd = format!("git-receive-pack {}", crate::shell_quote::quote_always(p));
            assert_eq!(
                parse_command(&cmd),
                Ok((Service::ReceivePack, p.into())),
                "{cmd}"
            );
        }
        for bad in [
            "ls",
            "sh -c 'git-upload-pack /x'",
            "git-upload-pack /homelab.git",
            "git-upload-pack '/homelab.git",
            "git-upload-pack '/homelab.git' '/other.git'",
            "git-upload-pack '/homelab.git';id",
            "git-upload-pack '/a'\\x'b'",
            "git-upload-pack ''",
            "git-upload-archive '/homelab.git'",
            "git upload-pack '/homelab.git'",
        ] {
            assert!(parse_command(bad).is_err(), "{bad}");
        }
        let e = parse_command("rm -rf /").unwrap_err();
        assert!(
            e.contains("only git-upload-pack and git-receive-pack"),
            "{e}"
        );
    }
}
