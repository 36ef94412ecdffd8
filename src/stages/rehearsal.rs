//! Rehearsing recovery (`homelab demo --fail STAGE:STEP`): the demo arms a one-shot failure in
//! a file named by `HOMELAB_DEMO_FAIL_FILE`; the first run of that step (after its check found
//! work to do) claims the file and fails with a diagnosis instead of executing, so the
//! operator sees a failed step, reads what to do and retries it. The claim renames the file,
//! so the failure happens once, in whichever process gets there first. Any stage in the
//! registry can be failed this way: the engine asks before every step it executes.

use super::engine::StageError;
use super::registry::StageId;
use std::path::PathBuf;

/// The variable naming the armed file.
pub const ENV: &str = "HOMELAB_DEMO_FAIL_FILE";

/// `STAGE:STEP` checked against the registry: the stage must exist.
pub fn parse(spec: &str) -> Result<(StageId, String), String> {
    let Some((stage, step)) = spec.split_once(':') else {
        return Err(format!(
            "--fail {spec}: expected STAGE:STEP, e.g. k3s:k3s-agent-1/join (step ids as `homelab bootstrap --plan` prints them)"
        ));
    };
    let id: StageId = stage.parse().map_err(|e| format!("--fail {spec}: {e}"))?;
    if step.trim().is_empty() {
        return Err(format!("--fail {spec}: the step is empty"));
    }
    Ok((id, step.trim().to_string()))
}

fn armed_file() -> Option<PathBuf> {
    std::env::var_os(ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The rehearsed failure for `step` of `stage`, if it is armed (and claimed now).
pub fn injected(stage: StageId, step: &str) -> Option<StageError> {
    let file = armed_file()?;
    let text = std::fs::read_to_string(&file).ok()?;
    let (id, armed) = parse(text.trim()).ok()?;
    if id != stage || armed != step {
        return None;
    }
    // Claim it: only one process (and one attempt) sees the failure.
    let fired = file.with_extension("fired");
    std::fs::rename(&file, &fired).ok()?;
    Some(
        StageError::new(format!(
            "{step}: failed on purpose (homelab demo --fail {}:{step}); nothing of this step was done",
            stage.as_str()
        ))
        .with_hint("this is the rehearsal: retry the step (r in the wizard, or run the bootstrap again); it passes now"),
    )
}
