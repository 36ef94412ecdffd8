//! The one function that makes text from files and peers safe to print on a terminal
//! ([`sanitize`]): file names, YAML values, log lines, PVE task logs and SSH output go through
//! it before `check`, `bootstrap --plan`/`--yes` or the console show them. Escape sequences
//! (CSI, OSC, DCS, APC, PM, SOS, in their 7-bit `ESC x` and 8-bit C1 forms) are removed whole;
//! any other control character (C0, DEL, C1) becomes a space; a tab becomes 4 spaces. What is
//! left cannot move the cursor, retitle the window, write the clipboard or change colours.

use std::borrow::Cow;

/// The OSC 52 sequence that puts `text` on the terminal's clipboard (the console's `y`, the
/// deploy key's copy action). `text` is [`sanitize`]d first: what lands on the clipboard holds
/// no escape sequence or control character (a pasted line cannot run or hide anything), and
/// base64 keeps the sequence itself free of any byte a terminal would act on.
pub fn osc52(text: &str) -> String {
    use base64::Engine as _;
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(sanitize(text).as_bytes())
    )
}

/// `s` with escape sequences removed and control characters replaced (see the module doc).
/// Borrowed when there is nothing to change.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let intro = match c {
            '\x1b' => match chars.peek() {
                Some('[') => Some(Intro::Csi),
                Some(']' | 'P' | '_' | '^' | 'X') => Some(Intro::String),
                // Any other escape (ESC c resets the terminal): drop ESC and its one character.
                Some(_) => {
                    chars.next();
                    None
                }
                None => None,
            },
            '\u{9b}' => Some(Intro::Csi8),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => Some(Intro::String8),
            '\t' => {
                out.push_str("    ");
                continue;
            }
            c if c.is_control() => {
                out.push(' ');
                continue;
            }
            c => {
                out.push(c);
                continue;
            }
        };
        match intro {
            Some(Intro::Csi | Intro::String) => {
                let csi = matches!(intro, Some(Intro::Csi));
                chars.next();
                if csi {
                    skip_csi(&mut chars);
                } else {
                    skip_string(&mut chars);
                }
            }
            Some(Intro::Csi8) => skip_csi(&mut chars),
            Some(Intro::String8) => skip_string(&mut chars),
            None => {}
        }
    }
    Cow::Owned(out)
}

enum Intro {
    /// `ESC [`
    Csi,
    /// `ESC ]`, `ESC P`, `ESC _`, `ESC ^`, `ESC X`: a string up to BEL or ST.
    String,
    /// U+009B
    Csi8,
    /// U+0090, U+0098, U+009D, U+009E, U+009F
    String8,
}

/// Parameters and intermediates up to the final byte (0x40..=0x7e), inclusive.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for n in chars.by_ref() {
        if ('\x40'..='\x7e').contains(&n) {
            break;
        }
    }
}

/// A control string up to its terminator: BEL, ST (`ESC \` or U+009C), inclusive.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(n) = chars.next() {
        match n {
            '\x07' | '\u{9c}' => break,
            '\x1b' if chars.peek() == Some(&'\\') => {
                chars.next();
                break;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_neutralised() {
        assert_eq!(sanitize("\x1b[31merror\x1b[0m done"), "error done");
        assert_eq!(sanitize("a\tb\rc"), "a    b c");
        // OSC 52 (clipboard write) and OSC 0 (window title), BEL and ST terminated.
        assert_eq!(sanitize("\x1b]52;c;AAAA\x07copied"), "copied");
        // The copy action's own sequence carries sanitized text only.
        assert_eq!(
            osc52("ssh-ed25519 AAAA"),
            "\x1b]52;c;c3NoLWVkMjU1MTkgQUFBQQ==\x07"
        );
        assert_eq!(osc52("a\x1b[2Jb\x07c"), osc52("ab c"));
        assert_eq!(sanitize("\x1b]0;pwned\x1b\\title"), "title");
        // DCS and a bare reset.
        assert_eq!(sanitize("\x1bPq#0;2;0;0;0\x1b\\x\x1bcy"), "xy");
        // C1: 8-bit CSI and OSC, and a lone C1 control.
        assert_eq!(sanitize("\u{9b}2J\u{9d}0;t\u{9c}ok\u{85}"), "ok ");
        assert_eq!(sanitize("bell\x07 del\x7f nl\n"), "bell  del  nl ");
        assert!(matches!(sanitize("plain é 日本"), Cow::Borrowed(_)));
        // Unterminated: the rest is dropped, nothing is passed through.
        assert_eq!(sanitize("a\x1b]0;never ends"), "a");
        assert_eq!(sanitize("a\x1b"), "a");
    }

    /// Whatever goes in, nothing that a terminal interprets comes out.
    #[test]
    fn output_never_holds_a_control_character() {
        let pieces = [
            "\x1b", "[", "]", "\x07", "\u{9b}", "\u{9c}", "\u{9d}", "\\", "P", "x", "é", "\t", "\r",
        ];
        let mut n = 0u32;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let s = format!("{a}{b}{c}{a}");
                    let out = sanitize(&s);
                    assert!(!out.chars().any(char::is_control), "{s:?} -> {out:?}");
                    n += 1;
                }
            }
        }
        assert!(n > 0);
    }
}
