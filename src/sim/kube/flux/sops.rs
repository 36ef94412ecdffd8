//! SOPS decryption in the simulated kustomize-controller, with the project's own SOPS code
//! (`secrets`): the age identities are the `*.agekey` entries of the Secret named in
//! `spec.decryption.secretRef` (kustomize-controller `internal/decryptor/decryptor.go`), and a
//! document that carries `sops` metadata is decrypted from its text as written. Errors are
//! worded as the controller and sops word them (`decryption failed for 'Secret.v1.[noGrp]/x':
//! failed to decrypt and format 'ns/x' Secret data: cannot get sops data key: Failed to get the
//! data key required to decrypt the SOPS file. ...`, sops `usererrors.go`).

use super::kustomize::Built;
use crate::secrets::document::{EncryptedFile, Format};
use crate::secrets::error::SopsError;
use crate::secrets::keys::{Identities, identities_from_text};
use base64::Engine as _;
use serde_json::Value;
use std::path::Path;

/// The identities in a decryption Secret (`None`: it has no `.agekey` entry).
pub(crate) fn identities(secret: &Value) -> Identities {
    let mut text = String::new();
    if let Some(data) = secret.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            if !k.ends_with(".agekey") {
                continue;
            }
            let Some(b) = v
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            else {
                continue;
            };
            text.push_str(&String::from_utf8_lossy(&b));
            text.push('\n');
        }
    }
    identities_from_text(&text, "sops-age Secret")
}

/// Decrypt one built document that carries SOPS metadata.
pub(crate) fn decrypt(b: &Built, ids: &Identities) -> Result<Value, String> {
    let obj = &b.object;
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let api = obj["apiVersion"].as_str().unwrap_or_default();
    let gvk = match api.split_once('/') {
        Some((g, v)) => format!("{kind}.{v}.{g}"),
        None => format!("{kind}.{api}.[noGrp]"),
    };
    let fail = |e: String| {
        format!(
            "decryption failed for '{gvk}/{name}': failed to decrypt and format '{ns}/{name}' {kind} data: {e}"
        )
    };
    let text = b.sops_text.as_deref().unwrap_or_default();
    let label = format!("{ns}/{name}");
    let file = EncryptedFile::parse(text, Path::new(&label), Format::Yaml)
        .map_err(|e| fail(format!("failed to load encrypted YAML data: {e}")))?;
    let opened = file.open(ids).map_err(|e| fail(sops_error(e)))?;
    opened
        .require_mac()
        .map_err(|e| fail(format!("failed to verify sops data integrity: {e}")))?;
    let plain = opened
        .plaintext()
        .map_err(|e| fail(format!("error decrypting sops tree: {e}")))?;
    let y: serde_yaml::Value = serde_yaml::from_str(&plain).map_err(|e| fail(e.to_string()))?;
    let mut out = serde_json::to_value(y).map_err(|e| fail(e.to_string()))?;
    if let Some(o) = out.as_object_mut() {
        o.remove("sops");
    }
    Ok(out)
}

/// sops' text for a data key nobody can unwrap; other errors as the project words them.
fn sops_error(e: SopsError) -> String {
    match e {
        SopsError::NoMatchingIdentity { recipients, .. } => {
            let keys: Vec<String> = recipients
                .iter()
                .map(|r| {
                    let why = wrap(
                        "failed to create reader for decrypting sops data key with age: no identity matched any of the recipients",
                        60,
                    );
                    let mut lines = why.lines();
                    let mut s = format!("  {r}: FAILED\n    - | {}", lines.next().unwrap_or_default());
                    for l in lines {
                        s.push_str(&format!("\n      | {l}"));
                    }
                    s
                })
                .collect();
            let trailer = wrap(
                "Recovery failed because no master key was able to decrypt the file. In order for SOPS to recover the file, at least one key has to be successful, but none were.",
                75,
            );
            format!(
                "cannot get sops data key: Failed to get the data key required to decrypt the SOPS file.\n\nGroup 0: FAILED\n{}\n\n{trailer}",
                keys.join("\n  \n")
            )
        }
        other => other.to_string(),
    }
}

/// go-wordwrap's `WrapString`: break at spaces so lines stay within `limit` when possible.
fn wrap(text: &str, limit: usize) -> String {
    let mut out = String::new();
    let mut line = 0usize;
    for word in text.split(' ') {
        if line > 0 && line + 1 + word.len() > limit {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_as_go_wordwrap() {
        assert_eq!(
            wrap(
                "failed to create reader for decrypting sops data key with age: no identity matched any of the recipients",
                60
            ),
            "failed to create reader for decrypting sops data key with\nage: no identity matched any of the recipients"
        );
    }
}
