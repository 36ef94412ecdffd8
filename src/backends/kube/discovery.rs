//! API discovery, cached: a kind resolves to its resource (plural, scope) from the last discovery
//! run; an unknown kind, or a CRD that became Established, runs discovery again.

use kube::Client;
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Discovery, Scope};

/// A kind as the server serves it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// The cached discovery of one cluster.
pub struct Resolver {
    client: Client,
    cache: Option<Discovery>,
    /// How many discovery runs so far (tests and the log read it).
    pub runs: u32,
}

impl Resolver {
    pub fn new(client: Client) -> Resolver {
        Resolver {
            client,
            cache: None,
            runs: 0,
        }
    }

    /// Forget the cache and run discovery now (after a CRD became Established).
    pub async fn refresh(&mut self) -> Result<(), String> {
        let d = Discovery::new(self.client.clone())
            .run_aggregated()
            .await
            .map_err(|e| format!("API discovery: {e}; is the API server reachable?"))?;
        self.runs = self.runs.saturating_add(1);
        self.cache = Some(d);
        Ok(())
    }

    fn cached(&self, gvk: &GroupVersionKind) -> Option<Resolved> {
        let (resource, caps) = self.cache.as_ref()?.resolve_gvk(gvk)?;
        Some(Resolved {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        })
    }

    /// The resource serving `gvk`; runs discovery when it is not cached (once per call).
    /// `Ok(None)`: the server does not serve this kind.
    pub async fn resolve(&mut self, gvk: &GroupVersionKind) -> Result<Option<Resolved>, String> {
        if let Some(r) = self.cached(gvk) {
            return Ok(Some(r));
        }
        self.refresh().await?;
        Ok(self.cached(gvk))
    }
}
