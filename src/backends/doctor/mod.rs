//! The reachability doctor (docs/doctor.md): from a public hostname down to the pods that
//! answer it, one link at a time, stopping at the first that is broken and saying what to do
//! about it (a token permission, a field of a named file in the repository, a command).
//!
//! 1. the Cloudflare DNS record exists, is proxied, points at the tunnel and external-dns owns
//!    it (its TXT registry record);
//! 2. the tunnel has connectors;
//! 3. the tunnel's ingress rules route the host to the Gateway;
//! 4. the Gateway listener is programmed and the route is attached to it;
//! 5. the HTTPRoute is Accepted with ResolvedRefs;
//! 6. the Service has ready EndpointSlices and its pods are Ready;
//! 7. the certificate is valid, covers the host and is not close to expiring.
//!
//! What belongs to the cluster (the zone, the Gateway, external-dns's registry settings, a
//! locally managed tunnel's rules) comes from the repository as [`Facts`], so fixes name the
//! file and field; what is live comes from the Cloudflare API ([`CloudflareClient`]) and the
//! cluster (kube-rs). Each link's [`Finding`] is sent as soon as it is known; the caller
//! prints or draws it. No UI here.

mod cloudflare;
pub mod connect;
mod gateway;
mod kube;
pub mod tls;
mod tree;

use crate::backends::cloudflare::{CloudflareClient, TunnelRef};
use crate::domain::doctor::{Facts, Finding, Fix, Link, Outcome};
use std::time::Duration;
use tokio::sync::mpsc;

pub use tls::EXPIRY_MARGIN_DAYS;

/// The longest one link may take before it counts as broken (a peer that does not answer).
const LINK_TIMEOUT: Duration = Duration::from_secs(60);

/// What the walk talks to.
#[derive(Clone)]
pub struct Doctor {
    pub cloudflare: CloudflareClient,
    /// The tunnel the cluster's cloudflared runs (from its tunnel token).
    pub tunnel: TunnelRef,
    pub kube: ::kube::Client,
    pub facts: Facts,
}

/// Whether `host` is a DNS name the doctor can walk (letters, digits, `-`, dots; at most 253
/// characters). The reason otherwise, without echoing the name.
pub fn check_host(host: &str) -> Result<String, String> {
    let h = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if h.is_empty() || h.len() > 253 || !h.contains('.') || !h.split('.').all(label_ok) {
        return Err(
            "not a hostname: give the full public name of an app, such as jellyfin.example.com"
                .into(),
        );
    }
    Ok(h)
}

/// What one link passes on to the next.
#[derive(Debug, Default, Clone)]
pub(crate) struct Trail {
    /// The tunnel's remote or local configuration source.
    pub tunnel_remote: bool,
    pub tunnel_name: String,
    /// The port of the Gateway Service the tunnel rule sends the host to.
    pub gateway_port: Option<u16>,
    /// The Gateway (namespace, name) the rule reaches.
    pub gateway: Option<(String, String)>,
    /// The live Gateway object and the index of the listener serving the host.
    pub gateway_obj: Option<serde_json::Value>,
    pub listener: Option<usize>,
    /// The live HTTPRoute serving the host.
    pub route: Option<serde_json::Value>,
}

impl Doctor {
    /// Walk the links for `host` (checked with [`check_host`] first), sending each finding on
    /// `tx` as it is known; stops at the first broken link.
    pub async fn walk(&self, host: &str, tx: &mpsc::Sender<Finding>) -> Outcome {
        let host = match check_host(host) {
            Ok(h) => h,
            Err(why) => {
                let f = Finding::broken(
                    Link::Dns,
                    why,
                    Fix::Command {
                        command: "homelab doctor <app>.<domain>".into(),
                        why: "the doctor walks one public hostname".into(),
                    },
                );
                let _ = tx.send(f).await;
                return Outcome::Broken(Link::Dns);
            }
        };
        let mut trail = Trail::default();
        for link in Link::ALL {
            let step = self.link(link, &host, &mut trail);
            let finding = match tokio::time::timeout(LINK_TIMEOUT, step).await {
                Ok(f) => f,
                Err(_) => Finding::broken(
                    link,
                    format!(
                        "no answer within {} s while checking this link",
                        LINK_TIMEOUT.as_secs()
                    ),
                    Fix::Command {
                        command: format!("homelab doctor {host}"),
                        why: "try again; if it hangs again, the Cloudflare API or the cluster's API server is not answering".into(),
                    },
                ),
            };
            let ok = finding.ok;
            let _ = tx.send(finding).await;
            if !ok {
                return Outcome::Broken(link);
            }
        }
        Outcome::Reachable
    }

    async fn link(&self, link: Link, host: &str, trail: &mut Trail) -> Finding {
        match link {
            Link::Dns => cloudflare::dns(self, host).await,
            Link::Tunnel => cloudflare::tunnel(self, trail).await,
            Link::TunnelIngress => cloudflare::ingress(self, host, trail).await,
            Link::Gateway => gateway::listener(self, host, trail).await,
            Link::Route => gateway::route(self, trail).await,
            Link::Backend => gateway::backend(self, trail).await,
            Link::Certificate => tls::certificate(self, host, trail).await,
        }
    }

    /// Walk and collect every finding (tests and callers that print at the end).
    pub async fn walk_all(&self, host: &str) -> (Vec<Finding>, Outcome) {
        // Room for every link's finding: the walk never waits on the channel.
        let (tx, mut rx) = mpsc::channel(Link::ALL.len() + 1);
        let outcome = self.walk(host, &tx).await;
        drop(tx);
        let mut found = vec![];
        while let Some(f) = rx.recv().await {
            found.push(f);
        }
        (found, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_checked_without_echoing_them() {
        assert_eq!(
            check_host("Jellyfin.Example.com.").unwrap(),
            "jellyfin.example.com"
        );
        for bad in [
            "",
            "localhost",
            "a..b",
            "-a.b",
            "a\u{1b}]0;x\u{7}.com",
            "a b.com",
            "*.example.com",
        ] {
            let e = check_host(bad).unwrap_err();
            assert!(!e.contains('\u{1b}'), "{e}");
        }
        assert!(check_host(&format!("{}.com", "a".repeat(64))).is_err());
    }
}
