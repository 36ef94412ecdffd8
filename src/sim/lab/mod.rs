//! The demo lab (`homelab demo`): every simulator of `src/sim` started together on one private
//! loopback /24 ([`layout::Layout`]), wired as a real homelab is: Proxmox VE with TLS, one SSH
//! node per VM ([`crate::sim::ssh_node`]) that becomes a Ready Kubernetes node when k3s is
//! "installed" on it, the Kubernetes API with Flux's controllers (installed by the Flux stage
//! from the lab's pinned install manifest), a git host ([`crate::sim::git_host`]) serving
//! `flux.repo` over SSH from a bare repository the Flux stage pushes to and Flux syncs from,
//! Loki with generated logs, Prometheus + Alertmanager, Grafana, the OTel collector and Tempo
//! (all behind the Services the observability charts create, [`observability`]), Cloudflare, a throwaway age identity,
//! SSH key and git identity, a temporary copy of the repository with
//! config/clusters/demo.yaml. The stages are not known here: whatever the stage registry
//! builds runs against the lab through the environment ([`layout::Layout::env`]). Dropping
//! the lab stops every server and removes the directory.

pub mod layout;
mod observability;
mod power;
pub mod repo;
pub mod root;
pub mod tree_values;

use crate::sim::git_host::{GitHost, GitHostOptions};
use crate::sim::kube::{KubeSim, objects::NodeSpec};
use crate::sim::pve::{PveSim, SimImage};
use crate::sim::ssh_node::{self, NodeOptions, NodeProfile};
use layout::{FLUX_VERSION, GIT_PATH, GIT_USER, IMAGE, Layout, PVE_NODE, SSH_USER, VMS};
use std::path::Path;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What to start.
pub struct LabOptions {
    pub layout: Layout,
    /// The repository to copy (the operator's checkout).
    pub source_repo: std::path::PathBuf,
    /// `STAGE:STEP` to fail once (`--fail`).
    pub fail: Option<String>,
    /// How the tree's external-dns names and owns its TXT records (the Cloudflare simulator
    /// seeds the demo host's owner records that way, so the doctor finds them owned).
    pub txt_registry: crate::backends::cloudflare::TxtRegistry,
}

/// A running lab.
pub struct Lab {
    pub layout: Layout,
    pub pve: PveSim,
    pub kube: Arc<KubeSim>,
    pub loki: crate::sim::loki::LokiSim,
    pub alerts: crate::sim::alerts::AlertsSim,
    /// Grafana, the OTel collector and Tempo, behind their Services ([`observability`]).
    pub grafana: crate::sim::grafana::GrafanaSim,
    pub traces: crate::sim::traces::TracesSim,
    pub cloudflare: crate::sim::cloudflare::CloudflareSim,
    /// `flux.repo`'s SSH server.
    pub git: GitHost,
    /// SHA-256 of the Flux install manifest (`flux.install_sha256` of the demo definition).
    pub flux_sha256: String,
    /// Each VM's SSH server as it is started while the VM runs (see [`power`]).
    pub nodes: Vec<NodeOptions>,
    /// Stops the task that powers the SSH servers (and them with it).
    power: CancellationToken,
}

/// Delays of a brisk real install at speed 1.
mod pace {
    use std::time::Duration;
    pub const PVE_TASK: Duration = Duration::from_millis(1500);
    pub const PVE_DOWNLOAD: Duration = Duration::from_secs(6);
    pub const PVE_BOOT: Duration = Duration::from_secs(5);
    pub const PVE_AGENT_IPS: Duration = Duration::from_millis(1500);
    pub const INSTALL_SERVER: Duration = Duration::from_secs(8);
    pub const INSTALL_AGENT: Duration = Duration::from_secs(5);
    /// From the k3s service starting to the node reporting Ready.
    pub const NODE_READY: Duration = Duration::from_secs(4);
}

/// The vendor snippet a real operator places with `vendor_snippet: manual`.
const VENDOR_SNIPPET: &str = "#cloud-config\npackages:\n  - qemu-guest-agent\nruncmd:\n  - [systemctl, enable, --now, qemu-guest-agent]\n";

fn io(what: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", what.display())
}

fn bind_err(what: &str, e: impl std::fmt::Display) -> String {
    format!("the demo's {what} cannot listen: {e}")
}

impl Lab {
    pub async fn start(opts: LabOptions) -> Result<Lab, String> {
        let l = opts.layout;
        let speed = l.speed;
        for dir in [
            l.home().join(".ssh"),
            l.home().join(".kube"),
            l.home().join(".config/sops/age"),
            l.state_dir(),
            l.snippets(),
        ] {
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        // The operator's SSH key (cloud-init installs its public half) and age identity.
        let client = ssh_node::random_key();
        let private = client
            .to_openssh(russh::keys::ssh_key::LineEnding::LF)
            .map_err(|e| format!("the demo's SSH key: {e}"))?;
        let key = l.ssh_key();
        crate::atomic_write::write(&key, private.as_bytes(), crate::atomic_write::Mode::Secret)
            .map_err(io(&key))?;
        let public = client
            .public_key()
            .to_openssh()
            .map_err(|e| format!("the demo's SSH key: {e}"))?;
        let pubfile = key.with_extension("pub");
        crate::atomic_write::write(
            &pubfile,
            format!("{public} demo@homelab\n").as_bytes(),
            crate::atomic_write::Mode::KeepOr(0o644),
        )
        .map_err(io(&pubfile))?;
        // The operator's git identity (the Flux stage and the scaffold commit as them).
        let gitconfig = l.home().join(".gitconfig");
        crate::atomic_write::write(
            &gitconfig,
            b"[user]\n\tname = homelab demo\n\temail = demo@demo.internal\n",
            crate::atomic_write::Mode::KeepOr(0o644),
        )
        .map_err(io(&gitconfig))?;
        let (identity, _recipient) = crate::secrets::keys::generate_identity();
        let age = l.age_key();
        crate::atomic_write::write(&age, identity.as_bytes(), crate::atomic_write::Mode::Secret)
            .map_err(io(&age))?;
        // The Flux release the demo cluster pins: the lab's own install manifest.
        let manifest = crate::sim::kube::flux::install_manifest(FLUX_VERSION);
        let flux_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(manifest.as_bytes()));
        let manifest_file = l.flux_manifest();
        crate::atomic_write::write(
            &manifest_file,
            manifest.as_bytes(),
            crate::atomic_write::Mode::KeepOr(0o644),
        )
        .map_err(io(&manifest_file))?;
        repo::prepare(
            &opts.source_repo,
            &l.repo(),
            &l.cluster_yaml(&IMAGE, &flux_sha256),
        )?;
        repo::publish(&l.repo(), &l.bare_repo(), &l.flux_url())?;
        let snippet = l.snippets().join("homelab-vendor.yaml");
        crate::atomic_write::write(
            &snippet,
            VENDOR_SNIPPET.as_bytes(),
            crate::atomic_write::Mode::KeepOr(0o644),
        )
        .map_err(io(&snippet))?;
        match &opts.fail {
            Some(f) => {
                let file = l.fail_file();
                crate::atomic_write::write(
                    &file,
                    f.as_bytes(),
                    crate::atomic_write::Mode::KeepOr(0o644),
                )
                .map_err(io(&file))?;
            }
            None => {
                let _ = std::fs::remove_file(l.fail_file());
            }
        }

        let pve = PveSim::start(crate::sim::pve::SimOptions {
            listen: l.pve_addr(),
            plain_http: false,
            nodes: vec![PVE_NODE.into()],
            timing: crate::sim::pve::Timing {
                task: speed.scale(pace::PVE_TASK),
                download: speed.scale(pace::PVE_DOWNLOAD),
                boot: speed.scale(pace::PVE_BOOT),
                agent_ips: speed.scale(pace::PVE_AGENT_IPS),
            },
            images: vec![SimImage {
                url: IMAGE.url.into(),
                size: IMAGE.size,
                sha256: IMAGE.sha256.into(),
            }],
            ssh_port: None,
            release: "8.4".into(),
        })
        .await
        .map_err(|e| bind_err("Proxmox VE API", e))?;
        let secret = l.pve_token_secret.clone();
        let token_id = pve.token_id.clone();
        pve.with(|s| {
            if let Some(t) = s.access.tokens.get_mut(&token_id) {
                t.secret = secret;
            }
            s.snippets_from(PVE_NODE, &l.snippets());
        });

        let kube = Arc::new(
            KubeSim::start(crate::sim::kube::SimOptions {
                listen: l.kube_addr(),
                controllers: Some(
                    crate::sim::kube::controllers::Timing::default().scaled(speed.factor()),
                ),
                ..Default::default()
            })
            .await
            .map_err(|e| bind_err("Kubernetes API", e))?,
        );
        // Flux fetches what was pushed to the git host (Flux itself comes with the Flux stage).
        kube.serve_git(&l.flux_url(), &l.bare_repo());
        // The lab's "Synology": Longhorn's backup target there is available.
        kube.serve_nfs(&l.nfs_export(), true);
        let lab_kc = l.lab_kubeconfig();
        crate::atomic_write::write(
            &lab_kc,
            kube.kubeconfig(&kube.url()).as_bytes(),
            crate::atomic_write::Mode::Secret,
        )
        .map_err(io(&lab_kc))?;

        let power = CancellationToken::new();
        let loki = crate::sim::loki::LokiSim::start(
            l.loki_addr(),
            crate::sim::loki::LokiSimOptions {
                rate: 20,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| bind_err("Loki", e))?;
        let alerts = crate::sim::alerts::AlertsSim::start(l.alerts_addr())
            .await
            .map_err(|e| bind_err("Prometheus/Alertmanager", e))?;
        let (grafana, traces) = observability::start(&l, &kube, &loki, &alerts).await?;
        let cloudflare =
            crate::sim::cloudflare::CloudflareSim::start(crate::sim::cloudflare::SimOptions {
                listen: l.cloudflare_addr(),
                zone: "demo.internal".into(),
                hosts: vec!["echo.demo.internal".into()],
                credentials: Some(l.cloudflare.clone()),
                registry: opts.txt_registry.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| bind_err("Cloudflare API", e))?;
        // The operator's one record for the tunnel (the apps' routes name it as their target);
        // cloudflared's connections and external-dns's records follow the cluster.
        let (zone_id, tunnel_id) = (cloudflare.zone_id.clone(), cloudflare.tunnel_id.clone());
        cloudflare.with(|st| st.add_tunnel_cname(&zone_id, "tunnel.demo.internal", &tunnel_id));
        cloudflare.follow_cluster(
            kube.store().clone(),
            speed
                .scale(std::time::Duration::from_secs(1))
                .max(std::time::Duration::from_millis(50)),
            power.clone(),
        );
        let cf_ca = l.cloudflare_ca();
        crate::atomic_write::write(
            &cf_ca,
            cloudflare.ca_pem.as_bytes(),
            crate::atomic_write::Mode::KeepOr(0o644),
        )
        .map_err(io(&cf_ca))?;

        let git = GitHost::start(GitHostOptions {
            listen: l.git_addr(),
            user: GIT_USER.into(),
            authorized: client.public_key().clone(),
            host_key: Arc::new(ssh_node::random_key()),
            path: GIT_PATH.into(),
            repo: l.bare_repo(),
            git: "git".into(),
        })
        .await
        .map_err(|e| bind_err("git host", e))?;

        // k3s writes its kubeconfig with the local address; the k3s stage rewrites it.
        let node_kubeconfig = kube.kubeconfig("https://127.0.0.1:6443");
        let mut nodes = Vec::new();
        for vm in &VMS {
            let kube = kube.clone();
            let ip = l.ip(vm.octet).to_string();
            let ready_after = speed.scale(pace::NODE_READY);
            let on_install: ssh_node::OnInstall = Arc::new(move |name, installed| {
                kube.upsert_node(NodeSpec {
                    name: name.to_string(),
                    ip: ip.clone(),
                    server: installed.server,
                    ready: ready_after.is_zero(),
                    kubelet_version: installed.version.clone(),
                });
                if !ready_after.is_zero() {
                    let kube = kube.clone();
                    let name = name.to_string();
                    tokio::spawn(async move {
                        tokio::time::sleep(ready_after).await;
                        kube.set_ready(&name, true);
                    });
                }
            });
            let install_time = speed.scale(if vm.server {
                pace::INSTALL_SERVER
            } else {
                pace::INSTALL_AGENT
            });
            nodes.push(NodeOptions {
                listen: l.ssh_addr(vm),
                profile: NodeProfile {
                    name: vm.name.into(),
                    cores: vm.cores,
                    memory_mib: vm.memory_mib,
                },
                user: SSH_USER.into(),
                authorized: client.public_key().clone(),
                kubeconfig: node_kubeconfig.clone(),
                install_time,
                on_install,
                host_key: Arc::new(ssh_node::random_key()),
                state: Arc::new(std::sync::Mutex::new(node_state(&l))),
            });
        }
        tokio::spawn(power::follow_vms(
            pve.state.clone(),
            nodes.clone(),
            power.clone(),
        ));
        Ok(Lab {
            layout: l,
            pve,
            kube,
            loki,
            alerts,
            grafana,
            traces,
            cloudflare,
            git,
            flux_sha256,
            nodes,
            power,
        })
    }

    /// Stop every server (the directory goes with the `TempDir` its owner holds).
    pub async fn stop(self) {
        self.power.cancel();
        self.git.shutdown();
        self.loki.stop().await;
        self.alerts.stop().await;
        self.grafana.stop().await;
        self.traces.stop().await;
        self.cloudflare.stop().await;
        self.pve.shutdown();
    }

    /// The lines `--headless` prints: what listens where and how to reach it.
    pub fn describe(&self) -> Vec<String> {
        let l = &self.layout;
        let mut out = vec![
            format!(
                "homelab demo lab on 127.{}.{}.0/24 (loopback only)",
                l.net[0], l.net[1]
            ),
            format!(
                "  Proxmox VE API  {}  (token {}, TLS SHA-256 {})",
                l.pve_url(),
                self.pve.token_id,
                self.pve.fingerprint.as_deref().unwrap_or("-")
            ),
            format!(
                "  Kubernetes API  {}  (kubeconfig {})",
                self.kube.url(),
                l.lab_kubeconfig().display()
            ),
        ];
        for (vm, n) in VMS.iter().zip(&self.nodes) {
            out.push(format!(
                "  SSH {:<13} {}@{}  (host key {}; answers while its VM runs)",
                vm.name,
                SSH_USER,
                n.listen,
                n.host_key
                    .public_key()
                    .fingerprint(russh::keys::ssh_key::HashAlg::Sha256)
            ));
        }
        out.push(format!(
            "  git host        {}  (flux.repo; host key {}; repository {})",
            l.flux_url(),
            self.git.fingerprint(),
            l.bare_repo().display()
        ));
        out.push(format!(
            "  Flux manifest   {}  (flux.install_sha256 {}; bootstrap takes it with --flux-manifest)",
            l.flux_manifest().display(),
            self.flux_sha256
        ));
        out.push(format!("  Loki            {}", l.loki_url()));
        out.push(format!("  Prometheus/AM   {}", l.alerts_url()));
        out.push(format!("  Grafana         {}", self.grafana.url()));
        out.push(format!(
            "  OTLP/HTTP       {}  (Tempo {})",
            self.traces.collector_url(),
            self.traces.tempo_url()
        ));
        out.push(format!("  Cloudflare API  {}", self.cloudflare.url()));
        out.push(format!("  repository      {}", l.repo().display()));
        out.push(format!(
            "  kubeconfig      {} (after the k3s stage; the lab's own: {})",
            l.kubeconfig().display(),
            l.lab_kubeconfig().display()
        ));
        out
    }
}

/// A fresh node's disk: an Ubuntu cloud image (open-iscsi preinstalled, nothing else the
/// storage stage needs) that reaches the lab's NFS export read-write.
fn node_state(l: &Layout) -> ssh_node::NodeState {
    let mut st = ssh_node::NodeState::default();
    st.storage.packages.insert("open-iscsi".into());
    st.storage.exports.insert(l.nfs_export(), true);
    st
}
