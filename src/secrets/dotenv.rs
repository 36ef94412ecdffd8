//! dotenv as sops reads and writes it (docs/reference/sops.md §7): `KEY=VALUE` lines split at the
//! first `=`, `#` comments (first byte only), empty lines dropped, `\n` as the only escape, no
//! quoting or trimming, duplicate keys kept, and `sops_*` metadata lines sorted at the end.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{Result, SopsError};
use super::metadata::Metadata;
use super::tree::{Entry, Node, Scalar};

/// A parsed dotenv file: data entries and the raw `sops_*` metadata (prefix removed).
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub metadata: BTreeMap<String, String>,
}

/// Parse dotenv text. `path` is only used in error messages.
pub fn parse(text: &str, path: &Path) -> Result<Parsed> {
    let mut entries = Vec::new();
    let mut metadata = BTreeMap::new();
    for (index, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            entries.push(Entry::Comment(comment.to_string()));
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            let shown: String = line.chars().take(40).collect();
            return Err(SopsError::Parse {
                path: path.to_path_buf(),
                line: index + 1,
                message: format!(
                    "invalid dotenv input line: `{shown}` has no `=`. Write KEY=VALUE, or start the line with # for a comment."
                ),
            });
        };
        let value = value.replace("\\n", "\n");
        match key.strip_prefix("sops_") {
            Some(meta_key) => {
                metadata.insert(meta_key.to_string(), value);
            }
            None => entries.push(Entry::Pair(
                key.to_string(),
                Node::Scalar(Scalar::Str(value)),
            )),
        }
    }
    Ok(Parsed { entries, metadata })
}

/// Emit entries (plaintext or encrypted) and, for an encrypted file, the metadata lines.
pub fn emit(entries: &[Entry], metadata: Option<&Metadata>, path: &Path) -> Result<String> {
    let mut out = String::new();
    for entry in entries {
        match entry {
            Entry::Comment(c) => {
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            Entry::Pair(key, Node::Scalar(value)) => {
                out.push_str(key);
                out.push('=');
                let text = value.display_text();
                out.push_str(&text.replace('\n', "\\n"));
                out.push('\n');
            }
            Entry::Pair(key, _) => {
                return Err(SopsError::Unsupported {
                    path: path.to_path_buf(),
                    message: format!(
                        "cannot use complex value in dotenv file; offending key: {key}"
                    ),
                });
            }
        }
    }
    if let Some(meta) = metadata {
        for (key, value) in meta.to_flat() {
            out.push_str(&key);
            out.push('=');
            out.push_str(&value.replace('\n', "\\n"));
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_sops() {
        let text = "# Top comment\nA=1\nEMPTY=\nEQ=a=b=c\n\nSP=  x  \nexport E=yes\nM=l1\\nl2\n#\nA=2\nsops_version=3.11.0\n";
        let p = parse(text, Path::new("t.env")).unwrap();
        assert_eq!(
            p.entries,
            vec![
                Entry::Comment(" Top comment".into()),
                Entry::pair("A", "1"),
                Entry::pair("EMPTY", ""),
                Entry::pair("EQ", "a=b=c"),
                Entry::pair("SP", "  x  "),
                Entry::pair("export E", "yes"),
                Entry::pair("M", "l1\nl2"),
                Entry::Comment(String::new()),
                Entry::pair("A", "2"),
            ]
        );
        assert_eq!(
            p.metadata.get("version").map(String::as_str),
            Some("3.11.0")
        );
        let out = emit(&p.entries, None, Path::new("t.env")).unwrap();
        assert_eq!(
            out,
            "# Top comment\nA=1\nEMPTY=\nEQ=a=b=c\nSP=  x  \nexport E=yes\nM=l1\\nl2\n#\nA=2\n"
        );
    }

    #[test]
    fn line_without_equals_names_the_line() {
        let err = parse("A=1\nBROKEN\n", Path::new("x.env")).err().unwrap();
        let text = err.to_string();
        assert!(
            text.starts_with("x.env:2: invalid dotenv input line"),
            "{text}"
        );
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn crlf_keeps_carriage_returns_like_sops() {
        let p = parse("A=1\r\n", Path::new("t.env")).unwrap();
        assert_eq!(p.entries, vec![Entry::pair("A", "1\r")]);
    }
}
