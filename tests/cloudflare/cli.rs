//! `homelab sim cloudflare` as an operator runs it: it prints how to reach it, our client
//! reaches it with what it printed, its fault flags apply, and Ctrl-C removes its CA file.

use homelab::backends::cloudflare::{CloudflareClient, TxtRegistry, tunnel_token};
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt, BufReader};

fn field<'a>(lines: &'a [String], label: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no `{label}` line in {lines:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_cloudflare_prints_what_reaches_it_and_applies_its_fault_flags() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_homelab"))
        .args([
            "sim",
            "cloudflare",
            "--zone",
            "funoffshore.com",
            "--host",
            "jellyfin.funoffshore.com",
            "--txt-owner",
            "prox-n100",
            "--txt-prefix",
            "k8s.",
            "--no-connectors",
            "--not-proxied",
            "jellyfin.funoffshore.com",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lines = vec![];
    let read = async {
        while let Some(l) = out.next_line().await.unwrap() {
            let done = l.starts_with("Ctrl-C stops it.");
            lines.push(l);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), read)
        .await
        .expect("the simulator printed its banner");
    let url = field(&lines, "Cloudflare API v4 simulator on")
        .trim_end_matches(" (HTTPS)")
        .to_string();
    let ca = PathBuf::from(field(&lines, "CA file:"));
    let token = field(&lines, "API token:")
        .trim_end_matches(" (every permission)")
        .to_string();
    let t = tunnel_token::parse(field(&lines, "tunnel token:")).unwrap();

    let cf = CloudflareClient::new(&url, &token, Some(&ca)).unwrap();
    let zone = cf.zone_for_host("jellyfin.funoffshore.com").await.unwrap();
    let reg = TxtRegistry {
        prefix: "k8s.".into(),
        owner: "prox-n100".into(),
        ..Default::default()
    };
    let recs = cf
        .host_records(&zone, "jellyfin.funoffshore.com", &reg)
        .await
        .unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].txt_name, "k8s.cname-jellyfin.funoffshore.com");
    assert!(recs[0].owned_by("prox-n100"), "{recs:?}");
    assert!(!recs[0].record.proxied, "--not-proxied");
    assert!(
        cf.tunnel_connectors(&t).await.unwrap().is_empty(),
        "--no-connectors"
    );

    // Ctrl-C: it stops and removes the CA file it wrote.
    let pid = i32::try_from(child.id().unwrap()).unwrap();
    // SAFETY: signalling our own child process by its id.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait())
        .await
        .expect("the simulator stopped after SIGINT")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!ca.exists(), "{} left behind", ca.display());
}
