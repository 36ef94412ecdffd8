//! A SOPS file as a whole: load (dotenv, YAML or JSON), unwrap the data key, decrypt every leaf
//! and verify the MAC; edit the plaintext tree; encrypt it again with the same data key and IV
//! stash so that unchanged values keep their exact ciphertext; write it atomically.
//!
//! Size: about 900 lines, of which some 140 are its tests; load, edit and save share the data
//! key, the IV stash and the MAC, which is why they stay together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use sha2::{Digest, Sha256, Sha512};
use zeroize::{Zeroize, Zeroizing};

use super::cipher::{Cipher, CipherError, DataKey, Plain};
use super::error::{Result, SopsError};
use super::guard::{self, Seen};
use super::keys::{Identities, wrap_data_key};
use super::metadata::{CryptRule, Metadata};
use super::numfmt::rfc3339_without_fraction;
use super::tree::{Branches, Entry, Leaf, LeafCx, Node, PathStep, Scalar, walk_branch};
use super::{dotenv, json, yaml};

/// The file formats homelab reads and writes as sops does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Dotenv,
    Yaml,
    Json,
}

impl Format {
    /// The format sops would pick from the file name.
    pub fn from_path(path: &Path) -> Result<Format> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if name.ends_with(".env") || name == ".env" {
            Ok(Format::Dotenv)
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            Ok(Format::Yaml)
        } else if name.ends_with(".json") {
            Ok(Format::Json)
        } else {
            Err(SopsError::Unsupported {
                path: path.to_path_buf(),
                message:
                    "unknown file type; homelab handles .env (dotenv), .yaml/.yml and .json files"
                        .into(),
            })
        }
    }
}

/// Metadata as found in the file, before it is interpreted.
pub(crate) enum RawMeta {
    Flat(BTreeMap<String, String>),
    Tree(Vec<Entry>),
}

pub(crate) fn parse_text(
    text: &str,
    path: &Path,
    format: Format,
) -> Result<(Vec<Vec<Entry>>, Option<RawMeta>)> {
    match format {
        Format::Dotenv => {
            let parsed = dotenv::parse(text, path)?;
            let meta = (!parsed.metadata.is_empty()).then_some(RawMeta::Flat(parsed.metadata));
            Ok((vec![parsed.entries], meta))
        }
        Format::Yaml => {
            let mut branches = yaml::parse(text, path)?;
            let meta = yaml::take_metadata(&mut branches).map(RawMeta::Tree);
            Ok((branches, meta))
        }
        Format::Json => {
            let mut entries = json::parse(text, path)?;
            let pos = entries
                .iter()
                .position(|e| matches!(e, Entry::Pair(k, _) if k == "sops"));
            let meta = match pos.map(|p| entries.remove(p)) {
                Some(Entry::Pair(_, Node::Map(m))) => Some(RawMeta::Tree(m)),
                _ => None,
            };
            Ok((vec![entries], meta))
        }
    }
}

fn emit_text(
    branches: &[Vec<Entry>],
    metadata: Option<&Metadata>,
    path: &Path,
    format: Format,
) -> Result<String> {
    let first: &[Entry] = branches.first().map(Vec::as_slice).unwrap_or(&[]);
    match format {
        Format::Dotenv => dotenv::emit(first, metadata, path),
        Format::Yaml => Ok(yaml::emit(branches, metadata.map(Metadata::to_entries))),
        Format::Json => match metadata {
            None => json::emit(first, path),
            Some(m) => {
                let mut entries = first.to_vec();
                entries.push(Entry::Pair("sops".into(), Node::Map(m.to_entries())));
                json::emit(&entries, path)
            }
        },
    }
}

/// An encrypted file as stored: ciphertext tree and metadata.
#[derive(Debug, Clone)]
pub struct EncryptedFile {
    pub path: PathBuf,
    pub format: Format,
    pub branches: Vec<Vec<Entry>>,
    pub metadata: Metadata,
    /// What the file held when it was read (`None`: parsed from text); a save refuses a file
    /// that changed since ([`guard`]).
    pub seen: Option<Seen>,
}

impl EncryptedFile {
    pub fn load(path: &Path) -> Result<EncryptedFile> {
        let format = Format::from_path(path)?;
        let (text, seen) = guard::read(path)?;
        let mut file = EncryptedFile::parse(&text, path, format)?;
        file.seen = Some(seen);
        Ok(file)
    }

    pub fn parse(text: &str, path: &Path, format: Format) -> Result<EncryptedFile> {
        let (branches, meta) = parse_text(text, path, format)?;
        let meta_err = |message: String| SopsError::Metadata {
            path: path.to_path_buf(),
            message,
        };
        let metadata = match meta {
            None => {
                return Err(SopsError::MetadataNotFound {
                    path: path.to_path_buf(),
                });
            }
            Some(RawMeta::Flat(flat)) => Metadata::from_flat(&flat).map_err(meta_err)?,
            Some(RawMeta::Tree(entries)) => Metadata::from_entries(&entries).map_err(meta_err)?,
        };
        if metadata.age.is_empty() {
            return Err(SopsError::Unsupported {
                path: path.to_path_buf(),
                message: "the file has no age recipients (only other key types); homelab opens files encrypted for age. Use sops for this file.".into(),
            });
        }
        Ok(EncryptedFile {
            path: path.to_path_buf(),
            format,
            branches,
            metadata,
            seen: None,
        })
    }

    /// The recipients the file is encrypted for.
    pub fn recipients(&self) -> Vec<String> {
        self.metadata
            .age
            .iter()
            .map(|a| a.recipient.clone())
            .collect()
    }

    /// The file text as it would be written now (ciphertext and metadata unchanged).
    pub fn to_text(&self) -> Result<String> {
        emit_text(
            &self.branches,
            Some(&self.metadata),
            &self.path,
            self.format,
        )
    }

    /// Unwrap the data key with the first identity that matches.
    pub fn data_key(&self, ids: &Identities) -> Result<DataKey> {
        ids.unwrap_data_key(&self.metadata.age, &self.path)
    }

    /// Load `path`, decrypt it with `ids` and require a valid MAC: what every reader of a value
    /// (a credential, the cluster token, `env get`) does before it trusts the plaintext.
    pub fn open_verified(path: &Path, ids: &Identities) -> Result<Opened> {
        let opened = EncryptedFile::load(path)?.open(ids)?;
        opened.require_mac()?;
        Ok(opened)
    }

    /// Unwrap the data key and decrypt the file. The MAC result is recorded in [`Opened::mac`];
    /// callers that write must check it with [`Opened::require_mac`].
    pub fn open(&self, ids: &Identities) -> Result<Opened> {
        let key = self.data_key(ids)?;
        self.decrypt_with_key(key)
    }

    pub fn decrypt_with_key(&self, key: DataKey) -> Result<Opened> {
        super::process::hold_secrets();
        let mut cipher = Cipher::new(key);
        let mut branches = Branches(self.branches.clone());
        let matcher = RuleMatcher::new(&self.metadata.rule, &self.path)?;
        let mut hasher = mac_hasher(self.metadata.mac_only_encrypted);
        let mac_only = self.metadata.mac_only_encrypted;
        for branch in branches.0.iter_mut() {
            walk_branch(
                branch,
                &mut Vec::new(),
                &mut Vec::new(),
                &mut |leaf, cx: &LeafCx<'_>| {
                    let aad = aad(cx.path);
                    match leaf {
                        Leaf::MapComment(c) => {
                            if matcher.encrypted(cx, true) {
                                decrypt_comment(&mut cipher, c, &aad);
                            }
                            Ok(())
                        }
                        Leaf::Value(node) => {
                            let encrypted = matcher.encrypted(cx, matches!(node, Node::Comment(_)));
                            match node {
                            Node::Comment(c) => {
                                if encrypted {
                                    decrypt_comment(&mut cipher, c, &aad);
                                }
                                Ok(())
                            }
                            Node::Scalar(Scalar::Str(text)) if encrypted => {
                                let plain = cipher.decrypt(text, &aad).map_err(|e| value_error(&self.path, cx.path, e))?;
                                match plain {
                                    Plain::Value(v) => {
                                        hasher.update(Zeroizing::new(v.to_bytes()));
                                        *node = Node::Scalar(v);
                                    }
                                    Plain::Comment(t) => *node = Node::Comment(t),
                                }
                                Ok(())
                            }
                            Node::Scalar(_) if encrypted => Err(SopsError::ValueDecrypt {
                                path: self.path.clone(),
                                at: cx.path.join(":"),
                                reason: "the value is not encrypted although the file's rule says it should be".into(),
                            }),
                            Node::Scalar(v) => {
                                if !mac_only {
                                    hasher.update(Zeroizing::new(v.to_bytes()));
                                }
                                Ok(())
                            }
                            _ => Ok(()),
                        }
                        }
                    }
                },
            )?;
        }
        let computed = hex::encode_upper(hasher.finalize());
        let mac = if self.metadata.mac.is_empty() {
            MacStatus::Mismatch {
                stored: "no MAC".into(),
                computed,
            }
        } else {
            match cipher.decrypt(&self.metadata.mac, &mac_aad(&self.metadata.lastmodified)) {
                Ok(Plain::Value(Scalar::Str(stored))) if stored == computed => MacStatus::Verified,
                Ok(Plain::Value(Scalar::Str(stored))) => MacStatus::Mismatch { stored, computed },
                Ok(_) => MacStatus::Undecryptable("the stored MAC is not a string".into()),
                Err(e) => MacStatus::Undecryptable(e.to_string()),
            }
        };
        Ok(Opened {
            path: self.path.clone(),
            format: self.format,
            branches,
            metadata: self.metadata.clone(),
            cipher,
            mac,
            seen: self.seen,
        })
    }

    /// sops updatekeys: wrap the same data key for `recipients`; values, lastmodified and mac stay.
    pub fn rewrap(&mut self, key: &DataKey, recipients: &[String]) -> Result<()> {
        self.metadata.age = wrap_data_key(key, recipients)?;
        Ok(())
    }

    /// Write the file as it is now (after [`EncryptedFile::rewrap`]), if nobody changed it
    /// since it was read.
    pub fn save(&mut self) -> Result<()> {
        let text = self.to_text()?;
        self.seen = Some(guard::write_if_unchanged(
            &self.path,
            self.seen,
            text.as_bytes(),
        )?);
        Ok(())
    }
}

fn decrypt_comment(cipher: &mut Cipher, c: &mut String, aad: &str) {
    // A comment that does not decrypt is kept as it is (comments from older sops were plaintext).
    if let Ok(plain) = cipher.decrypt(c, aad) {
        let text = match plain {
            Plain::Comment(t) => t,
            Plain::Value(v) => v.display_text(),
        };
        c.zeroize();
        *c = text;
    }
}

fn value_error(path: &Path, at: &[String], e: CipherError) -> SopsError {
    SopsError::ValueDecrypt {
        path: path.to_path_buf(),
        at: at.join(":"),
        reason: e.to_string(),
    }
}

/// `join(path, ":") + ":"`, the AAD of a value.
fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

/// The MAC's AAD: lastmodified parsed and formatted again as RFC 3339.
fn mac_aad(lastmodified: &str) -> String {
    let t = rfc3339_without_fraction(lastmodified);
    match t.strip_suffix("+00:00") {
        Some(base) => format!("{base}Z"),
        None => t,
    }
}

fn mac_hasher(mac_only_encrypted: bool) -> Sha512 {
    let mut h = Sha512::new();
    if mac_only_encrypted {
        h.update(Sha256::digest(b"sops"));
    }
    h
}

/// sops' shouldBeEncrypted with the rule's regexes compiled once.
pub(crate) struct RuleMatcher<'r> {
    rule: &'r CryptRule,
    regex: Option<Regex>,
}

impl<'r> RuleMatcher<'r> {
    pub(crate) fn new(rule: &'r CryptRule, path: &Path) -> Result<RuleMatcher<'r>> {
        let regex = match rule {
            CryptRule::UnencryptedRegex(r)
            | CryptRule::EncryptedRegex(r)
            | CryptRule::UnencryptedCommentRegex(r)
            | CryptRule::EncryptedCommentRegex(r) => {
                Some(Regex::new(r).map_err(|e| SopsError::Metadata {
                    path: path.to_path_buf(),
                    message: format!(
                        "{} `{r}` is not a valid regular expression: {e}",
                        rule.field()
                    ),
                })?)
            }
            _ => None,
        };
        Ok(RuleMatcher { rule, regex })
    }

    pub(crate) fn encrypted(&self, cx: &LeafCx<'_>, is_comment: bool) -> bool {
        let any_key = |f: &dyn Fn(&str) -> bool| cx.path.iter().any(|k| f(k));
        match (self.rule, &self.regex) {
            (CryptRule::UnencryptedSuffix(s), _) => !any_key(&|k| k.ends_with(s.as_str())),
            (CryptRule::EncryptedSuffix(s), _) => any_key(&|k| k.ends_with(s.as_str())),
            (CryptRule::UnencryptedRegex(_), Some(re)) => !any_key(&|k| re.is_match(k)),
            (CryptRule::EncryptedRegex(_), Some(re)) => any_key(&|k| re.is_match(k)),
            (CryptRule::UnencryptedCommentRegex(_), Some(re)) => {
                !cx.comments.iter().flatten().any(|c| re.is_match(c))
            }
            (CryptRule::EncryptedCommentRegex(_), Some(re)) => {
                let levels = cx.comments.len();
                cx.comments.iter().enumerate().any(|(i, level)| {
                    level.iter().enumerate().any(|(j, c)| {
                        let own_line = is_comment && i + 1 == levels && j + 1 == level.len();
                        !own_line && re.is_match(c)
                    })
                })
            }
            _ => true,
        }
    }
}

/// Result of checking the MAC on open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacStatus {
    Verified,
    Mismatch { stored: String, computed: String },
    Undecryptable(String),
}

/// A file opened for the env editor, with how it was asked for (the editor's decrypt task
/// hands it back to the screen).
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub read_only: bool,
    pub opened: Opened,
}

/// A decrypted file, ready to read, edit and save.
pub struct Opened {
    pub path: PathBuf,
    pub format: Format,
    pub branches: Branches,
    pub metadata: Metadata,
    cipher: Cipher,
    pub mac: MacStatus,
    /// What the file held when it was read (see [`EncryptedFile::seen`]).
    seen: Option<Seen>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("path", &self.path)
            .field("mac", &self.mac)
            .finish_non_exhaustive()
    }
}

impl Opened {
    /// A new file to be encrypted for `recipients` under a fresh data key.
    pub fn new_plain(
        path: &Path,
        format: Format,
        plaintext: &str,
        rule: CryptRule,
        mac_only_encrypted: bool,
        recipients: &[String],
    ) -> Result<Opened> {
        super::process::hold_secrets();
        let (branches, meta) = parse_text(plaintext, path, format)?;
        let branches = Branches(branches);
        if meta.is_some() {
            return Err(SopsError::AlreadyEncrypted {
                path: path.to_path_buf(),
            });
        }
        if recipients.is_empty() {
            return Err(SopsError::Config {
                path: path.to_path_buf(),
                message:
                    "no age recipients to encrypt for (the matching .sops.yaml rule lists none)"
                        .into(),
            });
        }
        let key = DataKey::generate();
        let stanzas = wrap_data_key(&key, recipients)?;
        Ok(Opened {
            path: path.to_path_buf(),
            format,
            branches,
            metadata: Metadata::new(stanzas, rule, mac_only_encrypted),
            cipher: Cipher::new(key),
            mac: MacStatus::Verified,
            seen: None,
        })
    }

    /// Refuse to go on when the MAC did not verify (writing would bless a tampered file).
    pub fn require_mac(&self) -> Result<()> {
        match &self.mac {
            MacStatus::Verified => Ok(()),
            MacStatus::Mismatch { stored, computed } => Err(SopsError::MacMismatch {
                path: self.path.clone(),
                stored: stored.clone(),
                computed: computed.clone(),
            }),
            MacStatus::Undecryptable(reason) => Err(SopsError::MacUndecryptable {
                path: self.path.clone(),
                reason: reason.clone(),
            }),
        }
    }

    /// The decrypted file as `sops decrypt` prints it.
    pub fn plaintext(&self) -> Result<Zeroizing<String>> {
        emit_text(&self.branches.0, None, &self.path, self.format).map(Zeroizing::new)
    }

    /// The data entries of the first document (dotenv and JSON have only one).
    pub fn entries(&self) -> &[Entry] {
        self.branches.0.first().map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn entries_mut(&mut self) -> &mut Vec<Entry> {
        if self.branches.0.is_empty() {
            self.branches.0.push(Vec::new());
        }
        &mut self.branches.0[0]
    }

    pub fn get(&self, path: &[PathStep]) -> Option<&Node> {
        super::tree::lookup(self.entries(), path)
    }

    /// The top-level string value of `key` (a dotenv key), copied into zeroizing memory; `None`
    /// when the key is missing or not a string (an empty value is `Some("")`: callers say what
    /// an empty value means for them).
    pub fn top_level_str(&self, key: &str) -> Option<Zeroizing<String>> {
        match self.get(&[PathStep::Key(key.to_owned())]) {
            Some(Node::Scalar(Scalar::Str(v))) => Some(Zeroizing::new(v.clone())),
            _ => None,
        }
    }

    /// Set a value (first match, as sops set); a missing key is appended. Returns whether
    /// anything changed.
    pub fn set(&mut self, path: &[PathStep], value: Node) -> Result<bool> {
        let file = self.path.clone();
        let slot = slot_mut(self.entries_mut(), path, true)
            .map_err(|m| SopsError::Usage(format!("{}: {m}", file.display())))?;
        match slot {
            Some(node) if *node == value => Ok(false),
            Some(node) => {
                node.zeroize();
                *node = value;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Remove a key (the first match).
    pub fn unset(&mut self, path: &[PathStep]) -> Result<()> {
        let file = self.path.clone();
        let not_found = || SopsError::KeyNotFound {
            path: file.clone(),
            key: describe(path),
        };
        let Some((last, parents)) = path.split_last() else {
            return Err(not_found());
        };
        let container: &mut Node = if parents.is_empty() {
            return remove_from_map(self.entries_mut(), last).ok_or_else(not_found);
        } else {
            slot_mut(self.entries_mut(), parents, false)
                .ok()
                .flatten()
                .ok_or_else(not_found)?
        };
        match container {
            Node::Map(entries) => remove_from_map(entries, last).ok_or_else(not_found),
            Node::List(items) => {
                let PathStep::Index(i) = last else {
                    return Err(not_found());
                };
                let pos = items
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| !matches!(n, Node::Comment(_)))
                    .nth(*i)
                    .map(|(p, _)| p)
                    .ok_or_else(not_found)?;
                items.remove(pos).zeroize();
                Ok(())
            }
            _ => Err(not_found()),
        }
    }

    /// Set `version` to ours when it is newer (what `sops edit` does; set/unset keep it).
    pub fn bump_version(&mut self) {
        if version_less(&self.metadata.version, super::SOPS_VERSION) {
            self.metadata.version = super::SOPS_VERSION.to_string();
        }
    }

    /// Start over with a new data key wrapped for `recipients` (sops rotate). Every value gets
    /// a new ciphertext on the next save.
    pub fn rotate_data_key(&mut self, recipients: &[String]) -> Result<()> {
        let key = DataKey::generate();
        self.metadata.age = wrap_data_key(&key, recipients)?;
        self.cipher = Cipher::new(key);
        Ok(())
    }

    /// Encrypt the tree (unchanged values keep their ciphertext), stamp lastmodified, compute
    /// and encrypt the MAC, and return the file text.
    pub fn encrypt_to_text(&mut self) -> Result<String> {
        let mut out: Vec<Vec<Entry>> = self.branches.0.clone();
        let matcher = RuleMatcher::new(&self.metadata.rule, &self.path)?;
        let mac_only = self.metadata.mac_only_encrypted;
        let mut hasher = mac_hasher(mac_only);
        let cipher = &mut self.cipher;
        for branch in out.iter_mut() {
            walk_branch::<SopsError>(branch, &mut Vec::new(), &mut Vec::new(), &mut |leaf, cx| {
                let aad = aad(cx.path);
                match leaf {
                    Leaf::MapComment(c) => {
                        if matcher.encrypted(cx, true) {
                            let enc = cipher.encrypt(&Plain::Comment(c.clone()), &aad);
                            c.zeroize();
                            *c = enc;
                        }
                    }
                    Leaf::Value(node) => {
                        let is_comment = matches!(node, Node::Comment(_));
                        let encrypted = matcher.encrypted(cx, is_comment);
                        let plain = match node {
                            Node::Comment(c) => Plain::Comment(c.clone()),
                            Node::Scalar(s) => Plain::Value(s.clone()),
                            _ => return Ok(()),
                        };
                        if let Plain::Value(v) = &plain
                            && (!mac_only || encrypted)
                        {
                            hasher.update(Zeroizing::new(v.to_bytes()));
                        }
                        if encrypted {
                            let enc = cipher.encrypt(&plain, &aad);
                            node.zeroize();
                            *node = Node::Scalar(Scalar::Str(enc));
                        }
                        let mut plain = plain;
                        zeroize_plain(&mut plain);
                    }
                }
                Ok(())
            })?;
        }
        let computed = Zeroizing::new(hex::encode_upper(hasher.finalize()));
        let lastmodified = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        self.metadata.mac = self.cipher.encrypt(
            &Plain::Value(Scalar::Str(computed.to_string())),
            &lastmodified,
        );
        self.metadata.lastmodified = lastmodified;
        self.mac = MacStatus::Verified;
        let text = emit_text(&out, Some(&self.metadata), &self.path, self.format);
        // `out` holds ciphertext now, except values the rule leaves in plaintext.
        let mut out = Branches(out);
        out.0.iter_mut().flatten().for_each(Zeroize::zeroize);
        text
    }

    /// Encrypt and write atomically, under the file's lock. Refuses when the MAC did not verify
    /// on open, and when the file changed on disk since it was read
    /// ([`SopsError::ChangedOnDisk`]: reload, or merge the changes onto the new content).
    pub fn save(&mut self) -> Result<()> {
        self.require_mac()?;
        let text = self.encrypt_to_text()?;
        self.seen = Some(guard::write_if_unchanged(
            &self.path,
            self.seen,
            text.as_bytes(),
        )?);
        Ok(())
    }

    /// Save to another path (the wizard writes new files this way).
    pub fn save_as(&mut self, path: &Path) -> Result<()> {
        if self.path != path {
            self.path = path.to_path_buf();
            self.seen = None;
        }
        self.save()
    }
}

fn zeroize_plain(p: &mut Plain) {
    match p {
        Plain::Comment(c) => c.zeroize(),
        Plain::Value(v) => v.zeroize(),
    }
}

fn describe(path: &[PathStep]) -> String {
    match path {
        [PathStep::Key(k)] => k.clone(),
        steps => steps
            .iter()
            .map(|s| match s {
                PathStep::Key(k) => format!("[\"{k}\"]"),
                PathStep::Index(i) => format!("[{i}]"),
            })
            .collect(),
    }
}

fn remove_from_map(entries: &mut Vec<Entry>, step: &PathStep) -> Option<()> {
    let PathStep::Key(key) = step else {
        return None;
    };
    let pos = entries
        .iter()
        .position(|e| matches!(e, Entry::Pair(k, _) if k == key))?;
    entries.remove(pos).zeroize();
    Some(())
}

/// The node at `path`, creating missing mapping keys (appended at the end) when `create`.
fn slot_mut<'a>(
    entries: &'a mut Vec<Entry>,
    path: &[PathStep],
    create: bool,
) -> std::result::Result<Option<&'a mut Node>, String> {
    let Some((first, rest)) = path.split_first() else {
        return Err("empty path".into());
    };
    let PathStep::Key(key) = first else {
        return Err("the first path step must be a key".into());
    };
    let pos = match entries
        .iter()
        .position(|e| matches!(e, Entry::Pair(k, _) if k == key))
    {
        Some(p) => p,
        None if create => {
            let fresh = if rest.is_empty() {
                Node::Scalar(Scalar::Null)
            } else {
                Node::Map(Vec::new())
            };
            entries.push(Entry::Pair(key.clone(), fresh));
            entries.len() - 1
        }
        None => return Ok(None),
    };
    let Entry::Pair(_, node) = &mut entries[pos] else {
        unreachable!("positions of pairs only")
    };
    descend(node, rest, create)
}

fn descend<'a>(
    node: &'a mut Node,
    rest: &[PathStep],
    create: bool,
) -> std::result::Result<Option<&'a mut Node>, String> {
    let Some((step, tail)) = rest.split_first() else {
        return Ok(Some(node));
    };
    match (step, node) {
        (PathStep::Key(_), Node::Map(entries)) => slot_mut(entries, rest, create),
        (PathStep::Index(i), Node::List(items)) => {
            let positions: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, n)| !matches!(n, Node::Comment(_)))
                .map(|(p, _)| p)
                .collect();
            match positions.get(*i) {
                Some(p) => descend(&mut items[*p], tail, create),
                None if create && *i == positions.len() => {
                    items.push(if tail.is_empty() {
                        Node::Scalar(Scalar::Null)
                    } else {
                        Node::Map(Vec::new())
                    });
                    let last = items.len() - 1;
                    descend(&mut items[last], tail, create)
                }
                None => Err(format!("list index {i} is out of range")),
            }
        }
        (PathStep::Key(k), _) => Err(format!(
            "cannot use key `{k}` on a value that is not a mapping"
        )),
        (PathStep::Index(i), _) => Err(format!(
            "cannot use index [{i}] on a value that is not a list"
        )),
    }
}

fn version_less(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::keys::{generate_identity, identities_from_text};

    fn fresh(text: &str, name: &str) -> (Opened, Identities) {
        let (id_text, recipient) = generate_identity();
        let ids = identities_from_text(&id_text, "test");
        let path = PathBuf::from(name);
        let format = Format::from_path(&path).unwrap();
        let opened = Opened::new_plain(
            &path,
            format,
            text,
            CryptRule::default(),
            false,
            &[recipient],
        )
        .unwrap();
        (opened, ids)
    }

    #[test]
    fn dotenv_round_trip_with_mac() {
        let plain = "# c\nA=1\nEMPTY=\nexport B=x=y\nPUB_unencrypted=open\nM=l1\\nl2\n";
        let (mut opened, ids) = fresh(plain, "t.env");
        let text = opened.encrypt_to_text().unwrap();
        assert!(text.contains("EMPTY=\n"));
        assert!(text.contains("PUB_unencrypted=open\n"));
        assert!(text.contains("sops_unencrypted_suffix=_unencrypted\n"));
        let enc = EncryptedFile::parse(&text, Path::new("t.env"), Format::Dotenv).unwrap();
        let back = enc.open(&ids).unwrap();
        assert_eq!(back.mac, MacStatus::Verified);
        assert_eq!(back.plaintext().unwrap().as_str(), plain);
    }

    #[test]
    fn unchanged_values_keep_ciphertext_and_set_changes_three_lines() {
        let (mut opened, ids) = fresh("A=1\nB=2\nC=3\n", "t.env");
        let first = opened.encrypt_to_text().unwrap();
        let mut again = EncryptedFile::parse(&first, Path::new("t.env"), Format::Dotenv)
            .unwrap()
            .open(&ids)
            .unwrap();
        again
            .set(
                &[PathStep::Key("B".into())],
                Node::Scalar(Scalar::Str("two".into())),
            )
            .unwrap();
        let second = again.encrypt_to_text().unwrap();
        let changed: Vec<(&str, &str)> = first
            .lines()
            .zip(second.lines())
            .filter(|(a, b)| a != b)
            .collect();
        let names: Vec<&str> = changed
            .iter()
            .map(|(a, _)| a.split('=').next().unwrap())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| ["B", "sops_lastmodified", "sops_mac"].contains(n)),
            "{names:?}"
        );
        assert!(names.contains(&"B"));
    }

    #[test]
    fn tampered_value_is_refused_and_mac_mismatch_detected() {
        let (mut opened, ids) = fresh("A=1\nB_unencrypted=2\n", "t.env");
        let text = opened.encrypt_to_text().unwrap();
        let swapped = text.replace("B_unencrypted=2", "B_unencrypted=3");
        let enc = EncryptedFile::parse(&swapped, Path::new("t.env"), Format::Dotenv).unwrap();
        let back = enc.open(&ids).unwrap();
        assert!(matches!(back.mac, MacStatus::Mismatch { .. }));
        assert_eq!(back.require_mac().unwrap_err().exit_code(), 51);

        let a_line = text.lines().find(|l| l.starts_with("A=")).unwrap();
        let moved = text.replace(a_line, &a_line.replacen("A=", "Z=", 1));
        let enc = EncryptedFile::parse(&moved, Path::new("t.env"), Format::Dotenv).unwrap();
        assert_eq!(enc.open(&ids).unwrap_err().exit_code(), 25);
    }

    #[test]
    fn yaml_and_json_round_trip() {
        let yaml_text = "# top\napp:\n    port: 8080\n    ratio: 1.5\n    enabled: true\n    tags:\n        - a\n        # in list\n        - b\n    nested:\n        secret: s3cr3t\nempty: \"\"\n";
        let (mut y, ids) = fresh(yaml_text, "t.yaml");
        let enc = y.encrypt_to_text().unwrap();
        assert!(enc.contains("type:int]"), "{enc}");
        assert!(
            enc.contains("        - ENC[AES256_GCM"),
            "list comments become items: {enc}"
        );
        let back = EncryptedFile::parse(&enc, Path::new("t.yaml"), Format::Yaml)
            .unwrap()
            .open(&ids)
            .unwrap();
        assert_eq!(back.mac, MacStatus::Verified);
        assert_eq!(back.plaintext().unwrap().as_str(), yaml_text);

        let json_text =
            "{\n\t\"a\": \"x\",\n\t\"n\": 5,\n\t\"l\": [\n\t\ttrue,\n\t\tnull\n\t]\n}\n";
        let (mut j, ids) = fresh(json_text, "t.json");
        let enc = j.encrypt_to_text().unwrap();
        let back = EncryptedFile::parse(&enc, Path::new("t.json"), Format::Json)
            .unwrap()
            .open(&ids)
            .unwrap();
        assert_eq!(back.mac, MacStatus::Verified);
        assert_eq!(back.plaintext().unwrap().as_str(), json_text);
    }

    #[test]
    fn unset_and_missing_keys() {
        let (mut o, _) = fresh("A=1\nA=2\nB=3\n", "t.env");
        o.unset(&[PathStep::Key("A".into())]).unwrap();
        assert_eq!(o.plaintext().unwrap().as_str(), "A=2\nB=3\n");
        assert_eq!(
            o.unset(&[PathStep::Key("NOPE".into())])
                .unwrap_err()
                .exit_code(),
            1
        );
        assert!(
            o.set(
                &[PathStep::Key("NEW".into())],
                Node::Scalar(Scalar::Str("v".into()))
            )
            .unwrap()
        );
        assert_eq!(o.plaintext().unwrap().as_str(), "A=2\nB=3\nNEW=v\n");
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_less("3.9.0", "3.11.0"));
        assert!(!version_less("3.11.0", "3.11.0"));
    }
}
