//! Parsing keymap TOML (the embedded default and a user override) with located diagnostics.

use super::{Binding, CONTEXTS, Context, Key, Keymap};
use crate::diag::Diagnostic;
use crate::msg::Action;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// A problem in a keymap file; the binding is skipped or the conflict resolved as described.
pub type KeymapIssue = Diagnostic;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    keys: Spanned<Vec<Spanned<String>>>,
    run: Spanned<String>,
    #[serde(default)]
    desc: Option<String>,
    #[serde(default)]
    hint: Option<Hint>,
}

/// `hint = true` (footer shows the description) or `hint = "short text"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Hint {
    Show(bool),
    Text(String),
}

/// Parse `source`. With `base`, the file patches it: a binding for an action replaces that
/// action's keys in its context (keeping the default description unless given); a key already
/// used by another action in the context moves to the new binding and is reported.
pub(crate) fn parse(source: &str, file: &str, base: Option<&Keymap>) -> (Keymap, Vec<KeymapIssue>) {
    let mut issues = Vec::new();
    let mut contexts: Vec<Context> = base.map(|b| b.contexts.clone()).unwrap_or_default();
    let raw: BTreeMap<String, Spanned<Vec<RawBinding>>> = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(e) => {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            issues.push(Diagnostic::at_offset(
                file,
                source,
                offset,
                format!("{}; file ignored", e.message().trim()),
            ));
            return (Keymap::from_contexts(contexts), issues);
        }
    };
    // Contexts in file order (BTreeMap sorts; the spans keep the order the user wrote).
    let mut raw: Vec<(String, Spanned<Vec<RawBinding>>)> = raw.into_iter().collect();
    raw.sort_by_key(|(_, v)| v.span().start);

    for (name, bindings) in raw {
        let span = bindings.span();
        if !CONTEXTS.contains(&name.as_str()) {
            issues.push(Diagnostic::at_offset(
                file,
                source,
                span.start,
                format!(
                    "unknown context `{name}` (expected one of: {}); ignored",
                    CONTEXTS.join(", ")
                ),
            ));
            continue;
        }
        let ci = match contexts.iter().position(|c| c.name == name) {
            Some(ci) => ci,
            None => {
                contexts.push(Context {
                    name: name.clone(),
                    bindings: Vec::new(),
                });
                contexts.len() - 1
            }
        };
        for rb in bindings.into_inner() {
            let action: Action = match rb.run.get_ref().parse() {
                Ok(a) => a,
                Err(e) => {
                    issues.push(Diagnostic::at_offset(
                        file,
                        source,
                        rb.run.span().start,
                        format!("[{name}] {e}; binding ignored"),
                    ));
                    continue;
                }
            };
            let mut keys = Vec::new();
            for k in rb.keys.get_ref() {
                match Key::parse(k.get_ref()) {
                    Ok(key) if !keys.contains(&key) => keys.push(key),
                    Ok(_) => {}
                    Err(e) => issues.push(Diagnostic::at_offset(
                        file,
                        source,
                        k.span().start,
                        format!("[{name}] {e}"),
                    )),
                }
            }
            let ctx = &mut contexts[ci];
            let previous = ctx.bindings.iter().position(|b| b.action == action);
            let desc = rb
                .desc
                .or_else(|| previous.map(|i| ctx.bindings[i].desc.clone()))
                .unwrap_or_default();
            if desc.is_empty() {
                issues.push(Diagnostic::at_offset(
                    file,
                    source,
                    rb.run.span().start,
                    format!(
                        "[{name}] binding for `{action}` needs `desc` (the help overlay shows it)"
                    ),
                ));
            }
            let hint = match rb.hint {
                Some(Hint::Show(true)) => Some(desc.to_lowercase()),
                Some(Hint::Show(false)) => None,
                Some(Hint::Text(t)) => Some(t),
                None => previous.and_then(|i| ctx.bindings[i].hint.clone()),
            };
            if base.is_some() {
                // Patch: steal keys from other actions, reporting each.
                for other in ctx.bindings.iter_mut().filter(|b| b.action != action) {
                    let before = other.keys.len();
                    other.keys.retain(|k| !keys.contains(k));
                    if other.keys.len() != before {
                        issues.push(Diagnostic::at_offset(
                            file,
                            source,
                            rb.keys.span().start,
                            format!(
                                "[{name}] conflict: a key of `{action}` was bound to `{}`; `{action}` now has it",
                                other.action
                            ),
                        ));
                    }
                }
            }
            let binding = Binding {
                keys,
                action,
                desc,
                hint,
            };
            match previous {
                Some(i) => ctx.bindings[i] = binding,
                None => ctx.bindings.push(binding),
            }
        }
    }
    let map = Keymap::from_contexts(contexts);
    if base.is_some() {
        for c in map.conflicts() {
            issues.push(Diagnostic::new(
                file,
                0,
                0,
                format!(
                    "[{}] conflict: `{}` is bound to {}; the first wins",
                    c.context,
                    c.key,
                    c.actions.join(" and ")
                ),
            ));
        }
    }
    (map, issues)
}

/// The builtin keymap patched by the user's file at `path`, if it exists. Problems are returned
/// (the app shows them as a toast), never fatal.
pub fn load_user(path: &Path) -> (Keymap, Vec<KeymapIssue>) {
    let base = Keymap::builtin();
    match std::fs::read_to_string(path) {
        Ok(src) => parse(&src, &crate::diag::tilde(path), Some(&base)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (base, Vec::new()),
        Err(e) => (
            base,
            vec![Diagnostic::new(
                crate::diag::tilde(path),
                0,
                0,
                format!("cannot read: {e}"),
            )],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyCode;

    fn user(src: &str) -> (Keymap, Vec<String>) {
        let (map, issues) = parse(src, "keymap.toml", Some(&Keymap::builtin()));
        (map, issues.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn user_rebinding_replaces_keys_and_keeps_desc() {
        let (map, issues) = user("home = [ { keys = [\"o\"], run = \"select\" } ]\n");
        assert_eq!(issues, Vec::<String>::new());
        let b = map.lookup("home", Key::plain(KeyCode::Char('o'))).unwrap();
        assert_eq!(b.action, Action::Select);
        assert!(!b.desc.is_empty());
        assert_eq!(map.lookup("home", Key::plain(KeyCode::Enter)), None);
    }

    #[test]
    fn user_conflict_is_reported_and_user_wins() {
        let (map, issues) = user("global = [\n  { keys = [\"q\"], run = \"help\" },\n]\n");
        assert_eq!(
            issues,
            vec![
                "keymap.toml:2:12: [global] conflict: a key of `help` was bound to `back`; `help` now has it"
            ]
        );
        assert_eq!(
            map.lookup("global", Key::plain(KeyCode::Char('q')))
                .unwrap()
                .action,
            Action::Help
        );
        assert_eq!(map.conflicts(), vec![]);
    }

    #[test]
    fn bad_entries_name_line_and_column() {
        let (_, issues) = user(
            "global = [\n  { keys = [\"hyper-x\"], run = \"help\" },\n  { keys = [\"z\"], run = \"fly\" },\n]\nnowhere = []\n",
        );
        assert_eq!(
            issues,
            vec![
                "keymap.toml:2:13: [global] unknown key `hyper-x` (expected a single character, a name such as enter, esc, tab, up, pagedown, f5, optionally with ctrl-/alt-/shift-)",
                "keymap.toml:3:25: [global] unknown action `fly`; binding ignored",
                "keymap.toml:5:11: unknown context `nowhere` (expected one of: global, home, wizard, console, env, scaffold, check, help, palette, confirm, form); ignored",
            ]
        );
    }

    #[test]
    fn syntax_error_keeps_defaults() {
        let (map, issues) = user("global = [ { keys = [\"x\" } ]\n");
        assert_eq!(issues.len(), 1);
        assert!(issues[0].starts_with("keymap.toml:1:"), "{issues:?}");
        assert!(issues[0].ends_with("; file ignored"), "{issues:?}");
        assert_eq!(
            map.lookup("global", Key::plain(KeyCode::Char('?')))
                .unwrap()
                .action,
            Action::Help
        );
    }

    /// Damaged user keymaps never panic; the builtin bindings survive what cannot be read.
    #[test]
    fn damaged_user_keymaps_never_panic() {
        let text = crate::keymap::DEFAULT_TOML;
        for cut in (0..text.len())
            .step_by(11)
            .filter(|c| text.is_char_boundary(*c))
        {
            let (map, _) = parse(&text[..cut], "keymap.toml", Some(&Keymap::builtin()));
            assert!(map.lookup("global", Key::parse("?").unwrap()).is_some());
        }
    }
}
