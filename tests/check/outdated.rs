//! `homelab check --outdated` against chart repositories served on 127.0.0.1 (plain HTTP, and
//! HTTPS with a throwaway CA): newer releases reported, pre-releases ignored unless pinned as
//! one, a chart missing from its index reported, and a repository that cannot be read reported
//! on its own while the others are still compared.

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use homelab::repo::outdated::{self, PinStatus};
use homelab::repo::tree::Tree;
use homelab::sim::server::SimServer;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

type Indexes = Arc<BTreeMap<String, String>>;

/// Serves `/<repo>/index.yaml` from `indexes`; anything else is a 404.
async fn charts(
    indexes: BTreeMap<String, String>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> SimServer {
    async fn serve(
        State(idx): State<Indexes>,
        UrlPath((repo, file)): UrlPath<(String, String)>,
    ) -> (StatusCode, String) {
        match idx.get(&repo) {
            Some(text) if file == "index.yaml" => (StatusCode::OK, text.clone()),
            _ => (StatusCode::NOT_FOUND, "404 page not found".into()),
        }
    }
    let router = axum::Router::new()
        .route("/{repo}/{file}", axum::routing::get(serve))
        .with_state(Arc::new(indexes));
    let (listen, cancel) = (
        "127.0.0.1:0".parse().unwrap(),
        tokio_util::sync::CancellationToken::new(),
    );
    match tls {
        Some(config) => SimServer::start_tls(listen, router, cancel, config)
            .await
            .unwrap(),
        None => SimServer::start(listen, router, cancel).await.unwrap(),
    }
}

const STABLE: &str = "apiVersion: v1
entries:
  loki:
    - version: 7.0.0-rc.1
    - version: 6.55.0
    - version: 6.45.1
  beta-app:
    - version: 2.0.0-beta.2
    - version: 2.0.0-beta.1
    - version: 1.9.0
";
const COMMUNITY: &str = "apiVersion: v1
entries:
  tempo:
    - version: 1.26.1
";

fn repository(name: &str, url: &str) -> String {
    format!(
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 12h\n  url: {url}\n"
    )
}

fn release(name: &str, chart: &str, version: &str, repo: &str) -> String {
    format!(
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {name}\n  namespace: apps\nspec:\n  interval: 30m\n  chart:\n    spec:\n      chart: {chart}\n      version: {version}\n      sourceRef:\n        kind: HelmRepository\n        name: {repo}\n        namespace: flux-system\n"
    )
}

/// A registry on 127.0.0.1 (HTTPS) with one chart repository, `envoyproxy/gateway-helm`: tags in
/// two pages, behind the anonymous bearer-token dance Docker Hub does.
async fn registry(tls: Arc<rustls::ServerConfig>) -> SimServer {
    use axum::extract::Query;
    use axum::http::HeaderMap;
    use axum::response::IntoResponse;
    const LIST: &str = "/v2/envoyproxy/gateway-helm/tags/list";
    async fn tags(
        headers: HeaderMap,
        Query(q): Query<BTreeMap<String, String>>,
    ) -> axum::response::Response {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("?")
            .to_owned();
        if headers.get("authorization").and_then(|h| h.to_str().ok()) != Some("Bearer t0k") {
            let challenge = format!(
                r#"Bearer realm="https://{host}/token",service="test-registry",scope="repository:envoyproxy/gateway-helm:pull""#
            );
            return (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", challenge)],
                r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
            )
                .into_response();
        }
        match q.get("last").map(String::as_str) {
            None => (
                [("link", format!(r#"<{LIST}?last=v1.6.0&n=2>; rel="next""#))],
                r#"{"name":"envoyproxy/gateway-helm","tags":["v1.5.0","v1.6.0"]}"#,
            )
                .into_response(),
            Some(_) => r#"{"name":"envoyproxy/gateway-helm","tags":["v1.7.0-rc.1","v1.6.2"]}"#
                .into_response(),
        }
    }
    async fn token(Query(q): Query<BTreeMap<String, String>>) -> axum::response::Response {
        let ok = q.get("service").map(String::as_str) == Some("test-registry")
            && q.get("scope").map(String::as_str)
                == Some("repository:envoyproxy/gateway-helm:pull");
        if ok {
            r#"{"token":"t0k"}"#.into_response()
        } else {
            (StatusCode::BAD_REQUEST, "bad token request").into_response()
        }
    }
    let router = axum::Router::new()
        .route(LIST, axum::routing::get(tags))
        .route("/token", axum::routing::get(token));
    SimServer::start_tls(
        "127.0.0.1:0".parse().unwrap(),
        router,
        tokio_util::sync::CancellationToken::new(),
        tls,
    )
    .await
    .unwrap()
}

fn oci_source(url: &str) -> String {
    format!(
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: envoy-gateway\n  namespace: flux-system\nspec:\n  interval: 12h\n  url: {url}\n  ref:\n    tag: v1.6.0\n---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: envoy-gateway\n  namespace: apps\nspec:\n  interval: 30m\n  chartRef:\n    kind: OCIRepository\n    name: envoy-gateway\n    namespace: flux-system\n"
    )
}

/// A tree with three repositories (`stable`, `community`, `broken`) and five pins.
fn tree(root: &Path, stable: &str, community: &str, broken: &str) {
    let flux = root.join("cluster/kubernetes/flux");
    std::fs::create_dir_all(&flux).unwrap();
    std::fs::create_dir_all(root.join("config/clusters")).unwrap();
    let repos = [
        repository("stable", stable),
        repository("community", community),
        repository("broken", broken),
    ]
    .concat();
    std::fs::write(flux.join("repositories.yaml"), repos).unwrap();
    let releases = [
        release("loki", "loki", "6.45.1", "stable"),
        release("beta", "beta-app", "2.0.0-beta.1", "stable"),
        release("gone", "promtail", "6.17.0", "stable"),
        release("tempo", "tempo", "1.26.1", "community"),
        release("other", "other", "1.0.0", "broken"),
    ]
    .concat();
    std::fs::write(flux.join("releases.yaml"), releases).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_are_compared_with_each_repositorys_index() {
    let plain = charts(
        BTreeMap::from([("stable".to_string(), STABLE.to_string())]),
        None,
    )
    .await;
    let server_tls = homelab::sim::kube::tls::generate().unwrap();
    let secure = charts(
        BTreeMap::from([("community".to_string(), COMMUNITY.to_string())]),
        Some(server_tls.config.clone()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &server_tls.ca_pem).unwrap();
    let broken = format!("{}/missing", plain.url());
    tree(
        dir.path(),
        &format!("{}/stable", plain.url()),
        &format!("{}/community/", secure.url()),
        &broken,
    );
    let oci = registry(server_tls.config.clone()).await;
    std::fs::write(
        dir.path().join("cluster/kubernetes/flux/oci.yaml"),
        oci_source(&format!("oci://{}/envoyproxy/gateway-helm", oci.addr())),
    )
    .unwrap();
    let t = Tree::load(dir.path()).unwrap();
    let report = outdated::run(&t, Some(&ca)).await;
    let envoy = report
        .pins
        .iter()
        .find(|p| p.pin.chart == "gateway-helm")
        .unwrap();
    assert_eq!(
        (
            envoy.pin.release.as_str(),
            envoy.pin.file.as_str(),
            envoy.pin.line
        ),
        ("apps/envoy-gateway", "cluster/kubernetes/flux/oci.yaml", 11)
    );
    assert_eq!(
        envoy.status,
        PinStatus::Newer {
            latest: "v1.6.2".into(),
            deprecated: false
        },
        "both pages read, the token fetched, the release candidate ignored"
    );
    let by_release: BTreeMap<&str, &PinStatus> = report
        .pins
        .iter()
        .map(|p| (p.pin.release.as_str(), &p.status))
        .collect();
    assert_eq!(
        by_release["apps/loki"],
        &PinStatus::Newer {
            latest: "6.55.0".into(),
            deprecated: false
        },
        "the release candidate is ignored for a release pin"
    );
    assert_eq!(
        by_release["apps/beta"],
        &PinStatus::Newer {
            latest: "2.0.0-beta.2".into(),
            deprecated: false
        },
        "a pre-release pin sees newer pre-releases"
    );
    assert_eq!(by_release["apps/gone"], &PinStatus::MissingChart);
    assert_eq!(
        by_release["apps/tempo"],
        &PinStatus::UpToDate { deprecated: false }
    );
    assert_eq!(by_release["apps/other"], &PinStatus::Unchecked);
    assert_eq!(
        report.repository_errors.len(),
        1,
        "{:?}",
        report.repository_errors
    );
    let e = &report.repository_errors[0];
    assert_eq!(e.repository, "flux-system/broken");
    assert!(
        e.message.contains("404") && e.message.contains(&format!("{broken}/index.yaml")),
        "{}",
        e.message
    );

    // Without the CA, the HTTPS repository is an error of its own; the plain one still answers.
    let report = outdated::run(&t, None).await;
    let errors: Vec<&str> = report
        .repository_errors
        .iter()
        .map(|e| e.repository.as_str())
        .collect();
    assert_eq!(
        errors,
        [
            "flux-system/broken",
            "flux-system/community",
            "flux-system/envoy-gateway"
        ]
    );
    assert!(
        report
            .pins
            .iter()
            .any(|p| matches!(p.status, PinStatus::Newer { .. }))
    );

    plain.stop().await;
    secure.stop().await;
    oci.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_newer_versions_and_keeps_its_exit_code() {
    let plain = charts(
        BTreeMap::from([
            ("stable".to_string(), STABLE.to_string()),
            ("community".to_string(), COMMUNITY.to_string()),
        ]),
        None,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let broken = format!("{}/missing", plain.url());
    tree(
        dir.path(),
        &format!("{}/stable", plain.url()),
        &format!("{}/community", plain.url()),
        &broken,
    );
    let run = |extra: &'static [&'static str]| {
        let root = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_homelab"))
                .arg("--repo")
                .arg(&root)
                .arg("check")
                .args(extra)
                .output()
                .unwrap()
        })
    };
    let without = run(&[]).await.unwrap();
    let with = run(&["--outdated"]).await.unwrap();
    assert_eq!(
        with.status.code(),
        without.status.code(),
        "--outdated never changes the exit code"
    );
    let text = String::from_utf8_lossy(&with.stdout);
    assert!(
        text.contains(
            "chart versions (--outdated): 5 pin(s), 2 with a newer version, 1 repository error(s)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "cluster/kubernetes/flux/releases.yaml:12  loki 6.45.1: newer: 6.55.0 (pinned 6.45.1)"
        ),
        "{text}"
    );
    assert!(text.contains("promtail 6.17.0: the index of"), "{text}");
    assert!(
        text.contains("has no chart `promtail` (moved or removed?)"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "repository flux-system/broken ({broken}): chart repository answered 404"
        )),
        "{text}"
    );
    assert!(!String::from_utf8_lossy(&without.stdout).contains("--outdated"));

    let json = run(&["--outdated", "--format", "json"]).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let pins = v["outdated"]["pins"].as_array().unwrap();
    let loki = pins.iter().find(|p| p["chart"] == "loki").unwrap();
    assert_eq!(loki["status"], "newer");
    assert_eq!(loki["latest"], "6.55.0");
    assert_eq!(
        v["outdated"]["repository_errors"][0]["repository"],
        "flux-system/broken"
    );
    plain.stop().await;
}
