//! Semantic versions as chart repositories spell them (`1.2.3`, `v1.19.1`, `1.0.0-rc.1+build`),
//! ordered by SemVer 2.0 precedence: numbers compare as numbers, a pre-release sorts before its
//! release, build metadata is ignored. `homelab check --outdated` compares chart pins with it.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemVer {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Dot-separated pre-release identifiers; empty for a release.
    pub pre: Vec<String>,
}

impl SemVer {
    /// `None` for anything that is not `[v]X.Y.Z[-pre][+build]`.
    pub fn parse(text: &str) -> Option<SemVer> {
        let t = text.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let t = t.split_once('+').map_or(t, |(v, _)| v);
        let (core, pre) = match t.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (t, None),
        };
        let mut parts = core.split('.');
        let mut num = || -> Option<u64> {
            let p = parts.next()?;
            (!p.is_empty() && p.chars().all(|c| c.is_ascii_digit())).then_some(())?;
            p.parse().ok()
        };
        let (major, minor, patch) = (num()?, num()?, num()?);
        if parts.next().is_some() {
            return None;
        }
        let pre = match pre {
            None => Vec::new(),
            Some(p) => {
                let ids: Vec<String> = p.split('.').map(str::to_owned).collect();
                if ids.iter().any(|i| {
                    i.is_empty() || !i.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                }) {
                    return None;
                }
                ids
            }
        };
        Some(SemVer {
            major,
            minor,
            patch,
            pre,
        })
    }

    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl Ord for SemVer {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => cmp_pre(&self.pre, &other.pre),
            })
    }
}

impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn cmp_pre(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

/// The newest of `candidates` that a pin at `pinned` would move to: releases only, unless the
/// pin itself is a pre-release (then pre-releases count too). Unparsable candidates are skipped.
pub fn newest<'a>(
    pinned: &SemVer,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<(SemVer, &'a str)> {
    candidates
        .into_iter()
        .filter_map(|c| SemVer::parse(c).map(|v| (v, c)))
        .filter(|(v, _)| pinned.is_prerelease() || !v.is_prerelease())
        .max_by(|(a, _), (b, _)| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> SemVer {
        SemVer::parse(s).unwrap()
    }

    #[test]
    fn precedence_follows_semver() {
        // The SemVer 2.0 example chain, plus numbers compared as numbers.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.2.0",
            "1.10.0",
            "v2.0.0+build.5",
        ];
        for w in chain.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(v("1.2.3+a").cmp(&v("1.2.3+b")), Ordering::Equal);
        for bad in [
            "1.2",
            "1.2.x",
            "01.2.3.4",
            "",
            "1.2.3-",
            "1.2.3-a..b",
            "^1.2.3",
        ] {
            assert_eq!(SemVer::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn pre_releases_count_only_for_a_pre_release_pin() {
        let list = ["6.45.1", "6.55.0", "7.0.0-rc.1", "junk", "6.9.0"];
        assert_eq!(newest(&v("6.45.1"), list).unwrap().1, "6.55.0");
        assert_eq!(newest(&v("7.0.0-rc.0"), list).unwrap().1, "7.0.0-rc.1");
        assert_eq!(newest(&v("1.0.0"), ["2.0.0-beta"]), None);
    }
}
