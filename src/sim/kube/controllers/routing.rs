//! What the real controllers report on the path of a request, for the reachability doctor
//! (docs/reference/kubernetes.md §7, WIRE-2.md I and J):
//! - Envoy Gateway: each Gateway's Envoy Service in `envoy-gateway-system` (named by the
//!   EnvoyProxy's `envoyService.name`, else `envoy-<ns>-<name>-<hash>`, labelled
//!   `gateway.envoyproxy.io/owning-gateway-name|namespace`), each HTTPRoute's
//!   `status.parents` (`Accepted`, `ResolvedRefs` with the upstream reasons and messages) and
//!   the listeners' `attachedRoutes`;
//! - the EndpointSlice controller: one slice per Service with a selector, an endpoint per pod
//!   with an IP (`ready`/`serving` from the pod's Ready condition);
//! - cert-manager: the Certificate's TLS Secret (`kubernetes.io/tls`, a self-signed
//!   certificate for `spec.dnsNames` valid `notBefore`..`notAfter`) and, with
//!   [`Fault::CertificateExpiring`], a renewal that keeps failing.

use super::workloads::set_condition;
use super::{Fault, Pass, key, meta};
use serde_json::{Map, Value, json};
use std::sync::Arc;

const CONTROLLER: &str = "gateway.envoyproxy.io/gatewayclass-controller";
const ENVOY_NS: &str = "envoy-gateway-system";
const GW_GROUP: &str = "gateway.networking.k8s.io";

pub(super) fn reconcile(p: &mut Pass) {
    if p.store.lookup(GW_GROUP, "v1", "gateways").is_some() {
        let gateways = p.list(&key(GW_GROUP, "gateways"), None);
        for gw in &gateways {
            envoy_service(p, gw);
        }
        if p.store.lookup(GW_GROUP, "v1", "httproutes").is_some() {
            routes(p, &gateways);
        }
    }
    endpoint_slices(p);
    if p.store
        .lookup("cert-manager.io", "v1", "certificates")
        .is_some()
    {
        for cert in p.list(&key("cert-manager.io", "certificates"), None) {
            tls_secret(p, &cert);
        }
    }
}

fn s<'v>(v: &'v Value, ptr: &str) -> &'v str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn arr<'v>(v: &'v Value, ptr: &str) -> impl Iterator<Item = &'v Value> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// 8 hex digits of FNV-1a over `text` (stable generated names).
fn short_hash(text: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

fn envoy_service(p: &mut Pass, gw: &Value) {
    let (ns, name) = (meta(gw, "namespace"), meta(gw, "name"));
    let proxy = (s(gw, "/spec/infrastructure/parametersRef/kind") == "EnvoyProxy")
        .then(|| s(gw, "/spec/infrastructure/parametersRef/name"))
        .and_then(|proxy| {
            p.store
                .get(&key("gateway.envoyproxy.io", "envoyproxies"), ns, proxy)
                .ok()
        });
    let svc_name = proxy
        .as_ref()
        .map(|px| s(px, "/spec/provider/kubernetes/envoyService/name"))
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("envoy-{ns}-{name}-{}", short_hash(&format!("{ns}/{name}"))));
    let mut ports: Vec<Value> = vec![];
    for l in arr(gw, "/spec/listeners") {
        let port = l.get("port").and_then(Value::as_u64).unwrap_or(0);
        if port == 0 || ports.iter().any(|x| x["port"] == json!(port)) {
            continue;
        }
        let proto = s(l, "/protocol").to_ascii_lowercase();
        ports.push(json!({"name": format!("{proto}-{port}"), "port": port,
            "protocol": "TCP", "targetPort": 10000 + port}));
    }
    let old = p.store.get(&key("", "services"), ENVOY_NS, &svc_name).ok();
    let mut svc = old.clone().unwrap_or_else(|| {
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": svc_name, "namespace": ENVOY_NS},
            "spec": {"type": "ClusterIP"}})
    });
    svc["metadata"]["labels"] = json!({
        "app.kubernetes.io/component": "proxy",
        "app.kubernetes.io/managed-by": "envoy-gateway",
        "app.kubernetes.io/name": "envoy",
        "gateway.envoyproxy.io/owning-gateway-name": name,
        "gateway.envoyproxy.io/owning-gateway-namespace": ns,
    });
    svc["spec"]["selector"] = json!({
        "gateway.envoyproxy.io/owning-gateway-name": name,
        "gateway.envoyproxy.io/owning-gateway-namespace": ns,
    });
    svc["spec"]["ports"] = json!(ports.clone());
    p.save(&key("", "services"), old.as_ref(), svc, "envoy-gateway");
    envoy_deployment(p, &svc_name, ns, name, &ports);
}

/// The Envoy proxy Deployment Envoy Gateway runs for a Gateway (named as its Service): pods
/// labelled with the owning Gateway, one container port `10000 + P` per listener port P. Their
/// ports answer as the Gateway routes (`portforward/envoy.rs`).
fn envoy_deployment(p: &mut Pass, svc_name: &str, ns: &str, name: &str, ports: &[Value]) {
    let labels = json!({
        "app.kubernetes.io/component": "proxy",
        "app.kubernetes.io/managed-by": "envoy-gateway",
        "app.kubernetes.io/name": "envoy",
        "gateway.envoyproxy.io/owning-gateway-name": name,
        "gateway.envoyproxy.io/owning-gateway-namespace": ns,
    });
    let container_ports: Vec<Value> = ports
        .iter()
        .map(|pt| json!({"name": pt["name"], "containerPort": pt["targetPort"], "protocol": "TCP"}))
        .collect();
    let old = p
        .store
        .get(&key("apps", "deployments"), ENVOY_NS, svc_name)
        .ok();
    let mut dep = old.clone().unwrap_or_else(|| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": svc_name, "namespace": ENVOY_NS},
            "spec": {"replicas": 1}})
    });
    dep["metadata"]["labels"] = labels.clone();
    dep["spec"]["selector"] = json!({"matchLabels": labels.clone()});
    dep["spec"]["template"] = json!({
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "envoy",
            "image": "docker.io/envoyproxy/envoy:distroless-v1.35.0",
            "ports": container_ports}]},
    });
    if old.as_ref().map(|o| &o["spec"]) != Some(&dep["spec"]) {
        p.save(
            &key("apps", "deployments"),
            old.as_ref(),
            dep,
            "envoy-gateway",
        );
    }
}

/// A condition in `list` (an entry's `conditions`), keeping `lastTransitionTime` when
/// nothing changed.
fn cond(old: &[Value], ty: &str, ok: bool, reason: &str, msg: &str, gen_: &Value) -> Value {
    let status = if ok { "True" } else { "False" };
    let at = old
        .iter()
        .find(|c| {
            c["type"] == ty && c["status"] == status && c["reason"] == reason && c["message"] == msg
        })
        .map(|c| c["lastTransitionTime"].clone())
        .unwrap_or_else(|| json!(super::super::store::now()));
    json!({"type": ty, "status": status, "reason": reason, "message": msg,
        "lastTransitionTime": at, "observedGeneration": gen_})
}

/// Whether two hostnames (either may be a `*.` wildcard, or empty = any) intersect.
fn hosts_intersect(a: &str, b: &str) -> bool {
    if a.is_empty() || b.is_empty() || a.eq_ignore_ascii_case(b) {
        return true;
    }
    let wild = |w: &str, h: &str| {
        w.strip_prefix('*')
            .is_some_and(|rest| h.to_ascii_lowercase().ends_with(&rest.to_ascii_lowercase()))
    };
    wild(a, b) || wild(b, a)
}

fn labels_match(labels: Option<&Value>, want: Option<&Map<String, Value>>) -> bool {
    want.into_iter()
        .flatten()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Whether `listener` of a Gateway in `gw_ns` admits routes from `route_ns`.
fn admits(p: &Pass, listener: &Value, gw_ns: &str, route_ns: &str) -> bool {
    match s(listener, "/allowedRoutes/namespaces/from") {
        "All" => true,
        "Selector" => {
            let ns = p.store.get(&key("", "namespaces"), "", route_ns).ok();
            let want = listener
                .pointer("/allowedRoutes/namespaces/selector/matchLabels")
                .and_then(Value::as_object);
            ns.is_some_and(|n| labels_match(n.pointer("/metadata/labels"), want))
        }
        _ => gw_ns == route_ns,
    }
}

/// Whether a ReferenceGrant in `to_ns` lets HTTPRoutes of `from_ns` refer to Services.
fn granted(p: &Pass, from_ns: &str, to_ns: &str) -> bool {
    p.list(&key(GW_GROUP, "referencegrants"), Some(to_ns))
        .iter()
        .any(|g| {
            arr(g, "/spec/from").any(|f| {
                s(f, "/group") == GW_GROUP
                    && s(f, "/kind") == "HTTPRoute"
                    && s(f, "/namespace") == from_ns
            }) && arr(g, "/spec/to")
                .any(|t| s(t, "/group").is_empty() && s(t, "/kind") == "Service")
        })
}

fn routes(p: &mut Pass, gateways: &[Arc<Value>]) {
    // (gateway ns, gateway name, listener name) -> routes accepted on it.
    let mut attached: std::collections::BTreeMap<(String, String, String), i64> =
        Default::default();
    for route in p.list(&key(GW_GROUP, "httproutes"), None) {
        let rns = meta(&route, "namespace").to_string();
        let gen_ = route["metadata"]["generation"].clone();
        let hostnames: Vec<&str> = arr(&route, "/spec/hostnames")
            .filter_map(Value::as_str)
            .collect();
        // ResolvedRefs: the same for every parent.
        let mut resolved = (
            true,
            "ResolvedRefs",
            "Resolved all the Object references for the Route".to_string(),
        );
        for b in arr(&route, "/spec/rules").flat_map(|r| arr(r, "/backendRefs")) {
            let kind = b.get("kind").and_then(Value::as_str).unwrap_or("Service");
            let bns = b
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or(&rns)
                .to_string();
            let bname = s(b, "/name");
            if kind != "Service" {
                resolved = (
                    false,
                    "InvalidKind",
                    format!("Kind {kind} is not supported"),
                );
                break;
            }
            if bns != rns && !granted(p, &rns, &bns) {
                resolved = (
                    false,
                    "RefNotPermitted",
                    format!(
                        "Backend ref to Service {bns}/{bname} not permitted by any ReferenceGrant."
                    ),
                );
                break;
            }
            if p.store.get(&key("", "services"), &bns, bname).is_err() {
                resolved = (
                    false,
                    "BackendNotFound",
                    format!("service {bns}/{bname} not found"),
                );
                break;
            }
        }
        let old_parents: Vec<Value> = arr(&route, "/status/parents").cloned().collect();
        let mut parents: Vec<Value> = old_parents
            .iter()
            .filter(|e| e["controllerName"] != CONTROLLER)
            .cloned()
            .collect();
        for pref in arr(&route, "/spec/parentRefs") {
            if pref
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("Gateway")
                != "Gateway"
            {
                continue;
            }
            let gns = pref
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or(&rns);
            let Some(gw) = gateways
                .iter()
                .find(|g| meta(g, "namespace") == gns && meta(g, "name") == s(pref, "/name"))
            else {
                continue; // not a Gateway this controller serves: no entry
            };
            let section = pref.get("sectionName").and_then(Value::as_str);
            let port = pref.get("port").and_then(Value::as_u64);
            let candidates: Vec<&Value> = arr(gw, "/spec/listeners")
                .filter(|l| section.is_none_or(|sn| s(l, "/name") == sn))
                .filter(|l| port.is_none_or(|pt| l.get("port").and_then(Value::as_u64) == Some(pt)))
                .collect();
            let allowed: Vec<&Value> = candidates
                .iter()
                .copied()
                .filter(|l| admits(p, l, gns, &rns))
                .collect();
            let matching: Vec<&Value> = allowed
                .iter()
                .copied()
                .filter(|l| {
                    hostnames.is_empty()
                        || hostnames
                            .iter()
                            .any(|h| hosts_intersect(s(l, "/hostname"), h))
                })
                .collect();
            let refused = p.faults.iter().any(|f| {
                matches!(f, Fault::RouteNotAccepted { namespace, name }
                    if *namespace == rns && name == meta(&route, "name"))
            });
            let accepted = if refused {
                (
                    false,
                    "NotAllowedByListeners",
                    "No listeners included by this parent ref allowed this attachment.",
                )
            } else if candidates.is_empty() {
                (
                    false,
                    "NoMatchingParent",
                    "No listeners match this parent ref",
                )
            } else if allowed.is_empty() {
                (
                    false,
                    "NotAllowedByListeners",
                    "No listeners included by this parent ref allowed this attachment.",
                )
            } else if matching.is_empty() {
                (
                    false,
                    "NoMatchingListenerHostname",
                    "There were no hostname intersections between the HTTPRoute and this parent ref's Listener(s).",
                )
            } else {
                (true, "Accepted", "Route is accepted")
            };
            if accepted.0 {
                for l in &matching {
                    *attached
                        .entry((
                            gns.to_string(),
                            meta(gw, "name").to_string(),
                            s(l, "/name").to_string(),
                        ))
                        .or_default() += 1;
                }
            }
            let old_conds: Vec<Value> = old_parents
                .iter()
                .find(|e| e["controllerName"] == CONTROLLER && &e["parentRef"] == pref)
                .map(|e| arr(e, "/conditions").cloned().collect())
                .unwrap_or_default();
            parents.push(json!({
                "parentRef": pref,
                "controllerName": CONTROLLER,
                "conditions": [
                    cond(&old_conds, "Accepted", accepted.0, accepted.1, accepted.2, &gen_),
                    cond(&old_conds, "ResolvedRefs", resolved.0, resolved.1, &resolved.2, &gen_),
                ],
            }));
        }
        let mut next = Value::clone(&route);
        next["status"] = json!({"parents": parents});
        p.save(
            &key(GW_GROUP, "httproutes"),
            Some(&*route),
            next,
            "envoy-gateway",
        );
    }
    for gw in gateways {
        let Ok(cur) = p.store.get(
            &key(GW_GROUP, "gateways"),
            meta(gw, "namespace"),
            meta(gw, "name"),
        ) else {
            continue;
        };
        let mut next = Value::clone(&cur);
        if let Some(list) = next
            .pointer_mut("/status/listeners")
            .and_then(Value::as_array_mut)
        {
            for l in list {
                let k = (
                    meta(gw, "namespace").to_string(),
                    meta(gw, "name").to_string(),
                    s(l, "/name").to_string(),
                );
                l["attachedRoutes"] = json!(attached.get(&k).copied().unwrap_or(0));
            }
        }
        p.save(
            &key(GW_GROUP, "gateways"),
            Some(&cur),
            next,
            "envoy-gateway",
        );
    }
}

fn pod_ready(pod: &Value) -> bool {
    arr(pod, "/status/conditions").any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// The number a Service port's `targetPort` stands for in `pod` (a name through the
/// containers' ports).
fn target_port(port: &Value, pod: Option<&Value>) -> Option<u64> {
    match port.get("targetPort") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(name)) => pod.and_then(|pod| {
            arr(pod, "/spec/containers")
                .flat_map(|c| arr(c, "/ports"))
                .find(|cp| cp["name"] == json!(name))
                .and_then(|cp| cp.get("containerPort").and_then(Value::as_u64))
        }),
        _ => port.get("port").and_then(Value::as_u64),
    }
}

fn endpoint_slices(p: &mut Pass) {
    let slice_key = key("discovery.k8s.io", "endpointslices");
    for svc in p.list(&key("", "services"), None) {
        let Some(selector) = svc
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .filter(|m| !m.is_empty())
        else {
            continue;
        };
        let ns = meta(&svc, "namespace");
        let pods: Vec<Arc<Value>> = p
            .list(&key("", "pods"), Some(ns))
            .into_iter()
            .filter(|pod| labels_match(pod.pointer("/metadata/labels"), Some(selector)))
            .filter(|pod| pod.pointer("/metadata/deletionTimestamp").is_none())
            .filter(|pod| !s(pod, "/status/podIP").is_empty())
            .collect();
        let endpoints: Vec<Value> = pods
            .iter()
            .map(|pod| {
                let ready = pod_ready(pod);
                json!({
                    "addresses": [s(pod, "/status/podIP")],
                    "conditions": {"ready": ready, "serving": ready, "terminating": false},
                    "nodeName": s(pod, "/spec/nodeName"),
                    "targetRef": {"kind": "Pod", "namespace": ns, "name": meta(pod, "name"), "uid": meta(pod, "uid")},
                })
            })
            .collect();
        let ports: Vec<Value> = arr(&svc, "/spec/ports")
            .filter_map(|sp| {
                let port = target_port(sp, pods.first().map(|p| &**p))?;
                let mut out = json!({"port": port, "protocol": sp.get("protocol").cloned().unwrap_or(json!("TCP"))});
                if let Some(n) = sp.get("name") {
                    out["name"] = n.clone();
                }
                Some(out)
            })
            .collect();
        let name = format!(
            "{}-{}",
            meta(&svc, "name"),
            &short_hash(meta(&svc, "uid"))[..5]
        );
        let old = p.store.get(&slice_key, ns, &name).ok();
        let mut slice = old.clone().unwrap_or_else(|| {
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": name, "namespace": ns,
                    "labels": {"kubernetes.io/service-name": meta(&svc, "name"),
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta(&svc, "name"),
                        "uid": meta(&svc, "uid"), "controller": true, "blockOwnerDeletion": true}]},
                "addressType": "IPv4"})
        });
        slice["endpoints"] = json!(endpoints);
        slice["ports"] = json!(ports);
        p.save(&slice_key, old.as_ref(), slice, "endpointslice-controller");
    }
}

fn day(ts: jiff::Timestamp) -> (i32, u8, u8) {
    let d = ts.to_zoned(jiff::tz::TimeZone::UTC).date();
    (
        i32::from(d.year()),
        d.month().unsigned_abs(),
        d.day().unsigned_abs(),
    )
}

fn parse_ts(v: &str) -> Option<jiff::Timestamp> {
    v.parse().ok()
}

fn tls_secret(p: &mut Pass, cert: &Value) {
    let ns = meta(cert, "namespace");
    let name = meta(cert, "name");
    let secret_name = s(cert, "/spec/secretName");
    if secret_name.is_empty() {
        return;
    }
    let now = jiff::Timestamp::now();
    let expiring = p.faults.iter().find_map(|f| match f {
        Fault::CertificateExpiring {
            namespace,
            name: n,
            days,
        } if namespace == ns && n == name => Some(*days),
        _ => None,
    });
    let mut status_cert = Value::clone(cert);
    if let Some(days) = expiring {
        // The renewal keeps failing: the certificate nears its end, Ready stays True.
        let fmt = |t: jiff::Timestamp| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let end = now
            .checked_add(jiff::SignedDuration::from_hours(24 * i64::from(days)))
            .unwrap_or(now);
        let start = end
            .checked_sub(jiff::SignedDuration::from_hours(24 * 90))
            .unwrap_or(now);
        let old_end = parse_ts(s(cert, "/status/notAfter"));
        if old_end.is_none_or(|o| day(o) != day(end)) {
            status_cert["status"]["notBefore"] = json!(fmt(start));
            status_cert["status"]["notAfter"] = json!(fmt(end));
            status_cert["status"]["renewalTime"] = json!(fmt(start
                .checked_add(jiff::SignedDuration::from_hours(24 * 60))
                .unwrap_or(start)));
        }
        set_condition(
            &mut status_cert,
            "Issuing",
            "False",
            "Failed",
            "The certificate request has failed to complete and will be retried: Failed to wait for order resource to become ready: order is in \"invalid\" state",
        );
        if let Some(list) = status_cert
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut)
        {
            for c in list {
                c["observedGeneration"] = cert["metadata"]["generation"].clone();
                if let Some(o) = c.as_object_mut() {
                    o.remove("lastUpdateTime");
                }
            }
        }
        p.save(
            &key("cert-manager.io", "certificates"),
            Some(cert),
            status_cert.clone(),
            "cert-manager-certificates-trigger",
        );
    }
    let ready = arr(&status_cert, "/status/conditions")
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    let (Some(not_before), Some(not_after)) = (
        parse_ts(s(&status_cert, "/status/notBefore")),
        parse_ts(s(&status_cert, "/status/notAfter")),
    ) else {
        return;
    };
    if !ready {
        return;
    }
    let dns: Vec<String> = arr(cert, "/spec/dnsNames")
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let alt = dns.join(",");
    let old = p.store.get(&key("", "secrets"), ns, secret_name).ok();
    let current = old.as_ref().and_then(|o| {
        let held =
            crate::backends::doctor::tls::read_pem(&base64_decode(s(o, "/data/tls.crt"))?).ok()?;
        let same = s(o, "/metadata/annotations/cert-manager.io~1alt-names") == alt
            && jiff::Timestamp::from_second(held.not_after).ok().map(day) == Some(day(not_after));
        same.then_some(())
    });
    if current.is_some() {
        return;
    }
    let Some((crt, key_pem)) = issue(&dns, not_before, not_after) else {
        return;
    };
    use base64::Engine;
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t.as_bytes());
    let mut secret = old.clone().unwrap_or_else(|| {
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": secret_name, "namespace": ns}})
    });
    secret["metadata"]["annotations"] = json!({
        "cert-manager.io/alt-names": alt,
        "cert-manager.io/certificate-name": name,
        "cert-manager.io/common-name": dns.first().cloned().unwrap_or_default(),
        "cert-manager.io/ip-sans": "",
        "cert-manager.io/uri-sans": "",
        "cert-manager.io/issuer-name": s(cert, "/spec/issuerRef/name"),
        "cert-manager.io/issuer-kind": cert.pointer("/spec/issuerRef/kind").and_then(Value::as_str).unwrap_or("Issuer"),
        "cert-manager.io/issuer-group": cert.pointer("/spec/issuerRef/group").and_then(Value::as_str).unwrap_or("cert-manager.io"),
    });
    secret["metadata"]["labels"] = json!({"controller.cert-manager.io/fao": "true"});
    secret["data"] = json!({"tls.crt": b64(&crt), "tls.key": b64(&key_pem), "ca.crt": ""});
    p.save(
        &key("", "secrets"),
        old.as_ref(),
        secret,
        "cert-manager-certificates-issuing",
    );
}

fn base64_decode(b: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(b).ok()
}

/// A self-signed certificate for `dns` valid on the days of `from`..`to`, and its key (PEM).
fn issue(dns: &[String], from: jiff::Timestamp, to: jiff::Timestamp) -> Option<(String, String)> {
    let mut params = rcgen::CertificateParams::new(dns.to_vec()).ok()?;
    let (y, m, d) = day(from);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = day(to);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    if let Some(first) = dns.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, first.as_str());
    }
    let key = rcgen::KeyPair::generate().ok()?;
    let cert = params.self_signed(&key).ok()?;
    Some((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_intersect_like_gateway_api() {
        assert!(hosts_intersect("*.example.com", "app.example.com"));
        assert!(hosts_intersect("app.example.com", "*.example.com"));
        assert!(hosts_intersect("", "app.example.com"));
        assert!(!hosts_intersect("*.example.internal", "app.example.com"));
    }

    #[test]
    fn issued_certificates_read_back() {
        let from = jiff::Timestamp::now();
        let to = from
            .checked_add(jiff::SignedDuration::from_hours(24 * 90))
            .unwrap();
        let (crt, _) = issue(&["*.example.com".into()], from, to).unwrap();
        let info = crate::backends::doctor::tls::read_pem(crt.as_bytes()).unwrap();
        assert_eq!(info.dns_names, ["*.example.com"]);
        assert_eq!(
            jiff::Timestamp::from_second(info.not_after)
                .map(day)
                .unwrap(),
            day(to)
        );
    }
}
