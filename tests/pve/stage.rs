//! The proxmox stage against the simulator: fresh run, idempotent second run, drift, resume.

use crate::support::*;
use homelab::backends::pve::types::{decode_sshkeys, disk_size};
use homelab::sim::pve::{Fault, FaultRule};
use homelab::stages::engine::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_run_creates_everything_and_second_run_writes_nothing() {
    let nodes = ["pve1", "pve2"];
    let port = free_port();
    let sim = sim(&nodes, port).await;
    let stage = stage(&sim, cluster(&sim, &nodes, port));
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");

    let checks = stage.preflight().await;
    let failed: Vec<_> = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .collect();
    assert!(failed.is_empty(), "preflight failed: {failed:#?}");

    let plan = stage.plan().await.unwrap();
    assert!(plan.writes() >= 12, "fresh plan writes: {}", plan.writes());
    assert!(
        plan.step("template/pve2/create").is_some(),
        "a template per VM node"
    );
    let clone = plan.step("vm/k3s-agent-1/clone").unwrap();
    assert_eq!(clone.intent, Intent::Create);
    assert!(
        clone.calls[0].contains("POST /nodes/pve2/qemu/9001/clone newid=211"),
        "{:?}",
        clone.calls
    );

    let out = apply(&stage, &journal, RunOptions::default()).await;
    let summary = out
        .result
        .as_ref()
        .unwrap_or_else(|e| panic!("apply failed: {e:?}\n{:#?}", out.logs()));
    assert_eq!(summary.drifted, 0);
    assert!(summary.changed >= 14, "{summary:?}");
    // Task logs were streamed into step logs, and the download reported progress.
    assert!(
        out.logs()
            .iter()
            .any(|l| l.contains("create full clone of drive scsi0")),
        "clone task log streamed"
    );
    assert!(out.events.iter().any(
        |e| matches!(&e.kind, EventKind::Progress { step, done: 100, .. } if step == "image/pve1")
    ));

    let server_ip = vm_ip(&sim, 21);
    sim.with(|st| {
        let server = &st.vms[&201];
        assert_eq!(server.node, "pve1");
        assert!(server.running);
        assert_eq!(server.config["cores"], "2");
        assert_eq!(server.config["memory"], "4096");
        assert_eq!(server.config["ciuser"], "ubuntu");
        assert_eq!(
            server.config["ipconfig0"],
            format!("ip={server_ip}/8,gw=127.0.0.1")
        );
        assert_eq!(server.config["nameserver"], "1.1.1.1 9.9.9.9");
        assert_eq!(decode_sshkeys(&server.config["sshkeys"]), KEY);
        assert_eq!(server.config["tags"], "homelab;k3s-server");
        assert_eq!(
            server.config["cicustom"],
            "vendor=local:snippets/homelab-vendor.yaml"
        );
        assert_eq!(disk_size(&server.config["scsi0"]), Some(32 << 30));
        let agent = &st.vms[&211];
        assert_eq!(agent.node, "pve2");
        assert!(st.vms[&9000].template() && st.vms[&9001].template());
        assert!(st.vms[&9001].config["scsi0"].contains("base-9001-disk"));
        assert_eq!(st.vms.len(), 4, "two templates and two VMs");
        assert!(
            st.node("pve2")
                .unwrap()
                .storage("local")
                .unwrap()
                .volumes
                .contains_key("local:import/ubuntu-24.04-server-cloudimg-amd64.qcow2")
        );
        // Swap untouched: no balloon/swap-related keys were written.
        assert!(!server.config.contains_key("balloon"));
    });

    let verify = stage.verify().await.unwrap();
    assert!(
        verify.iter().all(|c| c.status == CheckStatus::Pass),
        "{verify:#?}"
    );

    // Second run: everything holds, zero write calls reach the API.
    let writes = sim.writes();
    let plan2 = stage.plan().await.unwrap();
    assert_eq!(
        plan2.writes(),
        0,
        "{}",
        homelab::stages::printer::plan(&plan2)
    );
    let out2 = apply(&stage, &journal, RunOptions::default()).await;
    let s2 = out2.result.unwrap();
    assert_eq!(s2.changed, 0, "{s2:?}");
    assert_eq!(s2.drifted, 0);
    assert_eq!(sim.writes(), writes, "the second run wrote to the API");
    let journal = Journal::at(&journal).unwrap();
    assert_eq!(
        journal.last_outcome(StageId::Proxmox, "vm/k3s-server-1/clone"),
        Some(JournalKind::Held)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_reported_and_reconciled_only_on_request() {
    let nodes = ["pve"];
    let port = free_port();
    let sim = sim(&nodes, port).await;
    let stage = stage(&sim, cluster(&sim, &nodes, port));
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.jsonl");
    apply(&stage, &journal, RunOptions::default())
        .await
        .result
        .unwrap();

    // Someone changes the server in the PVE GUI.
    sim.with(|st| {
        let vm = st.vms.get_mut(&201).unwrap();
        vm.config.insert("cores".into(), "4".into());
        vm.config.insert("memory".into(), "8192".into());
    });
    let plan = stage.plan().await.unwrap();
    let step = plan.step("vm/k3s-server-1/config").unwrap();
    assert_eq!(step.intent, Intent::Drift);
    let note = step.note.clone().unwrap();
    assert!(
        note.contains("cores: 4 (definition: 2)")
            && note.contains("memory: 8192 (definition: 4096)"),
        "{note}"
    );

    let writes = sim.writes();
    let out = apply(&stage, &journal, RunOptions::default()).await;
    let logs = out.logs();
    assert_eq!(out.result.clone().unwrap().drifted, 1, "{logs:#?}");
    assert_eq!(
        sim.writes(),
        writes,
        "drift must not be written without --reconcile"
    );
    assert!(
        out.logs()
            .iter()
            .any(|l| l.starts_with("drift (not changed") && l.contains("cores: 4"))
    );
    let verify = stage.verify().await.unwrap();
    let server = verify.iter().find(|c| c.id == "vm/k3s-server-1").unwrap();
    assert_eq!(server.status, CheckStatus::Warn);
    assert!(server.detail.contains("drift"), "{}", server.detail);

    let out = apply(
        &stage,
        &journal,
        RunOptions {
            reconcile: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(out.result.clone().unwrap().changed, 1);
    assert!(
        out.logs()
            .iter()
            .any(|l| l.contains("take effect at its next reboot"))
    );
    sim.with(|st| {
        assert_eq!(st.vms[&201].config["cores"], "2");
        assert_eq!(st.vms[&201].config["memory"], "4096");
    });
    let seen_put = sim.with(|st| {
        st.seen
            .iter()
            .filter(|s| s.method == "PUT" && s.path.ends_with("/201/config"))
            .count()
    });
    assert_eq!(seen_put, 2, "one initial config and one reconcile");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_and_foreign_vmids_are_never_touched() {
    let nodes = ["pve"];
    let port = free_port();
    let sim = sim(&nodes, port).await;
    let stage = stage(&sim, cluster(&sim, &nodes, port));
    let dir = tempfile::tempdir().unwrap();
    apply(&stage, &dir.path().join("j"), RunOptions::default())
        .await
        .result
        .unwrap();
    // An old VM of ours that left the definition.
    sim.with(|st| {
        let mut vm = st.vms[&211].clone();
        vm.vmid = 212;
        vm.config.insert("name".into(), "k3s-agent-old".into());
        st.vms.insert(212, vm);
    });
    let plan = stage.plan().await.unwrap();
    assert_eq!(plan.step("orphan/212").unwrap().intent, Intent::Drift);
    let writes = sim.writes();
    // Even reconciling, an automatic "yes" is not a typed confirmation: nothing is deleted.
    let out = apply(
        &stage,
        &dir.path().join("j"),
        RunOptions {
            reconcile: true,
            ..Default::default()
        },
    )
    .await;
    out.result.clone().unwrap();
    assert!(
        out.logs()
            .iter()
            .any(|l| l.contains("left in place: deletion was not confirmed"))
    );
    assert_eq!(sim.writes(), writes);
    assert!(sim.with(|st| st.vms.contains_key(&212)));

    // Typing the VM's name deletes it (stopped first): the only way homelab deletes anything.
    struct Typist(&'static str);
    #[async_trait::async_trait]
    impl Confirm for Typist {
        async fn confirm(&self, prompt: &Prompt) -> bool {
            prompt.type_to_confirm.as_deref() == Some(self.0)
        }
    }
    for (typed, deleted) in [("k3s-agent-1", false), ("k3s-agent-old", true)] {
        let (tx, rx) = tokio::sync::mpsc::channel(100_000);
        drop(rx);
        let run = RunCx::new(tx, Journal::at(dir.path().join("j")).unwrap())
            .with_options(RunOptions {
                reconcile: true,
                ..Default::default()
            })
            .with_confirm(std::sync::Arc::new(Typist(typed)));
        let plan = stage.plan().await.unwrap();
        stage.apply(&plan, &run).await.unwrap();
        assert_eq!(
            !sim.with(|st| st.vms.contains_key(&212)),
            deleted,
            "typed {typed}"
        );
    }
    let deletes: Vec<String> = sim.with(|st| {
        st.seen
            .iter()
            .filter(|s| s.is_write())
            .skip(writes)
            .map(|s| format!("{} {}", s.method, s.path))
            .collect()
    });
    assert_eq!(
        deletes,
        vec![
            "POST /api2/json/nodes/pve/qemu/212/status/stop",
            "DELETE /api2/json/nodes/pve/qemu/212"
        ]
    );

    // A foreign VM holding one of our VMIDs stops the run with a clear message.
    let port2 = free_port();
    let sim2 = homelab_sim_with_foreign(port2).await;
    let stage2 = crate::support::stage(&sim2, cluster(&sim2, &["pve"], port2));
    let checks = stage2.preflight().await;
    let vmid = checks.iter().find(|c| c.id == "vmid/201").unwrap();
    assert_eq!(vmid.status, CheckStatus::Fail);
    assert!(
        vmid.detail.contains("taken by `grafana-old`"),
        "{}",
        vmid.detail
    );
    let out = apply(&stage2, &dir.path().join("j2"), RunOptions::default()).await;
    let err = out.result.clone().unwrap_err();
    assert!(
        err.message.contains("VMID 201 is taken by `grafana-old`"),
        "{}",
        err.message
    );
    assert!(err.hint.unwrap().contains("another vmid"));
    assert_eq!(
        sim2.with(|st| st.vms[&201].config["name"].clone()),
        "grafana-old"
    );
}

async fn homelab_sim_with_foreign(port: u16) -> homelab::sim::pve::PveSim {
    let s = sim(&["pve"], port).await;
    s.with(|st| {
        let config = [
            ("name".to_string(), "grafana-old".to_string()),
            ("cores".into(), "1".into()),
        ];
        let vm = homelab::sim::pve::state::Vm::new(201, "pve", config.into());
        st.vms.insert(201, vm);
    });
    s
}

/// [`apply`] for a run that resumes after a killed one, with the simulator holding tasks of
/// type `kind`: they are released once the run says it is waiting for the task the killed run
/// started (`resuming: waiting for ...`). A run that never says so waits for the held task
/// until its task timeout and fails.
async fn apply_releasing(
    sim: &homelab::sim::pve::PveSim,
    stage: &dyn Stage,
    journal: &std::path::Path,
    kind: &str,
) -> crate::support::Outcome {
    let (tx, mut rx) = tokio::sync::mpsc::channel(100_000);
    let run = RunCx::new(tx, Journal::at(journal).unwrap());
    let plan = stage.plan().await.expect("plan");
    let applying = async move {
        let result = stage.apply(&plan, &run).await;
        drop(run);
        result
    };
    let collecting = async {
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            if let EventKind::Log { line, .. } = &e.kind
                && line.contains("resuming: waiting for")
            {
                sim.with(|st| st.release(kind));
            }
            events.push(e);
        }
        events
    };
    let (result, events) = tokio::join!(applying, collecting);
    crate::support::Outcome { result, events }
}

/// Run the stage until `step` has started its PVE task, then kill the run (abort the future,
/// as a killed process would leave it) and return the journal path.
async fn kill_after_task_start(
    sim: &homelab::sim::pve::PveSim,
    cfg: homelab::config::ClusterConfig,
    step: &str,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    let journal_path = dir.join("j.jsonl");
    let stage1 = std::sync::Arc::new(stage(sim, cfg));
    let (tx, mut rx) = tokio::sync::mpsc::channel(100_000);
    let run = RunCx::new(tx, Journal::at(&journal_path).unwrap());
    let plan = stage1.plan().await.unwrap();
    let s1 = stage1.clone();
    let task = tokio::spawn(async move { s1.apply(&plan, &run).await });
    while let Some(ev) = rx.recv().await {
        if let EventKind::Log {
            step: Some(s),
            line,
        } = &ev.kind
            && s == step
            && line.starts_with("task UPID:")
        {
            break;
        }
    }
    task.abort();
    let _ = task.await;
    journal_path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_clone_resumes_without_duplicates() {
    let nodes = ["pve"];
    let port = free_port();
    let sim = sim(&nodes, port).await;
    // Clones run until released: the kill lands while the clone task runs, and the new run
    // finds it still running, however slow the machine is.
    sim.with(|st| st.hold.insert("qmclone".into()));
    let cfg = cluster(&sim, &nodes, port);
    let dir = tempfile::tempdir().unwrap();
    let journal_path =
        kill_after_task_start(&sim, cfg.clone(), "vm/k3s-server-1/clone", dir.path()).await;
    assert!(
        sim.with(|st| st
            .vms
            .get(&201)
            .is_some_and(|vm| vm.lock.as_deref() == Some("clone"))),
        "killed while cloning"
    );

    // A fresh process: same journal, new stage and client.
    let stage2 = stage(&sim, cfg);
    let out = apply_releasing(&sim, &stage2, &journal_path, "qmclone").await;
    let logs = out.logs();
    out.result
        .clone()
        .unwrap_or_else(|e| panic!("{e:?}\n{logs:#?}"));
    assert!(
        logs.iter()
            .any(|l| l.contains("resuming: waiting for task")),
        "{logs:#?}"
    );
    sim.with(|st| {
        let names: Vec<&str> = st.vms.values().map(|v| v.name()).collect();
        assert_eq!(
            names.iter().filter(|n| **n == "k3s-server-1").count(),
            1,
            "{names:?}"
        );
        assert_eq!(st.vms.len(), 3, "{names:?}");
        let clones = st
            .seen
            .iter()
            .filter(|s| s.method == "POST" && s.path.ends_with("/clone") && s.status == 200)
            .count();
        assert_eq!(clones, 2, "server cloned once, agent once");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_download_waits_for_it_instead_of_downloading_again() {
    let nodes = ["pve"];
    let port = free_port();
    let sim = sim(&nodes, port).await;
    sim.with(|st| st.hold.insert("download".into()));
    let cfg = cluster(&sim, &nodes, port);
    let dir = tempfile::tempdir().unwrap();
    let journal_path = kill_after_task_start(&sim, cfg.clone(), "image/pve", dir.path()).await;
    let out = apply_releasing(&sim, &stage(&sim, cfg), &journal_path, "download").await;
    let logs = out.logs();
    out.result
        .clone()
        .unwrap_or_else(|e| panic!("{e:?}\n{logs:#?}"));
    assert!(
        logs.iter()
            .any(|l| l.contains("resuming: waiting for download task")),
        "{logs:#?}"
    );
    let downloads = sim.with(|st| {
        st.seen
            .iter()
            .filter(|s| s.path.ends_with("/download-url"))
            .count()
    });
    assert_eq!(downloads, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_clone_task_is_reported_and_the_retry_clones_again() {
    let nodes = ["pve"];
    let port = free_port();
    let sim = sim(&nodes, port).await;
    let stage = stage(&sim, cluster(&sim, &nodes, port));
    let dir = tempfile::tempdir().unwrap();
    let msg = "clone failed: lvcreate 'pve/vm-211-disk-0' error:   Volume group \"pve\" has insufficient free space (1023 extents): 10240 required.";
    sim.inject(FaultRule {
        method: Some("POST".into()),
        path_contains: "/qemu/9000/clone".into(),
        fault: Fault::FailTask(msg.into()),
        times: 1,
    });
    let out = apply(&stage, &dir.path().join("j"), RunOptions::default()).await;
    let err = out.result.clone().unwrap_err();
    assert!(
        err.message.contains("task qmclone on pve")
            && err.message.contains("insufficient free space"),
        "{}",
        err.message
    );
    assert!(
        out.logs()
            .iter()
            .any(|l| l.starts_with("TASK ERROR: clone failed")),
        "task log carries the error line"
    );
    assert!(
        !sim.with(|st| st.vms.contains_key(&201)),
        "PVE removes a failed clone"
    );
    // Retry: the same plan runs again, cloning the server this time.
    let out = apply(&stage, &dir.path().join("j"), RunOptions::default()).await;
    out.result.clone().unwrap();
    assert!(sim.with(|st| st.vms[&201].running));
}

/// Issue 12: a private key listed in `ssh.public_keys` used to pass preflight ("7 key(s)") and
/// `--plan` printed it into `sshkeys=`. Now preflight fails naming the file, and no line of the
/// key reaches the preflight report, the plan or the step details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_in_public_keys_is_refused_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "op@laptop", "-f"])
        .arg(&key)
        .status();
    if !matches!(made, Ok(s) if s.success()) {
        assert!(
            std::env::var_os("HOMELAB_REQUIRE_PEERS").is_none(),
            "ssh-keygen is required"
        );
        return;
    }
    let private = std::fs::read_to_string(&key).unwrap();
    let secret_lines: Vec<&str> = private
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .collect();
    assert!(!secret_lines.is_empty());

    let nodes = ["pve1"];
    let port = free_port();
    let sim = sim(&nodes, port).await;
    let mut cfg = cluster(&sim, &nodes, port);
    cfg.ssh.public_keys = vec![key.display().to_string()];
    let stage = homelab::stages::proxmox::ProxmoxStage::new(cfg, std::sync::Arc::new(client(&sim)));

    let checks = stage.preflight().await;
    let ssh = checks.iter().find(|c| c.id == "ssh-keys").unwrap();
    assert_eq!(ssh.status, CheckStatus::Fail, "{ssh:?}");
    assert!(ssh.detail.contains("PRIVATE key"), "{}", ssh.detail);
    let plan = stage.plan().await.unwrap();
    let shown = format!(
        "{}\n{}\n{checks:?}\n{plan:?}",
        homelab::stages::printer::checks(&checks),
        homelab::stages::printer::plan(&plan)
    );
    for l in &secret_lines {
        assert!(
            !shown.contains(l),
            "private key material reached the output"
        );
    }
    assert!(!shown.contains("PRIVATE KEY-----"));
}

/// The POSTs the simulator saw for exactly this API path.
fn posts_to(sim: &homelab::sim::pve::PveSim, path: &str) -> usize {
    sim.with(|st| {
        st.seen
            .iter()
            .filter(|s| s.method == "POST" && s.path == path)
            .count()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_create_whose_answer_is_lost_is_sent_once_and_read_back() {
    let nodes = ["pve"];
    let port = free_port();
    let sim = sim(&nodes, port).await;
    let stage = stage(&sim, cluster(&sim, &nodes, port));
    let dir = tempfile::tempdir().unwrap();
    // PVE creates the template VM, then the answer is lost (a proxy gives up with a 502).
    sim.inject(FaultRule {
        method: Some("POST".into()),
        path_contains: "/api2/json/nodes/pve/qemu".into(),
        fault: Fault::ApplyThenStatus {
            status: 502,
            reason: "Bad Gateway".into(),
        },
        times: 1,
    });
    let out = apply(&stage, &dir.path().join("j"), RunOptions::default()).await;
    let logs = out.logs();
    out.result
        .clone()
        .unwrap_or_else(|e| panic!("{e:?}\n{logs:#?}"));
    assert_eq!(
        posts_to(&sim, "/api2/json/nodes/pve/qemu"),
        1,
        "the create reached PVE exactly once"
    );
    sim.with(|st| assert!(st.vms[&201].running));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_create_answered_with_a_5xx_is_not_repeated() {
    let nodes = ["pve"];
    let port = free_port();
    let sim = sim(&nodes, port).await;
    let stage = stage(&sim, cluster(&sim, &nodes, port));
    let dir = tempfile::tempdir().unwrap();
    sim.inject(FaultRule {
        method: Some("POST".into()),
        path_contains: "/api2/json/nodes/pve/qemu".into(),
        fault: Fault::Status {
            status: 503,
            reason: "Service Unavailable".into(),
        },
        times: 5,
    });
    let out = apply(&stage, &dir.path().join("j"), RunOptions::default()).await;
    let err = out.result.clone().unwrap_err();
    assert_eq!(posts_to(&sim, "/api2/json/nodes/pve/qemu"), 1);
    assert!(
        err.message.contains("503 Service Unavailable"),
        "{}",
        err.message
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap_or_default()
            .contains("did not send it again"),
        "{err:?}"
    );
    // The operator runs again: the stage reads the state and creates the template once more.
    sim.with(|st| st.faults.clear());
    let out = apply(&stage, &dir.path().join("j"), RunOptions::default()).await;
    out.result.clone().unwrap();
    assert_eq!(posts_to(&sim, "/api2/json/nodes/pve/qemu"), 2);
}
