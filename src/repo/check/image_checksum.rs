//! The cloud image digest of every cluster definition: a literal `template.image.checksum` must
//! be a whole digest (`sha256:` and 64 hex characters), and a definition must name a digest or
//! the release's checksum file (docs/proxmox-stage.md, "The image digest").

use super::{Rule, Violation};
use crate::repo::tree::Tree;

pub const IMAGE_CHECKSUM: Rule = Rule {
    id: "pinning/image-checksum",
    title: "Cloud image digests are whole (sha256: and 64 hex characters) or come from the release's SHA256SUMS",
    hint: "name the release's SHA256SUMS in template.image.checksums.url, or copy the image's line from it as checksum: sha256:<64 hex>",
};

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    for f in tree
        .yaml
        .iter()
        .filter(|f| f.rel.starts_with("config/clusters/"))
    {
        for d in f.values() {
            let Some(image) = d.get(&["template", "image"]) else {
                continue;
            };
            let literal = image.get("checksum");
            let file = image.get("checksums").and_then(|c| c.get("url"));
            match (literal, file) {
                (None, None) => out.push(Violation::new(
                    &IMAGE_CHECKSUM,
                    &f.rel,
                    Some(d.line_at("template.image")),
                    "template.image names no digest (neither checksum nor checksums.url)",
                )),
                (Some(v), _) => {
                    let text = v.as_str().unwrap_or_default();
                    if let Some(why) = not_a_digest(text) {
                        out.push(Violation::new(
                            &IMAGE_CHECKSUM,
                            &f.rel,
                            Some(d.line_at("template.image.checksum")),
                            format!("template.image.checksum `{text}` {why}"),
                        ));
                    }
                }
                (None, Some(_)) => {}
            }
        }
    }
}

/// Why `text` is not a whole digest, if it is not: `sha256:` + 64 hex (or `sha512:` + 128).
pub fn not_a_digest(text: &str) -> Option<String> {
    let Some((algo, hex)) = text.split_once(':') else {
        return Some("has no algorithm; expected sha256:<64 hex characters>".into());
    };
    let want = match algo {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Some(format!("uses `{algo}`; expected sha256 (or sha512)")),
    };
    let hexes = hex.chars().all(|c| c.is_ascii_hexdigit());
    (hex.len() != want || !hexes).then(|| {
        format!(
            "is not {want} hex characters after `{algo}:` (got {} character(s){})",
            hex.chars().count(),
            if hexes { "" } else { ", not all hex" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(not_a_digest(&format!("sha256:{}", "ab".repeat(32))), None);
        assert_eq!(not_a_digest(&format!("sha512:{}", "0".repeat(128))), None);
        assert!(not_a_digest(&format!("sha256:{}", "a".repeat(63))).is_some());
        assert!(not_a_digest(&format!("sha256:{}", "g".repeat(64))).is_some());
        assert!(not_a_digest("a".repeat(64).as_str()).is_some());
        assert!(not_a_digest(&format!("md5:{}", "a".repeat(32))).is_some());
    }
}
