//! One module per real system the app talks to. UI-agnostic: results are `domain` types.

pub mod backoff;
pub mod endpoint;
pub mod loki;
pub mod prom;
