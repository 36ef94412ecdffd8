//! The Flux install manifest: the release's `install.yaml`, pinned by `flux.version` and
//! `flux.install_sha256` of the cluster definition. Taken from `--flux-manifest FILE`
//! (air-gap) or downloaded from the release
//! (`https://github.com/fluxcd/flux2/releases/download/<version>/install.yaml`, WIRE-2 H.1);
//! either way the bytes must hash to the pinned SHA-256 before anything is written.

use crate::stages::engine::{StageError, StageResult};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;

/// The largest install manifest accepted (the v2 releases' install.yaml is under 1 MiB).
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

/// Where the manifest comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--flux-manifest FILE`.
    File(PathBuf),
    /// The release asset of `flux.version`.
    Release,
}

/// The release asset's URL for `version` (`v2.7.3`).
pub fn release_url(version: &str) -> String {
    format!("https://github.com/fluxcd/flux2/releases/download/{version}/install.yaml")
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Source {
    /// Where it is read from, for plans and errors.
    pub fn describe(&self, version: &str) -> String {
        match self {
            Source::File(p) => format!("--flux-manifest {}", p.display()),
            Source::Release => release_url(version),
        }
    }

    /// The manifest's bytes, checked against `pin` (64 hex digits; `None`: refused, the pin is
    /// required).
    pub async fn fetch(&self, version: &str, pin: Option<&str>) -> StageResult<Vec<u8>> {
        let Some(pin) = pin else {
            return Err(unpinned(version));
        };
        let bytes = match self {
            Source::File(p) => read_file(p.clone()).await?,
            Source::Release => download(&release_url(version)).await?,
        };
        verify(&bytes, pin, &self.describe(version), version)?;
        Ok(bytes)
    }
}

/// The error for a definition without `flux.install_sha256`.
pub fn unpinned(version: &str) -> StageError {
    StageError::new(format!(
        "flux.install_sha256 is not set: the Flux install manifest of {version} is not pinned"
    ))
    .with_hint(format!(
        "add `install_sha256: <hex>` under `flux:` in the cluster definition, the install.yaml \
         line of {}",
        checksums_url(version)
    ))
}

fn checksums_url(version: &str) -> String {
    let bare = version.trim_start_matches('v');
    format!("https://github.com/fluxcd/flux2/releases/download/{version}/flux_{bare}_checksums.txt")
}

/// `bytes` hash to `pin` (case-insensitive hex).
pub fn verify(bytes: &[u8], pin: &str, origin: &str, version: &str) -> StageResult<()> {
    let got = sha256_hex(bytes);
    if got.eq_ignore_ascii_case(pin.trim()) {
        return Ok(());
    }
    Err(StageError::new(format!(
        "{origin}: SHA-256 {got} differs from flux.install_sha256 {}; refusing to install it",
        pin.trim()
    ))
    .with_hint(format!(
        "use the install.yaml of Flux {version} (its line in {}), or correct flux.install_sha256",
        checksums_url(version)
    )))
}

async fn read_file(path: PathBuf) -> StageResult<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(&path)
            .map_err(|e| StageError::new(format!("--flux-manifest {}: {e}", path.display())))?;
        if meta.len() > MAX_BYTES as u64 {
            return Err(StageError::new(format!(
                "--flux-manifest {}: larger than {} MiB; not a Flux install manifest",
                path.display(),
                MAX_BYTES >> 20
            )));
        }
        std::fs::read(&path)
            .map_err(|e| StageError::new(format!("--flux-manifest {}: {e}", path.display())))
    })
    .await
    .map_err(|e| StageError::new(format!("reading the Flux manifest: {e}")))?
}

async fn download(url: &str) -> StageResult<Vec<u8>> {
    let fail = |e: String| {
        StageError::new(format!("downloading {url}: {e}")).with_hint(
            "check the network, or download install.yaml elsewhere and pass --flux-manifest FILE",
        )
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    use crate::backends::body::{BodyError, read_capped};
    read_capped(resp, MAX_BYTES).await.map_err(|e| match e {
        BodyError::TooLarge { cap } => fail(BodyError::too_large_message(cap)),
        BodyError::Transport(e) => fail(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manifest_is_taken_only_when_it_hashes_to_the_pin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("install.yaml");
        std::fs::write(&file, "kind: Namespace\n").unwrap();
        let pin = sha256_hex(b"kind: Namespace\n");
        let src = Source::File(file.clone());
        assert_eq!(
            src.fetch("v2.7.3", Some(&pin.to_uppercase()))
                .await
                .unwrap(),
            b"kind: Namespace\n"
        );
        let e = src
            .fetch("v2.7.3", Some(&"0".repeat(64)))
            .await
            .unwrap_err();
        assert!(
            e.message.contains("differs from flux.install_sha256"),
            "{e:?}"
        );
        assert!(e.message.contains(&pin), "{e:?}");
        assert!(
            e.hint.unwrap().contains("flux_2.7.3_checksums.txt"),
            "the hint names the checksums file"
        );
        let e = src.fetch("v2.7.3", None).await.unwrap_err();
        assert!(
            e.message.contains("flux.install_sha256 is not set"),
            "{e:?}"
        );
        let e = Source::File(dir.path().join("nope"))
            .fetch("v2.7.3", Some(&pin))
            .await
            .unwrap_err();
        assert!(e.message.starts_with("--flux-manifest "), "{e:?}");
        assert_eq!(
            release_url("v2.7.3"),
            "https://github.com/fluxcd/flux2/releases/download/v2.7.3/install.yaml"
        );
    }
}
