//! The proxmox stage's preflight: API reachability and version, token privileges, storages,
//! bridge, template and image, VMIDs and addresses, public keys.

use super::*;
use crate::backends::pve::types::{Permissions, has_privilege};
use crate::stages::engine::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

impl ProxmoxStage {
    /// The privileges each call needs: (path, privileges any-of, what for).
    pub(super) fn required_privileges(&self) -> Vec<(String, Vec<&'static str>, &'static str)> {
        let p = &self.cfg.proxmox;
        let mut out = vec![
            (
                format!("/storage/{}", p.image_storage),
                vec!["Datastore.AllocateTemplate"],
                "download-url of the cloud image",
            ),
            (
                format!("/storage/{}", p.image_storage),
                vec!["Datastore.Audit"],
                "listing the image storage",
            ),
            (
                format!("/storage/{}", p.vm_storage),
                vec!["Datastore.AllocateSpace"],
                "disks of the template and clones",
            ),
        ];
        for node in self.vm_nodes() {
            out.push((
                format!("/nodes/{node}"),
                vec!["Sys.Audit"],
                "listing bridges",
            ));
            out.push((
                format!("/nodes/{node}"),
                vec!["Sys.AccessNetwork", "Sys.Modify"],
                "download-url (network access)",
            ));
            let (tid, _) = self.template_on(&node);
            out.push((
                format!("/vms/{tid}"),
                vec!["VM.Allocate"],
                "creating the template",
            ));
            out.push((
                format!("/vms/{tid}"),
                vec!["VM.Clone"],
                "cloning the template",
            ));
            for (privilege, why) in [
                (
                    "VM.Config.HWType",
                    "template hardware (scsihw, serial0, vga)",
                ),
                ("VM.Config.CPU", "template cores and cpu type"),
                ("VM.Config.Memory", "template memory"),
                (
                    "VM.Config.Disk",
                    "template disk import and cloud-init drive",
                ),
                ("VM.Config.Network", "template NIC"),
                ("VM.Config.Options", "template tags and agent"),
            ] {
                out.push((format!("/vms/{tid}"), vec![privilege], why));
            }
        }
        out.push((
            format!("/sdn/zones/localnetwork/{}", p.bridge),
            vec!["SDN.Use"],
            "attaching NICs to the bridge",
        ));
        for vm in &self.cfg.vms {
            let path = format!("/vms/{}", vm.vmid);
            for (privs, why) in [
                (vec!["VM.Allocate"], "creating the clone"),
                (vec!["VM.Audit"], "reading its config"),
                (vec!["VM.Config.CPU"], "setting cores"),
                (vec!["VM.Config.Memory"], "setting memory"),
                (vec!["VM.Config.Disk"], "resizing the disk"),
                (vec!["VM.Config.Cloudinit"], "cloud-init user, keys, IP"),
                (vec!["VM.Config.Options"], "tags, onboot"),
                (vec!["VM.PowerMgmt"], "starting it"),
                (
                    vec!["VM.GuestAgent.Audit", "VM.Monitor"],
                    "reading guest agent interfaces",
                ),
            ] {
                out.push((path.clone(), privs, why));
            }
        }
        out
    }

    pub(super) fn privilege_checks(&self, perms: &Permissions) -> Vec<Check> {
        let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut total = 0;
        for (path, any_of, why) in self.required_privileges() {
            total += 1;
            let ok = any_of.iter().any(|p| has_privilege(perms, &path, p))
                || (any_of.contains(&"Sys.AccessNetwork")
                    && has_privilege(perms, "/", "Sys.Audit")
                    && has_privilege(perms, "/", "Sys.Modify"));
            if !ok {
                missing
                    .entry(any_of.join(" or "))
                    .or_default()
                    .push(format!("{path} ({why})"));
            }
        }
        if missing.is_empty() {
            return vec![Check::pass(
                "privileges",
                "Token privileges",
                format!("{total} privilege checks pass for {}", self.pve.principal()),
            )];
        }
        let token = self.pve.principal();
        missing
            .into_iter()
            .map(|(privilege, paths)| {
                let first = paths[0].split(' ').next().unwrap_or("/").to_owned();
                Check::fail(
                    format!("privilege/{privilege}"),
                    format!("Privilege {privilege}"),
                    format!("{token} lacks {privilege} on {}", paths.join(", ")),
                    format!("pveum acl modify {first} --tokens '{token}' --roles HomelabBootstrap (role: docs/proxmox-stage.md)"),
                )
            })
            .collect()
    }

    pub(super) async fn preflight_checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        let p = &self.cfg.proxmox;
        checks.extend(crate::stages::insecure_http::warnings(&self.cfg));
        match self.pve.version().await {
            Ok(v) => {
                let major = v.major().unwrap_or(0);
                let minor: u32 = v
                    .release
                    .split('.')
                    .nth(1)
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0);
                checks.push(Check::pass(
                    "api",
                    "PVE API reachable",
                    format!("{} answers as PVE {}", self.api_label(), v.version),
                ));
                if major < 8 {
                    checks.push(Check::fail(
                        "version",
                        "PVE version",
                        format!("PVE {} is older than 8", v.version),
                        "upgrade Proxmox VE to 8.4 or newer",
                    ));
                } else if major == 8 && minor < 4 {
                    checks.push(Check::fail("version", "PVE version", format!("PVE {} lacks the `import` storage content (8.4+) used for cloud images", v.version),
                        "upgrade to PVE 8.4 (apt update && apt full-upgrade on the node)"));
                } else {
                    checks.push(Check::pass(
                        "version",
                        "PVE version",
                        format!("PVE {} (>= 8.4)", v.version),
                    ));
                }
            }
            Err(e) => {
                let hint = e.hint().unwrap_or_else(|| "check proxmox.endpoint".into());
                checks.push(Check::fail("api", "PVE API reachable", e.to_string(), hint));
                return checks;
            }
        }
        match self.digest().await {
            Ok(resolved) => checks.push(Check::pass(
                "checksum",
                "Image checksum",
                resolved.describe(),
            )),
            Err(e) => checks.push(Check::fail(
                "checksum",
                "Image checksum",
                e.to_string(),
                e.hint.clone().unwrap_or_default(),
            )),
        }
        if self.keys.is_empty() || !self.key_errors.is_empty() {
            let detail = if self.key_errors.is_empty() {
                "no SSH public key configured".to_owned()
            } else {
                self.key_errors.join("; ")
            };
            checks.push(Check::fail("ssh-keys", "SSH public keys", detail, "list readable public key files in ssh.public_keys (ssh-keygen -t ed25519 makes one)"));
        } else {
            checks.push(Check::pass(
                "ssh-keys",
                "SSH public keys",
                format!("{} key(s) for cloud-init", self.keys.len()),
            ));
        }
        // Nodes
        let nodes = match self.pve.nodes().await {
            Ok(n) => n,
            Err(e) => {
                checks.push(Check::fail(
                    "nodes",
                    "PVE nodes",
                    e.to_string(),
                    e.hint().unwrap_or_default(),
                ));
                return checks;
            }
        };
        let mut wanted: Vec<String> = self.vm_nodes();
        if !wanted.contains(&self.cfg.template.node) {
            checks.push(Check::warn(
                "template-node",
                "Template node",
                format!(
                    "template.node {} hosts no VM; templates are made on the VM nodes",
                    self.cfg.template.node
                ),
                "set template.node to a node that hosts VMs",
            ));
        }
        wanted.sort();
        for n in &wanted {
            match nodes.iter().find(|x| &x.node == n) {
                Some(x) if x.online => checks.push(Check::pass(
                    format!("node/{n}"),
                    format!("Node {n}"),
                    "online",
                )),
                Some(_) => checks.push(Check::fail(
                    format!("node/{n}"),
                    format!("Node {n}"),
                    "offline",
                    format!("start {n} or move its VMs to another node"),
                )),
                None => {
                    let known: Vec<&str> = nodes.iter().map(|x| x.node.as_str()).collect();
                    checks.push(Check::fail(
                        format!("node/{n}"),
                        format!("Node {n}"),
                        format!("not in the cluster (nodes: {})", known.join(", ")),
                        "fix vms[].node / proxmox.nodes in the cluster file",
                    ));
                }
            }
        }
        if let Some(pin) = &p.tls.fingerprint {
            let matches = nodes.iter().any(|n| {
                n.ssl_fingerprint
                    .as_deref()
                    .is_some_and(|f| f.eq_ignore_ascii_case(pin))
            });
            if matches {
                checks.push(Check::pass(
                    "tls",
                    "TLS pin",
                    "the pinned fingerprint is a node's certificate",
                ));
            } else {
                checks.push(Check::warn(
                    "tls",
                    "TLS pin",
                    "the pinned fingerprint matches no node's ssl_fingerprint",
                    "a proxy may sit in front of the API; compare with `pvenode cert info`",
                ));
            }
        }
        // Privileges
        match self.pve.permissions().await {
            Ok(perms) => checks.extend(self.privilege_checks(&perms)),
            Err(e) => checks.push(Check::warn(
                "privileges",
                "Token privileges",
                format!("cannot read /access/permissions: {e}"),
                "grant Sys.Audit on / so privileges can be checked up front",
            )),
        }
        // Storage and bridges
        let need_per_node: BTreeMap<String, u64> =
            self.cfg.vms.iter().fold(BTreeMap::new(), |mut m, v| {
                let need = m.entry(v.node.clone()).or_default();
                *need = need.saturating_add(v.disk_bytes());
                m
            });
        let resources = self.resources().await.unwrap_or_default();
        for node in self.vm_nodes() {
            match self.pve.storages(&node).await {
                Ok(st) => {
                    let existing: u64 = self
                        .cfg
                        .vms
                        .iter()
                        .filter(|v| {
                            v.node == node && self.locate(&resources, &v.node, v.vmid).is_some()
                        })
                        .map(|v| v.disk_bytes())
                        .fold(0u64, u64::saturating_add);
                    let need = need_per_node
                        .get(&node)
                        .copied()
                        .unwrap_or(0)
                        .saturating_sub(existing)
                        .saturating_add(4 << 30);
                    match st.iter().find(|s| s.storage == p.vm_storage) {
                        Some(s) if !s.content.contains("images") => checks.push(Check::fail(
                            format!("storage/{node}/{}", s.storage),
                            format!("VM storage {} on {node}", s.storage),
                            "content `images` is not enabled",
                            "Datacenter > Storage > Edit: enable Disk image",
                        )),
                        Some(s) if s.avail < need => checks.push(Check::fail(
                            format!("storage/{node}/{}", s.storage),
                            format!("VM storage {} on {node}", s.storage),
                            format!(
                                "{} free, {} needed",
                                crate::stages::printer::bytes(s.avail),
                                crate::stages::printer::bytes(need)
                            ),
                            "free space or lower vms[].disk_gib",
                        )),
                        Some(s) => checks.push(Check::pass(
                            format!("storage/{node}/{}", s.storage),
                            format!("VM storage {} on {node}", s.storage),
                            format!(
                                "{} free, {} needed",
                                crate::stages::printer::bytes(s.avail),
                                crate::stages::printer::bytes(need)
                            ),
                        )),
                        None => checks.push(Check::fail(
                            format!("storage/{node}/{}", p.vm_storage),
                            format!("VM storage {} on {node}", p.vm_storage),
                            "does not exist on this node",
                            "fix proxmox.vm_storage",
                        )),
                    }
                    match st.iter().find(|s| s.storage == p.image_storage) {
                        Some(s) if s.content.contains("import") => checks.push(Check::pass(
                            format!("storage/{node}/{}/import", s.storage),
                            format!("Image storage {} on {node}", s.storage),
                            "content `import` enabled",
                        )),
                        Some(s) => checks.push(Check::fail(
                            format!("storage/{node}/{}/import", s.storage),
                            format!("Image storage {} on {node}", s.storage),
                            "content `import` is not enabled",
                            format!(
                                "pvesm set {} --content {},import",
                                s.storage,
                                s.content.iter().cloned().collect::<Vec<_>>().join(",")
                            ),
                        )),
                        None => checks.push(Check::fail(
                            format!("storage/{node}/{}/import", p.image_storage),
                            format!("Image storage {} on {node}", p.image_storage),
                            "does not exist on this node",
                            "fix proxmox.image_storage",
                        )),
                    }
                }
                Err(e) => checks.push(Check::fail(
                    format!("storage/{node}"),
                    format!("Storages on {node}"),
                    e.to_string(),
                    e.hint().unwrap_or_default(),
                )),
            }
            if self.writes_snippet() {
                checks.push(self.snippet_preflight(&node).await);
            } else if self.snippet_present(&node).await {
                checks.push(Check::pass(
                    format!("snippet/{node}"),
                    format!("Vendor snippet on {node}"),
                    self.snippet_volid(),
                ));
            } else {
                checks.push(Check::warn(format!("snippet/{node}"), format!("Vendor snippet on {node}"),
                    format!("{} is missing: qemu-guest-agent will not be installed, the stage waits for SSH only", self.snippet_volid()),
                    "copy infrastructure/proxmox/homelab-vendor.yaml to /var/lib/vz/snippets/ on the node, or set proxmox.vendor_snippet: ssh (docs/proxmox-stage.md)"));
            }
            match self.pve.bridges(&node).await {
                Ok(b) if b.iter().any(|b| b.iface == p.bridge) => checks.push(Check::pass(
                    format!("bridge/{node}"),
                    format!("Bridge {} on {node}", p.bridge),
                    "exists",
                )),
                Ok(b) => {
                    let names: Vec<&str> = b.iter().map(|b| b.iface.as_str()).collect();
                    checks.push(Check::fail(
                        format!("bridge/{node}"),
                        format!("Bridge {} on {node}", p.bridge),
                        format!("missing (bridges: {})", names.join(", ")),
                        "fix proxmox.bridge or create the bridge in System > Network",
                    ));
                }
                Err(e) => checks.push(Check::fail(
                    format!("bridge/{node}"),
                    format!("Bridge {} on {node}", p.bridge),
                    e.to_string(),
                    e.hint().unwrap_or_default(),
                )),
            }
        }
        // VMIDs
        let mut ids: Vec<(String, u32, String)> = self
            .vm_nodes()
            .into_iter()
            .map(|n| {
                let (vmid, name) = self.template_on(&n);
                (n, vmid, name)
            })
            .collect();
        ids.extend(
            self.cfg
                .vms
                .iter()
                .map(|v| (v.node.clone(), v.vmid, v.name.clone())),
        );
        for (node, vmid, name) in &ids {
            let key = self.vm_key(node, *vmid);
            match self.locate(&resources, node, *vmid) {
                None => checks.push(Check::pass(
                    format!("vmid/{key}"),
                    format!("VMID {vmid} ({name})"),
                    "free",
                )),
                Some(r) if self.ours(r) => checks.push(Check::pass(
                    format!("vmid/{key}"),
                    format!("VMID {vmid} ({name})"),
                    format!("ours ({} on {})", r.name, r.node),
                )),
                Some(r) => checks.push(Check::fail(
                    format!("vmid/{key}"),
                    format!("VMID {vmid} ({name})"),
                    format!(
                        "taken by `{}` on {}, not tagged {}",
                        r.name,
                        r.node,
                        self.tag()
                    ),
                    "choose another vmid in the cluster file",
                )),
            }
        }
        // IPs
        let mut seen_ips = BTreeSet::new();
        let our_ids: BTreeSet<String> = ids.iter().map(|(n, i, _)| self.vm_key(n, *i)).collect();
        let mut foreign_ips: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
        for r in resources
            .iter()
            .filter(|r| !our_ids.contains(&self.vm_key(&r.node, r.vmid)) && !r.template)
        {
            if let Ok(cfg) = self.pve.vm_config(&r.node, r.vmid).await
                && let Some(ip) = cfg
                    .get("ipconfig0")
                    .and_then(|i| i.split(',').find_map(|kv| kv.strip_prefix("ip=")))
                    .and_then(|i| i.split('/').next()?.parse().ok())
            {
                foreign_ips.insert(ip, format!("{} ({})", r.vmid, r.name));
            }
        }
        for vm in &self.cfg.vms {
            let id = format!("ip/{}", vm.name);
            let title = format!("IP {} ({})", vm.ip, vm.name);
            if !seen_ips.insert(vm.ip) {
                checks.push(Check::fail(
                    id,
                    title,
                    "used by two VMs in the definition",
                    "give each VM its own vms[].ip",
                ));
            } else if !self.in_subnet(vm.ip) {
                checks.push(Check::fail(
                    id,
                    title,
                    format!("outside network.subnet {}", self.cfg.network.subnet),
                    "fix vms[].ip or network.subnet",
                ));
            } else if let Some(other) = foreign_ips.get(&vm.ip) {
                checks.push(Check::fail(
                    id,
                    title,
                    format!("already configured on VM {other}"),
                    "choose a free address",
                ));
            } else if self.locate(&resources, &vm.node, vm.vmid).is_none()
                && ssh_banner(vm.ip, self.cfg.ssh.port, Duration::from_millis(300))
                    .await
                    .is_ok()
            {
                checks.push(Check::warn(
                    id,
                    title,
                    "something already answers SSH at this address",
                    "make sure the address is free (DHCP range, other hosts)",
                ));
            } else {
                checks.push(Check::pass(id, title, "free or ours"));
            }
        }
        checks
    }
}
