//! The cloud image digest from the release's SHA256SUMS: fetched over HTTPS from a server on
//! 127.0.0.1 with its own throwaway CA, its detached signature checked by the real `gpgv`
//! against a keyring made here with the real `gpg`; the proxmox stage passes the digest it
//! resolved to PVE's download-url and its plan says where the digest came from.

use crate::support::*;
use crate::ui::require_peer;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use homelab::backends::image_digest::{self, Origin};
use homelab::config::{ChecksumFile, CloudImage};
use homelab::sim::server::SimServer;
use homelab::stages::engine::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

const FILE: &str = "ubuntu-24.04-server-cloudimg-amd64.img";

type Files = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

/// A release folder `/noble/` served over HTTPS; files can be changed while it runs.
struct Release {
    server: SimServer,
    files: Files,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Release {
    async fn start() -> Self {
        async fn serve(
            State(files): State<Files>,
            UrlPath(name): UrlPath<String>,
        ) -> (StatusCode, Vec<u8>) {
            match files.lock().unwrap().get(&name) {
                Some(body) => (StatusCode::OK, body.clone()),
                None => (StatusCode::NOT_FOUND, b"404 page not found".to_vec()),
            }
        }
        let files: Files = Arc::default();
        let router = axum::Router::new()
            .route("/noble/{name}", axum::routing::get(serve))
            .with_state(files.clone());
        let tls = homelab::sim::kube::tls::generate().unwrap();
        let server = SimServer::start_tls(
            "127.0.0.1:0".parse().unwrap(),
            router,
            tokio_util::sync::CancellationToken::new(),
            tls.config,
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("release-ca.pem");
        std::fs::write(&ca, tls.ca_pem).unwrap();
        Release {
            server,
            files,
            ca,
            _dir: dir,
        }
    }
    fn put(&self, name: &str, body: &[u8]) {
        self.files
            .lock()
            .unwrap()
            .insert(name.into(), body.to_vec());
    }
    fn remove(&self, name: &str) {
        self.files.lock().unwrap().remove(name);
    }
    fn sums_url(&self) -> String {
        format!("{}/noble/SHA256SUMS", self.server.url())
    }
    /// A definition's image section naming this release's SHA256SUMS.
    fn image(&self, keyring: Option<&Path>, ca: bool) -> CloudImage {
        CloudImage {
            url: format!("https://cloud-images.example.test/noble/{FILE}"),
            file_name: FILE.into(),
            checksum: None,
            checksums: Some(ChecksumFile {
                url: self.sums_url(),
                keyring: keyring.map(|k| k.display().to_string()),
                ca_file: ca.then(|| self.ca.display().to_string()),
            }),
        }
    }
}

/// A throwaway OpenPGP signing key in its own GNUPGHOME; its agent is stopped on drop.
struct Signer {
    home: tempfile::TempDir,
}

impl Signer {
    fn new(uid: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        let s = Signer { home };
        s.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            "ed25519",
            "sign",
            "never",
        ]);
        s
    }
    fn gpg(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--quiet", "--pinentry-mode", "loopback"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
    /// The public key as a binary keyring file (what `gpgv --keyring` reads).
    fn keyring(&self, at: &Path) -> PathBuf {
        let path = at.join("release-keyring.gpg");
        std::fs::write(&path, self.gpg(&["--export"])).unwrap();
        path
    }
    fn sign(&self, data: &[u8]) -> Vec<u8> {
        let input = self.home.path().join("to-sign");
        std::fs::write(&input, data).unwrap();
        self.gpg(&["--output", "-", "--detach-sign", input.to_str().unwrap()])
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "all"])
            .status();
    }
}

fn sums(digest_for_file: &str) -> Vec<u8> {
    format!(
        "{} *ubuntu-24.04-server-cloudimg-arm64.img\n{digest_for_file} *{FILE}\n{} *{FILE}.manifest\n",
        "a".repeat(64),
        "b".repeat(64)
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_sums_give_the_digest_and_refuse_tampering() {
    if !require_peer("gpg") || !require_peer("gpgv") {
        return;
    }
    let release = Release::start().await;
    let signer = Signer::new("homelab release test <release@example.test>");
    let stranger = Signer::new("someone else <other@example.test>");
    let dir = tempfile::tempdir().unwrap();
    let keyring = signer.keyring(dir.path());
    let good = sums(IMAGE_SHA);
    release.put("SHA256SUMS", &good);
    release.put("SHA256SUMS.gpg", &signer.sign(&good));
    let url = release.sums_url();

    // Good: the line for the file, the signature verified with the keyring.
    let got = image_digest::resolve(&release.image(Some(&keyring), true))
        .await
        .unwrap();
    assert_eq!(got.digest.hex, IMAGE_SHA);
    assert_eq!(got.digest.algorithm, "sha256");
    assert_eq!(
        got.origin,
        Origin::Fetched {
            url: url.clone(),
            file: FILE.into(),
            keyring: Some(keyring.display().to_string()),
        }
    );
    assert!(
        got.describe().contains("verified with the keyring"),
        "{}",
        got.describe()
    );

    // Without the test CA the certificate is refused: the download really is verified HTTPS.
    let e = image_digest::resolve(&release.image(Some(&keyring), false))
        .await
        .unwrap_err();
    assert!(
        e.to_lowercase().contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );

    // Tampered: a line changed after signing.
    let tampered = sums(&"c".repeat(64));
    release.put("SHA256SUMS", &tampered);
    let e = image_digest::resolve(&release.image(Some(&keyring), true))
        .await
        .unwrap_err();
    assert!(
        e.starts_with(&format!(
            "{url}.gpg does not verify {url}: bad or unknown signature"
        )),
        "{e}"
    );

    // Signed, but by a key the keyring does not hold.
    release.put("SHA256SUMS.gpg", &stranger.sign(&tampered));
    let e = image_digest::resolve(&release.image(Some(&keyring), true))
        .await
        .unwrap_err();
    assert!(e.contains("bad or unknown signature"), "{e}");
    assert!(e.contains(&keyring.display().to_string()), "{e}");

    // Validly signed, but no line for the image's file.
    let other = b"0000000000000000000000000000000000000000000000000000000000000000 *other.img\n";
    release.put("SHA256SUMS", other);
    release.put("SHA256SUMS.gpg", &signer.sign(other));
    let e = image_digest::resolve(&release.image(Some(&keyring), true))
        .await
        .unwrap_err();
    assert!(
        e.starts_with(&format!("{url} has no line for {FILE}")),
        "{e}"
    );

    // No signature file next to it.
    release.remove("SHA256SUMS.gpg");
    let e = image_digest::resolve(&release.image(Some(&keyring), true))
        .await
        .unwrap_err();
    assert!(
        e.contains(&format!("{url}.gpg")) && e.contains("404"),
        "{e}"
    );

    // No keyring configured: the line is taken, and the origin says the signature was not checked.
    release.put("SHA256SUMS", &tampered);
    let got = image_digest::resolve(&release.image(None, true))
        .await
        .unwrap();
    assert_eq!(got.digest.hex, "c".repeat(64));
    assert!(
        got.describe().contains("the signature is not checked"),
        "{}",
        got.describe()
    );

    release.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_hands_pve_the_digest_it_resolved() {
    if !require_peer("gpg") || !require_peer("gpgv") {
        return;
    }
    let release = Release::start().await;
    let signer = Signer::new("homelab release test <release@example.test>");
    let dir = tempfile::tempdir().unwrap();
    let keyring = signer.keyring(dir.path());
    let port = free_port();
    let sim = sim(&["pve"], port).await;
    let with_release = |cfg: &mut homelab::config::ClusterConfig| {
        let mut image = release.image(Some(&keyring), true);
        image.url = IMAGE_URL.into();
        cfg.template.image = image;
    };
    let image_file = IMAGE_URL.rsplit('/').next().unwrap();
    let publish = |digest: &str| {
        let text = format!("{digest} *{image_file}\n").into_bytes();
        release.put("SHA256SUMS", &text);
        release.put("SHA256SUMS.gpg", &signer.sign(&text));
    };

    // A checksum file listing a different digest: the plan says where it came from, and PVE
    // refuses the download with that very digest.
    let wrong = "d".repeat(64);
    publish(&wrong);
    let mut cfg = cluster(&sim, &["pve"], port);
    with_release(&mut cfg);
    let stage = stage(&sim, cfg.clone());
    let plan = stage.plan().await.unwrap();
    let origin = format!(
        "image digest sha256:{wrong} from the line for {image_file} in {}",
        release.sums_url()
    );
    assert!(
        plan.notes.iter().any(|n| n.starts_with(&origin)),
        "{:?}",
        plan.notes
    );
    let image = plan.step("image/pve").unwrap();
    assert!(
        image
            .calls
            .iter()
            .any(|c| c.ends_with(&format!("checksum={wrong}"))),
        "{:?}",
        image.calls
    );
    let out = apply(&stage, &dir.path().join("j1"), RunOptions::default()).await;
    let err = out.result.unwrap_err();
    assert!(
        err.message.contains(&format!(
            "checksum mismatch: got '{IMAGE_SHA}' != expect '{wrong}'"
        )),
        "{}",
        err.message
    );

    // The published digest: preflight passes and the image lands.
    publish(IMAGE_SHA);
    let stage = crate::support::stage(&sim, cfg);
    let checks = stage.preflight().await;
    let check = checks.iter().find(|c| c.id == "checksum").unwrap();
    assert_eq!(check.status, CheckStatus::Pass, "{check:?}");
    assert!(
        check.detail.contains(IMAGE_SHA) && check.detail.contains("verified"),
        "{}",
        check.detail
    );
    let out = apply(&stage, &dir.path().join("j2"), RunOptions::default()).await;
    out.result.unwrap();

    release.server.stop().await;
}
