//! What the command line asks of the screens when the TUI starts, as typed values (no
//! process-global state): `commands::launch` puts it in [`crate::app::AppOptions`] and
//! [`super::Screens::new`] hands each screen its part.

use super::console::endpoints::EndpointOverrides;
use crate::stages::engine::StageId;
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct StartParams {
    /// `homelab console --loki/--prometheus/--alertmanager` (clap folds in HOMELAB_*_URL).
    pub endpoints: EndpointOverrides,
    /// `homelab env edit FILE [--read-only]`: the file the env screen opens when entered.
    pub env_file: Option<EnvFile>,
    /// `homelab bootstrap --stage S`: the stage the wizard opens on.
    pub wizard_stage: Option<StageId>,
    /// `homelab bootstrap --flux-manifest FILE`: the Flux install manifest (else downloaded).
    pub flux_manifest: Option<PathBuf>,
}

/// A file for the env editor to open (absolute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    pub path: PathBuf,
    pub read_only: bool,
}
