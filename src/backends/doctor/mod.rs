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
pub mod kube;
pub mod tls;
pub mod tree;

use crate::backends::cloudflare::{CloudflareClient, TunnelRef};
use crate::domain::doctor::{Exposure, Facts, Finding, Fix, Link, Outcome};
use std::time::Duration;
use tokio::sync::mpsc;

pub use tls::EXPIRY_MARGIN_DAYS;
pub use tree::registry as txt_registry;

/// The longest one link may take before it counts as broken (a peer that does not answer).
const LINK_TIMEOUT: Duration = Duration::from_secs(60);

/// What the walk talks to.
#[derive(Clone)]
pub struct Doctor {
    /// Links 1-3; `None` for a doctor that walks internal hosts only (no token needed).
    pub cloudflare: Option<Cloudflare>,
    pub kube: ::kube::Client,
    pub facts: Facts,
}

/// The Cloudflare side of a public host: the API, and the tunnel the cluster's cloudflared
/// runs (from its tunnel token).
#[derive(Clone)]
pub struct Cloudflare {
    pub api: CloudflareClient,
    pub tunnel: TunnelRef,
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
    /// Walk the links of a public host (checked with [`check_host`] first), sending each
    /// finding on `tx` as it is known; stops at the first broken link.
    pub async fn walk(&self, host: &str, tx: &mpsc::Sender<Finding>) -> Outcome {
        self.walk_exposed(host, Exposure::Public, tx).await
    }

    /// Walk the links `exposure` puts on the way to `host` ([`Exposure::links`]): an internal
    /// host starts at its Gateway listener (link 4), the tree's Gateway whose HTTPS listener
    /// covers it.
    pub async fn walk_exposed(
        &self,
        host: &str,
        exposure: Exposure,
        tx: &mpsc::Sender<Finding>,
    ) -> Outcome {
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
        for &link in exposure.links() {
            let step = self.link(link, &host, exposure, &mut trail);
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

    async fn link(&self, link: Link, host: &str, exposure: Exposure, trail: &mut Trail) -> Finding {
        let cf = self.cloudflare.as_ref();
        match (link, cf) {
            (Link::Dns | Link::Tunnel | Link::TunnelIngress, None) => Finding::broken(
                link,
                "the doctor was started for internal hosts only (no Cloudflare API token)",
                Fix::Command {
                    command: format!("homelab doctor {host}"),
                    why: "walk the public host with the Cloudflare tokens".into(),
                },
            ),
            (Link::Dns, Some(cf)) => cloudflare::dns(self, cf, host).await,
            (Link::Tunnel, Some(cf)) => cloudflare::tunnel(self, cf, trail).await,
            (Link::TunnelIngress, Some(cf)) => cloudflare::ingress(self, cf, host, trail).await,
            (Link::Gateway, _) => {
                if exposure == Exposure::Internal
                    && let Err(f) = gateway::internal_gateway(self, host, trail)
                {
                    return *f;
                }
                gateway::listener(self, host, trail).await
            }
            (Link::Route, _) => gateway::route(self, trail).await,
            (Link::Backend, _) => gateway::backend(self, trail).await,
            (Link::Certificate, _) => tls::certificate(self, host, trail).await,
        }
    }

    /// One of the links that need nothing from the links before them (1, the DNS record,
    /// and 2, the tunnel's connectors) on its own: what the ingress stage checks for the
    /// tree's public hosts and the tunnel. Any other link is walked from its start.
    pub async fn link_alone(&self, link: Link, host: &str) -> Finding {
        let mut trail = Trail::default();
        match link {
            Link::Dns | Link::Tunnel => self.link(link, host, Exposure::Public, &mut trail).await,
            _ => {
                let (found, _) = self.walk_all(host).await;
                found
                    .into_iter()
                    .find(|f| f.link == link || !f.ok)
                    .unwrap_or_else(|| {
                        Finding::broken(
                            link,
                            "the walk did not reach this link",
                            Fix::Command {
                                command: format!("homelab doctor {host}"),
                                why: "walk the whole chain".into(),
                            },
                        )
                    })
            }
        }
    }

    /// Walk a public host and collect every finding (tests and callers that print at the end).
    pub async fn walk_all(&self, host: &str) -> (Vec<Finding>, Outcome) {
        self.walk_all_exposed(host, Exposure::Public).await
    }

    /// [`Doctor::walk_exposed`], every finding collected.
    pub async fn walk_all_exposed(
        &self,
        host: &str,
        exposure: Exposure,
    ) -> (Vec<Finding>, Outcome) {
        // Room for every link's finding: the walk never waits on the channel.
        let (tx, mut rx) = mpsc::channel(Link::ALL.len() + 1);
        let outcome = self.walk_exposed(host, exposure, &tx).await;
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
