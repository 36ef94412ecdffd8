//! What Longhorn and the NFS provisioner need on every node, as the exact shell the storage
//! stage runs over SSH: a read-only check that prints one `key=value` fact per line, the apply
//! script, and the reading of the facts. Pure functions, so the plan shows what apply runs and
//! tests assert it.
//!
//! Needed (Longhorn's `environment_check.sh` and its node conditions, WIRE-2 K.6):
//! packages `open-iscsi` and `nfs-common`; `iscsid` enabled and active; kernel modules
//! `iscsi_tcp` and `dm_crypt` loaded now and at boot (`/etc/modules-load.d/`); multipathd kept
//! off Longhorn's disks with the blacklist of Longhorn's knowledge base
//! (`blacklist { devnode "^sd[a-z0-9]+" }` in `/etc/multipath.conf`).

use crate::backends::ssh::RemoteCommand;

pub const PACKAGES: [&str; 2] = ["open-iscsi", "nfs-common"];
pub const MODULES: [&str; 2] = ["iscsi_tcp", "dm_crypt"];
pub const MODULES_FILE: &str = "/etc/modules-load.d/homelab-longhorn.conf";
pub const MULTIPATH_CONF: &str = "/etc/multipath.conf";
/// The line of Longhorn's knowledge base that keeps multipathd off its `/dev/sd*` disks.
pub const BLACKLIST_LINE: &str = "devnode \"^sd[a-z0-9]+\"";
/// Exit status of the apply script when multipath.conf has a blacklist section of its own.
pub const EXIT_MULTIPATH_SECTION: u32 = 3;

/// The read-only check: one `key=value` line per fact.
pub fn check() -> RemoteCommand {
    RemoteCommand::probe(format!(
        "for p in {packages}; do\n\
         \x20 if dpkg-query -W -f='${{Status}}' \"$p\" 2>/dev/null | grep -q 'install ok installed'; then echo \"package.$p=installed\"; else echo \"package.$p=missing\"; fi\n\
         done\n\
         echo \"iscsid.enabled=$(systemctl is-enabled iscsid 2>/dev/null || true)\"\n\
         echo \"iscsid.active=$(systemctl is-active iscsid 2>/dev/null || true)\"\n\
         for m in {modules}; do\n\
         \x20 if [ -d \"/sys/module/$m\" ]; then echo \"module.$m=loaded\"; else echo \"module.$m=missing\"; fi\n\
         \x20 if grep -qsx \"$m\" /etc/modules-load.d/*.conf; then echo \"persist.$m=yes\"; else echo \"persist.$m=no\"; fi\n\
         done\n\
         if grep -qsF {line} {conf}; then echo multipath=blacklisted; else echo multipath=missing; fi\n",
        packages = PACKAGES.join(" "),
        modules = MODULES.join(" "),
        line = crate::shell_quote::quote(BLACKLIST_LINE),
        conf = crate::shell_quote::quote(MULTIPATH_CONF),
    ))
}

/// The apply script (root): install what is missing, enable iscsid, load and persist the
/// modules, add the multipath blacklist (restarting multipathd only where it is installed).
/// A multipath.conf that already has a `blacklist` section without Longhorn's line is left
/// alone: the script exits [`EXIT_MULTIPATH_SECTION`] and the operator merges the line.
pub fn apply() -> RemoteCommand {
    let q = crate::shell_quote::quote;
    let mut modules_file = String::new();
    for m in MODULES {
        modules_file.push_str(m);
        modules_file.push('\n');
    }
    RemoteCommand::root(format!(
        "set -eu\n\
         export DEBIAN_FRONTEND=noninteractive\n\
         missing=''\n\
         for p in {packages}; do\n\
         \x20 dpkg-query -W -f='${{Status}}' \"$p\" 2>/dev/null | grep -q 'install ok installed' || missing=\"$missing $p\"\n\
         done\n\
         if [ -n \"$missing\" ]; then apt-get update -q && apt-get install -y -q $missing; fi\n\
         systemctl enable --now iscsid\n\
         for m in {modules}; do modprobe \"$m\"; done\n\
         cat > {file}.tmp <<'HOMELAB_EOF'\n{modules_file}HOMELAB_EOF\n\
         mv {file}.tmp {file}\n\
         if ! grep -qsF {line} {conf}; then\n\
         \x20 if grep -qs '^[[:space:]]*blacklist[[:space:]]*{{' {conf}; then\n\
         \x20   echo {conf_msg} >&2\n\
         \x20   exit {EXIT_MULTIPATH_SECTION}\n\
         \x20 fi\n\
         \x20 printf '\\nblacklist {{\\n    %s\\n}}\\n' {line} >> {conf}\n\
         \x20 if systemctl list-unit-files multipathd.service 2>/dev/null | grep -q multipathd; then systemctl restart multipathd; fi\n\
         fi\n",
        packages = PACKAGES.join(" "),
        modules = MODULES.join(" "),
        file = q(MODULES_FILE),
        line = q(BLACKLIST_LINE),
        conf = q(MULTIPATH_CONF),
        conf_msg = q(&format!(
            "{MULTIPATH_CONF} has a blacklist section without Longhorn's {BLACKLIST_LINE}"
        )),
    ))
    .idempotent()
}

/// What the check reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `key=value` pairs, as printed.
    pairs: Vec<(String, String)>,
}

/// Lines kept from the check's output (it prints eleven).
const FACT_LINES: usize = 64;

impl Facts {
    pub fn parse(stdout: &str) -> Facts {
        let pairs = stdout
            .lines()
            .take(FACT_LINES)
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Facts { pairs }
    }

    fn get(&self, key: &str) -> &str {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// What is missing, in words (empty: everything holds).
    pub fn missing(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in PACKAGES {
            if self.get(&format!("package.{p}")) != "installed" {
                out.push(format!("package {p}"));
            }
        }
        if self.get("iscsid.enabled") != "enabled" {
            out.push("iscsid enabled".into());
        }
        if self.get("iscsid.active") != "active" {
            out.push("iscsid active".into());
        }
        for m in MODULES {
            if self.get(&format!("module.{m}")) != "loaded" {
                out.push(format!("module {m} loaded"));
            }
            if self.get(&format!("persist.{m}")) != "yes" {
                out.push(format!("module {m} in /etc/modules-load.d"));
            }
        }
        if self.get("multipath") != "blacklisted" {
            out.push(format!("multipath blacklist in {MULTIPATH_CONF}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_name_what_is_missing_and_a_complete_node_has_nothing_missing() {
        let all = "package.open-iscsi=installed\npackage.nfs-common=installed\n\
                   iscsid.enabled=enabled\niscsid.active=active\nmodule.iscsi_tcp=loaded\n\
                   persist.iscsi_tcp=yes\nmodule.dm_crypt=loaded\npersist.dm_crypt=yes\n\
                   multipath=blacklisted\n";
        assert!(Facts::parse(all).missing().is_empty());
        let some = all
            .replace("package.nfs-common=installed", "package.nfs-common=missing")
            .replace("iscsid.enabled=enabled", "iscsid.enabled=disabled")
            .replace("multipath=blacklisted", "multipath=missing");
        assert_eq!(
            Facts::parse(&some).missing(),
            [
                "package nfs-common",
                "iscsid enabled",
                "multipath blacklist in /etc/multipath.conf"
            ]
        );
        // Nothing printed is nothing known: everything is missing.
        assert_eq!(Facts::parse("").missing().len(), 9);
    }

    #[test]
    fn the_scripts_quote_their_values_and_only_apply_is_root() {
        let c = check();
        assert!(!c.sudo);
        assert!(
            c.script
                .contains("grep -qsF 'devnode \"^sd[a-z0-9]+\"' /etc/multipath.conf")
        );
        let a = apply();
        assert!(a.sudo);
        assert!(a.script.contains("systemctl enable --now iscsid"));
        assert!(a.script.contains("iscsi_tcp\ndm_crypt\nHOMELAB_EOF"));
        assert!(a.script.contains("exit 3"));
    }

    /// The check is read-only: run it here, in this machine's /bin/sh, and every fact is
    /// printed (whatever this machine has installed).
    #[test]
    fn the_check_runs_in_a_real_shell_and_prints_every_fact() {
        let out = std::process::Command::new("sh")
            .args(["-c", &check().script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let facts = Facts::parse(&stdout);
        for key in [
            "package.open-iscsi",
            "package.nfs-common",
            "iscsid.enabled",
            "iscsid.active",
            "module.iscsi_tcp",
            "persist.iscsi_tcp",
            "module.dm_crypt",
            "persist.dm_crypt",
            "multipath",
        ] {
            assert!(
                facts.pairs.iter().any(|(k, _)| k == key),
                "{key} missing from:\n{stdout}"
            );
        }
        // The apply script is valid sh (parsed, not run).
        let syntax = std::process::Command::new("sh")
            .args(["-n", "-c", &apply().script])
            .output()
            .unwrap();
        assert!(syntax.status.success(), "{syntax:?}");
    }
}
