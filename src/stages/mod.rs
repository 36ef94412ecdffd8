//! Bootstrap stages, run in order: secrets -> proxmox -> k3s -> flux -> storage -> ingress ->
//! observability, as [`registry`] lists them. [`engine`] is the contract every stage implements; [`printer`] turns plans,
//! checks and events into plain text for `homelab bootstrap --plan` / `--yes`.

pub mod crash_point;
pub mod engine;
pub mod flux;
pub mod ingress;
pub mod insecure_http;
pub mod interrupt;
pub mod journal;
pub mod journal_file;
pub mod k3s;
pub mod observability;
pub mod plan_inputs;
pub mod poll;
pub mod printer;
pub mod probe;
pub mod proxmox;
pub mod registry;
pub mod rehearsal;
pub mod run;
pub mod run_lock;
pub mod secrets;
pub mod storage;
