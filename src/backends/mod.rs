//! Backends: one module per real system, each on its field's library. They know nothing about
//! the UI and speak `domain` types. Timeouts and retries live here, once. Add your
//! `pub mod <name>;` line below.

pub mod backoff;
pub mod body;
pub mod chart_index;
pub mod cloudflare;
pub mod doctor;
pub mod endpoint;
pub mod git;
pub mod git_push;
pub mod grafana;
pub mod image_digest;
pub mod incident;
pub mod kube;
pub mod loki;
pub mod oci_tags;
pub mod prom;
pub mod pve;
pub mod ssh;
pub mod tls_trust;
pub mod traces;
