//! YAML as sops' yaml store reads and writes it (docs/reference/sops.md §6.3): the whole file is
//! regenerated in go-yaml v3's layout with indent 4, and each document carries a `sops:` key last.

mod emit;
mod parse;
pub mod scalar;

use std::path::Path;

use super::error::Result;
use super::tree::{Entry, Node};

/// Parse all documents of a YAML file.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Vec<Entry>>> {
    parse::parse(text, path)
}

/// Emit documents (plaintext, or encrypted data entries) with an optional `sops` mapping
/// appended as the last key of every document.
pub fn emit(branches: &[Vec<Entry>], metadata: Option<Vec<Entry>>) -> String {
    match metadata {
        None => {
            let refs: Vec<&[Entry]> = branches.iter().map(Vec::as_slice).collect();
            emit::emit(&refs)
        }
        Some(meta) => {
            let with_meta: Vec<Vec<Entry>> = branches
                .iter()
                .map(|b| {
                    let mut b = b.clone();
                    b.push(Entry::Pair("sops".into(), Node::Map(meta.clone())));
                    b
                })
                .collect();
            let refs: Vec<&[Entry]> = with_meta.iter().map(Vec::as_slice).collect();
            emit::emit(&refs)
        }
    }
}

/// Take the top-level `sops` key out of every document; return the first one found.
pub fn take_metadata(branches: &mut [Vec<Entry>]) -> Option<Vec<Entry>> {
    let mut found = None;
    for branch in branches.iter_mut() {
        if let Some(pos) = branch
            .iter()
            .position(|e| matches!(e, Entry::Pair(k, _) if k == "sops"))
        {
            let entry = branch.remove(pos);
            if found.is_none()
                && let Entry::Pair(_, Node::Map(m)) = entry
            {
                found = Some(m);
            }
        }
    }
    found
}
