//! `homelab bootstrap --stage secrets --yes` end to end: a new identity outside the repo, a
//! .sops.yaml, and an env file the real sops decrypts; a second run changes nothing.

use super::support::{Lab, ok};
use std::process::{Command, Stdio};

#[test]
fn secrets_stage_creates_files_sops_reads() {
    let Some(lab) = Lab::new() else { return };
    let repo = lab.path("repo");
    std::fs::create_dir_all(repo.join("config/clusters")).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/clusters/prox-n100.yaml"
        ),
        repo.join("config/clusters/prox-n100.yaml"),
    )
    .unwrap();
    let identity = lab.path("operator/keys.txt");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_homelab"))
            .args(["bootstrap", "--stage", "secrets", "--yes"])
            .current_dir(&repo)
            .stdin(Stdio::null())
            .env("SOPS_AGE_KEY_FILE", &identity)
            .env("HOMELAB_STATE_DIR", lab.path("state"))
            .env("XDG_CONFIG_HOME", lab.path("xdg"))
            .env("PROXMOX_TOKEN_SECRET", "fake-pve-token")
            .env("CLOUDFLARE_API_TOKEN", "fake-cf-token")
            .env("CLOUDFLARE_TUNNEL_TOKEN", "fake-tunnel-token")
            .env("TAILSCALE_AUTH_KEY", "tskey-auth-fake")
            .output()
            .unwrap()
    };
    let first = ok(run(), "bootstrap --stage secrets");
    assert!(
        !first.contains("fake-pve-token"),
        "values never printed: {first}"
    );
    assert!(
        first.contains("PROXMOX_TOKEN_SECRET = (set, masked)"),
        "{first}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&identity).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let env = repo.join("config/env/prox-n100.env");
    let plain = ok(
        lab.sops_cmd(&identity, &["decrypt", env.to_str().unwrap()])
            .current_dir(&repo)
            .output()
            .unwrap(),
        "sops decrypt of the stage's env file",
    );
    assert!(
        plain.contains("PROXMOX_TOKEN_SECRET=fake-pve-token\n"),
        "{plain}"
    );
    assert!(plain.contains("GRAFANA_ADMIN_USER=admin\n"));
    let k3s = plain.lines().find(|l| l.starts_with("K3S_TOKEN=")).unwrap();
    assert_eq!(k3s.len(), "K3S_TOKEN=".len() + 32, "generated token");

    // sops encrypts new files under the stage's .sops.yaml too.
    std::fs::write(repo.join("config/env/other.env"), "A=1\n").unwrap();
    ok(
        lab.sops_cmd(
            &identity,
            &["encrypt", "--in-place", "config/env/other.env"],
        )
        .current_dir(&repo)
        .output()
        .unwrap(),
        "sops encrypt with the stage's rules",
    );

    let before = std::fs::read_to_string(&env).unwrap();
    let second = ok(run(), "second run");
    assert_eq!(
        std::fs::read_to_string(&env).unwrap(),
        before,
        "second run writes nothing"
    );
    assert!(
        second.contains("held") || second.contains("already"),
        "{second}"
    );
}
