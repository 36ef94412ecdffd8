//! The one way a value reaches a POSIX shell (a node's `sh -s`, a local `sh -c`, a command line
//! shown to the operator as something they can paste). Every interpolated value goes through
//! [`quote`]; nothing else in the tree builds shell quoting by hand.
//!
//! A word made only of characters no shell interprets is left as it is, so plans stay readable
//! (`INSTALL_K3S_VERSION=v1.33.5+k3s1`); anything else is wrapped in single quotes, inside which
//! sh interprets nothing, and each `'` becomes `'\''` (close, escaped quote, reopen). The round
//! trip through a real `sh` is byte for byte (tested with /bin/sh and dash on random bytes,
//! including quotes, newlines and invalid UTF-8). A NUL byte cannot be passed through any shell
//! word; validation rejects control characters in every value that is interpolated.

/// Bytes that never need quoting in any position of a word.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b)
}

/// Whether [`quote`] would wrap `s` in quotes (it holds a character some shell interprets).
pub fn needs_quoting(s: &str) -> bool {
    s.is_empty() || !s.bytes().all(plain)
}

/// `s` as one shell word.
pub fn quote(s: &str) -> String {
    if !needs_quoting(s) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `s` as one shell word, always inside single quotes, even when it holds nothing a shell
/// interprets. For peers that parse the command line themselves and accept only a quoted
/// argument: `git-shell` (and the git daemons that copy it) dequote with git's `sq_dequote`,
/// which refuses a bare `/srv/git/repo.git` ("bad argument").
pub fn quote_always(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// [`quote`] for bytes that need not be UTF-8 (file names).
pub fn quote_bytes(s: &[u8]) -> Vec<u8> {
    if !s.is_empty() && s.iter().copied().all(plain) {
        return s.to_vec();
    }
    let mut out = Vec::with_capacity(s.len().saturating_add(2));
    out.push(b'\'');
    for &b in s {
        if b == b'\'' {
            out.extend_from_slice(br"'\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn plain_words_stay_readable_and_the_rest_is_single_quoted() {
        assert_eq!(quote("plain-1.2"), "plain-1.2");
        assert_eq!(quote("v1.33.5+k3s1"), "v1.33.5+k3s1");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("~/x"), "'~/x'");
        assert_eq!(quote("é"), "'é'");
        assert_eq!(quote_bytes(b"it's"), br"'it'\''s'".to_vec());
        assert_eq!(quote_bytes(b"plain"), b"plain".to_vec());
        assert_eq!(quote_always("/srv/git/r.git"), "'/srv/git/r.git'");
        assert_eq!(quote_always("it's"), r"'it'\''s'");
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// NUL-free byte strings weighted towards what breaks quoting: quotes, backslashes, `$`,
    /// backticks, newlines, globs, spaces, high bytes (invalid UTF-8) and valid multi-byte text.
    fn sample(rng: &mut Rng) -> Vec<u8> {
        const NASTY: &[&[u8]] = &[
            b"'",
            b"\"",
            b"\\",
            b"$",
            b"`",
            b"\n",
            b"\r",
            b"\t",
            b" ",
            b"*",
            b"?",
            b"[",
            b"~",
            b"#",
            b";",
            b"&",
            b"|",
            b"<",
            b">",
            b"(",
            b")",
            b"{",
            b"}",
            b"!",
            b"$(id)",
            b"'\\''",
            b"\xff",
            b"\xc3",
            b"\x80",
            "é".as_bytes(),
            "€".as_bytes(),
            b"-",
            b"=",
            b"%",
        ];
        let len = rng.below(24);
        let mut s = Vec::new();
        for _ in 0..len {
            match rng.below(3) {
                0 => s.extend_from_slice(NASTY[rng.below(NASTY.len() as u64) as usize]),
                // any byte but NUL
                1 => s.push((rng.below(255) + 1) as u8),
                _ => s.push(b'a' + rng.below(26) as u8),
            }
        }
        s
    }

    /// Each sample printed back by `shell -c 'printf %s <quoted>'`, NUL separated, in one run.
    fn round_trip(shell: &str, samples: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut script = Vec::new();
        for s in samples {
            script.extend_from_slice(b"printf '%s\\000' ");
            script.extend_from_slice(&quote_bytes(s));
            script.push(b'\n');
        }
        let out = std::process::Command::new(shell)
            .arg("-c")
            .arg(std::ffi::OsStr::from_bytes(&script))
            .env("LC_ALL", "C")
            .output()
            .unwrap_or_else(|e| panic!("{shell}: {e}"));
        assert!(
            out.status.success(),
            "{shell} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got: Vec<Vec<u8>> = out.stdout.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
        assert_eq!(got.pop(), Some(vec![]), "output ends with a separator");
        got
    }

    #[test]
    fn any_string_survives_a_real_shell_byte_for_byte() {
        let shells: Vec<&str> = ["/bin/sh", "/usr/bin/dash", "/bin/dash", "/bin/bash"]
            .into_iter()
            .filter(|s| std::path::Path::new(s).exists())
            .collect();
        assert!(!shells.is_empty(), "no POSIX shell found");
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..10 {
            let samples: Vec<Vec<u8>> = (0..500).map(|_| sample(&mut rng)).collect();
            for shell in &shells {
                let got = round_trip(shell, &samples);
                assert_eq!(got.len(), samples.len(), "{shell} round {round}");
                for (want, got) in samples.iter().zip(&got) {
                    assert_eq!(
                        got,
                        want,
                        "{shell}: {:?} came back as {:?}",
                        String::from_utf8_lossy(want),
                        String::from_utf8_lossy(got)
                    );
                }
            }
        }
        // The str form is the bytes form.
        for _ in 0..200 {
            let s = String::from_utf8_lossy(&sample(&mut rng)).into_owned();
            assert_eq!(quote(&s).into_bytes(), quote_bytes(s.as_bytes()));
        }
    }
}
