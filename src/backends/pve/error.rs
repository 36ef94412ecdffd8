//! Errors from the PVE API, built the way PVE reports them: the HTTP status, the reason phrase
//! (where PVE puts the human message), and the `errors` map of a 400 (parameter -> message).

use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PveErrorKind {
    /// A non-2xx answer.
    Http {
        status: u16,
        reason: String,
        errors: BTreeMap<String, String>,
    },
    /// No answer: connection refused/reset/dropped.
    Connect(String),
    /// No answer within the timeout.
    Timeout,
    /// The TLS handshake failed (pin mismatch, bad certificate).
    Tls(String),
    /// An answer we could not understand.
    Decode(String),
    /// A task ended with an exit status other than `OK`.
    Task { upid: String, exitstatus: String },
}

/// One failed API call (or task), naming the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PveError {
    /// `POST /nodes/pve/qemu/9000/clone`
    pub call: String,
    pub kind: PveErrorKind,
}

impl PveError {
    pub fn new(call: impl Into<String>, kind: PveErrorKind) -> Self {
        PveError {
            call: call.into(),
            kind,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.kind {
            PveErrorKind::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The reason phrase (HTTP) or exit status (task).
    pub fn reason(&self) -> Option<&str> {
        match &self.kind {
            PveErrorKind::Http { reason, .. } => Some(reason),
            PveErrorKind::Task { exitstatus, .. } => Some(exitstatus),
            _ => None,
        }
    }

    /// 5xx, connection errors and timeouts are worth retrying; 4xx never.
    pub fn retryable(&self) -> bool {
        match &self.kind {
            PveErrorKind::Http { status, .. } => *status >= 500,
            PveErrorKind::Connect(_) | PveErrorKind::Timeout => true,
            _ => false,
        }
    }

    /// For a 403 `Permission check failed (/vms/100, VM.PowerMgmt)`: `("/vms/100", "VM.PowerMgmt")`.
    pub fn missing_privilege(&self) -> Option<(String, String)> {
        let PveErrorKind::Http {
            status: 403,
            reason,
            ..
        } = &self.kind
        else {
            return None;
        };
        parse_permission_reason(reason)
    }

    /// What the operator can do about it, when we know.
    pub fn hint(&self) -> Option<String> {
        if let Some((path, privilege)) = self.missing_privilege() {
            return Some(format!(
                "the API token lacks {privilege} on {path}; grant it, e.g. `pveum acl modify {path} --tokens '<token id>' --roles HomelabBootstrap` \
                 (docs/proxmox-stage.md lists the role's privileges). Tokens with privilege separation do not inherit their user's rights"
            ));
        }
        if self.call.starts_with("POST ") && self.retryable() {
            return Some(
                "the answer was lost, so the request may have been carried out; homelab did not send it again (a POST is not repeated). Run again: the stage reads the state back and continues from there"
                    .into(),
            );
        }
        match &self.kind {
            PveErrorKind::Http { status: 401, reason, .. } if reason.contains("csrf") => {
                Some("the session's CSRF token was refused; log in again".into())
            }
            PveErrorKind::Http { status: 401, .. } => Some(
                "check proxmox.token_id in the cluster file and PROXMOX_TOKEN_SECRET in the env file (the token may be expired or deleted)"
                    .into(),
            ),
            PveErrorKind::Http { status: 403, .. } => {
                Some("the API token lacks a privilege for this call; see docs/proxmox-stage.md for the role".into())
            }
            PveErrorKind::Connect(_) | PveErrorKind::Timeout => Some(
                "check proxmox.endpoint (https://host:8006), that pveproxy runs (`systemctl status pveproxy`) and that nothing blocks port 8006".into(),
            ),
            PveErrorKind::Tls(m) if m.contains("fingerprint changed") => Some(
                "the node certificate changed since it was pinned; compare with `pvenode cert info` before re-trusting".into(),
            ),
            PveErrorKind::Task { exitstatus, .. } if exitstatus.contains("checksum mismatch") => Some(
                "template.image.checksum does not match the downloaded image; take the checksum from the image's SHA256SUMS".into(),
            ),
            _ => None,
        }
    }
}

/// `Permission check failed (/vms/100, VM.PowerMgmt)` -> `("/vms/100", "VM.PowerMgmt")`.
pub fn parse_permission_reason(reason: &str) -> Option<(String, String)> {
    let start = reason.find('(')?;
    let end = reason[start..].find(')')? + start;
    let inner = &reason[start + 1..end];
    let (path, privilege) = inner.split_once(',')?;
    let (path, privilege) = (path.trim(), privilege.trim());
    (path.starts_with('/') && !privilege.is_empty())
        .then(|| (path.to_owned(), privilege.to_owned()))
}

impl fmt::Display for PveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PveErrorKind::Http {
                status,
                reason,
                errors,
            } => {
                write!(f, "{}: {status} {reason}", self.call)?;
                for (param, msg) in errors {
                    write!(f, "; {param}: {}", msg.trim())?;
                }
                Ok(())
            }
            PveErrorKind::Connect(m) => write!(f, "{}: no answer: {m}", self.call),
            PveErrorKind::Timeout => write!(f, "{}: timed out", self.call),
            PveErrorKind::Tls(m) => write!(f, "{}: TLS: {m}", self.call),
            PveErrorKind::Decode(m) => write!(f, "{}: unexpected answer: {m}", self.call),
            PveErrorKind::Task { upid, exitstatus } => {
                write!(f, "{}: task {upid} failed: {exitstatus}", self.call)
            }
        }
    }
}

impl std::error::Error for PveError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, reason: &str) -> PveError {
        PveError::new(
            "POST /x",
            PveErrorKind::Http {
                status,
                reason: reason.into(),
                errors: BTreeMap::new(),
            },
        )
    }

    #[test]
    fn names_missing_privilege_and_path() {
        let e = http(403, "Permission check failed (/vms/100, VM.PowerMgmt)");
        assert_eq!(
            e.missing_privilege(),
            Some(("/vms/100".into(), "VM.PowerMgmt".into()))
        );
        let hint = e.hint().unwrap();
        assert!(hint.contains("VM.PowerMgmt on /vms/100"), "{hint}");
        assert!(!e.retryable());
    }

    #[test]
    fn display_includes_reason_and_errors_map() {
        let mut errors = BTreeMap::new();
        errors.insert(
            "sshkeys".into(),
            "invalid format - invalid urlencoded string\n".into(),
        );
        let e = PveError::new(
            "PUT /nodes/pve/qemu/201/config",
            PveErrorKind::Http {
                status: 400,
                reason: "Parameter verification failed.".into(),
                errors,
            },
        );
        assert_eq!(
            e.to_string(),
            "PUT /nodes/pve/qemu/201/config: 400 Parameter verification failed.; sshkeys: invalid format - invalid urlencoded string"
        );
    }

    #[test]
    fn retry_policy() {
        assert!(http(500, "x").retryable());
        assert!(http(503, "x").retryable());
        assert!(!http(400, "x").retryable());
        assert!(!http(401, "No ticket").retryable());
        assert!(PveError::new("GET /", PveErrorKind::Timeout).retryable());
    }
}
