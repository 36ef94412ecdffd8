//! The HTTP transport under every PVE call: our own reqwest client (form bodies with their
//! content type, pinned TLS, timeouts, retries with backoff, token or ticket auth), exposed to the
//! generated `proxmox-api` paths through its [`proxmox_api::client::Client`] trait.
//!
//! Why not proxmox-api's bundled client: it accepts any certificate, sends form bodies without
//! `Content-Type: application/x-www-form-urlencoded`, pulls reqwest's default TLS stack, and treats
//! `{"data": null}` (the answer of every synchronous write) as a failure.

use super::error::{PveError, PveErrorKind};
use super::tls;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How we authenticate.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: PVEAPIToken=<id>=<secret>`; id is `user@realm!name`.
    Token {
        id: String,
        secret: Zeroizing<String>,
    },
    /// Ticket + CSRF from `POST /access/ticket` (renewed after an hour, and on a 401).
    Password {
        user: String,
        password: Zeroizing<String>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token { id, .. } => write!(f, "Token({id}, secret masked)"),
            Auth::Password { user, .. } => write!(f, "Password({user}, masked)"),
        }
    }
}

/// Which certificates to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Exactly the certificate with this SHA-256 fingerprint (`AB:CD:...`).
    Pinned(String),
    /// Ordinary verification against the platform's roots.
    CaVerified,
}

#[derive(Debug, Clone)]
pub struct PveSettings {
    /// `https://host:8006` (no `/api2/json`, no trailing slash). `http://` only for the simulator.
    pub endpoint: String,
    pub auth: Auth,
    pub trust: Trust,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra attempts after a 5xx, connection error or timeout (never after a 4xx, never for a
    /// POST).
    pub retries: u32,
    /// First backoff; doubles per attempt.
    pub backoff: Duration,
}

impl PveSettings {
    pub fn new(endpoint: impl Into<String>, auth: Auth, trust: Trust) -> Self {
        PveSettings {
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            auth,
            trust,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(300),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
    fn writes(self) -> bool {
        self != Method::Get
    }
    /// Safe to send again after a lost answer: GET reads, PUT sets absolute values, DELETE of a
    /// gone object changes nothing. A POST creates or starts something (a VM, a clone, a task)
    /// and is never repeated; see [`super::reconcile`].
    pub fn idempotent(self) -> bool {
        self != Method::Post
    }
}

impl From<proxmox_api::client::Method> for Method {
    fn from(m: proxmox_api::client::Method) -> Self {
        match m {
            proxmox_api::client::Method::Get => Method::Get,
            proxmox_api::client::Method::Post => Method::Post,
            proxmox_api::client::Method::Put => Method::Put,
            proxmox_api::client::Method::Delete => Method::Delete,
        }
    }
}

struct Session {
    ticket: Zeroizing<String>,
    csrf: Zeroizing<String>,
    obtained: Instant,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    settings: PveSettings,
    session: tokio::sync::Mutex<Option<Session>>,
}

/// A PVE API client. Cheap to clone.
#[derive(Clone)]
pub struct PveClient {
    inner: Arc<Inner>,
    retries: u32,
}

impl std::fmt::Debug for PveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PveClient")
            .field("base", &self.inner.base)
            .finish()
    }
}

/// Form or query pairs from any serializable value (what the generated params are): booleans as
/// `0`/`1`, numbers as decimal, nulls dropped.
pub fn to_pairs<T: Serialize + ?Sized>(value: &T) -> Result<Vec<(String, String)>, String> {
    let v = serde_json::to_value(value).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    match v {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::Null => {}
                    Value::Bool(b) => out.push((k, if b { "1".into() } else { "0".into() })),
                    Value::Number(n) => out.push((k, n.to_string())),
                    Value::String(s) => out.push((k, s)),
                    other => return Err(format!("parameter `{k}` is not a scalar: {other}")),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Array(kv) if kv.len() == 2 => {
                        let k = kv[0].as_str().unwrap_or_default().to_owned();
                        let v = match &kv[1] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        out.push((k, v));
                    }
                    other => return Err(format!("cannot encode {other} as a form pair")),
                }
            }
        }
        other => return Err(format!("cannot encode {other} as form parameters")),
    }
    Ok(out)
}

impl PveClient {
    pub fn new(settings: PveSettings) -> Result<PveClient, PveError> {
        let call = format!("connect {}", settings.endpoint);
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("homelab/", env!("CARGO_PKG_VERSION")));
        if settings.endpoint.starts_with("https://") {
            match &settings.trust {
                Trust::Pinned(fp) => {
                    let pin = tls::parse_fingerprint(fp)
                        .map_err(|e| PveError::new(&call, PveErrorKind::Tls(e)))?;
                    let config = tls::pinned_config(pin)
                        .map_err(|e| PveError::new(&call, PveErrorKind::Tls(e)))?;
                    builder = builder.tls_backend_preconfigured(config);
                }
                Trust::CaVerified => {
                    tls::provider();
                    builder = builder.tls_backend_rustls();
                }
            }
        } else if !settings.endpoint.starts_with("http://") {
            return Err(PveError::new(
                call,
                PveErrorKind::Decode(
                    "proxmox.endpoint must start with https:// (e.g. https://192.168.1.10:8006)"
                        .into(),
                ),
            ));
        }
        let http = builder
            .build()
            .map_err(|e| PveError::new(&call, PveErrorKind::Tls(e.to_string())))?;
        let retries = settings.retries;
        Ok(PveClient {
            inner: Arc::new(Inner {
                http,
                base: format!("{}/api2/json", settings.endpoint),
                settings,
                session: tokio::sync::Mutex::new(None),
            }),
            retries,
        })
    }

    /// The same client without retries (for calls the caller polls anyway, like the guest agent).
    pub fn without_retries(&self) -> PveClient {
        PveClient {
            inner: self.inner.clone(),
            retries: 0,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.inner.settings.endpoint
    }

    /// The API token id or login user (for messages and ACL hints).
    pub fn principal(&self) -> &str {
        match &self.inner.settings.auth {
            Auth::Token { id, .. } => id,
            Auth::Password { user, .. } => user,
        }
    }

    /// One API call with retries. Returns the `data` member of the answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        form: &[(String, String)],
        query: &[(String, String)],
    ) -> Result<Value, PveError> {
        let call = format!("{} {path}", method.as_str());
        let mut relogged = false;
        let mut attempt = 0;
        loop {
            match self.call_once(method, path, form, query, &call).await {
                Ok(v) => return Ok(v),
                Err(e) if e.status() == Some(401) && !relogged && self.uses_password() => {
                    relogged = true;
                    *self.inner.session.lock().await = None;
                }
                Err(e) if e.retryable() && method.idempotent() && attempt < self.retries => {
                    let wait = self.inner.settings.backoff * 2u32.saturating_pow(attempt);
                    tracing::debug!("{e}; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn uses_password(&self) -> bool {
        matches!(self.inner.settings.auth, Auth::Password { .. })
    }

    async fn call_once(
        &self,
        method: Method,
        path: &str,
        form: &[(String, String)],
        query: &[(String, String)],
        call: &str,
    ) -> Result<Value, PveError> {
        let url = format!("{}{path}", self.inner.base);
        let mut req = match method {
            Method::Get => self.inner.http.get(&url),
            Method::Post => self.inner.http.post(&url),
            Method::Put => self.inner.http.put(&url),
            Method::Delete => self.inner.http.delete(&url),
        };
        if !query.is_empty() {
            req = req.query(query);
        }
        if method.writes() && method != Method::Delete {
            // Always a form body with its content type, even when empty.
            req = req.form(form);
        } else if method == Method::Delete && !form.is_empty() {
            req = req.query(form);
        }
        match &self.inner.settings.auth {
            Auth::Token { id, secret } => {
                req = req.header(
                    "Authorization",
                    format!("PVEAPIToken={id}={}", secret.as_str()),
                );
            }
            Auth::Password { .. } => {
                let (ticket, csrf) = self.session().await?;
                req = req.header("Cookie", format!("PVEAuthCookie={}", ticket.as_str()));
                if method.writes() {
                    req = req.header("CSRFPreventionToken", csrf.as_str());
                }
            }
        }
        let resp = req.send().await.map_err(|e| transport_error(call, &e))?;
        decode(call, resp).await
    }

    async fn session(&self) -> Result<(Zeroizing<String>, Zeroizing<String>), PveError> {
        let mut guard = self.inner.session.lock().await;
        if let Some(s) = guard.as_ref()
            && s.obtained.elapsed() < Duration::from_secs(3600)
        {
            return Ok((s.ticket.clone(), s.csrf.clone()));
        }
        let Auth::Password { user, password } = &self.inner.settings.auth else {
            return Err(PveError::new(
                "POST /access/ticket",
                PveErrorKind::Decode("no password configured".into()),
            ));
        };
        let call = "POST /access/ticket";
        let form = vec![
            ("username".to_owned(), user.clone()),
            ("password".to_owned(), password.to_string()),
        ];
        let resp = self
            .inner
            .http
            .post(format!("{}/access/ticket", self.inner.base))
            .form(&form)
            .send()
            .await
            .map_err(|e| transport_error(call, &e))?;
        let data = decode(call, resp).await?;
        let field = |k: &str| {
            data.get(k)
                .and_then(Value::as_str)
                .map(|s| Zeroizing::new(s.to_owned()))
                .ok_or_else(|| {
                    PveError::new(call, PveErrorKind::Decode(format!("answer has no `{k}`")))
                })
        };
        let session = Session {
            ticket: field("ticket")?,
            csrf: field("CSRFPreventionToken")?,
            obtained: Instant::now(),
        };
        let out = (session.ticket.clone(), session.csrf.clone());
        *guard = Some(session);
        Ok(out)
    }
}

fn transport_error(call: &str, e: &reqwest::Error) -> PveError {
    // Walk the source chain: a pin mismatch surfaces as a rustls error deep inside.
    let mut msg = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    let kind = if e.is_timeout() {
        PveErrorKind::Timeout
    } else if msg.contains("certificate")
        || msg.contains("fingerprint")
        || msg.contains("HandshakeFailure")
    {
        // A refused certificate is not retried; a connection cut mid-answer (even inside TLS) is.
        PveErrorKind::Tls(msg)
    } else {
        PveErrorKind::Connect(msg)
    };
    PveError::new(call, kind)
}

/// At most this much of one PVE answer is read (a task log page, the cluster's resources).
pub(crate) const PVE_BODY_CAP: usize = crate::backends::body::DEFAULT_BODY_CAP;

async fn decode(call: &str, resp: reqwest::Response) -> Result<Value, PveError> {
    let status = resp.status();
    let reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| status.canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    let body = match crate::backends::body::read_capped(resp, PVE_BODY_CAP).await {
        Ok(body) => body,
        Err(crate::backends::body::BodyError::TooLarge { cap }) => {
            return Err(PveError::new(
                call,
                PveErrorKind::Decode(crate::backends::body::BodyError::too_large_message(cap)),
            ));
        }
        Err(crate::backends::body::BodyError::Transport(e)) => {
            return Err(transport_error(call, &e));
        }
    };
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    if !status.is_success() {
        let mut errors = BTreeMap::new();
        if let Some(Value::Object(map)) = json.as_ref().and_then(|j| j.get("errors")) {
            for (k, v) in map {
                errors.insert(
                    k.clone(),
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string()),
                );
            }
        }
        return Err(PveError::new(
            call,
            PveErrorKind::Http {
                status: status.as_u16(),
                reason,
                errors,
            },
        ));
    }
    match json {
        Some(Value::Object(mut map)) => Ok(map.remove("data").unwrap_or(Value::Null)),
        _ => Err(PveError::new(
            call,
            PveErrorKind::Decode(format!(
                "expected a JSON object with `data`, got {} bytes",
                body.len()
            )),
        )),
    }
}

impl proxmox_api::client::Client for PveClient {
    type Error = PveError;

    async fn request_with_body_and_query<B, Q, R>(
        &self,
        method: proxmox_api::client::Method,
        path: &str,
        body: Option<&B>,
        query: Option<&Q>,
    ) -> Result<R, PveError>
    where
        B: Serialize,
        Q: Serialize,
        R: DeserializeOwned,
    {
        let method = Method::from(method);
        let call = format!("{} {path}", method.as_str());
        let enc = |e: String| {
            PveError::new(
                &call,
                PveErrorKind::Decode(format!("cannot encode parameters: {e}")),
            )
        };
        let form = match body {
            Some(b) => to_pairs(b).map_err(enc)?,
            None => Vec::new(),
        };
        let query = match query {
            Some(q) => to_pairs(q).map_err(enc)?,
            None => Vec::new(),
        };
        let data = self.call(method, path, &form, &query).await?;
        serde_json::from_value(data.clone()).map_err(|e| {
            PveError::new(
                &call,
                PveErrorKind::Decode(format!("{e} in {}", truncate(&data.to_string(), 300))),
            )
        })
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_owned();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_encode_bools_numbers_and_drop_nulls() {
        #[derive(Serialize)]
        struct P {
            full: bool,
            newid: u32,
            name: Option<String>,
            storage: String,
        }
        let p = P {
            full: true,
            newid: 201,
            name: None,
            storage: "local-lvm".into(),
        };
        let pairs = to_pairs(&p).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("full".to_string(), "1".to_string()),
                ("newid".into(), "201".into()),
                ("storage".into(), "local-lvm".into())
            ]
        );
        assert!(to_pairs(&()).unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_endless_answer_stops_at_the_cap_with_the_call_named() {
        let base = crate::backends::body::test_server::endless(None).await;
        let auth = Auth::Token {
            id: "root@pam!homelab".into(),
            secret: Zeroizing::new("s".into()),
        };
        let client = PveClient::new(PveSettings::new(base, auth, Trust::CaVerified))
            .unwrap()
            .without_retries();
        let err = client
            .call(Method::Get, "/cluster/resources", &[], &[])
            .await
            .unwrap_err();
        assert!(
            matches!(&err.kind, PveErrorKind::Decode(m) if m.contains("larger than 64 MiB")),
            "{err:?}"
        );
        assert_eq!(err.call, "GET /cluster/resources");
    }
}
