//! k3s stage and SSH backend against real OpenSSH sshd nodes (see k3s/nodes.rs), the kube
//! simulator cross-checked with kubectl, and the stage's wizard view.

#[path = "check/fixture.rs"]
#[allow(dead_code)]
mod fixture;
#[path = "k3s/flux_stage.rs"]
mod flux_stage;
#[path = "k3s/flux_stage_ssh.rs"]
mod flux_stage_ssh;
#[path = "k3s/flux_view.rs"]
mod flux_view;
#[path = "k3s/git_push.rs"]
mod git_push;
#[path = "k3s/ha.rs"]
mod ha;
#[path = "k3s/ingress_stage.rs"]
mod ingress_stage;
#[path = "k3s/kube_api.rs"]
mod kube_api;
#[path = "k3s/kube_backend.rs"]
mod kube_backend;
#[path = "k3s/kube_ctrl.rs"]
mod kube_ctrl;
#[path = "k3s/kube_defaults.rs"]
mod kube_defaults;
#[path = "k3s/kube_flux.rs"]
mod kube_flux;
#[path = "k3s/kube_health.rs"]
mod kube_health;
#[path = "k3s/kube_sim.rs"]
mod kube_sim;
#[path = "k3s/kube_stream.rs"]
mod kube_stream;
#[path = "scaffold/lab.rs"]
#[allow(dead_code)]
mod lab;
#[path = "k3s/obs_peers.rs"]
mod obs_peers;
#[path = "k3s/obs_stage.rs"]
mod obs_stage;
#[path = "k3s/platform_view.rs"]
mod platform_view;
#[path = "support/rendered_secrets.rs"]
mod rendered_secrets;
#[path = "k3s/scaffold_doctor.rs"]
mod scaffold_doctor;
#[path = "k3s/scaffold_push.rs"]
mod scaffold_push;
#[path = "k3s/scaffold_watch.rs"]
mod scaffold_watch;
#[path = "support/mod.rs"]
mod support;
/// For nodes.rs, which benches/k3s_join.rs includes too.
use support::net;

#[path = "k3s/nodes.rs"]
mod nodes;
#[path = "k3s/ssh.rs"]
mod ssh;
#[path = "k3s/ssh_config.rs"]
mod ssh_config;
#[path = "k3s/stage.rs"]
mod stage;
#[path = "k3s/storage_nfs_peer.rs"]
mod storage_nfs_peer;
#[path = "k3s/storage_stage.rs"]
mod storage_stage;
#[path = "k3s/view.rs"]
mod view;
