//! Backends: one module per real system, each on its field's library. They know nothing about
//! the UI and speak `domain` types. Timeouts and retries live here, once.

pub mod git;
pub mod kube;
pub mod pve;
pub mod ssh;
