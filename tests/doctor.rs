//! The reachability doctor (`backends::doctor`, `homelab doctor`) against a lab: the
//! Cloudflare API v4 simulator (a zone, external-dns's records, a connected tunnel) and the
//! Kubernetes simulator with its controllers, seeded with this repository's own Gateway,
//! certificates, namespaces and the jellyfin app; the doctor's facts are read from this
//! repository's tree. Every link passes, then each test breaks exactly one link and checks the
//! doctor names it and its fix.

#[path = "doctor/cli.rs"]
mod cli;
#[path = "doctor/links.rs"]
mod links;

use homelab::backends::cloudflare::{CloudflareClient, TunnelRef, TxtRegistry};
use homelab::backends::doctor::{Cloudflare, Doctor};
use homelab::backends::kube::apply::{self, ApplyOptions};
use homelab::backends::kube::discovery::Resolver;
use homelab::domain::doctor::{Facts, Finding, Outcome};
use homelab::sim::cloudflare::CloudflareSim;
use homelab::sim::kube::resources::TypeKey;
use homelab::sim::kube::{KubeSim, controllers::Timing};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The public host of the lab (this repository's jellyfin route).
pub const HOST: &str = "jellyfin.funoffshore.com";
/// The Gateway's Envoy Service, as the tree's cloudflared ConfigMap names it.
pub const GATEWAY_SERVICE: &str =
    "https://homelab-gateway.envoy-gateway-system.svc.cluster.local:443";

/// Files of this repository the lab applies, in order.
const TREE_FILES: &[&str] = &[
    "cluster/kubernetes/platform/security/namespaces.yaml",
    "cluster/kubernetes/platform/ingress/gateway-api/gateway/gatewayclass.yaml",
    "cluster/kubernetes/platform/ingress/gateway-api/gateway/envoyproxy.yaml",
    "cluster/kubernetes/platform/ingress/gateway-api/gateway/gateway.yaml",
    "cluster/kubernetes/platform/ingress/gateway-api/gateway/certificates/certificates.yaml",
    "cluster/kubernetes/apps/media/jellyfin/service.yaml",
    "cluster/kubernetes/apps/media/jellyfin/deployment.yaml",
    "cluster/kubernetes/apps/media/jellyfin/httproute.yaml",
];

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub struct Lab {
    pub cf: CloudflareSim,
    pub kube: KubeSim,
    pub dir: tempfile::TempDir,
    pub client: kube::Client,
    pub facts: Facts,
}

pub fn key(group: &str, plural: &str) -> TypeKey {
    (group.to_string(), plural.to_string())
}

impl Lab {
    /// The lab with every link passing (waited for through the doctor itself).
    pub async fn start() -> Lab {
        let facts = homelab::repo::doctor_facts::read(
            root(),
            &root().join("config/clusters/prox-n100.yaml"),
            "prox-n100",
        )
        .unwrap();
        let cf = CloudflareSim::start(homelab::sim::cloudflare::SimOptions {
            zone: "funoffshore.com".into(),
            hosts: vec![HOST.into()],
            tunnel_name: "homelab".into(),
            gateway_service: GATEWAY_SERVICE.into(),
            registry: TxtRegistry {
                prefix: "k8s.".into(),
                owner: "prox-n100".into(),
                ..TxtRegistry::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
        // The tree's tunnel is locally managed: its rules are the cloudflared ConfigMap's.
        cf.with(|st| {
            for t in &mut st.tunnels {
                t.config_src = "local".into();
                t.config = None;
            }
        });
        let kube = KubeSim::start(homelab::sim::kube::SimOptions {
            controllers: Some(Timing::instant(Duration::from_millis(200))),
            ..Default::default()
        })
        .await
        .unwrap();
        kube.upsert_node(homelab::sim::kube::objects::NodeSpec {
            name: "k3s-server-1".into(),
            ip: "127.0.0.21".into(),
            server: true,
            ready: true,
            kubelet_version: "v1.33.5+k3s1".into(),
        });
        kube.install_chart_crds("gateway-helm").unwrap();
        kube.install_chart_crds("cert-manager").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), &cf.ca_pem).unwrap();
        let kubeconfig = kube
            .kubeconfig(&kube.url())
            .replace(
                "  name: default\ncurrent-context: default",
                "  name: prox-n100\ncurrent-context: prox-n100",
            )
            .replace(
                "cluster: default\n    user: default\n  name: default",
                "cluster: default\n    user: default\n  name: prox-n100",
            );
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig).unwrap();
        let client = homelab::backends::kube::client::client_for(
            &dir.path().join("kubeconfig"),
            "prox-n100",
        )
        .await
        .unwrap();
        let mut resolver = Resolver::new(client.clone());
        for file in TREE_FILES {
            let text = std::fs::read_to_string(root().join(file)).unwrap();
            let docs = apply::parse(file, &text).unwrap();
            apply::apply(&client, &mut resolver, &docs, &ApplyOptions::default())
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let lab = Lab {
            cf,
            kube,
            dir,
            client,
            facts,
        };
        lab.until(|_, o| *o == Outcome::Reachable).await;
        lab
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn doctor(&self) -> Doctor {
        Doctor {
            cloudflare: Some(Cloudflare {
                api: CloudflareClient::new(&self.cf.url(), &self.cf.token, Some(&self.ca()))
                    .unwrap(),
                tunnel: TunnelRef {
                    account_id: self.cf.account_id.clone(),
                    tunnel_id: self.cf.tunnel_id.clone(),
                },
            }),
            kube: self.client.clone(),
            facts: self.facts.clone(),
        }
    }

    /// Walk until `done` holds for the findings (the controllers act asynchronously); the
    /// deadline only bounds a hang.
    pub async fn until(
        &self,
        done: impl Fn(&[Finding], &Outcome) -> bool,
    ) -> (Vec<Finding>, Outcome) {
        let doctor = self.doctor();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (found, outcome) = doctor.walk_all(HOST).await;
            if done(&found, &outcome) {
                return (found, outcome);
            }
            assert!(
                Instant::now() < deadline,
                "the walk did not get there: {outcome:?}\n{found:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Change the stored object `ns/name` (as `kubectl edit` would).
    pub fn edit(&self, k: &TypeKey, ns: &str, name: &str, f: impl FnOnce(&mut Value)) {
        let mut obj = self.kube.store().get(k, ns, name).unwrap();
        f(&mut obj);
        self.kube.store().put(k, obj, "kubectl-edit").unwrap();
    }
}
