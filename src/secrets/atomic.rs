//! Encrypted files are replaced through the one atomic writer, [`crate::atomic_write`]
//! (temp file 0600 from creation, fsync, rename, fsync the folder; mode, owner and symlinks
//! kept). Only ciphertext is ever written; plaintext never reaches the disk.

pub use crate::atomic_write::{PAUSE_BEFORE_RENAME_ENV, write_atomic};
