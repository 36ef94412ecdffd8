//! ssh_config text (Host/Match blocks, patterns, ProxyJump, paths with %-tokens): parsing and
//! resolving a host never panic.
#![no_main]

use homelab_fuzz::backends::ssh::config::{SshConfigFile, expand_path, parse_proxy_jump};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = SshConfigFile::parse(text, "fuzz_config") {
        for alias in ["node-1", "k3s-server-1", "*", ""] {
            let _ = cfg.settings_for(alias);
        }
    }
    let _ = parse_proxy_jump(text);
    let _ = expand_path(text, Path::new("/home/op"), "node-1", "ubuntu");
});
