//! The Proxmox VM under a Kubernetes node. Nothing in either system links them: the cluster
//! definition does (each `vms` entry is a VM `name` on PVE node `node` as `vmid` with `ip`, and
//! k3s names the Kubernetes node after the VM's hostname). Its state comes from PVE
//! `status/current`.

use crate::backends::pve::Hypervisor;
use crate::config::VmConfig;
use crate::domain::incident::{Part, SourceFailure, VmFacts, VmRow};

/// The row of Kubernetes node `node` (a name, or an address from an `instance` label): the VM
/// of that name or address, or a row that says it is none of the definition's VMs.
pub fn row_for(node: &str, vms: &[VmConfig], definition: &str) -> VmRow {
    match vms
        .iter()
        .find(|v| v.name == node || v.ip.to_string() == node)
    {
        Some(v) => VmRow {
            node: node.to_owned(),
            vm_name: v.name.clone(),
            pve_node: v.node.clone(),
            vmid: v.vmid,
            facts: Part::Loading,
        },
        None => VmRow {
            node: node.to_owned(),
            vm_name: String::new(),
            pve_node: String::new(),
            vmid: 0,
            facts: Part::Skipped(format!(
                "node {node} is not a VM of {definition} (no `vms` entry with that name or ip)"
            )),
        },
    }
}

/// Ask PVE about the VM of `row`.
pub async fn facts(pve: &dyn Hypervisor, host: &str, row: &VmRow) -> Part<VmFacts> {
    match pve.vm_current(&row.pve_node, row.vmid).await {
        Ok(f) => Part::Ready(f),
        Err(e) => Part::Failed(SourceFailure::new(
            "Proxmox VE",
            host,
            format!(
                "status/current of VM {} ({}) on {}",
                row.vmid, row.vm_name, row.pve_node
            ),
            e.to_string(),
        )),
    }
}
