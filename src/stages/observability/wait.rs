//! One observation of a step (a readiness read or a probe), and waiting for it: the step's
//! `check` observes once; `execute` observes again until it passes, a fatal failure shows, or
//! the step's time is up, then fails with the last observation's diagnosis and evidence.

use crate::stages::engine::{StageError, StageResult, StepCx};
use crate::stages::probe::{self, Evidence};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Why an observation did not pass.
#[derive(Debug, Clone)]
pub struct Pending {
    pub error: StageError,
    /// No point waiting: the cause will not go away by itself (a HelmRelease whose install
    /// failed, an API that refuses us).
    pub fatal: bool,
    /// What the probe wrote and read, when it got that far.
    pub evidence: Option<Evidence>,
}

impl Pending {
    pub fn waiting(error: StageError) -> Pending {
        Pending {
            error,
            fatal: false,
            evidence: None,
        }
    }
    pub fn fatal(error: StageError) -> Pending {
        Pending {
            error,
            fatal: true,
            evidence: None,
        }
    }
    pub fn with_evidence(mut self, e: Evidence) -> Pending {
        self.evidence = Some(e);
        self
    }
}

/// A passed observation: what holds, and the probe's evidence.
#[derive(Debug, Clone)]
pub struct Passed {
    pub detail: String,
    pub evidence: Option<Evidence>,
}

impl From<String> for Passed {
    fn from(detail: String) -> Passed {
        Passed {
            detail,
            evidence: None,
        }
    }
}

/// Observe until it passes (its evidence reported), a fatal failure, or `limit`: then the last
/// failure (its evidence reported) is the step's error, with "after N s" when time ran out.
pub async fn until<F, Fut>(
    cx: &StepCx,
    limit: Duration,
    poll: Duration,
    mut observe: F,
) -> StageResult<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Passed, Pending>>,
{
    let deadline = Instant::now() + limit;
    let mut last_said = String::new();
    let mut backoff = crate::stages::poll::Backoff::new(poll);
    loop {
        match observe().await {
            Ok(p) => {
                if let Some(e) = &p.evidence {
                    probe::report(cx, e).await;
                }
                cx.log(p.detail).await;
                return Ok(());
            }
            Err(p) if p.fatal || Instant::now() + backoff.peek() > deadline => {
                if let Some(e) = &p.evidence {
                    probe::report(cx, e).await;
                }
                let mut error = p.error;
                if !p.fatal {
                    error.message =
                        format!("{} (still so after {} s)", error.message, limit.as_secs());
                }
                return Err(error);
            }
            Err(p) => {
                if p.error.message != last_said {
                    cx.log(format!("waiting: {}", p.error.message)).await;
                    last_said = p.error.message;
                }
                cx.sleep(backoff.next_interval()).await?;
            }
        }
    }
}
