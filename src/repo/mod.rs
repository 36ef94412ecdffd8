//! The GitOps repository as data: the tree model ([`tree`]), the Stage 1 conformance rules
//! ([`check`]), which cluster definition syncs which folder ([`synced`]) and the
//! rules' text/JSON output ([`output`]); `homelab check` is
//! `commands::check`.

pub mod check;
pub mod doctor_facts;
pub mod file_read;
pub mod outdated;
pub mod output;
pub mod synced;
pub mod tree;
