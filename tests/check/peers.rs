//! Outside cross-checks: kubectl (kustomize 5.5) builds every kustomization directory of the
//! tree; shellcheck passes the infrastructure scripts; the Synology script's DSM side is
//! idempotent when run against a scratch exports file.

use crate::fixture::repo_root;
use crate::support::{find_peer, require_peer};
use std::process::Command;

fn kustomization_dirs(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            kustomization_dirs(&entry.path(), out);
        } else if entry.file_name() == "kustomization.yaml" {
            out.push(dir.to_path_buf());
        }
    }
}

#[test]
fn kubectl_kustomize_builds_every_kustomization() {
    if !require_peer("kubectl") {
        return;
    }
    let kubectl = find_peer("kubectl").expect("kubectl on PATH");
    let mut dirs = Vec::new();
    kustomization_dirs(&repo_root().join("cluster"), &mut dirs);
    assert!(dirs.len() > 30, "found only {} kustomizations", dirs.len());
    let mut failures = Vec::new();
    for d in &dirs {
        let out = Command::new(&kubectl)
            .arg("kustomize")
            .arg(d)
            .output()
            .unwrap();
        if !out.status.success() {
            failures.push(format!(
                "{}: {}",
                d.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "kubectl kustomize failed:\n{}",
        failures.join("\n")
    );
    // The Flux entry point renders the Flux objects homelab check reasons about.
    let out = Command::new(&kubectl)
        .arg("kustomize")
        .arg(repo_root().join("cluster/kubernetes/flux"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.matches("kind: Kustomization").count() >= 20, "{text}");
    assert!(text.contains("name: sops-age"));
}

#[test]
fn shellcheck_passes_the_scripts() {
    if !require_peer("shellcheck") {
        return;
    }
    let shellcheck = find_peer("shellcheck").expect("shellcheck on PATH");
    let scripts = [
        "infrastructure/proxmox/cluster_bootstrap.sh",
        "infrastructure/synology/setup.sh",
    ];
    let out = Command::new(shellcheck)
        .args(scripts)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn scripts_answer_help() {
    for s in [
        "infrastructure/proxmox/cluster_bootstrap.sh",
        "infrastructure/synology/setup.sh",
    ] {
        let out = Command::new("bash")
            .arg(repo_root().join(s))
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{s}");
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with("Usage:"),
            "{s}"
        );
    }
}

/// The script that setup.sh runs on DSM, run here against a scratch /etc/exports: the first
/// run in dry-run mode changes nothing, the second writes the block, the third finds it in place.
#[test]
fn synology_exports_are_idempotent() {
    let script = Command::new("bash")
        .arg(repo_root().join("infrastructure/synology/setup.sh"))
        .arg("--print-script")
        .output()
        .unwrap();
    assert!(script.status.success());
    let tmp = tempfile::tempdir().unwrap();
    let exports = tmp.path().join("exports");
    std::fs::write(&exports, "/volume1/photos 10.0.0.0/8(ro)\n").unwrap();
    let run = |dry: &str| {
        let mut child = Command::new("sh")
            .arg("-s")
            .env("EXPORTS_FILE", &exports)
            .env("EXPORTFS", "true")
            .env("SKIP_DSM_CHECK", "1")
            .env("EXPORT_PATH", tmp.path().join("kubernetes"))
            .env("BACKUP_PATH", tmp.path().join("longhorn-backup"))
            .env("CLIENTS", "192.168.1.0/24")
            .env("DRY_RUN", dry)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&script.stdout)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = run("1");
    assert!(first.contains("dry run: nothing changed"), "{first}");
    assert_eq!(
        std::fs::read_to_string(&exports).unwrap(),
        "/volume1/photos 10.0.0.0/8(ro)\n"
    );
    assert!(!tmp.path().join("kubernetes").exists());
    let second = run("0");
    assert!(second.contains("done: exports reloaded"), "{second}");
    let written = std::fs::read_to_string(&exports).unwrap();
    assert!(
        written.starts_with("/volume1/photos 10.0.0.0/8(ro)\n# BEGIN homelab"),
        "{written}"
    );
    assert_eq!(
        written.matches("192.168.1.0/24(rw,").count(),
        2,
        "{written}"
    );
    let third = run("0");
    assert!(third.contains("already exports"), "{third}");
    assert_eq!(std::fs::read_to_string(&exports).unwrap(), written);
}
