//! dotenv as sops parses it: never panics; parse -> emit reaches a fixpoint after one round.
#![no_main]

use homelab_fuzz::secrets::dotenv;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.env");
    let Ok(first) = dotenv::parse(text, path) else {
        return;
    };
    let once = dotenv::emit(&first.entries, None, path).expect("dotenv entries are flat");
    let second = dotenv::parse(&once, path).expect("our own output parses");
    assert_eq!(
        first.entries, second.entries,
        "parse(emit(parse(x))) == parse(x)"
    );
    let twice = dotenv::emit(&second.entries, None, path).expect("flat");
    assert_eq!(once, twice);
});
