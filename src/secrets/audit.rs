//! Is a file that claims to be SOPS-encrypted really encrypted? Read without any key: every
//! value the crypt rule covers must be an `ENC[AES256_GCM,...]` string, and the metadata must be
//! complete (recipients and an encrypted MAC). A `sops:` block or a `sops_mac=` line alone is
//! only a marker and proves nothing.

use std::path::Path;

use super::cipher::is_encrypted;
use super::document::{Format, RawMeta, RuleMatcher, parse_text};
use super::error::SopsError;
use super::metadata::{CryptRule, Metadata};
use super::tree::{Leaf, LeafCx, Node, Scalar, walk_branch};

/// What [`audit`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Audit {
    /// Why the metadata does not describe an encrypted file (`None`: it does).
    pub metadata_problem: Option<String>,
    /// Key paths (mapping keys from the document root) of values that should be encrypted and
    /// are not, in document order.
    pub plaintext: Vec<Vec<String>>,
    /// The rule the values were held to (`field `value``, plus the `.sops.yaml` rule if any).
    pub rules: Vec<String>,
}

/// Audit `text` (the file at `path`, format from its name). A value must be encrypted when the
/// file's own rule says so, or when `required` (the matching `.sops.yaml` creation rule) does:
/// a file cannot exempt itself by writing a looser rule into its metadata.
pub fn audit(text: &str, path: &Path, required: Option<&CryptRule>) -> Result<Audit, SopsError> {
    let format = Format::from_path(path)?;
    let (mut branches, meta) = parse_text(text, path, format)?;
    let parsed = match meta {
        None => Err("no sops metadata".to_string()),
        Some(RawMeta::Flat(flat)) => Metadata::from_flat(&flat),
        Some(RawMeta::Tree(entries)) => Metadata::from_entries(&entries),
    };
    let metadata_problem = match &parsed {
        Err(e) => Some(e.clone()),
        Ok(m) => metadata_problem(m),
    };
    // The file's own rule (if its metadata reads) and the .sops.yaml one; sops' default when
    // there is neither.
    let mut rules: Vec<CryptRule> = parsed.ok().map(|m| m.rule).into_iter().collect();
    if let Some(r) = required.filter(|r| !rules.contains(r)) {
        rules.push(r.clone());
    }
    if rules.is_empty() {
        rules.push(CryptRule::default());
    }
    let matchers = rules
        .iter()
        .map(|r| RuleMatcher::new(r, path))
        .collect::<Result<Vec<_>, _>>()?;
    let mut plaintext = Vec::new();
    for branch in branches.iter_mut() {
        walk_branch::<()>(
            branch,
            &mut Vec::new(),
            &mut Vec::new(),
            &mut |leaf, cx: &LeafCx<'_>| {
                if let Leaf::Value(node) = leaf
                    && !matches!(node, Node::Comment(_))
                    && matchers.iter().any(|m| m.encrypted(cx, false))
                    // sops never encrypts an empty value: it stays `KEY=` / `key: ""`.
                    && !matches!(node, Node::Scalar(Scalar::Str(t)) if t.is_empty() || is_encrypted(t))
                {
                    plaintext.push(cx.path.to_vec());
                }
                Ok(())
            },
        )
        .ok();
    }
    Ok(Audit {
        metadata_problem,
        plaintext,
        rules: rules
            .iter()
            .map(|r| format!("{} `{}`", r.field(), r.value()))
            .collect(),
    })
}

/// A parsed metadata block that still cannot belong to an encrypted file.
fn metadata_problem(m: &Metadata) -> Option<String> {
    if m.age.is_empty() && m.other_keys.is_empty() {
        return Some("no recipients (no age, pgp or kms keys)".into());
    }
    if let Some(a) = m
        .age
        .iter()
        .find(|a| !a.enc.contains("BEGIN AGE ENCRYPTED FILE"))
    {
        return Some(format!(
            "the data key for {} is not an age-encrypted block",
            a.recipient
        ));
    }
    if !is_encrypted(&m.mac) {
        return Some("the MAC is not an ENC[...] value".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, name: &str) -> Audit {
        audit(text, Path::new(name), None).unwrap()
    }

    #[test]
    fn a_marker_line_is_not_encryption() {
        let a = run("TOKEN=hunter2\nsops_mac=x\n", "a.env");
        assert_eq!(a.plaintext, vec![vec!["TOKEN".to_string()]]);
        assert_eq!(
            a.metadata_problem.as_deref(),
            Some("sops metadata has no lastmodified")
        );
    }

    #[test]
    fn an_empty_value_is_not_plaintext_but_a_blank_one_is() {
        let enc = "ENC[AES256_GCM,data:YQ==,iv:YQ==,tag:YQ==,type:str]";
        let a = run(
            &format!("A={enc}\nEMPTY=\nBLANK= \nsops_mac={enc}\n"),
            "a.env",
        );
        assert_eq!(a.plaintext, vec![vec!["BLANK".to_string()]]);
    }

    #[test]
    fn unencrypted_suffix_is_exempt_and_required_rule_still_applies() {
        let enc = "ENC[AES256_GCM,data:YQ==,iv:YQ==,tag:YQ==,type:str]";
        let text = format!(
            "a: {enc}\nb_unencrypted: plain\nsops:\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: {enc}\n    age:\n        - recipient: age1x\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            x\n            -----END AGE ENCRYPTED FILE-----\n    unencrypted_regex: ^b\n"
        );
        let a = run(&text, "x.sops.yaml");
        assert_eq!(a.metadata_problem, None);
        assert!(a.plaintext.is_empty(), "{a:?}");
        // .sops.yaml says encrypt `b*`: the file's own exemption does not count.
        let rule = CryptRule::EncryptedRegex("^b".into());
        let a = audit(&text, Path::new("x.sops.yaml"), Some(&rule)).unwrap();
        assert_eq!(a.plaintext, vec![vec!["b_unencrypted".to_string()]]);
    }
}
