//! Console: backends against real Prometheus + Alertmanager and the Loki simulator, the panes
//! driven through their real effect runner, and frame snapshots of every pane state.

#[path = "support/mod.rs"]
mod support;

#[path = "console/harness.rs"]
mod harness;
#[path = "console/health.rs"]
mod health;
#[path = "console/health_e2e.rs"]
mod health_e2e;

#[path = "console/alerts_peers.rs"]
mod alerts_peers;
#[path = "console/e2e.rs"]
mod e2e;
#[path = "console/incident.rs"]
mod incident;
#[path = "console/incident_view.rs"]
mod incident_view;
#[path = "console/loki_sim.rs"]
mod loki_sim;
#[path = "console/loki_tail_trust.rs"]
mod loki_tail_trust;
#[path = "console/reach.rs"]
mod reach;
#[path = "console/sims.rs"]
mod sims;
#[path = "console/snapshots.rs"]
mod snapshots;
