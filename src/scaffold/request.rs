//! The app request: what the operator asks for, as typed ([`AppInput`], every field text, the
//! way a form or the command line holds it) and as validated ([`AppRequest`], typed values
//! only). [`validate`] checks every field, reports each problem with the field it belongs to,
//! and fills the defaults ([`defaults`]). Pure: no file system, no screens.

use super::facts::TreeFacts;
use std::fmt;
use zeroize::Zeroizing;

/// Apps the Stage 1 memo (8.1) lets through the Cloudflare Tunnel; the same list `homelab check`
/// enforces (`exposure/public-allowlist`).
pub use crate::repo::check::PUBLIC_APPS;

/// Every field of the request, for messages and for a form to put an error under its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Name,
    Category,
    Source,
    ChartRepo,
    Chart,
    ChartVersion,
    Values,
    Service,
    Image,
    Port,
    Hostname,
    Exposure,
    Storage,
    StorageSize,
    MountPath,
    CpuRequest,
    MemoryRequest,
    CpuLimit,
    MemoryLimit,
    ProbePath,
    Secrets,
    RunsAsRoot,
}

impl Field {
    /// The command-line flag that sets it (the form shows the same words as labels).
    pub fn flag(self) -> &'static str {
        match self {
            Field::Name => "--name",
            Field::Category => "--category",
            Field::Source => "--image or --chart",
            Field::ChartRepo => "--chart-repo",
            Field::Chart => "--chart",
            Field::ChartVersion => "--chart-version",
            Field::Values => "--values",
            Field::Service => "--service",
            Field::Image => "--image",
            Field::Port => "--port",
            Field::Hostname => "--hostname",
            Field::Exposure => "--exposure",
            Field::Storage => "--storage",
            Field::StorageSize => "--storage-size",
            Field::MountPath => "--mount-path",
            Field::CpuRequest => "--cpu-request",
            Field::MemoryRequest => "--memory-request",
            Field::CpuLimit => "--cpu-limit",
            Field::MemoryLimit => "--memory-limit",
            Field::ProbePath => "--probe-path",
            Field::Secrets => "--secret",
            Field::RunsAsRoot => "--runs-as-root",
        }
    }
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Field,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field.flag(), self.message)
    }
}

/// The app groups of the memo (8.1 to 8.4): the folder under `cluster/kubernetes/apps/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Media,
    Tools,
    Games,
    Demos,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Media,
        Category::Tools,
        Category::Games,
        Category::Demos,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Media => "media",
            Category::Tools => "tools",
            Category::Games => "games",
            Category::Demos => "demos",
        }
    }
}

/// Where the chart comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartRepo {
    /// A Helm repository over HTTPS (`index.yaml`): a Flux HelmRepository.
    Https(String),
    /// An OCI registry path (`oci://host/path`, the chart is `<path>/<chart>`): a Flux
    /// OCIRepository pinned by tag.
    Oci(String),
}

/// What runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Helm {
        repo: ChartRepo,
        chart: String,
        /// An exact version (the `pinning/chart-version` rule).
        version: String,
        /// The chart values as the operator wrote them (a YAML mapping; comments kept).
        values: Option<String>,
        /// The Service the chart creates, which the HTTPRoute sends traffic to.
        service: String,
    },
    /// A container image pinned by tag or digest: a Deployment plus a Service.
    Image { image: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// The Gateway's `internal` listener: LAN and tailnet only.
    Internal,
    /// The `public` listener, through the Cloudflare Tunnel (allowlisted apps only).
    Public,
}

impl Exposure {
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::Internal => "internal",
            Exposure::Public => "public",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    None,
    /// A Longhorn block volume, ReadWriteOnce (app state, databases).
    Longhorn {
        size: String,
        mount_path: String,
    },
    /// A directory on the Synology through the `nfs` StorageClass, ReadWriteMany (libraries,
    /// bulk data); it lands in `<export>/<namespace>-<claim>`.
    Nfs {
        size: String,
        mount_path: String,
    },
}

impl Storage {
    pub fn kind(&self) -> &'static str {
        match self {
            Storage::None => "none",
            Storage::Longhorn { .. } => "longhorn",
            Storage::Nfs { .. } => "nfs",
        }
    }
}

/// Requests and limits of the app's container (a memory limit but no CPU limit by default, as
/// the tree's apps do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub cpu_request: String,
    pub memory_request: String,
    pub cpu_limit: Option<String>,
    pub memory_limit: Option<String>,
}

/// A secret value: wiped from memory when dropped, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(Zeroizing::new(value.into()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

/// One key of the app's Secret (an environment variable of the container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEntry {
    pub key: String,
    pub value: SecretValue,
}

/// The request as typed: every field text (empty = the default).
#[derive(Debug, Clone, Default)]
pub struct AppInput {
    pub name: String,
    pub category: String,
    pub image: String,
    pub chart_repo: String,
    pub chart: String,
    pub chart_version: String,
    pub values: String,
    pub service: String,
    pub port: String,
    pub hostname: String,
    pub exposure: String,
    pub storage: String,
    pub storage_size: String,
    pub mount_path: String,
    pub cpu_request: String,
    pub memory_request: String,
    pub cpu_limit: String,
    pub memory_limit: String,
    pub probe_path: String,
    pub secrets: Vec<SecretEntry>,
    pub runs_as_root: bool,
}

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRequest {
    pub name: String,
    pub category: Category,
    pub source: Source,
    pub port: u16,
    /// The whole hostname, under the zone of the chosen listener.
    pub hostname: String,
    pub exposure: Exposure,
    pub storage: Storage,
    pub resources: Resources,
    pub probe_path: String,
    pub secrets: Vec<SecretEntry>,
    pub runs_as_root: bool,
}

impl AppRequest {
    /// The app's namespace (its own, named after it).
    pub fn namespace(&self) -> &str {
        &self.name
    }
    /// `cluster/kubernetes/apps/<category>/<name>`.
    pub fn folder(&self) -> String {
        format!("{APPS_DIR}/{}/{}", self.category.as_str(), self.name)
    }
    /// The Service the route sends traffic to.
    pub fn service(&self) -> &str {
        match &self.source {
            Source::Helm { service, .. } => service,
            Source::Image { .. } => &self.name,
        }
    }
}

/// Where apps live.
pub const APPS_DIR: &str = "cluster/kubernetes/apps";

/// The defaults, shown by the form and used for every empty field.
pub mod defaults {
    pub const PORT: u16 = 8080;
    pub const EXPOSURE: &str = "internal";
    pub const STORAGE: &str = "none";
    pub const LONGHORN_SIZE: &str = "1Gi";
    pub const NFS_SIZE: &str = "100Gi";
    pub const LONGHORN_MOUNT: &str = "/config";
    pub const NFS_MOUNT: &str = "/data";
    pub const CPU_REQUEST: &str = "50m";
    pub const MEMORY_REQUEST: &str = "64Mi";
    pub const MEMORY_LIMIT: &str = "256Mi";
    pub const PROBE_PATH: &str = "/";
}

/// Names an app may not take: the system namespaces and what the platform already uses.
const RESERVED: &[&str] = &[
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "flux-system",
];

/// The problems found so far, each with its field.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn take<T>(&mut self, field: Field, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(message) => {
                self.0.push(FieldError { field, message });
                None
            }
        }
    }
}

/// Check every field; on success the typed request with defaults filled in, else every problem.
pub fn validate(input: &AppInput, facts: &TreeFacts) -> Result<AppRequest, Vec<FieldError>> {
    let mut e = Errors::default();
    let name = e.take(Field::Name, name(&input.name, facts));
    let category = e.take(Field::Category, category(&input.category));
    let source = source(input, &mut e);
    let port = e.take(Field::Port, port(&input.port));
    let mut exposure = e.take(Field::Exposure, exposure(&input.exposure));
    if let (Some(n), Some(c), Some(Exposure::Public)) = (&name, category, exposure)
        && e.take(Field::Exposure, public_allowed(n, c)).is_none()
    {
        exposure = None;
    }
    let hostname = match (&name, exposure) {
        (Some(n), Some(x)) => e.take(Field::Hostname, hostname(&input.hostname, n, x, facts)),
        _ => None,
    };
    let storage = e
        .take(Field::Storage, storage_kind(&input.storage))
        .and_then(|k| storage(k, input, &mut e));
    let resources = resources(input, &mut e);
    let probe_path = e.take(Field::ProbePath, probe_path(&input.probe_path));
    let secrets = e.take(Field::Secrets, secrets(&input.secrets));
    match (
        name, category, source, port, exposure, hostname, storage, resources, probe_path, secrets,
    ) {
        (
            Some(name),
            Some(category),
            Some(source),
            Some(port),
            Some(exposure),
            Some(hostname),
            Some(storage),
            Some(resources),
            Some(probe_path),
            Some(secrets),
        ) if e.0.is_empty() => Ok(AppRequest {
            name,
            category,
            source,
            port,
            hostname,
            exposure,
            storage,
            resources,
            probe_path,
            secrets,
            runs_as_root: input.runs_as_root,
        }),
        _ => Err(e.0),
    }
}

fn source(input: &AppInput, e: &mut Errors) -> Option<Source> {
    let has_image = !input.image.trim().is_empty();
    let has_chart = [&input.chart_repo, &input.chart, &input.chart_version]
        .iter()
        .any(|s| !s.trim().is_empty());
    match (has_image, has_chart) {
        (true, true) => e.take(
            Field::Source,
            Err("give either an image (--image) or a chart (--chart-repo, --chart, --chart-version), not both".into()),
        ),
        (false, false) => e.take(
            Field::Source,
            Err("nothing to run: give an image pinned by tag or digest (--image repo/app:1.2.3) or a Helm chart (--chart-repo, --chart, --chart-version)".into()),
        ),
        (true, false) => {
            let image = e.take(Field::Image, image(&input.image))?;
            Some(Source::Image { image })
        }
        (false, true) => {
            let repo = e.take(Field::ChartRepo, chart_repo(&input.chart_repo));
            let chart = e.take(Field::Chart, chart(&input.chart));
            let version = e.take(Field::ChartVersion, chart_version(&input.chart_version));
            let values = e.take(Field::Values, values(&input.values));
            let service = e.take(
                Field::Service,
                dns_label(or(&input.service, input.name.trim()), "service"),
            );
            Some(Source::Helm {
                repo: repo?,
                chart: chart?,
                version: version?,
                values: Some(values?).filter(|v| !v.is_empty()),
                service: service?,
            })
        }
    }
}

fn storage_kind(s: &str) -> Result<&'static str, String> {
    match s.trim() {
        "" | "none" => Ok("none"),
        "longhorn" => Ok("longhorn"),
        "nfs" => Ok("nfs"),
        other => Err(format!(
            "`{}` is not a storage choice: none, longhorn (block, ReadWriteOnce: app state, databases) or nfs (the Synology, ReadWriteMany: libraries, bulk data); the Stage 1 memo (5) allows no other",
            crate::domain::printable::sanitize(other)
        )),
    }
}

fn storage(kind: &str, input: &AppInput, e: &mut Errors) -> Option<Storage> {
    if kind == "none" {
        let mut ok = true;
        for (field, text) in [
            (Field::StorageSize, &input.storage_size),
            (Field::MountPath, &input.mount_path),
        ] {
            if !text.trim().is_empty() {
                ok = false;
                e.take::<()>(
                    field,
                    Err(format!(
                        "is set but --storage is none: choose --storage longhorn or nfs, or leave {} out",
                        field.flag()
                    )),
                );
            }
        }
        return ok.then_some(Storage::None);
    }
    let (def_size, def_mount) = if kind == "longhorn" {
        (defaults::LONGHORN_SIZE, defaults::LONGHORN_MOUNT)
    } else {
        (defaults::NFS_SIZE, defaults::NFS_MOUNT)
    };
    let size = e.take(Field::StorageSize, size(or(&input.storage_size, def_size)));
    let mount = e.take(
        Field::MountPath,
        mount_path(or(&input.mount_path, def_mount)),
    );
    let (size, mount_path) = (size?, mount?);
    Some(if kind == "longhorn" {
        Storage::Longhorn { size, mount_path }
    } else {
        Storage::Nfs { size, mount_path }
    })
}

fn resources(input: &AppInput, e: &mut Errors) -> Option<Resources> {
    let cpu_request = e.take(
        Field::CpuRequest,
        cpu(or(&input.cpu_request, defaults::CPU_REQUEST)),
    );
    let memory_request = e.take(
        Field::MemoryRequest,
        memory(or(&input.memory_request, defaults::MEMORY_REQUEST)),
    );
    let cpu_limit = if input.cpu_limit.trim().is_empty() {
        Some(None)
    } else {
        e.take(Field::CpuLimit, cpu(&input.cpu_limit)).map(Some)
    };
    let memory_limit = e.take(
        Field::MemoryLimit,
        memory(or(&input.memory_limit, defaults::MEMORY_LIMIT)),
    );
    let r = Resources {
        cpu_request: cpu_request?,
        memory_request: memory_request?,
        cpu_limit: cpu_limit?,
        memory_limit: Some(memory_limit?),
    };
    let below = |limit: Option<u64>, request: Option<u64>| matches!((limit, request), (Some(l), Some(q)) if l < q);
    if below(
        r.cpu_limit.as_deref().and_then(cpu_millis),
        cpu_millis(&r.cpu_request),
    ) {
        return e.take(
            Field::CpuLimit,
            Err(format!(
                "`{}` is below the request `{}`: Kubernetes rejects a limit under its request",
                r.cpu_limit.as_deref().unwrap_or(""),
                r.cpu_request
            )),
        );
    }
    if below(
        r.memory_limit.as_deref().and_then(memory_bytes),
        memory_bytes(&r.memory_request),
    ) {
        return e.take(
            Field::MemoryLimit,
            Err(format!(
                "`{}` is below the request `{}`: Kubernetes rejects a limit under its request",
                r.memory_limit.as_deref().unwrap_or(""),
                r.memory_request
            )),
        );
    }
    Some(r)
}

fn or<'a>(text: &'a str, default: &'a str) -> &'a str {
    let t = text.trim();
    if t.is_empty() { default } else { t }
}

/// A DNS-1035 label (what Service and namespace names accept): lowercase letters, digits and
/// `-`, starting with a letter, ending with a letter or digit, at most 63 characters.
fn dns_label(s: &str, what: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(s.to_string())
    } else if s.is_empty() {
        Err(format!("the {what} name is empty"))
    } else {
        Err(format!(
            "`{}` is not a DNS-safe {what} name: lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters",
            crate::domain::printable::sanitize(s)
        ))
    }
}

/// The app's name: DNS-safe, not reserved, not taken anywhere in the tree.
pub fn name(s: &str, facts: &TreeFacts) -> Result<String, String> {
    let n = dns_label(s.trim(), "app")?;
    if RESERVED.contains(&n.as_str()) || n.starts_with("kube-") {
        return Err(format!("`{n}` is a system namespace; choose another name"));
    }
    if let Some(at) = facts.taken.get(&n) {
        return Err(format!(
            "`{n}` is already taken in the tree ({at}); choose another name"
        ));
    }
    Ok(n)
}

pub fn category(s: &str) -> Result<Category, String> {
    let t = s.trim();
    Category::ALL
        .into_iter()
        .find(|c| c.as_str() == t)
        .ok_or_else(|| {
            if t.is_empty() {
                "no category: media, tools, games or demos (the memo's app groups)".to_string()
            } else {
                format!(
                    "`{}` is not a category: media, tools, games or demos (the memo's app groups)",
                    crate::domain::printable::sanitize(t)
                )
            }
        })
}

fn no_space(s: &str, what: &str) -> Result<(), String> {
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'')
    {
        Err(format!(
            "{what} may not contain spaces, quotes or control characters"
        ))
    } else {
        Ok(())
    }
}

/// An image pinned by a version tag or a digest (the `pinning/image` rule).
pub fn image(s: &str) -> Result<String, String> {
    let t = s.trim();
    no_space(t, "the image")?;
    if t.len() > 512 {
        return Err("the image reference is longer than 512 characters".into());
    }
    if let Some(why) = crate::repo::check::unpinned(t) {
        return Err(format!(
            "`{t}` {why}: pin a version tag (repo/app:1.2.3) or a digest (repo/app@sha256:...) so git says what runs"
        ));
    }
    if t.starts_with(['/', ':', '@', '-']) || t.contains("//") {
        return Err(format!(
            "`{t}` is not an image reference (registry/path/name:tag)"
        ));
    }
    Ok(t.to_string())
}

pub fn chart_repo(s: &str) -> Result<ChartRepo, String> {
    let t = s.trim().trim_end_matches('/');
    no_space(t, "the chart repository")?;
    if t.is_empty() {
        return Err(
            "no chart repository: an https:// Helm repository URL or an oci:// registry path"
                .into(),
        );
    }
    if let Some(rest) = t.strip_prefix("oci://") {
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!("`{t}` names no registry (oci://registry/path)"));
        }
        return Ok(ChartRepo::Oci(t.to_string()));
    }
    if let Some(rest) = t.strip_prefix("https://") {
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty() {
            return Err(format!("`{t}` names no host"));
        }
        return Ok(ChartRepo::Https(t.to_string()));
    }
    if t.starts_with("http://") {
        return Err(format!(
            "`{t}` is plain HTTP: chart sources are fetched over https:// (or oci://)"
        ));
    }
    Err(format!(
        "`{}` is neither an https:// Helm repository nor an oci:// registry path",
        crate::domain::printable::sanitize(t)
    ))
}

pub fn chart(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("no chart name".into());
    }
    let ok = t.len() <= 63
        && t.starts_with(|c: char| c.is_ascii_alphanumeric())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(t.to_string())
    } else {
        Err(format!(
            "`{}` is not a chart name: letters, digits, '-', '_' and '.', at most 63 characters",
            crate::domain::printable::sanitize(t)
        ))
    }
}

/// An exact chart version (the `pinning/chart-version` rule).
pub fn chart_version(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("no chart version: pin an exact one such as 1.2.3 (Flux would otherwise take the newest)".into());
    }
    if crate::repo::check::exact_version(t) {
        Ok(t.to_string())
    } else {
        Err(format!(
            "`{}` is not an exact version: pin one such as 1.2.3 (no ranges, `*`, `x`, `^`, `~`)",
            crate::domain::printable::sanitize(t)
        ))
    }
}

/// Chart values: one YAML mapping (comments kept as written), or nothing.
pub fn values(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Ok(String::new());
    }
    if s.len() > 256 * 1024 {
        return Err("the values are larger than 256 KiB".into());
    }
    if s.lines()
        .any(|l| l.trim_end() == "---" || l.starts_with("--- "))
    {
        return Err("the values hold more than one YAML document (`---`); give one mapping".into());
    }
    if s.lines()
        .any(|l| l.starts_with("...") || l.starts_with('%'))
    {
        return Err("the values hold a YAML document marker (`...`) or directive (`%`); give the mapping only".into());
    }
    if s.contains('\t') {
        return Err("the values contain a tab: YAML indents with spaces".into());
    }
    match serde_yaml::from_str::<serde_yaml::Value>(s) {
        Ok(serde_yaml::Value::Mapping(_)) => Ok(s.trim_end().to_string() + "\n"),
        Ok(_) => Err("the values are not a YAML mapping (key: value)".into()),
        Err(e) => Err(format!("the values are not valid YAML: {e}")),
    }
}

pub fn port(s: &str) -> Result<u16, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(defaults::PORT);
    }
    match t.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!(
            "`{}` is not a port: a number from 1 to 65535",
            crate::domain::printable::sanitize(t)
        )),
    }
}

pub fn exposure(s: &str) -> Result<Exposure, String> {
    match or(s, defaults::EXPOSURE) {
        "internal" => Ok(Exposure::Internal),
        "public" => Ok(Exposure::Public),
        other => Err(format!(
            "`{}` is not an exposure: internal (LAN and tailnet) or public (through the Cloudflare Tunnel)",
            crate::domain::printable::sanitize(other)
        )),
    }
}

/// Public exposure only where the Stage 1 memo allows it (8.1: the media apps Jellyfin,
/// Jellyseer(r) and Navidrome; 7.2: public exposure is allowlist-based).
pub fn public_allowed(name: &str, category: Category) -> Result<String, String> {
    if category == Category::Media && PUBLIC_APPS.contains(&name) {
        return Ok(String::new());
    }
    Err(format!(
        "public exposure is refused for `{name}`: the Stage 1 memo (8.1) allows only Jellyfin, Jellyseerr and Navidrome in media to be public through Cloudflare + Gateway API, and public exposure is allowlist-based (7.2). Use --exposure internal (LAN and tailnet); widening the allowlist needs a change to the memo first"
    ))
}

/// The hostname: a bare label gets the listener's zone; a whole name must be under it.
pub fn hostname(
    s: &str,
    name: &str,
    exposure: Exposure,
    facts: &TreeFacts,
) -> Result<String, String> {
    let zone = match exposure {
        Exposure::Internal => &facts.internal_zone,
        Exposure::Public => &facts.public_zone,
    };
    let t = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let host = if t.is_empty() {
        format!("{name}.{zone}")
    } else if t.contains('.') {
        t
    } else {
        format!("{t}.{zone}")
    };
    let Some(label) = host.strip_suffix(&format!(".{zone}")) else {
        return Err(format!(
            "`{}` is not under {zone}, the zone of the Gateway's {} listener; use <label>.{zone} or just the label",
            crate::domain::printable::sanitize(&host),
            exposure.as_str()
        ));
    };
    if label.contains('.') {
        return Err(format!(
            "`{host}` is more than one level under {zone}: the listener's certificate is *.{zone}, which covers one label only"
        ));
    }
    dns_label(label, "host")
        .map_err(|m| m.replace("DNS-safe host name", "DNS-safe hostname label"))?;
    Ok(host)
}

/// A storage size: a whole number with a binary suffix (Mi, Gi, Ti), above zero.
pub fn size(s: &str) -> Result<String, String> {
    let t = s.trim();
    let num = ["Mi", "Gi", "Ti"]
        .iter()
        .find_map(|suf| t.strip_suffix(suf));
    match num.and_then(|n| n.parse::<u32>().ok()) {
        Some(n) if n > 0 && num.is_some_and(|n| !n.starts_with('+')) => Ok(t.to_string()),
        _ => Err(format!(
            "`{}` is not a size: a whole number with Mi, Gi or Ti, such as 10Gi",
            crate::domain::printable::sanitize(t)
        )),
    }
}

pub fn mount_path(s: &str) -> Result<String, String> {
    let t = s.trim();
    no_space(t, "the mount path")?;
    if !t.starts_with('/') || t == "/" || t.contains("..") || t.len() > 256 || t.contains(':') {
        return Err(format!(
            "`{}` is not a mount path: an absolute folder other than / (such as /config), without `..` or `:`",
            crate::domain::printable::sanitize(t)
        ));
    }
    Ok(t.to_string())
}

/// Millicores of a CPU quantity (`100m`, `0.5`, `2`).
fn cpu_millis(s: &str) -> Option<u64> {
    if let Some(m) = s.strip_suffix('m') {
        return m.parse::<u64>().ok().filter(|_| !m.starts_with('+'));
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 3 || whole.starts_with('+') {
        return None;
    }
    let w: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let f: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}").parse().ok()?
    };
    w.checked_mul(1000)?.checked_add(f)
}

/// Bytes of a memory quantity with a binary suffix (`64Mi`, `1Gi`).
fn memory_bytes(s: &str) -> Option<u64> {
    let (num, mult) = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
    ]
    .iter()
    .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n, *m)))?;
    if num.starts_with('+') {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mult)
}

pub fn cpu(s: &str) -> Result<String, String> {
    let t = s.trim();
    match cpu_millis(t) {
        Some(m) if m > 0 => Ok(t.to_string()),
        _ => Err(format!(
            "`{}` is not a CPU quantity: millicores such as 100m, or cores such as 0.5 or 2",
            crate::domain::printable::sanitize(t)
        )),
    }
}

pub fn memory(s: &str) -> Result<String, String> {
    let t = s.trim();
    match memory_bytes(t) {
        Some(b) if b > 0 => Ok(t.to_string()),
        _ => Err(format!(
            "`{}` is not a memory quantity: a whole number with Ki, Mi, Gi or Ti, such as 256Mi",
            crate::domain::printable::sanitize(t)
        )),
    }
}

pub fn probe_path(s: &str) -> Result<String, String> {
    let t = or(s, defaults::PROBE_PATH);
    no_space(t, "the probe path")?;
    if !t.starts_with('/') || t.len() > 1024 {
        return Err(format!(
            "`{}` is not an HTTP path: it starts with / (such as /healthz)",
            crate::domain::printable::sanitize(t)
        ));
    }
    Ok(t.to_string())
}

/// Secret keys are environment variable names; each has a value; no key twice.
pub fn secrets(entries: &[SecretEntry]) -> Result<Vec<SecretEntry>, String> {
    let mut seen = std::collections::BTreeSet::new();
    for e in entries {
        let k = e.key.as_str();
        let ok = !k.is_empty()
            && k.len() <= 128
            && k.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
            && k.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(format!(
                "`{}` is not a secret key: an environment variable name in capitals (A-Z, 0-9, _), such as API_TOKEN",
                crate::domain::printable::sanitize(k)
            ));
        }
        if !seen.insert(k) {
            return Err(format!("the key `{k}` is given twice"));
        }
        if e.value.is_empty() {
            return Err(format!("the key `{k}` has an empty value"));
        }
    }
    Ok(entries.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> TreeFacts {
        TreeFacts {
            internal_zone: "funoffshore.internal".into(),
            public_zone: "funoffshore.com".into(),
            taken: [(
                "podinfo".to_string(),
                "the app folder cluster/kubernetes/apps/demos/podinfo".to_string(),
            )]
            .into_iter()
            .collect(),
            flux_groups: Default::default(),
        }
    }

    fn input() -> AppInput {
        AppInput {
            name: "whoami".into(),
            category: "demos".into(),
            image: "traefik/whoami:v1.11.0".into(),
            ..AppInput::default()
        }
    }

    fn only_error(i: &AppInput) -> FieldError {
        let errs = validate(i, &facts()).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        errs.into_iter().next().unwrap()
    }

    #[test]
    fn defaults_fill_every_empty_field() {
        let r = validate(&input(), &facts()).unwrap();
        assert_eq!(r.port, defaults::PORT);
        assert_eq!(r.exposure, Exposure::Internal);
        assert_eq!(r.hostname, "whoami.funoffshore.internal");
        assert_eq!(r.storage, Storage::None);
        assert_eq!(r.probe_path, "/");
        assert_eq!(
            r.resources,
            Resources {
                cpu_request: "50m".into(),
                memory_request: "64Mi".into(),
                cpu_limit: None,
                memory_limit: Some("256Mi".into()),
            }
        );
        assert_eq!(r.folder(), "cluster/kubernetes/apps/demos/whoami");
        let mut i = input();
        i.storage = "nfs".into();
        let r = validate(&i, &facts()).unwrap();
        assert_eq!(
            r.storage,
            Storage::Nfs {
                size: "100Gi".into(),
                mount_path: "/data".into()
            }
        );
    }

    #[test]
    fn each_invalid_field_names_itself_with_its_message() {
        type Case = (fn(&mut AppInput), Field, &'static str);
        let cases: &[Case] = &[
            (
                |i| i.name = "Web_App".into(),
                Field::Name,
                "`Web_App` is not a DNS-safe app name",
            ),
            (
                |i| i.name = "podinfo".into(),
                Field::Name,
                "`podinfo` is already taken in the tree (the app folder cluster/kubernetes/apps/demos/podinfo)",
            ),
            (
                |i| i.name = "kube-system".into(),
                Field::Name,
                "`kube-system` is a system namespace",
            ),
            (
                |i| i.category = "misc".into(),
                Field::Category,
                "`misc` is not a category: media, tools, games or demos",
            ),
            (
                |i| i.image = "nginx".into(),
                Field::Image,
                "`nginx` has no tag (that means latest)",
            ),
            (
                |i| i.image = "nginx:latest".into(),
                Field::Image,
                "uses the mutable tag latest",
            ),
            (
                |i| i.chart = "x".into(),
                Field::Source,
                "give either an image (--image) or a chart",
            ),
            (|i| i.image.clear(), Field::Source, "nothing to run"),
            (
                |i| i.port = "70000".into(),
                Field::Port,
                "`70000` is not a port: a number from 1 to 65535",
            ),
            (
                |i| i.exposure = "world".into(),
                Field::Exposure,
                "`world` is not an exposure",
            ),
            (
                |i| i.exposure = "public".into(),
                Field::Exposure,
                "public exposure is refused for `whoami`: the Stage 1 memo (8.1) allows only Jellyfin, Jellyseerr and Navidrome",
            ),
            (
                |i| i.hostname = "whoami.example.org".into(),
                Field::Hostname,
                "`whoami.example.org` is not under funoffshore.internal",
            ),
            (
                |i| i.hostname = "a.b.funoffshore.internal".into(),
                Field::Hostname,
                "more than one level under funoffshore.internal",
            ),
            (
                |i| i.storage = "ceph".into(),
                Field::Storage,
                "`ceph` is not a storage choice",
            ),
            (
                |i| {
                    i.storage = "longhorn".into();
                    i.storage_size = "10GB".into()
                },
                Field::StorageSize,
                "`10GB` is not a size",
            ),
            (
                |i| {
                    i.storage = "nfs".into();
                    i.mount_path = "data".into()
                },
                Field::MountPath,
                "`data` is not a mount path",
            ),
            (
                |i| i.storage_size = "1Gi".into(),
                Field::StorageSize,
                "is set but --storage is none",
            ),
            (
                |i| i.cpu_request = "fast".into(),
                Field::CpuRequest,
                "`fast` is not a CPU quantity",
            ),
            (
                |i| i.memory_request = "64MB".into(),
                Field::MemoryRequest,
                "`64MB` is not a memory quantity",
            ),
            (
                |i| i.memory_limit = "32Mi".into(),
                Field::MemoryLimit,
                "`32Mi` is below the request `64Mi`",
            ),
            (
                |i| i.cpu_limit = "10m".into(),
                Field::CpuLimit,
                "`10m` is below the request `50m`",
            ),
            (
                |i| i.probe_path = "healthz".into(),
                Field::ProbePath,
                "`healthz` is not an HTTP path",
            ),
            (
                |i| {
                    i.secrets = vec![SecretEntry {
                        key: "api-token".into(),
                        value: SecretValue::new("x"),
                    }]
                },
                Field::Secrets,
                "`api-token` is not a secret key",
            ),
            (
                |i| {
                    i.secrets = vec![SecretEntry {
                        key: "TOKEN".into(),
                        value: SecretValue::new(""),
                    }]
                },
                Field::Secrets,
                "the key `TOKEN` has an empty value",
            ),
            (
                |i| {
                    i.image.clear();
                    i.chart_repo = "https://charts.example.org".into();
                    i.chart = "app".into();
                    i.chart_version = "^1.0".into()
                },
                Field::ChartVersion,
                "`^1.0` is not an exact version",
            ),
            (
                |i| {
                    i.image.clear();
                    i.chart_repo = "http://charts.example.org".into();
                    i.chart = "app".into();
                    i.chart_version = "1.0.0".into()
                },
                Field::ChartRepo,
                "is plain HTTP",
            ),
            (
                |i| {
                    i.image.clear();
                    i.chart_repo = "https://charts.example.org".into();
                    i.chart = "app".into();
                    i.chart_version = "1.0.0".into();
                    i.values = "- a\n- b\n".into()
                },
                Field::Values,
                "the values are not a YAML mapping",
            ),
            (
                |i| {
                    i.image.clear();
                    i.chart_repo = "https://charts.example.org".into();
                    i.chart = "app".into();
                    i.chart_version = "1.0.0".into();
                    i.values = "a: 1\n...\n".into()
                },
                Field::Values,
                "a YAML document marker",
            ),
        ];
        for (edit, field, message) in cases {
            let mut i = input();
            edit(&mut i);
            let e = only_error(&i);
            assert_eq!(e.field, *field, "{e}");
            assert!(e.message.contains(message), "{e}\n  wanted: {message}");
        }
    }

    #[test]
    fn public_is_allowed_only_for_the_memo_media_apps() {
        let mut i = input();
        i.name = "navidrome".into();
        i.exposure = "public".into();
        let e = only_error(&i);
        assert_eq!(e.field, Field::Exposure, "navidrome outside media: {e}");
        i.category = "media".into();
        let r = validate(&i, &facts()).unwrap();
        assert_eq!(r.hostname, "navidrome.funoffshore.com");
    }

    #[test]
    fn secret_values_never_print() {
        let v = SecretValue::new("hunter2");
        assert_eq!(format!("{v:?}"), "SecretValue(***)");
        let e = SecretEntry {
            key: "K".into(),
            value: v,
        };
        assert!(!format!("{e:?}").contains("hunter2"));
    }
}
