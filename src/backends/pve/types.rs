//! Plain data the PVE backend hands to stages, and the types proxmox-api 0.2 leaves untyped or
//! types wrongly for real servers:
//! - `GET /cluster/nextid` answers a JSON *string* (`"100"`); the generated client expects `i64`.
//! - `GET .../agent/network-get-interfaces` is an untyped map in the generated client.
//! - `GET /access/permissions` (path -> privilege -> 0/1) is behind the `access` feature, which we
//!   do not compile for one call.
//! - `GET /cluster/resources` is behind the `cluster` feature (1.5 MB of generated code) for one call.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A parsed task id: `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid {
    pub raw: String,
    pub node: String,
    pub kind: String,
    pub id: String,
    pub user: String,
    pub starttime: i64,
}

impl Upid {
    pub fn parse(s: &str) -> Result<Upid, String> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() < 9 || parts[0] != "UPID" {
            return Err(format!(
                "`{s}` is not a PVE task id (UPID:node:pid:pstart:starttime:type:id:user:)"
            ));
        }
        let starttime = i64::from_str_radix(parts[4], 16)
            .map_err(|_| format!("`{s}`: bad start time `{}`", parts[4]))?;
        Ok(Upid {
            raw: s.to_owned(),
            node: parts[1].to_owned(),
            kind: parts[5].to_owned(),
            id: parts[6].to_owned(),
            user: parts[7..parts.len() - 1].join(":"),
            starttime,
        })
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Accept `"100"` or `100`.
pub fn de_int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrString {
        I(u64),
        S(String),
    }
    match IntOrString::deserialize(d)? {
        IntOrString::I(i) => Ok(i),
        IntOrString::S(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NextId(#[serde(deserialize_with = "de_int_or_string")] pub u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: String,
    pub release: String,
}

impl Version {
    /// Major version from `release` ("8.2") or `version` ("8.2.4").
    pub fn major(&self) -> Option<u32> {
        let src = if self.release.is_empty() {
            &self.version
        } else {
            &self.release
        };
        src.split('.').next()?.parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub node: String,
    pub online: bool,
    pub ssl_fingerprint: Option<String>,
    pub maxmem: u64,
    pub mem: u64,
}

/// A row of `GET /cluster/resources?type=vm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmResource {
    pub vmid: u32,
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, deserialize_with = "de_flag")]
    pub template: bool,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub maxcpu: f64_as_u64::U,
    #[serde(default)]
    pub maxmem: u64,
    #[serde(default)]
    pub maxdisk: u64,
    #[serde(default)]
    pub lock: Option<String>,
}

impl VmResource {
    pub fn has_tag(&self, tag: &str) -> bool {
        split_tags(&self.tags).any(|t| t == tag)
    }
}

/// PVE tags are `;`-separated (also accepts `,` and spaces as PVE does on input).
pub fn split_tags(tags: &str) -> impl Iterator<Item = &str> {
    tags.split([';', ',', ' ']).filter(|t| !t.is_empty())
}

/// `maxcpu` may be a float in JSON; keep it as an integer.
#[allow(non_snake_case)]
pub mod f64_as_u64 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct U(pub u64);
    impl<'de> Deserialize<'de> for U {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let f = f64::deserialize(d)?;
            Ok(U(f.max(0.0) as u64))
        }
    }
    impl Serialize for U {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u64(self.0)
        }
    }
}

/// `0`/`1`, `"0"`/`"1"` or a JSON bool.
pub fn de_flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::Number(n) => n.as_i64().unwrap_or(0) != 0,
        serde_json::Value::String(s) => s == "1",
        _ => false,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageInfo {
    pub storage: String,
    pub content: BTreeSet<String>,
    pub active: bool,
    pub shared: bool,
    pub avail: u64,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub volid: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    pub iface: String,
    pub kind: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStatus {
    pub running: bool,
    /// `OK` on success, the error text otherwise; `None` while running.
    pub exitstatus: Option<String>,
}

impl TaskStatus {
    pub fn ok(&self) -> bool {
        !self.running && self.exitstatus.as_deref() == Some("OK")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmStatus {
    pub running: bool,
    pub qmpstatus: Option<String>,
}

/// `GET .../agent/network-get-interfaces` -> `{"result": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AgentInterfaces {
    #[serde(default)]
    pub result: Vec<GuestInterface>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GuestInterface {
    pub name: String,
    #[serde(rename = "hardware-address", default)]
    pub hardware_address: Option<String>,
    /// Missing right after boot.
    #[serde(rename = "ip-addresses", default)]
    pub ip_addresses: Vec<GuestIp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GuestIp {
    #[serde(rename = "ip-address")]
    pub ip_address: String,
    #[serde(rename = "ip-address-type")]
    pub ip_address_type: String,
    #[serde(default)]
    pub prefix: u8,
}

/// The VM's routable IPv4 addresses: skips `lo`, link-local and container bridges.
pub fn guest_ipv4s(ifaces: &[GuestInterface]) -> Vec<std::net::Ipv4Addr> {
    let mut out = Vec::new();
    for iface in ifaces {
        if iface.name == "lo"
            || iface.name.starts_with("docker")
            || iface.name.starts_with("cni")
            || iface.name.starts_with("flannel")
        {
            continue;
        }
        for ip in &iface.ip_addresses {
            if ip.ip_address_type != "ipv4" {
                continue;
            }
            if let Ok(a) = ip.ip_address.parse::<std::net::Ipv4Addr>()
                && !a.is_link_local()
            {
                out.push(a);
            }
        }
    }
    out
}

/// Effective privileges: path -> privilege granted there -> whether it propagates to the paths
/// below (`GET /access/permissions`, docs/reference/pve.md §4.5).
pub type Permissions = BTreeMap<String, BTreeMap<String, bool>>;

/// Whether `privilege` is granted on `path`: listed on `path` itself (propagating or not), or
/// listed as propagating on a parent path.
pub fn has_privilege(perms: &Permissions, path: &str, privilege: &str) -> bool {
    let mut p = path.trim_end_matches('/').to_owned();
    let mut exact = true;
    loop {
        let key = if p.is_empty() { "/" } else { p.as_str() };
        if let Some(&propagates) = perms.get(key).and_then(|s| s.get(privilege))
            && (exact || propagates)
        {
            return true;
        }
        if p.is_empty() {
            return false;
        }
        exact = false;
        match p.rfind('/') {
            Some(i) => p.truncate(i),
            None => p.clear(),
        }
    }
}

/// Percent-encode SSH public keys the way PVE's `sshkeys` parameter wants them (before the form
/// encoding, which encodes them a second time): keys joined by `\n`, every byte outside
/// `[A-Za-z0-9-_.~]` as `%XX`, so spaces are `%20` (never `+`, which PVE's `uri_unescape` keeps).
pub fn encode_sshkeys(keys: &[String]) -> String {
    let joined = keys
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::with_capacity(joined.len() * 3 / 2);
    for b in joined.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Inverse of [`encode_sshkeys`] (what `GET .../config` returns), for comparison and display.
pub fn decode_sshkeys(s: &str) -> String {
    percent_decode(s)
}

/// `%XX` decoding (no `+` handling: PVE's `uri_unescape` leaves `+` alone).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Parse a PVE size (`48G`, `512M`, `3584M`, `1T`, bytes without suffix) into bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1u64 << 10),
        'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
        'G' | 'g' => (&s[..s.len() - 1], 1 << 30),
        'T' | 't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let v: f64 = num.parse().ok()?;
    Some((v * mult as f64) as u64)
}

/// The `size=` of a disk option string (`local-lvm:vm-201-disk-0,discard=on,size=48G`).
pub fn disk_size(disk_option: &str) -> Option<u64> {
    disk_option
        .split(',')
        .find_map(|kv| kv.strip_prefix("size="))
        .and_then(parse_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upid_parses_token_users() {
        let u =
            Upid::parse("UPID:pve:000CFC5C:03E8D0C3:6194806C:qmclone:9000:homelab@pve!bootstrap:")
                .unwrap();
        assert_eq!(u.node, "pve");
        assert_eq!(u.kind, "qmclone");
        assert_eq!(u.id, "9000");
        assert_eq!(u.user, "homelab@pve!bootstrap");
        assert_eq!(u.starttime, 0x6194806C);
        assert!(Upid::parse("UPID:pve:bad").is_err());
    }

    #[test]
    fn sshkeys_use_percent20_never_plus() {
        let keys = vec![
            "ssh-ed25519 AAAAC3Nz+/= me@host".to_string(),
            "ssh-rsa AAAAB3 x".to_string(),
        ];
        let enc = encode_sshkeys(&keys);
        assert_eq!(
            enc,
            "ssh-ed25519%20AAAAC3Nz%2B%2F%3D%20me%40host%0Assh-rsa%20AAAAB3%20x"
        );
        assert_eq!(
            decode_sshkeys(&enc),
            "ssh-ed25519 AAAAC3Nz+/= me@host\nssh-rsa AAAAB3 x"
        );
    }

    #[test]
    fn sizes_and_privileges() {
        assert_eq!(
            disk_size("local-lvm:vm-201-disk-0,discard=on,size=48G"),
            Some(48 << 30)
        );
        assert_eq!(parse_size("3584M"), Some(3584 << 20));
        let mut perms = Permissions::new();
        perms.insert("/vms".into(), [("VM.Clone".to_string(), true)].into());
        assert!(has_privilege(&perms, "/vms/201", "VM.Clone"));
        assert!(!has_privilege(&perms, "/vms/201", "VM.Allocate"));
        perms.insert("/".into(), [("Sys.Audit".to_string(), true)].into());
        assert!(has_privilege(&perms, "/nodes/pve", "Sys.Audit"));
        // Without propagation: on the exact path only.
        perms.insert(
            "/storage".into(),
            [("Datastore.Audit".to_string(), false)].into(),
        );
        assert!(has_privilege(&perms, "/storage", "Datastore.Audit"));
        assert!(has_privilege(&perms, "/storage/", "Datastore.Audit"));
        assert!(!has_privilege(&perms, "/storage/local", "Datastore.Audit"));
    }

    #[test]
    fn guest_ips_skip_loopback_link_local_and_missing() {
        let json = r#"{"result":[{"name":"lo","ip-addresses":[{"ip-address":"127.0.0.1","ip-address-type":"ipv4","prefix":8}]},
          {"name":"eth0","hardware-address":"bc:24:11:98:bc:ad"},
          {"name":"eth1","ip-addresses":[{"ip-address":"169.254.1.1","ip-address-type":"ipv4","prefix":16},{"ip-address":"10.0.0.10","ip-address-type":"ipv4","prefix":24}]}]}"#;
        let a: AgentInterfaces = serde_json::from_str(json).unwrap();
        assert_eq!(
            guest_ipv4s(&a.result),
            vec!["10.0.0.10".parse::<std::net::Ipv4Addr>().unwrap()]
        );
    }
}
