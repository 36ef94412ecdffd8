//! What can go wrong talking to the Cloudflare API, with the call named and what to do about
//! it. The codes we interpret are in docs/reference/cloudflare.md §3.

use crate::backends::endpoint::EndpointError;
use serde::Deserialize;
use std::fmt;

/// A permission of a Cloudflare API token, as the dashboard names it (My Profile > API Tokens
/// > Edit token > Permissions). Edit includes Read for the same resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    ZoneRead,
    DnsRead,
    DnsEdit,
    TunnelRead,
    TunnelEdit,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::ZoneRead,
        Permission::DnsRead,
        Permission::DnsEdit,
        Permission::TunnelRead,
        Permission::TunnelEdit,
    ];

    /// The dashboard's words: `Zone > DNS > Edit`.
    pub fn label(self) -> &'static str {
        match self {
            Permission::ZoneRead => "Zone > Zone > Read",
            Permission::DnsRead => "Zone > DNS > Read",
            Permission::DnsEdit => "Zone > DNS > Edit",
            Permission::TunnelRead => "Account > Cloudflare Tunnel > Read",
            Permission::TunnelEdit => "Account > Cloudflare Tunnel > Edit",
        }
    }

    /// Whether a token holding `self` may do what `needed` allows (Edit covers Read).
    pub fn covers(self, needed: Permission) -> bool {
        use Permission::*;
        self == needed
            || matches!(
                (self, needed),
                (DnsEdit, DnsRead) | (TunnelEdit, TunnelRead)
            )
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One entry of the envelope's `errors` (or `messages`), with its `error_chain`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiMessage {
    pub code: i64,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub error_chain: Vec<ApiMessage>,
}

impl fmt::Display for ApiMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.code,
            crate::domain::printable::sanitize(&self.message)
        )?;
        for c in &self.error_chain {
            write!(f, " <- {c}")?;
        }
        Ok(())
    }
}

/// What an error answer means for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No credentials reached Cloudflare (9106).
    NoCredentials,
    /// The token is not shaped like an API token (6003 with 6111 in its chain).
    MalformedToken,
    /// Cloudflare does not know the token, or it is disabled or expired (1000, 9109, 401).
    InvalidToken,
    /// The token is valid but lacks the permission the call needs (10000 / 403).
    MissingPermission(Permission),
    /// An identifier in the path is unknown (7003, 81044, 404).
    NotFound,
    /// The request was refused as it stands (a duplicate record, an invalid field).
    Rejected,
    /// 429: too many requests; wait and try again.
    RateLimited,
    /// 5xx: Cloudflare is failing; try again later.
    Unavailable,
}

/// A failed call to the Cloudflare API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CfError {
    /// Cloudflare was not reached, or its answer could not be read whole.
    #[error("Cloudflare {call}: {source}")]
    Transport { call: String, source: EndpointError },
    /// Cloudflare answered with `success: false`.
    #[error("Cloudflare {call} failed with HTTP {status} ({}): {hint}", list(.errors))]
    Api {
        call: String,
        status: u16,
        errors: Vec<ApiMessage>,
        kind: ErrorKind,
        hint: String,
    },
    /// The answer was not the envelope we expect.
    #[error("Cloudflare {call}: unexpected answer ({reason}); is the API base URL right?")]
    Decode { call: String, reason: String },
    /// `GET /zones?name=` found nothing for the host or any parent domain.
    #[error(
        "Cloudflare has no zone for {name} that this token can see: check that the domain is on this Cloudflare account and that the token has {} for it",
        Permission::ZoneRead
    )]
    ZoneNotFound { name: String },
}

fn list(errors: &[ApiMessage]) -> String {
    if errors.is_empty() {
        return "no error code".into();
    }
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl CfError {
    /// The kind of an API error; `None` for transport and decoding failures.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            CfError::Api { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The Cloudflare error codes of the answer (outer ones first, then their chains).
    pub fn codes(&self) -> Vec<i64> {
        let CfError::Api { errors, .. } = self else {
            return vec![];
        };
        let mut out = vec![];
        for e in errors {
            out.push(e.code);
            out.extend(e.error_chain.iter().map(|c| c.code));
        }
        out
    }
}

/// The kind of an error answer of a call that needs `needed`.
pub(crate) fn classify(
    status: u16,
    errors: &[ApiMessage],
    needed: Option<Permission>,
) -> ErrorKind {
    let has = |code: i64| {
        errors
            .iter()
            .any(|e| e.code == code || e.error_chain.iter().any(|c| c.code == code))
    };
    if has(9106) {
        ErrorKind::NoCredentials
    } else if has(6003) || has(6111) {
        ErrorKind::MalformedToken
    } else if status == 401 || has(9109) || (has(1000) && matches!(status, 400 | 403)) {
        ErrorKind::InvalidToken
    } else if let Some(needed) = needed.filter(|_| has(10000) || status == 403) {
        ErrorKind::MissingPermission(needed)
    } else if status == 403 {
        ErrorKind::InvalidToken
    } else if has(7003) || has(81044) || status == 404 {
        ErrorKind::NotFound
    } else if status == 429 {
        ErrorKind::RateLimited
    } else if status >= 500 {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Rejected
    }
}

/// What the operator should do about `kind`, for a call on `target` (a zone or account named
/// for the reader).
pub(crate) fn hint(kind: ErrorKind, target: &str) -> String {
    const TOKENS: &str = "dash.cloudflare.com > My Profile > API Tokens";
    // Zone names come from Cloudflare's answers: printed only through the one sanitizer.
    let target = crate::domain::printable::sanitize(target);
    match kind {
        ErrorKind::NoCredentials => {
            "no API token was sent: set CLOUDFLARE_API_TOKEN in the cluster's env file (homelab env set config/env/<cluster>.env CLOUDFLARE_API_TOKEN)".into()
        }
        ErrorKind::MalformedToken => format!(
            "the value sent is not an API token (a Global API Key or a token copied with extra characters?): create an API token at {TOKENS} and store it as CLOUDFLARE_API_TOKEN"
        ),
        ErrorKind::InvalidToken => format!(
            "Cloudflare does not accept this API token (unknown, revoked, disabled or expired): roll or create it at {TOKENS} and store the new value as CLOUDFLARE_API_TOKEN"
        ),
        ErrorKind::MissingPermission(p) => format!(
            "the API token lacks the permission {p} for {target}: add it at {TOKENS} > Edit (the token keeps its value)"
        ),
        ErrorKind::NotFound => format!(
            "Cloudflare does not know {target}: check the identifier (it may have been deleted or belong to another account)"
        ),
        ErrorKind::Rejected => "Cloudflare refused the request as sent (see its message)".into(),
        ErrorKind::RateLimited => {
            "Cloudflare is rate-limiting this token (1200 requests per 5 minutes): wait a few minutes and try again".into()
        }
        ErrorKind::Unavailable => {
            "Cloudflare's API is failing: try again later (www.cloudflarestatus.com)".into()
        }
    }
}
