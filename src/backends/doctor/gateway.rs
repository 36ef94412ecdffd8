//! Links 4-6: the Gateway listener and the route's attachment, the route's status, the
//! Service's endpoints and pods. Conditions as Gateway API and Envoy Gateway report them
//! (docs/reference/kubernetes.md §7, WIRE-2.md I).

use super::cloudflare::kube_broken;
use super::kube::{
    self as k, ENDPOINT_SLICE, GATEWAY, HTTP_ROUTE, POD, SERVICE, condition, describe, is_true,
    meta,
};
use super::{Doctor, Trail, tree};
use crate::backends::cloudflare::ingress::host_matches;
use crate::domain::doctor::{Finding, Fix, Link, SourceDoc};
use serde_json::Value;

fn arr<'v>(v: &'v Value, ptr: &str) -> impl Iterator<Item = &'v Value> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn s<'v>(v: &'v Value, ptr: &str) -> Option<&'v str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// A fix on a field of a live object: its file in the tree when there is one, else
/// `kubectl edit`.
fn obj_fix(d: &Doctor, obj: &Value, path: &str, change: String) -> Fix {
    match tree::doc_of(&d.facts, obj) {
        Some(doc) => tree::field_fix(doc, path, change),
        None => Fix::Command {
            command: format!(
                "kubectl -n {} edit {} {}",
                meta(obj, "namespace"),
                obj.get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("object")
                    .to_ascii_lowercase(),
                meta(obj, "name")
            ),
            why: format!("{path}: {change} (it is not in the tree: applied by hand?)"),
        },
    }
}

/// Whether a route's hostnames cover `host` (a route without hostnames takes the listener's).
fn route_serves(route: &Value, host: &str) -> bool {
    match route.pointer("/spec/hostnames").and_then(Value::as_array) {
        Some(hs) if !hs.is_empty() => hs
            .iter()
            .filter_map(Value::as_str)
            .any(|h| host_matches(h, host)),
        _ => false,
    }
}

/// Whether `parent` (a parentRef of a route in `route_ns`) names the Gateway `ns/name`.
fn refers_to(parent: &Value, route_ns: &str, ns: &str, name: &str) -> bool {
    let group = s(parent, "/group").unwrap_or("gateway.networking.k8s.io");
    let kind = s(parent, "/kind").unwrap_or("Gateway");
    group == "gateway.networking.k8s.io"
        && kind == "Gateway"
        && s(parent, "/name") == Some(name)
        && s(parent, "/namespace").unwrap_or(route_ns) == ns
}

/// For an internal host (no tunnel rule to name the Gateway): the tree's Gateway with an HTTPS
/// listener whose hostname covers `host`, put on the trail for link 4; else link 4 broken.
pub fn internal_gateway(d: &Doctor, host: &str, trail: &mut Trail) -> Result<(), Box<Finding>> {
    let covers = |g: &SourceDoc| {
        arr(&g.value, "/spec/listeners").any(|l| {
            s(l, "/protocol") == Some("HTTPS")
                && host_matches(s(l, "/hostname").unwrap_or(""), host)
        })
    };
    if let Some(g) = d.facts.of_kind("Gateway").find(|g| covers(g)) {
        let ns = g.namespace.clone().unwrap_or_else(|| "default".into());
        trail.gateway = Some((ns, g.name.clone()));
        return Ok(());
    }
    let change = format!("add an HTTPS listener whose hostname covers {host}");
    let fix = match d.facts.of_kind("Gateway").next() {
        Some(doc) => tree::field_fix(doc, "spec.listeners", change),
        None => Fix::Command {
            command: "kubectl get gateways -A".into(),
            why: format!("the tree has no Gateway: {change}"),
        },
    };
    Err(Box::new(Finding::broken(
        Link::Gateway,
        format!("no Gateway of the tree has an HTTPS listener for {host}"),
        fix,
    )))
}

/// Link 4.
pub async fn listener(d: &Doctor, host: &str, trail: &mut Trail) -> Finding {
    let link = Link::Gateway;
    let Some((ns, name)) = trail.gateway.clone() else {
        return Finding::broken(
            link,
            "the tunnel rule reaches no Gateway",
            Fix::Command {
                command: "kubectl get gateways -A".into(),
                why: "see link 3".into(),
            },
        );
    };
    let gw_doc = d.facts.doc("Gateway", Some(&ns), &name);
    let gw = match k::get(&d.kube, GATEWAY, &ns, &name).await {
        Ok(Some(g)) => g,
        Ok(None) => {
            return Finding::broken(
                link,
                format!("Gateway {ns}/{name} is not in the cluster"),
                Fix::Command {
                    command: "flux get kustomizations -A".into(),
                    why: "the Kustomization that applies the Gateway is not Ready (or Gateway API's CRDs are missing)".into(),
                },
            );
        }
        Err(e) => return kube_broken(link, e),
    };
    let conds = gw.pointer("/status/conditions");
    let mut evidence = vec![format!(
        "Gateway {ns}/{name}: {}",
        describe(conds, "Programmed")
    )];
    if !is_true(conds, "Programmed") {
        let reason = condition(conds, "Programmed")
            .and_then(|c| s(c, "/reason"))
            .unwrap_or_default();
        let proxy = d.facts.of_kind("EnvoyProxy").next();
        let fix = match proxy {
            Some(p) if reason == "AddressNotAssigned" => tree::field_fix(
                p,
                "spec.provider.kubernetes.envoyService",
                "the Envoy Service has no address: give it externalIPs (the nodes' addresses) or run a load-balancer controller",
            ),
            _ => Fix::Command {
                command: format!("kubectl -n {ns} describe gateway {name}"),
                why: "Envoy Gateway says why the Gateway is not programmed (its Envoy pods and Service in envoy-gateway-system)".into(),
            },
        };
        return Finding::broken(
            link,
            format!(
                "Gateway {ns}/{name} is not programmed: {}",
                describe(conds, "Programmed")
            ),
            fix,
        )
        .with_evidence(evidence);
    }
    let port = trail.gateway_port;
    let listeners: Vec<&Value> = arr(&gw, "/spec/listeners").collect();
    let found = listeners.iter().position(|l| {
        s(l, "/protocol") == Some("HTTPS")
            && host_matches(s(l, "/hostname").unwrap_or(""), host)
            && port.is_none_or(|p| l.get("port").and_then(Value::as_u64) == Some(u64::from(p)))
    });
    let Some(li) = found else {
        let change = format!("add an HTTPS listener whose hostname covers {host}");
        let fix = match gw_doc {
            Some(doc) => tree::field_fix(doc, "spec.listeners", change),
            None => obj_fix(d, &gw, "spec.listeners", change),
        };
        return Finding::broken(
            link,
            format!("Gateway {ns}/{name} has no HTTPS listener for {host}"),
            fix,
        )
        .with_evidence(evidence);
    };
    let lname = s(listeners[li], "/name").unwrap_or_default().to_string();
    let lstatus = arr(&gw, "/status/listeners").find(|l| s(l, "/name") == Some(&lname));
    let lconds = lstatus.and_then(|l| l.get("conditions"));
    evidence.push(format!(
        "listener {lname}: {}, attachedRoutes {}",
        describe(lconds, "Programmed"),
        lstatus
            .and_then(|l| l.get("attachedRoutes"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    ));
    if !is_true(lconds, "Programmed") {
        let bad_cert =
            condition(lconds, "ResolvedRefs").is_some_and(|c| s(c, "/status") == Some("False"));
        let fix = match gw_doc {
            Some(doc) if bad_cert => tree::field_fix(
                doc,
                &format!("spec.listeners[{li}].tls.certificateRefs"),
                format!(
                    "the listener's certificate does not resolve: {}",
                    describe(lconds, "ResolvedRefs")
                ),
            ),
            _ => Fix::Command {
                command: format!("kubectl -n {ns} describe gateway {name}"),
                why: format!("the listener `{lname}` is not programmed; its conditions say why"),
            },
        };
        return Finding::broken(
            link,
            format!(
                "listener `{lname}` of Gateway {ns}/{name} is not programmed: {}",
                describe(lconds, "Programmed")
            ),
            fix,
        )
        .with_evidence(evidence);
    }
    trail.gateway_obj = Some(gw.clone());
    trail.listener = Some(li);
    let routes = match k::list(&d.kube, HTTP_ROUTE, None, None).await {
        Ok(r) => r,
        Err(e) => return kube_broken(link, e).with_evidence(evidence),
    };
    let serving: Vec<&Value> = routes.iter().filter(|r| route_serves(r, host)).collect();
    let Some(route) = serving.first() else {
        let in_tree = d
            .facts
            .of_kind("HTTPRoute")
            .find(|r| route_serves(&r.value, host));
        let fix = match in_tree {
            Some(r) => Fix::Command {
                command: "flux get kustomizations -A".into(),
                why: format!(
                    "the tree's route {} is not in the cluster: the Kustomization that applies it is not Ready",
                    r.file
                ),
            },
            None => Fix::Command {
                command: "homelab scaffold app".into(),
                why: format!("no HTTPRoute has hostname {host}"),
            },
        };
        return Finding::broken(
            link,
            format!("no HTTPRoute in the cluster serves {host}"),
            fix,
        )
        .with_evidence(evidence);
    };
    let rns = meta(route, "namespace");
    let lport = listeners[li].get("port").and_then(Value::as_u64);
    let attached = arr(route, "/spec/parentRefs").any(|p| {
        refers_to(p, rns, &ns, &name)
            && s(p, "/sectionName").is_none_or(|sn| sn == lname)
            && p.get("port")
                .and_then(Value::as_u64)
                .is_none_or(|pp| Some(pp) == lport)
    });
    let rname = format!("{rns}/{}", meta(route, "name"));
    if !attached {
        return Finding::broken(
            link,
            format!(
                "HTTPRoute {rname} is not attached to listener `{lname}` of Gateway {ns}/{name}"
            ),
            obj_fix(
                d,
                route,
                "spec.parentRefs",
                format!(
                    "refer to the Gateway: name: {name}, namespace: {ns}, sectionName: {lname}"
                ),
            ),
        )
        .with_evidence(evidence);
    }
    trail.route = Some((*route).clone());
    Finding::pass(
        link,
        format!(
            "listener `{lname}` of Gateway {ns}/{name} is programmed; HTTPRoute {rname} is attached to it"
        ),
        evidence,
    )
}

/// Link 5.
pub async fn route(d: &Doctor, trail: &mut Trail) -> Finding {
    let link = Link::Route;
    let (Some(route), Some((gns, gname)), Some(gw), Some(li)) = (
        trail.route.clone(),
        trail.gateway.clone(),
        trail.gateway_obj.clone(),
        trail.listener,
    ) else {
        return Finding::broken(
            link,
            "no route to check",
            Fix::Command {
                command: "kubectl get httproutes -A".into(),
                why: "see link 4".into(),
            },
        );
    };
    let rns = meta(&route, "namespace").to_string();
    let rname = format!("{rns}/{}", meta(&route, "name"));
    // A fresh read: the status the controller wrote last.
    let route = match k::get(&d.kube, HTTP_ROUTE, &rns, meta(&route, "name")).await {
        Ok(Some(r)) => r,
        Ok(None) => route,
        Err(e) => return kube_broken(link, e),
    };
    let parent = arr(&route, "/status/parents").find(|p| {
        p.get("parentRef")
            .is_some_and(|r| refers_to(r, &rns, &gns, &gname))
    });
    let Some(parent) = parent else {
        return Finding::broken(
            link,
            format!(
                "Envoy Gateway has not reported on HTTPRoute {rname} for Gateway {gns}/{gname} (status.parents has no entry)"
            ),
            Fix::Command {
                command: "kubectl -n envoy-gateway-system logs deploy/envoy-gateway".into(),
                why: "the controller has not processed the route: its log says why".into(),
            },
        );
    };
    let conds = parent.get("conditions");
    let evidence = vec![
        format!("HTTPRoute {rname}: {}", describe(conds, "Accepted")),
        format!("HTTPRoute {rname}: {}", describe(conds, "ResolvedRefs")),
    ];
    let reason = |ty: &str| {
        condition(conds, ty)
            .and_then(|c| s(c, "/reason"))
            .unwrap_or_default()
            .to_string()
    };
    if !is_true(conds, "Accepted") {
        let why = describe(conds, "Accepted");
        let fix = match reason("Accepted").as_str() {
            "NotAllowedByListeners" => {
                let sel = gw
                    .pointer(&format!(
                        "/spec/listeners/{li}/allowedRoutes/namespaces/selector/matchLabels"
                    ))
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    });
                match (d.facts.doc("Namespace", None, &rns), sel) {
                    (Some(nsdoc), Some(labels)) => tree::field_fix(
                        nsdoc,
                        "metadata.labels",
                        format!(
                            "add the label {labels}: the listener admits routes only from namespaces labelled so"
                        ),
                    ),
                    _ => obj_fix(
                        d,
                        &gw,
                        &format!("spec.listeners[{li}].allowedRoutes"),
                        format!("admit routes from namespace {rns}"),
                    ),
                }
            }
            "NoMatchingListenerHostname" => obj_fix(
                d,
                &route,
                "spec.hostnames",
                "use a hostname under the listener's hostname".into(),
            ),
            "NoMatchingParent" => obj_fix(
                d,
                &route,
                "spec.parentRefs",
                format!("refer to an existing listener of Gateway {gns}/{gname}"),
            ),
            _ => Fix::Command {
                command: format!(
                    "kubectl -n {rns} describe httproute {}",
                    meta(&route, "name")
                ),
                why: why.clone(),
            },
        };
        return Finding::broken(
            link,
            format!("HTTPRoute {rname} is not accepted: {why}"),
            fix,
        )
        .with_evidence(evidence);
    }
    if !is_true(conds, "ResolvedRefs") {
        let why = describe(conds, "ResolvedRefs");
        let fix = match reason("ResolvedRefs").as_str() {
            "BackendNotFound" | "RefNotPermitted" | "InvalidKind" | "UnsupportedProtocol" => {
                obj_fix(
                    d,
                    &route,
                    "spec.rules",
                    format!("fix the backendRefs: {why}"),
                )
            }
            _ => Fix::Command {
                command: format!(
                    "kubectl -n {rns} describe httproute {}",
                    meta(&route, "name")
                ),
                why: why.clone(),
            },
        };
        return Finding::broken(
            link,
            format!("HTTPRoute {rname} does not resolve its references: {why}"),
            fix,
        )
        .with_evidence(evidence);
    }
    trail.route = Some(route);
    Finding::pass(
        link,
        format!("HTTPRoute {rname} is Accepted with ResolvedRefs"),
        evidence,
    )
}

/// The label selector text of a Service's `spec.selector`.
fn selector(svc: &Value) -> Option<String> {
    let m = svc.pointer("/spec/selector")?.as_object()?;
    (!m.is_empty()).then(|| {
        m.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Why a pod is not Ready, in a few words (`CrashLoopBackOff`, `Pending`).
fn pod_problem(pod: &Value) -> Option<String> {
    if is_true(pod.pointer("/status/conditions"), "Ready") {
        return None;
    }
    let waiting = arr(pod, "/status/containerStatuses")
        .find_map(|c| s(c, "/state/waiting/reason"))
        .map(str::to_string);
    Some(waiting.unwrap_or_else(|| s(pod, "/status/phase").unwrap_or("Unknown").to_string()))
}

/// Link 6.
pub async fn backend(d: &Doctor, trail: &mut Trail) -> Finding {
    let link = Link::Backend;
    let Some(route) = trail.route.clone() else {
        return Finding::broken(
            link,
            "no route to check",
            Fix::Command {
                command: "kubectl get httproutes -A".into(),
                why: "see link 5".into(),
            },
        );
    };
    let rns = meta(&route, "namespace").to_string();
    let refs: Vec<&Value> = arr(&route, "/spec/rules")
        .flat_map(|r| arr(r, "/backendRefs"))
        .filter(|b| {
            s(b, "/kind").unwrap_or("Service") == "Service"
                && s(b, "/group").unwrap_or("").is_empty()
        })
        .collect();
    if refs.is_empty() {
        return Finding::broken(
            link,
            format!(
                "HTTPRoute {rns}/{} sends traffic to no Service",
                meta(&route, "name")
            ),
            obj_fix(
                d,
                &route,
                "spec.rules",
                "add a backendRefs entry naming the app's Service and port".into(),
            ),
        );
    }
    let mut evidence = vec![];
    for b in refs {
        let ns = s(b, "/namespace").unwrap_or(&rns).to_string();
        let name = s(b, "/name").unwrap_or_default().to_string();
        let svc = match k::get(&d.kube, SERVICE, &ns, &name).await {
            Ok(Some(svc)) => svc,
            Ok(None) => {
                return Finding::broken(
                    link,
                    format!("Service {ns}/{name} does not exist"),
                    obj_fix(
                        d,
                        &route,
                        "spec.rules",
                        format!("the backendRef names Service {ns}/{name}"),
                    ),
                )
                .with_evidence(evidence);
            }
            Err(e) => return kube_broken(link, e),
        };
        if let Some(port) = b.get("port").and_then(Value::as_u64) {
            let ports: Vec<u64> = arr(&svc, "/spec/ports")
                .filter_map(|p| p.get("port").and_then(Value::as_u64))
                .collect();
            if !ports.contains(&port) {
                return Finding::broken(
                    link,
                    format!("Service {ns}/{name} has no port {port} (it has {ports:?})"),
                    obj_fix(
                        d,
                        &route,
                        "spec.rules",
                        format!("use one of the Service's ports {ports:?}"),
                    ),
                )
                .with_evidence(evidence);
            }
        }
        let slices = match k::list(
            &d.kube,
            ENDPOINT_SLICE,
            Some(&ns),
            Some(&format!("kubernetes.io/service-name={name}")),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => return kube_broken(link, e),
        };
        // `ready` absent means ready (discovery.k8s.io/v1 EndpointConditions).
        let ready = slices
            .iter()
            .flat_map(|sl| arr(sl, "/endpoints"))
            .filter(|e| e.pointer("/conditions/ready") != Some(&Value::Bool(false)))
            .count();
        let total = slices.iter().flat_map(|sl| arr(sl, "/endpoints")).count();
        evidence.push(format!(
            "Service {ns}/{name}: {} EndpointSlice(s), {ready} of {total} endpoint(s) ready",
            slices.len()
        ));
        let pods = match selector(&svc) {
            Some(sel) => match k::list(&d.kube, POD, Some(&ns), Some(&sel)).await {
                Ok(p) => Some((sel, p)),
                Err(e) => return kube_broken(link, e),
            },
            None => None,
        };
        let unready: Vec<(String, String)> = pods
            .iter()
            .flat_map(|(_, p)| p.iter())
            .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
            .filter_map(|p| pod_problem(p).map(|why| (meta(p, "name").to_string(), why)))
            .collect();
        if let Some((_, p)) = &pods {
            evidence.push(format!(
                "pods: {} of {} Ready{}",
                p.len() - unready.len(),
                p.len(),
                unready
                    .iter()
                    .map(|(n, w)| format!("; {n} {w}"))
                    .collect::<String>()
            ));
        }
        if ready > 0 {
            continue;
        }
        let fix = match &pods {
            Some((sel, p)) if p.is_empty() => {
                let change = format!("the selector {sel} matches no pod: use the labels of the workload's pod template");
                match d.facts.doc("Service", Some(&ns), &name) {
                    Some(doc) => tree::field_fix(doc, "spec.selector", change),
                    None => obj_fix(d, &svc, "spec.selector", change),
                }
            }
            _ => match unready.first() {
                Some((pod, why)) if why == "CrashLoopBackOff" || why == "Error" => Fix::Command {
                    command: format!("kubectl -n {ns} logs {pod} --previous"),
                    why: format!("pod {pod} is crash-looping: its last run's log says why"),
                },
                Some((pod, why)) => Fix::Command {
                    command: format!("kubectl -n {ns} describe pod {pod}"),
                    why: format!("pod {pod} is not Ready ({why}): its events say why"),
                },
                None => Fix::Command {
                    command: format!("kubectl -n {ns} get endpointslices -l kubernetes.io/service-name={name} -o yaml"),
                    why: "the pods are Ready but no endpoint is: check the Service's targetPort against the containers' ports".into(),
                },
            },
        };
        return Finding::broken(
            link,
            format!("Service {ns}/{name} has no ready endpoint"),
            fix,
        )
        .with_evidence(evidence);
    }
    Finding::pass(link, "every backend Service has ready endpoints", evidence)
}

/// The tree document of the Gateway `ns/name`, for other links.
pub fn gateway_doc<'f>(d: &'f Doctor, trail: &Trail) -> Option<&'f SourceDoc> {
    let (ns, name) = trail.gateway.as_ref()?;
    d.facts.doc("Gateway", Some(ns), name)
}
