//! The day-two console: a logs pane (Loki) and an alerts pane (Prometheus + Alertmanager),
//! with room for a cluster-health pane.

pub mod conn;
pub mod events;
pub mod logs;
pub mod alerts;
pub mod pivot;
pub mod effects;
pub mod state;
pub mod view;
