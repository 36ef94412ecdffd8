//! The YAML reader and go-yaml-style writer: never panic; our own output always parses, and the
//! text is stable after one more round (go-yaml itself rewrites a few values once, e.g. the float
//! -0.0 is written `-0`, which reads back as the integer 0).
#![no_main]

use homelab_fuzz::secrets::yaml;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.yaml");
    let Ok(docs) = yaml::parse(text, path) else {
        return;
    };
    let round = |t: &str| {
        let docs =
            yaml::parse(t, path).unwrap_or_else(|e| panic!("our output must parse: {e}\n{t}"));
        yaml::emit(&docs, None)
    };
    let once = yaml::emit(&docs, None);
    let twice = round(&once);
    assert_eq!(round(&twice), twice, "stable after one more round");
});
