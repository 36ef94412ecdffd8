//! The vendor snippet over SSH: the PVE simulator serves the API, a real sshd acts as the PVE
//! node (root logins write into a temporary directory that stands in for /var/lib/vz/snippets,
//! and the simulator lists that directory as the node's `local` snippets).

use crate::nodes::{self, Node, NodeSpec, Operator};
use crate::support::*;
use async_trait::async_trait;
use homelab::backends::ssh::SshEnv;
use homelab::backends::ssh::prompt::{HostKeyPrompt, Prompter};
use homelab::config::ClusterConfig;
use homelab::sim::pve::PveSim;
use homelab::stages::engine::*;
use homelab::stages::proxmox::ProxmoxStage;
use homelab::stages::proxmox::snippet::VENDOR_SNIPPET_CONTENT;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// Trusts every host key and records for which host it was asked.
#[derive(Default)]
struct Recorder {
    asked: Mutex<Vec<String>>,
}

#[async_trait]
impl Prompter for Recorder {
    async fn trust_host_key(&self, prompt: &HostKeyPrompt) -> bool {
        self.asked.lock().unwrap().push(prompt.host.clone());
        true
    }
    async fn key_passphrase(&self, _: &Path) -> Option<Zeroizing<String>> {
        None
    }
    async fn sudo_password(&self, _: &str, _: &str) -> Option<Zeroizing<String>> {
        None
    }
}

struct Lab {
    _wd: tempfile::TempDir,
    _node: Node,
    sim: PveSim,
    cfg: ClusterConfig,
    env: Arc<SshEnv>,
    snippets: PathBuf,
    /// The node's sshd address (what the host-key prompt names).
    addr: String,
}

impl Lab {
    /// One PVE node `pve-a`: the simulator's API, and a real sshd reached as `ssh pve-a`
    /// through the operator's ~/.ssh/config.
    async fn start() -> Option<Lab> {
        if !nodes::have_sshd() {
            return None;
        }
        let wd = nodes::workdir();
        let op = Operator::new(wd.path());
        let node = Node::start(wd.path(), &NodeSpec::loopback("pve-a"), &op.pubkey());
        let snippets = wd.path().join("var-lib-vz-snippets");
        std::fs::create_dir_all(&snippets).unwrap();
        std::fs::write(
            op.home.join(".ssh/config"),
            format!(
                "Host pve-a\n  HostName {}\n  Port {}\n  IdentityFile {}\n",
                node.addr,
                node.port,
                op.key.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let sim = sim(&["pve-a"], port).await;
        sim.with(|st| st.snippets_from("pve-a", &snippets));
        let yaml = cluster_yaml_with(&sim, &["pve-a"], port, "ssh").replace(
            "  vendor_snippet: ssh\n",
            &format!(
                "  vendor_snippet: ssh\n  hosts:\n    - {{ node: pve-a, snippets_dir: \"{}\" }}\n",
                snippets.display()
            ),
        );
        let cfg: ClusterConfig = serde_yaml::from_str(&yaml).unwrap();
        let env = Arc::new(SshEnv::for_home(&op.home, None).unwrap());
        let addr = node.addr.clone();
        Some(Lab {
            addr,
            _wd: wd,
            _node: node,
            sim,
            cfg,
            env,
            snippets,
        })
    }

    fn stage(&self, prompter: Arc<dyn Prompter>) -> ProxmoxStage {
        let shells = ProxmoxStage::node_shells(&self.cfg, self.env.clone(), prompter);
        stage(&self.sim, self.cfg.clone()).with_snippet_shells(shells)
    }

    fn file(&self) -> PathBuf {
        self.snippets.join("homelab-vendor.yaml")
    }
}

fn outcome_of(
    out: &crate::support::Outcome,
    step: &str,
) -> Option<homelab::stages::engine::Outcome> {
    out.events.iter().find_map(|e| match &e.kind {
        EventKind::StepDone { step: s, outcome } if s == step => Some(*outcome),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snippet_is_written_over_ssh_once_repaired_when_changed_and_verified() {
    let Some(lab) = Lab::start().await else {
        return;
    };
    let recorder = Arc::new(Recorder::default());
    let stage = lab.stage(recorder.clone());
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");

    // A snippet storage without `snippets` content: PVE would never list the file.
    let without = |st: &mut homelab::sim::pve::State, on: bool| {
        let local = st.nodes[0]
            .storages
            .iter_mut()
            .find(|s| s.name == "local")
            .unwrap();
        local.content.retain(|c| c != "snippets");
        if on {
            local.content.push("snippets".into());
        }
    };
    lab.sim.with(|st| without(st, false));
    let checks = stage.preflight().await;
    let snippet = checks.iter().find(|c| c.id == "snippet/pve-a").unwrap();
    assert_eq!(snippet.status, CheckStatus::Fail, "{snippet:?}");
    assert!(
        snippet
            .detail
            .starts_with("storage local on pve-a does not hold content `snippets`"),
        "{snippet:?}"
    );
    lab.sim.with(|st| without(st, true));

    // Preflight reaches the node as root (the host key is asked about once, as for k3s nodes).
    let checks = stage.preflight().await;
    let snippet = checks.iter().find(|c| c.id == "snippet/pve-a").unwrap();
    assert_eq!(snippet.status, CheckStatus::Pass, "{snippet:?}");
    assert!(snippet.detail.contains("no such file"), "{snippet:?}");
    assert_eq!(*recorder.asked.lock().unwrap(), vec![lab.addr.clone()]);

    let plan = stage.plan().await.unwrap();
    assert_eq!(plan.steps[0].id, "snippet/pve-a", "the snippet comes first");
    assert_eq!(plan.steps[0].intent, Intent::Create);

    // First run: written, then every VM config names it and the guest agent comes up with it.
    let out = apply(&stage, &journal, RunOptions::default()).await;
    out.result
        .as_ref()
        .unwrap_or_else(|e| panic!("apply failed: {e:?}\n{:#?}", out.logs()));
    assert_eq!(
        outcome_of(&out, "snippet/pve-a"),
        Some(homelab::stages::engine::Outcome::Changed)
    );
    assert_eq!(
        std::fs::read_to_string(lab.file()).unwrap(),
        VENDOR_SNIPPET_CONTENT
    );
    let leftovers: Vec<_> = std::fs::read_dir(&lab.snippets)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
    lab.sim.with(|st| {
        assert_eq!(
            st.vms[&201].config.get("cicustom").map(String::as_str),
            Some("vendor=local:snippets/homelab-vendor.yaml")
        );
    });
    let verify = stage.verify().await.unwrap();
    let failed: Vec<_> = verify
        .iter()
        .filter(|c| c.status != CheckStatus::Pass)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");

    // Second run: the hash matches, nothing is written (same inode, same mtime).
    use std::os::unix::fs::MetadataExt;
    let before = std::fs::metadata(lab.file()).unwrap();
    let out = apply(&stage, &journal, RunOptions::default()).await;
    out.result.as_ref().unwrap();
    assert_eq!(
        outcome_of(&out, "snippet/pve-a"),
        Some(homelab::stages::engine::Outcome::Held)
    );
    let after = std::fs::metadata(lab.file()).unwrap();
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec())
    );
    assert_eq!(out.result.as_ref().unwrap().changed, 0);

    // Someone edits the file on the node: verify fails naming node and path; a run repairs it.
    std::fs::write(lab.file(), "#cloud-config\npackages: []\n").unwrap();
    let verify = stage.verify().await.unwrap();
    let bad = verify.iter().find(|c| c.id == "snippet/pve-a").unwrap();
    assert_eq!(bad.status, CheckStatus::Fail);
    let path = lab.file().display().to_string();
    assert!(
        bad.detail
            .starts_with(&format!("pve-a:{path}: content differs: sha256 ")),
        "{bad:?}"
    );
    let plan = stage.plan().await.unwrap();
    assert_eq!(plan.steps[0].intent, Intent::Change);
    let out = apply(&stage, &journal, RunOptions::default()).await;
    out.result.as_ref().unwrap();
    assert_eq!(
        outcome_of(&out, "snippet/pve-a"),
        Some(homelab::stages::engine::Outcome::Changed)
    );
    assert_eq!(
        std::fs::read_to_string(lab.file()).unwrap(),
        VENDOR_SNIPPET_CONTENT
    );
    assert_eq!(
        *recorder.asked.lock().unwrap(),
        vec![lab.addr.clone()],
        "asked once, then known"
    );
}
