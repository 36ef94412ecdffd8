//! A simulated Loki on 127.0.0.1 speaking the real API (docs/reference/loki.md): `query_range`, the
//! websocket `tail` with `{streams, dropped_entries}` frames, labels and label values, `/ready`,
//! and plain-text 400s for queries it cannot run. A generator writes realistic homelab lines at a
//! set rate; tests push their own lines and can drop every tail connection or stop and restart
//! the server with its history kept.

mod generator;
pub mod logql;
mod server;

pub use generator::Generator;
pub use server::{LokiSim, LokiSimOptions, LokiStore};
