//! Value encryption exactly as sops' aes/cipher.go: AES-256-GCM with a 32-byte IV, the value's
//! path as AAD, `ENC[AES256_GCM,data:..,iv:..,tag:..,type:..]` text, and the IV stash that makes
//! an unchanged value come back as byte-identical ciphertext within one edit.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use regex::Regex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::OnceLock;
use zeroize::{Zeroize, Zeroizing};

use super::tree::Scalar;

type SopsGcm = AesGcm<Aes256, U32>;

/// The file's 32-byte data key. Zeroized on drop.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn generate() -> DataKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        DataKey(key)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(Zeroizing::new(array)))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// A decrypted leaf: a typed value, or comment text.
#[derive(Debug, Clone, PartialEq)]
pub enum Plain {
    Value(Scalar),
    Comment(String),
}

impl Plain {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Plain::Value(v) => v.to_bytes(),
            Plain::Comment(c) => c.as_bytes().to_vec(),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Plain::Value(v) => v.type_name(),
            Plain::Comment(_) => "comment",
        }
    }
}

/// Why a value could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("Input string {0} does not match sops' data format")]
    Format(String),
    #[error("Could not decrypt with AES_GCM: cipher: message authentication failed")]
    Authentication,
    #[error("Unknown datatype: {0}")]
    UnknownType(String),
    #[error("the decrypted {typ} value is not valid: {detail}")]
    BadPlaintext { typ: String, detail: String },
}

/// The parts of an `ENC[...]` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncValue {
    pub data: Vec<u8>,
    pub iv: Vec<u8>,
    pub tag: Vec<u8>,
    pub typ: String,
}

fn enc_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")
            .expect("static regex")
    })
}

/// Is this text an encrypted sops value?
pub fn is_encrypted(text: &str) -> bool {
    text.starts_with("ENC[AES256_GCM,") && enc_regex().is_match(text)
}

impl EncValue {
    pub fn parse(text: &str) -> Result<EncValue, CipherError> {
        let format_err = || CipherError::Format(text.chars().take(60).collect());
        if let Some(parts) = split_well_formed(text) {
            let decode = |p: &str| B64.decode(p).map_err(|_| format_err());
            return Ok(EncValue {
                data: decode(parts[0])?,
                iv: decode(parts[1])?,
                tag: decode(parts[2])?,
                typ: parts[3].to_string(),
            });
        }
        let caps = enc_regex().captures(text).ok_or_else(format_err)?;
        let part = |i: usize| B64.decode(&caps[i]).map_err(|_| format_err());
        Ok(EncValue {
            data: part(1)?,
            iv: part(2)?,
            tag: part(3)?,
            typ: caps[4].to_string(),
        })
    }

    pub fn render(&self) -> String {
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
            B64.encode(&self.data),
            B64.encode(&self.iv),
            B64.encode(&self.tag),
            self.typ
        )
    }
}

/// The fast path for the usual shape: base64 fields and a word type, closed by `]` (where the
/// regex's greedy groups have only one way to match, so the result is the same).
fn split_well_formed(text: &str) -> Option<[&str; 4]> {
    let rest = text.strip_prefix("ENC[AES256_GCM,data:")?;
    let b64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    };
    let (data, rest) = rest.split_once(",iv:")?;
    let (iv, rest) = rest.split_once(",tag:")?;
    let (tag, rest) = rest.split_once(",type:")?;
    let typ = rest.strip_suffix(']')?;
    let word = !typ.is_empty() && typ.bytes().all(|b| b.is_ascii_alphanumeric());
    (b64(data) && b64(iv) && b64(tag) && word).then_some([data, iv, tag, typ])
}

/// Encrypts and decrypts values under one data key, remembering the IV of every value it
/// decrypted (the stash) so that re-encrypting an unchanged value reuses its IV.
pub struct Cipher {
    key: DataKey,
    gcm: SopsGcm,
    stash: HashMap<[u8; 32], [u8; 32]>,
}

impl Cipher {
    pub fn new(key: DataKey) -> Cipher {
        let gcm = SopsGcm::new_from_slice(key.bytes()).expect("32-byte key");
        Cipher {
            key,
            gcm,
            stash: HashMap::new(),
        }
    }

    pub fn key(&self) -> &DataKey {
        &self.key
    }

    /// The stash is keyed by a digest of (type, AAD, plaintext), so it holds no plaintext.
    fn stash_key(plain: &Plain, aad: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(plain.type_name().as_bytes());
        h.update([0]);
        h.update(aad.as_bytes());
        h.update([0]);
        let mut bytes = plain.bytes();
        h.update(&bytes);
        bytes.zeroize();
        let mut out = [0u8; 32];
        out.copy_from_slice(&h.finalize());
        out
    }

    /// Decrypt one value. `""` stays `""` (sops never encrypts empty values).
    pub fn decrypt(&mut self, text: &str, aad: &str) -> Result<Plain, CipherError> {
        if text.is_empty() {
            return Ok(Plain::Value(Scalar::Str(String::new())));
        }
        let enc = EncValue::parse(text)?;
        if enc.iv.len() != 32 || enc.tag.len() != 16 {
            return Err(CipherError::Authentication);
        }
        let mut sealed = enc.data.clone();
        sealed.extend_from_slice(&enc.tag);
        let nonce =
            Nonce::<U32>::try_from(enc.iv.as_slice()).map_err(|_| CipherError::Authentication)?;
        let plain = Zeroizing::new(
            self.gcm
                .decrypt(
                    &nonce,
                    Payload {
                        msg: &sealed,
                        aad: aad.as_bytes(),
                    },
                )
                .map_err(|_| CipherError::Authentication)?,
        );
        let value = typed_plain(&enc.typ, &plain)?;
        let mut iv = [0u8; 32];
        iv.copy_from_slice(&enc.iv);
        self.stash.insert(Self::stash_key(&value, aad), iv);
        Ok(value)
    }

    /// Encrypt one value, reusing the IV the stash holds for the same (value, AAD).
    pub fn encrypt(&mut self, plain: &Plain, aad: &str) -> String {
        let bytes = Zeroizing::new(plain.bytes());
        if bytes.is_empty() {
            return String::new();
        }
        let iv = match self.stash.get(&Self::stash_key(plain, aad)) {
            Some(iv) => *iv,
            None => {
                let mut iv = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut iv);
                iv
            }
        };
        let nonce = Nonce::<U32>::from(iv);
        let mut sealed = self
            .gcm
            .encrypt(
                &nonce,
                Payload {
                    msg: &bytes,
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory value cannot fail");
        let tag = sealed.split_off(sealed.len() - 16);
        EncValue {
            data: sealed,
            iv: iv.to_vec(),
            tag,
            typ: plain.type_name().to_string(),
        }
        .render()
    }
}

/// Turn decrypted bytes back into the typed value `type:` names (aes/cipher.go Decrypt).
fn typed_plain(typ: &str, bytes: &[u8]) -> Result<Plain, CipherError> {
    let text = || {
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| CipherError::BadPlaintext {
                typ: typ.into(),
                detail: "not UTF-8".into(),
            })
    };
    let bad = |detail: &str| CipherError::BadPlaintext {
        typ: typ.into(),
        detail: detail.into(),
    };
    Ok(match typ {
        "str" => Plain::Value(Scalar::Str(text()?)),
        "comment" => Plain::Comment(text()?),
        "int" => Plain::Value(Scalar::Int(
            text()?.parse().map_err(|_| bad("not an integer"))?,
        )),
        "float" => Plain::Value(Scalar::Float(
            text()?.parse().map_err(|_| bad("not a number"))?,
        )),
        "bool" => Plain::Value(Scalar::Bool(match text()?.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err(bad("not a boolean")),
        })),
        "time" => Plain::Value(Scalar::Time(text()?)),
        "bytes" => Plain::Value(Scalar::Bytes(bytes.to_vec())),
        other => return Err(CipherError::UnknownType(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_key() -> DataKey {
        DataKey::from_slice(&[7u8; 32]).unwrap()
    }

    #[test]
    fn round_trip_keeps_type_and_iv_length() {
        let mut c = Cipher::new(vector_key());
        let enc = c.encrypt(&Plain::Value(Scalar::Int(8080)), "app:port:");
        let parsed = EncValue::parse(&enc).unwrap();
        assert_eq!(parsed.iv.len(), 32);
        assert_eq!(parsed.tag.len(), 16);
        assert_eq!(parsed.typ, "int");
        assert_eq!(
            c.decrypt(&enc, "app:port:").unwrap(),
            Plain::Value(Scalar::Int(8080))
        );
        assert_eq!(
            c.decrypt(&enc, "app:other:"),
            Err(CipherError::Authentication)
        );
    }

    #[test]
    fn stash_reuses_iv_for_same_value_and_path_only() {
        let mut c = Cipher::new(vector_key());
        let first = c.encrypt(&Plain::Value(Scalar::Str("x".into())), "A:");
        let mut again = Cipher::new(vector_key());
        again.decrypt(&first, "A:").unwrap();
        assert_eq!(
            again.encrypt(&Plain::Value(Scalar::Str("x".into())), "A:"),
            first
        );
        assert_ne!(
            again.encrypt(&Plain::Value(Scalar::Str("y".into())), "A:"),
            first
        );
        // Typed: the string "x" is not the comment "x".
        assert_ne!(again.encrypt(&Plain::Comment("x".into()), "A:"), first);
    }

    #[test]
    fn empty_values_are_not_encrypted() {
        let mut c = Cipher::new(vector_key());
        assert_eq!(
            c.encrypt(&Plain::Value(Scalar::Str(String::new())), "A:"),
            ""
        );
        assert_eq!(
            c.decrypt("", "A:").unwrap(),
            Plain::Value(Scalar::Str(String::new()))
        );
    }

    #[test]
    fn fast_path_agrees_with_the_regex() {
        let mut c = Cipher::new(vector_key());
        let enc = c.encrypt(&Plain::Value(Scalar::Str("value".into())), "K:");
        assert!(split_well_formed(&enc).is_some());
        let caps = enc_regex().captures(&enc).unwrap();
        let fast = split_well_formed(&enc).unwrap();
        for i in 0..4 {
            assert_eq!(fast[i], &caps[i + 1]);
        }
        // Odd shapes go through the regex, as sops would read them.
        assert!(split_well_formed("ENC[AES256_GCM,data:a,b,iv:x,tag:y,type:str]").is_none());
        assert!(
            EncValue::parse("ENC[AES256_GCM,data:YQ==,iv:YQ==,tag:YQ==,type:str]trailing").is_ok()
        );
    }

    #[test]
    fn garbage_is_a_format_error() {
        let mut c = Cipher::new(vector_key());
        assert!(matches!(
            c.decrypt("ENC[nope]", "A:"),
            Err(CipherError::Format(_))
        ));
        assert!(!is_encrypted("plain"));
    }
}
