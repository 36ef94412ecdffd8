//! The qemu-guest-agent vendor snippet on every node that hosts VMs (`snippet/<node>`).
//!
//! The PVE API cannot upload snippets, so the stage logs in to the node as root over SSH (the
//! k3s stage's SSH executor, with the same host-key prompts) and writes
//! `<snippets_dir>/homelab-vendor.yaml` through a temporary file in the same directory and a
//! `mv` (atomic on the node). Check and verify compare the file's SHA-256 with the content's:
//! a second run writes nothing, a changed file is written again, and verify names node and path
//! of a file that differs. The content is `infrastructure/proxmox/homelab-vendor.yaml`, compiled
//! in: one source for the stage and for operators who place it by hand
//! (`proxmox.vendor_snippet: manual`).

use super::{ProxmoxStage, VENDOR_SNIPPET};
use crate::backends::ssh::{RemoteCommand, RemoteShell};
use crate::shell_quote::quote;
use crate::stages::engine::{Check, Holds, Intent, StageError, StageResult, Step, StepCx};
use crate::stages::k3s::{failed_command, ssh_error};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The vendor snippet: cloud-init vendor-data that installs and enables qemu-guest-agent.
pub const VENDOR_SNIPPET_CONTENT: &str =
    include_str!("../../../infrastructure/proxmox/homelab-vendor.yaml");

/// Lowercase hex SHA-256 of the snippet content.
pub fn content_sha256() -> String {
    hex::encode(Sha256::digest(VENDOR_SNIPPET_CONTENT.as_bytes()))
}

/// The snippet's path on `node`.
pub fn snippet_path(dir: &str) -> String {
    format!("{}/{VENDOR_SNIPPET}", dir.trim_end_matches('/'))
}

/// Prints `<sha256>  <path>` when the file exists, `absent` when it does not.
pub fn probe_command(path: &str) -> RemoteCommand {
    let p = quote(path);
    RemoteCommand::probe(format!(
        "if [ -f {p} ]; then sha256sum -- {p}; else echo absent; fi"
    ))
    .sudo()
}

/// Writes the content through a temporary file in the same directory, then `mv` over the
/// snippet; prints the new file's hash.
pub fn write_command(dir: &str) -> RemoteCommand {
    let d = quote(dir.trim_end_matches('/'));
    let target = quote(&snippet_path(dir));
    let tmp_pattern = quote(&format!(
        "{}/.{VENDOR_SNIPPET}.XXXXXX",
        dir.trim_end_matches('/')
    ));
    RemoteCommand::root(format!(
        "set -e\nmkdir -p -- {d}\ntmp=$(mktemp {tmp_pattern})\ntrap 'rm -f -- \"$tmp\"' EXIT\nprintf '%s' {content} > \"$tmp\"\nchmod 0644 \"$tmp\"\nmv -f -- \"$tmp\" {target}\ntrap - EXIT\nsha256sum -- {target}",
        content = quote(VENDOR_SNIPPET_CONTENT),
    ))
    .idempotent()
}

/// The hash in `sha256sum` output, `None` for `absent` or anything else.
pub fn parse_hash(stdout: &str) -> Option<String> {
    let first = stdout.split_whitespace().next()?;
    (first.len() == 64 && first.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| first.to_ascii_lowercase())
}

/// What is on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnNode {
    Absent,
    Same,
    Differs(String),
}

impl ProxmoxStage {
    fn snippet_shell(&self, node: &str) -> StageResult<&Arc<dyn RemoteShell>> {
        self.snippet_shells.get(node).ok_or_else(|| {
            StageError::new(format!("{node}: no SSH connection for the vendor snippet"))
                .with_hint("set proxmox.vendor_snippet: manual to place it yourself")
        })
    }

    async fn snippet_on(&self, node: &str) -> StageResult<OnNode> {
        let shell = self.snippet_shell(node)?;
        let path = snippet_path(&self.cfg.proxmox.snippets_dir(node));
        let cmd = probe_command(&path);
        let out = shell
            .run(&cmd, &mut |_| {})
            .await
            .map_err(|e| ssh_error(node, e))?;
        if !out.success() {
            return Err(failed_command(node, &cmd, &out));
        }
        Ok(match parse_hash(&out.stdout) {
            None => OnNode::Absent,
            Some(h) if h == content_sha256() => OnNode::Same,
            Some(h) => OnNode::Differs(h),
        })
    }

    pub(super) async fn check_snippet(&self, node: &str) -> StageResult<Holds> {
        let path = snippet_path(&self.cfg.proxmox.snippets_dir(node));
        Ok(match self.snippet_on(node).await? {
            OnNode::Same => Holds::Yes(format!(
                "{node}:{path} has the expected content (sha256 {})",
                short(&content_sha256())
            )),
            OnNode::Absent => Holds::No(format!("{node}:{path} does not exist")),
            OnNode::Differs(h) => Holds::No(format!(
                "{node}:{path} differs (sha256 {}, expected {}); writing it again",
                short(&h),
                short(&content_sha256())
            )),
        })
    }

    pub(super) async fn write_snippet(&self, node: &str, cx: &StepCx) -> StageResult<()> {
        let shell = self.snippet_shell(node)?;
        let dir = self.cfg.proxmox.snippets_dir(node);
        let path = snippet_path(&dir);
        let cmd = write_command(&dir);
        cx.log(format!(
            "ssh {}: write {path} (temporary file + mv), {} bytes",
            self.cfg.proxmox.ssh_host(node),
            VENDOR_SNIPPET_CONTENT.len()
        ))
        .await;
        let out = shell
            .run(&cmd, &mut |_| {})
            .await
            .map_err(|e| ssh_error(node, e))?;
        if !out.success() {
            return Err(failed_command(node, &cmd, &out));
        }
        match self.snippet_on(node).await? {
            OnNode::Same => {
                cx.log(format!("{path}: sha256 {}", content_sha256())).await;
                Ok(())
            }
            other => Err(StageError::new(format!(
                "{node}:{path}: written, but reading it back gives {}",
                describe(&other)
            ))
            .with_hint("check the node's disk and that nothing else rewrites the file")),
        }
    }

    /// The plan's `snippet/<node>` step.
    pub(super) async fn snippet_step(&self, node: &str) -> StageResult<Step> {
        let dir = self.cfg.proxmox.snippets_dir(node);
        let path = snippet_path(&dir);
        let (intent, note) = match self.snippet_on(node).await? {
            OnNode::Same => (Intent::Verify, None),
            OnNode::Absent => (Intent::Create, None),
            OnNode::Differs(h) => (
                Intent::Change,
                Some(format!(
                    "{path} differs (sha256 {}, expected {})",
                    short(&h),
                    short(&content_sha256())
                )),
            ),
        };
        let mut step = Step::new(
            format!("snippet/{node}"),
            "snippet",
            intent,
            format!("Vendor snippet (qemu-guest-agent) on {node}"),
        )
        .call(format!(
            "ssh root@{} {}",
            self.cfg.proxmox.ssh_host(node),
            probe_command(&path).display()
        ))
        .call(format!(
            "ssh root@{}: write {path} through a temporary file + mv, then compare its sha256 ({})",
            self.cfg.proxmox.ssh_host(node),
            short(&content_sha256())
        ));
        step.note = note;
        Ok(step)
    }

    /// Preflight: the node answers SSH as root; what the step will do.
    pub(super) async fn snippet_preflight(&self, node: &str) -> Check {
        let id = format!("snippet/{node}");
        let title = format!("Vendor snippet on {node}");
        let path = snippet_path(&self.cfg.proxmox.snippets_dir(node));
        let storage = &self.cfg.proxmox.snippets_storage;
        if let Ok(all) = self.pve.storages(node).await
            && !all
                .iter()
                .any(|s| s.storage == *storage && s.content.contains("snippets"))
        {
            return Check::fail(
                id,
                title,
                format!(
                    "storage {storage} on {node} does not hold content `snippets`: PVE would not see {path}"
                ),
                format!(
                    "pvesm set {storage} --content <its current content>,snippets (docs/proxmox-stage.md)"
                ),
            );
        }
        match self.snippet_on(node).await {
            Ok(OnNode::Same) => Check::pass(id, title, format!("{path} is up to date")),
            Ok(other) => Check::pass(
                id,
                title,
                format!("{path}: {}; step snippet/{node} writes it over SSH", describe(&other)),
            ),
            Err(e) => Check::fail(
                id,
                title,
                e.to_string(),
                e.hint
                    .unwrap_or_else(|| "the stage writes the snippet as root over SSH: make `ssh root@<node>` work, or set proxmox.vendor_snippet: manual".into()),
            ),
        }
    }

    /// One verify check per node that hosts VMs.
    pub(super) async fn verify_snippets(&self) -> Vec<Check> {
        let mut out = Vec::new();
        for node in self.vm_nodes() {
            let id = format!("snippet/{node}");
            let title = format!("Vendor snippet on {node}");
            let path = snippet_path(&self.cfg.proxmox.snippets_dir(&node));
            out.push(match self.snippet_on(&node).await {
                Ok(OnNode::Same) => Check::pass(
                    id,
                    title,
                    format!("{path}: sha256 {}", short(&content_sha256())),
                ),
                Ok(other) => Check::fail(
                    id,
                    title,
                    format!("{node}:{path}: {}", describe(&other)),
                    "run the proxmox stage again: step snippet/<node> writes it",
                ),
                Err(e) => Check::fail(
                    id,
                    title,
                    e.to_string(),
                    e.hint
                        .unwrap_or_else(|| "check SSH to the node as root".into()),
                ),
            });
        }
        out
    }
}

fn describe(on: &OnNode) -> String {
    match on {
        OnNode::Same => "the expected content".into(),
        OnNode::Absent => "no such file".into(),
        OnNode::Differs(h) => format!("content differs: sha256 {h}, expected {}", content_sha256()),
    }
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_installs_and_enables_the_agent() {
        assert!(VENDOR_SNIPPET_CONTENT.starts_with("#cloud-config\n"));
        assert!(VENDOR_SNIPPET_CONTENT.contains("packages:\n  - qemu-guest-agent\n"));
        assert!(VENDOR_SNIPPET_CONTENT.contains("[systemctl, enable, --now, qemu-guest-agent]"));
    }

    #[test]
    fn commands_quote_every_path() {
        let w = write_command("/var/tmp/it's here/");
        assert!(
            w.script.contains("mkdir -p -- '/var/tmp/it'\\''s here'"),
            "{}",
            w.script
        );
        assert!(
            w.script
                .contains("mv -f -- \"$tmp\" '/var/tmp/it'\\''s here/homelab-vendor.yaml'")
        );
        let p = probe_command("/a b/homelab-vendor.yaml");
        assert!(p.script.contains("sha256sum -- '/a b/homelab-vendor.yaml'"));
    }

    #[test]
    fn hashes_are_parsed_from_sha256sum_output() {
        let h = content_sha256();
        assert_eq!(
            parse_hash(&format!("{h}  /x/homelab-vendor.yaml\n")),
            Some(h)
        );
        assert_eq!(parse_hash("absent\n"), None);
    }
}
