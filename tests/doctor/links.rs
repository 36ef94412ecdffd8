//! One test per link: the lab passes, exactly that link is broken, the doctor stops there and
//! names it with its fix. Plus the all-green walk.

use super::{HOST, Lab, key};
use homelab::backends::cloudflare::Permission;
use homelab::domain::doctor::{Finding, Fix, Link, Outcome};
use homelab::sim::cloudflare::Fault as CfFault;
use homelab::sim::kube::controllers::Fault as KubeFault;
use serde_json::json;

/// The walk's last finding once it stops at `link`.
async fn broken_at(lab: &Lab, link: Link) -> Finding {
    let (found, _) = lab.until(|_, o| *o == Outcome::Broken(link)).await;
    let last = found.last().unwrap().clone();
    assert_eq!(found.len(), link.number(), "stops at the first broken link");
    assert!(found[..found.len() - 1].iter().all(|f| f.ok));
    assert!(!last.ok && last.link == link);
    last
}

fn git_field(f: &Finding) -> (&str, u32, &str, &str) {
    match f.fix.as_ref().unwrap() {
        Fix::GitField {
            file,
            line,
            field,
            change,
        } => (file.as_str(), *line, field.as_str(), change.as_str()),
        other => panic!("not a git field fix: {other:?}"),
    }
}

fn command(f: &Finding) -> &str {
    match f.fix.as_ref().unwrap() {
        Fix::Command { command, .. } => command,
        other => panic!("not a command fix: {other:?}"),
    }
}

/// The 1-based line of the first line of `file` holding `needle`.
fn line_of(file: &str, needle: &str) -> u32 {
    let text = std::fs::read_to_string(super::root().join(file)).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() as u32 + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_link_holds_and_is_reported_in_order() {
    let lab = Lab::start().await;
    let doctor = lab.doctor();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let outcome = doctor.walk(HOST, &tx).await;
    drop(tx);
    let mut found = vec![];
    while let Some(f) = rx.recv().await {
        found.push(f);
    }
    assert_eq!(outcome, Outcome::Reachable);
    let links: Vec<Link> = found.iter().map(|f| f.link).collect();
    assert_eq!(links, Link::ALL);
    assert!(found.iter().all(|f| f.ok && f.fix.is_none()), "{found:#?}");
    let text = format!("{found:#?}");
    for want in [
        "CNAME jellyfin.funoffshore.com",
        "4 connection(s) serving",
        "the tree's cloudflared ConfigMap: rule 1 hostname *.funoffshore.com",
        "Gateway networking/homelab",
        "listener `public`",
        "HTTPRoute media/jellyfin is Accepted with ResolvedRefs",
        "1 of 1 endpoint(s) ready",
        "covers jellyfin.funoffshore.com",
    ] {
        assert!(text.contains(want), "{want} not in {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_1_the_dns_record_proxied_and_owned() {
    let lab = Lab::start().await;
    // Owner record gone: external-dns would never touch the record.
    lab.cf
        .inject(CfFault::RecordWithoutOwner { host: HOST.into() });
    let f = broken_at(&lab, Link::Dns).await;
    assert!(
        f.summary.contains("k8s.cname-jellyfin.funoffshore.com"),
        "{}",
        f.summary
    );
    assert!(
        matches!(&f.fix, Some(Fix::Dashboard { change, .. }) if change.contains("delete the CNAME record jellyfin.funoffshore.com"))
    );

    let lab = Lab::start().await;
    lab.cf
        .inject(CfFault::RecordNotProxied { host: HOST.into() });
    let f = broken_at(&lab, Link::Dns).await;
    assert!(f.summary.contains("DNS-only"), "{}", f.summary);
    // The tree's external-dns already runs with --cloudflare-proxied.
    assert!(command(&f).contains("rollout restart deploy/external-dns"));

    // Another cluster's external-dns owns it: the fix is the tree's txtOwnerId.
    let lab = Lab::start().await;
    lab.cf.with(|st| {
        for r in st.records.iter_mut().filter(|r| r.record_type == "TXT") {
            r.content = r.content.replace("owner=prox-n100", "owner=other-lab");
        }
    });
    let f = broken_at(&lab, Link::Dns).await;
    let file = "cluster/kubernetes/platform/dns/external-dns/helmrelease.yaml";
    let (f_file, f_line, f_field, change) = git_field(&f);
    assert_eq!(
        (f_file, f_line, f_field),
        (file, line_of(file, "txtOwnerId:"), "spec.values.txtOwnerId")
    );
    assert!(change.contains("`other-lab`"), "{change}");
    // The token cannot read DNS records: the fix is the permission.
    let lab = Lab::start().await;
    lab.cf.inject(CfFault::TokenMissing(Permission::DnsRead));
    let f = broken_at(&lab, Link::Dns).await;
    assert_eq!(
        f.fix,
        Some(Fix::TokenScope {
            permission: "Zone > DNS > Read".into(),
            how: "dash.cloudflare.com > My Profile > API Tokens > Edit (the token keeps its value)"
                .into()
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_2_the_tunnel_has_connectors() {
    let lab = Lab::start().await;
    lab.cf.inject(CfFault::TunnelWithoutConnectors);
    let f = broken_at(&lab, Link::Tunnel).await;
    assert!(
        f.summary.contains("no connected cloudflared (status down)"),
        "{}",
        f.summary
    );
    assert_eq!(command(&f), "kubectl -n networking logs deploy/cloudflared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_3_the_tunnel_routes_the_host_to_the_gateway() {
    // Locally managed: the tree's ConfigMap no longer covers the host.
    let mut lab = Lab::start().await;
    let cm = lab
        .facts
        .docs
        .iter_mut()
        .find(|d| d.kind == "ConfigMap" && d.name == "cloudflared")
        .unwrap();
    let text = cm.value["data"]["config.yaml"]
        .as_str()
        .unwrap()
        .replace("*.funoffshore.com", "*.example.org");
    cm.value["data"]["config.yaml"] = json!(text);
    let f = broken_at(&lab, Link::TunnelIngress).await;
    assert!(
        f.summary.contains("falls to rule 2 `http_status:404`"),
        "{}",
        f.summary
    );
    let file = "cluster/kubernetes/platform/ingress/cloudflared/configmap.yaml";
    let (f_file, f_line, _, change) = git_field(&f);
    assert_eq!((f_file, f_line), (file, line_of(file, "ingress:")));
    assert!(
        change.contains("homelab-gateway") || change.contains("Gateway networking/homelab"),
        "{change}"
    );

    // Remotely managed: the rule sends the host to a Service that is not the Gateway's.
    let lab = Lab::start().await;
    lab.cf.with(|st| {
        for t in &mut st.tunnels {
            t.config_src = "cloudflare".into();
            t.config = Some(json!({"ingress": [
                {"hostname": "*.funoffshore.com", "service": "http://jellyfin.media.svc.cluster.local:8096"},
                {"service": "http_status:404"}]}));
        }
    });
    let f = broken_at(&lab, Link::TunnelIngress).await;
    assert!(
        f.summary.contains("not a Gateway's Envoy Service"),
        "{}",
        f.summary
    );
    assert!(
        matches!(&f.fix, Some(Fix::Dashboard { place, .. }) if place.contains("Tunnels > homelab > Public Hostname")),
        "{:?}",
        f.fix
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_4_the_listener_is_programmed_and_the_route_attached() {
    let lab = Lab::start().await;
    lab.kube.inject(KubeFault::GatewayUnprogrammed {
        namespace: "networking".into(),
        name: "homelab".into(),
    });
    let f = broken_at(&lab, Link::Gateway).await;
    assert!(
        f.summary.contains("Programmed=False AddressNotAssigned"),
        "{}",
        f.summary
    );
    let file = "cluster/kubernetes/platform/ingress/gateway-api/gateway/envoyproxy.yaml";
    let (f_file, f_line, f_field, _) = git_field(&f);
    assert_eq!(
        (f_file, f_line, f_field),
        (
            file,
            line_of(file, "envoyService:"),
            "spec.provider.kubernetes.envoyService"
        )
    );

    // The route names the internal listener.
    let lab = Lab::start().await;
    lab.edit(
        &key("gateway.networking.k8s.io", "httproutes"),
        "media",
        "jellyfin",
        |r| {
            r["spec"]["parentRefs"][0]["sectionName"] = json!("internal");
        },
    );
    let f = broken_at(&lab, Link::Gateway).await;
    assert!(
        f.summary.contains("not attached to listener `public`"),
        "{}",
        f.summary
    );
    let file = "cluster/kubernetes/apps/media/jellyfin/httproute.yaml";
    let (f_file, f_line, f_field, change) = git_field(&f);
    assert_eq!(
        (f_file, f_line, f_field),
        (file, line_of(file, "parentRefs:"), "spec.parentRefs")
    );
    assert!(change.contains("sectionName: public"), "{change}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_5_the_route_is_accepted_with_resolved_refs() {
    let lab = Lab::start().await;
    // The media namespace loses the label the public listener selects on.
    lab.edit(&key("", "namespaces"), "", "media", |n| {
        n["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("homelab.funoffshore.com/exposure");
    });
    let f = broken_at(&lab, Link::Route).await;
    assert!(
        f.summary.contains("Accepted=False NotAllowedByListeners"),
        "{}",
        f.summary
    );
    let file = "cluster/kubernetes/platform/security/namespaces.yaml";
    let (f_file, f_line, f_field, change) = git_field(&f);
    let media = line_of(file, "name: media");
    assert_eq!((f_file, f_field), (file, "metadata.labels"));
    assert_eq!(f_line, media + 1, "the media namespace's labels");
    assert!(
        change.contains("homelab.funoffshore.com/exposure: public"),
        "{change}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_6_the_service_has_ready_endpoints() {
    let lab = Lab::start().await;
    lab.kube.inject(KubeFault::CrashLoop {
        namespace: "media".into(),
        name: "jellyfin".into(),
    });
    let f = broken_at(&lab, Link::Backend).await;
    assert!(
        f.summary
            .contains("Service media/jellyfin has no ready endpoint"),
        "{}",
        f.summary
    );
    assert!(
        f.evidence.iter().any(|e| e.contains("CrashLoopBackOff")),
        "{:?}",
        f.evidence
    );
    let cmd = command(&f);
    assert!(
        cmd.starts_with("kubectl -n media logs jellyfin-") && cmd.ends_with(" --previous"),
        "{cmd}"
    );

    // The Service's selector matches no pod: the fix is the tree's selector.
    let lab = Lab::start().await;
    lab.edit(&key("", "services"), "media", "jellyfin", |s| {
        s["spec"]["selector"] = json!({"app.kubernetes.io/name": "jellyfun"});
    });
    let f = broken_at(&lab, Link::Backend).await;
    let file = "cluster/kubernetes/apps/media/jellyfin/service.yaml";
    let (f_file, f_line, f_field, _) = git_field(&f);
    assert_eq!(
        (f_file, f_line, f_field),
        (file, line_of(file, "selector:"), "spec.selector")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_7_the_certificate_covers_the_host_and_is_not_expiring() {
    let lab = Lab::start().await;
    lab.kube.inject(KubeFault::CertificateExpiring {
        namespace: "networking".into(),
        name: "wildcard-public".into(),
        days: 5,
    });
    let f = broken_at(&lab, Link::Certificate).await;
    assert!(
        f.summary
            .contains("days left): cert-manager should have renewed it"),
        "{}",
        f.summary
    );
    assert_eq!(
        command(&f),
        "kubectl -n networking describe certificate wildcard-public"
    );

    // The Certificate no longer names the wildcard.
    let lab = Lab::start().await;
    lab.edit(
        &key("cert-manager.io", "certificates"),
        "networking",
        "wildcard-public",
        |c| {
            c["spec"]["dnsNames"] = json!(["funoffshore.com"]);
        },
    );
    let f = broken_at(&lab, Link::Certificate).await;
    assert!(
        f.summary
            .contains("does not cover jellyfin.funoffshore.com"),
        "{}",
        f.summary
    );
    let file =
        "cluster/kubernetes/platform/ingress/gateway-api/gateway/certificates/certificates.yaml";
    let (f_file, f_line, f_field, _) = git_field(&f);
    assert_eq!(
        (f_file, f_line, f_field),
        (file, line_of(file, "dnsNames:"), "spec.dnsNames")
    );
}
