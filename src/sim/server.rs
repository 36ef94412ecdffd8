//! The part every simulator shares: an axum router served on 127.0.0.1 until stopped.

use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// A running HTTP server; `stop` closes it and frees the port.
pub struct SimServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
    /// `http` or `https`.
    scheme: &'static str,
}

impl SimServer {
    /// Bind `listen` (port 0 picks a free one) and serve `router`. `cancel` stops the server
    /// (and anything else the simulator ties to it, such as websocket tails).
    pub async fn start(
        listen: SocketAddr,
        router: axum::Router,
        cancel: CancellationToken,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let handle = serve(listener, router, &cancel);
        Ok(Self {
            addr,
            cancel,
            handle,
            scheme: "http",
        })
    }

    /// [`SimServer::start`] over TLS with `config` (see `sim::kube::tls` for a throwaway CA).
    pub async fn start_tls(
        listen: SocketAddr,
        router: axum::Router,
        cancel: CancellationToken,
        config: std::sync::Arc<rustls::ServerConfig>,
    ) -> std::io::Result<Self> {
        let tcp = tokio::net::TcpListener::bind(listen).await?;
        let listener = crate::sim::kube::tls::TlsListener::new(tcp, config)?;
        let addr = axum::serve::Listener::local_addr(&listener)?;
        let handle = serve(listener, router, &cancel);
        Ok(Self {
            addr,
            cancel,
            handle,
            scheme: "https",
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL for clients (`http://127.0.0.1:PORT`, or `https://` over TLS).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.handle.await;
    }
}

/// Serve `router` on `listener` until `cancel` fires (plain TCP or the TLS listener alike).
fn serve<L>(
    listener: L,
    router: axum::Router,
    cancel: &CancellationToken,
) -> tokio::task::JoinHandle<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let shutdown = cancel.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    })
}
