//! Agents join concurrently: 5 agents whose installer takes 2 s each should take about 2 s for the
//! whole join step, not 10 s (target: < 4 s). Real sshd "VMs" (network + mount namespaces, see
//! tests/k3s/nodes.rs), the recording installer stub with a 2 s sleep, the real k3s stage.
//!
//! Run (as root, with openssh-server and sudo installed):
//!     cargo bench --bench k3s_join
//! Each sample re-runs only the five agents' `join` steps after removing their k3s binary, so the
//! step really installs again; the first server is installed once before measuring.

#[path = "../tests/support/net.rs"]
mod net;
#[path = "../tests/k3s/nodes.rs"]
#[allow(dead_code)]
mod nodes;
#[path = "../tests/k3s/stage.rs"]
#[allow(dead_code, unused_imports)]
mod stage;

use criterion::{Criterion, criterion_group, criterion_main};
use homelab::stages::engine::{Plan, Stage};
use std::time::{Duration, Instant};

fn join(c: &mut Criterion) {
    if !(nodes::have_sshd() && nodes::have_netns() && nodes::have_sudo()) {
        eprintln!("k3s_join: skipped (needs root, sshd, sudo and network namespaces)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let lab = rt.block_on(stage::Lab::start(1, 5));
    let stage = lab.stage();
    // Install the server (and trust every host key) once.
    let (res, _) = rt.block_on(lab.apply(&stage, true));
    res.expect("first full run");
    let agents: Vec<&nodes::Node> = lab
        .nodes
        .iter()
        .filter(|n| n.name.contains("agent"))
        .collect();
    for a in &agents {
        a.exec("echo 2 > /etc/homelab-stub-sleep")
            .expect("slow installer");
    }
    let full = rt.block_on(stage.plan()).expect("plan");
    let plan = Plan {
        steps: full
            .steps
            .iter()
            .filter(|s| s.id.contains("-agent-") && s.id.ends_with("/join"))
            .cloned()
            .collect(),
        ..full.clone()
    };
    let mut group = c.benchmark_group("k3s agent join");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.bench_function("5 agents, 2 s installer each", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for a in &agents {
                    a.exec("rm -f /usr/local/bin/k3s").expect("reset");
                }
                let t = Instant::now();
                let (res, _) = rt.block_on(lab.apply_plan(&stage, &plan, true));
                total += t.elapsed();
                res.expect("join step");
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, join);
criterion_main!(benches);
