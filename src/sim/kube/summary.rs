//! `GET /api/v1/nodes/{node}/proxy/stats/summary`: the kubelet Summary API as the API server's
//! node proxy passes it on (kubelet `pkg/apis/stats/v1alpha1`), reduced to the node part:
//! `nodeName`, `startTime`, `cpu` and `memory` (the same numbers metrics.k8s.io serves) and
//! `swap` (`swapAvailableBytes`, `swapUsageBytes`: NodeSwap, k8s >= 1.30). Every simulated node
//! has [`SWAP_BYTES`] of swap with a little of it in use (stable per node name); `pods` is empty.

use super::errors::ApiError;
use super::select::Selectors;
use super::store::Store;
use serde_json::{Value, json};

/// Swap size of every simulated node.
pub const SWAP_BYTES: u64 = 2 << 30;

/// A stable share of the swap in use: 0..64 MiB by node name.
fn swap_used(node: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % 64) << 20
}

pub fn serve(store: &Store, node: &str) -> Result<Value, ApiError> {
    let m = super::metrics::serve(store, &["nodes", node], &Selectors::default())
        .unwrap_or_else(|| Err(ApiError::new(404, "NotFound", "")))
        .map_err(|_| ApiError::new(404, "NotFound", format!("nodes \"{node}\" not found")))?;
    let quantity = |f: &str| {
        m.pointer(f)
            .and_then(Value::as_str)
            .and_then(crate::domain::units::quantity)
            .map_or(0, |v| v as u64)
    };
    let (cpu_cores, mem) = (
        m.pointer("/usage/cpu")
            .and_then(Value::as_str)
            .and_then(crate::domain::units::quantity)
            .unwrap_or(0.0),
        quantity("/usage/memory"),
    );
    let now = super::store::now();
    let used = swap_used(node);
    Ok(json!({
        "node": {
            "nodeName": node,
            "startTime": m.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null),
            "cpu": {"time": now, "usageNanoCores": (cpu_cores * 1e9) as u64},
            "memory": {"time": now, "usageBytes": mem, "workingSetBytes": mem},
            "swap": {"time": now, "swapAvailableBytes": SWAP_BYTES - used, "swapUsageBytes": used},
            "systemContainers": [],
        },
        "pods": [],
    }))
}
