//! Two standalone Proxmox hosts (the two-host seed layout): two separate simulators, each with
//! its own certificate and token, one `proxmox.hosts` entry each. The certificate question is
//! asked per host, each pin lands in its own entry, VMs are placed by node, and the same VMID
//! lives on both hosts.

use crate::support::*;
use homelab::config::ClusterConfig;
use homelab::sim::pve::PveSim;
use std::path::Path;
use std::process::Command;

fn standalone_yaml(a: &PveSim, b: &PveSim, ssh_port: u16, key: &Path) -> String {
    format!(
        r#"name: simlab
domain: example.test
proxmox:
  nodes: [pve-a, pve-b]
  hosts:
    - node: pve-a
      endpoint: {url_a}
      token_id: {token_a}
    - node: pve-b
      endpoint: {url_b}
      token_id: {token_b}
  vm_storage: local-lvm
  image_storage: local
  bridge: vmbr0
  vendor_snippet: manual
template:
  vmid: 9000
  name: ubuntu-2404-cloud
  node: pve-a
  image:
    url: {IMAGE_URL}
    file_name: ubuntu-24.04-server-cloudimg-amd64.img
    checksum: sha256:{IMAGE_SHA}
network:
  subnet: 127.0.0.0/8
  gateway: 127.0.0.1
  dns: [1.1.1.1]
ssh:
  user: ubuntu
  public_keys: [{key}]
  port: {ssh_port}
vms:
  - {{ name: k3s-server-1, role: server, node: pve-a, vmid: 201, cores: 2, memory_mib: 4096, disk_gib: 32, ip: {ip_a} }}
  - {{ name: k3s-agent-1, role: agent, node: pve-b, vmid: 201, cores: 2, memory_mib: 2048, disk_gib: 40, ip: {ip_b} }}
k3s:
  version: v1.33.5+k3s1
flux:
  repo: ssh://git@example.test/homelab.git
  version: v2.7.3
"#,
        url_a = a.url,
        token_a = a.token_id,
        url_b = b.url,
        token_b = b.token_id,
        key = key.display(),
        ip_a = vm_ip(a, 21),
        ip_b = vm_ip(b, 31),
    )
}

fn homelab(dir: &Path, secrets: &[String; 2], args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_homelab"))
        .args(["--repo", &dir.display().to_string()])
        .args(args)
        .env_remove("PROXMOX_TOKEN_SECRET")
        .env("PROXMOX_TOKEN_SECRET_PVE_A", &secrets[0])
        .env("PROXMOX_TOKEN_SECRET_PVE_B", &secrets[1])
        .env("HOMELAB_STATE_DIR", dir.join("state"))
        .output()
        .unwrap()
}

/// Run the binary off the runtime (the simulators answer on it meanwhile).
async fn run(dir: &Path, a: &PveSim, b: &PveSim, args: &[&str]) -> (bool, String, String) {
    let dir = dir.to_owned();
    let secrets = [a.token_secret.clone(), b.token_secret.clone()];
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || homelab(&dir, &secrets, &args))
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_standalone_hosts_each_pinned_and_placed_by_node_with_repeated_vmids() {
    let port = free_port();
    let a = sim(&["pve-a"], port).await;
    let b = sim(&["pve-b"], port).await;
    let (fp_a, fp_b) = (
        a.fingerprint.clone().unwrap(),
        b.fingerprint.clone().unwrap(),
    );
    assert_ne!(fp_a, fp_b, "two simulators, two certificates");
    assert_ne!(a.token_secret, b.token_secret, "two tokens");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config/clusters")).unwrap();
    let key = dir.path().join("id.pub");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    let file = dir.path().join("config/clusters/simlab.yaml");
    std::fs::write(&file, standalone_yaml(&a, &b, port, &key)).unwrap();

    // Without --accept-new, --yes refuses the first unknown certificate and writes nothing.
    let (ok, _, err) = run(
        dir.path(),
        &a,
        &b,
        &["bootstrap", "--stage", "proxmox", "--yes"],
    )
    .await;
    assert!(
        !ok && err.contains(&fp_a) && err.contains("--accept-new"),
        "{err}"
    );
    assert_eq!((a.writes(), b.writes()), (0, 0));

    let (ok, out, err) = run(
        dir.path(),
        &a,
        &b,
        &["bootstrap", "--stage", "proxmox", "--yes", "--accept-new"],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    // The question came once per host, each naming its own address and certificate.
    for (sim, fp) in [(&a, &fp_a), (&b, &fp_b)] {
        let asked = format!(
            "The PVE API at 127.0.0.1:{} presents a certificate with SHA-256 fingerprint\n  {fp}",
            sim.addr.port()
        );
        assert_eq!(err.matches(&asked).count(), 1, "{err}");
    }
    // Each pin is in its own host's entry.
    let cfg: ClusterConfig =
        serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let pins: Vec<Option<&str>> = cfg
        .proxmox
        .hosts
        .iter()
        .map(|h| h.tls.fingerprint.as_deref())
        .collect();
    assert_eq!(pins, [Some(fp_a.as_str()), Some(fp_b.as_str())]);
    assert_eq!(cfg.proxmox.tls.fingerprint, None);

    // VMID 201 on both hosts, each VM on its own node, each host with its own template.
    a.with(|st| {
        assert_eq!(st.vms[&201].name(), "k3s-server-1");
        assert!(st.vms[&201].running);
        assert!(st.vms[&9000].template());
        assert_eq!(st.vms.len(), 2, "{:?}", st.vms.keys().collect::<Vec<_>>());
    });
    b.with(|st| {
        assert_eq!(st.vms[&201].name(), "k3s-agent-1");
        assert!(st.vms[&201].running);
        assert!(st.vms[&9001].template());
        assert_eq!(st.vms.len(), 2, "{:?}", st.vms.keys().collect::<Vec<_>>());
    });

    // Second run: pinned, nothing asked, nothing written on either host.
    let (wa, wb) = (a.writes(), b.writes());
    let (ok, out, err) = run(
        dir.path(),
        &a,
        &b,
        &["bootstrap", "--stage", "proxmox", "--yes"],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    assert!(!err.contains("presents a certificate"), "{err}");
    assert_eq!((a.writes(), b.writes()), (wa, wb), "{out}");
}

/// What the wizard does: build from a definition read before any pin existed (its session's),
/// store the pin it was asked about, build again. Each host is asked about in turn, its pin
/// lands in its own entry, and the credentials asked for are that host's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_host_is_asked_about_in_turn_with_a_definition_read_before_the_pins() {
    use homelab::backends::ssh::NonInteractive;
    use homelab::stages::engine::StageId;
    use homelab::stages::registry::{Build, BuildCx, build_blocking};
    use homelab::stages::secrets::EnvValues;
    use std::sync::Arc;
    let port = free_port();
    let a = sim(&["pve-a"], port).await;
    let b = sim(&["pve-b"], port).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config/clusters")).unwrap();
    let key = dir.path().join("id.pub");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    let file = dir.path().join("config/clusters/simlab.yaml");
    let yaml = standalone_yaml(&a, &b, port, &key);
    std::fs::write(&file, &yaml).unwrap();
    let stale: ClusterConfig = serde_yaml::from_str(&yaml).unwrap();
    let cx = BuildCx {
        repo: dir.path().to_owned(),
        cfg: stale,
        pin: None,
        ssh: Arc::new(NonInteractive { accept_new: false }),
        values: Arc::new(EnvValues),
        flux_manifest: None,
    };
    for (i, sim) in [&a, &b].into_iter().enumerate() {
        match build_blocking(StageId::Proxmox, cx.clone()).await {
            Build::NeedsTrust { host, port, field } => {
                assert_eq!((host.as_str(), port), ("127.0.0.1", sim.addr.port()));
                // The question names the key trusting writes: this host's own entry.
                assert_eq!(field, format!("proxmox.hosts[{i}].tls.fingerprint"));
            }
            _ => panic!("expected a certificate question for {}", sim.url),
        }
        let fp = sim.fingerprint.clone().unwrap();
        homelab::backends::pve::trust::store_fingerprint(&file, &fp).unwrap();
    }
    let Build::Unavailable(e) = build_blocking(StageId::Proxmox, cx.clone()).await else {
        panic!("no credentials in this test: the build stops there");
    };
    assert!(
        e.starts_with("proxmox.hosts[0]: no PVE credentials")
            && e.contains("PROXMOX_TOKEN_SECRET_PVE_A"),
        "{e}"
    );
    let cfg: ClusterConfig =
        serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let pins: Vec<Option<String>> = cfg
        .proxmox
        .hosts
        .iter()
        .map(|h| h.tls.fingerprint.clone())
        .collect();
    assert_eq!(pins, [a.fingerprint.clone(), b.fingerprint.clone()]);
}
