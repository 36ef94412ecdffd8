//! `.sops.yaml` creation rules (docs/reference/sops.md §10): found from the working directory
//! upwards, rules tried in order, the first whose `path_regex` matches the file's path relative
//! to the config's folder wins.

use std::path::{Path, PathBuf};

use regex::Regex;

use super::error::SopsError;
use super::metadata::CryptRule;
use super::tree::{Entry, Node, Scalar};

/// One creation rule.
#[derive(Debug, Clone, PartialEq)]
pub struct CreationRule {
    pub path_regex: Option<String>,
    pub age: Vec<String>,
    pub rule: CryptRule,
    pub mac_only_encrypted: bool,
}

/// A loaded `.sops.yaml`.
#[derive(Debug, Clone)]
pub struct SopsConfig {
    pub path: PathBuf,
    pub rules: Vec<CreationRule>,
}

/// Look for `.sops.yaml` in `start` and its parents (at most 100 levels, as sops does).
pub fn find_config(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start.to_path_buf());
    for _ in 0..100 {
        let d = dir?;
        let candidate = d.join(".sops.yaml");
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    None
}

impl SopsConfig {
    pub fn load(path: &Path) -> Result<SopsConfig, SopsError> {
        let text = std::fs::read_to_string(path).map_err(|e| SopsError::io(path, e))?;
        SopsConfig::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<SopsConfig, SopsError> {
        let cfg_err = |message: String| SopsError::Config {
            path: path.to_path_buf(),
            message,
        };
        let mut docs = super::yaml::parse(text, path)?;
        let doc = if docs.is_empty() {
            Vec::new()
        } else {
            docs.remove(0)
        };
        let Some(Node::List(items)) = super::tree::find(&doc, "creation_rules") else {
            return Err(cfg_err("no `creation_rules:` list".into()));
        };
        let mut rules = Vec::new();
        for (i, item) in items
            .iter()
            .filter(|n| !matches!(n, Node::Comment(_)))
            .enumerate()
        {
            let Node::Map(fields) = item else {
                return Err(cfg_err(format!("creation rule {} is not a mapping", i + 1)));
            };
            rules.push(
                parse_rule(fields).map_err(|m| cfg_err(format!("creation rule {}: {m}", i + 1)))?,
            );
        }
        Ok(SopsConfig {
            path: path.to_path_buf(),
            rules,
        })
    }

    /// The first rule matching `file` (absolute or relative to the working directory).
    pub fn rule_for(&self, file: &Path) -> Result<&CreationRule, SopsError> {
        let abs = absolute(file);
        let base = self.path.parent().map(absolute).unwrap_or_default();
        let abs_text = abs.to_string_lossy().into_owned();
        let prefix = format!("{}/", base.to_string_lossy());
        let relative = abs_text
            .strip_prefix(&prefix)
            .unwrap_or(&abs_text)
            .to_string();
        for rule in &self.rules {
            match &rule.path_regex {
                None => return Ok(rule),
                Some(re) => {
                    let regex = Regex::new(re).map_err(|e| SopsError::Config {
                        path: self.path.clone(),
                        message: format!(
                            "path_regex `{re}` is not a valid regular expression: {e}"
                        ),
                    })?;
                    if regex.is_match(&relative) {
                        return Ok(rule);
                    }
                }
            }
        }
        Err(SopsError::Config {
            path: self.path.clone(),
            message: format!(
                "error loading config: no matching creation rules found for {relative}"
            ),
        })
    }
}

/// Find `.sops.yaml` from the working directory, as sops does.
pub fn load_from_cwd() -> Result<SopsConfig, SopsError> {
    let cwd = std::env::current_dir().map_err(|e| SopsError::io(".", e))?;
    let path = find_config(&cwd).ok_or_else(|| SopsError::Config {
        path: cwd.join(".sops.yaml"),
        message: "no .sops.yaml found in this folder or its parents (sops looks from the working directory). Run homelab from the repository, or create .sops.yaml with creation_rules.".into(),
    })?;
    SopsConfig::load(&path)
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

fn scalar_text(node: &Node) -> Option<String> {
    match node {
        Node::Scalar(Scalar::Null) => None,
        Node::Scalar(s) => Some(s.display_text()),
        _ => None,
    }
}

fn parse_rule(fields: &[Entry]) -> Result<CreationRule, String> {
    let mut path_regex = None;
    let mut age = Vec::new();
    let mut rules = Vec::new();
    let mut mac_only_encrypted = false;
    for entry in fields {
        let Entry::Pair(key, value) = entry else {
            continue;
        };
        match key.as_str() {
            "path_regex" => path_regex = scalar_text(value),
            "age" => match value {
                Node::List(items) => {
                    age.extend(
                        items
                            .iter()
                            .filter_map(scalar_text)
                            .map(|s| s.trim().to_string()),
                    );
                }
                other => {
                    if let Some(text) = scalar_text(other) {
                        age.extend(
                            text.split(',')
                                .map(str::trim)
                                .filter(|s| !s.is_empty())
                                .map(str::to_string),
                        );
                    }
                }
            },
            "mac_only_encrypted" => {
                mac_only_encrypted = matches!(value, Node::Scalar(Scalar::Bool(true)))
            }
            "key_groups" | "shamir_threshold" => {
                return Err("key_groups / shamir_threshold are not supported by homelab; list recipients under `age:`".into());
            }
            field @ ("unencrypted_suffix"
            | "encrypted_suffix"
            | "unencrypted_regex"
            | "encrypted_regex"
            | "unencrypted_comment_regex"
            | "encrypted_comment_regex") => {
                if let Some(v) = scalar_text(value) {
                    rules.push((field, v));
                }
            }
            _ => {}
        }
    }
    let rule = CryptRule::choose(rules)?;
    Ok(CreationRule {
        path_regex,
        age,
        rule,
        mac_only_encrypted,
    })
}

/// The `.sops.yaml` homelab writes for a repository (wizard stage): env files are encrypted
/// whole; Kubernetes manifests only under `data`/`stringData`, so Flux can read the rest.
pub fn homelab_config(recipients: &[String]) -> String {
    let age = recipients.join(",");
    [
        "# Written by homelab (secrets stage). sops and homelab both read this file.".to_string(),
        "creation_rules:".to_string(),
        "  - path_regex: ^config/env/[^/]+\\.env$".to_string(),
        format!("    age: {age}"),
        "  - path_regex: ^cluster/.*\\.sops\\.yaml$".to_string(),
        "    encrypted_regex: ^(data|stringData)$".to_string(),
        format!("    age: {age}"),
        String::new(),
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_wins_and_age_lists_split() {
        let text = "creation_rules:\n  - path_regex: \\.env$\n    age: >-\n      age1aaa,\n      age1bbb\n  - path_regex: .*\n    encrypted_regex: ^(data|stringData)$\n    age:\n      - age1ccc\n";
        let cfg = SopsConfig::parse(text, Path::new("/repo/.sops.yaml")).unwrap();
        let r = cfg.rule_for(Path::new("/repo/config/env/a.env")).unwrap();
        assert_eq!(r.age, vec!["age1aaa", "age1bbb"]);
        assert_eq!(r.rule, CryptRule::default());
        let r = cfg
            .rule_for(Path::new("/repo/cluster/x.sops.yaml"))
            .unwrap();
        assert_eq!(r.age, vec!["age1ccc"]);
        assert_eq!(
            r.rule,
            CryptRule::EncryptedRegex("^(data|stringData)$".into())
        );
    }

    #[test]
    fn no_match_is_an_error() {
        let cfg = SopsConfig::parse(
            "creation_rules:\n  - path_regex: \\.env$\n    age: age1x\n",
            Path::new("/r/.sops.yaml"),
        )
        .unwrap();
        let e = cfg
            .rule_for(Path::new("/r/a.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no matching creation rules"), "{e}");
    }

    #[test]
    fn homelab_config_parses_back() {
        let text = homelab_config(&["age1x".to_string()]);
        let cfg = SopsConfig::parse(&text, Path::new("/r/.sops.yaml")).unwrap();
        assert_eq!(cfg.rules.len(), 2);
        assert!(
            cfg.rule_for(Path::new("/r/config/env/prox-n100.env"))
                .is_ok()
        );
        let k8s = cfg
            .rule_for(Path::new("/r/cluster/kubernetes/apps/x/secret.sops.yaml"))
            .unwrap();
        assert_eq!(
            k8s.rule,
            CryptRule::EncryptedRegex("^(data|stringData)$".into())
        );
    }
}
