//! The tags of an OCI repository (a Helm chart pushed to a registry), through the OCI
//! distribution API: `GET /v2/<name>/tags/list`, following `Link: <...>; rel="next"` pages, with
//! the anonymous bearer token a registry names in its `WWW-Authenticate` challenge (Docker Hub,
//! GHCR). Read by `homelab check --outdated` for `oci://` chart sources.

use crate::backends::body::read_capped;
use reqwest::header::{AUTHORIZATION, LINK, WWW_AUTHENTICATE};
use std::path::Path;
use std::time::Duration;

/// At most this many pages of tags are read.
const MAX_PAGES: usize = 50;
/// One page of tags (or a token) is small; more is not one.
const PAGE_CAP: usize = 4 << 20;

/// `oci://host[:port]/path` -> (`https://<registry>`, `path`); `docker.io` is served by
/// `registry-1.docker.io`.
pub fn split(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("oci://")
        .ok_or_else(|| format!("`{url}` is not an oci:// URL"))?;
    let (host, name) = rest
        .split_once('/')
        .filter(|(h, n)| !h.is_empty() && !n.is_empty())
        .ok_or_else(|| format!("`{url}` has no repository path; expected oci://host/path"))?;
    let host = if host == "docker.io" {
        "registry-1.docker.io"
    } else {
        host
    };
    Ok((
        format!("https://{host}"),
        name.trim_end_matches('/').to_owned(),
    ))
}

/// Every tag of the repository at `url` (`oci://...`), in the registry's order.
pub async fn tags(url: &str, ca_file: Option<&Path>) -> Result<Vec<String>, String> {
    let (base, name) = split(url)?;
    let tls = crate::backends::tls_trust::client_config(ca_file)?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("homelab/", env!("CARGO_PKG_VERSION")))
        .tls_backend_preconfigured(rustls::ClientConfig::clone(&tls))
        .build()
        .map_err(|e| format!("{url}: {e}"))?;
    let mut next = Some(format!("{base}/v2/{name}/tags/list"));
    let mut token: Option<String> = None;
    let mut out = Vec::new();
    let mut pages = 0;
    while let Some(page) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            return Err(format!(
                "{url}: more than {MAX_PAGES} pages of tags; stopped"
            ));
        }
        let mut resp = get(&client, &page, token.as_deref()).await?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED && token.is_none() {
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            token = Some(fetch_token(&client, &challenge, url).await?);
            resp = get(&client, &page, token.as_deref()).await?;
        }
        let status = resp.status();
        let link = resp
            .headers()
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let body = read_capped(resp, PAGE_CAP)
            .await
            .map_err(|e| format!("{page}: {}", body_error(e)))?;
        if !status.is_success() {
            return Err(format!(
                "registry answered {} at {page}: {}",
                status.as_u16(),
                crate::backends::endpoint::peer_message(&body)
            ));
        }
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let p: Page =
            serde_json::from_slice(&body).map_err(|e| format!("{page}: not a tag list ({e})"))?;
        out.extend(p.tags.unwrap_or_default());
        next = link.map(|l| {
            if l.starts_with('/') {
                format!("{base}{l}")
            } else {
                l
            }
        });
    }
    Ok(out)
}

/// A body read failure in words.
fn body_error(e: crate::backends::body::BodyError) -> String {
    match e {
        crate::backends::body::BodyError::TooLarge { cap } => {
            crate::backends::body::BodyError::too_large_message(cap)
        }
        crate::backends::body::BodyError::Transport(e) => e.to_string(),
    }
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> Result<reqwest::Response, String> {
    let mut rb = client.get(url);
    if let Some(t) = token {
        rb = rb.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    rb.send()
        .await
        .map_err(|e| format!("{url} is unreachable: {e}"))
}

/// The target of a `Link: <url>; rel="next"` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"))
            .then(|| target.to_owned())
    })
}

/// The parameters of a `Bearer realm="...",service="...",scope="..."` challenge.
fn challenge_params(challenge: &str) -> Option<Vec<(String, String)>> {
    let rest = challenge.trim().strip_prefix("Bearer ")?;
    let mut out = Vec::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        out.push((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()));
    }
    Some(out)
}

/// An anonymous pull token from the realm the registry named.
async fn fetch_token(
    client: &reqwest::Client,
    challenge: &str,
    url: &str,
) -> Result<String, String> {
    let params = challenge_params(challenge).ok_or_else(|| {
        format!("{url}: the registry wants credentials (`{challenge}`); --outdated reads public registries only")
    })?;
    let realm = params
        .iter()
        .find(|(k, _)| k == "realm")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| format!("{url}: the registry's challenge names no realm"))?;
    let query: Vec<(String, String)> = params.into_iter().filter(|(k, _)| k != "realm").collect();
    let resp = client
        .get(&realm)
        .query(&query)
        .send()
        .await
        .map_err(|e| format!("token service {realm} is unreachable: {e}"))?;
    let status = resp.status();
    let body = read_capped(resp, PAGE_CAP)
        .await
        .map_err(|e| format!("{realm}: {}", body_error(e)))?;
    if !status.is_success() {
        return Err(format!(
            "token service answered {} at {realm}: {}",
            status.as_u16(),
            crate::backends::endpoint::peer_message(&body)
        ));
    }
    #[derive(serde::Deserialize)]
    struct Token {
        token: Option<String>,
        access_token: Option<String>,
    }
    let t: Token =
        serde_json::from_slice(&body).map_err(|e| format!("{realm}: not a token answer ({e})"))?;
    t.token
        .or(t.access_token)
        .ok_or_else(|| format!("{realm}: the answer holds no token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_links_and_challenges() {
        assert_eq!(
            split("oci://docker.io/envoyproxy/gateway-helm").unwrap(),
            (
                "https://registry-1.docker.io".into(),
                "envoyproxy/gateway-helm".into()
            )
        );
        assert!(split("https://x/y").is_err() && split("oci://host").is_err());
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        let p = challenge_params(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(
            p[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(p[2].1, "repository:a/b:pull");
        assert_eq!(challenge_params("Basic realm=x"), None);
    }
}
