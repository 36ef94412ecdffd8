//! What the ingress stage reads in the cluster before it probes: the Gateway API CRDs
//! (`Established`), a HelmRelease's readiness with the Flux stage's root cause when it is not,
//! the shared Gateway (`Programmed` with an address) and the certificates its HTTPS listeners
//! serve (`Ready`). Each read says whether it holds and, when it does not, the [`StageError`]
//! that names the broken object and its fix (a field of a named file, or a command).

use crate::backends::doctor::kube::{self as k, CERTIFICATE, GATEWAY, Kind};
use crate::backends::doctor::tree;
use crate::domain::doctor::{Facts, Fix};
use crate::stages::engine::StageError;
use crate::stages::flux::diagnose;
use serde_json::Value;

pub const CRD: Kind = Kind {
    group: "apiextensions.k8s.io",
    version: "v1",
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
};

/// The Gateway API CRDs the stage needs (Envoy Gateway's chart installs them).
pub const GATEWAY_CRDS: [&str; 4] = [
    "gatewayclasses.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
    "referencegrants.gateway.networking.k8s.io",
];

/// The read's verdict: `Ok(what holds)` or the error to report.
pub type Verdict = Result<String, StageError>;

fn s<'v>(v: &'v Value, ptr: &str) -> &'v str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn kube_err(e: String) -> StageError {
    StageError::new(e)
        .with_hint("check that the cluster's API server answers: `kubectl get --raw /readyz`")
}

/// A fix as the hint text.
pub fn hint(fix: &Fix) -> String {
    fix.to_string()
}

/// Every Gateway API CRD of [`GATEWAY_CRDS`] is Established.
pub async fn crds(client: &kube::Client) -> Result<Verdict, StageError> {
    let all = k::list(client, CRD, None, None).await.map_err(kube_err)?;
    for name in GATEWAY_CRDS {
        let crd = all.iter().find(|o| k::meta(o, "name") == name);
        let established =
            crd.is_some_and(|c| k::is_true(c.pointer("/status/conditions"), "Established"));
        if !established {
            let what = match crd {
                None => "is not installed".to_string(),
                Some(c) => format!(
                    "is not Established ({})",
                    k::describe(c.pointer("/status/conditions"), "Established")
                ),
            };
            return Ok(Err(StageError::new(format!("CRD {name} {what}")).with_hint(
                "Envoy Gateway's chart installs the Gateway API CRDs (install.crds: CreateReplace in \
                 cluster/kubernetes/platform/ingress/gateway-api/helmrelease.yaml): run \
                 `flux get helmreleases -n envoy-gateway-system` and see the gateway/envoy step",
            )));
        }
    }
    Ok(Ok(format!(
        "the {} Gateway API CRDs are Established",
        GATEWAY_CRDS.len()
    )))
}

/// HelmRelease `ns/name` is Ready; otherwise the Flux stage's root cause of what holds it back.
pub async fn helm_release(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Verdict, StageError> {
    let objects = crate::stages::flux::snapshot(client).await?;
    let key = ("HelmRelease".to_string(), ns.to_string(), name.to_string());
    let label = diagnose::label(&key);
    let Some(hr) = objects.get(&key) else {
        return Ok(Err(StageError::new(format!("{label} is not in the cluster")).with_hint(
            "the Kustomization that applies it is not Ready: run `flux get kustomizations -A`, or the Flux stage",
        )));
    };
    if diagnose::state(hr).ready {
        return Ok(Ok(format!("{label} is Ready")));
    }
    let cause =
        diagnose::root_cause(&objects).filter(|c| c.key == key || c.blocked.contains(&label));
    Ok(Err(match cause {
        Some(c) => {
            let mut msg = format!(
                "{label} is not Ready: root cause {}: {} {}",
                diagnose::label(&c.key),
                c.reason,
                c.message
            );
            let helm = diagnose::helm_lines(hr);
            if !helm.is_empty() {
                msg.push_str(&format!("; helm: {}", helm.join("; ")));
            }
            StageError::new(msg).with_hint(diagnose::fix_for(&c, None))
        }
        None => {
            let st = diagnose::state(hr);
            StageError::new(format!("{label} is not Ready: {} {}", st.reason, st.message))
                .with_hint(format!("run `flux get helmreleases -n {ns}` and `kubectl -n {ns} describe helmrelease {name}`"))
        }
    }))
}

/// Gateway `ns/name` is Programmed and has an address.
pub async fn gateway(
    client: &kube::Client,
    facts: &Facts,
    ns: &str,
    name: &str,
) -> Result<Verdict, StageError> {
    let Some(gw) = k::get(client, GATEWAY, ns, name).await.map_err(kube_err)? else {
        return Ok(Err(StageError::new(format!("Gateway {ns}/{name} is not in the cluster"))
            .with_hint("the Kustomization that applies cluster/kubernetes/platform/ingress/gateway-api/gateway is not Ready: run `flux get kustomizations -A`")));
    };
    let conds = gw.pointer("/status/conditions");
    let addresses: Vec<&str> = gw
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| s(a, "/value"))
        .filter(|a| !a.is_empty())
        .collect();
    if k::is_true(conds, "Programmed") && !addresses.is_empty() {
        return Ok(Ok(format!(
            "Gateway {ns}/{name} is Programmed at {}",
            addresses.join(", ")
        )));
    }
    let reason = k::condition(conds, "Programmed")
        .map(|c| s(c, "/reason"))
        .unwrap_or_default();
    let hint = match facts.of_kind("EnvoyProxy").next() {
        Some(p) if reason == "AddressNotAssigned" || addresses.is_empty() => {
            hint(&tree::field_fix(
                p,
                "spec.provider.kubernetes.envoyService",
                "the Envoy Service has no address: give it externalIPs (the nodes' addresses) or run a load-balancer controller",
            ))
        }
        _ => format!(
            "run `kubectl -n {ns} describe gateway {name}`: Envoy Gateway says why (its Envoy pods and Service in envoy-gateway-system)"
        ),
    };
    Ok(Err(StageError::new(format!(
        "Gateway {ns}/{name} is not Programmed with an address: {}{}",
        k::describe(conds, "Programmed"),
        if addresses.is_empty() {
            "; no address"
        } else {
            ""
        }
    ))
    .with_hint(hint)))
}

/// Certificates in the Gateway's namespace whose Secret one of its HTTPS listeners serves.
pub async fn served_certificates(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Vec<Value>, StageError> {
    let Some(gw) = k::get(client, GATEWAY, ns, name).await.map_err(kube_err)? else {
        return Ok(vec![]);
    };
    let secrets: Vec<String> = gw
        .pointer("/spec/listeners")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|l| s(l, "/protocol") == "HTTPS")
        .map(|l| s(l, "/tls/certificateRefs/0/name").to_string())
        .collect();
    let certs = k::list(client, CERTIFICATE, Some(ns), None)
        .await
        .map_err(kube_err)?;
    Ok(certs
        .into_iter()
        .filter(|c| secrets.iter().any(|sec| sec == s(c, "/spec/secretName")))
        .collect())
}

/// Every certificate the Gateway's HTTPS listeners serve is Ready.
pub async fn certificates(
    client: &kube::Client,
    facts: &Facts,
    ns: &str,
    name: &str,
) -> Result<Verdict, StageError> {
    let certs = served_certificates(client, ns, name).await?;
    if certs.is_empty() {
        return Ok(Err(StageError::new(format!(
            "no Certificate in {ns} issues the Secrets of Gateway {ns}/{name}'s HTTPS listeners"
        ))
        .with_hint("the wildcard Certificates live in cluster/kubernetes/platform/ingress/gateway-api/gateway/certificates/certificates.yaml; run `flux get kustomizations -A`")));
    }
    let mut ready = Vec::new();
    for c in &certs {
        let cname = k::meta(c, "name");
        let conds = c.pointer("/status/conditions");
        if !k::is_true(conds, "Ready") {
            let file = facts
                .doc("Certificate", Some(ns), cname)
                .map(|d| format!("{}:{}", d.file, tree::line(d, "spec.issuerRef")))
                .unwrap_or_else(|| "the tree".into());
            return Ok(Err(StageError::new(format!(
                "Certificate {ns}/{cname} is not Ready: {}",
                k::describe(conds, "Ready")
            ))
            .with_hint(format!(
                "run `kubectl -n {ns} describe certificate {cname}` (and its CertificateRequest, Order, Challenge): \
                 cert-manager says why; its issuer is set at {file} (spec.issuerRef; the ACME issuer needs the \
                 Cloudflare token with Zone > DNS > Edit)"
            ))));
        }
        ready.push(format!("{ns}/{cname}"));
    }
    Ok(Ok(format!("Certificate {} Ready", ready.join(", "))))
}
