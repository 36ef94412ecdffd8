//! The app's Secret, encrypted with the project's SOPS code for the recipients of the
//! repository's `.sops.yaml` rule for its path: the plaintext never reaches the disk.

use super::render::PlainSecret;
use crate::secrets::document::{Format, Opened};
use crate::secrets::rules::SopsConfig;
use std::path::Path;

/// The encrypted file text of `plain`, to be written at `root/rel`.
pub fn seal(root: &Path, rel: &str, plain: &PlainSecret) -> Result<String, String> {
    let cfg_path = root.join(".sops.yaml");
    if !cfg_path.is_file() {
        return Err(format!(
            "{}: not found. The app's secrets are SOPS-encrypted for the recipients of its creation rule; the secrets stage writes it (homelab bootstrap --stage secrets), or create it with a rule for ^cluster/.*\\.sops\\.yaml$",
            cfg_path.display()
        ));
    }
    let cfg = SopsConfig::load(&cfg_path).map_err(|e| e.to_string())?;
    let path = root.join(rel);
    let rule = cfg.rule_for(&path).map_err(|e| e.to_string())?;
    let mut opened = Opened::new_plain(
        &path,
        Format::Yaml,
        &plain.text,
        rule.rule.clone(),
        rule.mac_only_encrypted,
        &rule.age,
    )
    .map_err(|e| e.to_string())?;
    opened.encrypt_to_text().map_err(|e| e.to_string())
}
