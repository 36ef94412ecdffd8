//! The scaffold form as data: one slot per field of the request (docs/scaffolding.md), text
//! fields on the one line editor ([`LineEdit`]), choices cycled with ←/→ or Space, a secret
//! value field per secret key (masked, wiped when dropped). Every change validates the whole
//! request with `scaffold::validate` (pure) and keeps each field's message; a field shows its
//! message once it was typed in or left, or after a submit. The default path shows what most
//! apps need; the advanced path adds hostname, service, values, resources, probe and root.

use crate::keymap::{Key, Keymap};
use crate::msg::Action;
use crate::scaffold::request::{SecretEntry, SecretValue, defaults};
use crate::scaffold::{AppInput, Field, FieldError, TreeFacts, validate};
use crate::widgets::line_edit::LineEdit;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::{BTreeMap, BTreeSet};

/// The most secret keys the form takes.
pub const MAX_SECRETS: usize = 32;

/// One field of the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    Path,
    Name,
    Category,
    Source,
    Image,
    ChartRepo,
    Chart,
    ChartVersion,
    ValuesFile,
    Service,
    Port,
    Exposure,
    Hostname,
    Storage,
    StorageSize,
    MountPath,
    CpuRequest,
    MemoryRequest,
    CpuLimit,
    MemoryLimit,
    ProbePath,
    SecretKeys,
    /// The value of the n-th secret key.
    SecretValue(usize),
    RunsAsRoot,
}

const TEXT_SLOTS: [Slot; 17] = [
    Slot::Name,
    Slot::Image,
    Slot::ChartRepo,
    Slot::Chart,
    Slot::ChartVersion,
    Slot::ValuesFile,
    Slot::Service,
    Slot::Port,
    Slot::Hostname,
    Slot::StorageSize,
    Slot::MountPath,
    Slot::CpuRequest,
    Slot::MemoryRequest,
    Slot::CpuLimit,
    Slot::MemoryLimit,
    Slot::ProbePath,
    Slot::SecretKeys,
];

pub const CATEGORIES: [&str; 4] = ["media", "tools", "games", "demos"];
const SOURCES: [&str; 2] = ["image", "helm chart"];
const EXPOSURES: [&str; 2] = ["internal", "public"];
const STORAGES: [&str; 3] = ["none", "longhorn", "nfs"];
const PATHS: [&str; 2] = ["default", "advanced"];
const YES_NO: [&str; 2] = ["no", "yes"];

/// What a key did to the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stay,
    /// Esc: leave the form (it keeps what was typed).
    Cancel,
    /// Ctrl-S, or Enter on the last field: the request is valid, go to the preview.
    Submit,
    /// A submit with problems left: the first field with one is focused.
    Invalid,
    /// Not a key of the form (Ctrl-Z, Ctrl-L, F-keys...): the global keymap may have it.
    Ignored,
}

/// The form. See the module doc.
#[derive(Debug, Clone)]
pub struct Form {
    pub advanced: bool,
    text: BTreeMap<Slot, LineEdit>,
    pub category: Option<usize>,
    pub chart: bool,
    pub public: bool,
    pub storage: usize,
    pub runs_as_root: bool,
    /// One masked field per secret key, in the order of the keys field.
    secrets: Vec<(String, LineEdit)>,
    pub focus: Slot,
    touched: BTreeSet<Slot>,
    errors: Vec<FieldError>,
    /// A problem the preview task found with the values file (read there, not while typing).
    pub values_error: Option<String>,
}

impl Default for Form {
    fn default() -> Self {
        Form {
            advanced: false,
            text: TEXT_SLOTS
                .iter()
                .map(|s| (*s, LineEdit::default()))
                .collect(),
            category: None,
            chart: false,
            public: false,
            storage: 0,
            runs_as_root: false,
            secrets: Vec::new(),
            focus: Slot::Name,
            touched: BTreeSet::new(),
            errors: Vec::new(),
            values_error: None,
        }
    }
}

impl Slot {
    pub fn label(self) -> &'static str {
        match self {
            Slot::Path => "path",
            Slot::Name => "name",
            Slot::Category => "category",
            Slot::Source => "source",
            Slot::Image => "image",
            Slot::ChartRepo => "chart repository",
            Slot::Chart => "chart",
            Slot::ChartVersion => "chart version",
            Slot::ValuesFile => "values file",
            Slot::Service => "chart's Service",
            Slot::Port => "port",
            Slot::Exposure => "exposure",
            Slot::Hostname => "hostname",
            Slot::Storage => "storage",
            Slot::StorageSize => "storage size",
            Slot::MountPath => "mount path",
            Slot::CpuRequest => "cpu request",
            Slot::MemoryRequest => "memory request",
            Slot::CpuLimit => "cpu limit",
            Slot::MemoryLimit => "memory limit",
            Slot::ProbePath => "probe path",
            Slot::SecretKeys => "secret keys",
            Slot::SecretValue(_) => "value",
            Slot::RunsAsRoot => "runs as root",
        }
    }

    fn choices(self) -> Option<&'static [&'static str]> {
        Some(match self {
            Slot::Path => &PATHS,
            Slot::Category => &CATEGORIES,
            Slot::Source => &SOURCES,
            Slot::Exposure => &EXPOSURES,
            Slot::Storage => &STORAGES,
            Slot::RunsAsRoot => &YES_NO,
            _ => return None,
        })
    }

    pub fn is_choice(self) -> bool {
        self.choices().is_some()
    }

    /// Which slot shows a validation message about `field`.
    fn of(field: Field) -> Slot {
        match field {
            Field::Name => Slot::Name,
            Field::Category => Slot::Category,
            Field::Source => Slot::Source,
            Field::ChartRepo => Slot::ChartRepo,
            Field::Chart => Slot::Chart,
            Field::ChartVersion => Slot::ChartVersion,
            Field::Values => Slot::ValuesFile,
            Field::Service => Slot::Service,
            Field::Image => Slot::Image,
            Field::Port => Slot::Port,
            Field::Hostname => Slot::Hostname,
            Field::Exposure => Slot::Exposure,
            Field::Storage => Slot::Storage,
            Field::StorageSize => Slot::StorageSize,
            Field::MountPath => Slot::MountPath,
            Field::CpuRequest => Slot::CpuRequest,
            Field::MemoryRequest => Slot::MemoryRequest,
            Field::CpuLimit => Slot::CpuLimit,
            Field::MemoryLimit => Slot::MemoryLimit,
            Field::ProbePath => Slot::ProbePath,
            Field::Secrets => Slot::SecretKeys,
            Field::RunsAsRoot => Slot::RunsAsRoot,
        }
    }
}

impl Form {
    /// The slots shown, in order (the source, storage and path decide which).
    pub fn visible(&self) -> Vec<Slot> {
        let mut v = vec![Slot::Path, Slot::Name, Slot::Category, Slot::Source];
        if self.chart {
            v.extend([Slot::ChartRepo, Slot::Chart, Slot::ChartVersion]);
            if self.advanced {
                v.extend([Slot::ValuesFile, Slot::Service]);
            }
        } else {
            v.push(Slot::Image);
        }
        v.extend([Slot::Port, Slot::Exposure]);
        if self.advanced {
            v.push(Slot::Hostname);
        }
        v.push(Slot::Storage);
        if self.storage != 0 {
            v.extend([Slot::StorageSize, Slot::MountPath]);
        }
        if self.advanced {
            v.extend([
                Slot::CpuRequest,
                Slot::MemoryRequest,
                Slot::CpuLimit,
                Slot::MemoryLimit,
            ]);
            if !self.chart {
                v.push(Slot::ProbePath);
            }
        }
        v.push(Slot::SecretKeys);
        v.extend((0..self.secrets.len()).map(Slot::SecretValue));
        if self.advanced {
            v.push(Slot::RunsAsRoot);
        }
        v
    }

    pub fn text(&self, slot: Slot) -> &str {
        match slot {
            Slot::SecretValue(i) => self.secrets.get(i).map_or("", |(_, e)| e.value()),
            _ => self.text.get(&slot).map_or("", LineEdit::value),
        }
    }

    /// The editor of a text slot (a secret value's too).
    pub fn edit(&self, slot: Slot) -> Option<&LineEdit> {
        match slot {
            Slot::SecretValue(i) => self.secrets.get(i).map(|(_, e)| e),
            _ => self.text.get(&slot),
        }
    }

    fn edit_mut(&mut self, slot: Slot) -> Option<&mut LineEdit> {
        match slot {
            Slot::SecretValue(i) => self.secrets.get_mut(i).map(|(_, e)| e),
            _ => self.text.get_mut(&slot),
        }
    }

    /// The secret key a value slot belongs to.
    pub fn secret_key(&self, i: usize) -> &str {
        self.secrets.get(i).map_or("", |(k, _)| k)
    }

    /// The choice shown for a choice slot (`None`: nothing chosen yet).
    pub fn choice(&self, slot: Slot) -> Option<&'static str> {
        let i = match slot {
            Slot::Path => usize::from(self.advanced),
            Slot::Category => self.category?,
            Slot::Source => usize::from(self.chart),
            Slot::Exposure => usize::from(self.public),
            Slot::Storage => self.storage,
            Slot::RunsAsRoot => usize::from(self.runs_as_root),
            _ => return None,
        };
        slot.choices().and_then(|c| c.get(i).copied())
    }

    fn cycle(&mut self, slot: Slot, forward: bool) {
        let Some(choices) = slot.choices() else {
            return;
        };
        let n = choices.len();
        let step = |i: usize| {
            if forward {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            }
        };
        match slot {
            Slot::Path => self.advanced = !self.advanced,
            Slot::Category => {
                self.category = Some(match self.category {
                    None if forward => 0,
                    None => n - 1,
                    Some(i) => step(i),
                })
            }
            Slot::Source => self.chart = !self.chart,
            Slot::Exposure => self.public = !self.public,
            Slot::Storage => self.storage = step(self.storage),
            Slot::RunsAsRoot => self.runs_as_root = !self.runs_as_root,
            _ => {}
        }
    }

    /// Set a text slot (tests, and a pasted value).
    pub fn set(&mut self, slot: Slot, value: &str) {
        if let Some(e) = self.edit_mut(slot) {
            e.set(value);
        }
        if slot == Slot::SecretKeys {
            self.sync_secrets();
        }
        self.touched.insert(slot);
    }

    /// The secret keys as typed: separated by commas or spaces.
    fn keys(&self) -> Vec<String> {
        self.text(Slot::SecretKeys)
            .split([',', ' '])
            .filter(|k| !k.is_empty())
            .take(MAX_SECRETS)
            .map(str::to_string)
            .collect()
    }

    /// One value field per key: a key kept keeps its value, a dropped key's value is wiped.
    fn sync_secrets(&mut self) {
        let keys = self.keys();
        let mut old = std::mem::take(&mut self.secrets);
        for k in keys {
            let edit = match old.iter().position(|(o, _)| *o == k) {
                Some(i) => old.remove(i).1,
                None => LineEdit::secret(),
            };
            self.secrets.push((k, edit));
        }
        if let Slot::SecretValue(i) = self.focus
            && i >= self.secrets.len()
        {
            self.focus = Slot::SecretKeys;
        }
    }

    /// The request as typed. The values file is read by the preview task, so `values` is
    /// what it read (empty while typing).
    pub fn input(&self, values: String) -> AppInput {
        let t = |s: Slot| self.text(s).to_string();
        let (image, chart_repo, chart, chart_version) = if self.chart {
            (
                String::new(),
                t(Slot::ChartRepo),
                t(Slot::Chart),
                t(Slot::ChartVersion),
            )
        } else {
            (t(Slot::Image), String::new(), String::new(), String::new())
        };
        let adv = |s: Slot| if self.advanced { t(s) } else { String::new() };
        let storage = self.storage != 0;
        let st = |s: Slot| if storage { t(s) } else { String::new() };
        AppInput {
            name: t(Slot::Name),
            category: self
                .category
                .and_then(|i| CATEGORIES.get(i))
                .map_or(String::new(), |c| c.to_string()),
            image,
            chart_repo,
            chart,
            chart_version,
            values,
            service: if self.chart {
                adv(Slot::Service)
            } else {
                String::new()
            },
            port: t(Slot::Port),
            hostname: adv(Slot::Hostname),
            exposure: EXPOSURES[usize::from(self.public)].into(),
            storage: STORAGES.get(self.storage).copied().unwrap_or("none").into(),
            storage_size: st(Slot::StorageSize),
            mount_path: st(Slot::MountPath),
            cpu_request: adv(Slot::CpuRequest),
            memory_request: adv(Slot::MemoryRequest),
            cpu_limit: adv(Slot::CpuLimit),
            memory_limit: adv(Slot::MemoryLimit),
            probe_path: if self.chart {
                String::new()
            } else {
                adv(Slot::ProbePath)
            },
            secrets: self
                .secrets
                .iter()
                .map(|(k, e)| SecretEntry {
                    key: k.clone(),
                    value: SecretValue::new(e.value()),
                })
                .collect(),
            runs_as_root: self.advanced && self.runs_as_root,
        }
    }

    /// The values file as typed (advanced path, chart source), if any.
    pub fn values_file(&self) -> Option<String> {
        let v = self.text(Slot::ValuesFile).trim();
        (self.chart && self.advanced && !v.is_empty()).then(|| v.to_string())
    }

    /// Validate the whole request against the tree's facts; keeps each field's messages.
    pub fn revalidate(&mut self, facts: &TreeFacts) {
        self.errors = match validate(&self.input(String::new()), facts) {
            Ok(_) => Vec::new(),
            Err(e) => e,
        };
    }

    /// Every problem found by the last validation.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The message to show under `slot` (only once it was touched).
    pub fn error(&self, slot: Slot) -> Option<&str> {
        if !self.touched.contains(&slot) {
            return None;
        }
        if slot == Slot::ValuesFile
            && let Some(e) = &self.values_error
        {
            return Some(e);
        }
        self.errors
            .iter()
            .find(|e| Slot::of(e.field) == slot)
            .map(|e| e.message.as_str())
    }

    /// Problems of fields that are not shown (a hostname made from a name, say): listed at the
    /// bottom so nothing stays hidden.
    pub fn hidden_errors(&self) -> Vec<&FieldError> {
        let vis = self.visible();
        self.errors
            .iter()
            .filter(|e| !vis.contains(&Slot::of(e.field)))
            .collect()
    }

    /// Show the values file's problem found by the preview task.
    pub fn set_values_error(&mut self, e: String) {
        self.values_error = Some(e);
        self.touched.insert(Slot::ValuesFile);
        self.focus = Slot::ValuesFile;
    }

    /// What an empty field means (the default it takes, or what it expects).
    pub fn placeholder(&self, slot: Slot, facts: Option<&TreeFacts>) -> String {
        let storage_default =
            |longhorn: &str, nfs: &str| if self.storage == 1 { longhorn } else { nfs }.to_string();
        match slot {
            Slot::Name => "required: lowercase letters, digits, '-'".into(),
            Slot::Category => "choose with ← →: media, tools, games, demos".into(),
            Slot::Image => "required: repo/app:1.2.3 or repo/app@sha256:…".into(),
            Slot::ChartRepo => "required: https://… or oci://…".into(),
            Slot::Chart => "required: the chart's name".into(),
            Slot::ChartVersion => "required: an exact version, 1.2.3".into(),
            Slot::ValuesFile => "none (a YAML file, relative to the repository)".into(),
            Slot::Service => format!("{} (the app's name)", self.name_or("<name>")),
            Slot::Port => defaults::PORT.to_string(),
            Slot::Hostname => {
                let zone = facts.map_or("…", |f| {
                    if self.public {
                        &f.public_zone
                    } else {
                        &f.internal_zone
                    }
                });
                format!("{}.{zone}", self.name_or("<name>"))
            }
            Slot::StorageSize => storage_default(defaults::LONGHORN_SIZE, defaults::NFS_SIZE),
            Slot::MountPath => storage_default(defaults::LONGHORN_MOUNT, defaults::NFS_MOUNT),
            Slot::CpuRequest => defaults::CPU_REQUEST.into(),
            Slot::MemoryRequest => defaults::MEMORY_REQUEST.into(),
            Slot::CpuLimit => "none".into(),
            Slot::MemoryLimit => defaults::MEMORY_LIMIT.into(),
            Slot::ProbePath => defaults::PROBE_PATH.into(),
            Slot::SecretKeys => "none (API_TOKEN, DB_PASSWORD)".into(),
            Slot::SecretValue(_) => "required, typed masked".into(),
            Slot::Path | Slot::Source | Slot::Exposure | Slot::Storage | Slot::RunsAsRoot => {
                String::new()
            }
        }
    }

    fn name_or<'a>(&'a self, other: &'a str) -> &'a str {
        let n = self.text(Slot::Name).trim();
        if n.is_empty() { other } else { n }
    }

    /// One line on the focused field.
    pub fn help(&self) -> &'static str {
        match self.focus {
            Slot::Path => {
                "default: what most apps need · advanced: hostname, resources, probe, root, values"
            }
            Slot::Name => "the folder, namespace and Service; unique in the tree",
            Slot::Category => "the memo's app groups: the folder under cluster/kubernetes/apps/",
            Slot::Source => {
                "a container image (Deployment + Service) or a Helm chart (HelmRelease)"
            }
            Slot::Image => "pinned by tag or digest, never latest: git says what runs",
            Slot::ChartRepo => "an https:// Helm repository or an oci:// registry path",
            Slot::Chart | Slot::ChartVersion => "the chart, pinned to an exact version",
            Slot::ValuesFile => "the chart's values: one YAML mapping, kept as written",
            Slot::Service => "the Service the chart creates, which the route sends traffic to",
            Slot::Port => "the container port (image) or the chart Service's port",
            Slot::Exposure => {
                "internal: LAN and tailnet · public: Cloudflare Tunnel, only Jellyfin, Jellyseerr, Navidrome (memo 8.1)"
            }
            Slot::Hostname => "a label, or a whole name one level under the listener's zone",
            Slot::Storage => {
                "longhorn: block, ReadWriteOnce (state) · nfs: the Synology, ReadWriteMany (libraries)"
            }
            Slot::StorageSize => "Mi, Gi or Ti",
            Slot::MountPath => "where the volume is mounted in the container",
            Slot::CpuRequest | Slot::MemoryRequest | Slot::CpuLimit | Slot::MemoryLimit => {
                "a limit is never below its request"
            }
            Slot::ProbePath => "the HTTP path of the readiness and liveness probes",
            Slot::SecretKeys => {
                "environment variables in capitals, comma-separated; their values go SOPS-encrypted"
            }
            Slot::SecretValue(_) => {
                "kept in memory only, encrypted before the preview; Ctrl-R reveals"
            }
            Slot::RunsAsRoot => "yes: the namespace enforces PodSecurity baseline, not restricted",
        }
    }

    fn step(&mut self, forward: bool) {
        let vis = self.visible();
        let i = vis.iter().position(|s| *s == self.focus).unwrap_or(0);
        let n = vis.len();
        self.touched.insert(self.focus);
        self.focus = vis[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }];
    }

    /// Focus a slot (a click, a test).
    pub fn focus_on(&mut self, slot: Slot) {
        if self.visible().contains(&slot) {
            self.touched.insert(self.focus);
            self.focus = slot;
        }
    }

    /// Mark every shown field touched and focus the first with a problem.
    fn submit(&mut self) -> Outcome {
        let vis = self.visible();
        self.touched.extend(vis.iter().copied());
        if self.errors.is_empty() {
            return Outcome::Submit;
        }
        if let Some(s) = vis
            .iter()
            .find(|s| self.errors.iter().any(|e| Slot::of(e.field) == **s))
        {
            self.focus = *s;
        }
        Outcome::Invalid
    }

    /// A key, read through the keymap's `form` context; printable keys edit the focused text
    /// field, ←/→ and Space change a choice. Validates after every change.
    pub fn on_key(&mut self, key: KeyEvent, keymap: &Keymap, facts: &TreeFacts) -> Outcome {
        let out = match keymap.action("form", Key::from_event(&key), true) {
            Some(Action::Close) => Outcome::Cancel,
            Some(Action::NextPane) => {
                self.step(true);
                Outcome::Stay
            }
            Some(Action::PrevPane) => {
                self.step(false);
                Outcome::Stay
            }
            Some(Action::Reveal) => {
                if let Slot::SecretValue(i) = self.focus
                    && let Some((_, e)) = self.secrets.get_mut(i)
                {
                    e.toggle_reveal();
                }
                Outcome::Stay
            }
            Some(Action::Save) => {
                self.revalidate(facts);
                self.submit()
            }
            Some(Action::Select) => {
                let vis = self.visible();
                if vis.last() == Some(&self.focus) {
                    self.revalidate(facts);
                    self.submit()
                } else {
                    self.step(true);
                    Outcome::Stay
                }
            }
            _ => {
                let slot = self.focus;
                // Typing never falls through to the keymap (a `q` in a choice must not leave).
                let typed = matches!(key.code, KeyCode::Char(_))
                    && !key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
                let unused = if typed {
                    Outcome::Stay
                } else {
                    Outcome::Ignored
                };
                if slot.is_choice() {
                    match key.code {
                        KeyCode::Right | KeyCode::Char(' ') => self.cycle(slot, true),
                        KeyCode::Left => self.cycle(slot, false),
                        _ => return unused,
                    }
                } else if let Some(e) = self.edit_mut(slot) {
                    if !e.on_key(key) {
                        return unused;
                    }
                    if slot == Slot::SecretKeys {
                        self.sync_secrets();
                    }
                    if slot == Slot::ValuesFile {
                        self.values_error = None;
                    }
                }
                self.touched.insert(slot);
                Outcome::Stay
            }
        };
        self.revalidate(facts);
        out
    }

    /// Pasted text goes into the focused text field (line breaks dropped: one-line fields).
    pub fn paste(&mut self, text: &str, facts: &TreeFacts) {
        let slot = self.focus;
        let clean: String = text.chars().filter(|c| !c.is_control()).collect();
        if let Some(e) = self.edit_mut(slot) {
            e.insert_str(&clean);
            if slot == Slot::SecretKeys {
                self.sync_secrets();
            }
            self.touched.insert(slot);
        }
        self.revalidate(facts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> TreeFacts {
        TreeFacts {
            internal_zone: "funoffshore.internal".into(),
            public_zone: "funoffshore.com".into(),
            taken: [(
                "podinfo".to_string(),
                "the app folder cluster/kubernetes/apps/demos/podinfo".to_string(),
            )]
            .into_iter()
            .collect(),
            flux_groups: Default::default(),
        }
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, crossterm::event::KeyModifiers::NONE)
    }

    fn type_in(f: &mut Form, text: &str) {
        let km = Keymap::builtin();
        for c in text.chars() {
            f.on_key(key(KeyCode::Char(c)), &km, &facts());
        }
    }

    #[test]
    fn typing_validates_the_field_and_shows_its_message_at_once() {
        let mut f = Form::default();
        f.revalidate(&facts());
        assert_eq!(f.error(Slot::Name), None, "untouched: no message yet");
        type_in(&mut f, "Bad");
        assert!(
            f.error(Slot::Name)
                .is_some_and(|e| e.contains("`Bad` is not a DNS-safe app name")),
            "{:?}",
            f.error(Slot::Name)
        );
        let km = Keymap::builtin();
        for _ in 0..3 {
            f.on_key(key(KeyCode::Backspace), &km, &facts());
        }
        type_in(&mut f, "podinfo");
        assert!(
            f.error(Slot::Name)
                .is_some_and(|e| e.contains("already taken in the tree")),
            "{:?}",
            f.error(Slot::Name)
        );
    }

    #[test]
    fn the_default_path_submits_with_defaults_and_the_advanced_path_adds_fields() {
        let km = Keymap::builtin();
        let mut f = Form::default();
        assert!(!f.visible().contains(&Slot::Hostname));
        type_in(&mut f, "whoami");
        f.focus_on(Slot::Category);
        f.on_key(key(KeyCode::Right), &km, &facts());
        assert_eq!(f.choice(Slot::Category), Some("media"));
        f.focus_on(Slot::Image);
        type_in(&mut f, "traefik/whoami:v1.11.0");
        assert_eq!(f.errors(), &[]);
        let ctrl_s = KeyEvent::new(KeyCode::Char('s'), crossterm::event::KeyModifiers::CONTROL);
        assert_eq!(f.on_key(ctrl_s, &km, &facts()), Outcome::Submit);
        let req = validate(&f.input(String::new()), &facts()).unwrap();
        assert_eq!(req.port, defaults::PORT);
        assert_eq!(req.hostname, "whoami.funoffshore.internal");

        f.focus_on(Slot::Path);
        f.on_key(key(KeyCode::Char(' ')), &km, &facts());
        assert!(f.advanced);
        for s in [
            Slot::Hostname,
            Slot::CpuRequest,
            Slot::ProbePath,
            Slot::RunsAsRoot,
        ] {
            assert!(f.visible().contains(&s), "{s:?}");
        }
    }

    #[test]
    fn a_submit_with_problems_focuses_the_first_and_shows_every_message() {
        let km = Keymap::builtin();
        let mut f = Form::default();
        let ctrl_s = KeyEvent::new(KeyCode::Char('s'), crossterm::event::KeyModifiers::CONTROL);
        assert_eq!(f.on_key(ctrl_s, &km, &facts()), Outcome::Invalid);
        assert_eq!(f.focus, Slot::Name);
        assert!(f.error(Slot::Name).is_some());
        assert!(f.error(Slot::Category).is_some());
        assert!(f.error(Slot::Source).is_some());
    }

    #[test]
    fn secret_keys_get_masked_value_fields_that_keep_their_values() {
        let km = Keymap::builtin();
        let mut f = Form::default();
        f.focus_on(Slot::SecretKeys);
        type_in(&mut f, "API_TOKEN");
        assert!(f.visible().contains(&Slot::SecretValue(0)));
        f.focus_on(Slot::SecretValue(0));
        type_in(&mut f, "s3cret");
        assert!(f.edit(Slot::SecretValue(0)).unwrap().is_secret());
        assert!(!format!("{f:?}").contains("s3cret"));
        f.focus_on(Slot::SecretKeys);
        f.on_key(key(KeyCode::End), &km, &facts());
        type_in(&mut f, ",DB_PASSWORD");
        assert_eq!(f.secret_key(0), "API_TOKEN");
        assert_eq!(f.text(Slot::SecretValue(0)), "s3cret");
        assert_eq!(f.secret_key(1), "DB_PASSWORD");
        // An empty value is a problem of the keys field.
        assert!(
            f.error(Slot::SecretKeys)
                .is_some_and(|e| e.contains("`DB_PASSWORD` has an empty value"))
        );
    }

    #[test]
    fn keys_the_form_does_not_use_go_on_to_the_global_keymap() {
        let km = Keymap::builtin();
        let mut f = Form::default();
        let ctrl_z = KeyEvent::new(KeyCode::Char('z'), KeyModifiers::CONTROL);
        assert_eq!(f.on_key(ctrl_z, &km, &facts()), Outcome::Ignored);
        f.focus_on(Slot::Category);
        // A letter on a choice is swallowed, not `q` = back.
        assert_eq!(
            f.on_key(key(KeyCode::Char('q')), &km, &facts()),
            Outcome::Stay
        );
        assert_eq!(f.choice(Slot::Category), None);
    }

    #[test]
    fn public_exposure_is_refused_with_the_memo_rule_as_you_choose_it() {
        let km = Keymap::builtin();
        let mut f = Form::default();
        type_in(&mut f, "whoami");
        f.focus_on(Slot::Category);
        f.on_key(key(KeyCode::Right), &km, &facts());
        f.focus_on(Slot::Exposure);
        f.on_key(key(KeyCode::Right), &km, &facts());
        assert!(
            f.error(Slot::Exposure)
                .is_some_and(|e| e.contains("the Stage 1 memo (8.1) allows only")),
            "{:?}",
            f.errors()
        );
    }
}
