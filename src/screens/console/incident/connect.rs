//! The incident gatherer's clients for a console session: Kubernetes from the operator's
//! kubeconfig (the context the k3s stage merged, named after the cluster), Proxmox VE as the
//! proxmox stage connects (credentials from the environment or the SOPS env file, the pinned
//! certificate), Loki as the logs pane has it. Built inside the gather task: reading the
//! kubeconfig and decrypting the env file never run on the UI task.

use crate::backends::incident::Sources;
use crate::backends::loki::LokiClient;
use crate::config::ClusterConfig;
use crate::domain::incident::SourceFailure;
use std::path::PathBuf;
use std::sync::Arc;

/// How the console reaches the incident view's peers.
#[derive(Debug, Clone)]
pub struct IncidentConnect {
    /// `$KUBECONFIG` (first entry) or `~/.kube/config`.
    pub kubeconfig: PathBuf,
    /// The cluster definition (`None`: it did not load; the view says so).
    pub cluster: Option<ClusterConfig>,
    /// Its file as messages show it (`config/clusters/home.yaml`).
    pub definition: String,
    /// The cluster's SOPS env file (PVE credentials).
    pub env_file: PathBuf,
}

impl IncidentConnect {
    /// From the session's cluster definition and the process environment.
    pub fn for_session(session: &crate::app::Session) -> Self {
        let kubeconfig = crate::stages::k3s::K3sOptions::from_process().kubeconfig;
        Self {
            kubeconfig,
            cluster: session.cluster.config.as_ref().ok().cloned(),
            definition: session.cluster.display.clone(),
            env_file: crate::config::env_file(&session.repo_root, &session.cluster.name),
        }
    }

    /// Build the clients; one that cannot be built becomes the failure its sections show.
    pub async fn sources(&self, loki: Option<LokiClient>) -> Sources {
        let Some(cfg) = self.cluster.clone() else {
            let why = format!("{} did not load (see `homelab check`)", self.definition);
            return unconfigured(loki, &why);
        };
        let context = cfg.name.clone();
        let kube_host = format!("context {context} of {}", self.kubeconfig.display());
        let kube = crate::backends::kube::client::client_for(&self.kubeconfig, &context)
            .await
            .map_err(|e| SourceFailure::new("Kubernetes", kube_host.clone(), "connect", e));
        let pve_host = cfg.proxmox.endpoint.clone();
        let (c, env_file) = (cfg.clone(), self.env_file.clone());
        let pve = tokio::task::spawn_blocking(move || {
            crate::stages::proxmox::connect(&c, Some(&env_file), None)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let pve = match pve {
            Ok(crate::stages::proxmox::Connection::Ready(client)) => {
                Ok(Arc::new(client) as Arc<dyn crate::backends::pve::Hypervisor>)
            }
            Ok(crate::stages::proxmox::Connection::Hosts(router)) => Ok(router),
            Ok(crate::stages::proxmox::Connection::NeedsTrust { host, port, field }) => {
                Err(SourceFailure::new(
                    "Proxmox VE",
                    format!("{host}:{port}"),
                    "connect",
                    format!(
                        "its certificate is not pinned yet ({field}); run the proxmox stage once to trust it"
                    ),
                ))
            }
            Err(e) => Err(SourceFailure::new(
                "Proxmox VE",
                pve_host.clone(),
                "connect",
                e,
            )),
        };
        Sources {
            kube,
            kube_host,
            loki,
            pve,
            pve_host,
            vms: cfg.vms.clone(),
            definition: self.definition.clone(),
        }
    }
}

/// Sources when no cluster definition is at hand (the demo, tests): Loki only.
pub fn unconfigured(loki: Option<LokiClient>, why: &str) -> Sources {
    let none = |what: &str| SourceFailure::new(what, "(not configured)", "connect", why);
    Sources {
        kube: Err(none("Kubernetes")),
        kube_host: "(not configured)".into(),
        loki,
        pve: Err(none("Proxmox VE")),
        pve_host: "(not configured)".into(),
        vms: Vec::new(),
        definition: "(no cluster definition)".into(),
    }
}
