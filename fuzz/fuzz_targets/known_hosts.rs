//! known_hosts files (markers, hashed hosts, patterns, broken keys): looking a host key up and
//! listing the known algorithms never panic.
#![no_main]

use homelab_fuzz::backends::ssh::known_hosts;
use libfuzzer_sys::fuzz_target;
use russh::keys::PublicKey;
use std::sync::LazyLock;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

static FILE: LazyLock<std::path::PathBuf> = LazyLock::new(|| {
    std::env::temp_dir().join(format!("homelab-fuzz-known_hosts-{}", std::process::id()))
});

fuzz_target!(|data: &[u8]| {
    if std::fs::write(&*FILE, data).is_err() {
        return;
    }
    let key = PublicKey::from_openssh(KEY).expect("a valid key");
    let files = [FILE.clone()];
    for (host, port) in [("node-1", 22), ("192.168.1.31", 2222), ("", 0)] {
        let _ = known_hosts::check(&files, host, port, &key);
        let _ = known_hosts::known_algorithms(&files, host, port);
    }
});
