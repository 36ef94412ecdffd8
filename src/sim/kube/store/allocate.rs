//! The values the Service registry allocates (ClusterIP, NodePort), free among the Services the
//! store holds: what [`super::super::defaults`] asks for.

use super::super::defaults::Allocate;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Picks free values among `services` (every stored Service, by namespace and name).
pub(super) struct Allocator<'a> {
    pub services: Option<&'a BTreeMap<(String, String), Arc<Value>>>,
    /// Handed out in this write (several ports of one Service).
    pub given: BTreeSet<String>,
}

impl Allocator<'_> {
    fn used(&self, f: impl Fn(&Value) -> Vec<String>) -> BTreeSet<String> {
        self.services
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|s| f(s))
            .chain(self.given.iter().cloned())
            .collect()
    }
}

impl Allocate for Allocator<'_> {
    fn cluster_ip(&mut self) -> String {
        let used = self.used(|s| {
            s.pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .map(str::to_string)
                .into_iter()
                .collect()
        });
        // Random in 10.43.0.0/16 as the real allocator; .0.1 (kubernetes) and .0.10 (DNS)
        // are left to their services.
        use rand::Rng as _;
        let mut rng = rand::thread_rng();
        let ip = (0..64)
            .map(|_| rng.gen_range(11u32..65_534))
            .chain(11u32..65_534)
            .filter(|n| n % 256 != 0 && n % 256 != 255)
            .map(|n| format!("10.43.{}.{}", n / 256, n % 256))
            .find(|ip| !used.contains(ip))
            .unwrap_or_else(|| "10.43.255.254".into());
        self.given.insert(ip.clone());
        ip
    }

    fn node_port(&mut self) -> Option<u16> {
        let used = self.used(|s| {
            s.pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p["nodePort"].as_u64())
                .map(|n| n.to_string())
                .collect()
        });
        let port = (30_000u16..=32_767).find(|p| !used.contains(&p.to_string()))?;
        self.given.insert(port.to_string());
        Some(port)
    }
}
