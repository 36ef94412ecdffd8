//! A simulated VM's SSH server for `homelab demo`: an in-process russh server on a loopback
//! address with its own ed25519 host key, accepting one user with one public key, running
//! `sh -s` / `sudo -n -- sh -s` by reading the script from stdin and answering it through
//! [`script::answer`] (streamed line by line, paced by the lab's speed), and `sudo -n true`.
//! When an install finishes, [`NodeOptions::on_install`] is called: the lab makes the node a
//! Kubernetes node of the kube simulator. The host key and the node's files live outside the
//! server ([`NodeOptions::host_key`], [`NodeOptions::state`]), so a server stopped and started
//! again (the VM rebooted) is the same machine.

pub mod script;
pub mod storage;

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{HashAlg, PrivateKey, PublicKey};
use russh::server::{
    Auth, ChannelOpenHandle, Handler, Msg, PublicKeyOffer, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId};
pub use script::{Installed, NodeProfile, NodeState};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Called once per finished install, with the node's name.
pub type OnInstall = Arc<dyn Fn(&str, &Installed) + Send + Sync>;

/// How a node is started.
#[derive(Clone)]
pub struct NodeOptions {
    pub listen: SocketAddr,
    pub profile: NodeProfile,
    /// The login user (`ssh.user` of the cluster definition).
    pub user: String,
    /// The only key that may log in.
    pub authorized: PublicKey,
    /// What `/etc/rancher/k3s/k3s.yaml` holds once k3s is installed on a server.
    pub kubeconfig: String,
    /// How long an install takes (its lines are spread over it); zero answers at once.
    pub install_time: Duration,
    pub on_install: OnInstall,
    /// The node's host key: the same across restarts of its server (a VM's reboot).
    pub host_key: Arc<PrivateKey>,
    /// The node's disk: kept across restarts of its server.
    pub state: Arc<Mutex<NodeState>>,
}

/// A running node. Dropping it stops the server and its sessions.
pub struct NodeServer {
    pub addr: SocketAddr,
    /// `SHA256:...` of the host key, as the trust prompt shows it.
    pub host_key_fingerprint: String,
    pub host_key: PublicKey,
    pub state: Arc<Mutex<NodeState>>,
    stop: CancellationToken,
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A new ed25519 key from the operating system's random source.
pub fn random_key() -> PrivateKey {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    PrivateKey::from(Ed25519Keypair::from_seed(&seed))
}

impl NodeServer {
    pub async fn start(opts: NodeOptions) -> std::io::Result<NodeServer> {
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        Self::serve(listener, opts)
    }

    /// Serve on a listener already bound.
    pub fn serve(
        listener: tokio::net::TcpListener,
        opts: NodeOptions,
    ) -> std::io::Result<NodeServer> {
        let addr = listener.local_addr()?;
        let key = (*opts.host_key).clone();
        let host_key = key.public_key().clone();
        let host_key_fingerprint = host_key.fingerprint(HashAlg::Sha256).to_string();
        let config = crate::sim::ssh_server::config(key);
        let state = opts.state.clone();
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            opts,
            state: state.clone(),
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
        Ok(NodeServer {
            addr,
            host_key_fingerprint,
            host_key,
            state,
            stop,
        })
    }

    pub fn shutdown(&self) {
        self.stop.cancel();
    }
}

struct Shared {
    opts: NodeOptions,
    state: Arc<Mutex<NodeState>>,
    stop: CancellationToken,
}

/// One channel's command and the stdin read so far.
#[derive(Default)]
struct Pending {
    command: Option<String>,
    stdin: Vec<u8>,
}

struct Connection {
    shared: Arc<Shared>,
    channels: HashMap<ChannelId, Pending>,
}

/// Stdin is capped: the largest script the stage sends is a few KiB.
const STDIN_CAP: usize = 1 << 20;

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
        self.channels.insert(channel.id(), Pending::default());
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let p = self.channels.entry(channel).or_default();
        p.command = Some(String::from_utf8_lossy(data).into_owned());
        session.channel_success(channel)?;
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let p = self.channels.entry(channel).or_default();
        if p.stdin.len().saturating_add(data.len()) <= STDIN_CAP {
            p.stdin.extend_from_slice(data);
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(p) = self.channels.remove(&channel) else {
            return Ok(());
        };
        let handle = session.handle();
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let command = p.command.unwrap_or_default();
            let stdin = String::from_utf8_lossy(&p.stdin).into_owned();
            let answer = shared.run(&command, &stdin);
            shared.send(&handle, channel, answer).await;
        });
        Ok(())
    }
}

impl Connection {
    fn allowed(&self, user: &str, key: &PublicKey) -> Auth {
        let o = &self.shared.opts;
        crate::sim::ssh_server::allowed(user, key, &o.user, &o.authorized)
    }
}

impl Shared {
    /// The answer to one exec: `sudo -n true`, or a script on stdin for `sh -s`.
    fn run(&self, command: &str, stdin: &str) -> script::Answer {
        let command = command.trim();
        let script = match command {
            "sudo -n true" | "true" => "true",
            "sh -s" | "sudo -n -- sh -s" => stdin,
            other => other,
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        script::answer(
            &self.opts.profile,
            &mut state,
            script,
            &self.opts.kubeconfig,
        )
    }

    async fn send(&self, handle: &russh::server::Handle, channel: ChannelId, a: script::Answer) {
        let total: u32 = a.lines.iter().map(|l| l.weight).sum::<u32>().max(1);
        let time = if a.slow {
            self.opts.install_time
        } else {
            Duration::ZERO
        };
        for line in &a.lines {
            if !time.is_zero() && line.weight > 0 {
                let pause = time.mul_f64(f64::from(line.weight) / f64::from(total));
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = self.stop.cancelled() => return,
                }
            }
            let bytes = line.text.clone().into_bytes();
            // A client that went away (a killed run) does not stop the command: like an
            // installer under nohup, it finishes and takes effect.
            let _ = match line.out {
                script::Out::Stdout => handle.data(channel, bytes).await,
                script::Out::Stderr => handle.extended_data(channel, 1, bytes).await,
            };
        }
        if let Some(i) = &a.installed {
            (self.opts.on_install)(&self.opts.profile.name, i);
        }
        let _ = handle.exit_status_request(channel, a.status).await;
        let _ = handle.eof(channel).await;
        let _ = handle.close(channel).await;
    }
}
