//! Theme files: builtin (embedded from `themes/`) plus user files, merged and resolved with
//! located warnings. A broken slot keeps the value it inherits; a file with a syntax error is
//! skipped as a whole; an unknown theme falls back to the default. Nothing here is fatal.

use super::Theme;
use crate::diag::Diagnostic;
use ratatui::style::{Color, Modifier, Style};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_THEME: &str = "homelab-dark";

/// Builtin themes, name and TOML source, in the order the palette lists them.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "homelab-dark",
        include_str!("../../themes/homelab-dark.toml"),
    ),
    (
        "homelab-light",
        include_str!("../../themes/homelab-light.toml"),
    ),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    (
        "catppuccin-mocha",
        include_str!("../../themes/catppuccin-mocha.toml"),
    ),
];

const MODIFIERS: &[(&str, Modifier)] = &[
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("reversed", Modifier::REVERSED),
    ("crossed_out", Modifier::CROSSED_OUT),
];

/// One theme source: builtin text or a user file read at startup.
#[derive(Debug, Clone)]
struct Source {
    name: String,
    /// As shown in diagnostics: `themes/homelab-dark.toml` or the user file's path.
    file: String,
    text: String,
}

/// Every theme the app can switch to. User files are read once (at startup), so switching
/// themes later never touches the disk.
#[derive(Debug, Clone, Default)]
pub struct ThemeCatalog {
    user: Vec<Source>,
}

type Loc = (String, usize, usize);

/// Slot and palette specs from every layer, oldest first.
#[derive(Default)]
struct Merged {
    palette: BTreeMap<String, Vec<(String, Loc)>>,
    slots: BTreeMap<(String, String), Vec<(toml::Value, Loc)>>,
}

impl ThemeCatalog {
    /// Builtin themes only.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// Builtins plus every `*.toml` in `dir` (missing dir: builtins only).
    pub fn with_user_dir(dir: &Path) -> (Self, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let mut user = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Self { user }, diags),
            Err(e) => {
                diags.push(Diagnostic::new(
                    dir.display().to_string(),
                    0,
                    0,
                    format!("cannot read theme directory: {e}"),
                ));
                return (Self { user }, diags);
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match std::fs::read_to_string(&path) {
                Ok(text) => user.push(Source {
                    name,
                    file: crate::diag::tilde(&path),
                    text,
                }),
                Err(e) => diags.push(Diagnostic::new(
                    crate::diag::tilde(&path),
                    0,
                    0,
                    format!("cannot read: {e}"),
                )),
            }
        }
        (Self { user }, diags)
    }

    /// A catalog with user themes given as text (tests, and `--theme-file` style callers).
    pub fn with_user_sources(sources: impl IntoIterator<Item = (String, String, String)>) -> Self {
        let user = sources
            .into_iter()
            .map(|(name, file, text)| Source { name, file, text })
            .collect();
        Self { user }
    }

    /// Builtin names in order, then user-only names sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = BUILTIN.iter().map(|(n, _)| (*n).to_owned()).collect();
        for s in &self.user {
            if !names.contains(&s.name) {
                names.push(s.name.clone());
            }
        }
        names
    }

    /// Resolve a theme by name. Always returns a usable theme; problems come back as
    /// diagnostics naming file, line and key.
    pub fn load(&self, name: &str) -> (Theme, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let mut merged = Merged::default();
        if !self.merge(name, &mut merged, &mut diags, 0) {
            diags.push(Diagnostic::new(
                name,
                0,
                0,
                format!(
                    "unknown theme `{name}` (available: {}); using {DEFAULT_THEME}",
                    self.names().join(", ")
                ),
            ));
            merged = Merged::default();
            self.merge(DEFAULT_THEME, &mut merged, &mut diags, 0);
        }
        let mut theme = resolve(&merged, &mut diags);
        theme.name = name.to_owned();
        if diags.iter().any(|d| d.message.starts_with("unknown theme")) {
            theme.name = DEFAULT_THEME.to_owned();
        }
        (theme, diags)
    }

    fn sources(&self, name: &str) -> Vec<Source> {
        let builtin = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| Source {
                name: (*n).to_owned(),
                file: format!("themes/{n}.toml"),
                text: (*text).to_owned(),
            });
        builtin
            .into_iter()
            .chain(self.user.iter().filter(|s| s.name == name).cloned())
            .collect()
    }

    /// Merge `name` (its parent first) into `out`. False when no source for `name` exists.
    fn merge(
        &self,
        name: &str,
        out: &mut Merged,
        diags: &mut Vec<Diagnostic>,
        depth: usize,
    ) -> bool {
        let sources = self.sources(name);
        if sources.is_empty() {
            return false;
        }
        let mut tables = Vec::new();
        for s in &sources {
            match s.text.parse::<toml::Table>() {
                Ok(t) => tables.push((s, t)),
                Err(e) => {
                    let offset = e.span().map(|r| r.start).unwrap_or(0);
                    let key = key_at(&s.text, offset);
                    diags.push(Diagnostic::at_offset(
                        &s.file,
                        &s.text,
                        offset,
                        format!("{key}{}; theme file ignored", e.message().trim()),
                    ));
                }
            }
        }
        let parent = tables.iter().rev().find_map(|(s, t)| {
            t.get("inherits")
                .and_then(|v| v.as_str())
                .map(|p| (s, p.to_owned()))
        });
        match parent {
            Some((s, p)) if depth < 8 && p != name && !self.merge(&p, out, diags, depth + 1) => {
                let (line, col) = locate(&s.text, None, "inherits");
                diags.push(Diagnostic::new(
                    &s.file,
                    line,
                    col,
                    format!("inherits: unknown theme `{p}`"),
                ));
            }
            Some((_, p)) if depth < 8 && p != name => {}
            Some((s, p)) => {
                let (line, col) = locate(&s.text, None, "inherits");
                diags.push(Diagnostic::new(
                    &s.file,
                    line,
                    col,
                    format!("inherits: `{p}` makes a cycle; ignored"),
                ));
            }
            None if name != DEFAULT_THEME => {
                self.merge(DEFAULT_THEME, out, diags, depth + 1);
            }
            None => {}
        }
        for (s, table) in &tables {
            merge_table(s, table, out, diags);
        }
        true
    }
}

fn merge_table(s: &Source, table: &toml::Table, out: &mut Merged, diags: &mut Vec<Diagnostic>) {
    let loc = |section: Option<&str>, key: &str| {
        let (line, col) = locate(&s.text, section, key);
        (s.file.clone(), line, col)
    };
    for (top, value) in table {
        match (top.as_str(), value) {
            ("name" | "inherits" | "$schema", toml::Value::String(_)) => {}
            ("palette", toml::Value::Table(p)) => {
                for (k, v) in p {
                    let l = loc(Some("palette"), k);
                    match v.as_str() {
                        Some(c) => out
                            .palette
                            .entry(k.clone())
                            .or_default()
                            .push((c.to_owned(), l)),
                        None => diags.push(Diagnostic::new(
                            l.0,
                            l.1,
                            l.2,
                            format!("[palette] {k}: expected a colour string"),
                        )),
                    }
                }
            }
            (section, toml::Value::Table(slots)) if Theme::section_keys(section).is_some() => {
                let known = Theme::section_keys(section).unwrap_or_default();
                for (k, v) in slots {
                    let l = loc(Some(section), k);
                    if known.contains(&k.as_str()) {
                        out.slots
                            .entry((section.to_owned(), k.clone()))
                            .or_default()
                            .push((v.clone(), l));
                    } else {
                        diags.push(Diagnostic::new(
                            l.0,
                            l.1,
                            l.2,
                            format!(
                                "[{section}] unknown key `{k}` (known: {}); ignored",
                                known.join(", ")
                            ),
                        ));
                    }
                }
            }
            (other, _) => {
                let l = loc(None, other);
                diags.push(Diagnostic::new(
                    l.0,
                    l.1,
                    l.2,
                    format!(
                        "unknown entry `{other}` (expected name, inherits, [palette] or a section: {}); ignored",
                        Theme::SECTIONS.join(", ")
                    ),
                ));
            }
        }
    }
}

fn resolve(m: &Merged, diags: &mut Vec<Diagnostic>) -> Theme {
    let mut palette: BTreeMap<&str, Color> = BTreeMap::new();
    for (name, specs) in &m.palette {
        // Newest valid value wins; every invalid one is reported.
        for (text, (file, line, col)) in specs.iter().rev() {
            match text.parse::<Color>() {
                Ok(c) => {
                    palette.insert(name, c);
                    break;
                }
                Err(_) => diags.push(Diagnostic::new(
                    file,
                    *line,
                    *col,
                    format!("[palette] {name}: invalid colour `{text}` (expected #rrggbb, a colour name or 0-255)"),
                )),
            }
        }
    }
    let mut theme = Theme::default();
    for ((section, key), specs) in &m.slots {
        for (value, (file, line, col)) in specs.iter().rev() {
            match style_from(value, &palette) {
                Ok(style) => {
                    if let Some(slot) = theme.slot_mut(section, key) {
                        *slot = style;
                    }
                    break;
                }
                Err(e) => diags.push(Diagnostic::new(
                    file,
                    *line,
                    *col,
                    format!("[{section}] {key}: {e}"),
                )),
            }
        }
    }
    theme
}

fn color(text: &str, palette: &BTreeMap<&str, Color>) -> Result<Color, String> {
    palette.get(text).copied().or_else(|| text.parse().ok()).ok_or_else(|| {
        format!("unknown colour `{text}` (expected a [palette] name, #rrggbb, a colour name or 0-255)")
    })
}

/// `"accent"` (foreground only) or `{ fg = "accent", bg = "bg", bold = true, ... }`.
fn style_from(value: &toml::Value, palette: &BTreeMap<&str, Color>) -> Result<Style, String> {
    match value {
        toml::Value::String(fg) => Ok(Style::new().fg(color(fg, palette)?)),
        toml::Value::Table(t) => {
            let mut style = Style::new();
            for (k, v) in t {
                match (k.as_str(), v) {
                    ("fg", toml::Value::String(c)) => style = style.fg(color(c, palette)?),
                    ("bg", toml::Value::String(c)) => style = style.bg(color(c, palette)?),
                    (m, toml::Value::Boolean(on)) if MODIFIERS.iter().any(|(n, _)| *n == m) => {
                        let flag = MODIFIERS
                            .iter()
                            .find(|(n, _)| *n == m)
                            .map(|(_, f)| *f)
                            .unwrap_or_default();
                        if *on {
                            style = style.add_modifier(flag);
                        } else {
                            style = style.remove_modifier(flag);
                        }
                    }
                    (k, _) => {
                        return Err(format!(
                            "invalid `{k}` (expected fg/bg = \"colour\" or {} = true/false)",
                            MODIFIERS
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join("/")
                        ));
                    }
                }
            }
            Ok(style)
        }
        _ => {
            Err("expected a colour string or a table like { fg = \"accent\", bold = true }".into())
        }
    }
}

/// 1-based line and column of `key` inside `[section]` (or at the top level), found in the
/// source text. (0, 0) when not found.
fn locate(text: &str, section: Option<&str>, key: &str) -> (usize, usize) {
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix('[') {
            current = rest
                .split(']')
                .next()
                .map(|s| s.trim().trim_matches('"').to_owned());
            continue;
        }
        if current.as_deref() != section {
            continue;
        }
        let bare = trimmed.trim_start_matches('"');
        if let Some(after) = bare.strip_prefix(key) {
            let after = after.trim_start_matches('"').trim_start();
            if after.starts_with('=') {
                return (i + 1, line.len() - trimmed.len() + 1);
            }
        }
    }
    (0, 0)
}

/// `[section] key: ` for the line holding `offset`, to name the key in a syntax error.
fn key_at(text: &str, offset: usize) -> String {
    let (line_no, _) = crate::diag::line_col(text, offset);
    let mut section = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if i + 1 > line_no {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            section = rest.split(']').next().map(|s| s.trim().to_owned());
        } else if i + 1 == line_no
            && let Some((k, _)) = trimmed.split_once('=')
        {
            let k = k.trim().trim_matches('"');
            return match &section {
                Some(s) => format!("[{s}] {k}: "),
                None => format!("{k}: "),
            };
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, text: &str) -> ThemeCatalog {
        ThemeCatalog::with_user_sources([(
            name.to_owned(),
            format!("user/{name}.toml"),
            text.to_owned(),
        )])
    }

    #[test]
    fn every_builtin_theme_loads_without_diagnostics_and_sets_every_slot() {
        let cat = ThemeCatalog::builtin();
        let (dark, _) = cat.load(DEFAULT_THEME);
        for (name, _) in BUILTIN {
            let (theme, diags) = cat.load(name);
            assert_eq!(diags, vec![], "{name}");
            assert_eq!(theme.name, *name);
            if *name != DEFAULT_THEME {
                assert_ne!(theme, dark, "{name} looks exactly like the default");
            }
        }
        // The default defines every slot explicitly (others inherit from it).
        let text = BUILTIN[0].1.parse::<toml::Table>().unwrap();
        for section in Theme::SECTIONS {
            let t = text
                .get(*section)
                .and_then(|v| v.as_table())
                .unwrap_or_else(|| panic!("no [{section}]"));
            for key in Theme::section_keys(section).unwrap() {
                assert!(t.contains_key(*key), "homelab-dark lacks [{section}] {key}");
            }
        }
    }

    #[test]
    fn user_file_overlays_builtin_of_same_name() {
        let cat = user(
            "homelab-dark",
            "[palette]\naccent = \"#ff0000\"\n[ui]\nborder = { fg = \"green\" }\n",
        );
        let (t, diags) = cat.load("homelab-dark");
        assert_eq!(diags, vec![]);
        assert_eq!(t.ui.border.fg, Some(Color::Green));
        assert_eq!(t.ui.accent.fg, Some(Color::Rgb(255, 0, 0)));
        // Untouched slots keep the builtin value.
        assert_eq!(
            t.ui.title,
            ThemeCatalog::builtin().load("homelab-dark").0.ui.title
        );
    }

    #[test]
    fn bad_slot_names_file_line_key_and_keeps_inherited_value() {
        let cat = user(
            "mine",
            "inherits = \"homelab-light\"\n\n[ui]\nborder = { fg = \"nope\" }\nbordr = \"red\"\n",
        );
        let (t, diags) = cat.load("mine");
        let msgs: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            vec![
                "user/mine.toml:5:1: [ui] unknown key `bordr` (known: base, text, muted, accent, border, border_focused, title, title_focused, selection, selection_unfocused, key, key_desc, header, top_bar, top_bar_title, bottom_bar, status_text, dim, overlay, overlay_border, overlay_title, input, input_placeholder, match_highlight, scrollbar); ignored",
                "user/mine.toml:4:1: [ui] border: unknown colour `nope` (expected a [palette] name, #rrggbb, a colour name or 0-255)",
            ]
        );
        assert_eq!(
            t.ui.border,
            ThemeCatalog::builtin().load("homelab-light").0.ui.border
        );
        assert_eq!(t.name, "mine");
    }

    #[test]
    fn syntax_error_names_key_and_falls_back() {
        let cat = user("broken", "[ui]\nborder = { fg = \"red\"\n");
        let (t, diags) = cat.load("broken");
        assert_eq!(diags.len(), 1, "{diags:?}");
        let msg = diags[0].to_string();
        assert!(msg.starts_with("user/broken.toml:2:"), "{msg}");
        assert!(msg.contains("[ui] border: "), "{msg}");
        assert!(msg.ends_with("; theme file ignored"), "{msg}");
        assert_eq!(
            t.ui.border,
            ThemeCatalog::builtin().load(DEFAULT_THEME).0.ui.border
        );
    }

    #[test]
    fn terminal_background_picks_light_or_dark() {
        use super::super::for_terminal_background as pick;
        assert_eq!(pick(Some("0;15")), Some("homelab-light"));
        assert_eq!(pick(Some("15;default;0")), Some("homelab-dark"));
        assert_eq!(pick(Some("12;7")), Some("homelab-light"));
        assert_eq!(pick(Some("garbage")), None);
        assert_eq!(pick(None), None);
    }

    #[test]
    fn unknown_theme_falls_back_to_default() {
        let (t, diags) = ThemeCatalog::builtin().load("solarized");
        assert_eq!(t.name, DEFAULT_THEME);
        assert_eq!(
            diags[0].to_string(),
            "solarized: unknown theme `solarized` (available: homelab-dark, homelab-light, high-contrast, catppuccin-mocha); using homelab-dark"
        );
    }

    #[test]
    fn no_color_strips_colours_but_keeps_selection_visible() {
        let (t, _) = ThemeCatalog::builtin().load(DEFAULT_THEME);
        let m = t.without_colors();
        assert_eq!(m.ui.selection.bg, None);
        assert_eq!(m.ui.selection.fg, None);
        assert!(m.ui.selection.add_modifier.contains(Modifier::REVERSED));
        assert!(!m.ui.base.add_modifier.contains(Modifier::REVERSED));
    }

    /// Damaged user themes never panic and always produce a usable theme.
    #[test]
    fn damaged_user_themes_never_panic() {
        let text = BUILTIN[1].1;
        for cut in (0..text.len())
            .step_by(5)
            .filter(|c| text.is_char_boundary(*c))
        {
            let (t, diags) = user("homelab-light", &text[..cut]).load("homelab-light");
            assert_eq!(t.name, "homelab-light");
            assert!(
                diags
                    .iter()
                    .all(|d| d.to_string().starts_with("user/homelab-light.toml")),
                "{diags:?}"
            );
        }
    }
}
