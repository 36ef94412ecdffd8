//! A Kubernetes `Secret` manifest built in memory (zeroized on drop): the one renderer for the
//! Secrets homelab makes, the ones applied straight to the cluster (`flux-system`, `sops-age`)
//! and the ones that ship SOPS-encrypted in the tree ([`super::cluster_secrets`]).
//!
//! Values are written as JSON strings, which YAML reads as double-quoted scalars: any byte
//! sequence (newlines, quotes, `: `, a leading `*`) round-trips. Names and keys are checked
//! against the API server's rules first, so the manifest is valid before anything sees it.

use zeroize::Zeroizing;

/// Where the values go: `stringData` (readable after `sops decrypt`; the tree's files) or
/// `data` (base64; what the API server stores, for objects applied as they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    StringData,
    Data,
}

/// One Secret to render. `entries` keep their order.
pub struct SecretSpec<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub entries: Vec<(&'a str, &'a str)>,
    pub field: Field,
}

/// A DNS-1123 subdomain (object names, namespaces): lowercase alphanumerics, `-` and `.`,
/// at most 253 characters, alphanumeric at both ends.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// A Secret data key: alphanumerics, `-`, `_` and `.`, at most 253 characters.
fn valid_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn json_string(s: &str) -> Zeroizing<String> {
    // serde_json writes a valid JSON string for every &str; the fallback is unreachable.
    Zeroizing::new(serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()))
}

/// The manifest, or what is wrong with the name, namespace or a key.
pub fn render(spec: &SecretSpec) -> Result<Zeroizing<String>, String> {
    use base64::Engine as _;
    if !valid_name(spec.name) {
        return Err(format!(
            "Secret name {:?} is not a DNS-1123 subdomain (lowercase letters, digits, '-', '.')",
            spec.name
        ));
    }
    if !valid_name(spec.namespace) || spec.namespace.contains('.') || spec.namespace.len() > 63 {
        return Err(format!(
            "namespace {:?} is not a DNS-1123 label (lowercase letters, digits, '-')",
            spec.namespace
        ));
    }
    let mut out = Zeroizing::new(format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {}\n  namespace: {}\ntype: Opaque\n{}:\n",
        spec.name,
        spec.namespace,
        match spec.field {
            Field::StringData => "stringData",
            Field::Data => "data",
        }
    ));
    let mut seen = std::collections::BTreeSet::new();
    for (key, value) in &spec.entries {
        if !valid_key(key) {
            return Err(format!(
                "Secret {}/{}: key {key:?} may hold only letters, digits, '-', '_' and '.'",
                spec.namespace, spec.name
            ));
        }
        if !seen.insert(*key) {
            return Err(format!(
                "Secret {}/{}: key {key:?} appears twice",
                spec.namespace, spec.name
            ));
        }
        let value = match spec.field {
            Field::StringData => json_string(value),
            Field::Data => Zeroizing::new(format!(
                "\"{}\"",
                base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
            )),
        };
        out.push_str("  ");
        out.push_str(key);
        out.push_str(": ");
        out.push_str(&value);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> serde_yaml::Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn any_value_round_trips_and_names_are_checked() {
        let hostile = "line1\nline2: x\n- '\"*&anchor \\ é\t";
        let text = render(&SecretSpec {
            name: "grafana-admin",
            namespace: "monitoring",
            entries: vec![("admin-user", "admin"), ("admin-password", hostile)],
            field: Field::StringData,
        })
        .unwrap();
        let v = parse(&text);
        assert_eq!(v["kind"], "Secret");
        assert_eq!(v["metadata"]["namespace"], "monitoring");
        assert_eq!(v["stringData"]["admin-password"], hostile);
        assert_eq!(v["stringData"]["admin-user"], "admin");

        let text = render(&SecretSpec {
            name: "flux-system",
            namespace: "flux-system",
            entries: vec![("identity.pub", "ssh-ed25519 AAAA\n")],
            field: Field::Data,
        })
        .unwrap();
        assert_eq!(
            parse(&text)["data"]["identity.pub"],
            "c3NoLWVkMjU1MTkgQUFBQQo="
        );

        let bad = |name: &str, ns: &str, key: &str| {
            render(&SecretSpec {
                name,
                namespace: ns,
                entries: vec![(key, "v"), ("k", "v")],
                field: Field::Data,
            })
            .is_err()
        };
        assert!(bad("Upper", "ns", "a"));
        assert!(bad("ok", "a.b", "a"));
        assert!(bad("ok", "ns", "a b"));
        assert!(bad("ok", "ns", "k"), "a key twice");
        assert!(bad("ok\nx: y", "ns", "a"));
        assert!(!bad("ok", "ns", "a"));
    }
}
