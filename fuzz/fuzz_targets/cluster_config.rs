//! The cluster definition: parsing and validating any text never panics (every problem is a
//! located diagnostic), and writing the PVE fingerprint into it either fails with a message or
//! gives a file that still parses the same way with the fingerprint set.
#![no_main]

use homelab_fuzz::backends::pve::trust::with_fingerprint;
use homelab_fuzz::config::parse_cluster;
use libfuzzer_sys::fuzz_target;

const FP: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let display = "config/clusters/fuzz.yaml";
    let before = parse_cluster("fuzz", display, text);
    if let Err(diags) = &before {
        // Lines as YAML counts them: `\n`, `\r\n`, a lone `\r`, and (libyaml) NEL, LS, PS.
        let breaks = text
            .char_indices()
            .filter(|&(i, c)| match c {
                '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => true,
                '\r' => !text[i + 1..].starts_with('\n'),
                _ => false,
            })
            .count();
        let lines = breaks + 1;
        for d in diags {
            assert!(d.line <= lines + 1, "diagnostic outside the file: {d}");
        }
    }
    let Ok(edited) = with_fingerprint(text, FP) else {
        return;
    };
    if let (Ok(a), Ok(b)) = (&before, parse_cluster("fuzz", display, &edited)) {
        let mut a = a.clone();
        a.proxmox.tls.fingerprint = b.proxmox.tls.fingerprint.clone();
        assert_eq!(a, b, "the edit changed more than the fingerprint");
    }
});
