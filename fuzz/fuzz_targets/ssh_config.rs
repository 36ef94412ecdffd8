//! ssh_config text (Host/Match blocks, patterns, ProxyJump, ProxyCommand, paths with %-tokens):
//! parsing, resolving a host and expanding tokens never panic.
#![no_main]

use homelab_fuzz::backends::ssh::config::{
    SshConfigFile, expand_host_name, expand_path, expand_proxy_command, parse_proxy_jump,
};
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
    let _ = expand_proxy_command(text, "node-1", 22, "ubuntu", "n1");
    let _ = expand_host_name(text, "node-1");
});
