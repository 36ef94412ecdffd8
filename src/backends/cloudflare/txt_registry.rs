//! external-dns's TXT registry: the name of the TXT record that says who owns a DNS record,
//! and the owner labels inside it (docs/reference/cloudflare.md §5). Pure functions: the
//! client reads ownership with them and the simulator writes its seeded records with them.

/// How external-dns is configured (`--txt-prefix`, `--txt-suffix`, `--txt-owner-id`,
/// `--txt-wildcard-replacement`; the chart's `txtPrefix`, `txtOwnerId`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtRegistry {
    pub prefix: String,
    pub suffix: String,
    /// `--txt-owner-id`; external-dns's default is `default`.
    pub owner: String,
    pub wildcard_replacement: String,
}

impl Default for TxtRegistry {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            suffix: String::new(),
            owner: "default".into(),
            wildcard_replacement: String::new(),
        }
    }
}

const RECORD_TYPE: &str = "%{record_type}";

impl TxtRegistry {
    /// The TXT record name external-dns (v0.18+, the only format it writes) uses for the
    /// `record_type` record of `host`: `<prefix><type>-<first label><suffix>.<rest>`, the type
    /// in lower case; a prefix or suffix holding `%{record_type}` replaces the automatic
    /// `<type>-`. Upstream: external-dns `registry/mapper/mapper.go` (`ToTXTName`).
    pub fn txt_name(&self, host: &str, record_type: &str) -> String {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let rtype = record_type.to_ascii_lowercase();
        let prefix = self
            .prefix
            .to_ascii_lowercase()
            .replace(RECORD_TYPE, &rtype);
        let suffix = self
            .suffix
            .to_ascii_lowercase()
            .replace(RECORD_TYPE, &rtype);
        let (first, rest) = match host.split_once('.') {
            Some((f, r)) => (f.to_string(), Some(r)),
            None => (host.clone(), None),
        };
        let mut first = if !self.wildcard_replacement.is_empty() && first == "*" {
            self.wildcard_replacement.to_ascii_lowercase()
        } else {
            first
        };
        if !self.type_in_affix() {
            first = format!("{rtype}-{first}");
        }
        match rest {
            Some(rest) => format!("{prefix}{first}{suffix}.{rest}"),
            None => format!("{prefix}{first}{suffix}"),
        }
    }

    fn type_in_affix(&self) -> bool {
        self.prefix.contains(RECORD_TYPE) || self.suffix.contains(RECORD_TYPE)
    }

    /// The TXT content external-dns writes for a record of `resource` (`httproute/ns/name`),
    /// quotes included: `"heritage=external-dns,external-dns/owner=..,external-dns/resource=.."`.
    /// Upstream: external-dns `endpoint/labels.go` (`SerializePlain`, keys sorted).
    pub fn owner_content(&self, resource: &str) -> String {
        format!(
            "\"heritage=external-dns,external-dns/owner={},external-dns/resource={resource}\"",
            self.owner
        )
    }
}

/// The labels of an external-dns TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerLabels {
    /// `external-dns/owner` (empty when the record names none).
    pub owner: String,
    /// `external-dns/resource`, e.g. `httproute/media/jellyfin`.
    pub resource: Option<String>,
}

/// Read a TXT content the way external-dns does (`NewLabelsFromStringPlain`): surrounding
/// quotes dropped, `key=value` tokens split on `,`; `None` unless it carries
/// `heritage=external-dns` (then the record is not external-dns's, whatever else it says).
/// Encrypted contents (`--txt-encrypt-enabled`) read as `None` too.
pub fn parse_owner(content: &str) -> Option<OwnerLabels> {
    let text = content.trim().trim_matches('"');
    let mut heritage = false;
    let mut labels = OwnerLabels {
        owner: String::new(),
        resource: None,
    };
    for token in text.split(',') {
        let mut parts = token.split('=');
        let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        match key {
            "heritage" if value == "external-dns" => heritage = true,
            "heritage" => return None,
            "external-dns/owner" => labels.owner = value.to_string(),
            "external-dns/resource" => labels.resource = Some(value.to_string()),
            _ => {}
        }
    }
    heritage.then_some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_names_follow_the_mapper() {
        let plain = TxtRegistry::default();
        assert_eq!(plain.txt_name("app.example.com", "A"), "a-app.example.com");
        assert_eq!(
            plain.txt_name("www.example.com.", "CNAME"),
            "cname-www.example.com"
        );
        let repo = TxtRegistry {
            prefix: "k8s.".into(),
            owner: "prox-n100".into(),
            ..Default::default()
        };
        assert_eq!(
            repo.txt_name("jellyfin.funoffshore.com", "CNAME"),
            "k8s.cname-jellyfin.funoffshore.com"
        );
        let templ = TxtRegistry {
            prefix: "%{record_type}.owner.".into(),
            ..Default::default()
        };
        assert_eq!(
            templ.txt_name("app.example.com", "AAAA"),
            "aaaa.owner.app.example.com"
        );
        let wild = TxtRegistry {
            wildcard_replacement: "wildcard".into(),
            ..Default::default()
        };
        assert_eq!(
            wild.txt_name("*.example.com", "A"),
            "a-wildcard.example.com"
        );
        assert_eq!(plain.txt_name("*.example.com", "A"), "a-*.example.com");
        assert_eq!(plain.txt_name("localhost", "A"), "a-localhost");
    }

    #[test]
    fn owner_labels_round_trip_and_need_the_heritage() {
        let r = TxtRegistry {
            owner: "prox-n100".into(),
            ..Default::default()
        };
        let content = r.owner_content("httproute/media/jellyfin");
        assert_eq!(
            content,
            "\"heritage=external-dns,external-dns/owner=prox-n100,external-dns/resource=httproute/media/jellyfin\""
        );
        let labels = parse_owner(&content).unwrap();
        assert_eq!(labels.owner, "prox-n100");
        assert_eq!(labels.resource.as_deref(), Some("httproute/media/jellyfin"));
        assert_eq!(parse_owner("\"external-dns/owner=x\""), None);
        assert_eq!(parse_owner("heritage=other,external-dns/owner=x"), None);
        assert_eq!(parse_owner("v=spf1 -all"), None);
    }
}
