//! Secrets (Stage 1 memo 6.5): git holds encrypted secrets only.

use super::{Rule, Violation};
use crate::repo::tree::Tree;

pub const PLAINTEXT_SECRET: Rule = Rule {
    id: "secrets/plaintext-secret",
    title: "No plaintext Secret manifests (a Secret without SOPS metadata)",
    hint: "encrypt it in place (`sops --encrypt --in-place FILE`, or `homelab env encrypt`) and name it *.sops.yaml; Flux decrypts with the sops-age key",
};
pub const PLAINTEXT_ENV: Rule = Rule {
    id: "secrets/plaintext-env",
    title: "The env files in config/env/ are SOPS-encrypted",
    hint: "encrypt with `homelab env encrypt config/env/<name>.env` (rules in .sops.yaml); never commit the plaintext",
};

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    for f in &tree.yaml {
        let claims_encrypted = f.rel.ends_with(".sops.yaml") || f.rel.ends_with(".sops.yml");
        for d in f.values() {
            let encrypted = d.get(&["sops", "mac"]).is_some()
                || d.get(&["sops"]).is_some_and(|s| s.is_mapping());
            if d.kind() == Some("Secret") && !encrypted {
                out.push(Violation::new(
                    &PLAINTEXT_SECRET,
                    &f.rel,
                    Some(d.line_at("kind")),
                    format!(
                        "Secret `{}` is plaintext (no sops metadata)",
                        d.name().unwrap_or("?")
                    ),
                ));
            } else if claims_encrypted && !encrypted {
                out.push(Violation::new(
                    &PLAINTEXT_SECRET,
                    &f.rel,
                    Some(d.start_line),
                    "file is named *.sops.yaml but this document has no sops metadata",
                ));
            }
        }
    }
    for f in &tree.env_files {
        let encrypted = f.text.lines().any(|l| l.starts_with("sops_mac="));
        if !encrypted
            && f.text
                .lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        {
            out.push(Violation::new(
                &PLAINTEXT_ENV,
                &f.rel,
                Some(1),
                "env file has values but no sops_mac: it is not SOPS-encrypted",
            ));
        }
    }
}
