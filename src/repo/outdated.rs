//! `homelab check --outdated`: every chart pin of the tree (a HelmRelease's chart and version
//! with its HelmRepository's URL, or an OCIRepository's tag) compared with what that source
//! offers: the repository's `index.yaml`, or the OCI repository's tags. Online and only
//! on request; a repository that cannot be read is reported on its own line and the others are
//! still compared. Pre-releases count only for a pin that is one itself.

use super::tree::{Doc, Tree, YamlFile};
use crate::backends::chart_index::{self, ChartVersions};
use crate::domain::printable::sanitize;
use crate::domain::semver::{self, SemVer};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// One chart pin: where it is and what it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChartPin {
    /// `namespace/name` of the HelmRelease.
    pub release: String,
    pub file: String,
    pub line: u32,
    pub chart: String,
    pub version: String,
    /// `namespace/name` of the HelmRepository.
    pub repository: String,
    pub url: String,
}

/// What the repository says about a pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum PinStatus {
    UpToDate {
        deprecated: bool,
    },
    Newer {
        latest: String,
        deprecated: bool,
    },
    /// The index has no such chart (moved, renamed or removed).
    MissingChart,
    /// The pinned version is not in the index (yanked, or a typo).
    MissingVersion {
        latest: Option<String>,
    },
    /// The pin is not a semantic version, so it cannot be compared.
    Unparsable,
    /// The repository could not be read (see the repository errors).
    Unchecked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinReport {
    #[serde(flatten)]
    pub pin: ChartPin,
    #[serde(flatten)]
    pub status: PinStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoError {
    pub repository: String,
    pub url: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutdatedReport {
    pub pins: Vec<PinReport>,
    pub repository_errors: Vec<RepoError>,
}

impl OutdatedReport {
    pub fn newer(&self) -> usize {
        self.pins
            .iter()
            .filter(|p| matches!(p.status, PinStatus::Newer { .. }))
            .count()
    }
}

/// Every chart pin of the tree: HelmReleases whose chart comes from a HelmRepository (an
/// `index.yaml`, or for `type: oci` the chart's OCI repository), and OCIRepository tags.
pub fn chart_pins(tree: &Tree) -> Vec<ChartPin> {
    let mut repos: BTreeMap<(String, String), (String, bool)> = BTreeMap::new();
    for (_, d) in tree.docs() {
        if d.is("source.toolkit.fluxcd.io/", "HelmRepository")
            && let (Some(name), Some(url)) = (d.name(), d.get_str(&["spec", "url"]))
        {
            let ns = d.namespace().unwrap_or("default").to_owned();
            let oci = d.get_str(&["spec", "type"]) == Some("oci") || url.starts_with("oci://");
            repos.insert((ns, name.to_owned()), (url.to_owned(), oci));
        }
    }
    let mut pins = Vec::new();
    for (f, d) in tree.docs() {
        if d.is("helm.toolkit.fluxcd.io/", "HelmRelease")
            && let Some(pin) = pin_of(f, d, &repos)
        {
            pins.push(pin);
        }
        if d.is("source.toolkit.fluxcd.io/", "OCIRepository")
            && let Some(pin) = oci_pin(tree, f, d)
        {
            pins.push(pin);
        }
    }
    pins
}

fn pin_of(
    f: &YamlFile,
    d: &Doc,
    repos: &BTreeMap<(String, String), (String, bool)>,
) -> Option<ChartPin> {
    let spec = ["spec", "chart", "spec"];
    let get = |k: &str| d.get_str(&[spec[0], spec[1], spec[2], k]);
    let src = |k: &str| d.get_str(&[spec[0], spec[1], spec[2], "sourceRef", k]);
    if src("kind") != Some("HelmRepository") {
        return None;
    }
    let release_ns = d.namespace().unwrap_or("default");
    let repo_ns = src("namespace").unwrap_or(release_ns);
    let repo_name = src("name")?;
    let (url, oci) = repos.get(&(repo_ns.to_owned(), repo_name.to_owned()))?;
    let chart = get("chart")?.to_owned();
    Some(ChartPin {
        release: format!("{release_ns}/{}", d.name().unwrap_or("?")),
        file: f.rel.clone(),
        line: d.line_at("spec.chart.spec.version"),
        url: if *oci {
            format!("{}/{chart}", url.trim_end_matches('/'))
        } else {
            url.clone()
        },
        chart,
        version: get("version")?.to_owned(),
        repository: format!("{repo_ns}/{repo_name}"),
    })
}

/// An OCIRepository pinned by `ref.tag` (a digest pin has no version to compare). `release`
/// names the HelmRelease whose `chartRef` uses it, if one does.
fn oci_pin(tree: &Tree, f: &YamlFile, d: &Doc) -> Option<ChartPin> {
    let url = d.get_str(&["spec", "url"])?;
    let tag = d.get_str(&["spec", "ref", "tag"])?;
    let ns = d.namespace().unwrap_or("default");
    let name = d.name()?;
    let user = tree.docs().find_map(|(_, r)| {
        let uses = r.is("helm.toolkit.fluxcd.io/", "HelmRelease")
            && r.get_str(&["spec", "chartRef", "kind"]) == Some("OCIRepository")
            && r.get_str(&["spec", "chartRef", "name"]) == Some(name)
            && r.get_str(&["spec", "chartRef", "namespace"])
                .or(r.namespace())
                .unwrap_or("default")
                == ns;
        uses.then(|| {
            format!(
                "{}/{}",
                r.namespace().unwrap_or("default"),
                r.name().unwrap_or("?")
            )
        })
    });
    Some(ChartPin {
        release: user.unwrap_or_else(|| format!("{ns}/{name}")),
        file: f.rel.clone(),
        line: d.line_at("spec.ref.tag"),
        chart: oci_chart(url).to_owned(),
        version: tag.to_owned(),
        repository: format!("{ns}/{name}"),
        url: url.to_owned(),
    })
}

/// The chart name of an OCI repository URL: its last path segment.
fn oci_chart(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

/// What a source offers: an `index.yaml` (https://) or the tags of an OCI repository.
async fn offered(
    url: &str,
    ca_file: Option<&Path>,
) -> Result<BTreeMap<String, ChartVersions>, String> {
    if url.starts_with("oci://") {
        let versions = crate::backends::oci_tags::tags(url, ca_file).await?;
        return Ok(BTreeMap::from([(
            oci_chart(url).to_owned(),
            ChartVersions {
                versions,
                deprecated: false,
            },
        )]));
    }
    chart_index::fetch(url, ca_file).await
}

/// Compare one pin with what its repository offers.
pub fn status_of(pin: &ChartPin, index: &BTreeMap<String, ChartVersions>) -> PinStatus {
    let Some(chart) = index.get(&pin.chart) else {
        return PinStatus::MissingChart;
    };
    let deprecated = chart.deprecated;
    let Some(pinned) = SemVer::parse(&pin.version) else {
        return PinStatus::Unparsable;
    };
    let newest = semver::newest(&pinned, chart.versions.iter().map(String::as_str));
    let listed = chart
        .versions
        .iter()
        .any(|v| SemVer::parse(v).as_ref() == Some(&pinned));
    if !listed {
        return PinStatus::MissingVersion {
            latest: newest.map(|(_, t)| t.to_owned()),
        };
    }
    match newest {
        Some((v, text)) if v > pinned => PinStatus::Newer {
            latest: text.to_owned(),
            deprecated,
        },
        _ => PinStatus::UpToDate { deprecated },
    }
}

/// Fetch every repository the pins use (concurrently, each once) and compare. `ca_file` is
/// trusted besides the platform store (tests; a private chart mirror).
pub async fn run(tree: &Tree, ca_file: Option<&Path>) -> OutdatedReport {
    let pins = chart_pins(tree);
    let mut urls: BTreeMap<String, String> = BTreeMap::new();
    for p in &pins {
        urls.insert(p.url.clone(), p.repository.clone());
    }
    let fetched = futures::future::join_all(urls.into_iter().map(|(url, repo)| async move {
        let result = offered(&url, ca_file).await;
        (url, repo, result)
    }))
    .await;
    let mut indexes: BTreeMap<String, BTreeMap<String, ChartVersions>> = BTreeMap::new();
    let mut repository_errors = Vec::new();
    for (url, repo, result) in fetched {
        match result {
            Ok(index) => {
                indexes.insert(url, index);
            }
            Err(message) => repository_errors.push(RepoError {
                repository: repo,
                url,
                message,
            }),
        }
    }
    let pins = pins
        .into_iter()
        .map(|pin| {
            let status = match indexes.get(pin.url.as_str()) {
                Some(index) => status_of(&pin, index),
                None => PinStatus::Unchecked,
            };
            PinReport { pin, status }
        })
        .collect();
    OutdatedReport {
        pins,
        repository_errors,
    }
}

/// The plain-text section `homelab check --outdated` prints after the rules.
pub fn human(report: &OutdatedReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nchart versions (--outdated): {} pin(s), {} with a newer version, {} repository error(s)",
        report.pins.len(),
        report.newer(),
        report.repository_errors.len()
    );
    let width = report
        .pins
        .iter()
        .map(|p| p.pin.file.len() + 1 + digits(p.pin.line))
        .max()
        .unwrap_or(0);
    for p in &report.pins {
        let (pin, loc) = (&p.pin, format!("{}:{}", p.pin.file, p.pin.line));
        let what = match &p.status {
            PinStatus::UpToDate { deprecated } => format!("up to date{}", dep(*deprecated)),
            PinStatus::Newer { latest, deprecated } => {
                format!(
                    "newer: {} (pinned {}){}",
                    latest,
                    pin.version,
                    dep(*deprecated)
                )
            }
            PinStatus::MissingChart => format!(
                "the index of {} has no chart `{}` (moved or removed?)",
                pin.url, pin.chart
            ),
            PinStatus::MissingVersion { latest } => format!(
                "version {} is not in the index (newest: {})",
                pin.version,
                latest.as_deref().unwrap_or("none")
            ),
            PinStatus::Unparsable => format!("`{}` is not a semantic version", pin.version),
            PinStatus::Unchecked => format!("not checked: {} could not be read", pin.repository),
        };
        let _ = writeln!(
            s,
            "  {:<width$}  {} {}: {}",
            sanitize(&loc),
            sanitize(&pin.chart),
            sanitize(&pin.version),
            sanitize(&what)
        );
    }
    for e in &report.repository_errors {
        let _ = writeln!(
            s,
            "  repository {} ({}): {}",
            sanitize(&e.repository),
            sanitize(&e.url),
            sanitize(&e.message)
        );
    }
    s
}

fn dep(deprecated: bool) -> &'static str {
    if deprecated {
        "; the chart is marked DEPRECATED in its repository"
    } else {
        ""
    }
}

fn digits(n: u32) -> usize {
    n.to_string().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(version: &str) -> ChartPin {
        ChartPin {
            release: "logging/loki".into(),
            file: "f.yaml".into(),
            line: 1,
            chart: "loki".into(),
            version: version.into(),
            repository: "flux-system/grafana".into(),
            url: "https://x".into(),
        }
    }

    #[test]
    fn statuses() {
        let mut index = BTreeMap::new();
        index.insert(
            "loki".to_string(),
            ChartVersions {
                versions: ["6.56.1", "7.0.0-rc.1", "6.55.0", "6.45.1"]
                    .map(String::from)
                    .to_vec(),
                deprecated: false,
            },
        );
        assert_eq!(
            status_of(&pin("6.45.1"), &index),
            PinStatus::Newer {
                latest: "6.56.1".into(),
                deprecated: false
            }
        );
        assert_eq!(
            status_of(&pin("6.56.1"), &index),
            PinStatus::UpToDate { deprecated: false }
        );
        assert_eq!(
            status_of(&pin("6.44.0"), &index),
            PinStatus::MissingVersion {
                latest: Some("6.56.1".into())
            }
        );
        let mut other = pin("1.0.0");
        other.chart = "tempo".into();
        assert_eq!(status_of(&other, &index), PinStatus::MissingChart);
    }
}
