//! The headless lab: kubectl and the PVE API answer, every address is on loopback, and
//! stopping it removes everything.

use crate::harness::{HeadlessLab, text};
use std::net::{IpAddr, Ipv4Addr};

fn loopback(host: &str, what: &str) {
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .unwrap_or_else(|_| panic!("{what}: `{host}` is not an IP address"));
    assert!(ip.is_loopback(), "{what}: {ip} is not on loopback");
}

fn url_host(url: &str, what: &str) {
    let u = url::Url::parse(url).unwrap_or_else(|e| panic!("{what}: {url}: {e}"));
    loopback(u.host_str().expect("host"), what);
}

#[test]
fn the_demo_definition_and_every_endpoint_are_on_loopback() {
    let lab = HeadlessLab::start(&["--speed", "max"]);
    let repo = lab.path("HOMELAB_REPO");
    let file = homelab::config::cluster_file(&repo, "demo");
    let cfg = homelab::config::valid_cluster(&repo, &file)
        .unwrap_or_else(|e| panic!("the demo definition is not valid: {e}"));
    url_host(&cfg.proxmox.endpoint, "proxmox.endpoint");
    let (net, _) = cfg.network.subnet.split_once('/').expect("CIDR");
    loopback(net, "network.subnet");
    loopback(&cfg.network.gateway.to_string(), "network.gateway");
    for d in &cfg.network.dns {
        loopback(&d.to_string(), "network.dns");
    }
    assert_eq!(cfg.vms.len(), 3);
    for vm in &cfg.vms {
        loopback(&vm.ip.to_string(), &vm.name);
    }
    loopback(&cfg.api_address(), "k3s.api_address");
    url_host(&cfg.flux.repo, "flux.repo");
    if let Some(nfs) = &cfg.storage.nfs_server {
        loopback(nfs, "storage.nfs_server");
    }
    for k in [
        "HOMELAB_LOKI_URL",
        "HOMELAB_PROMETHEUS_URL",
        "HOMELAB_ALERTMANAGER_URL",
        "CLOUDFLARE_BASE_URL",
    ] {
        url_host(lab.var(k), k);
    }
    // The Cloudflare API the doctor would call is the lab's simulator, trusted by its CA.
    let ca = std::fs::read_to_string(lab.var("HOMELAB_CLOUDFLARE_CA")).unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    // Every address the lab printed is on loopback too.
    for word in lab.printed.split_whitespace() {
        let w = word.trim_matches(|c: char| "(),'".contains(c));
        if let Ok(ip) = w.rsplit_once(':').map_or(w, |(h, _)| h).parse::<Ipv4Addr>() {
            assert!(ip.is_loopback(), "printed {ip}:\n{}", lab.printed);
        }
    }
    // Only the demo cluster is in the copy: nothing can be pointed at a real host from it.
    let clusters: Vec<String> = std::fs::read_dir(repo.join("config/clusters"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(clusters, ["demo.yaml"]);
    let root = lab.root();
    assert!(root.exists());
    let status = lab.stop();
    assert!(status.success(), "the headless lab ended with {status}");
    assert!(!root.exists(), "{} was left behind", root.display());
}

#[test]
fn the_headless_lab_answers_kubectl_and_the_pve_api() {
    if !crate::support::require_peer("kubectl") {
        return;
    }
    let lab = HeadlessLab::start(&["--speed", "max"]);
    let kc = lab.root().join("lab-kubeconfig");
    let kubectl = |args: &[&str]| {
        lab.command("kubectl")
            .args(["--kubeconfig", &kc.display().to_string()])
            .args(args)
            .output()
            .unwrap()
    };
    let out = kubectl(&["get", "namespace", "default", "-o", "name"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "namespace/default"
    );
    // Flux is not there yet: the Flux stage installs it from the lab's pinned manifest.
    let out = kubectl(&["get", "crd", "gitrepositories.source.toolkit.fluxcd.io"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NotFound"),
        "{}",
        text(&out)
    );
    let manifest = std::fs::read(&lab.flux_manifest).unwrap();
    let repo = lab.path("HOMELAB_REPO");
    let cfg = homelab::config::valid_cluster(&repo, &homelab::config::cluster_file(&repo, "demo"))
        .unwrap();
    assert_eq!(
        cfg.flux.install_sha256.as_deref(),
        Some(homelab::stages::flux::manifest::sha256_hex(&manifest).as_str()),
        "the definition pins the manifest the lab printed"
    );
    // The PVE API with the token the environment carries (TLS: the lab's own certificate).
    let endpoint = {
        let repo = lab.path("HOMELAB_REPO");
        let cfg =
            homelab::config::valid_cluster(&repo, &homelab::config::cluster_file(&repo, "demo"))
                .unwrap();
        cfg.proxmox.endpoint
    };
    let secret = lab.var("PROXMOX_TOKEN_SECRET").to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = rt.block_on(async {
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let r = client
            .get(format!("{endpoint}/api2/json/nodes"))
            .header(
                "Authorization",
                format!("PVEAPIToken=homelab@pve!bootstrap={secret}"),
            )
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    });
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"node\":\"pve\""), "{body}");
}
