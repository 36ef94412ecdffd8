//! The process that holds decrypted values: not dumpable. `PR_SET_DUMPABLE 0` means no core
//! file, and other processes of the same user cannot ptrace it or read its memory through
//! `/proc/<pid>/mem`; it stays set for the rest of the process (the values may linger in freed
//! pages until zeroized, and a later crash must not write them out).

/// Mark this process non-dumpable before decrypting anything. Returns whether it took effect.
pub fn hold_secrets() -> bool {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 }
}

/// Whether the process is dumpable now (`PR_GET_DUMPABLE`).
pub fn dumpable() -> bool {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holding_secrets_makes_the_process_non_dumpable() {
        assert!(hold_secrets());
        assert!(!dumpable());
    }
}
