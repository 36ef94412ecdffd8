//! The demo's SSH nodes answer the k3s stage's real commands (src/stages/k3s/commands.rs) as a
//! node would: facts the preflight accepts, files written then read back byte for byte, the
//! installer's effects (version, token, kubeconfig), and an unknown command refused loudly.

use homelab::config::{ClusterConfig, SwapBehavior};
use homelab::sim::ssh_node::script::{Answer, NodeProfile, NodeState, Out, answer};
use homelab::stages::k3s::commands::{self, Role};
use homelab::stages::k3s::preflight::NodeFacts;

fn cluster() -> ClusterConfig {
    serde_yaml::from_str(&crate::support::fixture_cluster_text()).unwrap()
}

fn profile() -> NodeProfile {
    NodeProfile {
        name: "k3s-server-1".into(),
        cores: 2,
        memory_mib: 6144,
    }
}

fn stdout(a: &Answer) -> String {
    a.lines
        .iter()
        .filter(|l| l.out == Out::Stdout)
        .map(|l| l.text.as_str())
        .collect()
}

const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\n";

fn run(state: &mut NodeState, cmd: &homelab::backends::ssh::RemoteCommand) -> Answer {
    answer(&profile(), state, &cmd.script, KUBECONFIG)
}

#[test]
fn the_preflight_probe_reports_a_node_the_stage_accepts() {
    let mut st = NodeState::default();
    let a = run(&mut st, &commands::preflight_probe());
    assert_eq!(a.status, 0);
    let f = NodeFacts::parse(&stdout(&a));
    assert_eq!(
        (f.os_id.as_str(), f.os_version.as_str()),
        ("ubuntu", "24.04")
    );
    assert_eq!(f.cpus, 2);
    assert!(f.swap_kib > 0, "swap stays on");
    assert_eq!(f.cgroup_fs, "cgroup2fs");
    assert_eq!(f.hostname, "k3s-server-1");
    assert_eq!(f.k3s, None);
}

#[test]
fn files_written_by_the_stage_read_back_exactly() {
    let mut st = NodeState::default();
    assert_eq!(stdout(&run(&mut st, &commands::read_dropin())), "");
    let w = run(&mut st, &commands::write_dropin(SwapBehavior::LimitedSwap));
    assert_eq!(w.status, 0);
    assert_eq!(
        stdout(&run(&mut st, &commands::read_dropin())),
        commands::swap_dropin(SwapBehavior::LimitedSwap)
    );
}

#[test]
fn the_installer_leaves_what_the_stage_checks_for() {
    let c = cluster();
    let mut st = NodeState::default();
    assert_eq!(stdout(&run(&mut st, &commands::probe_version())), "");
    let missing = run(&mut st, &commands::read_token());
    assert_eq!(missing.status, 1);
    let install = run(
        &mut st,
        &commands::install(&c, &Role::FirstServer, Some("cluster-secret"), None),
    );
    assert_eq!(install.status, 0, "{install:?}");
    assert!(install.slow);
    assert!(install.installed.as_ref().is_some_and(|i| i.server));
    assert!(stdout(&install).contains("[INFO]  systemd: Starting k3s"));
    let version = stdout(&run(&mut st, &commands::probe_version()));
    assert_eq!(
        commands::installed_version(&version).as_deref(),
        Some(c.k3s.version.as_str())
    );
    let token = stdout(&run(&mut st, &commands::read_token()));
    assert!(
        token.starts_with("K10") && token.trim_end().ends_with("::server:cluster-secret"),
        "{token}"
    );
    assert_eq!(
        stdout(&run(&mut st, &commands::read_kubeconfig())),
        KUBECONFIG
    );
    let facts = NodeFacts::parse(&stdout(&run(&mut st, &commands::preflight_probe())));
    assert_eq!(facts.k3s.as_deref(), Some(c.k3s.version.as_str()));
}

#[test]
fn an_agent_needs_the_server_url_and_token() {
    let c = cluster();
    let mut st = NodeState::default();
    let without = run(&mut st, &commands::install(&c, &Role::Agent, None, None));
    assert_eq!(without.status, 1);
    assert_eq!(st.k3s, None);
    let with = run(
        &mut st,
        &commands::install(&c, &Role::Agent, Some("K10abc::server:x"), None),
    );
    assert_eq!(with.status, 0);
    assert!(with.installed.as_ref().is_some_and(|i| !i.server));
}

#[test]
fn a_command_the_node_does_not_know_fails_naming_the_node() {
    let mut st = NodeState::default();
    let a = answer(&profile(), &mut st, "rm -rf /var/lib/rancher", KUBECONFIG);
    assert_eq!(a.status, 127);
    assert!(a.lines[0].text.contains("k3s-server-1: homelab demo node"));
}
