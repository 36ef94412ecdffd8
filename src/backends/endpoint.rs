//! An HTTP API endpoint (Loki, Prometheus, Alertmanager): base URL, credentials, timeouts, and
//! errors that say which peer failed, why, and what to try.

use base64::Engine;
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;
use url::Url;
use zeroize::Zeroizing;

/// Credentials for an endpoint. Debug never prints the secret; the secret is wiped from memory
/// when the value is dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Auth {
    #[default]
    None,
    Basic {
        user: String,
        password: Zeroizing<String>,
    },
    Bearer(Zeroizing<String>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Basic { user, .. } => write!(f, "Auth::Basic({user}:••••)"),
            Auth::Bearer(_) => f.write_str("Auth::Bearer(••••)"),
        }
    }
}

impl Auth {
    /// Parse a basic-auth `user:password` pair.
    pub fn basic_from_pair(pair: &str) -> Option<Self> {
        let (user, password) = pair.split_once(':')?;
        Some(Auth::Basic {
            user: user.to_owned(),
            password: Zeroizing::new(password.to_owned()),
        })
    }

    /// A bearer token.
    pub fn bearer(token: &str) -> Self {
        Auth::Bearer(Zeroizing::new(token.to_owned()))
    }

    /// The `Authorization` header value, if any (wiped when dropped).
    pub fn header_value(&self) -> Option<Zeroizing<String>> {
        match self {
            Auth::None => None,
            Auth::Basic { user, password } => {
                let pair = Zeroizing::new(format!("{user}:{}", password.as_str()));
                Some(Zeroizing::new(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
                )))
            }
            Auth::Bearer(token) => Some(Zeroizing::new(format!("Bearer {}", token.as_str()))),
        }
    }

    /// The header as reqwest/tungstenite take it, marked sensitive (never logged by them).
    pub fn header(&self) -> Option<Result<reqwest::header::HeaderValue, String>> {
        self.header_value().map(|h| {
            let mut v = reqwest::header::HeaderValue::from_str(&h)
                .map_err(|_| "credentials are not a valid header".to_string())?;
            v.set_sensitive(true);
            Ok(v)
        })
    }
}

/// Why a request to a peer failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EndpointError {
    #[error("{peer}: `{url}` is not a usable URL ({reason}); give http(s)://host:port")]
    InvalidUrl {
        peer: &'static str,
        url: String,
        reason: String,
    },
    #[error("{peer} at {url} is unreachable: {reason}; is it running and is the URL right?")]
    Connect {
        peer: &'static str,
        url: String,
        reason: String,
    },
    #[error(
        "{peer} at {url} did not answer within {secs}s; it may be overloaded or the URL may point elsewhere"
    )]
    Timeout {
        peer: &'static str,
        url: String,
        secs: u64,
    },
    #[error("{peer} answered {status} at {url}: {message}")]
    Status {
        peer: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    #[error("{peer} at {url} sent a response we could not read: {reason}")]
    Decode {
        peer: &'static str,
        url: String,
        reason: String,
    },
    #[error("{peer} at {url}: {}", crate::backends::body::BodyError::too_large_message(*cap))]
    TooLarge {
        peer: &'static str,
        url: String,
        cap: usize,
    },
    #[error("{peer}: {message}")]
    Unsupported { peer: &'static str, message: String },
}

impl EndpointError {
    /// Whether retrying the same request later can help (outage, overload), as opposed to a
    /// request the peer rejects (bad query, bad credentials).
    pub fn is_transient(&self) -> bool {
        match self {
            EndpointError::Connect { .. } | EndpointError::Timeout { .. } => true,
            EndpointError::Status { status, .. } => *status >= 500 || *status == 429,
            EndpointError::InvalidUrl { .. }
            | EndpointError::Decode { .. }
            | EndpointError::TooLarge { .. }
            | EndpointError::Unsupported { .. } => false,
        }
    }

    /// The peer's own message, without our framing (for a pane's one-line status).
    pub fn short(&self) -> String {
        match self {
            EndpointError::Status {
                status, message, ..
            } => format!("{status}: {message}"),
            EndpointError::Connect { reason, .. } => format!("unreachable: {reason}"),
            EndpointError::Timeout { secs, .. } => format!("no answer within {secs}s"),
            EndpointError::InvalidUrl { reason, .. } => format!("bad URL: {reason}"),
            EndpointError::Decode { reason, .. } => format!("bad response: {reason}"),
            EndpointError::TooLarge { cap, .. } => {
                crate::backends::body::BodyError::too_large_message(*cap)
            }
            EndpointError::Unsupported { message, .. } => message.clone(),
        }
    }
}

/// Timeouts for API calls. Streams (Loki tail) use `connect` only.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(15),
        }
    }
}

/// A base URL plus a client configured for it.
#[derive(Debug, Clone)]
pub struct HttpEndpoint {
    peer: &'static str,
    base: Url,
    auth: Auth,
    timeouts: Timeouts,
    client: reqwest::Client,
    /// Whom HTTPS trusts: the platform store plus an optional CA file (tls_trust).
    tls: std::sync::Arc<rustls::ClientConfig>,
    /// At most this many bytes of one answer are read ([`crate::backends::body`]).
    body_cap: usize,
}

impl HttpEndpoint {
    /// `peer` names the system in errors ("Loki", "Prometheus", "Alertmanager").
    pub fn new(
        peer: &'static str,
        base: &str,
        auth: Auth,
        timeouts: Timeouts,
    ) -> Result<Self, EndpointError> {
        let invalid = |reason: String| EndpointError::InvalidUrl {
            peer,
            url: base.to_owned(),
            reason,
        };
        let mut url = Url::parse(base.trim()).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "scheme `{}` is not http or https",
                url.scheme()
            )));
        }
        if url.host_str().is_none() {
            return Err(invalid("no host".into()));
        }
        // Keep a path prefix (Loki behind /loki, a reverse proxy) and make joins append to it.
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let tls = crate::backends::tls_trust::client_config(None).map_err(invalid)?;
        let client = Self::client(&tls, timeouts).map_err(invalid)?;
        Ok(Self {
            peer,
            base: url,
            auth,
            timeouts,
            client,
            tls,
            body_cap: crate::backends::body::DEFAULT_BODY_CAP,
        })
    }

    /// The HTTP client on `tls` (the websocket of a Loki tail uses the same `tls`).
    fn client(
        tls: &std::sync::Arc<rustls::ClientConfig>,
        timeouts: Timeouts,
    ) -> Result<reqwest::Client, String> {
        reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .user_agent(concat!("homelab/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(rustls::ClientConfig::clone(tls))
            .build()
            .map_err(|e| e.to_string())
    }

    /// Trust the CAs in `ca_file` (PEM) besides the platform store, for HTTP and websocket
    /// alike ([`crate::backends::tls_trust`]). `None` keeps the platform store only.
    pub fn with_ca_file(
        mut self,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, EndpointError> {
        let Some(path) = ca_file else {
            return Ok(self);
        };
        let invalid = |message: String| EndpointError::Unsupported {
            peer: self.peer,
            message,
        };
        let tls = crate::backends::tls_trust::client_config(Some(path)).map_err(invalid)?;
        self.client = Self::client(&tls, self.timeouts).map_err(invalid)?;
        self.tls = tls;
        Ok(self)
    }

    /// The TLS configuration of this endpoint, for connections reqwest does not make (the
    /// Loki tail's websocket).
    pub fn tls(&self) -> std::sync::Arc<rustls::ClientConfig> {
        std::sync::Arc::clone(&self.tls)
    }

    /// Read at most `cap` bytes of any answer (default [`crate::backends::body::DEFAULT_BODY_CAP`]).
    pub fn with_body_cap(mut self, cap: usize) -> Self {
        self.body_cap = cap;
        self
    }

    pub fn peer(&self) -> &'static str {
        self.peer
    }
    pub fn base(&self) -> &Url {
        &self.base
    }
    pub fn auth(&self) -> &Auth {
        &self.auth
    }
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// `path` relative to the base, e.g. `loki/api/v1/labels` (no leading slash).
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}{}", self.base.path(), path.trim_start_matches('/'));
        url.set_path(&joined);
        url
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self
            .client
            .request(method, self.url(path))
            .timeout(self.timeouts.request);
        if let Some(Ok(h)) = self.auth.header() {
            rb = rb.header(reqwest::header::AUTHORIZATION, h);
        }
        rb
    }

    /// Send and return the body bytes of a 2xx answer; anything else becomes an [`EndpointError`]
    /// carrying the peer's own message.
    pub async fn send_bytes(&self, rb: reqwest::RequestBuilder) -> Result<Vec<u8>, EndpointError> {
        let (status, url, body) = self.send_any(rb).await?;
        if !(200..300).contains(&status) {
            return Err(EndpointError::Status {
                peer: self.peer,
                url,
                status,
                message: peer_message(&body),
            });
        }
        Ok(body)
    }

    /// Send and return the status and body of any answer, for APIs whose error answers carry
    /// their own envelope (Cloudflare's `errors`). Transport failures and answers over the cap
    /// are still errors. The URL is the redacted one, for messages.
    pub async fn send_any(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<(u16, String, Vec<u8>), EndpointError> {
        let req = rb.build().map_err(|e| EndpointError::InvalidUrl {
            peer: self.peer,
            url: self.base.to_string(),
            reason: e.to_string(),
        })?;
        let url = redact(req.url());
        let resp = self
            .client
            .execute(req)
            .await
            .map_err(|e| self.transport_error(&url, e))?;
        let status = resp.status();
        let body = crate::backends::body::read_capped(resp, self.body_cap)
            .await
            .map_err(|e| match e {
                crate::backends::body::BodyError::TooLarge { cap } => EndpointError::TooLarge {
                    peer: self.peer,
                    url: url.clone(),
                    cap,
                },
                crate::backends::body::BodyError::Transport(e) => self.transport_error(&url, e),
            })?;
        Ok((status.as_u16(), url, body))
    }

    /// Send and decode a JSON answer.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<T, EndpointError> {
        let body = self.send_bytes(rb).await?;
        serde_json::from_slice(&body).map_err(|e| self.decode_error_for(&body, e))
    }

    pub fn decode_error_for(&self, _body: &[u8], e: serde_json::Error) -> EndpointError {
        EndpointError::Decode {
            peer: self.peer,
            url: self.base.to_string(),
            reason: e.to_string(),
        }
    }

    fn transport_error(&self, url: &str, e: reqwest::Error) -> EndpointError {
        if e.is_timeout() {
            let limit = if e.is_connect() {
                self.timeouts.connect
            } else {
                self.timeouts.request
            };
            EndpointError::Timeout {
                peer: self.peer,
                url: url.to_owned(),
                secs: limit.as_secs(),
            }
        } else {
            EndpointError::Connect {
                peer: self.peer,
                url: url.to_owned(),
                reason: root_cause(&e),
            }
        }
    }
}

/// The innermost error message (reqwest wraps hyper wraps io).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A URL without credentials or query (queries can be long LogQL).
fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.set_query(None);
    u.to_string()
}

/// What the peer said: Prometheus/Loki JSON `{"error": ...}`, Alertmanager JSON string, or plain text.
pub fn peer_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(trimmed) {
        if let Some(s) = v.as_str() {
            return s.to_owned();
        }
        if let Some(s) = v.get("error").and_then(|e| e.as_str()) {
            return s.to_owned();
        }
        if let Some(s) = v.get("message").and_then(|e| e.as_str()) {
            return s.to_owned();
        }
    }
    let mut msg: String = trimmed.chars().take(300).collect();
    if msg.is_empty() {
        msg = "(empty body)".into();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_path_prefix_and_joins() {
        let e = HttpEndpoint::new(
            "Loki",
            "http://127.0.0.1:3100/proxy",
            Auth::None,
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(
            e.url("loki/api/v1/labels").as_str(),
            "http://127.0.0.1:3100/proxy/loki/api/v1/labels"
        );
        let e = HttpEndpoint::new("Loki", "http://h:1/", Auth::None, Timeouts::default()).unwrap();
        assert_eq!(e.url("/ready").as_str(), "http://h:1/ready");
    }

    #[test]
    fn rejects_unusable_urls_with_the_peer_named() {
        let err = HttpEndpoint::new("Prometheus", "ftp://x", Auth::None, Timeouts::default())
            .unwrap_err();
        assert!(
            err.to_string().starts_with("Prometheus: `ftp://x`"),
            "{err}"
        );
        assert!(HttpEndpoint::new("Loki", "not a url", Auth::None, Timeouts::default()).is_err());
    }

    #[test]
    fn auth_headers_and_debug_masking() {
        let a = Auth::basic_from_pair("admin:s3cret").unwrap();
        assert_eq!(a.header_value().unwrap().as_str(), "Basic YWRtaW46czNjcmV0");
        let h = a.header().unwrap().unwrap();
        assert!(h.is_sensitive());
        assert_eq!(h.to_str().unwrap(), "Basic YWRtaW46czNjcmV0");
        assert!(!format!("{a:?}").contains("s3cret"));
        assert!(!format!("{:?}", Auth::bearer("tok")).contains("tok"));
    }

    #[test]
    fn peer_messages_from_each_format() {
        assert_eq!(
            peer_message(br#"{"status":"error","error":"bad query"}"#),
            "bad query"
        );
        assert_eq!(peer_message(br#""missing matchers""#), "missing matchers");
        assert_eq!(
            peer_message(b"parse error at line 1\n"),
            "parse error at line 1"
        );
    }

    #[tokio::test]
    async fn an_oversized_answer_is_an_error_naming_the_endpoint_and_the_cap() {
        let base = crate::backends::body::test_server::endless(None).await;
        let e = HttpEndpoint::new("Prometheus", &base, Auth::None, Timeouts::default())
            .unwrap()
            .with_body_cap(1 << 20);
        let err = e
            .send_bytes(e.request(reqwest::Method::GET, "api/v1/query"))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("Prometheus at http://127.0.0.1:"),
            "{text}"
        );
        assert!(
            text.contains("/api/v1/query: the answer is larger than 1 MiB"),
            "{text}"
        );
    }
}
