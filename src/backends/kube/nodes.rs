//! "Is every node Ready?" through kube-rs: list, then watch until the expected nodes all report
//! `Ready=True` or the deadline passes.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::watcher;
use kube::{Api, Client};
use std::collections::BTreeMap;
use std::time::Duration;

/// One node's readiness as the API server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReadiness {
    pub name: String,
    pub ready: bool,
    /// Ready condition's reason/message, or "no Ready condition yet".
    pub detail: String,
    /// kubelet version (`v1.33.5+k3s1`).
    pub version: String,
}

/// Readiness of one Node object.
pub fn readiness(node: &Node) -> NodeReadiness {
    let name = node.metadata.name.clone().unwrap_or_default();
    let status = node.status.as_ref();
    let cond = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    let version = status
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.kubelet_version.clone())
        .unwrap_or_default();
    match cond {
        Some(c) => NodeReadiness {
            name,
            ready: c.status == "True",
            detail: format!(
                "{} {}",
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default()
            )
            .trim()
            .to_string(),
            version,
        },
        None => NodeReadiness {
            name,
            ready: false,
            detail: "no Ready condition yet".into(),
            version,
        },
    }
}

pub use super::client::client_for;

/// List nodes once.
pub async fn list(client: &Client) -> Result<Vec<NodeReadiness>, String> {
    let api: Api<Node> = Api::all(client.clone());
    let list = api
        .list(&Default::default())
        .await
        .map_err(|e| format!("listing nodes: {e}"))?;
    Ok(list.items.iter().map(readiness).collect())
}

/// Watch nodes until every name in `expected` is Ready. `on_change` sees each update. Returns the
/// final readiness of the expected nodes, or the last state seen when `timeout` passes.
pub async fn wait_ready(
    client: &Client,
    expected: &[String],
    timeout: Duration,
    on_change: &mut (dyn FnMut(&NodeReadiness) + Send),
) -> Result<Vec<NodeReadiness>, Vec<NodeReadiness>> {
    let api: Api<Node> = Api::all(client.clone());
    let mut seen: BTreeMap<String, NodeReadiness> = BTreeMap::new();
    let snapshot = |seen: &BTreeMap<String, NodeReadiness>| -> Vec<NodeReadiness> {
        expected
            .iter()
            .map(|n| {
                seen.get(n).cloned().unwrap_or(NodeReadiness {
                    name: n.clone(),
                    ready: false,
                    detail: "not registered with the API server".into(),
                    version: String::new(),
                })
            })
            .collect()
    };
    let all_ready = |seen: &BTreeMap<String, NodeReadiness>| {
        expected
            .iter()
            .all(|n| seen.get(n).is_some_and(|r| r.ready))
    };
    let mut stream = Box::pin(watcher(api, watcher::Config::default().timeout(60)));
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(ev)) => ev,
            Ok(None) | Err(_) => return Err(snapshot(&seen)),
        };
        match next {
            Ok(watcher::Event::Apply(n)) | Ok(watcher::Event::InitApply(n)) => {
                let r = readiness(&n);
                if seen.get(&r.name) != Some(&r) {
                    on_change(&r);
                }
                seen.insert(r.name.clone(), r);
            }
            Ok(watcher::Event::Delete(n)) => {
                seen.remove(n.metadata.name.as_deref().unwrap_or(""));
            }
            Ok(watcher::Event::Init) | Ok(watcher::Event::InitDone) => {}
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
        if all_ready(&seen) {
            return Ok(snapshot(&seen));
        }
    }
}
