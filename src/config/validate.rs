//! Semantic checks serde cannot do.

use super::schema::ClusterConfig;
use crate::diag::Diagnostic;

pub fn validate(_cfg: &ClusterConfig, _name: &str, _display: &str, _text: &str) -> Vec<Diagnostic> {
    Vec::new()
}
