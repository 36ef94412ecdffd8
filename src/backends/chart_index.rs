//! A Helm chart repository's `index.yaml`: which versions of which charts it offers, and whether
//! a chart is marked deprecated. Read by `homelab check --outdated` (online, on request only).

use crate::backends::endpoint::{Auth, HttpEndpoint, Timeouts};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What a repository offers of one chart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartVersions {
    pub versions: Vec<String>,
    /// The newest entry says `deprecated: true` (Helm's way of retiring a chart).
    pub deprecated: bool,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    entries: BTreeMap<String, Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    deprecated: bool,
}

/// Parse an `index.yaml`. Errors say what is wrong with it.
pub fn parse(text: &[u8]) -> Result<BTreeMap<String, ChartVersions>, String> {
    let index: Index =
        serde_yaml::from_slice(text).map_err(|e| format!("not a Helm repository index ({e})"))?;
    Ok(index
        .entries
        .into_iter()
        .map(|(chart, entries)| {
            let deprecated = entries.first().is_some_and(|e| e.deprecated);
            let versions = entries.into_iter().filter_map(|e| e.version).collect();
            (
                chart,
                ChartVersions {
                    versions,
                    deprecated,
                },
            )
        })
        .collect())
}

/// GET `<repo_url>/index.yaml` and parse it (the platform's CAs, plus `ca_file`).
pub async fn fetch(
    repo_url: &str,
    ca_file: Option<&Path>,
) -> Result<BTreeMap<String, ChartVersions>, String> {
    let endpoint = HttpEndpoint::new(
        "chart repository",
        repo_url,
        Auth::None,
        Timeouts::default(),
    )
    .and_then(|e| e.with_ca_file(ca_file))
    .map_err(|e| e.to_string())?;
    let body = endpoint
        .send_bytes(endpoint.request(reqwest::Method::GET, "index.yaml"))
        .await
        .map_err(|e| e.to_string())?;
    parse(&body).map_err(|e| format!("{}: {e}", endpoint.url("index.yaml")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_deprecation() {
        let text = b"apiVersion: v1\nentries:\n  tempo:\n    - version: 1.24.4\n      deprecated: true\n    - version: 1.24.1\n  loki:\n    - version: 6.55.0\n      appVersion: 3.6.0\n";
        let idx = parse(text).unwrap();
        assert_eq!(idx["tempo"].versions, ["1.24.4", "1.24.1"]);
        assert!(idx["tempo"].deprecated);
        assert!(!idx["loki"].deprecated);
        assert!(
            parse(b"- a list")
                .unwrap_err()
                .contains("not a Helm repository index")
        );
    }
}
