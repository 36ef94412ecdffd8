//! Link 7: the certificate of the listener that serves the host, read from its Secret
//! (`tls.crt`, X.509) and from the cert-manager Certificate that writes it (WIRE-2.md J.1).

use super::cloudflare::kube_broken;
use super::gateway::gateway_doc;
use super::kube::{self as k, CERTIFICATE, SECRET, describe, is_true};
use super::{Doctor, Trail, tree};
use crate::domain::doctor::{Finding, Fix, Link};
use base64::Engine;
use serde_json::Value;

/// A certificate with fewer days left than this is "close to expiring": cert-manager renews
/// at two thirds of a certificate's life (30 days before a 90-day one ends), so a certificate
/// this close to its end has missed its renewal.
pub const EXPIRY_MARGIN_DAYS: i64 = 14;

/// What the doctor reads from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub not_before: i64,
    pub not_after: i64,
    pub dns_names: Vec<String>,
    pub subject: String,
}

/// The first certificate of a PEM bundle (the leaf).
pub fn read_pem(pem: &[u8]) -> Result<CertInfo, String> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(pem).map_err(|e| format!("tls.crt is not PEM: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("tls.crt is not an X.509 certificate: {e}"))?;
    let v = cert.validity();
    let mut dns_names = vec![];
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                dns_names.push(d.to_ascii_lowercase());
            }
        }
    }
    Ok(CertInfo {
        not_before: v.not_before.timestamp(),
        not_after: v.not_after.timestamp(),
        dns_names,
        subject: cert.subject().to_string(),
    })
}

/// Whether a certificate name covers `host` as TLS clients match it: exactly, or a `*.`
/// wildcard standing for exactly one label (RFC 6125 6.4.3).
pub fn covers(name: &str, host: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == host {
        return true;
    }
    match (name.strip_prefix("*."), host.split_once('.')) {
        (Some(rest), Some((first, host_rest))) => !first.is_empty() && rest == host_rest,
        _ => false,
    }
}

fn day(ts: i64) -> String {
    jiff::Timestamp::from_second(ts)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| ts.to_string())
}

/// Link 7.
pub(super) async fn certificate(d: &Doctor, host: &str, trail: &mut Trail) -> Finding {
    let link = Link::Certificate;
    let (Some(gw), Some(li), Some((gns, gname))) = (
        trail.gateway_obj.clone(),
        trail.listener,
        trail.gateway.clone(),
    ) else {
        return Finding::broken(
            link,
            "no listener to check",
            Fix::Command {
                command: "kubectl get gateways -A".into(),
                why: "see link 4".into(),
            },
        );
    };
    let gw_doc = gateway_doc(d, trail);
    let refs = gw.pointer(&format!("/spec/listeners/{li}/tls/certificateRefs/0"));
    let Some(secret_name) = refs.and_then(|r| r.get("name")).and_then(Value::as_str) else {
        let change = "add tls.certificateRefs naming the Secret cert-manager writes".to_string();
        let fix = match gw_doc {
            Some(doc) => tree::field_fix(doc, &format!("spec.listeners[{li}].tls"), change),
            None => Fix::Command {
                command: format!("kubectl -n {gns} edit gateway {gname}"),
                why: change,
            },
        };
        return Finding::broken(link, "the listener names no certificate", fix);
    };
    let sns = refs
        .and_then(|r| r.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or(&gns)
        .to_string();
    let certs = match k::list(&d.kube, CERTIFICATE, Some(&sns), None).await {
        Ok(c) => c,
        Err(e) => return kube_broken(link, e),
    };
    let cert = certs
        .iter()
        .find(|c| c.pointer("/spec/secretName").and_then(Value::as_str) == Some(secret_name));
    let cert_doc = d.facts.of_kind("Certificate").find(|c| {
        c.namespace.as_deref() == Some(sns.as_str())
            && c.value.pointer("/spec/secretName").and_then(Value::as_str) == Some(secret_name)
    });
    let describe_cert = |name: &str| {
        Fix::Command {
        command: format!("kubectl -n {sns} describe certificate {name}"),
        why: "cert-manager's conditions and events (and its CertificateRequest's) say why it is not issued or renewed".into(),
    }
    };
    let mut evidence = vec![];
    if let Some(c) = cert {
        let conds = c.pointer("/status/conditions");
        let name = k::meta(c, "name").to_string();
        evidence.push(format!(
            "Certificate {sns}/{name}: {}",
            describe(conds, "Ready")
        ));
        if !is_true(conds, "Ready") {
            return Finding::broken(
                link,
                format!(
                    "Certificate {sns}/{name} is not Ready: {}",
                    describe(conds, "Ready")
                ),
                describe_cert(&name),
            )
            .with_evidence(evidence);
        }
    }
    let secret = match k::get(&d.kube, SECRET, &sns, secret_name).await {
        Ok(s) => s,
        Err(e) => return kube_broken(link, e),
    };
    let Some(secret) = secret else {
        let fix = match (cert, cert_doc) {
            (Some(c), _) => describe_cert(k::meta(c, "name")),
            (None, Some(doc)) => Fix::Command {
                command: "flux get kustomizations -A".into(),
                why: format!(
                    "the tree's Certificate {} ({}) is not in the cluster",
                    doc.name, doc.file
                ),
            },
            (None, None) => match gw_doc {
                Some(doc) => tree::field_fix(
                    doc,
                    &format!("spec.listeners[{li}].tls.certificateRefs"),
                    format!(
                        "no Certificate in the tree writes Secret {sns}/{secret_name}: add one, or name the Secret one writes"
                    ),
                ),
                None => describe_cert(secret_name),
            },
        };
        return Finding::broken(
            link,
            format!("Secret {sns}/{secret_name} (the listener's certificate) does not exist"),
            fix,
        )
        .with_evidence(evidence);
    };
    let pem = secret
        .pointer("/data/tls.crt")
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
    let info = match pem.as_deref().map(read_pem) {
        Some(Ok(i)) => i,
        Some(Err(e)) => {
            let fix = cert.map_or_else(
                || describe_cert(secret_name),
                |c| describe_cert(k::meta(c, "name")),
            );
            return Finding::broken(link, format!("Secret {sns}/{secret_name}: {e}"), fix)
                .with_evidence(evidence);
        }
        None => {
            let fix = cert.map_or_else(
                || describe_cert(secret_name),
                |c| describe_cert(k::meta(c, "name")),
            );
            return Finding::broken(
                link,
                format!("Secret {sns}/{secret_name} holds no tls.crt"),
                fix,
            )
            .with_evidence(evidence);
        }
    };
    evidence.push(format!(
        "tls.crt {}: {} valid {} .. {}",
        secret_name,
        info.dns_names.join(", "),
        day(info.not_before),
        day(info.not_after)
    ));
    let cert_fix = || match cert {
        Some(c) => describe_cert(k::meta(c, "name")),
        None => describe_cert(secret_name),
    };
    if !info.dns_names.iter().any(|n| covers(n, host)) {
        let change = format!("add {host} (or a *. wildcard of its parent domain) to dnsNames");
        let fix = match (cert_doc, cert) {
            (Some(doc), _) => tree::field_fix(doc, "spec.dnsNames", change),
            (None, Some(c)) => Fix::Command {
                command: format!("kubectl -n {sns} edit certificate {}", k::meta(c, "name")),
                why: change,
            },
            (None, None) => cert_fix(),
        };
        return Finding::broken(
            link,
            format!(
                "the certificate in {sns}/{secret_name} does not cover {host} (it names {})",
                info.dns_names.join(", ")
            ),
            fix,
        )
        .with_evidence(evidence);
    }
    let now = jiff::Timestamp::now().as_second();
    if info.not_before > now {
        return Finding::broken(
            link,
            format!(
                "the certificate is not valid before {}",
                day(info.not_before)
            ),
            Fix::Command {
                command: "date -u".into(),
                why: "a certificate from the future: check this machine's and the nodes' clocks"
                    .into(),
            },
        )
        .with_evidence(evidence);
    }
    let left = info.not_after.saturating_sub(now) / 86_400;
    if info.not_after <= now {
        return Finding::broken(
            link,
            format!("the certificate expired on {}", day(info.not_after)),
            cert_fix(),
        )
        .with_evidence(evidence);
    }
    if left < EXPIRY_MARGIN_DAYS {
        return Finding::broken(
            link,
            format!(
                "the certificate expires on {} ({left} days left): cert-manager should have renewed it",
                day(info.not_after)
            ),
            cert_fix(),
        )
        .with_evidence(evidence);
    }
    Finding::pass(
        link,
        format!(
            "the certificate covers {host} and is valid until {} ({left} days)",
            day(info.not_after)
        ),
        evidence,
    )
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("*.example.com", "app.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(covers("App.Example.com", "app.example.com"));
        assert!(!covers("other.example.com", "app.example.com"));
    }
}
