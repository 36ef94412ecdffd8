//! age identities and recipients, found where sops finds them (docs/reference/sops.md §5), and
//! the wrapping of the data key as an armored age file per recipient.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::cipher::DataKey;
use super::error::SopsError;
use super::metadata::AgeStanza;

/// The prefix of an age secret key (then 58 bech32 characters), for messages and
/// the repository's key scan; spelled in two pieces so no source file holds a key marker that a
/// secret scanner would flag.
pub const AGE_SECRET_PREFIX: &str = concat!("AGE-SECRET-", "KEY-1");

/// The identities available to this process, and where they came from.
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
    /// One line per identity: "<source>: <recipient>".
    pub found: Vec<String>,
    /// Every place looked at, for error messages.
    pub looked: Vec<String>,
    /// Problems with individual sources (unreadable file, plugin identities) that did not stop us.
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identities")
            .field("found", &self.found)
            .finish()
    }
}

/// Where sops' age key source looks for the default identity file: `$XDG_CONFIG_HOME/sops/age/keys.txt`
/// (Go's os.UserConfigDir: XDG_CONFIG_HOME, else ~/.config).
pub fn default_key_file() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("sops").join("age").join("keys.txt"))
}

impl Identities {
    /// An explicit set (tests, the wizard).
    pub fn from_keys(keys: Vec<age::x25519::Identity>, source: &str) -> Identities {
        let found = keys
            .iter()
            .map(|k| format!("{source}: {}", k.to_public()))
            .collect();
        Identities {
            keys,
            found,
            looked: vec![source.to_string()],
            warnings: Vec::new(),
        }
    }

    /// Gather identities as sops does: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and the
    /// default keys.txt, all of them (a file may be opened by any one).
    pub fn discover() -> Identities {
        let mut ids = Identities {
            keys: Vec::new(),
            found: Vec::new(),
            looked: Vec::new(),
            warnings: Vec::new(),
        };
        if let Some(text) = std::env::var_os("SOPS_AGE_KEY").filter(|v| !v.is_empty()) {
            let text = Zeroizing::new(text.to_string_lossy().into_owned());
            ids.looked.push("SOPS_AGE_KEY".into());
            ids.add_text(&text, "SOPS_AGE_KEY");
        }
        if let Some(file) = std::env::var_os("SOPS_AGE_KEY_FILE").filter(|v| !v.is_empty()) {
            let path = PathBuf::from(file);
            ids.looked
                .push(format!("SOPS_AGE_KEY_FILE={}", path.display()));
            ids.add_file(&path);
        }
        if let Some(cmd) = std::env::var_os("SOPS_AGE_KEY_CMD").filter(|v| !v.is_empty()) {
            let cmd = cmd.to_string_lossy().into_owned();
            ids.looked.push(format!("SOPS_AGE_KEY_CMD={cmd}"));
            match std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .output()
            {
                Ok(out) if out.status.success() => {
                    let text = Zeroizing::new(String::from_utf8_lossy(&out.stdout).into_owned());
                    ids.add_text(&text, "SOPS_AGE_KEY_CMD");
                }
                Ok(out) => ids
                    .warnings
                    .push(format!("SOPS_AGE_KEY_CMD failed with {}", out.status)),
                Err(e) => ids
                    .warnings
                    .push(format!("SOPS_AGE_KEY_CMD could not run: {e}")),
            }
        }
        if let Some(path) = default_key_file() {
            ids.looked.push(path.display().to_string());
            if path.exists() {
                ids.add_file(&path);
            }
        }
        ids
    }

    fn add_file(&mut self, path: &Path) {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                self.add_text(&text, &path.display().to_string());
            }
            Err(e) => self.warnings.push(format!("{}: {e}", path.display())),
        }
    }

    fn add_text(&mut self, text: &str, source: &str) {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match age::x25519::Identity::from_str(line) {
                Ok(key) => {
                    self.found.push(format!("{source}: {}", key.to_public()));
                    self.keys.push(key);
                }
                Err(_) if line.starts_with("AGE-PLUGIN-") => self.warnings.push(format!(
                    "{source}:{}: age plugin identities are not supported",
                    i + 1
                )),
                Err(_) => self.warnings.push(format!(
                    "{source}:{}: not an age identity (line ignored)",
                    i + 1
                )),
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The recipients (public keys) of these identities.
    pub fn recipients(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.to_public().to_string())
            .collect()
    }

    /// Unwrap the data key from the first stanza one of our identities opens.
    pub fn unwrap_data_key(
        &self,
        stanzas: &[AgeStanza],
        path: &Path,
    ) -> Result<DataKey, SopsError> {
        let identities: Vec<&dyn age::Identity> =
            self.keys.iter().map(|k| k as &dyn age::Identity).collect();
        if !identities.is_empty() {
            for stanza in stanzas {
                if let Some(key) = unwrap_one(&stanza.enc, &identities) {
                    return Ok(key);
                }
            }
        }
        let mut recipients: Vec<String> = stanzas.iter().map(|s| s.recipient.clone()).collect();
        if recipients.is_empty() {
            recipients.push("(no age recipients in the file)".into());
        }
        Err(SopsError::NoMatchingIdentity {
            path: path.to_path_buf(),
            recipients,
            tried: self.found.clone(),
            looked: self.looked.clone(),
        })
    }
}

fn unwrap_one(armored: &str, identities: &[&dyn age::Identity]) -> Option<DataKey> {
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    let decryptor = age::Decryptor::new(reader).ok()?;
    let mut stream = decryptor.decrypt(identities.iter().copied()).ok()?;
    let mut bytes = Zeroizing::new(Vec::new());
    stream.read_to_end(&mut bytes).ok()?;
    DataKey::from_slice(&bytes)
}

/// Is this a recipient we can encrypt to (an X25519 `age1...` key)?
pub fn parse_recipient(text: &str) -> Result<age::x25519::Recipient, String> {
    let text = text.trim();
    if text.starts_with("ssh-") {
        return Err(format!(
            "{text}: SSH recipients are not supported by homelab; use an age1... recipient"
        ));
    }
    if text.starts_with("age1") && text.matches('1').count() > 1 && text.len() != 62 {
        return Err(format!(
            "{text}: age plugin recipients are not supported by homelab"
        ));
    }
    age::x25519::Recipient::from_str(text)
        .map_err(|e| format!("`{text}` is not an age recipient: {e}"))
}

/// Wrap the data key for each recipient (armored age file, as sops stores it).
pub fn wrap_data_key(key: &DataKey, recipients: &[String]) -> Result<Vec<AgeStanza>, SopsError> {
    let mut out = Vec::new();
    for r in recipients {
        let recipient = parse_recipient(r).map_err(|message| SopsError::Keys { message })?;
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(|e| SopsError::Keys {
                    message: format!("age: {e}"),
                })?;
        let mut buf = Vec::new();
        let io_err = |e: std::io::Error| SopsError::Keys {
            message: format!("age armor: {e}"),
        };
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut buf, age::armor::Format::AsciiArmor)
                .map_err(io_err)?;
        let mut w = encryptor.wrap_output(armor).map_err(io_err)?;
        w.write_all(key.bytes()).map_err(io_err)?;
        w.finish().and_then(|a| a.finish()).map_err(io_err)?;
        out.push(AgeStanza {
            recipient: r.trim().to_string(),
            enc: String::from_utf8(buf).map_err(|e| SopsError::Keys {
                message: e.to_string(),
            })?,
        });
    }
    Ok(out)
}

/// A new identity, as the text age-keygen writes (comment lines + secret key) and its recipient.
pub fn generate_identity() -> (Zeroizing<String>, String) {
    let key = age::x25519::Identity::generate();
    let recipient = key.to_public().to_string();
    let created = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let text = Zeroizing::new(format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        key.to_string().expose_secret()
    ));
    (text, recipient)
}

/// Parse identities from text (an identity file's contents).
pub fn identities_from_text(text: &str, source: &str) -> Identities {
    let mut ids = Identities {
        keys: Vec::new(),
        found: Vec::new(),
        looked: vec![source.into()],
        warnings: Vec::new(),
    };
    ids.add_text(text, source);
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_then_unwrap_with_the_matching_identity_only() {
        let (text, recipient) = generate_identity();
        let ids = identities_from_text(&text, "test");
        assert_eq!(ids.recipients(), vec![recipient.clone()]);
        let key = DataKey::generate();
        let stanzas = wrap_data_key(&key, &[recipient]).unwrap();
        assert!(
            stanzas[0]
                .enc
                .starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n")
        );
        assert!(
            stanzas[0]
                .enc
                .ends_with("-----END AGE ENCRYPTED FILE-----\n")
        );
        let got = ids.unwrap_data_key(&stanzas, Path::new("f.env")).unwrap();
        assert_eq!(got.bytes(), key.bytes());

        let (other, _) = generate_identity();
        let err = identities_from_text(&other, "other")
            .unwrap_data_key(&stanzas, Path::new("f.env"))
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&stanzas[0].recipient), "{msg}");
        assert_eq!(err.exit_code(), 128);
    }

    #[test]
    fn identity_files_skip_comments_and_report_bad_lines() {
        let (text, _) = generate_identity();
        let ids = identities_from_text(&format!("{}\nnot-a-key\n", text.as_str()), "keys.txt");
        assert_eq!(ids.recipients().len(), 1);
        assert_eq!(
            ids.warnings,
            vec!["keys.txt:5: not an age identity (line ignored)".to_string()]
        );
    }

    #[test]
    fn any_of_several_identities_opens_the_file() {
        let (a, _) = generate_identity();
        let (b, rb) = generate_identity();
        let ids = identities_from_text(&format!("{}{}", a.as_str(), b.as_str()), "keys.txt");
        assert_eq!(ids.recipients().len(), 2);
        let key = DataKey::generate();
        let stanzas = wrap_data_key(&key, &[rb]).unwrap();
        assert_eq!(
            ids.unwrap_data_key(&stanzas, Path::new("f.env"))
                .unwrap()
                .bytes(),
            key.bytes()
        );
    }

    #[test]
    fn ssh_recipients_are_refused_with_a_reason() {
        assert!(
            parse_recipient("ssh-ed25519 AAAA")
                .unwrap_err()
                .contains("SSH")
        );
        assert!(parse_recipient("nonsense").is_err());
    }
}
