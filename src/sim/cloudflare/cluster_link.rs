//! What a simulated cluster's cloudflared and external-dns do to the simulated Cloudflare
//! account ([`super::CloudflareSim::follow_cluster`]), read from the kube simulator's store
//! every tick:
//!
//! - **cloudflared:** while Deployment `networking/cloudflared` has available replicas, the
//!   tunnel has one connector per available replica, each with the four connections a real
//!   cloudflared opens (two data centres); when none is available the connectors go (the
//!   tunnel is `down`). [`super::Fault::TunnelWithoutConnectors`] keeps them away.
//! - **external-dns** (`--source=gateway-httproute`, `--annotation-filter=
//!   external-dns.alpha.kubernetes.io/target`, `--cloudflare-proxied`, registry `txt`): while
//!   Deployment `networking/external-dns` has available replicas, every hostname of an
//!   HTTPRoute carrying the target annotation that lies in a zone of the account gets a proxied
//!   CNAME to the annotation's target and its TXT ownership record
//!   (`heritage=external-dns,external-dns/owner=<owner>,external-dns/resource=httproute/<ns>/<name>`,
//!   named by the account's registry as upstream's TXT mapper names it). Records it does not
//!   own are left alone, as upstream does; deletion under `policy: sync` is not simulated.

use super::routes::Shared;
use super::state::{Conn, Connector, Record, State, hex_id, now, uuid};
use crate::sim::kube::store::Store;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TARGET: &str = "external-dns.alpha.kubernetes.io/target";
const NS: &str = "networking";

fn s<'v>(v: &'v Value, ptr: &str) -> &'v str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// Available replicas of Deployment `networking/<name>` (`None`: no such Deployment).
fn available(store: &Store, name: &str) -> Option<u64> {
    let d = store
        .get(&("apps".into(), "deployments".into()), NS, name)
        .ok()?;
    Some(
        d.pointer("/status/availableReplicas")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    )
}

/// One pass: bring the account in line with the cluster.
pub fn sync(st: &mut State, store: &Store) {
    cloudflared(st, store);
    if available(store, "external-dns").unwrap_or(0) > 0 {
        external_dns(st, store);
    }
}

fn cloudflared(st: &mut State, store: &Store) {
    let Some(replicas) = available(store, "cloudflared") else {
        return;
    };
    let want = if st.connectors_down {
        0
    } else {
        usize::try_from(replicas.min(8)).unwrap_or(0)
    };
    let at = now();
    for t in &mut st.tunnels {
        if t.connectors.len() == want {
            continue;
        }
        if want == 0 {
            t.connectors.clear();
            t.conns_inactive_at = Some(at.clone());
            continue;
        }
        t.connectors.truncate(want);
        while t.connectors.len() < want {
            t.connectors.push(Connector {
                id: uuid(),
                version: "2025.11.1".into(),
                arch: "linux_amd64".into(),
                run_at: at.clone(),
                origin_ip: "203.0.113.10".into(),
                conns: ["FRA", "AMS", "FRA", "AMS"]
                    .iter()
                    .map(|colo| Conn {
                        id: uuid(),
                        colo: (*colo).into(),
                        opened_at: at.clone(),
                        pending_reconnect: false,
                    })
                    .collect(),
            });
        }
        t.conns_active_at = Some(at.clone());
    }
}

fn external_dns(st: &mut State, store: &Store) {
    let all = crate::sim::kube::select::Selectors::parse(None, None).unwrap_or_default();
    let routes = store
        .list(
            &("gateway.networking.k8s.io".into(), "httproutes".into()),
            None,
            &all,
            None,
            None,
        )
        .map(|l| l.items)
        .unwrap_or_default();
    for r in &routes {
        let target = s(
            r,
            &format!("/metadata/annotations/{}", TARGET.replace('/', "~1")),
        );
        if target.is_empty() {
            continue;
        }
        let resource = format!(
            "httproute/{}/{}",
            s(r, "/metadata/namespace"),
            s(r, "/metadata/name")
        );
        let hosts = r
            .pointer("/spec/hostnames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        for host in hosts {
            publish(st, &host.to_ascii_lowercase(), target, &resource);
        }
    }
}

fn publish(st: &mut State, host: &str, target: &str, resource: &str) {
    let Some(zone) = st
        .zones
        .iter()
        .find(|z| host == z.name || host.ends_with(&format!(".{}", z.name)))
        .map(|z| z.id.clone())
    else {
        return;
    };
    let txt_name = st.registry.txt_name(host, "CNAME");
    if st
        .records
        .iter()
        .any(|r| r.name == host && matches!(r.record_type.as_str(), "A" | "AAAA" | "CNAME"))
    {
        return;
    }
    let at = now();
    let base = Record {
        id: hex_id(),
        zone_id: zone,
        record_type: "CNAME".into(),
        name: host.into(),
        content: target.into(),
        proxied: true,
        ttl: 1,
        comment: None,
        created_on: at.clone(),
        modified_on: at,
    };
    let txt = Record {
        id: hex_id(),
        record_type: "TXT".into(),
        name: txt_name,
        content: st.registry.owner_content(resource),
        proxied: false,
        ..base.clone()
    };
    st.records.push(base);
    st.records.push(txt);
}

/// Run [`sync`] every `every` until `stop`.
pub fn spawn(shared: Arc<Shared>, store: Arc<Store>, every: Duration, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            sync(&mut shared.lock(), &store);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    });
}
