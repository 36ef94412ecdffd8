//! One module per real system, each on its field's library. Timeouts and retries live here.

pub mod kube;
pub mod ssh;
