//! One module per real system, each on its field's library. Timeouts and retries live here, once.

pub mod kube;
pub mod pve;
pub mod ssh;
