//! A headless demo bootstrap of every stage in this build reaches green, a second run changes
//! nothing, and a rehearsed failure (`--fail`) is shown with its diagnosis and passes on retry.

use crate::harness::{HeadlessLab, assert_green, bootstrap_all, text};

/// The lab's end state: the PVE VMs by name (template included) and the Ready nodes.
pub fn end_state(lab: &HeadlessLab) -> (Vec<String>, Vec<String>) {
    let kc = lab.path("KUBECONFIG");
    let out = lab
        .command("kubectl")
        .args(["--kubeconfig", &kc.display().to_string(), "--context", "demo"])
        .args([
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut nodes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    nodes.sort();
    let endpoint = {
        let repo = lab.path("HOMELAB_REPO");
        homelab::config::valid_cluster(&repo, &homelab::config::cluster_file(&repo, "demo"))
            .unwrap()
            .proxmox
            .endpoint
    };
    let secret = lab.var("PROXMOX_TOKEN_SECRET").to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body: serde_json::Value = rt.block_on(async {
        reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap()
            .get(format!("{endpoint}/api2/json/cluster/resources?type=vm"))
            .header(
                "Authorization",
                format!("PVEAPIToken=homelab@pve!bootstrap={secret}"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let mut vms: Vec<String> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|v| format!("{}={}", v["vmid"], v["name"].as_str().unwrap_or("")))
        .collect();
    vms.sort();
    (vms, nodes)
}

/// What Flux syncs: the copy's `main`, the git host's `main` (what the Flux stage pushed) and
/// the revision of the GitRepository's artifact must be the same commit.
pub fn assert_flux_synced_the_push(lab: &HeadlessLab) {
    let head = |repo: &std::path::Path| {
        git2::Repository::open(repo)
            .unwrap()
            .refname_to_id("refs/heads/main")
            .unwrap()
            .to_string()
    };
    let local = head(&lab.path("HOMELAB_REPO"));
    let pushed = head(&lab.root().join("git/homelab.git"));
    assert_eq!(pushed, local, "the git host's main is the copy's");
    let out = lab
        .command("kubectl")
        .args([
            "--kubeconfig",
            &lab.path("KUBECONFIG").display().to_string(),
        ])
        .args([
            "--context",
            "demo",
            "-n",
            "flux-system",
            "get",
            "gitrepository",
        ])
        .args(["flux-system", "-o", "jsonpath={.status.artifact.revision}"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("main@sha1:{pushed}"),
        "Flux's artifact is the pushed commit"
    );
}

pub fn expected() -> (Vec<String>, Vec<String>) {
    (
        vec![
            "201=k3s-server-1".into(),
            "211=k3s-agent-1".into(),
            "212=k3s-agent-2".into(),
            "9000=ubuntu-2404-cloud".into(),
        ],
        vec![
            "k3s-agent-1=True".into(),
            "k3s-agent-2=True".into(),
            "k3s-server-1=True".into(),
        ],
    )
}

#[test]
fn a_headless_demo_bootstrap_reaches_green_and_a_second_run_changes_nothing() {
    if !crate::support::require_peer("kubectl") {
        return;
    }
    let lab = HeadlessLab::start(&["--speed", "max"]);
    let first = bootstrap_all(&lab, &[]);
    assert_green(&first);
    // Nothing answers at a VM's address before the VM runs (the SSH nodes follow their VMs).
    assert!(
        !String::from_utf8_lossy(&first.stdout).contains("something already answers SSH"),
        "{}",
        text(&first)
    );
    assert_eq!(end_state(&lab), expected());
    assert_flux_synced_the_push(&lab);
    // The storage stage's probes read back what they wrote, in the lab too.
    let printed = String::from_utf8_lossy(&first.stdout);
    for probe in [
        "nfs/k3s-server-1",
        "pvc/longhorn",
        "pvc/nfs",
        "backup/restore",
    ] {
        assert!(
            printed.contains(&format!("probe {probe} ok in")),
            "{probe}\n{}",
            text(&first)
        );
    }
    let second = bootstrap_all(&lab, &[]);
    assert_green(&second);
    // Every step finds its effect in place; only the readiness wait (an observation, which
    // the k3s stage always runs) and the ingress probe (which proves the path every time and
    // removes its objects again) execute again.
    let out = String::from_utf8_lossy(&second.stdout);
    let executed: Vec<&str> = out
        .lines()
        .filter(|l| l.ends_with("] done"))
        .filter(|l| !l.contains("[cluster/ready]") && !l.contains("[probe/echo]"))
        .collect();
    assert!(
        executed.is_empty(),
        "the second run changed something: {executed:?}\n{}",
        text(&second)
    );
    assert_eq!(end_state(&lab), expected());
    assert_flux_synced_the_push(&lab);
}

#[test]
fn a_rehearsed_failure_shows_its_diagnosis_and_the_retry_passes() {
    if !crate::support::require_peer("kubectl") {
        return;
    }
    let lab = HeadlessLab::start(&["--speed", "max", "--fail", "k3s:k3s-agent-1/join"]);
    let failed = bootstrap_all(&lab, &[]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    let out = String::from_utf8_lossy(&failed.stdout);
    assert!(
        out.contains("[k3s-agent-1/join] FAILED: k3s-agent-1/join: failed on purpose (homelab demo --fail k3s:k3s-agent-1/join)"),
        "{}",
        text(&failed)
    );
    assert!(out.contains("retry the step"), "{}", text(&failed));
    let retry = bootstrap_all(&lab, &[]);
    assert_green(&retry);
    assert_eq!(end_state(&lab), expected());
}

#[test]
fn a_fail_spec_naming_no_stage_is_refused_before_anything_starts() {
    let out = std::process::Command::new(crate::harness::bin())
        .args(["--repo", env!("CARGO_MANIFEST_DIR"), "demo", "--headless"])
        .args(["--fail", "kubernetes:install"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown stage `kubernetes`"),
        "{}",
        text(&out)
    );
}
