//! The PVE operations the proxmox stage uses, as the [`Hypervisor`] trait, implemented for
//! [`PveClient`] on proxmox-api's generated typed paths and parameters where they fit real
//! answers, and on our own types where they do not (see [`super::types`]).

use super::error::{PveError, PveErrorKind};
use super::reconcile::TaskProbe;
use super::transport::{Method, PveClient};
use super::types::*;
use async_trait::async_trait;
use proxmox_api::nodes::NodesClient;
use proxmox_api::nodes::node::qemu::vmid::resize as pve_resize;
use proxmox_api::nodes::node::storage::storage::download_url as pve_download;
use proxmox_api::types::VmId;
use serde_json::Value;
use std::collections::BTreeMap;

/// A VM's configuration as PVE returns it (`GET .../config`), values as strings.
pub type VmConfigMap = BTreeMap<String, String>;

/// What the template VM is created with (`POST /nodes/{node}/qemu`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSpec {
    pub vmid: u32,
    pub name: String,
    /// `local:import/noble.qcow2`
    pub import_from: String,
    pub vm_storage: String,
    pub bridge: String,
    pub tags: String,
}

impl TemplateSpec {
    /// The exact form parameters sent (also shown in the plan).
    pub fn params(&self) -> Vec<(String, String)> {
        let p = |k: &str, v: String| (k.to_owned(), v);
        vec![
            p("vmid", self.vmid.to_string()),
            p("name", self.name.clone()),
            p("memory", "2048".into()),
            p("cores", "2".into()),
            p("cpu", "host".into()),
            p("ostype", "l26".into()),
            p("scsihw", "virtio-scsi-pci".into()),
            p(
                "scsi0",
                format!(
                    "{}:0,import-from={},discard=on",
                    self.vm_storage, self.import_from
                ),
            ),
            p("ide2", format!("{}:cloudinit", self.vm_storage)),
            p("boot", "order=scsi0".into()),
            p("serial0", "socket".into()),
            p("vga", "serial0".into()),
            p("agent", "enabled=1".into()),
            p("net0", format!("virtio,bridge={}", self.bridge)),
            p("tags", self.tags.clone()),
        ]
    }
}

/// `POST .../download-url` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadSpec {
    pub url: String,
    pub filename: String,
    /// `import` (PVE >= 8.4) or `iso`.
    pub content: String,
    /// `sha256`, `sha512`...
    pub checksum_algorithm: String,
    pub checksum: String,
}

/// The PVE calls a stage makes. Implemented by [`PveClient`]; tests point it at `src/sim/pve`.
#[async_trait]
pub trait Hypervisor: Send + Sync {
    /// The API token id or user (for ACL hints).
    fn principal(&self) -> String;
    async fn version(&self) -> Result<Version, PveError>;
    async fn nodes(&self) -> Result<Vec<NodeInfo>, PveError>;
    async fn vm_resources(&self) -> Result<Vec<VmResource>, PveError>;
    async fn next_id(&self) -> Result<u64, PveError>;
    async fn permissions(&self) -> Result<Permissions, PveError>;
    async fn storages(&self, node: &str) -> Result<Vec<StorageInfo>, PveError>;
    async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: &str,
    ) -> Result<Vec<Volume>, PveError>;
    async fn bridges(&self, node: &str) -> Result<Vec<Bridge>, PveError>;
    async fn download_url(
        &self,
        node: &str,
        storage: &str,
        spec: &DownloadSpec,
    ) -> Result<Upid, PveError>;
    async fn create_vm(&self, node: &str, spec: &TemplateSpec) -> Result<Upid, PveError>;
    /// Convert to template. `None` when the server answers synchronously.
    async fn make_template(&self, node: &str, vmid: u32) -> Result<Option<Upid>, PveError>;
    async fn clone_vm(
        &self,
        node: &str,
        vmid: u32,
        newid: u32,
        name: &str,
        storage: &str,
    ) -> Result<Upid, PveError>;
    async fn vm_config(&self, node: &str, vmid: u32) -> Result<VmConfigMap, PveError>;
    /// Synchronous `PUT .../config`.
    async fn set_vm_config(
        &self,
        node: &str,
        vmid: u32,
        params: &[(String, String)],
    ) -> Result<(), PveError>;
    /// `PUT .../resize` with an absolute size in GiB (a UPID since PVE 8).
    async fn resize_disk(
        &self,
        node: &str,
        vmid: u32,
        disk: &str,
        gib: u64,
    ) -> Result<Upid, PveError>;
    async fn start_vm(&self, node: &str, vmid: u32) -> Result<Upid, PveError>;
    /// Hard stop (`POST .../status/stop`).
    async fn stop_vm(&self, node: &str, vmid: u32) -> Result<Upid, PveError>;
    /// Destroy a stopped VM and its disks (`DELETE /nodes/{node}/qemu/{vmid}`).
    async fn destroy_vm(&self, node: &str, vmid: u32) -> Result<Upid, PveError>;
    async fn vm_status(&self, node: &str, vmid: u32) -> Result<VmStatus, PveError>;
    /// Status, CPU, memory and uptime (`GET .../status/current`) for the console's incident
    /// view. The default knows only running or stopped (test doubles); the client and the
    /// router read everything.
    async fn vm_current(
        &self,
        node: &str,
        vmid: u32,
    ) -> Result<crate::domain::incident::VmFacts, PveError> {
        let s = self.vm_status(node, vmid).await?;
        Ok(crate::domain::incident::VmFacts {
            status: if s.running { "running" } else { "stopped" }.to_owned(),
            qmpstatus: s.qmpstatus,
            cpu: None,
            cpus: None,
            mem: None,
            maxmem: None,
            uptime: None,
        })
    }
    async fn guest_interfaces(
        &self,
        node: &str,
        vmid: u32,
    ) -> Result<Vec<GuestInterface>, PveError>;
    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus, PveError>;
    /// Task log lines from line `start` (0-based): `(n, text)`.
    async fn task_log(&self, upid: &Upid, start: u64) -> Result<Vec<(u64, String)>, PveError>;
}

fn vmid(call: &str, id: u32) -> Result<VmId, PveError> {
    VmId::try_from(id as i128).map_err(|e| {
        PveError::new(
            call,
            PveErrorKind::Decode(format!("VMID {id} is out of range: {e:?}")),
        )
    })
}

fn upid(call: &str, s: String) -> Result<Upid, PveError> {
    Upid::parse(&s).map_err(|e| PveError::new(call, PveErrorKind::Decode(e)))
}

fn bad(call: &str, what: impl std::fmt::Display) -> PveError {
    PveError::new(call, PveErrorKind::Decode(what.to_string()))
}

impl PveClient {
    fn nodes_api(&self) -> NodesClient<PveClient> {
        NodesClient::new(self.clone())
    }
    /// `/nodes/{node}/qemu/{id}` as a generated client.
    fn vm_api(
        &self,
        call: &str,
        node: &str,
        id: u32,
    ) -> Result<proxmox_api::nodes::node::qemu::vmid::VmidClient<PveClient>, PveError> {
        Ok(self.nodes_api().node(node).qemu().vmid(vmid(call, id)?))
    }

    async fn get_raw(&self, path: &str, query: &[(String, String)]) -> Result<Value, PveError> {
        self.call(Method::Get, path, &[], query).await
    }
}

fn value_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[async_trait]
impl Hypervisor for PveClient {
    fn principal(&self) -> String {
        PveClient::principal(self).to_owned()
    }

    async fn version(&self) -> Result<Version, PveError> {
        let v = proxmox_api::version::VersionClient::new(self.clone())
            .get()
            .await?;
        Ok(Version {
            version: v.version,
            release: v.release,
        })
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, PveError> {
        let items = self.nodes_api().get().await?;
        Ok(items
            .into_iter()
            .map(|n| NodeInfo {
                online: n.status == proxmox_api::nodes::Status::Online,
                node: n.node,
                ssl_fingerprint: n.ssl_fingerprint,
                maxmem: n.maxmem.unwrap_or(0).max(0) as u64,
                mem: n.mem.unwrap_or(0).max(0) as u64,
            })
            .collect())
    }

    async fn vm_resources(&self) -> Result<Vec<VmResource>, PveError> {
        let call = "GET /cluster/resources";
        let data = self
            .get_raw("/cluster/resources", &[("type".into(), "vm".into())])
            .await?;
        serde_json::from_value(data).map_err(|e| bad(call, e))
    }

    async fn next_id(&self) -> Result<u64, PveError> {
        let data = self.get_raw("/cluster/nextid", &[]).await?;
        serde_json::from_value::<NextId>(data)
            .map(|n| n.0)
            .map_err(|e| bad("GET /cluster/nextid", e))
    }

    async fn permissions(&self) -> Result<Permissions, PveError> {
        let call = "GET /access/permissions";
        let data = self.get_raw("/access/permissions", &[]).await?;
        // path -> privilege -> propagate flag: every listed privilege is granted on its path;
        // the flag (0/1, sometimes a bool) says whether it also holds below it.
        let map: BTreeMap<String, BTreeMap<String, Value>> =
            serde_json::from_value(data).map_err(|e| bad(call, e))?;
        Ok(map
            .into_iter()
            .map(|(path, privs)| {
                let privs = privs
                    .into_iter()
                    .map(|(k, v)| {
                        let propagates = v.as_i64().map_or(v.as_bool() == Some(true), |n| n != 0);
                        (k, propagates)
                    })
                    .collect();
                (path, privs)
            })
            .collect())
    }

    async fn storages(&self, node: &str) -> Result<Vec<StorageInfo>, PveError> {
        let items = self
            .nodes_api()
            .node(node)
            .storage()
            .get(Default::default())
            .await?;
        Ok(items
            .into_iter()
            .map(|s| StorageInfo {
                content: s
                    .content
                    .split(',')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty())
                    .collect(),
                storage: s.storage,
                active: s.active.unwrap_or(true),
                shared: s.shared.unwrap_or(false),
                avail: s.avail.unwrap_or(0).max(0) as u64,
                total: s.total.unwrap_or(0).max(0) as u64,
            })
            .collect())
    }

    async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: &str,
    ) -> Result<Vec<Volume>, PveError> {
        use proxmox_api::nodes::node::storage::storage::content::GetParams;
        let params = GetParams {
            content: Some(content.to_owned()),
            ..Default::default()
        };
        let items = self
            .nodes_api()
            .node(node)
            .storage()
            .storage(storage)
            .content()
            .get(params)
            .await?;
        Ok(items
            .into_iter()
            .map(|i| Volume {
                volid: i.volid,
                size: i.size.max(0) as u64,
            })
            .collect())
    }

    async fn bridges(&self, node: &str) -> Result<Vec<Bridge>, PveError> {
        let path = format!("/nodes/{node}/network");
        let data = self
            .get_raw(&path, &[("type".into(), "any_bridge".into())])
            .await?;
        let items = data.as_array().cloned().unwrap_or_default();
        Ok(items
            .iter()
            .filter_map(|i| {
                Some(Bridge {
                    iface: i.get("iface")?.as_str()?.to_owned(),
                    kind: i.get("type").map(value_to_string).unwrap_or_default(),
                    active: i
                        .get("active")
                        .is_some_and(|a| a.as_i64() == Some(1) || a.as_bool() == Some(true)),
                })
            })
            .collect())
    }

    async fn download_url(
        &self,
        node: &str,
        storage: &str,
        spec: &DownloadSpec,
    ) -> Result<Upid, PveError> {
        let call = format!("POST /nodes/{node}/storage/{storage}/download-url");
        let content =
            pve_download::Content::try_from(spec.content.as_str()).map_err(|e| bad(&call, e))?;
        let filename = pve_download::FilenameStr::try_from(spec.filename.clone())
            .map_err(|e| bad(&call, format!("{e:?}")))?;
        let url = pve_download::UrlStr::try_from(spec.url.clone())
            .map_err(|e| bad(&call, format!("{e:?}")))?;
        let mut params = pve_download::PostParams::new(content, filename, url);
        params.checksum = Some(spec.checksum.clone());
        params.checksum_algorithm = Some(
            pve_download::ChecksumAlgorithm::try_from(spec.checksum_algorithm.as_str())
                .map_err(|e| bad(&call, e))?,
        );
        let post = async move {
            self.nodes_api()
                .node(node)
                .storage()
                .storage(storage)
                .download_url()
                .post(params)
                .await
                .map(Value::String)
        };
        let probe = TaskProbe {
            node,
            kind: "download",
            id: None,
        };
        let s = self.post_task(probe, post).await?;
        upid(&call, value_to_string(&s))
    }

    async fn create_vm(&self, node: &str, spec: &TemplateSpec) -> Result<Upid, PveError> {
        // Typed by hand: the generated `PostParams` cannot carry `scsi0=...,import-from=...` and
        // `agent=enabled=1` as given here without re-validating them against older patterns.
        let path = format!("/nodes/{node}/qemu");
        let call = format!("POST {path}");
        let probe = TaskProbe {
            node,
            kind: "qmcreate",
            id: Some(spec.vmid),
        };
        let params = spec.params();
        let data = self
            .post_task(probe, self.call(Method::Post, &path, &params, &[]))
            .await?;
        upid(&call, value_to_string(&data))
    }

    async fn make_template(&self, node: &str, id: u32) -> Result<Option<Upid>, PveError> {
        let call = format!("POST /nodes/{node}/qemu/{id}/template");
        let path = format!("/nodes/{node}/qemu/{id}/template");
        let probe = TaskProbe {
            node,
            kind: "qmtemplate",
            id: Some(id),
        };
        let data = match self
            .post_task(probe, self.call(Method::Post, &path, &[], &[]))
            .await
        {
            // A synchronous conversion leaves no task: read the config back.
            Err(e) if e.retryable() => {
                let config = self.vm_config(node, id).await.map_err(|_| e.clone())?;
                if config.get("template").map(String::as_str) == Some("1") {
                    Value::Null
                } else {
                    return Err(e);
                }
            }
            other => other?,
        };
        match data {
            Value::Null => Ok(None),
            v => upid(&call, value_to_string(&v)).map(Some),
        }
    }

    async fn clone_vm(
        &self,
        node: &str,
        id: u32,
        newid: u32,
        name: &str,
        storage: &str,
    ) -> Result<Upid, PveError> {
        use proxmox_api::nodes::node::qemu::vmid::clone::{NewidInt, PostParams};
        let call = format!("POST /nodes/{node}/qemu/{id}/clone");
        let newid_t =
            NewidInt::try_from(newid as i128).map_err(|e| bad(&call, format!("{e:?}")))?;
        let mut params = PostParams::new(newid_t);
        params.full = Some(true);
        params.name = Some(name.to_owned());
        params.storage = Some(storage.to_owned());
        let api = self.vm_api(&call, node, id)?;
        let post = async move { api.clone().post(params).await.map(Value::String) };
        let probe = TaskProbe {
            node,
            kind: "qmclone",
            id: Some(id),
        };
        let s = self.post_task(probe, post).await?;
        upid(&call, value_to_string(&s))
    }

    async fn vm_config(&self, node: &str, id: u32) -> Result<VmConfigMap, PveError> {
        // Raw map: the stage compares keys generically (drift), and numbered keys (`scsi0`, `net0`)
        // are easier to read this way than through the generated numbered-field maps.
        let call = format!("GET /nodes/{node}/qemu/{id}/config");
        let data = self
            .get_raw(&format!("/nodes/{node}/qemu/{id}/config"), &[])
            .await?;
        let Value::Object(map) = data else {
            return Err(bad(&call, "config is not an object"));
        };
        Ok(map
            .iter()
            .map(|(k, v)| (k.clone(), value_to_string(v)))
            .collect())
    }

    async fn set_vm_config(
        &self,
        node: &str,
        id: u32,
        params: &[(String, String)],
    ) -> Result<(), PveError> {
        let path = format!("/nodes/{node}/qemu/{id}/config");
        self.call(Method::Put, &path, params, &[]).await.map(|_| ())
    }

    async fn resize_disk(
        &self,
        node: &str,
        id: u32,
        disk: &str,
        gib: u64,
    ) -> Result<Upid, PveError> {
        let call = format!("PUT /nodes/{node}/qemu/{id}/resize");
        let disk = pve_resize::Disk::try_from(disk).map_err(|e| bad(&call, e))?;
        let size = pve_resize::SizeStr::try_from(format!("{gib}G"))
            .map_err(|e| bad(&call, format!("{e:?}")))?;
        let s = self
            .vm_api(&call, node, id)?
            .resize()
            .put(pve_resize::PutParams::new(disk, size))
            .await?;
        upid(&call, s)
    }

    async fn start_vm(&self, node: &str, id: u32) -> Result<Upid, PveError> {
        let call = format!("POST /nodes/{node}/qemu/{id}/status/start");
        let api = self.vm_api(&call, node, id)?;
        let post = async move {
            api.status()
                .start()
                .post(Default::default())
                .await
                .map(Value::String)
        };
        let probe = TaskProbe {
            node,
            kind: "qmstart",
            id: Some(id),
        };
        let s = self.post_task(probe, post).await?;
        upid(&call, value_to_string(&s))
    }

    async fn stop_vm(&self, node: &str, id: u32) -> Result<Upid, PveError> {
        let call = format!("POST /nodes/{node}/qemu/{id}/status/stop");
        let api = self.vm_api(&call, node, id)?;
        let post = async move {
            api.status()
                .stop()
                .post(Default::default())
                .await
                .map(Value::String)
        };
        let probe = TaskProbe {
            node,
            kind: "qmstop",
            id: Some(id),
        };
        let s = self.post_task(probe, post).await?;
        upid(&call, value_to_string(&s))
    }

    async fn destroy_vm(&self, node: &str, id: u32) -> Result<Upid, PveError> {
        let call = format!("DELETE /nodes/{node}/qemu/{id}");
        let s = self
            .vm_api(&call, node, id)?
            .delete(Default::default())
            .await?;
        upid(&call, s)
    }

    async fn vm_status(&self, node: &str, id: u32) -> Result<VmStatus, PveError> {
        use proxmox_api::nodes::node::qemu::vmid::status::current::Status;
        let call = format!("GET /nodes/{node}/qemu/{id}/status/current");
        let s = self
            .vm_api(&call, node, id)?
            .status()
            .current()
            .get()
            .await?;
        Ok(VmStatus {
            running: s.status == Status::Running,
            qmpstatus: s.qmpstatus,
        })
    }

    async fn vm_current(
        &self,
        node: &str,
        id: u32,
    ) -> Result<crate::domain::incident::VmFacts, PveError> {
        super::vm_current::read(self, node, id).await
    }

    async fn guest_interfaces(&self, node: &str, id: u32) -> Result<Vec<GuestInterface>, PveError> {
        let call = format!("GET /nodes/{node}/qemu/{id}/agent/network-get-interfaces");
        let path = format!("/nodes/{node}/qemu/{id}/agent/network-get-interfaces");
        let data = self.without_retries().get_raw(&path, &[]).await?;
        serde_json::from_value::<AgentInterfaces>(data)
            .map(|a| a.result)
            .map_err(|e| bad(&call, e))
    }

    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus, PveError> {
        use proxmox_api::nodes::node::tasks::upid::status::Status;
        let s = self
            .nodes_api()
            .node(&upid.node)
            .tasks()
            .upid(&upid.raw)
            .status()
            .get()
            .await?;
        Ok(TaskStatus {
            running: s.status == Status::Running,
            exitstatus: s.exitstatus,
        })
    }

    async fn task_log(&self, upid: &Upid, start: u64) -> Result<Vec<(u64, String)>, PveError> {
        use proxmox_api::nodes::node::tasks::upid::log::GetParams;
        let params = GetParams {
            start: Some(start),
            ..Default::default()
        };
        let lines = self
            .nodes_api()
            .node(&upid.node)
            .tasks()
            .upid(&upid.raw)
            .log()
            .get(params)
            .await?;
        Ok(lines
            .into_iter()
            .map(|l| (l.n.max(0) as u64, l.t))
            .collect())
    }
}
