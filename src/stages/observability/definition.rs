//! The console's port-forward targets in the cluster definition: `observability.loki_service`,
//! `prometheus_service` and `alertmanager_service` of `config/clusters/<name>.yaml` become the
//! Services the probes reached, edited in place (comments and layout kept,
//! `config::observability_edit`) and written through `atomic_write`. Holds when the file
//! already names them, so a re-run writes nothing.

use super::components::{ALERTMANAGER, LOKI, PROMETHEUS};
use crate::config::{ClusterConfig, observability_edit};
use crate::stages::engine::{StageError, StageResult};
use std::path::Path;

/// (key, value) pairs the stage writes.
pub fn wanted() -> Vec<(&'static str, String)> {
    vec![
        ("loki_service", LOKI.label()),
        ("prometheus_service", PROMETHEUS.label()),
        ("alertmanager_service", ALERTMANAGER.label()),
    ]
}

fn read(path: &Path) -> StageResult<(String, ClusterConfig)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| StageError::new(format!("{}: {e}", path.display())))?;
    let cfg: ClusterConfig = serde_yaml::from_str(&text).map_err(|e| {
        StageError::new(format!("{}: {e}", path.display()))
            .with_hint("fix the cluster definition (`homelab check` names the line)")
    })?;
    Ok((text, cfg))
}

/// The keys whose value differs from [`wanted`] (empty: nothing to write).
pub fn differs(path: &Path) -> StageResult<Vec<String>> {
    let (_, cfg) = read(path)?;
    let o = &cfg.observability;
    let have = [
        &o.loki_service,
        &o.prometheus_service,
        &o.alertmanager_service,
    ];
    Ok(wanted()
        .into_iter()
        .zip(have)
        .filter(|((_, want), have)| have.as_deref() != Some(want.as_str()))
        .map(|((k, want), _)| format!("observability.{k}: {want}"))
        .collect())
}

/// Write [`wanted`] into the file (only the differing lines change).
pub fn write(path: &Path) -> StageResult<()> {
    let (text, _) = read(path)?;
    let pairs = wanted();
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let new = observability_edit::with_observability(&text, &refs)
        .map_err(|e| StageError::new(format!("{}: {e}", path.display())))?;
    if new != text {
        crate::atomic_write::write(
            path,
            new.as_bytes(),
            crate::atomic_write::Mode::KeepOr(0o644),
        )
        .map_err(|e| StageError::new(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}
