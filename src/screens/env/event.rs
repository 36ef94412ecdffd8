//! The env editor's backend events (`BackendEvent::Env`), delivered to it only.

use crate::secrets::Loaded;
use crate::secrets::Opened;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Event {
    /// config/env/*.env files found in the repository.
    FilesListed(Vec<PathBuf>),
    /// A file was decrypted (or could not be).
    Loaded(Result<Box<Loaded>, (PathBuf, String)>),
    /// A save finished; the crypto context comes back either way.
    Saved(Result<Box<Opened>, (Box<Opened>, String)>),
    /// A save found the file changed on disk since it was loaded; nothing was written.
    ChangedOnDisk(Box<Opened>),
}
