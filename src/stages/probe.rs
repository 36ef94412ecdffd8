//! Probe evidence: what a platform stage's probe wrote, what it read back, and how long it
//! took. The storage, ingress and observability stages end with probes that exercise the real
//! path (a PVC bound and written, a request through the Gateway, a span sent and found again);
//! each probe reports one [`Evidence`] through its step's log ([`report`]) as a line starting
//! with [`PREFIX`] and carrying JSON. The wizard's platform view (`screens/wizard/platform.rs`)
//! collects those lines into its evidence table; `homelab bootstrap --yes` prints them through
//! [`Evidence::human`] (`stages::printer`). Evidence never carries secrets: a probe writes a
//! random marker, not a credential.

use super::engine::StepCx;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The namespace every platform stage's probe objects live in (storage's claims and pods,
/// ingress's echo), created by whichever probe runs first.
pub const NAMESPACE: &str = "homelab-probe";
/// The `app.kubernetes.io/managed-by` label of that namespace: one value, so that a namespace
/// one stage created never conflicts with another stage's server-side apply of it.
pub const MANAGED_BY: &str = "homelab-probe";

/// A step log line that carries evidence starts with this.
pub const PREFIX: &str = "evidence: ";

/// Longest text kept for `wrote` / `read` (a probe's read-back can be a whole response).
const TEXT_CAP: usize = 240;
/// Longest line [`Evidence::parse`] looks at.
const LINE_CAP: usize = 4 * 1024;

/// One probe's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Which probe: `pvc/longhorn`, `nfs/k3s-server-1`, `route/echo`, `otlp/trace`.
    pub probe: String,
    /// What was written or sent (empty for a read-only probe).
    pub wrote: String,
    /// What was read back or answered.
    pub read: String,
    /// From the first write to the last read.
    pub took_ms: u64,
    /// Whether what was read back is what the probe expected.
    pub ok: bool,
}

impl Evidence {
    /// Evidence with its texts capped at [`TEXT_CAP`] characters.
    pub fn new(
        probe: impl Into<String>,
        wrote: impl Into<String>,
        read: impl Into<String>,
        took: Duration,
        ok: bool,
    ) -> Evidence {
        Evidence {
            probe: probe.into(),
            wrote: cap(wrote.into()),
            read: cap(read.into()),
            took_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            ok,
        }
    }

    /// The log line: [`PREFIX`] and the JSON.
    pub fn line(&self) -> String {
        // Serialising plain strings and numbers cannot fail.
        format!(
            "{PREFIX}{}",
            serde_json::to_string(self).unwrap_or_default()
        )
    }

    /// The evidence a log line carries, if it is one.
    pub fn parse(line: &str) -> Option<Evidence> {
        if line.len() > LINE_CAP {
            return None;
        }
        serde_json::from_str(line.strip_prefix(PREFIX)?).ok()
    }

    /// `probe pvc/longhorn ok in 1.24 s: wrote "…", read "…"` (for plain output).
    pub fn human(&self) -> String {
        let verdict = if self.ok { "ok" } else { "MISMATCH" };
        let mut out = format!("probe {} {verdict} in {}", self.probe, took(self.took_ms));
        if !self.wrote.is_empty() {
            out.push_str(&format!(": wrote {:?}", self.wrote));
            out.push_str(&format!(", read {:?}", self.read));
        } else {
            out.push_str(&format!(": read {:?}", self.read));
        }
        out
    }
}

/// "840 ms", "1.24 s", "2 min 05 s".
pub fn took(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{}.{:02} s", ms / 1_000, (ms % 1_000) / 10),
        _ => format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1_000),
    }
}

fn cap(mut s: String) -> String {
    if let Some((i, _)) = s.char_indices().nth(TEXT_CAP) {
        s.truncate(i);
        s.push('…');
    }
    s
}

/// Times a probe from its first write.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch(Instant::now())
    }
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Send `evidence` as the step's log line.
pub async fn report(cx: &StepCx, evidence: &Evidence) {
    cx.log(evidence.line()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_and_other_lines_are_not_evidence() {
        let e = Evidence::new(
            "pvc/longhorn",
            "marker-1",
            "marker-1",
            Duration::from_millis(1_240),
            true,
        );
        let line = e.line();
        assert!(line.starts_with(PREFIX));
        assert_eq!(Evidence::parse(&line), Some(e.clone()));
        assert_eq!(Evidence::parse("pod probe created"), None);
        assert_eq!(Evidence::parse("evidence: {not json"), None);
        let long = format!("{PREFIX}{}", " ".repeat(LINE_CAP));
        assert_eq!(Evidence::parse(&long), None);
        assert_eq!(
            e.human(),
            "probe pvc/longhorn ok in 1.24 s: wrote \"marker-1\", read \"marker-1\""
        );
    }

    #[test]
    fn texts_are_capped_and_durations_read_well() {
        let e = Evidence::new("x", "a".repeat(1_000), "", Duration::ZERO, false);
        assert_eq!(e.wrote.chars().count(), TEXT_CAP + 1);
        assert!(e.human().contains("MISMATCH"));
        assert_eq!(took(840), "840 ms");
        assert_eq!(took(1_240), "1.24 s");
        assert_eq!(took(125_000), "2 min 05 s");
    }
}
