//! Ingress and exposure (Stage 1 memo 7 and 8.1): Gateway API only; no NodePort, LoadBalancer or
//! externalIPs Service (k3s runs without servicelb, so the one way in from the LAN is the
//! Gateway's Envoy Service: ClusterIP with the nodes' addresses as externalIPs, set by its
//! EnvoyProxy); and public exposure only for the allowlisted media apps.

use super::{Rule, Violation};
use crate::repo::synced::Synced;
use crate::repo::tree::{Doc, Tree, YamlFile, YamlPath, walk};
use serde_yaml::Value;

pub const NO_INGRESS: Rule = Rule {
    id: "ingress/gateway-api-only",
    title: "Gateway API only: no Ingress objects or chart ingresses",
    hint: "replace the Ingress with an HTTPRoute attached to the `homelab` Gateway (namespace networking, sectionName internal or public); in chart values set ingress.enabled: false",
};
pub const SERVICE_TYPE: Rule = Rule {
    id: "ingress/service-type",
    title: "No NodePort, LoadBalancer or externalIPs; only the Gateway's EnvoyProxy claims the node addresses",
    hint: "use type ClusterIP and reach the app through an HTTPRoute on the `homelab` Gateway. k3s runs without servicelb, so a LoadBalancer stays <pending>: the Gateway needs an EnvoyProxy (platform/ingress/gateway-api/gateway/) with envoyService.type ClusterIP whose externalIPs are the cluster definition's vms[].ip",
};
pub const PUBLIC_ALLOWLIST: Rule = Rule {
    id: "exposure/public-allowlist",
    title: "Public exposure only for jellyfin, jellyseerr, navidrome (Stage 1 memo 8.1)",
    hint: "attach the route to the `internal` listener with a *.<domain>.internal hostname and drop external-dns annotations; widening the allowlist needs a change to the Stage 1 memo first",
};

/// Apps the memo allows to be public (the memo spells the folder `jellyseer`).
pub const PUBLIC_APPS: &[&str] = &["jellyfin", "jellyseerr", "jellyseer", "navidrome"];
/// Where the Gateway and its EnvoyProxy (the only owner of externalIPs) are defined.
pub const GATEWAY_DIR: &str = "cluster/kubernetes/platform/ingress/gateway-api/";
/// The same folder inside any cluster tree `cluster/<tree>/`.
const GATEWAY_SUBDIR: &str = "platform/ingress/gateway-api/";
/// Where an EnvoyProxy keeps its Service settings.
const ENVOY_SERVICE: &[&str] = &["spec", "provider", "kubernetes", "envoyService"];

const EXTERNAL_DNS_ANNOTATIONS: &[&str] = &[
    "external-dns.alpha.kubernetes.io/hostname",
    "external-dns.alpha.kubernetes.io/target",
];

pub fn check(tree: &Tree, synced: &Synced, out: &mut Vec<Violation>) {
    for f in &tree.yaml {
        // Public hostnames are under the domains of the clusters that sync this file.
        let domains = synced.domains(&f.rel);
        for d in f.values() {
            file_doc(f, d, &domains, out);
        }
    }
    envoy_proxies(tree, synced, out);
    gateways_have_envoy_proxy(tree, out);
}

fn file_doc(f: &YamlFile, d: &Doc, domains: &[String], out: &mut Vec<Violation>) {
    ingress_objects(f, d, out);
    service_types(f, d, out);
    public_routes(f, d, domains, out);
    external_dns_annotations(f, d, out);
    cloudflared_config(f, d, domains, out);
}

fn ingress_objects(f: &YamlFile, d: &Doc, out: &mut Vec<Violation>) {
    if d.kind() == Some("Ingress") {
        out.push(Violation::new(
            &NO_INGRESS,
            &f.rel,
            Some(d.line_at("kind")),
            format!(
                "Ingress `{}`: the Stage 1 ingress API is Gateway API (HTTPRoute)",
                d.name().unwrap_or("?")
            ),
        ));
    }
    if d.is("helm.toolkit.fluxcd.io/", "HelmRelease")
        && let Some(values) = d.get(&["spec", "values"])
    {
        let mut path = YamlPath::new(&["spec", "values"]);
        walk(values, &mut path, &mut |p, v| {
            let enabled = v.get("enabled").and_then(Value::as_bool) == Some(true);
            if enabled
                && p.last_key()
                    .is_some_and(|k| k.eq_ignore_ascii_case("ingress"))
            {
                let kp = p.join("enabled");
                out.push(Violation::new(
                    &NO_INGRESS,
                    &f.rel,
                    Some(d.line_at(&kp.to_string())),
                    format!(
                        "HelmRelease `{}` enables a chart Ingress at {}",
                        d.name().unwrap_or("?"),
                        kp.keys_after(2)
                    ),
                ));
            }
        });
    }
}

fn exposing(t: &str) -> bool {
    t == "NodePort" || t == "LoadBalancer"
}

fn service_types(f: &YamlFile, d: &Doc, out: &mut Vec<Violation>) {
    let name = d.name().unwrap_or("?");
    if d.kind() == Some("Service") {
        if let Some(t) = d.get_str(&["spec", "type"]).filter(|t| exposing(t)) {
            out.push(Violation::new(
                &SERVICE_TYPE,
                &f.rel,
                Some(d.line_at("spec.type")),
                format!("Service `{name}` is type {t}"),
            ));
        }
        if has_items(d.get(&["spec", "externalIPs"])) {
            out.push(Violation::new(
                &SERVICE_TYPE,
                &f.rel,
                Some(d.line_at("spec.externalIPs")),
                format!("Service `{name}` claims externalIPs; only the Gateway's EnvoyProxy may answer on the node addresses"),
            ));
        }
    }
    if d.is("helm.toolkit.fluxcd.io/", "HelmRelease")
        && let Some(values) = d.get(&["spec", "values"])
    {
        let mut path = YamlPath::new(&["spec", "values"]);
        walk(values, &mut path, &mut |p, v| {
            let is_service = p
                .last_key()
                .is_some_and(|k| k.to_ascii_lowercase().contains("service"));
            if !is_service {
                return;
            }
            if let Some(t) = v
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| exposing(t))
            {
                let kp = p.join("type");
                out.push(Violation::new(
                    &SERVICE_TYPE,
                    &f.rel,
                    Some(d.line_at(&kp.to_string())),
                    format!("HelmRelease `{name}` sets {} to {t}", kp.keys_after(2)),
                ));
            }
            if has_items(v.get("externalIPs")) {
                let kp = p.join("externalIPs");
                out.push(Violation::new(
                    &SERVICE_TYPE,
                    &f.rel,
                    Some(d.line_at(&kp.to_string())),
                    format!("HelmRelease `{name}` sets {}", kp.keys_after(2)),
                ));
            }
        });
    }
}

fn has_items(v: Option<&Value>) -> bool {
    v.and_then(Value::as_sequence)
        .is_some_and(|s| !s.is_empty())
}

/// Every EnvoyProxy: its Service must be ClusterIP (Envoy Gateway's default is LoadBalancer),
/// and externalIPs - set through `envoyService.patch`, the API has no field of its own - only
/// in a Gateway folder and only the node addresses of the cluster definitions that sync it.
fn envoy_proxies(tree: &Tree, synced: &Synced, out: &mut Vec<Violation>) {
    for (f, d) in tree.docs() {
        if !d.is("gateway.envoyproxy.io/", "EnvoyProxy") {
            continue;
        }
        let name = d.name().unwrap_or("?");
        let svc = ENVOY_SERVICE.join(".");
        match d.get(ENVOY_SERVICE).and_then(|s| s.get("type")).and_then(Value::as_str) {
            Some("ClusterIP") => {}
            Some(t) => out.push(Violation::new(
                &SERVICE_TYPE,
                &f.rel,
                Some(d.line_at(&format!("{svc}.type"))),
                format!("EnvoyProxy `{name}` sets envoyService.type to {t}"),
            )),
            None => out.push(Violation::new(
                &SERVICE_TYPE,
                &f.rel,
                Some(d.line_at(&format!("{svc}.type"))),
                format!("EnvoyProxy `{name}` leaves envoyService.type at Envoy Gateway's default, LoadBalancer, which stays <pending> (k3s runs with servicelb disabled): set it to ClusterIP"),
            )),
        }
        let patched = format!("{svc}.patch.value.spec");
        let mut patch_spec = ENVOY_SERVICE.to_vec();
        patch_spec.extend(["patch", "value", "spec"]);
        if let Some(t) = d
            .get(&patch_spec)
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
            .filter(|t| exposing(t))
        {
            out.push(Violation::new(
                &SERVICE_TYPE,
                &f.rel,
                Some(d.line_at(&format!("{patched}.type"))),
                format!("EnvoyProxy `{name}` patches its Service to type {t}"),
            ));
        }
        let ips = d
            .get(&patch_spec)
            .and_then(|s| s.get("externalIPs"))
            .and_then(Value::as_sequence);
        let Some(ips) = ips.filter(|s| !s.is_empty()) else {
            continue;
        };
        if !in_gateway_dir(&f.rel) {
            out.push(Violation::new(
                &SERVICE_TYPE,
                &f.rel,
                Some(d.line_at(&format!("{patched}.externalIPs"))),
                format!("EnvoyProxy `{name}` claims externalIPs outside {GATEWAY_DIR} (or cluster/<tree>/{GATEWAY_SUBDIR} of a second cluster's tree); only the shared Gateway answers on the node addresses"),
            ));
            continue;
        }
        let owners = synced.owners(&f.rel);
        if let Some(differ) = super::clusters::owners_disagree(&owners) {
            out.push(Violation::new(
                &super::clusters::SHARED_TREE,
                &f.rel,
                Some(d.line_at(&format!("{patched}.externalIPs"))),
                format!("EnvoyProxy `{name}` is synced to clusters that differ in {differ}: one EnvoyProxy answers on one cluster's nodes"),
            ));
            continue;
        }
        let nodes = synced.node_addresses(&f.rel);
        if nodes.is_empty() {
            continue;
        }
        let claimed: Vec<&str> = ips.iter().filter_map(Value::as_str).collect();
        let missing: Vec<&str> = nodes
            .iter()
            .map(String::as_str)
            .filter(|n| !claimed.contains(n))
            .collect();
        if !missing.is_empty() {
            out.push(Violation::new(
                &SERVICE_TYPE,
                &f.rel,
                Some(d.line_at(&format!("{patched}.externalIPs"))),
                format!("EnvoyProxy `{name}` leaves out the k3s node address(es) {}: the Gateway would not answer there", missing.join(", ")),
            ));
        }
        for (i, ip) in ips.iter().enumerate() {
            let ip = ip.as_str().unwrap_or("?");
            if !nodes.iter().any(|n| n == ip) {
                out.push(Violation::new(
                    &SERVICE_TYPE,
                    &f.rel,
                    Some(d.line_at(&format!("{patched}.externalIPs[{i}]"))),
                    format!("EnvoyProxy `{name}` claims externalIP {ip}, which is not a node address of the cluster definitions that sync this file ({}): kube-proxy would capture traffic for another host", nodes.join(", ")),
                ));
            }
        }
    }
}

/// A Gateway folder: `cluster/kubernetes/platform/ingress/gateway-api/` or the same folder of
/// a second cluster's own tree (`cluster/<tree>/platform/ingress/gateway-api/`).
fn in_gateway_dir(rel: &str) -> bool {
    rel.starts_with(GATEWAY_DIR)
        || rel.strip_prefix("cluster/").is_some_and(|r| {
            r.split_once('/')
                .is_some_and(|(_, rest)| rest.starts_with(GATEWAY_SUBDIR))
        })
}

/// Every Gateway needs an EnvoyProxy (its own `spec.infrastructure.parametersRef`, or its
/// GatewayClass's `spec.parametersRef`) that exists in the tree; without one Envoy Gateway
/// creates its default LoadBalancer Service.
fn gateways_have_envoy_proxy(tree: &Tree, out: &mut Vec<Violation>) {
    let proxies: Vec<(Option<&str>, &str)> = tree
        .docs()
        .filter(|(_, d)| d.is("gateway.envoyproxy.io/", "EnvoyProxy"))
        .filter_map(|(_, d)| Some((d.namespace(), d.name()?)))
        .collect();
    let exists = |ns: Option<&str>, name: &str| proxies.contains(&(ns, name));
    let is_proxy_ref = |r: &Value| {
        r.get("kind").and_then(Value::as_str) == Some("EnvoyProxy")
            && r.get("group").and_then(Value::as_str) == Some("gateway.envoyproxy.io")
    };
    let classes: Vec<(&str, Option<&Value>)> = tree
        .docs()
        .filter(|(_, d)| d.is("gateway.networking.k8s.io/", "GatewayClass"))
        .filter_map(|(_, d)| Some((d.name()?, d.get(&["spec", "parametersRef"]))))
        .collect();
    for (f, d) in tree.docs() {
        if !d.is("gateway.networking.k8s.io/", "Gateway") {
            continue;
        }
        let name = d.name().unwrap_or("?");
        let ns = d.namespace();
        let own = d
            .get(&["spec", "infrastructure", "parametersRef"])
            .filter(|r| is_proxy_ref(r));
        if let Some(r) = own {
            let target = r.get("name").and_then(Value::as_str).unwrap_or("?");
            if !exists(ns, target) {
                out.push(Violation::new(
                    &SERVICE_TYPE,
                    &f.rel,
                    Some(d.line_at("spec.infrastructure.parametersRef.name")),
                    format!("Gateway `{name}` references EnvoyProxy `{target}`, which is not in its namespace in the tree"),
                ));
            }
            continue;
        }
        let class = d.get_str(&["spec", "gatewayClassName"]).unwrap_or("?");
        let via_class = classes
            .iter()
            .find(|(c, _)| *c == class)
            .and_then(|(_, r)| *r)
            .filter(|r| is_proxy_ref(r))
            .map(|r| {
                (
                    r.get("namespace").and_then(Value::as_str),
                    r.get("name").and_then(Value::as_str).unwrap_or("?"),
                )
            });
        match via_class {
            Some((pns, pname)) if exists(pns, pname) => {}
            Some((pns, pname)) => out.push(Violation::new(
                &SERVICE_TYPE,
                &f.rel,
                Some(d.line_at("spec.gatewayClassName")),
                format!("Gateway `{name}`: its GatewayClass `{class}` references EnvoyProxy `{}/{pname}`, which is not in the tree", pns.unwrap_or("")),
            )),
            None => out.push(Violation::new(
                &SERVICE_TYPE,
                &f.rel,
                Some(d.line_at("spec.gatewayClassName")),
                format!("Gateway `{name}` has no EnvoyProxy (spec.infrastructure.parametersRef or its GatewayClass's parametersRef), so Envoy Gateway gives it a LoadBalancer Service that stays <pending> (k3s runs with servicelb disabled)"),
            )),
        }
    }
}

fn allowed(name: &str) -> bool {
    PUBLIC_APPS.contains(&name)
}

/// A hostname under one of the cluster's public domains (they all route through the tunnel).
fn public_hostname(host: &str, domains: &[String]) -> bool {
    let h = host.trim_start_matches("*.");
    domains
        .iter()
        .any(|d| h == d || h.ends_with(&format!(".{d}")))
}

fn public_routes(f: &YamlFile, d: &Doc, domains: &[String], out: &mut Vec<Violation>) {
    let is_route = d
        .api_version()
        .is_some_and(|a| a.starts_with("gateway.networking.k8s.io/"))
        && d.kind().is_some_and(|k| k.ends_with("Route"));
    if !is_route {
        return;
    }
    let name = d.name().unwrap_or("?");
    let backends: Vec<&str> = d
        .get(&["spec", "rules"])
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .flat_map(|r| {
            r.get("backendRefs")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
        })
        .filter_map(|b| b.get("name").and_then(Value::as_str))
        .collect();
    let app_allowed = allowed(name) && backends.iter().all(|b| allowed(b));
    if app_allowed {
        return;
    }
    let who = if allowed(name) {
        format!("route `{name}` sends traffic to {}", backends.join(", "))
    } else {
        format!("route `{name}`")
    };
    for (i, p) in d
        .get(&["spec", "parentRefs"])
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let section = p.get("sectionName").and_then(Value::as_str);
        match section {
            Some("public") => out.push(Violation::new(
                &PUBLIC_ALLOWLIST,
                &f.rel,
                Some(d.line_at(&format!("spec.parentRefs[{i}].sectionName"))),
                format!("{who} attaches to the public listener"),
            )),
            None => out.push(Violation::new(
                &PUBLIC_ALLOWLIST,
                &f.rel,
                Some(d.line_at(&format!("spec.parentRefs[{i}].name"))),
                format!("{who} names no sectionName, so it attaches to every listener including `public`"),
            )),
            Some(_) => {}
        }
    }
    for h in super::structure::seq_strs(d.get(&["spec", "hostnames"])) {
        if public_hostname(h, domains) {
            out.push(Violation::new(
                &PUBLIC_ALLOWLIST,
                &f.rel,
                Some(d.line_containing(h)),
                format!("{who} uses the public hostname `{h}` (everything under the public domain routes through the tunnel)"),
            ));
        }
    }
}

fn external_dns_annotations(f: &YamlFile, d: &Doc, out: &mut Vec<Violation>) {
    let Some(Value::Mapping(ann)) = d.get(&["metadata", "annotations"]) else {
        return;
    };
    let name = d.name().unwrap_or("?");
    if allowed(name) {
        return;
    }
    for key in EXTERNAL_DNS_ANNOTATIONS {
        if let Some(v) = ann.get(*key).and_then(Value::as_str) {
            out.push(Violation::new(
                &PUBLIC_ALLOWLIST,
                &f.rel,
                Some(d.line_containing(key)),
                format!(
                    "{} `{name}` asks external-dns to publish a public record ({key}: {v})",
                    d.kind().unwrap_or("object")
                ),
            ));
        }
    }
}

/// cloudflared configs embedded in ConfigMaps: only the wildcard (and allowlisted apps) may be
/// routed through the tunnel; per-app rules for other apps bypass the Gateway's allowlist.
fn cloudflared_config(f: &YamlFile, d: &Doc, domains: &[String], out: &mut Vec<Violation>) {
    if d.kind() != Some("ConfigMap") {
        return;
    }
    let Some(Value::Mapping(data)) = d.get(&["data"]) else {
        return;
    };
    for text in data.values().filter_map(Value::as_str) {
        let Ok(cfg) = serde_yaml::from_str::<Value>(text) else {
            continue;
        };
        let Some(rules) = cfg.get("ingress").and_then(Value::as_sequence) else {
            continue;
        };
        for r in rules {
            let Some(host) = r.get("hostname").and_then(Value::as_str) else {
                continue;
            };
            let ok = domains.iter().any(|dom| {
                host == format!("*.{dom}")
                    || host == dom.as_str()
                    || PUBLIC_APPS.iter().any(|a| host == format!("{a}.{dom}"))
            });
            if !ok {
                out.push(Violation::new(
                    &PUBLIC_ALLOWLIST,
                    &f.rel,
                    Some(d.line_containing(host)),
                    format!("cloudflared routes `{host}` through the tunnel; only *.<domain> to the Gateway (or an allowlisted app) is allowed"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_hostnames_follow_the_domain() {
        let d = vec!["funoffshore.com".to_string()];
        assert!(public_hostname("x.funoffshore.com", &d));
        assert!(public_hostname("*.funoffshore.com", &d));
        assert!(!public_hostname("x.funoffshore.internal", &d));
        assert!(!public_hostname("notfunoffshore.com", &d));
    }
}
