//! The cloud image's digest: a literal from the definition (air-gap), or the line for the image's
//! file in the release's `SHA256SUMS`, fetched over HTTPS and, where a keyring is configured,
//! checked against the detached signature `SHA256SUMS.gpg` with the system's `gpgv`.
//! The proxmox stage hands the result to PVE's `download-url` (docs/proxmox-stage.md).

use crate::backends::endpoint::{Auth, HttpEndpoint, Timeouts};
use crate::config::CloudImage;
use std::path::{Path, PathBuf};

/// A checksum file or signature is a few KiB; more is not one.
const SUMS_CAP: usize = 1 << 20;
/// Longest `gpgv` may take (it reads two small files and a keyring).
const GPGV_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A digest PVE can check: `algorithm` as `download-url` names it, `hex` lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub algorithm: String,
    pub hex: String,
}

/// Where a digest came from (shown in the plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `template.image.checksum`.
    Literal,
    /// The line for `file` in `url`; `keyring` verified `<url>.gpg` when given.
    Fetched {
        url: String,
        file: String,
        keyring: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub digest: Digest,
    pub origin: Origin,
}

impl Resolved {
    /// One line for the plan: the digest and where it came from.
    pub fn describe(&self) -> String {
        let d = &self.digest;
        match &self.origin {
            Origin::Literal => format!(
                "image digest {}:{} from template.image.checksum (literal, not fetched)",
                d.algorithm, d.hex
            ),
            Origin::Fetched { url, file, keyring } => format!(
                "image digest {}:{} from the line for {file} in {url} ({})",
                d.algorithm,
                d.hex,
                match keyring {
                    Some(k) => format!("signature {url}.gpg verified with the keyring {k}"),
                    None => "no keyring configured: the signature is not checked".into(),
                }
            ),
        }
    }
}

/// Parse `algo:hex` (`template.image.checksum`).
pub fn parse_literal(c: &str) -> Result<Digest, String> {
    let (algo, hex) = c
        .split_once(':')
        .ok_or_else(|| format!("template.image.checksum `{c}` must look like sha256:<hex>"))?;
    let len = match algo {
        "sha256" => 64,
        "sha512" => 128,
        "sha384" => 96,
        "sha224" => 56,
        "sha1" => 40,
        "md5" => 32,
        _ => {
            return Err(format!(
                "template.image.checksum: unknown algorithm `{algo}` (sha256, sha512, ...)"
            ));
        }
    };
    if hex.len() != len || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "template.image.checksum: a {algo} is {len} hex digits, got `{hex}`"
        ));
    }
    Ok(Digest {
        algorithm: algo.to_owned(),
        hex: hex.to_lowercase(),
    })
}

/// The digest on the line for `file` of a `sha256sum`-style file (`<hex> *<file>` or
/// `<hex>  <file>`); `None` when no line names it. The length of the hex says the algorithm.
pub fn line_for(text: &str, file: &str) -> Option<Digest> {
    text.lines().find_map(|line| {
        let (hex, name) = line.trim_end().split_once(char::is_whitespace)?;
        let name = name.trim_start();
        let name = name.strip_prefix('*').unwrap_or(name);
        if name != file || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let algorithm = match hex.len() {
            64 => "sha256",
            128 => "sha512",
            _ => return None,
        };
        Some(Digest {
            algorithm: algorithm.into(),
            hex: hex.to_lowercase(),
        })
    })
}

/// The file name the image URL downloads (its last path segment).
pub fn image_file_of(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

/// The digest `image` names: the literal, or the line for the image's file in its checksum file
/// (fetched now, the signature checked when a keyring is configured). Errors name the URL and
/// the file and say what to do.
pub async fn resolve(image: &CloudImage) -> Result<Resolved, String> {
    if let Some(c) = &image.checksum {
        return Ok(Resolved {
            digest: parse_literal(c)?,
            origin: Origin::Literal,
        });
    }
    let Some(src) = &image.checksums else {
        return Err("template.image names no digest: add checksums.url (the release's SHA256SUMS) or checksum: sha256:<hex>".into());
    };
    let file = image_file_of(&image.url);
    let ca = src
        .ca_file
        .as_deref()
        .map(crate::backends::ssh::public_keys::expand_home);
    let sums = fetch(&src.url, ca.as_deref()).await?;
    if let Some(keyring) = &src.keyring {
        let sig_url = format!("{}.gpg", src.url);
        let sig = fetch(&sig_url, ca.as_deref()).await?;
        let keyring_path = crate::backends::ssh::public_keys::expand_home(keyring);
        verify_signature(&sums, &sig, &keyring_path)
            .await
            .map_err(|e| format!("{sig_url} does not verify {}: {e}", src.url))?;
    }
    let text = String::from_utf8_lossy(&sums);
    let digest = line_for(&text, file).ok_or_else(|| {
        format!(
            "{} has no line for {file} (the last part of template.image.url); check that template.image.url and template.image.checksums.url name the same release",
            src.url
        )
    })?;
    Ok(Resolved {
        digest,
        origin: Origin::Fetched {
            url: src.url.clone(),
            file: file.to_owned(),
            keyring: src.keyring.clone(),
        },
    })
}

/// GET `url` (HTTPS; the platform's CAs plus `ca_file`), at most [`SUMS_CAP`] bytes.
pub async fn fetch(url: &str, ca_file: Option<&Path>) -> Result<Vec<u8>, String> {
    let (base, name) = url
        .rsplit_once('/')
        .filter(|(b, n)| b.contains("://") && !n.is_empty())
        .ok_or_else(|| {
            format!("`{url}` is not a file URL; expected https://host/.../SHA256SUMS")
        })?;
    let endpoint = HttpEndpoint::new("checksum file", base, Auth::None, Timeouts::default())
        .and_then(|e| e.with_ca_file(ca_file))
        .map_err(|e| format!("{url}: {e}"))?
        .with_body_cap(SUMS_CAP);
    endpoint
        .send_bytes(endpoint.request(reqwest::Method::GET, name))
        .await
        .map_err(|e| e.to_string())
}

/// Check the detached signature `sig` of `data` against `keyring` with the system's `gpgv`
/// (GnuPG's verify-only tool; Debian package `gpgv`). Only a good signature by a key in that
/// keyring passes.
pub async fn verify_signature(data: &[u8], sig: &[u8], keyring: &Path) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let keyring =
        std::path::absolute(keyring).map_err(|e| format!("keyring {}: {e}", keyring.display()))?;
    if !keyring.is_file() {
        return Err(format!(
            "the keyring {} is not a readable file; fix template.image.checksums.keyring (e.g. /usr/share/keyrings/ubuntu-cloudimage-keyring.gpg from the ubuntu-keyring package)",
            keyring.display()
        ));
    }
    let dir = ScratchDir::new()?;
    let sig_path = dir.0.join("SHA256SUMS.gpg");
    crate::atomic_write::write(&sig_path, sig, crate::atomic_write::Mode::Secret)
        .map_err(|e| format!("cannot write {}: {e}", sig_path.display()))?;
    let mut child = tokio::process::Command::new("gpgv")
        .arg("--status-fd")
        .arg("1")
        .arg("--keyring")
        .arg(&keyring)
        .arg(&sig_path)
        .arg("-")
        .env("GNUPGHOME", &dir.0)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!("cannot run gpgv ({e}); install it (Debian/Ubuntu: apt install gpgv)")
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // gpgv may stop reading early on a bad signature; its verdict is what counts.
        let _ = stdin.write_all(data).await;
    }
    let out = tokio::time::timeout(GPGV_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("gpgv did not finish within {}s", GPGV_TIMEOUT.as_secs()))?
        .map_err(|e| format!("gpgv failed: {e}"))?;
    let status = String::from_utf8_lossy(&out.stdout);
    let good = status.lines().any(|l| l.starts_with("[GNUPG:] GOODSIG "))
        && status.lines().any(|l| l.starts_with("[GNUPG:] VALIDSIG "));
    if out.status.success() && good {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let said = crate::domain::printable::sanitize(said.trim());
    Err(format!(
        "bad or unknown signature (gpgv: {}); the file may have been tampered with, or the keyring {} lacks the release key",
        if said.is_empty() {
            "no output".into()
        } else {
            said.replace('\n', "; ")
        },
        keyring.display()
    ))
}

/// A private folder (0700) under the temp dir, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Result<Self, String> {
        use std::os::unix::fs::DirBuilderExt;
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let base = std::env::temp_dir();
        for _ in 0..16 {
            let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = base.join(format!("homelab-gpgv-{}-{n}-{nanos}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot create a folder in {}: {e}", base.display())),
            }
        }
        Err(format!(
            "cannot create a fresh folder in {}",
            base.display()
        ))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn the_line_for_the_file_is_taken() {
        let text = format!(
            "{} *ubuntu-24.04-server-cloudimg-arm64.img\n{HEX} *ubuntu-24.04-server-cloudimg-amd64.img\n",
            "a".repeat(64)
        );
        let d = line_for(&text, "ubuntu-24.04-server-cloudimg-amd64.img").unwrap();
        assert_eq!((d.algorithm.as_str(), d.hex.as_str()), ("sha256", HEX));
        // text mode (two blanks) too
        let d = line_for(&format!("{HEX}  a.img"), "a.img").unwrap();
        assert_eq!(d.hex, HEX);
        assert_eq!(
            line_for(&text, "ubuntu-24.04-server-cloudimg-amd64.img.manifest"),
            None
        );
        assert_eq!(line_for("zz *a.img", "a.img"), None);
        assert_eq!(
            line_for(&format!("{} *a.img", "a".repeat(63)), "a.img"),
            None
        );
    }

    #[test]
    fn literals_and_file_names() {
        assert_eq!(
            parse_literal(&format!("sha256:{}", HEX.to_uppercase()))
                .unwrap()
                .hex,
            HEX
        );
        assert!(
            parse_literal("sha256:abc")
                .unwrap_err()
                .contains("64 hex digits")
        );
        assert!(
            parse_literal("crc:00")
                .unwrap_err()
                .contains("unknown algorithm")
        );
        assert_eq!(image_file_of("https://h/r/x/a.img?x=1"), "a.img");
    }
}
