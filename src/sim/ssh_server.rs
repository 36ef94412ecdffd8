//! What the simulators' in-process SSH servers share ([`crate::sim::ssh_node`], one per VM,
//! and [`crate::sim::git_host`]): the server configuration (an OpenSSH banner, public-key
//! authentication only), the check of the one user and key they accept, and the accept loop
//! that runs one russh session per connection until the server is stopped.

use russh::keys::ssh_key::{PrivateKey, PublicKey};
use russh::server::{Auth, Config, Handler};
use russh::{MethodKind, MethodSet};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The configuration of a server with host key `key`.
pub fn config(key: PrivateKey) -> Arc<Config> {
    Arc::new(Config {
        server_id: russh::SshId::Standard("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5".into()),
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        auth_rejection_time: Duration::from_millis(50),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        inactivity_timeout: Some(Duration::from_secs(3600)),
        ..Default::default()
    })
}

/// Accept `user` with `key` when they are the server's one `expected` user and `authorized`
/// key; reject anything else.
pub fn allowed(user: &str, key: &PublicKey, expected: &str, authorized: &PublicKey) -> Auth {
    if user == expected && key.key_data() == authorized.key_data() {
        Auth::Accept
    } else {
        Auth::reject()
    }
}

/// Serve `listener` until `stop`: each connection gets a handler from `handler` and its own
/// session task, which `stop` ends too.
pub async fn accept_loop<H>(
    listener: tokio::net::TcpListener,
    config: Arc<Config>,
    stop: CancellationToken,
    mut handler: impl FnMut() -> H,
) where
    H: Handler + Send + 'static,
{
    loop {
        let sock = tokio::select! {
            r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
            _ = stop.cancelled() => return,
        };
        let _ = sock.set_nodelay(true);
        let handler = handler();
        let config = config.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            if let Ok(session) = russh::server::run_stream(config, sock, handler).await {
                tokio::select! {
                    _ = session => {}
                    _ = stop.cancelled() => {}
                }
            }
        });
    }
}
