//! The chart values file (`--values FILE`, the form's "values file"): a regular file of at most
//! 256 KiB, read as UTF-8; a relative path is taken from `base` (the repository for the form,
//! the working directory for the command line).

use std::path::Path;

/// The largest values file read.
pub const MAX_BYTES: u64 = 256 * 1024;

/// The file's text; errors name the file and say what is wrong.
pub fn read(base: &Path, file: &Path) -> Result<String, String> {
    let path = base.join(file);
    let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return Err(format!(
            "{}: not a regular file of at most 256 KiB",
            path.display()
        ));
    }
    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
}
