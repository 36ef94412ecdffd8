//! Prometheus alert and Alertmanager v2 APIs simulated on one port (docs/reference/prometheus.md):
//! `/api/v1/alerts`, `/api/v1/rules`, `/api/v1/targets`, `/api/v2/alerts`, `/api/v2/silences`,
//! `/api/v2/silence/{id}`, `/api/v2/status`, `/-/healthy`, `/-/ready`. Silences flip matching
//! alerts to `suppressed` with their ids in `silencedBy`, as Alertmanager does.

mod server;

pub use server::{AlertsSim, SimAlert, SimTarget};
