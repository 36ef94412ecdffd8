//! The official `cloudflare` Python SDK (PyPI) against the simulator: it lists zones,
//! creates, pages, updates and deletes DNS records, reads a tunnel's connections and
//! configuration, and gets the errors (class, status, codes) it expects. Where our client
//! reads the same thing, both must agree.

use crate::{client, require_peer, sim};
use homelab::backends::cloudflare::{Permission, TxtRegistry, tunnel_token};
use serde_json::{Value, json};

fn sdk_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import cloudflare"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_sees_what_our_client_sees() {
    if !require_peer(
        "the cloudflare Python SDK (pip install cloudflare)",
        sdk_available(),
    ) {
        return;
    }
    let (sim, dir) = sim().await;
    // Our client's view first, before the SDK writes anything.
    let cf = client(&sim, &dir, &sim.token);
    let zone = cf.zone("example.com").await.unwrap();
    let ours = cf
        .host_records(&zone, "echo.example.com", &TxtRegistry::default())
        .await
        .unwrap();
    let t = tunnel_token::parse(&sim.tunnel_token).unwrap();
    let connectors = cf.tunnel_connectors(&t).await.unwrap();

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cloudflare/sdk_check.py"
    );
    let envs = [
        ("CF_BASE_URL", sim.url()),
        ("CF_CA", dir.path().join("ca.pem").display().to_string()),
        ("CF_TOKEN", sim.token.clone()),
        ("CF_LIMITED_TOKEN", sim.add_token(&[Permission::ZoneRead])),
        ("CF_BAD_TOKEN", "B".repeat(40)),
        ("CF_ACCOUNT", sim.account_id.clone()),
        ("CF_ZONE", "example.com".into()),
        ("CF_HOST", "echo.example.com".into()),
        ("CF_TUNNEL", sim.tunnel_id.clone()),
    ];
    // The deadline only bounds a hang (a server that ignores `page` makes the SDK page
    // forever); the script takes seconds.
    let run = tokio::process::Command::new("python3")
        .arg(script)
        .envs(envs)
        .env_remove("CLOUDFLARE_API_TOKEN")
        .env_remove("CLOUDFLARE_BASE_URL")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(300), run)
        .await
        .expect("the SDK script did not finish within 300 s")
        .unwrap();
    assert!(
        output.status.success(),
        "SDK script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let py: Value = serde_json::from_slice(&output.stdout).unwrap();
    println!("cloudflare SDK {}", py["sdk"]);

    assert_eq!(py["verify"]["status"], "active");
    assert_eq!(
        py["zones"],
        json!([{"id": zone.id, "name": "example.com", "status": "active", "account": sim.account_id}])
    );
    let r = &ours[0].record;
    assert_eq!(
        py["host_records"],
        json!([{"type": r.record_type, "name": r.name, "content": r.content, "proxied": r.proxied, "ttl": r.ttl}])
    );
    let owner_txt = py["txt_records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == ours[0].txt_name.as_str())
        .expect("the SDK lists the owner TXT record our client read");
    assert_eq!(
        owner_txt["content"],
        "\"heritage=external-dns,external-dns/owner=default,external-dns/resource=httproute/default/echo\""
    );

    assert_eq!(
        py["created"],
        json!({"name": "sdk-a.example.com", "proxied": true, "ttl": 1, "id_len": 32})
    );
    assert_eq!(
        py["created_txt"],
        json!({"name": "sdk-txt.example.com", "content": "\"quoted value\"", "ttl": 120})
    );
    assert_eq!(py["paged"], 7, "the SDK pages until an empty page");
    assert_eq!(
        py["result_info"],
        json!({"page": 1, "per_page": 5, "count": 5, "total_count": 7, "total_pages": 2})
    );
    assert_eq!(
        py["updated"],
        json!({"content": "192.0.2.2", "proxied": false, "ttl": 300, "same_id": true})
    );
    assert_eq!(py["deleted"], true);

    let err = |class: &str, status: u16, codes: Value| json!({"class": class, "status": status, "codes": codes, "success": false});
    assert_eq!(
        py["missing_record"],
        err("NotFoundError", 404, json!([81044]))
    );
    assert_eq!(py["duplicate"], err("BadRequestError", 400, json!([81057])));
    assert_eq!(
        py["unknown_zone"],
        err("BadRequestError", 400, json!([7003, 7000]))
    );
    assert_eq!(
        py["bad_token"],
        err("PermissionDeniedError", 403, json!([9109]))
    );
    assert_eq!(
        py["bad_token_verify"],
        err("AuthenticationError", 401, json!([1000]))
    );
    assert_eq!(
        py["limited_dns"],
        err("PermissionDeniedError", 403, json!([10000]))
    );

    assert_eq!(
        py["tunnels"],
        json!([{"id": sim.tunnel_id, "name": "homelab", "status": "healthy", "connections": 4}])
    );
    let c = &connectors[0];
    let colos: std::collections::BTreeSet<&str> =
        c.conns.iter().map(|x| x.colo_name.as_str()).collect();
    assert_eq!(
        py["connectors"],
        json!([{"id": c.id, "version": c.version, "conns": c.conns.len(),
                "colos": colos, "pending": [false, false, false, false]}])
    );
    assert_eq!(py["config"]["version"], 1);
    assert_eq!(py["config"]["source"], "cloudflare");
    assert_eq!(
        py["config"]["ingress"],
        json!([
            {"hostname": "*.example.com", "service": "https://homelab-gateway.envoy-gateway-system.svc.cluster.local:443"},
            {"hostname": null, "service": "http_status:404"}
        ])
    );
    assert_eq!(py["config_updated"], json!({"version": 2, "rules": 2}));
    assert_eq!(py["config_without_catch_all"]["status"], 400);
    // What the SDK wrote, our client reads.
    let cfg = cf.tunnel_config(&t).await.unwrap();
    assert_eq!(cfg.version, 2);
    assert_eq!(
        cfg.config.unwrap().route_for("echo.example.com").unwrap().0,
        0
    );
    assert!(py["tunnel_token_len"].as_u64().unwrap() > 100);
    // The SDK sent the paths docs/reference/cloudflare.md §2 names.
    let log = sim.requests();
    for want in [
        "GET /client/v4/user/tokens/verify",
        "GET /client/v4/zones?name=example.com",
        "GET /client/v4/accounts/",
    ] {
        assert!(
            log.iter().any(|l| l.starts_with(want)),
            "{want} not in {log:#?}"
        );
    }
    assert!(
        log.iter()
            .any(|l| l.contains("name.exact=echo.example.com")),
        "{log:#?}"
    );
    assert!(log.iter().any(|l| l.ends_with("/connections")), "{log:#?}");
}
