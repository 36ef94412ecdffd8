//! The YAML reader and go-yaml-style writer: never panic; emit(parse(x)) is a fixpoint.
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
    let once = yaml::emit(&docs, None);
    let again =
        yaml::parse(&once, path).unwrap_or_else(|e| panic!("our output must parse: {e}\n{once}"));
    assert_eq!(
        yaml::emit(&again, None),
        once,
        "emit(parse(x)) is a fixpoint"
    );
});
