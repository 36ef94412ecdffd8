//! Proxmox stage speed: folding a flood of task-log events into the wizard's model, formatting
//! them as `--yes` lines, and a full `plan()` (every read call) against the simulator over TLS.
//!
//! cargo bench --bench pve

use criterion::{Criterion, criterion_group, criterion_main};
use homelab::screens::wizard::model::StageModel;
use homelab::stages::engine::*;
use std::hint::black_box;

fn events(n: usize) -> Vec<StageEvent> {
    let at = jiff::Timestamp::from_second(1_800_000_000).unwrap();
    (0..n)
        .map(|i| StageEvent {
            at,
            stage: StageId::Proxmox,
            kind: if i % 10 == 0 {
                EventKind::Progress {
                    step: "vm/k3s-agent-1/clone".into(),
                    done: (i % 100) as u64,
                    total: Some(100),
                    unit: Unit::Percent,
                }
            } else {
                EventKind::Log {
                    step: Some("vm/k3s-agent-1/clone".into()),
                    line: format!("transferred {i} MiB of 3.5 GiB"),
                }
            },
        })
        .collect()
}

fn plan() -> Plan {
    let mut p = Plan::new(StageId::Proxmox);
    for vm in 0..5 {
        for step in ["clone", "resize", "config", "start", "wait"] {
            p.steps.push(Step::new(
                format!("vm/vm-{vm}/{step}"),
                format!("vm-{vm}"),
                Intent::Create,
                step,
            ));
        }
    }
    p
}

fn fold(c: &mut Criterion) {
    let evs = events(10_000);
    c.bench_function("wizard_fold_10k_events", |b| {
        b.iter(|| {
            let mut m = StageModel::new(StageId::Proxmox);
            m.reviewed(vec![], Ok(plan()));
            for e in &evs {
                m.apply(e);
            }
            black_box(m.subjects());
        })
    });
    c.bench_function("printer_10k_lines", |b| {
        b.iter(|| {
            let n: usize = evs
                .iter()
                .map(|e| homelab::stages::printer::line(e).len())
                .sum();
            black_box(n)
        })
    });
}

fn plan_against_sim(c: &mut Criterion) {
    use homelab::backends::pve::{Auth, PveClient, PveSettings, Trust};
    use homelab::sim::pve::{PveSim, SimOptions};
    use homelab::stages::proxmox::ProxmoxStage;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(PveSim::start(SimOptions::default())).unwrap();
    let text = include_str!("../config/clusters/prox-n100.yaml")
        .replace("https://192.168.1.10:8006", &sim.url)
        .replace("pve-n100", "pve")
        .replace("homelab@pve!bootstrap", &sim.token_id);
    let mut cfg: homelab::config::ClusterConfig = serde_yaml::from_str(&text).unwrap();
    // The shipped definition names Ubuntu's SHA256SUMS; a bench stays on loopback, so it plans
    // with a literal digest (what an air-gapped definition does).
    cfg.template.image.checksums = None;
    cfg.template.image.checksum = Some(format!("sha256:{}", "0".repeat(64)));
    let auth = Auth::Token {
        id: sim.token_id.clone(),
        secret: zeroize::Zeroizing::new(sim.token_secret.clone()),
    };
    let client = PveClient::new(PveSettings::new(
        sim.url.clone(),
        auth,
        Trust::Pinned(sim.fingerprint.clone().unwrap()),
    ))
    .unwrap();
    let stage = ProxmoxStage::new(cfg, std::sync::Arc::new(client))
        .with_keys(vec!["ssh-ed25519 AAAA bench@homelab".into()]);
    c.bench_function("proxmox_plan_against_sim", |b| {
        b.iter(|| black_box(rt.block_on(stage.plan()).unwrap().steps.len()))
    });
}

criterion_group!(benches, fold, plan_against_sim);
criterion_main!(benches);
