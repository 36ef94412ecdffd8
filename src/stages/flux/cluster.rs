//! The Flux stage's writes to the cluster: server-side apply of a file's objects as `homelab`
//! (`backends::kube::apply`), the dry run that tells whether they already hold, the wait for
//! the install's controllers, and reading a Secret's key back.

use crate::backends::kube::apply::{self, ApplyError, ApplyOptions, Outcome};
use crate::backends::kube::discovery::Resolver;
use crate::backends::kube::wait;
use crate::stages::engine::{Holds, StageError, StageResult};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;
use kube::core::GroupVersionKind;
use std::path::Path;
use std::time::Duration;
use zeroize::Zeroizing;

/// A client for `context` of `kubeconfig`, with the error the stage shows.
pub async fn connect(kubeconfig: &Path, context: &str) -> StageResult<Client> {
    crate::backends::kube::client::client_for(kubeconfig, context)
        .await
        .map_err(|e| {
            StageError::new(e).with_hint(
                "run the k3s stage first (it merges the cluster's context into the kubeconfig)",
            )
        })
}

/// The preflight check every cluster stage opens with: the API server of `context` answers,
/// and with which Kubernetes version.
pub async fn reachable(kubeconfig: &Path, context: &str) -> crate::stages::engine::Check {
    use crate::stages::engine::Check;
    const ID: &str = "cluster/reachable";
    const TITLE: &str = "Cluster reachable";
    match connect(kubeconfig, context).await {
        Ok(client) => match client.apiserver_version().await {
            Ok(v) => Check::pass(
                ID,
                TITLE,
                format!("Kubernetes {}.{} (context {context})", v.major, v.minor),
            ),
            Err(e) => Check::fail(
                ID,
                TITLE,
                format!("context {context}: {e}"),
                "run the k3s stage first, or check the cluster's API address",
            ),
        },
        Err(e) => Check::fail(ID, TITLE, e.message, e.hint.unwrap_or_default()),
    }
}

fn apply_err(e: ApplyError) -> StageError {
    let hint = match &e {
        ApplyError::Conflict { .. } => Some(
            "another manager owns these fields; change them back with that tool, or remove \
             its managed fields, then run the stage again",
        ),
        ApplyError::Unknown { .. } => {
            Some("the Flux CRDs come from flux-install.yaml: apply it first")
        }
        _ => None,
    };
    let err = StageError::new(e.to_string());
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// Apply every object of `text` (`source` names it in errors). Returns one line per object:
/// `Kind ns/name created|configured|unchanged`.
pub async fn apply_text(client: &Client, source: &str, text: &str) -> StageResult<Vec<String>> {
    let manifests = apply::parse(source, text).map_err(apply_err)?;
    let mut resolver = Resolver::new(client.clone());
    let opts = ApplyOptions {
        default_namespace: "flux-system".into(),
        ..Default::default()
    };
    let applied = apply::apply(client, &mut resolver, &manifests, &opts)
        .await
        .map_err(apply_err)?;
    Ok(applied
        .iter()
        .map(|a| match &a.namespace {
            Some(ns) => format!("{} {ns}/{} {}", a.kind, a.name, a.outcome.as_str()),
            None => format!("{} {} {}", a.kind, a.name, a.outcome.as_str()),
        })
        .collect())
}

/// Whether every object of `text` is in the cluster as the file has it (a server-side dry run
/// that changes nothing).
pub async fn holds(client: &Client, source: &str, text: &str) -> StageResult<Holds> {
    let manifests = apply::parse(source, text).map_err(apply_err)?;
    let mut resolver = Resolver::new(client.clone());
    let opts = ApplyOptions {
        dry_run: true,
        default_namespace: "flux-system".into(),
        ..Default::default()
    };
    match apply::apply(client, &mut resolver, &manifests, &opts).await {
        Ok(applied) => {
            let differ: Vec<String> = applied
                .iter()
                .filter(|a| a.outcome != Outcome::Unchanged)
                .map(|a| format!("{} {} {}", a.kind, a.name, a.outcome.as_str()))
                .collect();
            Ok(if differ.is_empty() {
                Holds::Yes(format!("{} objects of {source} are applied", applied.len()))
            } else {
                Holds::No(format!("{source}: would be {}", differ.join(", ")))
            })
        }
        Err(ApplyError::Unknown { kind, .. }) => Ok(Holds::No(format!(
            "{source}: {kind} is not served yet (the Flux CRDs are not installed)"
        ))),
        // A dry run does not create the batch's namespace: what goes in it is "not found".
        Err(ApplyError::Api { object, message }) if message.contains("NotFound") => Ok(Holds::No(
            format!("{source}: {object} cannot be created before its namespace"),
        )),
        Err(e) => Err(apply_err(e)),
    }
}

/// Wait until every Deployment of `text` (the install manifest's controllers) is Available.
pub async fn wait_controllers(
    client: &Client,
    text: &str,
    timeout: Duration,
    on_line: &mut (dyn FnMut(String) + Send),
) -> StageResult<()> {
    let manifests = apply::parse("flux-install.yaml", text).map_err(apply_err)?;
    let mut resolver = Resolver::new(client.clone());
    let gvk = GroupVersionKind::gvk("apps", "v1", "Deployment");
    let Some(res) = resolver.resolve(&gvk).await.map_err(StageError::new)? else {
        return Err(StageError::new(
            "apps/v1 Deployments are not served by this cluster",
        ));
    };
    for m in manifests.iter().filter(|m| m.gvk == gvk) {
        let ns = m.namespace.as_deref().unwrap_or("flux-system");
        let what = format!("Deployment {ns}/{}", m.name);
        let mut report = |r: &wait::Readiness| {
            on_line(format!(
                "{what}: {} {}: {}",
                r.condition, r.reason, r.message
            ))
        };
        wait::wait_ready(client, &res, Some(ns), &m.name, timeout, &mut report)
            .await
            .map_err(|e| {
                StageError::new(e.to_string()).with_hint(format!(
                    "look at its pods: kubectl -n {ns} describe deployment {}",
                    m.name
                ))
            })?;
        on_line(format!("{what}: Available"));
    }
    Ok(())
}

/// The decoded value of `key` in Secret `ns/name` (`None`: no such Secret or key).
pub async fn secret_value(
    client: &Client,
    ns: &str,
    name: &str,
    key: &str,
) -> StageResult<Option<Zeroizing<String>>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = api
        .get_opt(name)
        .await
        .map_err(|e| StageError::new(format!("reading Secret {ns}/{name}: {e}")))?;
    let Some(secret) = secret else {
        return Ok(None);
    };
    let from_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| Zeroizing::new(String::from_utf8_lossy(&b.0).into_owned()));
    let from_string = secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|s| Zeroizing::new(s.clone()));
    Ok(from_data.or(from_string))
}
