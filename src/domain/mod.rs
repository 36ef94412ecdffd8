//! Plain data shared by every layer: no ratatui, tokio or reqwest types here.

pub mod alerts;
pub mod doctor;
pub mod health;
pub mod incident;
pub mod logs;
pub mod printable;
pub mod repo;
pub mod semver;
pub mod task_log;
pub mod units;
pub mod version;
