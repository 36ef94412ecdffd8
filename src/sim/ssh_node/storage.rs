//! What a simulated node does with the storage stage's scripts (`src/stages/storage/prereqs.rs`
//! and `nfs_probe.rs`), recognised by their shape like the k3s ones: the prerequisite check
//! (`echo "package.$p=installed"` lines) answered from the node's packages, services, modules
//! and files; the prerequisite install (`modprobe "$m"` with `systemctl enable --now iscsid`),
//! which installs, enables, loads and writes what the real script does; and the NFS probe
//! (`mount -t nfs`), answered from the exports the lab serves to its nodes
//! ([`NodeStorage::exports`]): not served is mount's timeout, read-only is the shell's
//! `Read-only file system`, writable reads the marker back.

use super::script::{Answer, NodeState, unquote};
use std::collections::{BTreeMap, BTreeSet};

/// A node's storage-related state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStorage {
    pub packages: BTreeSet<String>,
    /// `iscsid` and others: (enabled, active).
    pub services: BTreeMap<String, (bool, bool)>,
    pub modules: BTreeSet<String>,
    /// The NFS exports this node reaches (`server:/export`) and whether they are writable.
    pub exports: BTreeMap<String, bool>,
}

const MODULES_FILE: &str = "/etc/modules-load.d/homelab-longhorn.conf";
const MULTIPATH_CONF: &str = "/etc/multipath.conf";
const BLACKLIST_LINE: &str = "devnode \"^sd[a-z0-9]+\"";

/// The answer to a storage script, or `None` when `script` is not one.
pub(super) fn answer(state: &mut NodeState, script: &str) -> Option<Answer> {
    if script.contains("echo \"package.$p=installed\"") {
        return Some(Answer::quick(0, &facts(state)));
    }
    if script.contains("systemctl enable --now iscsid") && script.contains("modprobe \"$m\"") {
        return Some(apply(state, script));
    }
    if script.contains("mount -t nfs ") {
        return Some(nfs_probe(state, script));
    }
    None
}

fn facts(state: &NodeState) -> String {
    let st = &state.storage;
    let mut out = String::new();
    for p in ["open-iscsi", "nfs-common"] {
        let v = if st.packages.contains(p) {
            "installed"
        } else {
            "missing"
        };
        out.push_str(&format!("package.{p}={v}\n"));
    }
    let (enabled, active) = st.services.get("iscsid").copied().unwrap_or_default();
    out.push_str(&format!(
        "iscsid.enabled={}\niscsid.active={}\n",
        if enabled { "enabled" } else { "disabled" },
        if active { "active" } else { "inactive" }
    ));
    let persisted: BTreeSet<&str> = state
        .files
        .iter()
        .filter(|(f, _)| f.starts_with("/etc/modules-load.d/") && f.ends_with(".conf"))
        .flat_map(|(_, c)| c.lines())
        .collect();
    for m in ["iscsi_tcp", "dm_crypt"] {
        let loaded = if st.modules.contains(m) {
            "loaded"
        } else {
            "missing"
        };
        let kept = if persisted.contains(m) { "yes" } else { "no" };
        out.push_str(&format!("module.{m}={loaded}\npersist.{m}={kept}\n"));
    }
    let blacklisted = state
        .files
        .get(MULTIPATH_CONF)
        .is_some_and(|c| c.contains(BLACKLIST_LINE));
    out.push_str(if blacklisted {
        "multipath=blacklisted\n"
    } else {
        "multipath=missing\n"
    });
    out
}

fn apply(state: &mut NodeState, script: &str) -> Answer {
    let conf = state.files.get(MULTIPATH_CONF).cloned().unwrap_or_default();
    let has_section = conf
        .lines()
        .any(|l| l.trim_start().starts_with("blacklist") && l.contains('{'));
    if !conf.contains(BLACKLIST_LINE) && has_section {
        return Answer::error(
            format!("{MULTIPATH_CONF} has a blacklist section without Longhorn's {BLACKLIST_LINE}"),
            3,
        );
    }
    let st = &mut state.storage;
    let mut out = String::new();
    let missing: Vec<&str> = ["open-iscsi", "nfs-common"]
        .into_iter()
        .filter(|p| !st.packages.contains(*p))
        .collect();
    if !missing.is_empty() {
        out.push_str("Reading package lists...\n");
        for p in &missing {
            out.push_str(&format!("Setting up {p} (demo) ...\n"));
            st.packages.insert((*p).to_string());
        }
    }
    if !st.services.get("iscsid").is_some_and(|s| s.0) {
        out.push_str("Created symlink /etc/systemd/system/sysinit.target.wants/iscsid.service → /usr/lib/systemd/system/iscsid.service.\n");
    }
    st.services.insert("iscsid".into(), (true, true));
    for m in ["iscsi_tcp", "dm_crypt"] {
        st.modules.insert(m.into());
    }
    let listed: String = script
        .split_once("<<'HOMELAB_EOF'\n")
        .and_then(|(_, rest)| rest.split_once("HOMELAB_EOF\n"))
        .map(|(c, _)| c.to_string())
        .unwrap_or_default();
    state.files.insert(MODULES_FILE.into(), listed);
    if !conf.contains(BLACKLIST_LINE) {
        state.files.insert(
            MULTIPATH_CONF.into(),
            format!("{conf}\nblacklist {{\n    {BLACKLIST_LINE}\n}}\n"),
        );
    }
    Answer::quick(0, &out)
}

/// `name=value` of the script's assignment line `name=`.
fn assigned(script: &str, name: &str) -> Option<String> {
    script
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .map(unquote)
}

fn nfs_probe(state: &mut NodeState, script: &str) -> Answer {
    let (Some(target), Some(marker)) = (assigned(script, "target"), assigned(script, "marker"))
    else {
        return Answer::error("nfs probe: no target= or marker= line".into(), 2);
    };
    match state.storage.exports.get(&target) {
        None => Answer::quick(32, "nfs.mount=failed").with_stderr(&format!(
            "mount.nfs: Connection timed out for {target} on /tmp/homelab-nfs-probe.demo"
        )),
        Some(false) => Answer::quick(30, "nfs.mount=ok\nnfs.write=failed").with_stderr(&format!(
            "sh: 14: cannot create /tmp/homelab-nfs-probe.demo/.homelab-probe-{marker}: Read-only file system"
        )),
        Some(true) => Answer::quick(0, &format!("nfs.mount=ok\nnfs.read={marker}")),
    }
}
