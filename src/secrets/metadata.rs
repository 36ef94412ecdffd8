//! The `sops` metadata block (docs/reference/sops.md §6): one struct, converted to the ordered
//! tree YAML and JSON write, and to the flattened, sorted `sops_*` lines dotenv writes.

use std::collections::BTreeMap;

use super::tree::{Entry, Node, Scalar};

/// The default crypt rule when neither the file nor .sops.yaml names one.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// One age recipient and the data key wrapped for it (armored age file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeStanza {
    pub recipient: String,
    pub enc: String,
}

/// Which leaves get encrypted (at most one rule per file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptRule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(String),
    EncryptedRegex(String),
    UnencryptedCommentRegex(String),
    EncryptedCommentRegex(String),
}

impl Default for CryptRule {
    fn default() -> Self {
        CryptRule::UnencryptedSuffix(DEFAULT_UNENCRYPTED_SUFFIX.to_string())
    }
}

const RULE_FIELDS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

impl CryptRule {
    pub fn field(&self) -> &'static str {
        match self {
            CryptRule::UnencryptedSuffix(_) => RULE_FIELDS[0],
            CryptRule::EncryptedSuffix(_) => RULE_FIELDS[1],
            CryptRule::UnencryptedRegex(_) => RULE_FIELDS[2],
            CryptRule::EncryptedRegex(_) => RULE_FIELDS[3],
            CryptRule::UnencryptedCommentRegex(_) => RULE_FIELDS[4],
            CryptRule::EncryptedCommentRegex(_) => RULE_FIELDS[5],
        }
    }

    pub fn value(&self) -> &str {
        match self {
            CryptRule::UnencryptedSuffix(v)
            | CryptRule::EncryptedSuffix(v)
            | CryptRule::UnencryptedRegex(v)
            | CryptRule::EncryptedRegex(v)
            | CryptRule::UnencryptedCommentRegex(v)
            | CryptRule::EncryptedCommentRegex(v) => v,
        }
    }

    pub fn from_field(field: &str, value: String) -> Option<CryptRule> {
        Some(match field {
            "unencrypted_suffix" => CryptRule::UnencryptedSuffix(value),
            "encrypted_suffix" => CryptRule::EncryptedSuffix(value),
            "unencrypted_regex" => CryptRule::UnencryptedRegex(value),
            "encrypted_regex" => CryptRule::EncryptedRegex(value),
            "unencrypted_comment_regex" => CryptRule::UnencryptedCommentRegex(value),
            "encrypted_comment_regex" => CryptRule::EncryptedCommentRegex(value),
            _ => return None,
        })
    }

    /// Pick the one rule among optional fields, as sops does (error if several).
    pub fn choose(fields: Vec<(&str, String)>) -> Result<CryptRule, String> {
        let set: Vec<_> = fields.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        match set.len() {
            0 => Ok(CryptRule::default()),
            1 => {
                let (f, v) = set.into_iter().next().expect("one");
                CryptRule::from_field(f, v).ok_or_else(|| format!("unknown rule {f}"))
            }
            _ => Err("Cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file".into()),
        }
    }
}

/// Metadata of an encrypted file.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub age: Vec<AgeStanza>,
    pub lastmodified: String,
    pub mac: String,
    pub rule: CryptRule,
    pub mac_only_encrypted: bool,
    pub version: String,
    /// Master keys of other kinds (pgp, kms, ...) we cannot use but keep as they are.
    pub other_keys: BTreeMap<String, Node>,
}

/// Fields that hold other kinds of master keys, in the order sops writes them around `age`.
const KEYS_BEFORE_AGE: [&str; 4] = ["kms", "gcp_kms", "azure_kv", "hc_vault"];
const KEYS_AFTER_MAC: [&str; 1] = ["pgp"];

impl Metadata {
    pub fn new(age: Vec<AgeStanza>, rule: CryptRule, mac_only_encrypted: bool) -> Metadata {
        Metadata {
            age,
            lastmodified: String::new(),
            mac: String::new(),
            rule,
            mac_only_encrypted,
            version: crate::secrets::SOPS_VERSION.to_string(),
            other_keys: BTreeMap::new(),
        }
    }

    /// The metadata as sops orders it (stores.Metadata field order), for YAML and JSON.
    pub fn to_entries(&self) -> Vec<Entry> {
        let s = |v: &str| Node::Scalar(Scalar::Str(v.to_string()));
        let mut out = Vec::new();
        for k in KEYS_BEFORE_AGE {
            if let Some(v) = self.other_keys.get(k) {
                out.push(Entry::Pair(k.into(), v.clone()));
            }
        }
        if !self.age.is_empty() {
            let list = self
                .age
                .iter()
                .map(|a| {
                    Node::Map(vec![
                        Entry::Pair("recipient".into(), s(&a.recipient)),
                        Entry::Pair("enc".into(), s(&a.enc)),
                    ])
                })
                .collect();
            out.push(Entry::Pair("age".into(), Node::List(list)));
        }
        out.push(Entry::Pair("lastmodified".into(), s(&self.lastmodified)));
        out.push(Entry::Pair("mac".into(), s(&self.mac)));
        for k in KEYS_AFTER_MAC {
            if let Some(v) = self.other_keys.get(k) {
                out.push(Entry::Pair(k.into(), v.clone()));
            }
        }
        out.push(Entry::Pair(self.rule.field().into(), s(self.rule.value())));
        if self.mac_only_encrypted {
            out.push(Entry::Pair(
                "mac_only_encrypted".into(),
                Node::Scalar(Scalar::Bool(true)),
            ));
        }
        out.push(Entry::Pair("version".into(), s(&self.version)));
        out
    }

    /// Read metadata from the `sops` mapping of a YAML or JSON file.
    pub fn from_entries(entries: &[Entry]) -> Result<Metadata, String> {
        let mut age = Vec::new();
        let mut lastmodified = None;
        let mut mac = String::new();
        let mut rules = Vec::new();
        let mut mac_only_encrypted = false;
        let mut version = String::new();
        let mut other_keys = BTreeMap::new();
        for entry in entries {
            let Entry::Pair(key, value) = entry else {
                continue;
            };
            match (key.as_str(), value) {
                ("age", Node::List(items)) => {
                    for item in items {
                        let Node::Map(fields) = item else {
                            return Err(
                                "sops.age entries must be mappings with recipient and enc".into()
                            );
                        };
                        let get = |name: &str| {
                            super::tree::find(fields, name)
                                .and_then(|n| match n {
                                    Node::Scalar(Scalar::Str(s)) => Some(s.clone()),
                                    _ => None,
                                })
                                .unwrap_or_default()
                        };
                        age.push(AgeStanza {
                            recipient: get("recipient").trim().to_string(),
                            enc: get("enc"),
                        });
                    }
                }
                ("lastmodified", Node::Scalar(Scalar::Str(t) | Scalar::Time(t))) => {
                    lastmodified = Some(t.clone())
                }
                ("mac", Node::Scalar(Scalar::Str(m))) => mac = m.clone(),
                ("mac_only_encrypted", Node::Scalar(Scalar::Bool(b))) => mac_only_encrypted = *b,
                ("version", Node::Scalar(s)) => version = s.display_text(),
                ("key_groups" | "shamir_threshold", _) => {
                    return Err("the file uses key_groups / shamir_threshold; homelab supports one key group of age recipients. Use sops for this file.".into());
                }
                (field, Node::Scalar(Scalar::Str(v))) if RULE_FIELDS.contains(&field) => {
                    rules.push((field_name(field), v.clone()));
                }
                (k, v) if KEYS_BEFORE_AGE.contains(&k) || KEYS_AFTER_MAC.contains(&k) => {
                    other_keys.insert(k.to_string(), v.clone());
                }
                (k, _) => return Err(format!("unknown sops metadata field `{k}`")),
            }
        }
        let lastmodified = lastmodified.ok_or("sops metadata has no lastmodified")?;
        let rule = CryptRule::choose(rules)?;
        Ok(Metadata {
            age,
            lastmodified,
            mac,
            rule,
            mac_only_encrypted,
            version,
            other_keys,
        })
    }

    /// Flattened `sops_*` lines for dotenv, sorted byte-wise by key (Go sort.Strings).
    pub fn to_flat(&self) -> Vec<(String, String)> {
        let mut flat = BTreeMap::new();
        for entry in self.to_entries() {
            if let Entry::Pair(k, v) = entry {
                flatten(&format!("sops_{k}"), &v, &mut flat);
            }
        }
        flat.into_iter().collect()
    }

    /// Read metadata from dotenv `sops_*` lines (prefix already removed, `\n` already decoded).
    pub fn from_flat(flat: &BTreeMap<String, String>) -> Result<Metadata, String> {
        let mut root: Vec<Entry> = Vec::new();
        for (key, value) in flat {
            let scalar = match key.as_str() {
                "mac_only_encrypted" => Scalar::Bool(value == "true"),
                "shamir_threshold" => {
                    Scalar::Int(value.parse::<f64>().map(|f| f as i64).unwrap_or(0))
                }
                _ => Scalar::Str(value.clone()),
            };
            insert_flat(&mut root, key, scalar)?;
        }
        Metadata::from_entries(&root)
    }
}

fn field_name(field: &str) -> &'static str {
    RULE_FIELDS
        .iter()
        .find(|f| **f == field)
        .copied()
        .unwrap_or("unencrypted_suffix")
}

fn flatten(prefix: &str, node: &Node, out: &mut BTreeMap<String, String>) {
    match node {
        Node::Map(entries) => {
            for e in entries {
                if let Entry::Pair(k, v) = e {
                    flatten(&format!("{prefix}__map_{k}"), v, out);
                }
            }
        }
        Node::List(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}__list_{i}"), item, out);
            }
        }
        Node::Scalar(Scalar::Null) | Node::Comment(_) => {}
        Node::Scalar(s) => {
            let text = match s {
                Scalar::Bool(b) => b.to_string(),
                other => other.display_text(),
            };
            out.insert(prefix.to_string(), text);
        }
    }
}

/// Put one flattened key (`age__list_0__map_enc`) back into a tree.
fn insert_flat(root: &mut Vec<Entry>, key: &str, value: Scalar) -> Result<(), String> {
    let mut parts = key.split("__");
    let top = parts.next().unwrap_or_default().to_string();
    let rest: Vec<&str> = parts.collect();
    let slot = match root
        .iter_mut()
        .position(|e| matches!(e, Entry::Pair(k, _) if *k == top))
    {
        Some(i) => i,
        None => {
            root.push(Entry::Pair(top.clone(), placeholder(rest.first())));
            root.len() - 1
        }
    };
    let Entry::Pair(_, node) = &mut root[slot] else {
        unreachable!("pairs only")
    };
    insert_into(node, &rest, value).map_err(|e| format!("metadata key sops_{key}: {e}"))
}

fn placeholder(next: Option<&&str>) -> Node {
    match next {
        Some(s) if s.starts_with("list_") => Node::List(Vec::new()),
        Some(_) => Node::Map(Vec::new()),
        None => Node::Scalar(Scalar::Null),
    }
}

fn insert_into(node: &mut Node, rest: &[&str], value: Scalar) -> Result<(), String> {
    let Some((first, tail)) = rest.split_first() else {
        *node = Node::Scalar(value);
        return Ok(());
    };
    if let Some(index) = first.strip_prefix("list_") {
        let index: usize = index
            .parse()
            .map_err(|_| format!("bad list index `{first}`"))?;
        let Node::List(items) = node else {
            return Err("mixes list and map".into());
        };
        while items.len() <= index {
            items.push(placeholder(tail.first()));
        }
        insert_into(&mut items[index], tail, value)
    } else if let Some(name) = first.strip_prefix("map_") {
        let Node::Map(entries) = node else {
            return Err("mixes list and map".into());
        };
        let pos = match entries
            .iter()
            .position(|e| matches!(e, Entry::Pair(k, _) if k == name))
        {
            Some(p) => p,
            None => {
                entries.push(Entry::Pair(name.to_string(), placeholder(tail.first())));
                entries.len() - 1
            }
        };
        let Entry::Pair(_, child) = &mut entries[pos] else {
            unreachable!("pairs only")
        };
        insert_into(child, tail, value)
    } else {
        Err(format!("unexpected segment `{first}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        let mut m = Metadata::new(
            vec![
                AgeStanza {
                    recipient: "age1a".into(),
                    enc: "A\n".into(),
                },
                AgeStanza {
                    recipient: "age1b".into(),
                    enc: "B\n".into(),
                },
            ],
            CryptRule::default(),
            false,
        );
        m.lastmodified = "2026-11-23T07:28:08Z".into();
        m.mac = "ENC[x]".into();
        m
    }

    #[test]
    fn flat_lines_are_sorted_like_go() {
        let keys: Vec<String> = sample().to_flat().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            vec![
                "sops_age__list_0__map_enc",
                "sops_age__list_0__map_recipient",
                "sops_age__list_1__map_enc",
                "sops_age__list_1__map_recipient",
                "sops_lastmodified",
                "sops_mac",
                "sops_unencrypted_suffix",
                "sops_version",
            ]
        );
    }

    #[test]
    fn flat_round_trip() {
        let m = sample();
        let flat: BTreeMap<String, String> = m
            .to_flat()
            .into_iter()
            .map(|(k, v)| (k.trim_start_matches("sops_").to_string(), v))
            .collect();
        assert_eq!(Metadata::from_flat(&flat).unwrap(), m);
    }

    #[test]
    fn two_rules_are_refused() {
        let err = CryptRule::choose(vec![
            ("encrypted_regex", "a".into()),
            ("unencrypted_suffix", "_u".into()),
        ]);
        assert!(err.unwrap_err().contains("more than one"));
    }
}
