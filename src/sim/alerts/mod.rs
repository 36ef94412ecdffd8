//! A simulated Prometheus alert API and Alertmanager v2 API on one 127.0.0.1 port (WIRE.md D):
//! `/api/v1/alerts`, `/api/v1/rules`, `/api/v2/alerts`, `/api/v2/silences`,
//! `/api/v2/silence/{id}`, `/api/v2/status`, `/-/healthy`, `/-/ready`. Silences flip matching
//! alerts to `suppressed` with their ids in `silencedBy`, as Alertmanager does.

mod server;

pub use server::{AlertsSim, SimAlert};
