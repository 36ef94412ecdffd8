//! What the incident view shows of a VM: `GET /nodes/{node}/qemu/{vmid}/status/current`
//! (status, CPU use, memory, uptime; docs/reference/pve.md), through proxmox-api's typed path.

use super::error::{PveError, PveErrorKind};
use super::transport::PveClient;
use crate::domain::incident::VmFacts;
use proxmox_api::nodes::NodesClient;
use proxmox_api::nodes::node::qemu::vmid::status::current::{GetOutput, Status};
use proxmox_api::types::VmId;

/// Status, CPU, memory and uptime of VM `id` on PVE node `node`.
pub(super) async fn read(client: &PveClient, node: &str, id: u32) -> Result<VmFacts, PveError> {
    let call = format!("GET /nodes/{node}/qemu/{id}/status/current");
    let vmid = VmId::try_from(i128::from(id)).map_err(|e| {
        PveError::new(
            &call,
            PveErrorKind::Decode(format!("VMID {id} is out of range: {e:?}")),
        )
    })?;
    let s = NodesClient::new(client.clone())
        .node(node)
        .qemu()
        .vmid(vmid)
        .status()
        .current()
        .get()
        .await?;
    Ok(facts(s))
}

fn facts(s: GetOutput) -> VmFacts {
    // Peer numbers: negative or non-finite values are dropped, never trusted.
    let count = |v: Option<i64>| v.and_then(|n| u64::try_from(n).ok());
    let frac = |v: Option<f64>| v.filter(|f| f.is_finite() && *f >= 0.0);
    VmFacts {
        status: match s.status {
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
        .to_owned(),
        qmpstatus: s.qmpstatus,
        cpu: frac(s.cpu),
        cpus: frac(s.cpus),
        mem: count(s.mem),
        maxmem: count(s.maxmem),
        uptime: count(s.uptime),
    }
}
