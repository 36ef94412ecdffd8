//! Bootstrap stages, run in order: secrets -> proxmox -> k3s -> flux -> storage -> ingress ->
//! observability. [`engine`] is the contract every stage implements; [`printer`] turns plans,
//! checks and events into plain text for `homelab bootstrap --plan` / `--yes`.

pub mod engine;
pub mod interrupt;
pub mod journal_file;
pub mod k3s;
pub mod plan_inputs;
pub mod printer;
pub mod proxmox;
pub mod run;
pub mod run_lock;
pub mod secrets;
