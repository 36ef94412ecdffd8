//! Server-side apply of multi-document YAML as field manager `homelab`, the way
//! `kubectl apply --server-side` does it: every kind resolved through discovery (cached; run
//! again once the CRDs of the same batch are Established, so a CRD and its custom resources
//! apply in one call), CRDs then Namespaces first, namespaced objects in their namespace.
//! A conflict with another field manager is a typed error naming the managers and fields;
//! `force` is only for after the operator confirmed taking them over.

use super::discovery::{Resolved, Resolver};
use super::wait;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// The field manager every homelab write uses.
pub const MANAGER: &str = "homelab";
/// Documents in one batch, and bytes of one batch: bounds against a runaway input.
pub const MAX_DOCS: usize = 5_000;
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// How long a CRD of the batch may take to become Established.
pub const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// One parsed document.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `file.yaml document 3` (1-based).
    pub origin: String,
    pub gvk: GroupVersionKind,
    pub name: String,
    /// From the document, or the batch default for namespaced kinds.
    pub namespace: Option<String>,
    pub body: Value,
}

impl Manifest {
    fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.gvk.kind, self.name),
            None => format!("{} {}", self.gvk.kind, self.name),
        }
    }

    fn is_crd(&self) -> bool {
        self.gvk.group == "apiextensions.k8s.io" && self.gvk.kind == "CustomResourceDefinition"
    }

    fn rank(&self) -> u8 {
        match (
            self.is_crd(),
            self.gvk.group.is_empty() && self.gvk.kind == "Namespace",
        ) {
            (true, _) => 0,
            (_, true) => 1,
            _ => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub outcome: Outcome,
}

/// One field another manager owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// The other manager, as the server names it (`"kubectl"`, or with operation and time).
    pub manager: String,
    /// `.data.color`
    pub field: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: {kind} ({api_version}) is not served by this cluster; apply its CRD first")]
    Unknown {
        origin: String,
        kind: String,
        api_version: String,
    },
    #[error(
        "{object}: fields owned by another manager: {}; apply again with force to take them over (after the operator confirms)",
        conflicts.iter().map(|c| format!("{} owns {}", c.manager, c.field)).collect::<Vec<_>>().join(", ")
    )]
    Conflict {
        object: String,
        conflicts: Vec<FieldConflict>,
    },
    #[error("{object}: {message}")]
    Api { object: String, message: String },
    #[error("{0}")]
    Wait(#[from] wait::WaitError),
}

fn parse_err(origin: &str, message: impl Into<String>) -> ApplyError {
    ApplyError::Parse {
        origin: origin.into(),
        message: message.into(),
    }
}

/// Split `text` (from `source`) into documents; empty documents are skipped. Namespaced objects
/// without a namespace get `default_namespace` later, once their scope is known.
pub fn parse(source: &str, text: &str) -> Result<Vec<Manifest>, ApplyError> {
    if text.len() > MAX_BYTES {
        return Err(parse_err(source, format!("larger than {MAX_BYTES} bytes")));
    }
    let mut out = vec![];
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let origin = format!("{source} document {}", i + 1);
        if i >= MAX_DOCS {
            return Err(parse_err(
                &origin,
                format!("more than {MAX_DOCS} documents"),
            ));
        }
        let body = Value::deserialize(doc).map_err(|e| parse_err(&origin, e.to_string()))?;
        if body.is_null() {
            continue;
        }
        let field = |p: &str| {
            body.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (api_version, kind, name) = (
            field("/apiVersion"),
            field("/kind"),
            field("/metadata/name"),
        );
        for (v, what) in [
            (&api_version, "apiVersion"),
            (&kind, "kind"),
            (&name, "metadata.name"),
        ] {
            if v.is_empty() {
                return Err(parse_err(&origin, format!("{what} is missing")));
            }
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.clone()),
        };
        let namespace = Some(field("/metadata/namespace")).filter(|s| !s.is_empty());
        out.push(Manifest {
            origin,
            gvk: GroupVersionKind::gvk(&group, &version, &kind),
            name,
            namespace,
            body,
        });
    }
    Ok(out)
}

/// How [`apply`] runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Take over fields other managers own. Only after the operator confirmed.
    pub force: bool,
    /// Ask the server what would happen (`dryRun=All`); nothing is written.
    pub dry_run: bool,
    /// For namespaced objects that name none.
    pub default_namespace: String,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            force: false,
            dry_run: false,
            default_namespace: "default".into(),
        }
    }
}

/// The conflicts of a 409 apply answer, from its `details.causes`.
pub fn conflicts_of(status: &kube::core::Status) -> Vec<FieldConflict> {
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or(&[]);
    causes
        .iter()
        .filter(|c| c.reason == "FieldManagerConflict")
        .map(|c| FieldConflict {
            manager: c
                .message
                .strip_prefix("conflict with ")
                .unwrap_or(&c.message)
                .to_string(),
            field: c.field.clone(),
        })
        .collect()
}

/// Everything but what the server changes on every write, to tell a dry run's "unchanged".
fn content(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    v
}

fn api_for(client: &Client, res: &Resolved, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) if res.namespaced => Api::namespaced_with(client.clone(), ns, &res.resource),
        _ => Api::all_with(client.clone(), &res.resource),
    }
}

async fn apply_one(
    client: &Client,
    res: &Resolved,
    m: &Manifest,
    opts: &ApplyOptions,
) -> Result<Applied, ApplyError> {
    let object = m.label();
    let api = api_for(client, res, m.namespace.as_deref());
    let api_err = |e: kube::Error| ApplyError::Api {
        object: object.clone(),
        message: e.to_string(),
    };
    let before = api.get_opt(&m.name).await.map_err(api_err)?;
    let mut params = PatchParams::apply(MANAGER);
    params.force = opts.force;
    params.dry_run = opts.dry_run;
    let mut body = m.body.clone();
    if let (Some(ns), true) = (&m.namespace, res.namespaced) {
        body["metadata"]["namespace"] = Value::String(ns.clone());
    }
    let after = match api.patch(&m.name, &params, &Patch::Apply(&body)).await {
        Ok(o) => o,
        Err(kube::Error::Api(s)) if s.code == 409 && !conflicts_of(&s).is_empty() => {
            return Err(ApplyError::Conflict {
                object,
                conflicts: conflicts_of(&s),
            });
        }
        Err(e) => return Err(api_err(e)),
    };
    let outcome = match before {
        None => Outcome::Created,
        Some(b) if opts.dry_run => {
            let (b, a) = (serde_json::to_value(&b), serde_json::to_value(&after));
            match (b, a) {
                (Ok(b), Ok(a)) if content(&b) == content(&a) => Outcome::Unchanged,
                _ => Outcome::Configured,
            }
        }
        Some(b) if b.metadata.resource_version == after.metadata.resource_version => {
            Outcome::Unchanged
        }
        Some(_) => Outcome::Configured,
    };
    Ok(Applied {
        kind: m.gvk.kind.clone(),
        namespace: m.namespace.clone().filter(|_| res.namespaced),
        name: m.name.clone(),
        outcome,
    })
}

/// Apply `manifests` in order: CRDs, Namespaces, then the rest as given. After the CRDs (when
/// not a dry run) each is awaited until Established and discovery runs again. Stops at the first
/// error; what was applied before it stays applied.
pub async fn apply(
    client: &Client,
    resolver: &mut Resolver,
    manifests: &[Manifest],
    opts: &ApplyOptions,
) -> Result<Vec<Applied>, ApplyError> {
    let mut ordered: Vec<Manifest> = manifests.to_vec();
    ordered.sort_by_key(Manifest::rank);
    let mut out = vec![];
    let mut crds_pending = ordered.iter().any(Manifest::is_crd);
    for mut m in ordered {
        if crds_pending && !m.is_crd() {
            crds_pending = false;
            if !opts.dry_run {
                establish(client, resolver, &out).await?;
            }
        }
        let resolved = resolver
            .resolve(&m.gvk)
            .await
            .map_err(|message| ApplyError::Api {
                object: m.label(),
                message,
            })?;
        let Some(res) = resolved else {
            return Err(ApplyError::Unknown {
                origin: m.origin.clone(),
                kind: m.gvk.kind.clone(),
                api_version: m.gvk.api_version(),
            });
        };
        if res.namespaced && m.namespace.is_none() {
            m.namespace = Some(opts.default_namespace.clone());
        }
        out.push(apply_one(client, &res, &m, opts).await?);
    }
    Ok(out)
}

/// Wait for every CRD applied so far to be Established, then run discovery again.
async fn establish(
    client: &Client,
    resolver: &mut Resolver,
    applied: &[Applied],
) -> Result<(), ApplyError> {
    let gvk = GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    let res = resolver
        .resolve(&gvk)
        .await
        .map_err(|message| ApplyError::Api {
            object: "CustomResourceDefinition".into(),
            message,
        })?
        .ok_or_else(|| ApplyError::Api {
            object: "CustomResourceDefinition".into(),
            message: "apiextensions.k8s.io/v1 is not served".into(),
        })?;
    for crd in applied
        .iter()
        .filter(|a| a.kind == "CustomResourceDefinition")
    {
        wait::wait_ready(
            client,
            &res,
            None,
            &crd.name,
            ESTABLISH_TIMEOUT,
            &mut |_| {},
        )
        .await?;
    }
    resolver.refresh().await.map_err(|message| ApplyError::Api {
        object: "discovery".into(),
        message,
    })
}
