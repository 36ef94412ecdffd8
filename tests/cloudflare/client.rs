//! Our Cloudflare client against the simulator: what external-dns and cloudflared leave
//! behind, each fault the doctor will diagnose, and the errors for bad tokens.

use crate::{client, sim};
use homelab::backends::cloudflare::{
    CfError, ErrorKind, IngressConfig, IngressRule, NewRecord, Permission, RecordQuery,
    TxtRegistry, tunnel_token,
};
use homelab::sim::cloudflare::Fault;

const GATEWAY: &str = "https://homelab-gateway.envoy-gateway-system.svc.cluster.local:443";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_the_records_tunnel_and_routes_external_dns_and_cloudflared_left() {
    let (sim, dir) = sim().await;
    let cf = client(&sim, &dir, &sim.token);
    let token = cf.verify_token().await.unwrap();
    assert!(token.is_active(), "{token:?}");
    assert_eq!(
        cf.verify_account_token(&sim.account_id)
            .await
            .unwrap()
            .status,
        "active"
    );

    let zone = cf.zone_for_host("echo.example.com").await.unwrap();
    assert_eq!(
        (zone.name.as_str(), zone.id.as_str()),
        ("example.com", sim.zone_id.as_str())
    );
    assert_eq!(zone.account.as_ref().unwrap().id, sim.account_id);
    let recs = cf
        .host_records(&zone, "echo.example.com", &TxtRegistry::default())
        .await
        .unwrap();
    assert_eq!(recs.len(), 1, "{recs:?}");
    let r = &recs[0];
    assert_eq!(r.record.record_type, "CNAME");
    assert_eq!(
        r.record.content,
        format!("{}.cfargotunnel.com", sim.tunnel_id)
    );
    assert!(r.record.proxied && r.record.proxiable);
    assert_eq!(r.txt_name, "cname-echo.example.com");
    assert!(r.owned_by("default"), "{r:?}");
    assert!(!r.owned_by("someone-else"));
    assert_eq!(
        r.owner.as_ref().unwrap().resource.as_deref(),
        Some("httproute/default/echo")
    );

    // The tunnel named by the token cloudflared runs with.
    let t = tunnel_token::parse(&sim.tunnel_token).unwrap();
    assert_eq!(
        (t.account_id.as_str(), t.tunnel_id.as_str()),
        (sim.account_id.as_str(), sim.tunnel_id.as_str())
    );
    let tunnel = cf.tunnel(&t).await.unwrap();
    assert_eq!(
        (tunnel.name.as_str(), tunnel.status.as_str()),
        ("homelab", "healthy")
    );
    assert_eq!(tunnel.connections.len(), 4);
    let listed = cf.tunnels(&sim.account_id, Some("homelab")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, sim.tunnel_id);
    let connectors = cf.tunnel_connectors(&t).await.unwrap();
    assert_eq!(connectors.len(), 1);
    assert_eq!(connectors[0].serving(), 4);
    let colos: std::collections::BTreeSet<_> = connectors[0]
        .conns
        .iter()
        .map(|c| c.colo_name.as_str())
        .collect();
    assert!(colos.len() >= 2, "{colos:?}");

    let config = cf.tunnel_config(&t).await.unwrap();
    let ingress = config
        .config
        .expect("a remotely managed tunnel has a config");
    let (i, rule) = ingress.route_for("echo.example.com").unwrap();
    assert_eq!((i, rule.service.as_str()), (0, GATEWAY));
    assert_eq!(
        ingress.route_for("other.org").unwrap().1.service,
        "http_status:404"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_injected_fault_is_what_the_client_sees() {
    let (sim, dir) = sim().await;
    let cf = client(&sim, &dir, &sim.token);
    let t = tunnel_token::parse(&sim.tunnel_token).unwrap();
    let zone = cf.zone("example.com").await.unwrap();
    let reg = TxtRegistry::default();

    sim.inject(Fault::TunnelWithoutConnectors);
    assert!(cf.tunnel_connectors(&t).await.unwrap().is_empty());
    let tunnel = cf.tunnel(&t).await.unwrap();
    assert_eq!(tunnel.status, "down");
    assert!(tunnel.connections.is_empty() && tunnel.conns_inactive_at.is_some());

    sim.inject(Fault::RecordNotProxied {
        host: "echo.example.com".into(),
    });
    let echo = cf
        .host_records(&zone, "echo.example.com", &reg)
        .await
        .unwrap();
    assert!(!echo[0].record.proxied);
    assert!(echo[0].owned_by("default"), "only the proxy flag changed");

    sim.inject(Fault::RecordWithoutOwner {
        host: "jellyfin.example.com".into(),
    });
    let jf = cf
        .host_records(&zone, "jellyfin.example.com", &reg)
        .await
        .unwrap();
    assert_eq!(jf.len(), 1);
    assert!(jf[0].record.proxied);
    assert_eq!(jf[0].owner, None, "{jf:?}");
    let echo = cf
        .host_records(&zone, "echo.example.com", &reg)
        .await
        .unwrap();
    assert!(echo[0].owned_by("default"), "other hosts keep their owner");

    sim.inject(Fault::TokenMissing(Permission::DnsRead));
    let err = cf
        .dns_records(&zone, &RecordQuery::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        Some(ErrorKind::MissingPermission(Permission::DnsRead))
    );
    assert_eq!(err.codes(), vec![10000]);
    let text = err.to_string();
    assert!(text.contains("list DNS records (GET /zones/"), "{text}");
    assert!(
        text.contains("HTTP 403 (10000 Authentication error)"),
        "{text}"
    );
    assert!(
        text.contains("lacks the permission Zone > DNS > Read for zone example.com"),
        "{text}"
    );
    // Zones are still readable: only that permission went.
    cf.zone("example.com").await.unwrap();

    sim.inject(Fault::TokenMissing(Permission::TunnelRead));
    let err = cf.tunnel_connectors(&t).await.unwrap_err();
    assert_eq!(
        err.kind(),
        Some(ErrorKind::MissingPermission(Permission::TunnelRead))
    );
    assert!(
        err.to_string()
            .contains("Account > Cloudflare Tunnel > Read"),
        "{err}"
    );

    // A short outage is ridden out by reads; a longer one is reported.
    sim.inject(Fault::Unavailable(2));
    cf.zone("example.com").await.unwrap();
    sim.inject(Fault::Unavailable(3));
    let err = cf.zone("example.com").await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Unavailable));
    assert!(err.to_string().contains("try again later"), "{err}");
    // Writes are sent once.
    let before = sim.requests().len();
    sim.inject(Fault::Unavailable(1));
    let err = cf
        .create_record(
            &zone,
            &homelab::backends::cloudflare::NewRecord::new("A", "x", "192.0.2.1"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Unavailable));
    assert_eq!(sim.requests().len(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_with_what_to_do() {
    let (sim, dir) = sim().await;
    let unknown = "A".repeat(40);
    let cf = client(&sim, &dir, &unknown);
    let err = cf.zone("example.com").await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InvalidToken), "{err}");
    assert_eq!(err.codes(), vec![9109]);
    assert!(
        err.to_string().contains("does not accept this API token"),
        "{err}"
    );
    let err = cf.verify_token().await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InvalidToken), "{err}");
    assert!(matches!(err, CfError::Api { status: 401, .. }), "{err:?}");
    assert_eq!(err.codes(), vec![1000]);

    let err = client(&sim, &dir, "not-a-token")
        .zone("example.com")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::MalformedToken), "{err}");
    assert_eq!(err.codes(), vec![6003, 6111]);
    assert!(err.to_string().contains("not an API token"), "{err}");

    // A token with Zone Read only cannot write records, and the error says which permission.
    let read_only = sim.add_token(&[Permission::ZoneRead, Permission::DnsRead]);
    let cf = client(&sim, &dir, &read_only);
    let zone = cf.zone("example.com").await.unwrap();
    let err = cf
        .create_record(&zone, &NewRecord::new("A", "x", "192.0.2.1"))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        Some(ErrorKind::MissingPermission(Permission::DnsEdit))
    );
    assert!(
        err.to_string()
            .contains("POST method not allowed for the api_token authentication scheme"),
        "{err}"
    );
    assert!(err.to_string().contains("Zone > DNS > Edit"), "{err}");

    // The zone lookup with a token that cannot see zones: the permission is named.
    let dns_only = sim.add_token(&[Permission::DnsEdit]);
    let err = client(&sim, &dir, &dns_only)
        .zone_for_host("echo.example.com")
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        Some(ErrorKind::MissingPermission(Permission::ZoneRead)),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_written_read_back_and_paged() {
    let (sim, dir) = sim().await;
    let cf = client(&sim, &dir, &sim.token);
    let zone = cf.zone("example.com").await.unwrap();
    let reg = TxtRegistry {
        owner: "prox-n100".into(),
        prefix: "k8s.".into(),
        ..Default::default()
    };
    // What external-dns writes for a new route, through our client.
    let a = cf
        .create_record(
            &zone,
            &NewRecord::new("A", "web", "192.0.2.7").proxied(true),
        )
        .await
        .unwrap();
    assert_eq!(
        (a.name.as_str(), a.ttl, a.proxied),
        ("web.example.com", 1, true)
    );
    let owner = NewRecord::new(
        "TXT",
        &reg.txt_name("web.example.com", "A"),
        &reg.owner_content("httproute/media/web"),
    );
    let txt = cf.create_record(&zone, &owner).await.unwrap();
    assert_eq!(txt.name, "k8s.a-web.example.com");
    assert!(
        txt.content.starts_with("\"heritage=external-dns,"),
        "quotes kept: {}",
        txt.content
    );
    let web = cf
        .host_records(&zone, "web.example.com", &reg)
        .await
        .unwrap();
    assert!(web[0].owned_by("prox-n100"), "{web:?}");

    let dup = cf.create_record(&zone, &owner).await.unwrap_err();
    assert_eq!(
        (dup.kind(), dup.codes()),
        (Some(ErrorKind::Rejected), vec![81057])
    );
    let clash = cf
        .create_record(
            &zone,
            &NewRecord::new("CNAME", "web", "elsewhere.example.org"),
        )
        .await
        .unwrap_err();
    assert_eq!(clash.codes(), vec![81053]);

    let moved = cf
        .update_record(
            &zone,
            &a.id,
            &NewRecord::new("A", "web", "192.0.2.8").proxied(false),
        )
        .await
        .unwrap();
    assert_eq!(
        (moved.id.as_str(), moved.content.as_str(), moved.proxied),
        (a.id.as_str(), "192.0.2.8", false)
    );
    cf.delete_record(&zone, &a.id).await.unwrap();
    let gone = cf.delete_record(&zone, &a.id).await.unwrap_err();
    assert_eq!(
        (gone.kind(), gone.codes()),
        (Some(ErrorKind::NotFound), vec![81044])
    );
    assert!(
        gone.to_string()
            .contains(&format!("DNS record {} in zone example.com", a.id)),
        "{gone}"
    );

    // More records than one page holds: every page is read.
    sim.with(|st| {
        for i in 0..1234u32 {
            st.add_external_dns_host(&zone.id, &format!("h{i}.example.com"), "t");
        }
    });
    let txts = cf
        .dns_records(
            &zone,
            &RecordQuery {
                name: None,
                record_type: Some("TXT".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(txts.len(), 1234 + 2 + 1);
    let pages: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| r.contains("type=TXT") && !r.contains("name="))
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages[2].contains("page=3"), "{pages:?}");

    // An id Cloudflare cannot route: 7003, named as not found.
    let mut bogus = zone.clone();
    bogus.id = "nope".into();
    let err = cf
        .dns_records(&bogus, &RecordQuery::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.codes()),
        (Some(ErrorKind::NotFound), vec![7003, 7000])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_ingress_is_written_and_a_config_without_catch_all_is_refused_before_sending() {
    let (sim, dir) = sim().await;
    let cf = client(&sim, &dir, &sim.token);
    let t = tunnel_token::parse(&sim.tunnel_token).unwrap();
    let before = cf.tunnel_config(&t).await.unwrap().version;
    let rule = |host: Option<&str>, service: &str| IngressRule {
        hostname: host.map(str::to_string),
        path: None,
        service: service.into(),
        origin_request: None,
    };
    let good = IngressConfig {
        ingress: vec![
            rule(Some("echo.example.com"), GATEWAY),
            rule(None, "http_status:404"),
        ],
        origin_request: None,
    };
    let written = cf.put_tunnel_config(&t, &good).await.unwrap();
    assert_eq!(written.version, before + 1);
    assert_eq!(written.config.unwrap().ingress, good.ingress);
    let sent = sim.requests().len();
    let bad = IngressConfig {
        ingress: vec![rule(Some("echo.example.com"), GATEWAY)],
        origin_request: None,
    };
    let err = cf.put_tunnel_config(&t, &bad).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("The last ingress rule must match all URLs"),
        "{err}"
    );
    assert_eq!(sim.requests().len(), sent, "refused without a request");
    // The simulator refuses it too (as the SDK test shows) and a missing tunnel is a 404.
    let other = tunnel_token::TunnelRef {
        account_id: sim.account_id.clone(),
        tunnel_id: "00000000-0000-4000-8000-000000000000".into(),
    };
    let err = cf.tunnel(&other).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::NotFound), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_from_cloudflare_reaches_error_messages_sanitized() {
    let (sim, dir) = sim().await;
    // A zone whose name carries an escape sequence (Cloudflare would not allow it; a proxy
    // or a compromised answer could).
    let evil = sim.with(|st| st.add_zone("x\u{1b}]0;owned\u{7}.example.org"));
    let read_only = sim.add_token(&[Permission::ZoneRead]);
    let cf = client(&sim, &dir, &read_only);
    let zones = cf.zone("x\u{1b}]0;owned\u{7}.example.org").await.unwrap();
    assert_eq!(zones.id, evil);
    let err = cf
        .dns_records(&zones, &RecordQuery::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert!(text.contains("for zone x.example.org"), "{text:?}");
}
