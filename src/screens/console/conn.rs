//! Connection state of one pane's peer, shown in its title: connecting, live, reconnecting
//! with backoff, or failed with the peer's reason.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConnState {
    /// No endpoint configured for this peer.
    #[default]
    NotConfigured,
    Connecting,
    Live,
    /// Lost; the next attempt is in `retry_in`.
    Reconnecting {
        attempt: u32,
        retry_in: Duration,
        reason: String,
    },
    /// Retrying cannot help until the operator changes something (bad query, bad credentials).
    Failed {
        reason: String,
    },
}

impl ConnState {
    /// Short badge text.
    pub fn badge(&self) -> String {
        match self {
            ConnState::NotConfigured => "not configured".into(),
            ConnState::Connecting => "connecting".into(),
            ConnState::Live => "live".into(),
            ConnState::Reconnecting {
                attempt, retry_in, ..
            } => {
                format!("reconnecting #{attempt} in {}", human_duration(*retry_in))
            }
            ConnState::Failed { .. } => "error".into(),
        }
    }

    /// The reason to show under the title, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ConnState::Reconnecting { reason, .. } | ConnState::Failed { reason } => Some(reason),
            _ => None,
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, ConnState::Live)
    }
}

/// `1m 20s`, `850ms`, `2h 5m`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    human_secs(d.as_secs() as i64)
}

/// `45s`, `3m 10s`, `2h 5m`, `3d 4h`.
pub fn human_secs(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => {
            let (m, r) = (s / 60, s % 60);
            if r == 0 {
                format!("{m}m")
            } else {
                format!("{m}m {r}s")
            }
        }
        3600..=86_399 => {
            let (h, m) = (s / 3600, (s % 3600) / 60);
            if m == 0 {
                format!("{h}h")
            } else {
                format!("{h}h {m}m")
            }
        }
        _ => {
            let (d, h) = (s / 86_400, (s % 86_400) / 3600);
            if h == 0 {
                format!("{d}d")
            } else {
                format!("{d}d {h}h")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_human_wrote_them() {
        assert_eq!(human_secs(45), "45s");
        assert_eq!(human_secs(80), "1m 20s");
        assert_eq!(human_secs(3600 * 2 + 300), "2h 5m");
        assert_eq!(human_secs(86_400 * 3 + 3600 * 4), "3d 4h");
        assert_eq!(human_duration(Duration::from_millis(850)), "850ms");
        let s = ConnState::Reconnecting {
            attempt: 2,
            retry_in: Duration::from_secs(4),
            reason: "refused".into(),
        };
        assert_eq!(s.badge(), "reconnecting #2 in 4s");
        assert_eq!(s.reason(), Some("refused"));
    }
}
