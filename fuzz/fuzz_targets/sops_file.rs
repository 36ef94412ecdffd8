//! Encrypted SOPS files (dotenv, YAML, JSON chosen by the first byte): loading, metadata and
//! decryption with a fixed key never panic, and what we write back loads again.
#![no_main]

use homelab_fuzz::secrets::cipher::DataKey;
use homelab_fuzz::secrets::{EncryptedFile, Format};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (format, name) = match selector % 3 {
        0 => (Format::Dotenv, "fuzz.env"),
        1 => (Format::Yaml, "fuzz.yaml"),
        _ => (Format::Json, "fuzz.json"),
    };
    let path = Path::new(name);
    let Ok(file) = EncryptedFile::parse(text, path, format) else {
        return;
    };
    if let Ok(written) = file.to_text() {
        EncryptedFile::parse(&written, path, format).expect("our own output loads");
    }
    let key = DataKey::from_slice(&[7u8; 32]).expect("32 bytes");
    if let Ok(opened) = file.decrypt_with_key(key) {
        let _ = opened.require_mac();
        let _ = opened.plaintext();
    }
});
