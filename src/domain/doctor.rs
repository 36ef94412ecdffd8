//! The reachability doctor's findings (docs/doctor.md): the seven links from a hostname's
//! Cloudflare record to the pods that answer it, whether each holds, and what to do about the
//! first one that does not. Plain data: the walk (`backends::doctor`) produces it, the CLI
//! (`homelab doctor`) and the console print it.

use std::fmt;

/// One link of the chain, in the order the doctor walks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Link {
    /// The Cloudflare DNS record exists, is proxied, points at the tunnel and external-dns owns it.
    Dns,
    /// The tunnel has connectors (cloudflared processes) serving traffic.
    Tunnel,
    /// The tunnel's ingress rules send the host to the Gateway.
    TunnelIngress,
    /// The Gateway listener for the host is programmed and the route is attached to it.
    Gateway,
    /// The HTTPRoute is Accepted, with ResolvedRefs.
    Route,
    /// The Service has ready EndpointSlices and its pods are Ready.
    Backend,
    /// The listener's certificate is valid, covers the host and is not close to expiring.
    Certificate,
}

impl Link {
    pub const ALL: [Link; 7] = [
        Link::Dns,
        Link::Tunnel,
        Link::TunnelIngress,
        Link::Gateway,
        Link::Route,
        Link::Backend,
        Link::Certificate,
    ];

    /// 1..=7, as the operator page numbers them.
    pub fn number(self) -> usize {
        Link::ALL.iter().position(|l| *l == self).unwrap_or(0) + 1
    }

    /// What the link is, in a few words.
    pub fn title(self) -> &'static str {
        match self {
            Link::Dns => "Cloudflare DNS record",
            Link::Tunnel => "tunnel connectors",
            Link::TunnelIngress => "tunnel ingress rule",
            Link::Gateway => "Gateway listener",
            Link::Route => "HTTPRoute status",
            Link::Backend => "Service endpoints",
            Link::Certificate => "TLS certificate",
        }
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}. {}", self.number(), self.title())
    }
}

/// What to do about a broken link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// The Cloudflare API token lacks a permission (the dashboard's words, `Zone > DNS > Read`).
    TokenScope { permission: String, how: String },
    /// A field of a file in the repository (relative path, 1-based line).
    GitField {
        file: String,
        line: u32,
        field: String,
        change: String,
    },
    /// A command to run, and why.
    Command { command: String, why: String },
    /// A setting kept only in Cloudflare's dashboard (a remotely managed tunnel's rules).
    Dashboard { place: String, change: String },
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fix::TokenScope { permission, how } => {
                write!(f, "give the Cloudflare API token {permission}: {how}")
            }
            Fix::GitField {
                file,
                line,
                field,
                change,
            } => write!(f, "{file}:{line}: `{field}`: {change}"),
            Fix::Command { command, why } => write!(f, "run `{command}`: {why}"),
            Fix::Dashboard { place, change } => write!(f, "in {place}: {change}"),
        }
    }
}

/// The result of one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub link: Link,
    pub ok: bool,
    /// One line: what holds, or what is broken.
    pub summary: String,
    /// What was read to decide (record ids, conditions, counts), one fact a line.
    pub evidence: Vec<String>,
    /// Set when the link is broken.
    pub fix: Option<Fix>,
}

impl Finding {
    pub fn pass(link: Link, summary: impl Into<String>, evidence: Vec<String>) -> Self {
        Self {
            link,
            ok: true,
            summary: summary.into(),
            evidence,
            fix: None,
        }
    }

    pub fn broken(link: Link, summary: impl Into<String>, fix: Fix) -> Self {
        Self {
            link,
            ok: false,
            summary: summary.into(),
            evidence: vec![],
            fix: Some(fix),
        }
    }

    pub fn with_evidence(mut self, evidence: Vec<String>) -> Self {
        self.evidence = evidence;
        self
    }
}

/// How a walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every link holds.
    Reachable,
    /// The walk stopped at this link.
    Broken(Link),
}

/// How requests reach a host, and so which links the doctor walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Exposure {
    /// From the internet: Cloudflare's record, the tunnel, then the Gateway (every link).
    #[default]
    Public,
    /// From the LAN and the tailnet, straight to the Gateway's listener: Cloudflare and the
    /// tunnel are not on the way, so the walk starts at link 4.
    Internal,
}

impl Exposure {
    /// The links walked, in order.
    pub fn links(self) -> &'static [Link] {
        match self {
            Exposure::Public => &Link::ALL,
            Exposure::Internal => &Link::ALL[3..],
        }
    }

    /// Whether `link` is on the way for this exposure.
    pub fn walks(self, link: Link) -> bool {
        self.links().contains(&link)
    }

    /// A hostname's exposure by its name: public when it is the cluster's public `domain` or
    /// under it (only those go through Cloudflare and the tunnel), internal otherwise.
    pub fn of_host(host: &str, domain: &str) -> Exposure {
        if under_domain(host, domain) {
            Exposure::Public
        } else {
            Exposure::Internal
        }
    }
}

/// Whether `host` is `domain` or a name under it (case and a trailing dot ignored; an empty
/// domain holds nothing).
pub fn under_domain(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    !domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}")))
}

#[cfg(test)]
mod exposure_tests {
    use super::*;

    #[test]
    fn hosts_under_the_public_domain_are_public_and_the_rest_internal() {
        let of = Exposure::of_host;
        assert_eq!(of("jellyfin.example.com", "example.com"), Exposure::Public);
        assert_eq!(of("Jellyfin.Example.COM.", "example.com"), Exposure::Public);
        assert_eq!(of("example.com", "example.com."), Exposure::Public);
        assert_eq!(of("whoami.home.lan", "example.com"), Exposure::Internal);
        // A look-alike suffix is not the domain.
        assert_eq!(of("evilexample.com", "example.com"), Exposure::Internal);
        assert_eq!(of("example.com", ""), Exposure::Internal);
    }
}

/// What a running walk reports, in order: each finding, then how it ended; or why it could not
/// start (no token, no kubeconfig context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkEvent {
    Found(Finding),
    Done(Outcome),
    Failed(String),
}

/// One walk as far as it got: what the console's reachability pane and the scaffold screen
/// draw (`widgets::doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub host: String,
    pub exposure: Exposure,
    pub findings: Vec<Finding>,
    pub outcome: Option<Outcome>,
    /// The doctor could not start: why, as it says it.
    pub error: Option<String>,
}

impl Walk {
    pub fn new(host: impl Into<String>, exposure: Exposure) -> Self {
        Self {
            host: host.into(),
            exposure,
            findings: vec![],
            outcome: None,
            error: None,
        }
    }

    pub fn apply(&mut self, ev: WalkEvent) {
        match ev {
            WalkEvent::Found(f) => self.findings.push(f),
            WalkEvent::Done(o) => self.outcome = Some(o),
            WalkEvent::Failed(e) => self.error = Some(e),
        }
    }

    /// Ended: every link checked, a broken one, or the doctor could not start.
    pub fn finished(&self) -> bool {
        self.outcome.is_some() || self.error.is_some()
    }
}

/// One YAML document of the repository that the doctor may name in a fix: the objects the
/// walk looks up (Gateway, HTTPRoute, Service, Certificate, Namespace, the cloudflared
/// ConfigMap, external-dns's HelmRelease), read by `repo::doctor_facts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDoc {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// Relative to the repository root, `/`-separated.
    pub file: String,
    /// 1-based line of the document's first line.
    pub start_line: u32,
    /// The document's text (its lines joined by `\n`).
    pub text: String,
    /// The parsed document.
    pub value: serde_json::Value,
}

/// A value of the repository with where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub value: String,
    pub file: String,
    pub line: u32,
    pub field: String,
}

/// What the doctor knows from the repository before it asks anything: the cluster definition
/// and the tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    /// The cluster's name (its kubeconfig context, external-dns's default owner id).
    pub cluster: String,
    /// The cluster definition's `domain` (the public zone).
    pub domain: Option<Located>,
    /// The SOPS env file the tokens come from (relative path, for fixes).
    pub env_file: String,
    /// The documents of the tree the walk may look up.
    pub docs: Vec<SourceDoc>,
}

impl Facts {
    /// The document of `kind` named `namespace/name` (`namespace` None: cluster-scoped or any).
    pub fn doc(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&SourceDoc> {
        self.docs.iter().find(|d| {
            d.kind == kind
                && d.name == name
                && (namespace.is_none() || d.namespace.as_deref() == namespace)
        })
    }

    /// Every document of `kind`.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a SourceDoc> + 'a {
        self.docs.iter().filter(move |d| d.kind == kind)
    }
}
