//! Everything a scaffold writes, computed before anything is written: the new files, the
//! edited group kustomization, their preview and unified diff; then the write, through the one
//! atomic writer.

use super::facts::{LONGHORN_KUSTOMIZATION, NFS_KUSTOMIZATION, TreeFacts};
use super::request::{APPS_DIR, AppRequest, Storage};
use super::{parent, render, seal};
use crate::atomic_write;
use crate::domain::printable::sanitize;
use std::path::Path;

/// One file of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Repository-relative, `/`-separated.
    pub rel: String,
    /// What the file holds now (`None`: a new file).
    pub old: Option<String>,
    pub new: String,
}

/// The files of one scaffold, app files first, the group kustomization last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub name: String,
    pub folder: String,
    pub files: Vec<PlannedFile>,
}

/// Build the plan for `req` in the repository at `root`. Reads only; the Secret is encrypted
/// here so neither the preview nor the disk ever holds its plaintext.
pub fn plan(root: &Path, facts: &TreeFacts, req: &AppRequest) -> Result<Plan, String> {
    let folder = req.folder();
    if root.join(&folder).exists() {
        return Err(format!(
            "{folder} already exists; choose another name or remove the folder"
        ));
    }
    let mut files: Vec<PlannedFile> = render::files(req, &facts.public_zone)
        .into_iter()
        .map(|r| PlannedFile {
            rel: format!("{folder}/{}", r.file),
            old: None,
            new: r.text,
        })
        .collect();
    if let Some(secret) = render::plain_secret(req) {
        let rel = format!("{folder}/{}", secret.file);
        let new = seal::seal(root, &rel, &secret)?;
        files.push(PlannedFile {
            rel,
            old: None,
            new,
        });
    }
    if let Some(f) = depends_on(root, facts, req)? {
        files.push(f);
    }
    let parent_rel = format!("{APPS_DIR}/{}/kustomization.yaml", req.category.as_str());
    let old = read_text(root, &parent_rel)?;
    let new = parent::add_resource(&old, &req.name, &parent_rel)?;
    files.push(PlannedFile {
        rel: parent_rel,
        old: Some(old),
        new,
    });
    Ok(Plan {
        name: req.name.clone(),
        folder,
        files,
    })
}

/// Multi-line text for the terminal: each line through the one sanitizer, the line breaks kept.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        out.push_str(&sanitize(body));
        if line.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The group's Flux Kustomization must wait for the StorageClass the app's claim uses (the
/// `flux/order` rule): add it to its dependsOn in place when it is missing.
fn depends_on(
    root: &Path,
    facts: &TreeFacts,
    req: &AppRequest,
) -> Result<Option<PlannedFile>, String> {
    let dep = match req.storage {
        Storage::None => return Ok(None),
        Storage::Longhorn { .. } => LONGHORN_KUSTOMIZATION,
        Storage::Nfs { .. } => NFS_KUSTOMIZATION,
    };
    let group = req.category.as_str();
    let Some(g) = facts.flux_groups.get(group) else {
        return Err(format!(
            "no Flux Kustomization applies {APPS_DIR}/{group} (cluster/kubernetes/flux/apps.yaml): the app would never be applied"
        ));
    };
    if g.depends_on.iter().any(|d| d == dep) {
        return Ok(None);
    }
    let old = read_text(root, &g.file)?;
    let new = parent::add_depends_on(&old, g.first_line, g.line_count, dep, &g.file)?;
    Ok(Some(PlannedFile {
        rel: g.file.clone(),
        old: Some(old),
        new,
    }))
}

fn read_text(root: &Path, rel: &str) -> Result<String, String> {
    let bytes = crate::repo::file_read::read_regular(root, &root.join(rel)).map_err(|e| {
        format!(
            "{rel}: cannot read it ({e}); the app group's kustomization must exist to list the app"
        )
    })?;
    String::from_utf8(bytes).map_err(|_| format!("{rel}: not UTF-8 text"))
}

impl Plan {
    /// Every file's full text under a header (new files) and, for the edited ones, the header
    /// only: their change is in [`Plan::diff`]. Terminal-safe.
    pub fn preview(&self) -> String {
        let mut s = String::new();
        for f in &self.files {
            match &f.old {
                None => {
                    s.push_str(&format!("==> {} (new)\n", f.rel));
                    s.push_str(&printable(&f.new));
                    if !f.new.ends_with('\n') {
                        s.push('\n');
                    }
                    s.push('\n');
                }
                Some(_) => s.push_str(&format!("==> {} (changed, see the diff)\n\n", f.rel)),
            }
        }
        s
    }

    /// The unified diff of the edited files (`git diff` style). With `new_files`, the new
    /// files too (against /dev/null). Terminal-safe.
    pub fn diff(&self, new_files: bool) -> String {
        let mut s = String::new();
        for f in &self.files {
            let (old, a) = match &f.old {
                Some(o) => (o.as_str(), format!("a/{}", f.rel)),
                None if new_files => ("", "/dev/null".to_string()),
                None => continue,
            };
            let d = similar::TextDiff::from_lines(old, f.new.as_str());
            s.push_str(
                &d.unified_diff()
                    .context_radius(3)
                    .header(&a, &format!("b/{}", f.rel))
                    .to_string(),
            );
        }
        printable(&s)
    }

    /// Write the plan: the app's files first (created, never replacing anything), then the
    /// group kustomization (replaced only if it still holds what the plan read), so Flux never
    /// sees the app listed before its folder is complete. Returns the files written.
    pub fn write(&self, root: &Path) -> Result<Vec<String>, String> {
        let mut written = Vec::new();
        let fail = |written: &[String], e: String| {
            if written.is_empty() {
                e
            } else {
                format!("{e}\nalready written: {}", written.join(", "))
            }
        };
        for f in &self.files {
            let path = root.join(&f.rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    fail(
                        &written,
                        format!("{}: cannot create the folder: {e}", dir.display()),
                    )
                })?;
            }
            let r = match &f.old {
                None => atomic_write::create_new(
                    &path,
                    f.new.as_bytes(),
                    atomic_write::Mode::KeepOr(0o644),
                ),
                Some(old) => {
                    let now = read_text(root, &f.rel).map_err(|e| fail(&written, e))?;
                    if &now != old {
                        return Err(fail(
                            &written,
                            format!(
                                "{}: changed on disk since the preview; run the scaffold again",
                                f.rel
                            ),
                        ));
                    }
                    atomic_write::write_atomic(&path, f.new.as_bytes())
                }
            };
            r.map_err(|e| fail(&written, format!("{}: cannot write it: {e}", f.rel)))?;
            written.push(f.rel.clone());
        }
        Ok(written)
    }
}
