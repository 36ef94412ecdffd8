//! Cluster health, live: `kube::runtime` watchers (never polling) on Nodes, Pods, Warning
//! Events, the Deployments/StatefulSets/DaemonSets that HelmReleases made, and the Flux objects
//! (Kustomizations, HelmReleases and their sources; dynamic objects found through discovery;
//! no Flux CRDs served is "Flux not installed", not an error). Node usage is the exception:
//! metrics.k8s.io has no watch on a real cluster (metrics-server serves get and list only,
//! WIRE-2.md F.10), so it is polled every [`METRICS_EVERY`], together with each node's swap
//! from the kubelet Summary API through the API server's node proxy
//! (`/api/v1/nodes/{node}/proxy/stats/summary`, `node.swap`; node status has no swap field).
//!
//! Flux's CRDs are watched too: when the set of Flux kinds whose CRD is Established changes
//! (the Flux stage installs them while the console is open), every watch starts again, so the
//! new kinds are followed without the pane's `r`.
//!
//! All streams merge into one; changes are sent in batches: everything that arrives within
//! [`BATCH_WINDOW`] of the first change, at most [`MAX_BATCH`]. A watcher's (re-)list is
//! buffered until it completes and goes out as one [`HealthChange::Replace`], so a 5,000-pod
//! initial list is one change, not 5,000 events.

pub mod convert;

use crate::domain::health::{FluxKind, HealthChange, HealthObject, ListKind};
use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::Duration;
use tokio::sync::mpsc;

/// Changes arriving this close after the first one of a batch go out with it.
pub const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// At most this many changes per batch.
pub const MAX_BATCH: usize = 4096;
/// Node metrics and swap are polled this often (metrics-server's default resolution is 15 s).
pub const METRICS_EVERY: Duration = Duration::from_secs(15);

/// The workload kinds followed: (kind, apps/v1 plural).
const WORKLOADS: [(&str, &str); 3] = [
    ("Deployment", "deployments"),
    ("StatefulSet", "statefulsets"),
    ("DaemonSet", "daemonsets"),
];

/// One watcher as health changes: a (re-)list (`Init` .. `InitDone`) becomes one `Replace`;
/// errors become `Trouble` (the watcher retries with back-off).
fn changes<K>(
    api: Api<K>,
    config: watcher::Config,
    list: ListKind,
    kind: String,
    conv: impl Fn(&K) -> HealthObject + Send + 'static,
) -> BoxStream<'static, HealthChange>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut buf: Option<Vec<HealthObject>> = None;
    let what = kind.clone();
    watcher(api, config)
        .default_backoff()
        .filter_map(move |ev| {
            let out = match ev {
                Ok(watcher::Event::Init) => {
                    buf = Some(Vec::new());
                    None
                }
                Ok(watcher::Event::InitApply(o)) => match &mut buf {
                    Some(b) => {
                        b.push(conv(&o));
                        None
                    }
                    None => Some(HealthChange::Upsert(conv(&o))),
                },
                Ok(watcher::Event::InitDone) => Some(HealthChange::Replace {
                    list,
                    kind: kind.clone(),
                    objects: buf.take().unwrap_or_default(),
                }),
                Ok(watcher::Event::Apply(o)) => Some(HealthChange::Upsert(conv(&o))),
                Ok(watcher::Event::Delete(o)) => Some(HealthChange::Delete(list, conv(&o).key())),
                Err(e) => Some(HealthChange::Trouble(format!(
                    "watch of {what}s: {e}; retrying"
                ))),
            };
            futures::future::ready(out)
        })
        .boxed()
}

fn dynamic(client: &Client, res: &ApiResource) -> Api<DynamicObject> {
    Api::all_with(client.clone(), res)
}

fn json(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// The Flux kinds the server serves (one discovery run); `Err` when discovery failed.
async fn flux_resources(client: &Client) -> Result<Vec<(FluxKind, ApiResource)>, String> {
    let d = kube::discovery::Discovery::new(client.clone())
        .run_aggregated()
        .await
        .map_err(|e| format!("API discovery: {e}; is the API server reachable?"))?;
    Ok(FluxKind::ALL
        .into_iter()
        .filter_map(|k| {
            let (group, version, _) = k.resource();
            let gvk = GroupVersionKind::gvk(group, version, k.name());
            d.resolve_gvk(&gvk).map(|(res, _)| (k, res))
        })
        .collect())
}

/// Every watch (and the metrics poll) as streams; `expected` counts the watches whose first
/// list [`watch`] waits for before it reports `Connected`.
async fn streams(client: &Client) -> (Vec<BoxStream<'static, HealthChange>>, usize) {
    let mut out: Vec<BoxStream<'static, HealthChange>> = Vec::new();
    let cfg = watcher::Config::default;
    out.push(changes(
        Api::<Node>::all(client.clone()),
        cfg(),
        ListKind::Nodes,
        "Node".into(),
        |n| HealthObject::Node(convert::node(n)),
    ));
    out.push(changes(
        Api::<Pod>::all(client.clone()),
        cfg(),
        ListKind::Pods,
        "Pod".into(),
        |p| HealthObject::Pod(convert::pod(p)),
    ));
    out.push(changes(
        Api::<Event>::all(client.clone()),
        cfg().fields("type=Warning"),
        ListKind::Events,
        "Event".into(),
        |e| HealthObject::Event(convert::event(e)),
    ));
    for (kind, plural) in WORKLOADS {
        let res =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", kind), plural);
        out.push(changes(
            dynamic(client, &res),
            cfg().labels(convert::RELEASE_NAME_LABEL),
            ListKind::Workloads,
            kind.into(),
            move |o| HealthObject::Workload(convert::workload(kind, &json(o))),
        ));
    }
    let mut first: Vec<HealthChange> = Vec::new();
    match flux_resources(client).await {
        Ok(found) => {
            if !found
                .iter()
                .any(|(k, _)| matches!(k, FluxKind::Kustomization | FluxKind::HelmRelease))
            {
                first.push(HealthChange::FluxAbsent);
            }
            for (kind, res) in found {
                out.push(changes(
                    dynamic(client, &res),
                    cfg(),
                    ListKind::Flux,
                    kind.name().into(),
                    move |o| HealthObject::Flux(convert::flux(kind, &json(o))),
                ));
            }
        }
        Err(e) => first.push(HealthChange::Trouble(e)),
    }
    let expected = out.len();
    out.push(metrics(client.clone()));
    if !first.is_empty() {
        out.push(stream::iter(first).boxed());
    }
    (out, expected)
}

/// GET `path` as JSON.
async fn get_json(client: &Client, path: &str) -> Result<Value, String> {
    let req = hyper::Request::get(path)
        .body(Vec::new())
        .map_err(|e| format!("{path}: {e}"))?;
    client
        .request::<Value>(req)
        .await
        .map_err(|e| format!("{path}: {e}"))
}

/// One poll: every node's CPU and memory (metrics.k8s.io) and swap (kubelet Summary).
pub async fn poll_usage(client: &Client) -> HealthChange {
    let list = match get_json(client, "/apis/metrics.k8s.io/v1beta1/nodes").await {
        Ok(v) => v,
        Err(e) => {
            return HealthChange::UsageUnavailable(format!(
                "node metrics: {e}; CPU and memory need metrics-server (k3s ships it)"
            ));
        }
    };
    let mut usage = Vec::new();
    for (node, cpu, mem) in convert::node_metrics(&list) {
        let path = format!("/api/v1/nodes/{node}/proxy/stats/summary");
        let swap = get_json(client, &path)
            .await
            .map(|s| convert::summary_swap(&s))
            .unwrap_or((None, None));
        usage.push((node, convert::usage(cpu, mem, swap)));
    }
    HealthChange::Usage(usage)
}

/// The metrics poll: at once, then every [`METRICS_EVERY`].
fn metrics(client: Client) -> BoxStream<'static, HealthChange> {
    stream::unfold((client, true), |(client, first)| async move {
        if !first {
            tokio::time::sleep(METRICS_EVERY).await;
        }
        let change = poll_usage(&client).await;
        Some((change, (client, false)))
    })
    .boxed()
}

/// Batch `changes` (see the module comment) into `tx`; `expected` watches must each report a
/// first list before `Connected` is added. Ends when the stream ends or `tx` is closed.
pub async fn batch(
    changes: impl Stream<Item = HealthChange> + Unpin,
    expected: usize,
    tx: &mpsc::Sender<Vec<HealthChange>>,
) {
    let mut changes = changes;
    let mut listed: BTreeSet<(ListKind, String)> = BTreeSet::new();
    let mut connected = false;
    while let Some(first) = changes.next().await {
        let mut out = vec![first];
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while out.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, changes.next()).await {
                Ok(Some(c)) => out.push(c),
                Ok(None) | Err(_) => break,
            }
        }
        if !connected {
            for c in &out {
                if let HealthChange::Replace { list, kind, .. } = c {
                    listed.insert((*list, kind.clone()));
                }
            }
            if listed.len() >= expected {
                connected = true;
                out.push(HealthChange::Connected);
            }
        }
        if tx.send(out).await.is_err() {
            return;
        }
    }
}

/// Watch the cluster behind `client` and send batches of changes to `tx` until it is closed.
/// Starts every watch again when the Flux CRDs change (see the module comment).
pub async fn watch(client: Client, tx: mpsc::Sender<Vec<HealthChange>>) {
    loop {
        let (all, expected) = streams(&client).await;
        tokio::select! {
            () = batch(stream::select_all(all), expected, &tx) => return,
            () = flux_crds_changed(client.clone()) => {}
        }
    }
}

/// The Flux kind `crd` defines, when its CRD is Established.
fn established_flux(crd: &CustomResourceDefinition) -> Option<FluxKind> {
    let kind = FluxKind::from_name(&crd.spec.names.kind)?;
    let (group, _, _) = kind.resource();
    let established = crd
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        });
    (crd.spec.group == group && established).then_some(kind)
}

/// Resolves when the set of Flux kinds whose CRD is Established differs from what it was at
/// this watch's first list (a CRD installed or removed since). Comparing with the first list,
/// not with what discovery found, keeps a CRD that discovery cannot use (another version) from
/// restarting the watches over and over. Errors (no permission to list CRDs) leave it
/// pending; the pane's `r` still starts everything again by hand.
async fn flux_crds_changed(client: Client) {
    let name = |c: &CustomResourceDefinition| c.metadata.name.clone().unwrap_or_default();
    let record = |m: &mut BTreeMap<String, FluxKind>, c: &CustomResourceDefinition| {
        match established_flux(c) {
            Some(k) => m.insert(name(c), k),
            None => m.remove(&name(c)),
        };
    };
    let kinds = |m: &BTreeMap<String, FluxKind>| m.values().copied().collect::<BTreeSet<_>>();
    let mut listing: Option<BTreeMap<String, FluxKind>> = None;
    let mut now: BTreeMap<String, FluxKind> = BTreeMap::new();
    let mut first: Option<BTreeSet<FluxKind>> = None;
    let crds = watcher(
        Api::<CustomResourceDefinition>::all(client),
        watcher::Config::default(),
    )
    .default_backoff();
    let mut crds = std::pin::pin!(crds);
    while let Some(ev) = crds.next().await {
        match ev {
            Ok(watcher::Event::Init) => listing = Some(BTreeMap::new()),
            Ok(watcher::Event::InitApply(c)) => match &mut listing {
                Some(m) => record(m, &c),
                None => record(&mut now, &c),
            },
            Ok(watcher::Event::InitDone) => now = listing.take().unwrap_or_default(),
            Ok(watcher::Event::Apply(c)) => record(&mut now, &c),
            Ok(watcher::Event::Delete(c)) => {
                now.remove(&name(&c));
            }
            Err(_) => continue,
        }
        if listing.is_some() {
            continue;
        }
        match &first {
            None => first = Some(kinds(&now)),
            Some(f) if *f != kinds(&now) => return,
            Some(_) => {}
        }
    }
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of changes goes out as one batch; Connected follows the expected lists.
    #[tokio::test]
    async fn a_burst_is_one_batch_and_connected_follows_the_lists() {
        let replace = |kind: &str| HealthChange::Replace {
            list: ListKind::Pods,
            kind: kind.into(),
            objects: Vec::new(),
        };
        let burst: Vec<HealthChange> = (0..5000)
            .map(|i| HealthChange::Delete(ListKind::Pods, format!("ns/p{i}")))
            .chain([replace("Pod"), replace("Node")])
            .collect();
        let (tx, mut rx) = mpsc::channel(8);
        batch(stream::iter(burst), 2, &tx).await;
        drop(tx);
        let mut batches = Vec::new();
        while let Some(b) = rx.recv().await {
            batches.push(b);
        }
        assert_eq!(batches.len(), 2, "5,002 changes in MAX_BATCH-sized batches");
        assert_eq!(batches[0].len(), MAX_BATCH);
        assert_eq!(batches[1].last(), Some(&HealthChange::Connected));
    }
}
