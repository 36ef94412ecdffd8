//! The desired state of each VM (from the cluster definition and the SSH public keys) and its
//! comparison with what PVE holds: config and disk size, drift and the writes that fix it.

use super::*;
use crate::backends::pve::types::{self};
use crate::config::{ClusterConfig, VmConfig};
use crate::stages::engine::*;
use std::collections::BTreeSet;

/// Read `ssh.public_keys` (`~` expanded): OpenSSH public keys only; a private key file is
/// refused without being read further. Returns the keys and one message per problem.
pub fn load_public_keys(cfg: &ClusterConfig) -> (Vec<String>, Vec<String>) {
    crate::backends::ssh::public_keys::load(&cfg.ssh.public_keys)
}

/// What we want a VM's config to hold.
pub(super) struct Desired {
    pub(super) params: Vec<(String, String)>,
}

/// Compare one config key; `None` when equal.
pub(super) fn differs(key: &str, want: &str, have: Option<&str>) -> Option<String> {
    let have_s = have.unwrap_or("");
    let equal = match key {
        "sshkeys" => types::decode_sshkeys(have_s).trim() == types::decode_sshkeys(want).trim(),
        "tags" => {
            let a: BTreeSet<&str> = types::split_tags(want).collect();
            let b: BTreeSet<&str> = types::split_tags(have_s).collect();
            a == b
        }
        "agent" => have_s.contains('1') == want.contains('1'),
        "nameserver" => {
            let a: Vec<&str> = want.split_whitespace().collect();
            let b: Vec<&str> = have_s.split_whitespace().collect();
            a == b
        }
        _ => have_s == want,
    };
    if equal {
        return None;
    }
    let shown = |v: &str| {
        if key == "sshkeys" {
            format!("{} key(s)", types::decode_sshkeys(v).lines().count())
        } else {
            v.to_owned()
        }
    };
    Some(match have {
        Some(h) => format!("{key}: {} (definition: {})", shown(h), shown(want)),
        None => format!("{key}: unset (definition: {})", shown(want)),
    })
}

impl ProxmoxStage {
    pub(super) fn desired(&self, vm: &VmConfig, snippet: bool) -> Desired {
        let p = |k: &str, v: String| (k.to_owned(), v);
        let mut params = vec![
            p("cores", vm.cores.to_string()),
            p("memory", vm.memory_mib.to_string()),
            p(
                "ciuser",
                vm.ssh_user
                    .clone()
                    .unwrap_or_else(|| self.cfg.ssh.user.clone()),
            ),
            p("sshkeys", types::encode_sshkeys(&self.keys)),
            p(
                "ipconfig0",
                format!(
                    "ip={}/{},gw={}",
                    vm.ip,
                    self.prefix_len(),
                    self.cfg.network.gateway
                ),
            ),
            p(
                "nameserver",
                self.cfg
                    .network
                    .dns
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            p("agent", "enabled=1".into()),
            p("onboot", "1".into()),
            p("tags", format!("{};k3s-{}", self.tag(), vm.role.as_str())),
        ];
        if let Some(sd) = &self.cfg.network.search_domain {
            params.push(p("searchdomain", sd.clone()));
        }
        if snippet {
            params.push(p("cicustom", format!("vendor={}", self.snippet_volid())));
        }
        Desired { params }
    }

    /// Differences between the VM's config and the definition.
    pub(super) async fn config_diff(
        &self,
        vm: &VmConfig,
    ) -> StageResult<(Vec<(String, String)>, Vec<String>)> {
        let have = self.pve.vm_config(&vm.node, vm.vmid).await?;
        let snippet = self.snippet_present(&vm.node).await;
        let want = self.desired(vm, snippet);
        let mut changes = Vec::new();
        let mut notes = Vec::new();
        for (k, v) in &want.params {
            if let Some(d) = differs(k, v, have.get(k).map(String::as_str)) {
                changes.push((k.clone(), v.clone()));
                notes.push(d);
            }
        }
        Ok((changes, notes))
    }

    pub(super) async fn check_config(&self, vm: &VmConfig, reconcile: bool) -> StageResult<Holds> {
        let r = self
            .find(&vm.node, vm.vmid)
            .await?
            .ok_or_else(|| StageError::new(format!("VM {} does not exist", vm.vmid)))?;
        let (changes, notes) = self.config_diff(vm).await?;
        if changes.is_empty() {
            return Ok(Holds::Yes(format!(
                "VM {} config matches the definition",
                vm.vmid
            )));
        }
        let configured = r.has_tag(self.tag());
        let what = notes.join("; ");
        Ok(if configured && !reconcile {
            Holds::Drift(format!("VM {} ({}): {what}", vm.vmid, vm.name))
        } else {
            Holds::No(what)
        })
    }

    pub(super) async fn apply_config(&self, vm: &VmConfig, cx: &StepCx) -> StageResult<()> {
        let (changes, _) = self.config_diff(vm).await?;
        let r = self.find(&vm.node, vm.vmid).await?;
        let keys: Vec<&str> = changes.iter().map(|(k, _)| k.as_str()).collect();
        cx.log(format!(
            "PUT /nodes/{}/qemu/{}/config {}",
            vm.node,
            vm.vmid,
            keys.join(" ")
        ))
        .await;
        self.pve
            .set_vm_config(&vm.node, vm.vmid, &changes)
            .await
            .map_err(|e| StageError::from(e).context(&vm.name))?;
        let reboot_keys = [
            "cores",
            "memory",
            "ipconfig0",
            "nameserver",
            "searchdomain",
            "sshkeys",
            "ciuser",
            "cicustom",
        ];
        if r.is_some_and(|r| r.status == "running") && keys.iter().any(|k| reboot_keys.contains(k))
        {
            cx.log(format!("{} is running: the changed settings take effect at its next reboot (homelab does not reboot it)", vm.name))
                .await;
        }
        Ok(())
    }

    pub(super) async fn check_resize(&self, vm: &VmConfig, reconcile: bool) -> StageResult<Holds> {
        let r = self
            .find(&vm.node, vm.vmid)
            .await?
            .ok_or_else(|| StageError::new(format!("VM {} does not exist", vm.vmid)))?;
        let have = self.disk_bytes(vm).await?;
        let want = vm.disk_bytes();
        let show = crate::stages::printer::bytes;
        Ok(if have >= want {
            if have > want {
                Holds::Yes(format!(
                    "scsi0 is {} (definition {}; disks are never shrunk)",
                    show(have),
                    show(want)
                ))
            } else {
                Holds::Yes(format!("scsi0 is {}", show(have)))
            }
        } else if r.has_tag(self.tag()) && !reconcile {
            Holds::Drift(format!(
                "VM {} ({}): scsi0 is {}, definition {}",
                vm.vmid,
                vm.name,
                show(have),
                show(want)
            ))
        } else {
            Holds::No(format!(
                "scsi0 is {}, growing to {}",
                show(have),
                show(want)
            ))
        })
    }

    /// Size of the VM's boot disk (`scsi0`), 0 when unknown.
    pub(super) async fn disk_bytes(&self, vm: &VmConfig) -> StageResult<u64> {
        let cfg = self.pve.vm_config(&vm.node, vm.vmid).await?;
        Ok(cfg
            .get("scsi0")
            .and_then(|d| types::disk_size(d))
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_comparison_is_semantic() {
        assert!(differs("tags", "homelab;k3s-server", Some("k3s-server;homelab")).is_none());
        assert!(differs("nameserver", "1.1.1.1 8.8.8.8", Some("1.1.1.1  8.8.8.8")).is_none());
        let d = differs("cores", "4", Some("2")).unwrap();
        assert_eq!(d, "cores: 2 (definition: 4)");
        let keys = vec!["ssh-ed25519 AAAA me@x".to_string()];
        assert!(
            differs(
                "sshkeys",
                &types::encode_sshkeys(&keys),
                Some("ssh-ed25519%20AAAA%20me%40x")
            )
            .is_none()
        );
    }
}
