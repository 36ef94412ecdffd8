//! The layering as a checked fact: every `src/**/*.rs` file's `crate::...` paths, per top-level
//! module, against the one table of allowed directions below ([`LAYERS`]).
//! docs/code-layout.md ("Layers") prints the same table for people; change both together.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every top-level module of the library and the top-level modules it may use. A module not
/// listed here fails the test: place it in the table first.
const LAYERS: &[(&str, &[&str])] = &[
    // The single write, lock and quoting primitives (issue 12): every layer may use them, they
    // use nothing of ours.
    ("atomic_write", &[]),
    ("lockfile", &[]),
    ("shell_quote", &[]),
    // Plain data and parsers: nothing above them.
    ("diag", &[]),
    ("domain", &["diag"]),
    ("config", &["diag", "domain"]),
    ("theme", &["diag", "domain"]),
    ("settings", &["diag", "domain"]),
    ("logging", &["diag"]),
    ("editor", &["diag"]),
    ("cli", &[]),
    // Peers and files: no TUI, no stages, no commands.
    ("secrets", &["diag", "domain", "config"]),
    ("backends", &["diag", "domain", "config", "secrets"]),
    ("sim", &["diag", "domain", "config", "backends", "secrets"]),
    ("repo", &["diag", "domain", "config", "backends", "secrets"]),
    // App scaffolding (request model, manifests, plan, commit): the tree and SOPS, no TUI.
    (
        "scaffold",
        &["diag", "domain", "config", "backends", "secrets", "repo"],
    ),
    // Stage logic: below the TUI. `cli` for the headless runner's BootstrapArgs.
    (
        "stages",
        &[
            "diag", "domain", "config", "backends", "secrets", "repo", "cli",
        ],
    ),
    // Reusable drawing pieces: the theme, never the app.
    ("widgets", &["diag", "domain", "theme", "keymap"]),
    // The TUI: one layer whose parts use each other, never `commands`.
    ("keymap", TUI),
    ("msg", TUI),
    ("app", TUI),
    ("runtime", TUI),
    ("screens", TUI),
    ("overlays", TUI),
    // Every subcommand's entry point: may use everything; nothing uses it but `main`.
    ("commands", EVERYTHING_BELOW_COMMANDS),
    ("main", &["cli", "commands"]),
    ("lib", &[]),
    // The build script (Cargo.toml `build`), not a module of the crate.
    ("build", &[]),
];

/// What the TUI modules may use: each other and everything below them.
const TUI: &[&str] = &[
    "diag", "domain", "config", "theme", "settings", "logging", "editor", "cli", "secrets",
    "backends", "sim", "repo", "scaffold", "stages", "widgets", "keymap", "msg", "app", "runtime",
    "screens", "overlays",
];

const EVERYTHING_BELOW_COMMANDS: &[&str] = TUI;

/// The primitives every module may use (one atomic write, one advisory lock, one shell quote).
const PRIMITIVES: &[&str] = &["atomic_write", "lockfile", "shell_quote"];

fn allowed(from: &str) -> Option<&'static [&'static str]> {
    LAYERS.iter().find(|(m, _)| *m == from).map(|(_, a)| *a)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under src/ belongs to (`src/stages/k3s/mod.rs` -> `stages`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a line without its `//` comment (doc comments name paths in prose and links).
fn code_of(line: &str) -> &str {
    let mut in_str = false;
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => in_str = !in_str,
            b'/' if !in_str && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
    }
    line
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Top-level modules `code` names, with their byte offsets: `crate::x::...`,
/// `crate::{x, y::{z}}` (also over several lines) and, in main.rs, `homelab::x`.
fn targets(code: &str, root: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let prefix = format!("{root}::");
    let mut at = 0;
    while let Some(i) = code[at..].find(&prefix) {
        let start = at + i;
        at = start + prefix.len();
        let before = code[..start].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if !code[at..].starts_with('{') {
            let name = ident(&code[at..]);
            if !name.is_empty() {
                out.push((at, name));
            }
            continue;
        }
        // A group: the first segment of each item at depth 1.
        let mut depth = 0usize;
        let mut item_start = true;
        for (k, c) in code[at..].char_indices() {
            match c {
                '{' => {
                    depth += 1;
                    item_start = depth == 1;
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => item_start = true,
                c if item_start && (c.is_alphanumeric() || c == '_') => {
                    out.push((at + k, ident(&code[at + k..])));
                    item_start = false;
                }
                _ => {}
            }
        }
    }
    out
}

/// Every use of a forbidden direction, as `file:line: a -> b (rule)` lines.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let known: BTreeSet<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    let mut out = Vec::new();
    for file in &files {
        let from = module_of(src, file);
        let shown = file.strip_prefix(src.parent().unwrap()).unwrap().display();
        let Some(allowed) = allowed(&from) else {
            out.push(format!(
                "{shown}: module `{from}` is not in the layer table of tests/architecture.rs; \
                 add it with the modules it may use (and to docs/code-layout.md, \"Layers\")"
            ));
            continue;
        };
        let root = if from == "main" { "homelab" } else { "crate" };
        let text = std::fs::read_to_string(file).unwrap();
        let code: String = text
            .lines()
            .map(|l| code_of(l).to_string() + "\n")
            .collect();
        for (offset, to) in targets(&code, root) {
            if to == from
                || allowed.contains(&to.as_str())
                || PRIMITIVES.contains(&to.as_str())
                || !known.contains(to.as_str())
            {
                continue;
            }
            let line = code[..offset].matches('\n').count() + 1;
            out.push(format!(
                "{shown}:{line}: `{from}` uses `{to}`, which it may not (`{from}` may use: {}); \
                 move what it needs down a layer, or call it from above",
                if allowed.is_empty() {
                    "nothing".to_string()
                } else {
                    allowed.join(", ")
                }
            ));
        }
    }
    out
}

#[test]
fn every_import_follows_the_layer_table() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "{} forbidden import(s):\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_scanner_sees_every_form_of_path() {
    let names = |code: &str, root: &str| -> Vec<String> {
        targets(code, root).into_iter().map(|(_, n)| n).collect()
    };
    assert_eq!(names("use crate::app::ViewCx;", "crate"), ["app"]);
    assert_eq!(
        names("use crate::{app::{A, B}, screens, msg::X};", "crate"),
        ["app", "screens", "msg"]
    );
    assert_eq!(
        names("use crate::{\n    app::{A, B},\n    screens,\n};", "crate"),
        ["app", "screens"]
    );
    assert_eq!(
        targets("x\nuse crate::{a,\n b};", "crate")[1],
        (18, "b".to_string())
    );
    assert_eq!(
        names("let x = crate::stages::printer::bytes(n);", "crate"),
        ["stages"]
    );
    assert_eq!(names("homelab::commands::run(c)", "homelab"), ["commands"]);
    assert!(names("not_crate::app", "crate").is_empty());
    assert_eq!(code_of("a(); // crate::app"), "a(); ");
    assert_eq!(code_of(r#"s("//", crate::x)"#), r#"s("//", crate::x)"#);
}

#[test]
fn the_table_names_only_modules_it_lists() {
    let known: BTreeSet<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    for (m, allowed) in LAYERS {
        for a in *allowed {
            assert!(
                known.contains(a),
                "`{m}` may use `{a}`, which is not in the table"
            );
            assert!(
                *m == "main" || *a != "commands",
                "nothing but main may use commands ({m})"
            );
        }
    }
}
