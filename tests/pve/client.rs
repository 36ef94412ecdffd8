//! The PVE client against the simulator: auth, TLS pinning, retries, and every failure mode's
//! message.

use crate::support::*;
use homelab::backends::pve::{self, Auth, Hypervisor, PveClient, PveErrorKind, PveSettings, Trust};
use homelab::sim::pve::{Fault, FaultRule};
use homelab::stages::engine::*;
use std::time::Duration;
use zeroize::Zeroizing;

fn download_spec(filename: &str) -> pve::DownloadSpec {
    pve::DownloadSpec {
        url: IMAGE_URL.into(),
        filename: filename.into(),
        content: "import".into(),
        checksum_algorithm: "sha256".into(),
        checksum: IMAGE_SHA.into(),
    }
}

fn rule(method: Option<&str>, path: &str, fault: Fault, times: u32) -> FaultRule {
    FaultRule {
        method: method.map(str::to_owned),
        path_contains: path.into(),
        fault,
        times,
    }
}

#[tokio::test]
async fn token_and_ticket_auth_and_csrf() {
    let sim = sim(&["pve"], free_port()).await;
    let v = client(&sim).version().await.unwrap();
    assert_eq!(v.major(), Some(8));

    // Ticket + CSRF: the client logs in, reads and writes.
    let mut s = settings(&sim);
    s.auth = Auth::Password {
        user: "homelab@pve".into(),
        password: Zeroizing::new(sim.password.clone()),
    };
    let c = PveClient::new(s).unwrap();
    assert_eq!(c.nodes().await.unwrap()[0].node, "pve");
    let spec = download_spec("x.qcow2");
    let upid = c.download_url("pve", "local", &spec).await.unwrap();
    assert_eq!(upid.user, "homelab@pve");
    assert_eq!(upid.kind, "download");

    // A write with the ticket but without the CSRF header is refused, as PVE does.
    let ticket = sim.with(|st| st.access.tickets.keys().next().unwrap().clone());
    let raw = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let resp = raw
        .put(format!("{}/api2/json/nodes/pve/qemu/100/config", sim.url))
        .header("Cookie", format!("PVEAuthCookie={ticket}"))
        .form(&[("cores", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
    assert_eq!(
        reason.as_deref(),
        Some("Permission denied - invalid csrf token")
    );

    // A wrong token secret: 401 with the reason phrase and a hint about the secret.
    let mut s = settings(&sim);
    s.auth = Auth::Token {
        id: sim.token_id.clone(),
        secret: Zeroizing::new("wrong".into()),
    };
    let e = PveClient::new(s).unwrap().version().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "GET /version: 401 permission denied - invalid PVE ticket"
    );
    assert!(e.hint().unwrap().contains("PROXMOX_TOKEN_SECRET"));
}

#[tokio::test]
async fn tls_is_pinned_and_the_probe_sees_the_served_certificate() {
    let sim = sim(&["pve"], free_port()).await;
    let fp = pve::tls::probe_fingerprint("127.0.0.1", sim.addr.port(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(Some(fp.clone()), sim.fingerprint);
    // The fingerprint PVE publishes per node is the same one.
    let nodes = client(&sim).nodes().await.unwrap();
    assert_eq!(nodes[0].ssl_fingerprint.as_deref(), Some(fp.as_str()));

    // A different pin: the handshake is refused and the message says what changed.
    let mut s = settings(&sim);
    // A pin that differs from the served one in its first byte, whatever that byte is.
    let first = if fp.starts_with("00") { "11" } else { "00" };
    s.trust = Trust::Pinned(format!("{first}{}", &fp[2..]));
    s.retries = 0;
    let e = PveClient::new(s).unwrap().version().await.unwrap_err();
    assert!(matches!(e.kind, PveErrorKind::Tls(_)), "{e:?}");
    assert!(
        e.to_string().contains("certificate fingerprint changed"),
        "{e}"
    );
    assert!(e.hint().unwrap().contains("pvenode cert info"));

    // CA verification refuses the self-signed certificate.
    let mut s = settings(&sim);
    s.trust = Trust::CaVerified;
    s.retries = 0;
    assert!(PveClient::new(s).unwrap().version().await.is_err());
}

#[tokio::test]
async fn retries_5xx_and_dropped_connections_but_never_4xx() {
    let sim = sim(&["pve"], free_port()).await;
    let c = client(&sim);
    sim.inject(rule(
        Some("GET"),
        "/version",
        Fault::Status {
            status: 503,
            reason: "Service Unavailable".into(),
        },
        2,
    ));
    assert!(c.version().await.is_ok(), "two 503s are retried");
    sim.inject(rule(Some("GET"), "/cluster/resources", Fault::Drop, 1));
    let r = c.vm_resources().await;
    assert!(r.is_ok(), "a dropped connection is retried: {r:?}");

    sim.inject(rule(
        Some("GET"),
        "/nodes",
        Fault::Status {
            status: 500,
            reason: "Internal Server Error".into(),
        },
        10,
    ));
    let e = c.nodes().await.unwrap_err();
    assert_eq!(e.to_string(), "GET /nodes: 500 Internal Server Error");
    let tries = sim.with(|st| {
        st.seen
            .iter()
            .filter(|s| s.path == "/api2/json/nodes")
            .count()
    });
    assert_eq!(tries, 4, "one try and three retries");
    sim.with(|st| st.faults.clear());

    // A 4xx is never retried.
    let posts = || {
        sim.with(|st| {
            st.seen
                .iter()
                .filter(|s| s.method == "POST" && s.path.ends_with("/download-url"))
                .count()
        })
    };
    let before = posts();
    let spec = download_spec("noble.img");
    assert_eq!(
        c.download_url("pve", "local", &spec)
            .await
            .unwrap_err()
            .status(),
        Some(400)
    );
    assert_eq!(posts(), before + 1, "a 4xx is not retried");
}

#[tokio::test]
async fn slow_answers_time_out_with_a_clear_message() {
    let sim = sim(&["pve"], free_port()).await;
    let mut s = settings(&sim);
    // Far from both answers: 2 s always times out, 50 ms (plus a TLS handshake on a loaded
    // machine) never does.
    s.timeout = Duration::from_secs(1);
    s.retries = 1;
    let c = PveClient::new(s).unwrap();
    sim.inject(rule(
        None,
        "/version",
        Fault::Slow(Duration::from_secs(2)),
        5,
    ));
    let e = c.version().await.unwrap_err();
    assert_eq!(e.to_string(), "GET /version: timed out");
    assert!(e.retryable());
    sim.inject(rule(
        None,
        "/nodes",
        Fault::Slow(Duration::from_millis(50)),
        1,
    ));
    assert!(c.nodes().await.is_ok(), "slow but inside the timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_privilege_names_the_privilege_and_path() {
    let port = free_port();
    let sim = sim(&["pve"], port).await;
    sim.with(|st| st.access.revoke("homelab@pve!bootstrap", "VM.PowerMgmt"));
    let stage = stage(&sim, cluster(&sim, &["pve"], port));
    let checks = stage.preflight().await;
    let priv_check = checks
        .iter()
        .find(|c| c.id == "privilege/VM.PowerMgmt")
        .expect("privilege check");
    assert_eq!(priv_check.status, CheckStatus::Fail);
    assert!(
        priv_check
            .detail
            .contains("lacks VM.PowerMgmt on /vms/201 (starting it)"),
        "{}",
        priv_check.detail
    );
    assert!(
        priv_check
            .fix
            .as_ref()
            .unwrap()
            .contains("pveum acl modify /vms/201 --tokens 'homelab@pve!bootstrap'")
    );

    // Applied anyway, the start step fails with PVE's 403 and a hint naming privilege and path.
    let dir = tempfile::tempdir().unwrap();
    let out = apply(&stage, &dir.path().join("j"), RunOptions::default()).await;
    let err = out.result.clone().unwrap_err();
    assert_eq!(
        err.message,
        "POST /nodes/pve/qemu/201/status/start: 403 Permission check failed (/vms/201, VM.PowerMgmt)"
    );
    assert!(err.hint.unwrap().contains("lacks VM.PowerMgmt on /vms/201"));
    let failed = out.events.iter().find_map(|e| match &e.kind {
        EventKind::StepFailed { step, .. } => Some(step.clone()),
        _ => None,
    });
    assert_eq!(failed.as_deref(), Some("vm/k3s-server-1/start"));
}

/// `GET /access/permissions` answers privilege -> propagate flag: a privilege whose ACL has
/// `propagate=0` holds on that exact path, not below it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_privilege_without_propagation_holds_on_its_own_path_only() {
    let port = free_port();
    let sim = sim(&["pve"], port).await;
    let token = sim.token_id.clone();
    let stage = stage(&sim, cluster(&sim, &["pve"], port));
    // Only VM 201 is granted anything below; the cluster's other VMs stay without it.
    let lacks_power = |checks: &[Check]| {
        checks.iter().any(|c| {
            c.id == "privilege/VM.PowerMgmt"
                && c.status == CheckStatus::Fail
                && c.detail.contains("/vms/201 (starting it)")
        })
    };

    // On the exact path with propagate=0: granted (the value 0 is not "missing").
    sim.with(|st| {
        st.access.revoke(&token, "VM.PowerMgmt");
        st.access.grant_here(&token, "/vms/201", &["VM.PowerMgmt"]);
    });
    let perms = client(&sim).permissions().await.unwrap();
    assert_eq!(perms["/vms/201"].get("VM.PowerMgmt"), Some(&false));
    let checks = stage.preflight().await;
    assert!(!lacks_power(&checks), "{checks:#?}");

    // On the parent path with propagate=0: not granted on the child.
    sim.with(|st| {
        st.access.revoke(&token, "VM.PowerMgmt");
        st.access.grant_here(&token, "/vms", &["VM.PowerMgmt"]);
    });
    let perms = client(&sim).permissions().await.unwrap();
    assert_eq!(perms["/vms"].get("VM.PowerMgmt"), Some(&false));
    let checks = stage.preflight().await;
    assert!(lacks_power(&checks), "{checks:#?}");

    // On the parent path with propagate=1: granted on the child.
    sim.with(|st| {
        st.access
            .no_propagate
            .remove(&(token.clone(), "/vms".to_owned()))
    });
    let checks = stage.preflight().await;
    assert!(!lacks_power(&checks), "{checks:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_mismatch_fails_the_download_task_with_pves_message() {
    let port = free_port();
    let sim = sim(&["pve"], port).await;
    let mut cfg = cluster(&sim, &["pve"], port);
    cfg.template.image.checksum = Some(format!("sha256:{}", "0".repeat(64)));
    let stage = stage(&sim, cfg);
    let dir = tempfile::tempdir().unwrap();
    let out = apply(&stage, &dir.path().join("j"), RunOptions::default()).await;
    let err = out.result.clone().unwrap_err();
    assert!(
        err.message.contains(&format!(
            "checksum mismatch: got '{IMAGE_SHA}' != expect '{}'",
            "0".repeat(64)
        )),
        "{}",
        err.message
    );
    assert!(err.hint.unwrap().contains("SHA256SUMS"));
    assert_eq!(
        sim.with(|st| st.vms.len()),
        0,
        "nothing after the failed download ran"
    );
}

#[tokio::test]
async fn parameter_errors_come_back_with_the_errors_map() {
    let sim = sim(&["pve"], free_port()).await;
    let c = client(&sim);
    // PVE rejects .img for import content.
    let spec = download_spec("noble.img");
    let e = c.download_url("pve", "local", &spec).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "POST /nodes/pve/storage/local/download-url: 400 Parameter verification failed.; filename: invalid filename or wrong extension"
    );
    // sshkeys sent once-encoded (spaces as `+` by the form encoder) fail PVE's check.
    sim.with(|st| {
        st.vms.insert(
            300,
            homelab::sim::pve::state::Vm::new(
                300,
                "pve",
                [("name".to_string(), "x".to_string())].into(),
            ),
        )
    });
    let e = c
        .set_vm_config("pve", 300, &[("sshkeys".into(), KEY.into())])
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("PUT /nodes/pve/qemu/300/config: 400 Parameter verification failed.; sshkeys: invalid format - invalid urlencoded string"), "{e}");
    let enc = homelab::backends::pve::types::encode_sshkeys(&[KEY.to_string()]);
    c.set_vm_config("pve", 300, &[("sshkeys".into(), enc.clone())])
        .await
        .unwrap();
    assert_eq!(c.vm_config("pve", 300).await.unwrap()["sshkeys"], enc);
    let e = c
        .set_vm_config(
            "pve",
            300,
            &[("ipconfig0".into(), "ip=10.0.0.5/24,gw=10.0.0".into())],
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains(
            "ipconfig0.gw: invalid format - value does not look like a valid IPv4 address"
        ),
        "{e}"
    );

    // A body without a content type is not read by pveproxy (the bundled proxmox-api client's bug).
    let raw = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let resp = raw
        .post(format!("{}/api2/json/nodes/pve/qemu", sim.url))
        .header(
            "Authorization",
            format!("PVEAPIToken={}={}", sim.token_id, sim.token_secret),
        )
        .body("vmid=500&name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["errors"]["vmid"],
        "property is missing and it is not optional"
    );
}

#[tokio::test]
async fn trust_on_first_use_writes_the_pin_into_the_cluster_file() {
    let sim = sim(&["pve"], free_port()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prox-n100.yaml");
    let original = include_str!("../../config/clusters/prox-n100.yaml");
    std::fs::write(&file, original).unwrap();
    let fp = pve::tls::probe_fingerprint("127.0.0.1", sim.addr.port(), Duration::from_secs(5))
        .await
        .unwrap();
    pve::trust::store_fingerprint(&file, &fp).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&format!("    fingerprint: \"{fp}\"")));
    assert!(
        text.contains("# pinned on first use; the fingerprint is written below"),
        "comments survive"
    );
    let diff: Vec<&str> = text
        .lines()
        .filter(|l| !original.lines().any(|o| o == *l))
        .collect();
    assert_eq!(diff.len(), 1, "a one-line change: {diff:?}");
}

#[tokio::test]
async fn plain_http_simulator_on_request() {
    let opts = homelab::sim::pve::SimOptions {
        plain_http: true,
        ..Default::default()
    };
    let sim = homelab::sim::pve::PveSim::start(opts).await.unwrap();
    assert!(sim.url.starts_with("http://") && sim.fingerprint.is_none());
    let s = PveSettings::new(
        sim.url.clone(),
        Auth::Token {
            id: sim.token_id.clone(),
            secret: Zeroizing::new(sim.token_secret.clone()),
        },
        Trust::CaVerified,
    );
    assert_eq!(PveClient::new(s).unwrap().next_id().await.unwrap(), 100);
}
