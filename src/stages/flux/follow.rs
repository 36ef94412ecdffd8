//! Following Flux to Ready: kube::runtime watchers (never a poll) on GitRepositories,
//! Kustomizations and HelmReleases; every object is a live row ([`Row`], sent as a log line
//! each time its state changes, with the count of Ready ones as progress). The follow ends
//! when every object is Ready (and every Kustomization's inventory of Kustomizations and
//! HelmReleases is there and Ready), or with a [`Diagnosis`] when an object has failed for
//! longer than the grace period, a dependency will never appear, or the timeout passes.

use super::diagnose::{self, Diagnosis, GIT_REPOSITORY, HELM_RELEASE, KUSTOMIZATION, Key};
use crate::backends::kube::events;
use futures::{StreamExt, stream::BoxStream};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

/// The kinds followed: (kind, group, version).
pub const KINDS: [(&str, &str, &str); 3] = [
    (GIT_REPOSITORY, "source.toolkit.fluxcd.io", "v1"),
    (KUSTOMIZATION, "kustomize.toolkit.fluxcd.io", "v1"),
    (HELM_RELEASE, "helm.toolkit.fluxcd.io", "v2"),
];

/// One live row: an object and its Ready state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub status: RowStatus,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    Ready,
    Waiting,
    Failed,
}

impl RowStatus {
    fn word(self) -> &'static str {
        match self {
            RowStatus::Ready => "ready",
            RowStatus::Waiting => "waiting",
            RowStatus::Failed => "failed",
        }
    }
}

/// Rows travel as log lines starting with this (the wizard reads them back with
/// [`Row::parse`]; `--yes` prints them as they are).
pub const ROW_PREFIX: &str = "row ";

impl Row {
    fn of(v: &Value) -> Row {
        let (kind, namespace, name) = diagnose::key_of(v);
        let st = diagnose::state(v);
        Row {
            kind,
            namespace,
            name,
            status: if st.ready {
                RowStatus::Ready
            } else if st.failed {
                RowStatus::Failed
            } else {
                RowStatus::Waiting
            },
            reason: st.reason,
            message: st.message,
        }
    }

    /// `row Kustomization flux-system/apps: waiting DependencyNotReady: dependency ...`.
    pub fn line(&self) -> String {
        format!(
            "{ROW_PREFIX}{} {}/{}: {} {}: {}",
            self.kind,
            self.namespace,
            self.name,
            self.status.word(),
            self.reason,
            self.message.replace('\n', " ")
        )
    }

    /// The row a [`Row::line`] holds.
    pub fn parse(line: &str) -> Option<Row> {
        let rest = line.strip_prefix(ROW_PREFIX)?;
        let (kind, rest) = rest.split_once(' ')?;
        let (ns_name, rest) = rest.split_once(": ")?;
        let (namespace, name) = ns_name.split_once('/')?;
        let (word, rest) = rest.split_once(' ')?;
        let (reason, message) = rest.split_once(": ").unwrap_or((rest, ""));
        let status = match word {
            "ready" => RowStatus::Ready,
            "waiting" => RowStatus::Waiting,
            "failed" => RowStatus::Failed,
            _ => return None,
        };
        Some(Row {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
            status,
            reason: reason.into(),
            message: message.into(),
        })
    }
}

/// How long the follow waits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// For everything to become Ready.
    pub timeout: Duration,
    /// How long an object may stay failed before the follow gives up on it (Flux retries; a
    /// deploy key added meanwhile makes the GitRepository Ready).
    pub grace: Duration,
}

/// What ended the follow.
#[derive(Debug)]
pub enum Ended {
    /// Every object Ready: how many.
    Ready(usize),
    /// Failed, or timed out: the root cause.
    Diagnosed(Box<Diagnosis>),
}

fn resource(kind: &str, group: &str, version: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

enum Change {
    Relist(String),
    Listed(String),
    Upsert(Value),
    Delete(Value),
    Trouble(String),
}

fn watch(client: &Client, kind: &str, group: &str, version: &str) -> BoxStream<'static, Change> {
    let res = resource(kind, group, version);
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &res);
    let (k1, k2, k3) = (kind.to_string(), kind.to_string(), kind.to_string());
    let api_version = res.api_version.clone();
    let kind_name = kind.to_string();
    let json = move |o: DynamicObject| {
        let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
        v["kind"] = Value::String(kind_name.clone());
        v["apiVersion"] = Value::String(api_version.clone());
        v
    };
    watcher(api, watcher::Config::default())
        .default_backoff()
        .map(move |ev| match ev {
            Ok(watcher::Event::Init) => Change::Relist(k1.clone()),
            Ok(watcher::Event::InitApply(o)) | Ok(watcher::Event::Apply(o)) => {
                Change::Upsert(json(o))
            }
            Ok(watcher::Event::InitDone) => Change::Listed(k2.clone()),
            Ok(watcher::Event::Delete(o)) => Change::Delete(json(o)),
            Err(e) => Change::Trouble(format!("watch of {k3}s: {e}; retrying")),
        })
        .boxed()
}

/// Every Kustomization Ready holds its inventory's Kustomizations and HelmReleases, Ready.
fn complete(objects: &BTreeMap<Key, Value>) -> bool {
    !objects.is_empty()
        && objects.values().all(|v| diagnose::state(v).ready)
        && objects.values().all(|v| {
            v.pointer("/status/inventory/entries")
                .and_then(Value::as_array)
                .is_none_or(|es| {
                    es.iter().all(|e| {
                        let id = e.get("id").and_then(Value::as_str).unwrap_or("");
                        let parts: Vec<&str> = id.rsplitn(3, '_').collect();
                        match parts.as_slice() {
                            [k, _, rest] if *k == KUSTOMIZATION || *k == HELM_RELEASE => {
                                rest.split_once('_').is_some_and(|(ns, n)| {
                                    objects.contains_key(&(k.to_string(), ns.into(), n.into()))
                                })
                            }
                            _ => true,
                        }
                    })
                })
        })
}

/// Follow until Ready, failure or timeout. `on_line` gets each row as it changes and the
/// watch troubles; `on_ready` the Ready count and the total.
pub async fn follow(
    client: &Client,
    limits: Limits,
    deploy_key_page: Option<String>,
    on_line: &mut (dyn FnMut(String) + Send),
    on_ready: &mut (dyn FnMut(u64, u64) + Send),
) -> Ended {
    let started = Instant::now();
    let deadline = started + limits.timeout;
    let mut streams =
        futures::stream::select_all(KINDS.iter().map(|(k, g, v)| watch(client, k, g, v)));
    let mut objects: BTreeMap<Key, Value> = BTreeMap::new();
    let mut listing: BTreeSet<String> = BTreeSet::new();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    let mut shown: BTreeMap<Key, Row> = BTreeMap::new();
    let mut failing_since: BTreeMap<Key, Instant> = BTreeMap::new();
    let root = (
        KUSTOMIZATION.to_string(),
        "flux-system".to_string(),
        "flux-system".to_string(),
    );
    loop {
        // The next moment something may end the follow without a new event.
        let next_grace = failing_since
            .values()
            .map(|t| *t + limits.grace)
            .min()
            .unwrap_or(deadline)
            .min(deadline);
        let change = tokio::select! {
            c = streams.next() => c,
            _ = tokio::time::sleep_until(next_grace) => None,
        };
        match change {
            Some(Change::Relist(kind)) => {
                listing.insert(kind.clone());
                objects.retain(|k, _| k.0 != kind);
            }
            Some(Change::Listed(kind)) => {
                listing.remove(&kind);
                listed.insert(kind);
            }
            Some(Change::Upsert(v)) => {
                objects.insert(diagnose::key_of(&v), v);
            }
            Some(Change::Delete(v)) => {
                objects.remove(&diagnose::key_of(&v));
            }
            Some(Change::Trouble(t)) => on_line(t),
            None => {}
        }
        if listed.len() < KINDS.len() || !listing.is_empty() {
            if Instant::now() >= deadline {
                return Ended::Diagnosed(Box::new(Diagnosis {
                    headline: format!(
                        "the Flux objects could not be listed in {}s",
                        limits.timeout.as_secs()
                    ),
                    cause: diagnose::Cause {
                        key: root.clone(),
                        reason: "NotListed".into(),
                        message: "the watches of GitRepositories, Kustomizations and \
                                  HelmReleases did not list them; are the Flux CRDs installed?"
                            .into(),
                        missing: None,
                        blocked: vec![],
                        failed: true,
                    },
                    events: vec![],
                    helm: vec![],
                    fix: "run the stage again; it applies flux-install.yaml first".into(),
                }));
            }
            continue;
        }
        // Rows that changed.
        let now = Instant::now();
        for (k, v) in &objects {
            let row = Row::of(v);
            if shown.get(k) != Some(&row) {
                on_line(row.line());
                shown.insert(k.clone(), row.clone());
            }
            if row.status == RowStatus::Failed {
                failing_since.entry(k.clone()).or_insert(now);
            } else {
                failing_since.remove(k);
            }
        }
        shown.retain(|k, _| objects.contains_key(k));
        failing_since.retain(|k, _| objects.contains_key(k));
        let ready = objects
            .values()
            .filter(|v| diagnose::state(v).ready)
            .count();
        on_ready(ready as u64, objects.len() as u64);
        if complete(&objects) && objects.contains_key(&root) {
            return Ended::Ready(objects.len());
        }
        let gave_up = failing_since.values().any(|t| now >= *t + limits.grace);
        let missing = diagnose::missing_for_good(&objects, &root);
        let headline = if gave_up || missing.is_some() {
            "Flux reports a failure".to_string()
        } else if now >= deadline {
            format!(
                "not Ready after {}s (the root cause, not a bare timeout)",
                limits.timeout.as_secs()
            )
        } else {
            continue;
        };
        let cause = match (diagnose::root_cause(&objects), missing) {
            (Some(c), _) if c.failed => c,
            (_, Some(m)) => m,
            (Some(c), None) => c,
            (None, None) => diagnose::Cause {
                message: format!(
                    "{} does not exist or has not applied everything yet",
                    diagnose::label(&root)
                ),
                key: root.clone(),
                reason: "NotFound".into(),
                missing: None,
                blocked: vec![],
                failed: false,
            },
        };
        return Ended::Diagnosed(Box::new(
            diagnosis(
                client,
                &objects,
                cause,
                headline,
                deploy_key_page.as_deref(),
            )
            .await,
        ));
    }
}

/// The diagnosis of `cause`: its recent events and Helm's messages added.
pub async fn diagnosis(
    client: &Client,
    objects: &BTreeMap<Key, Value>,
    cause: diagnose::Cause,
    headline: String,
    deploy_key_page: Option<&str>,
) -> Diagnosis {
    let (kind, ns, name) = &cause.key;
    let events = match events::for_object(client, kind, Some(ns), name).await {
        Ok(list) => list
            .iter()
            .take(diagnose::EVENTS_SHOWN)
            .map(|e| {
                let times = if e.count > 1 {
                    format!(" (x{})", e.count)
                } else {
                    String::new()
                };
                format!("{} {}{times}: {}", e.type_, e.reason, e.message)
            })
            .collect(),
        Err(e) => vec![format!("(events could not be read: {e})")],
    };
    let helm = if kind == HELM_RELEASE {
        objects
            .get(&cause.key)
            .map(diagnose::helm_lines)
            .unwrap_or_default()
    } else {
        vec![]
    };
    let fix = diagnose::fix_for(&cause, deploy_key_page);
    Diagnosis {
        headline,
        cause,
        events,
        helm,
        fix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_from_its_line() {
        let row = Row {
            kind: "HelmRelease".into(),
            namespace: "monitoring".into(),
            name: "grafana".into(),
            status: RowStatus::Failed,
            reason: "InstallFailed".into(),
            message: "Helm install failed: a: b".into(),
        };
        assert_eq!(
            row.line(),
            "row HelmRelease monitoring/grafana: failed InstallFailed: Helm install failed: a: b"
        );
        assert_eq!(Row::parse(&row.line()), Some(row));
        assert_eq!(Row::parse("already done: x"), None);
    }
}
