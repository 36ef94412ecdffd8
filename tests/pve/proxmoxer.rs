//! Cross-check with an outside client: proxmoxer (PyPI) drives the simulator with token auth over
//! HTTPS for every endpoint the stage uses, and must see the same answers as our client.

use crate::support::*;
use homelab::backends::pve::Hypervisor;
use homelab::backends::pve::types::{AgentInterfaces, Upid, decode_sshkeys, disk_size};
use homelab::stages::engine::RunOptions;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn proxmoxer_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import proxmoxer, requests"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxmoxer_sees_what_our_client_sees() {
    if !require_peer(
        "proxmoxer (pip install proxmoxer requests)",
        proxmoxer_available(),
    ) {
        return;
    }
    let port = free_port();
    let sim = sim(&["pve"], port).await;
    let stage = stage(&sim, cluster(&sim, &["pve"], port));
    let dir = tempfile::tempdir().unwrap();
    apply(&stage, &dir.path().join("j"), RunOptions::default())
        .await
        .result
        .unwrap();
    let upid_s = sim.with(|st| {
        st.tasks
            .iter()
            .find(|t| t.kind == "qmclone" && t.id == "9000")
            .unwrap()
            .upid
            .clone()
    });
    let upid = Upid::parse(&upid_s).unwrap();

    // Our client's view, before proxmoxer writes anything.
    let c = client(&sim);
    let version = c.version().await.unwrap();
    let nodes = c.nodes().await.unwrap();
    let resources = c.vm_resources().await.unwrap();
    let nextid = c.next_id().await.unwrap();
    let perms = c.permissions().await.unwrap();
    let storages = c.storages("pve").await.unwrap();
    let content = c.storage_content("pve", "local", "import").await.unwrap();
    let bridges = c.bridges("pve").await.unwrap();
    let config = c.vm_config("pve", 201).await.unwrap();
    let status = c.vm_status("pve", 201).await.unwrap();
    let agent = c.guest_interfaces("pve", 201).await.unwrap();
    let task = c.task_status(&upid).await.unwrap();
    let log = c.task_log(&upid, 0).await.unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pve/proxmoxer_check.py");
    let sim_port = sim.addr.port();
    let (user, token) = sim.token_id.split_once('!').unwrap();
    let (user, token, secret, upid_env) = (
        user.to_owned(),
        token.to_owned(),
        sim.token_secret.clone(),
        upid_s.clone(),
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .env("SIM_PORT", sim_port.to_string())
            .env("TOKEN_USER", user)
            .env("TOKEN_NAME", token)
            .env("TOKEN_VALUE", secret)
            .env("UPID", upid_env)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "proxmoxer script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let py: Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(py["version"]["version"], version.version);
    assert_eq!(py["version"]["release"], version.release);
    let py_nodes: Vec<(String, String)> = py["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (s(&n["node"]), s(&n["ssl_fingerprint"])))
        .collect();
    let our_nodes: Vec<(String, String)> = nodes
        .iter()
        .map(|n| (n.node.clone(), n.ssl_fingerprint.clone().unwrap()))
        .collect();
    assert_eq!(py_nodes, our_nodes);
    let py_res: BTreeSet<(u64, String, bool)> = py["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["vmid"].as_u64().unwrap(),
                s(&r["tags"]),
                r["template"] == 1,
            )
        })
        .collect();
    let our_res: BTreeSet<(u64, String, bool)> = resources
        .iter()
        .map(|r| (r.vmid as u64, r.tags.clone(), r.template))
        .collect();
    assert_eq!(py_res, our_res);
    assert_eq!(py["nextid"], nextid.to_string(), "nextid is a JSON string");
    let py_perms: BTreeMap<String, BTreeMap<String, bool>> = py["permissions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, privs)| {
            (
                p.clone(),
                privs
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_i64() != Some(0)))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(py_perms, perms);
    let py_st: Vec<(String, u64)> = py["storage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (s(&x["storage"]), x["avail"].as_u64().unwrap()))
        .collect();
    let our_st: Vec<(String, u64)> = storages
        .iter()
        .map(|x| (x.storage.clone(), x.avail))
        .collect();
    assert_eq!(py_st, our_st);
    let py_vols: Vec<String> = py["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| s(&v["volid"]))
        .collect();
    assert_eq!(
        py_vols,
        content.iter().map(|v| v.volid.clone()).collect::<Vec<_>>()
    );
    let py_br: Vec<String> = py["network"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| s(&v["iface"]))
        .collect();
    assert_eq!(
        py_br,
        bridges.iter().map(|b| b.iface.clone()).collect::<Vec<_>>()
    );
    let py_cfg: BTreeMap<String, String> = py["config"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), s(v)))
        .collect();
    assert_eq!(py_cfg, config);
    assert_eq!(py["status"]["status"], "running");
    assert!(status.running);
    let py_agent: AgentInterfaces = serde_json::from_value(py["agent"].clone()).unwrap();
    assert_eq!(py_agent.result, agent);
    assert_eq!(
        py["task_status"]["exitstatus"],
        task.exitstatus.clone().unwrap()
    );
    assert_eq!(py["task_status"]["status"], "stopped");
    let py_log: Vec<(u64, String)> = py["task_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["n"].as_u64().unwrap(), s(&l["t"])))
        .collect();
    assert_eq!(py_log, log);
    assert_eq!(log.last().unwrap().1, "TASK OK");

    // What proxmoxer wrote, read back by our client.
    let pmx = c.vm_config("pve", 250).await.unwrap();
    assert_eq!(pmx["cores"], "3");
    assert_eq!(pmx["memory"], "1536");
    assert_eq!(
        decode_sshkeys(&pmx["sshkeys"]),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIProxmoxerKey me@proxmoxer"
    );
    assert_eq!(disk_size(&pmx["scsi0"]), Some(12 << 30));
    let py_pmx: BTreeMap<String, String> = py["pmx_config"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), s(v)))
        .collect();
    assert_eq!(py_pmx, pmx);
    assert!(c.vm_status("pve", 250).await.unwrap().running);
    assert_eq!(py["pmx_status"]["status"], "running");
    let raw_err = s(&py["raw_sshkeys_error"]);
    assert!(
        raw_err.starts_with("400 Bad Request: Parameter verification failed. - "),
        "{raw_err}"
    );
    assert!(raw_err.contains("invalid urlencoded string"), "{raw_err}");
}
