//! Pinning: chart versions and container images are exact, so git says what runs.

use super::{Rule, Violation};
use crate::repo::tree::{Doc, Tree, YamlFile, YamlPath, walk};
use serde_yaml::Value;

pub const CHART_VERSION: Rule = Rule {
    id: "pinning/chart-version",
    title: "HelmRelease chart versions (and OCI chart tags) are pinned",
    hint: "set an exact version such as 1.19.0 (no ranges, `*`, `x`, `^`, `~`); for an OCIRepository use ref.tag or ref.digest, not ref.semver",
};
pub const IMAGE_TAG: Rule = Rule {
    id: "pinning/image",
    title: "Container images are pinned (a version tag or digest, never latest)",
    hint: "use an explicit version tag (e.g. jellyfin/jellyfin:10.11.3) or a digest (@sha256:...)",
};

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    for (f, d) in tree.docs() {
        if d.is("helm.toolkit.fluxcd.io/", "HelmRelease") {
            helm_version(f, d, out);
        }
        if d.is("source.toolkit.fluxcd.io/", "OCIRepository") {
            oci_ref(f, d, out);
        }
        if let Some(v) = &d.value {
            images(f, d, v, out);
        }
    }
}

/// An exact semantic version, optionally with a leading `v` and pre-release/build parts.
pub fn exact_version(v: &str) -> bool {
    let core = v.strip_prefix('v').unwrap_or(v);
    let core = core.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn helm_version(f: &YamlFile, d: &Doc, out: &mut Vec<Violation>) {
    if d.get(&["spec", "chartRef"]).is_some() {
        return; // pinned by the referenced OCIRepository / HelmChart
    }
    let name = d.name().unwrap_or("?");
    match d.get(&["spec", "chart", "spec", "version"]) {
        None => out.push(Violation::new(
            &CHART_VERSION,
            &f.rel,
            Some(d.line_at("spec.chart.spec.chart")),
            format!("HelmRelease `{name}` has no chart version (Flux would take the newest)"),
        )),
        Some(v) => {
            let text = match v {
                Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            if !exact_version(&text) {
                out.push(Violation::new(
                    &CHART_VERSION,
                    &f.rel,
                    Some(d.line_at("spec.chart.spec.version")),
                    format!("HelmRelease `{name}` chart version `{text}` is not an exact version"),
                ));
            }
        }
    }
}

fn oci_ref(f: &YamlFile, d: &Doc, out: &mut Vec<Violation>) {
    let name = d.name().unwrap_or("?");
    let tag = d.get_str(&["spec", "ref", "tag"]);
    let digest = d.get_str(&["spec", "ref", "digest"]);
    let semver = d.get_str(&["spec", "ref", "semver"]);
    let (ok, line, what) = match (digest, tag, semver) {
        (Some(_), _, _) => (true, 0, String::new()),
        (None, Some(t), _) if t != "latest" => (true, 0, String::new()),
        (None, Some(t), _) => (false, d.line_at("spec.ref.tag"), format!("tag `{t}`")),
        (None, None, Some(s)) => (
            false,
            d.line_at("spec.ref.semver"),
            format!("semver range `{s}`"),
        ),
        (None, None, None) => (false, d.line_at("spec.url"), "no ref (latest)".to_string()),
    };
    if !ok {
        out.push(Violation::new(
            &CHART_VERSION,
            &f.rel,
            Some(line),
            format!("OCIRepository `{name}` follows {what}"),
        ));
    }
}

/// Why an image reference is not pinned, if it is not.
pub fn unpinned(image: &str) -> Option<&'static str> {
    if image.contains("@sha256:") {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some("has no tag (that means latest)"),
        Some((_, "latest")) => Some("uses the mutable tag latest"),
        Some((_, "")) => Some("has an empty tag"),
        Some(_) => None,
    }
}

fn images(f: &YamlFile, d: &Doc, v: &Value, out: &mut Vec<Violation>) {
    walk(v, &mut YamlPath::default(), &mut |p, node| {
        if p.last_key() == Some("image")
            && let Value::String(img) = node
            && let Some(why) = unpinned(img)
        {
            out.push(Violation::new(
                &IMAGE_TAG,
                &f.rel,
                Some(d.line_at(&p.to_string())),
                format!("image `{img}` {why}"),
            ));
        }
        // chart values: {repository: ..., tag: latest}
        if let Value::Mapping(_) = node
            && node.get("repository").is_some()
            && node.get("tag").and_then(Value::as_str) == Some("latest")
        {
            out.push(Violation::new(
                &IMAGE_TAG,
                &f.rel,
                Some(d.line_at(&p.join("tag").to_string())),
                format!(
                    "image {} uses the mutable tag latest",
                    node.get("repository")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                ),
            ));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in ["1.19.0", "v1.19.1", "79.10.0", "1.0.0-rc.1"] {
            assert!(exact_version(ok), "{ok}");
        }
        for bad in [
            "*",
            "1.x",
            ">=1.0.0",
            "^1.2.3",
            "~1.2",
            "1.2",
            "1.2.3 || 2.0.0",
            "",
        ] {
            assert!(!exact_version(bad), "{bad}");
        }
    }

    #[test]
    fn images() {
        assert_eq!(unpinned("nginx:1.27"), None);
        assert_eq!(unpinned("registry:5000/team/app:1.0"), None);
        assert_eq!(unpinned("x@sha256:abc"), None);
        assert!(unpinned("nginx").is_some());
        assert!(unpinned("registry:5000/app").is_some());
        assert!(unpinned("nginx:latest").is_some());
    }
}
