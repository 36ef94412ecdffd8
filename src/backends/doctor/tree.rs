//! What the repository says, for the walk's decisions and its fixes: where a field of a
//! document is written (file and line), external-dns's registry settings, the cloudflared
//! ConfigMap's ingress rules.

use crate::backends::cloudflare::{IngressConfig, TxtRegistry};
use crate::domain::doctor::{Facts, Fix, SourceDoc};
use serde_json::Value;

/// The 1-based line of `path` (`spec.values.txtOwnerId`, `spec.rules[0].backendRefs`) in
/// `doc`, or of its closest ancestor; the document's first line when nothing matches.
pub fn line(doc: &SourceDoc, path: &str) -> u32 {
    crate::config::locate::locate(&doc.text, path)
        .and_then(|(l, _)| u32::try_from(l).ok())
        .map(|l| doc.start_line.saturating_add(l).saturating_sub(1))
        .unwrap_or(doc.start_line)
}

/// The first line of `doc` holding `needle` outside a comment, else `path`'s line.
pub fn line_of_text(doc: &SourceDoc, needle: &str, path: &str) -> u32 {
    doc.text
        .lines()
        .position(|l| l.contains(needle) && !l.trim_start().starts_with('#'))
        .and_then(|i| u32::try_from(i).ok())
        .map(|i| doc.start_line.saturating_add(i))
        .unwrap_or_else(|| line(doc, path))
}

/// A fix on `path` of `doc`.
pub fn field_fix(doc: &SourceDoc, path: &str, change: impl Into<String>) -> Fix {
    Fix::GitField {
        file: doc.file.clone(),
        line: line(doc, path),
        field: path.into(),
        change: change.into(),
    }
}

/// external-dns's HelmRelease (the one with `provider.name: cloudflare`, else the one named
/// `external-dns`).
pub fn external_dns(facts: &Facts) -> Option<&SourceDoc> {
    let hrs = || facts.of_kind("HelmRelease");
    hrs()
        .find(|d| {
            d.value.pointer("/spec/values/provider/name") == Some(&Value::from("cloudflare"))
                || d.value.pointer("/spec/values/provider") == Some(&Value::from("cloudflare"))
        })
        .or_else(|| hrs().find(|d| d.name == "external-dns"))
}

/// external-dns's extra arguments (`spec.values.extraArgs`).
pub fn extra_args(doc: &SourceDoc) -> Vec<String> {
    doc.value
        .pointer("/spec/values/extraArgs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// How external-dns names and labels its TXT records, from its HelmRelease values
/// (`txtOwnerId`, `txtPrefix`, `txtSuffix`, or the same flags in `extraArgs`); its defaults
/// when the tree has no external-dns.
pub fn registry(facts: &Facts) -> TxtRegistry {
    let mut r = TxtRegistry::default();
    let Some(doc) = external_dns(facts) else {
        return r;
    };
    let value = |k: &str| {
        doc.value
            .pointer(&format!("/spec/values/{k}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if let Some(v) = value("txtOwnerId") {
        r.owner = v;
    }
    if let Some(v) = value("txtPrefix") {
        r.prefix = v;
    }
    if let Some(v) = value("txtSuffix") {
        r.suffix = v;
    }
    for arg in extra_args(doc) {
        let Some((flag, v)) = arg.split_once('=') else {
            continue;
        };
        match flag {
            "--txt-owner-id" => r.owner = v.into(),
            "--txt-prefix" => r.prefix = v.into(),
            "--txt-suffix" => r.suffix = v.into(),
            "--txt-wildcard-replacement" => r.wildcard_replacement = v.into(),
            _ => {}
        }
    }
    r
}

/// The field that sets the owner id, for fixes: `txtOwnerId`, or the flag in `extraArgs`.
pub fn owner_field(doc: &SourceDoc) -> String {
    if extra_args(doc)
        .iter()
        .any(|a| a.starts_with("--txt-owner-id="))
    {
        "spec.values.extraArgs".into()
    } else {
        "spec.values.txtOwnerId".into()
    }
}

/// The cloudflared ConfigMap of a locally managed tunnel: the ConfigMap whose `config.yaml`
/// holds `ingress` rules, with those rules.
pub fn local_ingress(facts: &Facts) -> Option<(&SourceDoc, Result<IngressConfig, String>)> {
    facts.of_kind("ConfigMap").find_map(|d| {
        let text = d.value.pointer("/data/config.yaml")?.as_str()?;
        if !text.contains("ingress") {
            return None;
        }
        let parsed = serde_yaml::from_str::<IngressConfig>(text).map_err(|e| {
            format!(
                "{}: data.config.yaml is not a cloudflared configuration: {e}",
                d.file
            )
        });
        Some((d, parsed))
    })
}

/// The tree's documents of the live object `obj` (same kind, namespace and name).
pub fn doc_of<'f>(facts: &'f Facts, obj: &Value) -> Option<&'f SourceDoc> {
    let kind = obj.get("kind")?.as_str()?;
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
    let name = obj.pointer("/metadata/name")?.as_str()?;
    facts.doc(kind, ns, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(kind: &str, name: &str, text: &str, start: u32) -> SourceDoc {
        let value: serde_json::Value = serde_yaml::from_str(text).unwrap();
        SourceDoc {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: Some("networking".into()),
            name: name.into(),
            file: "f.yaml".into(),
            start_line: start,
            text: text.into(),
            value,
        }
    }

    #[test]
    fn registry_and_lines_come_from_the_helmrelease() {
        let text = "kind: HelmRelease\nmetadata:\n  name: external-dns\nspec:\n  values:\n    provider:\n      name: cloudflare\n    txtOwnerId: prox-n100\n    txtPrefix: k8s.\n    extraArgs:\n      - --cloudflare-proxied\n      - --txt-wildcard-replacement=star\n";
        let facts = Facts {
            docs: vec![doc("HelmRelease", "external-dns", text, 10)],
            ..Default::default()
        };
        let r = registry(&facts);
        assert_eq!(r.owner, "prox-n100");
        assert_eq!(r.prefix, "k8s.");
        assert_eq!(r.wildcard_replacement, "star");
        let hr = external_dns(&facts).unwrap();
        assert_eq!(line(hr, "spec.values.txtOwnerId"), 17);
        assert_eq!(line_of_text(hr, "--cloudflare-proxied", "x"), 20);
        assert_eq!(owner_field(hr), "spec.values.txtOwnerId");
    }

    #[test]
    fn the_local_tunnel_rules_are_read_from_the_configmap() {
        let text = "kind: ConfigMap\nmetadata:\n  name: cloudflared\ndata:\n  config.yaml: |\n    ingress:\n      - hostname: \"*.example.com\"\n        service: https://gw.ns.svc:443\n      - service: http_status:404\n";
        let facts = Facts {
            docs: vec![doc("ConfigMap", "cloudflared", text, 1)],
            ..Default::default()
        };
        let (d, rules) = local_ingress(&facts).unwrap();
        assert_eq!(d.name, "cloudflared");
        let rules = rules.unwrap();
        assert_eq!(
            rules.route_for("a.example.com").unwrap().1.service,
            "https://gw.ns.svc:443"
        );
    }
}
