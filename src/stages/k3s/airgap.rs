//! Air-gap installs: the k3s binary, the images tarball and the install script are uploaded to
//! a private staging directory on the node and checked there before root installs them.
//!
//! - The directory comes from `mktemp -d` (mode 0700, a fresh unpredictable name, owned by the
//!   login user), never a fixed world-writable path another local user could prepare.
//! - The expected SHA-256 of the binary and the images comes from the release's checksum file
//!   (`sha256sum-<arch>.txt`, `k3s.install.airgap_checksums`), read on the operator's machine;
//!   root copies each file out of the staging directory first and checks the copy, so nothing
//!   can change between the check and the install.
//! - The install script removes the directory on exit (`trap`), success or not; an upload that
//!   fails removes it too.

use crate::backends::ssh::RemoteCommand;
use crate::config::ClusterConfig;
use crate::shell_quote::quote;
use std::collections::BTreeMap;
use std::path::Path;

/// `mktemp -d` template; also what the plan shows before a directory exists.
pub const STAGING_TEMPLATE: &str = "/tmp/homelab-k3s.XXXXXXXXXX";
/// A checksum file bigger than this is not a release's sha256sum file.
const MAX_CHECKSUM_FILE: u64 = 1024 * 1024;

/// A file the node checks: its name in the staging directory and its expected SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub name: String,
    pub sha256: String,
}

/// What the root install needs to know about the staged files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staging {
    /// The node's staging directory (from `mktemp -d`).
    pub dir: String,
    /// Name of the checksum file the hashes came from (shown in a mismatch).
    pub source: String,
    pub binary: Verified,
    pub images: Verified,
}

/// `sha256sum` output: `<64 hex>  <name>` (or ` *<name>`) per line -> name -> hash.
pub fn parse_checksums(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((hash, name)) = line.trim().split_once(char::is_whitespace) else {
            continue;
        };
        let name = name.trim_start().trim_start_matches('*');
        if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !name.is_empty() {
            out.insert(name.to_owned(), hash.to_ascii_lowercase());
        }
    }
    out
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The hashes the node must see, from the checksum file named in the cluster definition, for
/// a staging directory `dir`. Errors name the field and say what to do.
pub fn staging(cluster: &ClusterConfig, dir: &str) -> Result<Staging, String> {
    let i = &cluster.k3s.install;
    let need = |v: &Option<String>, what: &str| {
        v.clone()
            .ok_or_else(|| format!("k3s.install.{what} is not set; set it in the cluster config"))
    };
    let sums_path = need(&i.airgap_checksums, "airgap_checksums")?;
    let binary = need(&i.airgap_binary, "airgap_binary")?;
    let images = need(&i.airgap_images, "airgap_images")?;
    let sums_file = std::path::PathBuf::from(&sums_path);
    let meta = std::fs::metadata(&sums_file)
        .map_err(|e| format!("k3s.install.airgap_checksums: {sums_path}: {e}"))?;
    if meta.len() > MAX_CHECKSUM_FILE {
        return Err(format!(
            "k3s.install.airgap_checksums: {sums_path} is {} bytes; expected the release's sha256sum-<arch>.txt",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(&sums_file)
        .map_err(|e| format!("k3s.install.airgap_checksums: {sums_path}: {e}"))?;
    let sums = parse_checksums(&text);
    let listed = |field: &str, path: &str| -> Result<Verified, String> {
        let name = file_name(path);
        match sums.get(&name) {
            Some(h) => Ok(Verified {
                name,
                sha256: h.clone(),
            }),
            None => Err(format!(
                "k3s.install.{field}: `{name}` is not listed in {sums_path}; expected the file under its release name (k3s, k3s-arm64, k3s-airgap-images-amd64.tar.zst...) and the checksum file of the same release"
            )),
        }
    };
    Ok(Staging {
        dir: dir.to_owned(),
        source: file_name(&sums_path),
        binary: listed("airgap_binary", &binary)?,
        images: listed("airgap_images", &images)?,
    })
}

/// Make the staging directory (login user, 0700) and print its path.
pub fn make_dir() -> RemoteCommand {
    RemoteCommand::probe(format!(
        "umask 077; d=$(mktemp -d {}) && mkdir \"$d/images\" && printf '%s\\n' \"$d\"",
        quote(STAGING_TEMPLATE)
    ))
}

/// The directory `make_dir` printed, if it looks like one of ours.
pub fn parse_dir(stdout: &str) -> Result<String, String> {
    let dir = stdout.trim();
    let prefix = STAGING_TEMPLATE.trim_end_matches('X');
    if dir.starts_with(prefix)
        && dir.len() > prefix.len()
        && !crate::shell_quote::needs_quoting(dir)
        && !dir.contains("..")
    {
        Ok(dir.to_owned())
    } else {
        Err(format!(
            "mktemp -d answered `{}`; expected a directory {prefix}...",
            dir.escape_debug()
        ))
    }
}

/// Remove a staging directory (after a failed upload).
pub fn remove_dir(dir: &str) -> RemoteCommand {
    RemoteCommand::probe(format!("rm -rf -- {}", quote(dir)))
}

/// The root part of the install that takes the staged files: checks the directory, installs
/// copies of the binary and images, checks the copies against the release checksums, and
/// leaves `$tmp` set to the staging directory, which is removed when the script exits.
pub fn install_fragment(s: &Staging, images_dir: &str) -> String {
    let bin_new = "/usr/local/bin/.k3s.homelab-new";
    format!(
        "tmp={dir}\n\
         trap 'rm -rf -- \"$tmp\"' EXIT\n\
         if [ ! -d \"$tmp\" ] || [ -L \"$tmp\" ] || [ \"$(stat -c %a \"$tmp\")\" != 700 ]; then echo \"staging directory $tmp is missing or not private (0700); upload again\" >&2; exit 3; fi\n\
         verify() {{ actual=$(sha256sum \"$1\" | cut -d' ' -f1); if [ \"$actual\" != \"$2\" ]; then rm -f -- \"$1\"; printf '%s: checksum mismatch: expected %s (from %s), got %s\\n' \"$3\" \"$2\" {source} \"$actual\" >&2; exit 3; fi; }}\n\
         mkdir -p /usr/local/bin {images_dir}\n\
         install -m 0755 \"$tmp/k3s\" {bin_new}\n\
         verify {bin_new} {bin_sha} {bin_name}\n\
         install -m 0644 \"$tmp/images/\"{img_name} {images_dir}/{img_name}\n\
         verify {images_dir}/{img_name} {img_sha} {img_name}\n\
         mv -f {bin_new} /usr/local/bin/k3s\n",
        dir = quote(&s.dir),
        source = quote(&s.source),
        images_dir = quote(images_dir),
        bin_sha = quote(&s.binary.sha256),
        bin_name = quote(&s.binary.name),
        img_name = quote(&s.images.name),
        img_sha = quote(&s.images.sha256),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_files_and_mktemp_answers() {
        let sums = parse_checksums(&format!(
            "{a}  k3s\n{b} *k3s-airgap-images-amd64.tar.zst\nnot a line\n{short}  x\n",
            a = "a".repeat(64),
            b = "B".repeat(64),
            short = "c".repeat(10)
        ));
        assert_eq!(sums.len(), 2);
        assert_eq!(sums["k3s"], "a".repeat(64));
        assert_eq!(sums["k3s-airgap-images-amd64.tar.zst"], "b".repeat(64));
        assert_eq!(
            parse_dir("/tmp/homelab-k3s.Ab12Cd34Ef\n").unwrap(),
            "/tmp/homelab-k3s.Ab12Cd34Ef"
        );
        for bad in [
            "",
            "/tmp/homelab-k3s",
            "/tmp/evil",
            "/tmp/homelab-k3s.x;rm -rf /",
        ] {
            assert!(parse_dir(bad).is_err(), "{bad}");
        }
    }
}
