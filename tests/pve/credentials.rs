//! The PVE secret from the cluster's SOPS-encrypted env file (config/env/<cluster>.env), with
//! the process environment as an explicit override, against the PVE simulator. The env files are
//! encrypted at test time with our own SOPS writer (tests/sops proves it interoperates with sops).

use crate::support::*;
use homelab::backends::pve::{Auth, Hypervisor};
use homelab::config::env_file;
use homelab::secrets::Opened;
use homelab::secrets::document::Format;
use homelab::secrets::keys::{generate_identity, identities_from_text};
use homelab::secrets::metadata::CryptRule;
use homelab::stages::proxmox::{Connection, connect_with, credentials};
use std::path::Path;

/// Encrypt `plaintext` (dotenv) for `recipient` into `path`.
fn write_env(path: &Path, plaintext: &str, recipient: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut o = Opened::new_plain(
        path,
        Format::Dotenv,
        plaintext,
        CryptRule::UnencryptedSuffix("_unencrypted".into()),
        false,
        &[recipient.to_string()],
    )
    .unwrap();
    o.save().unwrap();
    let on_disk = std::fs::read_to_string(path).unwrap();
    assert!(on_disk.contains("ENC[AES256_GCM,"), "the file is encrypted");
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_secret_comes_from_the_encrypted_env_file_and_the_environment_overrides_it() {
    let sim = sim(&["pve"], free_port()).await;
    let cfg = cluster(&sim, &["pve"], free_port());
    let repo = tempfile::tempdir().unwrap();
    let file = env_file(repo.path(), &cfg.name);
    assert!(file.ends_with("config/env/simlab.env"));
    let (key, recipient) = generate_identity();
    write_env(
        &file,
        &format!(
            "DOMAIN=example.test\nPROXMOX_TOKEN_SECRET={}\n",
            sim.token_secret
        ),
        &recipient,
    );
    assert!(
        !std::fs::read_to_string(&file)
            .unwrap()
            .contains(&sim.token_secret)
    );
    let ids = || identities_from_text(&key, "test identity");
    let pin = sim.fingerprint.clone();

    // From the file: the simulator accepts the token.
    let auth = credentials(&cfg, Some(&file), &no_env, &ids).unwrap();
    match &auth {
        Auth::Token { id, secret } => {
            assert_eq!(id, &sim.token_id);
            assert_eq!(secret.as_str(), sim.token_secret);
        }
        other => panic!("expected a token, got {other:?}"),
    }
    let Connection::Ready(client) = connect_with(&cfg, auth, pin.as_deref()).unwrap() else {
        panic!("pinned connection expected");
    };
    let v = client
        .version()
        .await
        .expect("the simulator accepts the token from the file");
    assert!(
        v.version.starts_with('8') || v.version.starts_with('9'),
        "{v:?}"
    );

    // The process environment is an explicit override (here a wrong secret: 401).
    let identities_called = std::cell::Cell::new(false);
    let wrong = |k: &str| (k == "PROXMOX_TOKEN_SECRET").then(|| "not-the-secret".to_string());
    let auth = credentials(&cfg, Some(&file), &wrong, &|| {
        identities_called.set(true);
        ids()
    })
    .unwrap();
    assert!(!identities_called.get(), "the override needs no decryption");
    let Connection::Ready(client) = connect_with(&cfg, auth, pin.as_deref()).unwrap() else {
        panic!("pinned connection expected");
    };
    let e = client.version().await.expect_err("the override wins");
    assert!(e.to_string().contains("401"), "{e}");
}

#[tokio::test]
async fn missing_key_wrong_identity_and_missing_file_name_what_to_fix() {
    let sim = sim(&["pve"], free_port()).await;
    let cfg = cluster(&sim, &["pve"], free_port());
    let repo = tempfile::tempdir().unwrap();
    let file = env_file(repo.path(), &cfg.name);
    let (key, recipient) = generate_identity();
    let ids = || identities_from_text(&key, "test identity");

    // No file.
    let e = credentials(&cfg, Some(&file), &no_env, &ids).unwrap_err();
    assert!(
        e.contains(&file.display().to_string()) && e.contains("does not exist"),
        "{e}"
    );

    // The file lacks the key: the file and the key are named.
    write_env(&file, "DOMAIN=example.test\nK3S_TOKEN=abc\n", &recipient);
    let e = credentials(&cfg, Some(&file), &no_env, &ids).unwrap_err();
    assert!(e.starts_with(&file.display().to_string()), "{e}");
    assert!(
        e.contains("PROXMOX_TOKEN_SECRET") && e.contains(&sim.token_id),
        "{e}"
    );

    // A password instead of a token secret logs in as the token's user.
    write_env(&file, "PROXMOX_PASSWORD=pw\n", &recipient);
    match credentials(&cfg, Some(&file), &no_env, &ids).unwrap() {
        Auth::Password { user, password } => {
            assert_eq!(user, sim.token_id.split('!').next().unwrap());
            assert_eq!(password.as_str(), "pw");
        }
        other => panic!("expected a password, got {other:?}"),
    }

    // No identity of ours opens the file: its recipients are named.
    let (other_key, other_recipient) = generate_identity();
    let e = credentials(&cfg, Some(&file), &no_env, &|| {
        identities_from_text(&other_key, "other identity")
    })
    .unwrap_err();
    assert!(e.contains(&recipient), "names the file's recipient: {e}");
    assert!(
        e.contains(&other_recipient),
        "names the identity tried: {e}"
    );
    assert!(e.contains(&file.display().to_string()), "{e}");

    // Without a file to read, the environment is the only source.
    let e = credentials(&cfg, None, &no_env, &ids).unwrap_err();
    assert!(e.contains("PROXMOX_TOKEN_SECRET"), "{e}");
}
