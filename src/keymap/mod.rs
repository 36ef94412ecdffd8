//! Keys are data: one keymap (embedded `default.toml`, patched by the user's
//! `$XDG_CONFIG_HOME/homelab/keymap.toml`) drives key routing, the `?` help overlay and the
//! footer hints.
//!
//! A context is a registered screen (its registry name: `home`, `wizard`, `console`, `env`,
//! `check`), an overlay (`help`, `palette`, `confirm`) or `global`. The home menu's job keys come
//! from the screen registry too (see [`Keymap::builtin`]). Routing (see `app::route`) asks the top overlay's
//! context, then the focused text input, then the screen's context, then `global`.

mod help;
mod key;
pub(crate) mod load;

pub use help::markdown;
pub use key::Key;
pub use load::{KeymapIssue, load_user};

use crate::msg::Action;
use crate::screens::ScreenId;
use std::collections::HashMap;

/// The keymap shipped in the binary.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// Contexts that are not screens: the overlays' (`Overlay::context`), `form` (the fields of
/// every form) and `conflict` (the env editor's "changed on disk" question).
const OTHER_CONTEXTS: [&str; 5] = ["help", "palette", "confirm", "form", "conflict"];

/// Contexts the app knows: `global`, one per registered screen, the others. A user file
/// naming another context gets a warning.
pub fn contexts() -> impl Iterator<Item = &'static str> {
    std::iter::once("global")
        .chain(ScreenId::ALL.iter().map(|id| id.name()))
        .chain(OTHER_CONTEXTS)
}

pub fn is_context(name: &str) -> bool {
    contexts().any(|c| c == name)
}

/// One binding: any of `keys` runs `action`.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub keys: Vec<Key>,
    pub action: Action,
    pub desc: String,
    /// Footer text when the binding is shown in its context's hint bar (`hint = "open"` in
    /// the file; `hint = true` uses the description).
    pub hint: Option<String>,
}

impl Binding {
    /// `j/↓` - the keys as help and hints show them.
    pub fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(Key::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub name: String,
    pub bindings: Vec<Binding>,
}

/// Two actions claiming one key in one context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub context: String,
    pub key: Key,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Keymap {
    contexts: Vec<Context>,
    index: HashMap<(usize, Key), usize>,
}

impl Keymap {
    /// The embedded default keymap plus the home menu's job keys from the screen registry. It
    /// is tested to parse without issues, so a failure here is a build defect, not user input.
    pub fn builtin() -> Self {
        let (mut map, issues) = load::parse(DEFAULT_TOML, "default keymap", None);
        debug_assert!(issues.is_empty(), "embedded keymap has issues: {issues:?}");
        map.add_jobs();
        map
    }

    /// `open <screen>` for each registered job, in the `home` context after the bindings its
    /// footer shows (a test checks each key parses and is free there).
    fn add_jobs(&mut self) {
        let Some(ci) = self.context_index("home") else {
            return;
        };
        let bindings = &mut self.contexts[ci].bindings;
        let at = bindings
            .iter()
            .rposition(|b| b.hint.is_some())
            .map_or(0, |i| i + 1);
        let jobs: Vec<Binding> = ScreenId::jobs()
            .filter_map(|id| {
                let job = id.info().job?;
                Some(Binding {
                    keys: Key::parse(job.key).into_iter().collect(),
                    action: Action::Open(id),
                    desc: job.desc.to_owned(),
                    hint: None,
                })
            })
            .collect();
        bindings.splice(at..at, jobs);
        self.reindex();
    }

    pub(crate) fn from_contexts(contexts: Vec<Context>) -> Self {
        let mut map = Self {
            contexts,
            index: HashMap::new(),
        };
        map.reindex();
        map
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (ci, ctx) in self.contexts.iter().enumerate() {
            for (bi, b) in ctx.bindings.iter().enumerate() {
                for k in &b.keys {
                    // First binding wins, as in the file; conflicts are reported separately.
                    self.index.entry((ci, *k)).or_insert(bi);
                }
            }
        }
    }

    fn context_index(&self, name: &str) -> Option<usize> {
        self.contexts.iter().position(|c| c.name == name)
    }

    /// The binding for `key` in exactly this context (no fallback).
    pub fn lookup(&self, context: &str, key: Key) -> Option<&Binding> {
        let ci = self.context_index(context)?;
        self.index
            .get(&(ci, key))
            .map(|&bi| &self.contexts[ci].bindings[bi])
    }

    /// Bindings of one context in file order (empty for an unknown context).
    pub fn bindings(&self, context: &str) -> &[Binding] {
        self.context_index(context)
            .map(|ci| self.contexts[ci].bindings.as_slice())
            .unwrap_or(&[])
    }

    /// Footer hints of one context.
    pub fn hints<'a>(&'a self, context: &str) -> impl Iterator<Item = &'a Binding> + 'a {
        self.bindings(context)
            .iter()
            .filter(|b| b.hint.is_some() && !b.keys.is_empty())
    }

    /// The footer of a screen: its own hints, then the global ones whose keys it does not rebind.
    pub fn footer_hints<'a>(&'a self, context: &'a str) -> impl Iterator<Item = &'a Binding> + 'a {
        let shadowed =
            move |b: &&Binding| b.keys.iter().any(|k| self.lookup(context, *k).is_some());
        self.hints(context)
            .chain(self.hints("global").filter(move |b| !shadowed(b)))
    }

    /// The first key bound to `action` in `context`, for "press X to ..." texts.
    pub fn key_for(&self, context: &str, action: &Action) -> Option<Key> {
        self.bindings(context)
            .iter()
            .find(|b| &b.action == action)
            .and_then(|b| b.keys.first().copied())
    }

    /// The label of the key that runs `action` in `context` (`ctrl-s`), for hints drawn by a
    /// view; `None` when nothing is bound. With `typing` (a text field has the keyboard) keys
    /// that type a character are skipped: they go into the field.
    pub fn label(&self, context: &str, action: &Action, typing: bool) -> Option<String> {
        self.bindings(context)
            .iter()
            .filter(|b| &b.action == action)
            .flat_map(|b| b.keys.iter())
            .find(|k| !(typing && k.is_text()))
            .map(Key::to_string)
    }

    /// The action `key` runs in `context` (no fallback); with `typing`, keys that type a
    /// character run nothing (they go into the field).
    pub fn action(&self, context: &str, key: Key, typing: bool) -> Option<&Action> {
        if typing && key.is_text() {
            return None;
        }
        self.lookup(context, key).map(|b| &b.action)
    }

    pub fn contexts(&self) -> &[Context] {
        &self.contexts
    }

    /// Keys bound to more than one action within one context.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut out = Vec::new();
        for ctx in &self.contexts {
            let mut seen: Vec<(Key, Vec<String>)> = Vec::new();
            for b in &ctx.bindings {
                for k in &b.keys {
                    match seen.iter_mut().find(|(sk, _)| sk == k) {
                        Some((_, actions)) => {
                            let name = b.action.to_string();
                            if !actions.contains(&name) {
                                actions.push(name);
                            }
                        }
                        None => seen.push((*k, vec![b.action.to_string()])),
                    }
                }
            }
            out.extend(
                seen.into_iter()
                    .filter(|(_, a)| a.len() > 1)
                    .map(|(key, actions)| Conflict {
                        context: ctx.name.clone(),
                        key,
                        actions,
                    }),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyCode;

    #[test]
    fn default_keymap_parses_cleanly_and_has_no_conflicts() {
        let (_, issues) = load::parse(DEFAULT_TOML, "default.toml", None);
        assert_eq!(issues, vec![]);
        let map = Keymap::builtin();
        assert_eq!(map.conflicts(), vec![]);
        for ctx in map.contexts() {
            assert!(is_context(&ctx.name), "unknown context {}", ctx.name);
            for b in &ctx.bindings {
                assert!(!b.desc.is_empty(), "{}: {} has no desc", ctx.name, b.action);
            }
        }
    }

    /// Each registered job opens with its registry key on the home screen, and only there.
    #[test]
    fn job_keys_come_from_the_screen_registry() {
        let map = Keymap::builtin();
        let jobs: Vec<ScreenId> = ScreenId::jobs().collect();
        assert!(!jobs.is_empty());
        for id in jobs {
            let job = id.info().job.expect("a job");
            let key = Key::parse(job.key).expect("registry key parses");
            assert_eq!(
                map.lookup("home", key).map(|b| &b.action),
                Some(&Action::Open(id)),
                "{}",
                job.key
            );
            assert_eq!(map.key_for("home", &Action::Open(id)), Some(key));
        }
        assert!(is_context("scaffold"), "a registered screen is a context");
        assert!(!is_context("demo"), "only built screens are contexts");
    }

    #[test]
    fn required_actions_have_keys() {
        let map = Keymap::builtin();
        for (ctx, action) in [
            ("global", Action::Help),
            ("global", Action::Palette),
            ("global", Action::Back),
            ("global", Action::Close),
            ("global", Action::Cancel),
            ("global", Action::Up),
            ("global", Action::Down),
            ("home", Action::Select),
            ("help", Action::Close),
            ("palette", Action::Select),
            ("confirm", Action::Confirm),
        ] {
            assert!(
                map.key_for(ctx, &action).is_some(),
                "{ctx}: no key for {action}"
            );
        }
    }

    #[test]
    fn labels_come_from_the_bindings_and_skip_typing_keys() {
        let map = Keymap::builtin();
        assert_eq!(
            map.label("confirm", &Action::Close, false).as_deref(),
            Some("n")
        );
        assert_eq!(
            map.label("confirm", &Action::Close, true).as_deref(),
            Some("Esc")
        );
        assert_eq!(
            map.label("form", &Action::Save, true).as_deref(),
            Some("Ctrl-s")
        );
        assert_eq!(map.label("form", &Action::Confirm, false), None);
        let user = r#"
form = [
  { keys = ["f2"], run = "save" },
]
"#;
        let (mut map, issues) = load::parse(DEFAULT_TOML, "default.toml", None);
        assert_eq!(issues, vec![]);
        let (patched, issues) = load::parse(user, "keymap.toml", Some(&map));
        assert_eq!(issues, vec![]);
        map = patched;
        assert_eq!(
            map.label("form", &Action::Save, true).as_deref(),
            Some("F2")
        );
        let f2 = Key::parse("f2").unwrap();
        assert_eq!(map.action("form", f2, true), Some(&Action::Save));
        let y = Key::plain(KeyCode::Char('y'));
        assert_eq!(map.action("confirm", y, false), Some(&Action::Confirm));
        assert_eq!(map.action("confirm", y, true), None, "typed into the field");
    }

    #[test]
    fn lookup_is_per_context() {
        let map = Keymap::builtin();
        let q = Key::plain(KeyCode::Char('q'));
        assert_eq!(
            map.lookup("global", q).map(|b| &b.action),
            Some(&Action::Back)
        );
        assert_eq!(map.lookup("palette", q), None);
        let j = Key::plain(KeyCode::Char('j'));
        assert_eq!(
            map.lookup("global", j).map(|b| &b.action),
            Some(&Action::Down)
        );
    }

    #[test]
    fn conflicts_are_detected() {
        let src = r#"
global = [
  { keys = ["x"], run = "quit", desc = "Quit" },
  { keys = ["y", "x"], run = "help", desc = "Help" },
]
"#;
        let (map, issues) = load::parse(src, "k.toml", None);
        assert_eq!(issues, vec![]);
        assert_eq!(
            map.conflicts(),
            vec![Conflict {
                context: "global".into(),
                key: Key::plain(KeyCode::Char('x')),
                actions: vec!["quit".into(), "help".into()]
            }]
        );
        // The first binding in file order wins the lookup.
        assert_eq!(
            map.lookup("global", Key::plain(KeyCode::Char('x')))
                .map(|b| &b.action),
            Some(&Action::Quit)
        );
    }
}
