//! The NFS export probe, as the exact shell a node runs (root): mount the export on a fresh
//! temporary directory, write a random marker file, read it back, remove it, unmount and
//! remove the directory; always, also when a step fails or the session is cut (a trap on
//! EXIT, HUP, INT and TERM), and a directory a killed run left behind is unmounted and removed
//! first. One `nfs.<fact>=<value>` line per stage, read by [`Outcome::parse`].

use crate::backends::ssh::{ExecOutcome, RemoteCommand};
use crate::shell_quote::quote;
use std::time::Duration;

/// Where the probe mounts: `mktemp -d` of this pattern.
pub const MOUNT_PREFIX: &str = "/tmp/homelab-nfs-probe.";
/// The mount options, as the nfs-subdir HelmRelease mounts the export.
pub const MOUNT_OPTIONS: &str = "nfsvers=4.1,soft,timeo=50,retrans=2";
/// Exit statuses: mount failed (`mount`'s own 32), write failed.
pub const EXIT_MOUNT: u32 = 32;
pub const EXIT_WRITE: u32 = 30;

/// `server:/export`, as `mount -t nfs` takes it.
pub fn target(server: &str, export: &str) -> String {
    format!("{server}:{export}")
}

/// The probe script for `target` writing `marker`.
pub fn script(target: &str, marker: &str) -> RemoteCommand {
    let mut cmd = RemoteCommand::root(format!(
        "set -u\n\
         target={target}\n\
         marker={marker}\n\
         for d in {prefix}*; do [ -d \"$d\" ] || continue; umount \"$d\" 2>/dev/null; rmdir \"$d\" 2>/dev/null; done\n\
         dir=$(mktemp -d {prefix}XXXXXX) || exit 1\n\
         cleanup() {{ umount \"$dir\" 2>/dev/null; rmdir \"$dir\" 2>/dev/null; }}\n\
         trap cleanup EXIT\n\
         trap 'exit 129' HUP INT TERM\n\
         if ! mount -t nfs -o {options} \"$target\" \"$dir\"; then echo nfs.mount=failed; exit {EXIT_MOUNT}; fi\n\
         echo nfs.mount=ok\n\
         f=\"$dir/.homelab-probe-$marker\"\n\
         if ! printf '%s' \"$marker\" > \"$f\"; then echo nfs.write=failed; exit {EXIT_WRITE}; fi\n\
         echo \"nfs.read=$(cat \"$f\")\"\n\
         rm -f \"$f\" || echo nfs.remove=failed\n",
        target = quote(target),
        marker = quote(marker),
        prefix = quote(MOUNT_PREFIX),
        options = quote(MOUNT_OPTIONS),
    ))
    .idempotent();
    cmd.timeout = Some(Duration::from_secs(120));
    cmd
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The marker was written and read back as `read` (compare it with what was written).
    ReadBack { read: String, removed: bool },
    /// The export could not be mounted; `why` is mount's stderr.
    NotMounted { why: String },
    /// Mounted, but the marker could not be written (a read-only export, root squashed
    /// without write rights); `why` is the shell's stderr.
    NotWritable { why: String },
    /// Anything else: the status and stderr.
    Failed { why: String },
}

/// Lines of stderr kept in a diagnosis.
const STDERR_LINES: usize = 6;

fn stderr_tail(out: &ExecOutcome) -> String {
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let from = lines.len().saturating_sub(STDERR_LINES);
    super::objects::clean(&lines[from..].join("; "))
}

impl Outcome {
    pub fn parse(out: &ExecOutcome) -> Outcome {
        let fact = |key: &str| {
            out.stdout
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(str::to_string)
        };
        if let Some(read) = fact("nfs.read=") {
            return Outcome::ReadBack {
                read: super::objects::clean(&read),
                removed: fact("nfs.remove=").is_none(),
            };
        }
        let why = stderr_tail(out);
        if fact("nfs.mount=").as_deref() == Some("failed") {
            Outcome::NotMounted { why }
        } else if fact("nfs.write=").as_deref() == Some("failed") {
            Outcome::NotWritable { why }
        } else {
            let status = out
                .exit_status
                .map_or_else(|| "no exit status".to_string(), |s| format!("status {s}"));
            Outcome::Failed {
                why: format!("{status}: {why}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(stdout: &str, stderr: &str, status: u32) -> ExecOutcome {
        ExecOutcome {
            stdout: stdout.into(),
            stderr: stderr.into(),
            exit_status: Some(status),
            exit_signal: None,
        }
    }

    #[test]
    fn each_end_of_the_probe_reads_as_its_outcome() {
        assert_eq!(
            Outcome::parse(&out("nfs.mount=ok\nnfs.read=m-1\n", "", 0)),
            Outcome::ReadBack {
                read: "m-1".into(),
                removed: true
            }
        );
        assert!(matches!(
            Outcome::parse(&out("nfs.mount=failed\n", "mount.nfs: access denied by server while mounting 127.0.0.1:/x\n", 32)),
            Outcome::NotMounted { why } if why.contains("access denied")
        ));
        assert!(matches!(
            Outcome::parse(&out("nfs.mount=ok\nnfs.write=failed\n", "sh: 1: cannot create /tmp/x/.homelab-probe-m: Read-only file system\n", 30)),
            Outcome::NotWritable { why } if why.contains("Read-only file system")
        ));
        assert!(matches!(
            Outcome::parse(&out("", "sudo: a password is required\n", 1)),
            Outcome::Failed { why } if why.starts_with("status 1")
        ));
    }

    #[test]
    fn the_script_quotes_the_export_and_marker_and_always_cleans_up() {
        let s = script(&target("nas", "/volume1/my share"), "m'1").script;
        assert!(s.contains("target='nas:/volume1/my share'"), "{s}");
        assert!(s.contains("marker='m'\\''1'"), "{s}");
        assert!(s.contains("trap cleanup EXIT"));
        assert!(s.contains("umount \"$d\""));
    }

    /// Run for real in this machine's /bin/sh against a loopback address nothing serves: the
    /// mount fails (this kernel has no NFS client, and nothing listens), the outcome says so,
    /// and the temporary directory is gone afterwards.
    #[test]
    fn a_failed_mount_is_reported_and_cleaned_up_in_a_real_shell() {
        let marker = format!("t{}", std::process::id());
        let cmd = script(&target("127.0.0.1", "/homelab-no-such-export"), &marker);
        let out = std::process::Command::new("sh")
            .args(["-c", &cmd.script])
            .output()
            .unwrap();
        let exec = ExecOutcome {
            exit_status: out.status.code().and_then(|c| u32::try_from(c).ok()),
            exit_signal: None,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert_eq!(exec.exit_status, Some(EXIT_MOUNT), "{exec:?}");
        assert!(
            matches!(Outcome::parse(&exec), Outcome::NotMounted { .. }),
            "{exec:?}"
        );
        let left: Vec<_> = std::fs::read_dir("/tmp")
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("homelab-nfs-probe.")
            })
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
