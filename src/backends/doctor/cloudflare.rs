//! Links 1-3: the DNS record, the tunnel's connectors, the tunnel's ingress rule.

use super::kube::{self as k, SERVICE};
use super::{Cloudflare, Doctor, Trail, tree};
use crate::backends::cloudflare::{CfError, ErrorKind, HostRecord, RecordQuery, Zone};
use crate::domain::doctor::{Finding, Fix, Link};
use serde_json::Value;

const TOKENS: &str =
    "dash.cloudflare.com > My Profile > API Tokens > Edit (the token keeps its value)";
/// CNAMEs followed inside the zone from the host's record to the tunnel.
const MAX_HOPS: usize = 4;

/// What to do about a failed Cloudflare call.
fn cf_fix(d: &Doctor, e: &CfError) -> Fix {
    let env = &d.facts.env_file;
    match e.kind() {
        Some(ErrorKind::MissingPermission(p)) => Fix::TokenScope {
            permission: p.label().into(),
            how: TOKENS.into(),
        },
        Some(ErrorKind::NoCredentials | ErrorKind::MalformedToken | ErrorKind::InvalidToken) => {
            Fix::Command {
                command: format!("homelab env set {env} CLOUDFLARE_API_TOKEN"),
                why: "Cloudflare does not accept the API token: store a valid one (Zone > Zone > Read, Zone > DNS > Read, Account > Cloudflare Tunnel > Read)".into(),
            }
        }
        Some(ErrorKind::NotFound) => Fix::Command {
            command: format!("homelab env set {env} CLOUDFLARE_TUNNEL_TOKEN"),
            why: "Cloudflare does not know the tunnel this token names (deleted, or another account's): store the token of the tunnel cloudflared runs".into(),
        },
        _ => Fix::Command {
            command: "curl -sS https://www.cloudflarestatus.com/api/v2/status.json".into(),
            why: "the Cloudflare API did not answer as expected: check its status and this machine's network, then run the doctor again".into(),
        },
    }
}

fn cf_broken(d: &Doctor, link: Link, e: &CfError) -> Finding {
    Finding::broken(link, e.to_string(), cf_fix(d, e))
}

/// The tree's HTTPRoute (document) whose `spec.hostnames` holds `host`.
fn route_doc<'f>(d: &'f Doctor, host: &str) -> Option<&'f crate::domain::doctor::SourceDoc> {
    d.facts.of_kind("HTTPRoute").find(|r| {
        r.value
            .pointer("/spec/hostnames")
            .and_then(Value::as_array)
            .is_some_and(|hs| hs.iter().any(|h| h.as_str() == Some(host)))
    })
}

/// Link 1.
pub async fn dns(d: &Doctor, cf: &Cloudflare, host: &str) -> Finding {
    let link = Link::Dns;
    if let Some(domain) = &d.facts.domain {
        let dom = domain.value.trim_end_matches('.').to_ascii_lowercase();
        if !crate::domain::doctor::under_domain(host, &dom) {
            return Finding::broken(
                link,
                format!(
                    "{host} is not under the cluster's public domain {dom}: only names under it go through Cloudflare and the tunnel"
                ),
                Fix::GitField {
                    file: domain.file.clone(),
                    line: domain.line,
                    field: domain.field.clone(),
                    change: format!(
                        "the public domain is {dom}; check the hostname, or set the domain the tunnel serves"
                    ),
                },
            );
        }
    }
    let zone = match cf.api.zone_for_host(host).await {
        Ok(z) => z,
        Err(CfError::ZoneNotFound { name }) => {
            return Finding::broken(
                link,
                format!("the API token sees no Cloudflare zone holding {name}"),
                Fix::TokenScope {
                    permission: "Zone > Zone > Read".into(),
                    how: format!(
                        "{TOKENS}; include the zone of {name} in the token's zone resources"
                    ),
                },
            );
        }
        Err(e) => return cf_broken(d, link, &e),
    };
    let registry = tree::registry(&d.facts);
    let records = match cf.api.host_records(&zone, host, &registry).await {
        Ok(r) => r,
        Err(e) => return cf_broken(d, link, &e),
    };
    let route = route_doc(d, host);
    let Some(rec) = records.first() else {
        let fix = match route {
            Some(r) if r
                .value
                .pointer("/metadata/annotations/external-dns.alpha.kubernetes.io~1target")
                .is_none() =>
            {
                tree::field_fix(
                    r,
                    "metadata.annotations",
                    "add external-dns.alpha.kubernetes.io/target: <the tunnel's name>: external-dns publishes only the routes that carry it (its --annotation-filter)",
                )
            }
            Some(_) => Fix::Command {
                command: "kubectl -n networking logs deploy/external-dns".into(),
                why: "the route asks external-dns for a record but there is none: its log says why (token, domain filter, owner conflict)".into(),
            },
            None => Fix::Command {
                command: "homelab scaffold app".into(),
                why: format!("no HTTPRoute in the tree serves {host}: add the app (or its route) and let external-dns publish it"),
            },
        };
        return Finding::broken(
            link,
            format!(
                "zone {} has no A, AAAA or CNAME record for {host}",
                zone.name
            ),
            fix,
        );
    };
    let evidence = vec![
        format!("zone {} ({})", zone.name, zone.id),
        format!(
            "{} {} -> {} proxied={}",
            rec.record.record_type, rec.record.name, rec.record.content, rec.record.proxied
        ),
    ];
    if !rec.record.proxied {
        let hr = tree::external_dns(&d.facts);
        let fix = match hr {
            Some(hr) if !tree::extra_args(hr).iter().any(|a| a == "--cloudflare-proxied") => {
                tree::field_fix(
                    hr,
                    "spec.values.extraArgs",
                    "add --cloudflare-proxied: without it external-dns writes DNS-only records, which expose no tunnel",
                )
            }
            _ => Fix::Command {
                command: "kubectl -n networking rollout restart deploy/external-dns".into(),
                why: "external-dns runs with --cloudflare-proxied yet the record is DNS-only (changed by hand?): it sets records it owns right when it syncs".into(),
            },
        };
        return Finding::broken(
            link,
            format!("the record for {host} is DNS-only (proxied: false): traffic does not go through Cloudflare to the tunnel"),
            fix,
        )
        .with_evidence(evidence);
    }
    if let Some(f) = ownership(d, rec, &registry.owner) {
        return f.with_evidence(evidence);
    }
    match reaches_tunnel(cf, &zone, rec).await {
        Ok(true) => {}
        Ok(false) => {
            let want = format!("{}.cfargotunnel.com", cf.tunnel.tunnel_id);
            let fix = match route {
                Some(r) => tree::field_fix(
                    r,
                    "metadata.annotations",
                    format!(
                        "external-dns.alpha.kubernetes.io/target must be {want} or a name that is a CNAME to it"
                    ),
                ),
                None => Fix::Command {
                    command: "kubectl -n networking logs deploy/external-dns".into(),
                    why: format!("the record must be a CNAME to {want}"),
                },
            };
            return Finding::broken(
                link,
                format!(
                    "the record for {host} does not lead to this cluster's tunnel ({})",
                    cf.tunnel.tunnel_id
                ),
                fix,
            )
            .with_evidence(evidence);
        }
        Err(e) => return cf_broken(d, link, &e).with_evidence(evidence),
    }
    Finding::pass(
        link,
        format!(
            "{} record proxied, owned by external-dns ({}), leads to the tunnel",
            rec.record.record_type, registry.owner
        ),
        evidence,
    )
}

/// Why external-dns does not own `rec`, if it does not.
fn ownership(d: &Doctor, rec: &HostRecord, owner: &str) -> Option<Finding> {
    let hr = tree::external_dns(&d.facts);
    match &rec.owner {
        None => Some(Finding::broken(
            Link::Dns,
            format!(
                "external-dns does not own the record: no TXT registry record {} says heritage=external-dns",
                rec.txt_name
            ),
            Fix::Dashboard {
                place: "dash.cloudflare.com > DNS > Records".into(),
                change: format!(
                    "delete the {} record {}: external-dns never changes a record it does not own; once it is gone it writes it again with its owner record on its next sync",
                    rec.record.record_type, rec.record.name
                ),
            },
        )),
        Some(o) if o.owner != owner => {
            let why = format!(
                "the record is owned by external-dns owner `{}`, this cluster's external-dns runs as `{owner}`",
                o.owner
            );
            let fix = match hr {
                Some(hr) => {
                    let field = tree::owner_field(hr);
                    tree::field_fix(
                        hr,
                        &field,
                        format!(
                            "{why}: if this cluster should own it, set the owner id to `{}`; else pick another hostname",
                            o.owner
                        ),
                    )
                }
                None => Fix::Command {
                    command: "kubectl -n networking get deploy external-dns -o yaml".into(),
                    why: format!("{why}: check its --txt-owner-id"),
                },
            };
            Some(Finding::broken(
                Link::Dns,
                format!("another external-dns owns the record (owner `{}`)", o.owner),
                fix,
            ))
        }
        Some(_) => None,
    }
}

/// Whether `rec` is, or leads through CNAMEs inside the zone to, `<tunnel>.cfargotunnel.com`.
async fn reaches_tunnel(cf: &Cloudflare, zone: &Zone, rec: &HostRecord) -> Result<bool, CfError> {
    let target = format!("{}.cfargotunnel.com", cf.tunnel.tunnel_id).to_ascii_lowercase();
    let mut cur = rec.record.clone();
    for _ in 0..MAX_HOPS {
        if cur.record_type != "CNAME" {
            return Ok(false);
        }
        let next = cur.content.trim_end_matches('.').to_ascii_lowercase();
        if next == target {
            return Ok(true);
        }
        if !next.ends_with(&format!(".{}", zone.name)) {
            return Ok(false);
        }
        let found = cf.api.dns_records(zone, &RecordQuery::name(&next)).await?;
        match found
            .into_iter()
            .find(|r| matches!(r.record_type.as_str(), "CNAME" | "A" | "AAAA"))
        {
            Some(r) => cur = r,
            None => return Ok(false),
        }
    }
    Ok(false)
}

/// Link 2.
pub async fn tunnel(d: &Doctor, cf: &Cloudflare, trail: &mut Trail) -> Finding {
    let link = Link::Tunnel;
    let t = match cf.api.tunnel(&cf.tunnel).await {
        Ok(t) => t,
        Err(e) => return cf_broken(d, link, &e),
    };
    trail.tunnel_remote = t.remote_config || t.config_src.as_deref() == Some("cloudflare");
    trail.tunnel_name = t.name.clone();
    if t.deleted_at.is_some() {
        return Finding::broken(
            link,
            format!("tunnel {} was deleted", t.name),
            Fix::Command {
                command: format!(
                    "homelab env set {} CLOUDFLARE_TUNNEL_TOKEN",
                    d.facts.env_file
                ),
                why: "create the tunnel again and store its token".into(),
            },
        );
    }
    let connectors = match cf.api.tunnel_connectors(&cf.tunnel).await {
        Ok(c) => c,
        Err(e) => return cf_broken(d, link, &e),
    };
    let serving: usize = connectors.iter().map(|c| c.serving()).sum();
    let mut evidence = vec![format!("tunnel {} ({}) status {}", t.name, t.id, t.status)];
    for c in &connectors {
        evidence.push(format!(
            "connector {} cloudflared {}: {} connection(s) serving",
            c.id,
            c.version,
            c.serving()
        ));
    }
    if serving == 0 {
        return Finding::broken(
            link,
            format!("tunnel {} has no connected cloudflared (status {})", t.name, t.status),
            Fix::Command {
                command: "kubectl -n networking logs deploy/cloudflared".into(),
                why: "no cloudflared holds a connection: check that its pods run and that Secret networking/cloudflared-tunnel holds this tunnel's token (CLOUDFLARE_TUNNEL_TOKEN)".into(),
            },
        )
        .with_evidence(evidence);
    }
    Finding::pass(
        link,
        format!(
            "{} connector(s), {serving} connection(s) serving",
            connectors.len()
        ),
        evidence,
    )
}

/// How a fix reaches the tunnel's rules (the tree's ConfigMap, or the dashboard).
type FixAt = Box<dyn Fn(&str) -> Fix + Send + Sync>;

/// `https://name.ns.svc.cluster.local:443` -> (scheme, name, namespace, port).
fn parse_service(url: &str) -> Option<(String, String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, if scheme == "https" { 443 } else { 80 }),
    };
    let mut labels = host.split('.');
    let name = labels.next()?.to_string();
    let ns = labels.next()?.to_string();
    (labels.next() == Some("svc")).then_some((scheme.to_string(), name, ns, port))
}

/// Link 3.
pub async fn ingress(d: &Doctor, cf: &Cloudflare, host: &str, trail: &mut Trail) -> Finding {
    let link = Link::TunnelIngress;
    let gw_doc = d.facts.of_kind("Gateway").next();
    // Where the rules live, and how a fix reaches them.
    let (rules, fix_at): (_, FixAt) = if trail.tunnel_remote {
        let cfg = match cf.api.tunnel_config(&cf.tunnel).await {
            Ok(c) => c,
            Err(e) => return cf_broken(d, link, &e),
        };
        let place = format!(
            "dash.cloudflare.com > Zero Trust > Networks > Tunnels > {} > Public Hostname",
            trail.tunnel_name
        );
        (
            cfg.config.unwrap_or_default(),
            Box::new(move |change: &str| Fix::Dashboard {
                place: place.clone(),
                change: change.into(),
            }),
        )
    } else {
        let Some((doc, parsed)) = tree::local_ingress(&d.facts) else {
            return Finding::broken(
                link,
                "the tunnel is locally managed but the tree has no cloudflared ConfigMap with ingress rules",
                Fix::Command {
                    command: "grep -rn 'ingress:' cluster/kubernetes/platform/ingress/cloudflared"
                        .into(),
                    why: "cloudflared reads its rules from a ConfigMap's config.yaml; add one"
                        .into(),
                },
            );
        };
        let rules = match parsed {
            Ok(r) => r,
            Err(e) => {
                return Finding::broken(link, e, tree::field_fix(doc, "data", "fix the YAML"));
            }
        };
        let doc = doc.clone();
        (
            rules,
            Box::new(move |change: &str| Fix::GitField {
                file: doc.file.clone(),
                line: tree::line_of_text(&doc, "ingress:", "data"),
                field: "data.config.yaml ingress".into(),
                change: change.into(),
            }),
        )
    };
    let source = if trail.tunnel_remote {
        "remote configuration"
    } else {
        "the tree's cloudflared ConfigMap"
    };
    let gw_hint = gw_doc
        .map(|g| {
            format!(
                "the Gateway {}/{}'s Envoy Service",
                g.namespace.as_deref().unwrap_or("default"),
                g.name
            )
        })
        .unwrap_or_else(|| "the Gateway's Envoy Service".into());
    let Some((i, rule)) = rules.route_for(host) else {
        return Finding::broken(
            link,
            format!("the tunnel has no ingress rules ({source})"),
            fix_at(&format!(
                "add a rule for {host} (or *.<domain>) to {gw_hint}, then the catch-all http_status:404"
            )),
        );
    };
    let evidence = vec![format!(
        "{source}: rule {} hostname {} -> {}",
        i + 1,
        rule.hostname.as_deref().unwrap_or("(any)"),
        rule.service
    )];
    let Some((scheme, name, ns, port)) = parse_service(&rule.service) else {
        return Finding::broken(
            link,
            format!("{host} falls to rule {} `{}`, which is not the Gateway", i + 1, rule.service),
            fix_at(&format!("route {host} (or *.<domain>) to {gw_hint} (https://<service>.<namespace>.svc.cluster.local:443) before the catch-all rule")),
        )
        .with_evidence(evidence);
    };
    let svc = match k::get(&d.kube, SERVICE, &ns, &name).await {
        Ok(s) => s,
        Err(e) => return kube_broken(link, e).with_evidence(evidence),
    };
    let Some(svc) = svc else {
        return Finding::broken(
            link,
            format!(
                "rule {} sends {host} to Service {ns}/{name}, which does not exist",
                i + 1
            ),
            fix_at(&format!("point the rule at {gw_hint}")),
        )
        .with_evidence(evidence);
    };
    let label = |k: &str| {
        svc.pointer(&format!(
            "/metadata/labels/gateway.envoyproxy.io~1owning-gateway-{k}"
        ))
        .and_then(Value::as_str)
        .map(str::to_string)
    };
    let (Some(gw_name), Some(gw_ns)) = (label("name"), label("namespace")) else {
        return Finding::broken(
            link,
            format!("rule {} sends {host} to Service {ns}/{name}, which is not a Gateway's Envoy Service", i + 1),
            fix_at(&format!("point the rule at {gw_hint}")),
        )
        .with_evidence(evidence);
    };
    let ports: Vec<u64> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("port").and_then(Value::as_u64))
        .collect();
    if !ports.contains(&u64::from(port)) {
        return Finding::broken(
            link,
            format!(
                "rule {} sends {host} to port {port} of {ns}/{name}, which serves ports {ports:?}",
                i + 1
            ),
            fix_at("use the Gateway's HTTPS port (443)"),
        )
        .with_evidence(evidence);
    }
    if scheme != "https" {
        return Finding::broken(
            link,
            format!(
                "rule {} sends {host} as {scheme}, the Gateway's public listener speaks HTTPS",
                i + 1
            ),
            fix_at("use https://...:443 with originRequest.matchSNItoHost: true"),
        )
        .with_evidence(evidence);
    }
    trail.gateway_port = Some(port);
    trail.gateway = Some((gw_ns.clone(), gw_name.clone()));
    Finding::pass(
        link,
        format!(
            "rule {} routes {host} to Gateway {gw_ns}/{gw_name} ({scheme} :{port})",
            i + 1
        ),
        evidence,
    )
}

/// A cluster read failed.
pub(super) fn kube_broken(link: Link, e: String) -> Finding {
    Finding::broken(
        link,
        format!("the cluster's API did not answer: {e}"),
        Fix::Command {
            command: "kubectl get --raw /readyz".into(),
            why: "check that the kubeconfig's context for this cluster reaches the API server"
                .into(),
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn service_urls_name_a_service() {
        assert_eq!(
            super::parse_service(
                "https://homelab-gateway.envoy-gateway-system.svc.cluster.local:443"
            ),
            Some((
                "https".into(),
                "homelab-gateway".into(),
                "envoy-gateway-system".into(),
                443
            ))
        );
        assert_eq!(
            super::parse_service("http://web.default.svc"),
            Some(("http".into(), "web".into(), "default".into(), 80))
        );
        assert_eq!(super::parse_service("http_status:404"), None);
        assert_eq!(super::parse_service("https://example.com:443"), None);
    }
}
