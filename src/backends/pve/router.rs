//! Standalone PVE hosts behind one [`Hypervisor`]: every call that names a node goes to that
//! node's own API (its own token and pinned certificate); task calls go to the node in the
//! UPID; listings (nodes, VMs) are the union of every host's. A host reports only its own VMs,
//! so VMIDs may repeat across hosts and a VM is identified by (node, vmid).

use super::api::{DownloadSpec, Hypervisor, TemplateSpec, VmConfigMap};
use super::error::{PveError, PveErrorKind};
use super::types::*;
use async_trait::async_trait;
use std::sync::Arc;

/// One API and the nodes it serves.
pub struct Route {
    pub nodes: Vec<String>,
    pub api: Arc<dyn Hypervisor>,
}

/// Several PVE APIs as one [`Hypervisor`].
pub struct NodeRouter {
    routes: Vec<Route>,
}

impl NodeRouter {
    /// `routes` must not be empty (the first answers the calls that name no node).
    pub fn new(routes: Vec<Route>) -> Result<Self, String> {
        if routes.is_empty() {
            return Err("no PVE endpoint configured".into());
        }
        Ok(NodeRouter { routes })
    }

    fn api(&self, call: &str, node: &str) -> Result<&Arc<dyn Hypervisor>, PveError> {
        self.routes
            .iter()
            .find(|r| r.nodes.iter().any(|n| n == node))
            .map(|r| &r.api)
            .ok_or_else(|| {
                PveError::new(
                    call,
                    PveErrorKind::Decode(format!(
                        "node `{node}` has no endpoint (proxmox.hosts lists none for it)"
                    )),
                )
            })
    }

    fn first(&self) -> &Arc<dyn Hypervisor> {
        &self.routes[0].api
    }
}

fn release_key(v: &Version) -> (u32, u32) {
    let mut parts = v.release.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[async_trait]
impl Hypervisor for NodeRouter {
    fn principal(&self) -> String {
        let mut all: Vec<String> = self.routes.iter().map(|r| r.api.principal()).collect();
        all.dedup();
        all.join(", ")
    }

    /// The oldest host's version (what the stage can rely on everywhere).
    async fn version(&self) -> Result<Version, PveError> {
        let mut oldest: Option<Version> = None;
        for r in &self.routes {
            let v = r.api.version().await?;
            if oldest
                .as_ref()
                .is_none_or(|o| release_key(&v) < release_key(o))
            {
                oldest = Some(v);
            }
        }
        oldest.ok_or_else(|| PveError::new("GET /version", PveErrorKind::Decode("no host".into())))
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, PveError> {
        let mut out = Vec::new();
        for r in &self.routes {
            out.extend(r.api.nodes().await?);
        }
        Ok(out)
    }

    async fn vm_resources(&self) -> Result<Vec<VmResource>, PveError> {
        let mut out = Vec::new();
        for r in &self.routes {
            out.extend(r.api.vm_resources().await?);
        }
        Ok(out)
    }

    async fn next_id(&self) -> Result<u64, PveError> {
        self.first().next_id().await
    }

    /// What every host grants: a privilege on a path counts only where all hosts have it.
    async fn permissions(&self) -> Result<Permissions, PveError> {
        let mut merged: Option<Permissions> = None;
        for r in &self.routes {
            let p = r.api.permissions().await?;
            merged = Some(match merged {
                None => p,
                Some(m) => m
                    .into_iter()
                    .filter_map(|(path, privs)| {
                        let other = p.get(&path)?;
                        let both: std::collections::BTreeMap<String, bool> = privs
                            .into_iter()
                            .filter_map(|(k, prop)| Some((k.clone(), prop && *other.get(&k)?)))
                            .collect();
                        Some((path, both))
                    })
                    .collect(),
            });
        }
        Ok(merged.unwrap_or_default())
    }

    async fn storages(&self, node: &str) -> Result<Vec<StorageInfo>, PveError> {
        self.api("GET storage", node)?.storages(node).await
    }

    async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: &str,
    ) -> Result<Vec<Volume>, PveError> {
        self.api("GET storage content", node)?
            .storage_content(node, storage, content)
            .await
    }

    async fn bridges(&self, node: &str) -> Result<Vec<Bridge>, PveError> {
        self.api("GET network", node)?.bridges(node).await
    }

    async fn download_url(
        &self,
        node: &str,
        storage: &str,
        spec: &DownloadSpec,
    ) -> Result<Upid, PveError> {
        self.api("POST download-url", node)?
            .download_url(node, storage, spec)
            .await
    }

    async fn create_vm(&self, node: &str, spec: &TemplateSpec) -> Result<Upid, PveError> {
        self.api("POST qemu", node)?.create_vm(node, spec).await
    }

    async fn make_template(&self, node: &str, vmid: u32) -> Result<Option<Upid>, PveError> {
        self.api("POST template", node)?
            .make_template(node, vmid)
            .await
    }

    async fn clone_vm(
        &self,
        node: &str,
        vmid: u32,
        newid: u32,
        name: &str,
        storage: &str,
    ) -> Result<Upid, PveError> {
        self.api("POST clone", node)?
            .clone_vm(node, vmid, newid, name, storage)
            .await
    }

    async fn vm_config(&self, node: &str, vmid: u32) -> Result<VmConfigMap, PveError> {
        self.api("GET config", node)?.vm_config(node, vmid).await
    }

    async fn set_vm_config(
        &self,
        node: &str,
        vmid: u32,
        params: &[(String, String)],
    ) -> Result<(), PveError> {
        self.api("PUT config", node)?
            .set_vm_config(node, vmid, params)
            .await
    }

    async fn resize_disk(
        &self,
        node: &str,
        vmid: u32,
        disk: &str,
        gib: u64,
    ) -> Result<Upid, PveError> {
        self.api("PUT resize", node)?
            .resize_disk(node, vmid, disk, gib)
            .await
    }

    async fn start_vm(&self, node: &str, vmid: u32) -> Result<Upid, PveError> {
        self.api("POST start", node)?.start_vm(node, vmid).await
    }

    async fn stop_vm(&self, node: &str, vmid: u32) -> Result<Upid, PveError> {
        self.api("POST stop", node)?.stop_vm(node, vmid).await
    }

    async fn destroy_vm(&self, node: &str, vmid: u32) -> Result<Upid, PveError> {
        self.api("DELETE qemu", node)?.destroy_vm(node, vmid).await
    }

    async fn vm_status(&self, node: &str, vmid: u32) -> Result<VmStatus, PveError> {
        self.api("GET status", node)?.vm_status(node, vmid).await
    }

    async fn vm_current(
        &self,
        node: &str,
        vmid: u32,
    ) -> Result<crate::domain::incident::VmFacts, PveError> {
        self.api("GET status", node)?.vm_current(node, vmid).await
    }

    async fn guest_interfaces(
        &self,
        node: &str,
        vmid: u32,
    ) -> Result<Vec<GuestInterface>, PveError> {
        self.api("GET agent", node)?
            .guest_interfaces(node, vmid)
            .await
    }

    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus, PveError> {
        self.api("GET task status", &upid.node)?
            .task_status(upid)
            .await
    }

    async fn task_log(&self, upid: &Upid, start: u64) -> Result<Vec<(u64, String)>, PveError> {
        self.api("GET task log", &upid.node)?
            .task_log(upid, start)
            .await
    }
}
