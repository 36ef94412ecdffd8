//! Secrets (Stage 1 memo 6.5): git holds encrypted secrets only.
//!
//! A file counts as encrypted by its values, not by a marker: in a `*.sops.*` file, in a YAML
//! document with a `sops:` block and in an env file, every value the crypt rule covers (the
//! file's own rule and the matching `.sops.yaml` rule) must be `ENC[...]`, and the metadata must
//! name recipients and hold an encrypted MAC ([`crate::secrets::audit`]).

use super::{Rule, Violation};
use crate::repo::tree::{Tree, YamlFile};
use crate::secrets::audit::{Audit, audit};
use crate::secrets::metadata::CryptRule;
use crate::secrets::rules::SopsConfig;

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
    let config = SopsConfig::load(&tree.root.join(".sops.yaml")).ok();
    let required = |rel: &str| -> Option<CryptRule> {
        let c = config.as_ref()?;
        c.rule_for(&tree.root.join(rel))
            .ok()
            .map(|r| r.rule.clone())
    };
    for f in &tree.yaml {
        let claims_encrypted = f.rel.ends_with(".sops.yaml") || f.rel.ends_with(".sops.yml");
        let has_sops = f.values().any(|d| d.get(&["sops"]).is_some());
        for d in f.values() {
            if d.kind() == Some("Secret") && !has_sops {
                out.push(Violation::new(
                    &PLAINTEXT_SECRET,
                    &f.rel,
                    Some(d.line_at("kind")),
                    format!(
                        "Secret `{}` is plaintext (no sops metadata)",
                        d.name().unwrap_or("?")
                    ),
                ));
            } else if claims_encrypted && !has_sops {
                out.push(Violation::new(
                    &PLAINTEXT_SECRET,
                    &f.rel,
                    Some(d.start_line),
                    "file is named *.sops.yaml but this document has no sops metadata",
                ));
            }
        }
        if has_sops {
            yaml_values(f, required(&f.rel).as_ref(), out);
        }
    }
    for f in &tree.env_files {
        env_values(&f.rel, &f.text, required(&f.rel).as_ref(), out);
    }
}

/// The text of a split YAML file again (separators between documents; values are what count).
fn yaml_text(f: &YamlFile) -> String {
    f.docs
        .iter()
        .map(|d| d.lines.join("\n"))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

fn yaml_values(f: &YamlFile, required: Option<&CryptRule>, out: &mut Vec<Violation>) {
    let sops_line = f
        .values()
        .find(|d| d.get(&["sops"]).is_some())
        .map(|d| d.line_at("sops"));
    let report = match audit(&yaml_text(f), std::path::Path::new(&f.rel), required) {
        Ok(a) => a,
        Err(e) => {
            out.push(Violation::new(
                &PLAINTEXT_SECRET,
                &f.rel,
                sops_line,
                format!("cannot read it as a SOPS file: {e}"),
            ));
            return;
        }
    };
    let line_of = |path: &[String]| {
        let dotted = path.join(".");
        f.docs
            .iter()
            .find_map(|d| {
                crate::config::locate::locate(&d.lines.join("\n"), &dotted)
                    .map(|(l, _)| d.start_line + l as u32 - 1)
            })
            .or(sops_line)
    };
    push_findings(&PLAINTEXT_SECRET, &f.rel, &report, sops_line, line_of, out);
}

fn env_values(rel: &str, text: &str, required: Option<&CryptRule>, out: &mut Vec<Violation>) {
    let has_values = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if !has_values {
        return;
    }
    if !text.lines().any(|l| l.starts_with("sops_")) {
        out.push(Violation::new(
            &PLAINTEXT_ENV,
            rel,
            Some(1),
            "env file has values but no sops metadata: it is not SOPS-encrypted",
        ));
        return;
    }
    let report = match audit(text, std::path::Path::new(rel), required) {
        Ok(a) => a,
        Err(e) => {
            out.push(Violation::new(
                &PLAINTEXT_ENV,
                rel,
                Some(1),
                format!("cannot read it as a SOPS env file: {e}"),
            ));
            return;
        }
    };
    let line_of = |path: &[String]| {
        let key = path.first()?;
        text.lines()
            .position(|l| {
                l.strip_prefix(key.as_str())
                    .is_some_and(|r| r.starts_with('='))
            })
            .map(|i| i as u32 + 1)
    };
    let mac_line = text
        .lines()
        .position(|l| l.starts_with("sops_"))
        .map(|i| i as u32 + 1)
        .or(Some(1));
    push_findings(&PLAINTEXT_ENV, rel, &report, mac_line, line_of, out);
}

fn push_findings(
    rule: &Rule,
    rel: &str,
    report: &Audit,
    meta_line: Option<u32>,
    line_of: impl Fn(&[String]) -> Option<u32>,
    out: &mut Vec<Violation>,
) {
    if let Some(problem) = &report.metadata_problem {
        out.push(Violation::new(
            rule,
            rel,
            meta_line,
            format!("sops metadata does not describe an encrypted file: {problem}"),
        ));
    }
    for path in &report.plaintext {
        out.push(Violation::new(
            rule,
            rel,
            line_of(path),
            format!(
                "`{}` is plaintext; the rule ({}) says it must be ENC[...]",
                path.join("."),
                report.rules.join(", ")
            ),
        ));
    }
}
