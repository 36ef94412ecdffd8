//! The tunnel token cloudflared runs with (`TUNNEL_TOKEN`, the env file's
//! `CLOUDFLARE_TUNNEL_TOKEN`): base64 of `{"a": account tag, "t": tunnel id, "s": secret}`
//! (docs/reference/cloudflare.md §7; upstream cloudflared `connection/connection.go`).
//! Only the account and tunnel are kept: the secret is never copied out of the decoded bytes,
//! which are wiped.

use base64::Engine;
use zeroize::Zeroizing;

/// Which tunnel a token runs, and on which account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelRef {
    pub account_id: String,
    pub tunnel_id: String,
}

/// Read a tunnel token. Errors say what is wrong without echoing the token.
pub fn parse(token: &str) -> Result<TunnelRef, String> {
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ];
    let bytes = engines
        .iter()
        .find_map(|e| e.decode(token.trim()).ok())
        .map(Zeroizing::new)
        .ok_or_else(|| {
            "the tunnel token is not base64: copy it again (cloudflared tunnel token <name>, or the dashboard's install command)".to_string()
        })?;
    #[derive(serde::Deserialize)]
    struct Wire {
        a: String,
        t: String,
    }
    let wire: Wire = serde_json::from_slice(&bytes).map_err(|_| {
        "the tunnel token does not hold an account tag `a` and tunnel id `t`: is it an API token instead of a tunnel token?".to_string()
    })?;
    if wire.a.is_empty() || wire.t.is_empty() {
        return Err("the tunnel token names no account or no tunnel".into());
    }
    Ok(TunnelRef {
        account_id: wire.a,
        tunnel_id: wire.t,
    })
}

/// A token for `account_id`/`tunnel_id` with `secret` (what the simulator hands out).
pub fn encode(account_id: &str, tunnel_id: &str, secret: &[u8]) -> Zeroizing<String> {
    let s = base64::engine::general_purpose::STANDARD.encode(secret);
    let json = Zeroizing::new(
        serde_json::json!({"a": account_id, "t": tunnel_id, "s": s.as_str()}).to_string(),
    );
    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(json.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let t = encode(
            "acc",
            "6ff42ae2-765d-4adf-8112-31c55c1551ef",
            b"secret-bytes",
        );
        let r = parse(&t).unwrap();
        assert_eq!(r.account_id, "acc");
        assert_eq!(r.tunnel_id, "6ff42ae2-765d-4adf-8112-31c55c1551ef");
        assert!(parse("not base64 !").unwrap_err().contains("not base64"));
        let api_token_like = base64::engine::general_purpose::STANDARD.encode(b"{\"x\":1}");
        assert!(parse(&api_token_like).unwrap_err().contains("account tag"));
    }
}
