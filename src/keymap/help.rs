//! The keymap as Markdown tables (docs/keys.md is generated from the embedded default, and a
//! test keeps it current).

use super::Keymap;

/// One `### context` section with a `key | action | description` table per context.
pub fn markdown(keymap: &Keymap) -> String {
    let mut out = String::new();
    for ctx in keymap.contexts() {
        out.push_str(&format!(
            "### {}\n\n| keys | action | description |\n|---|---|---|\n",
            ctx.name
        ));
        for b in &ctx.bindings {
            let keys = b
                .keys
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(" ");
            let hint = if b.hint.is_some() { " (footer)" } else { "" };
            out.push_str(&format!(
                "| {keys} | `{}` | {}{hint} |\n",
                b.action,
                b.desc.replace('|', "\\|")
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- generated from src/keymap/default.toml: begin -->\n";
    const END: &str = "<!-- generated: end -->";

    /// docs/keys.md carries the generated tables; `UPDATE_DOCS=1 cargo test --lib keymap` rewrites them.
    #[test]
    fn docs_keys_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/keys.md");
        let doc = std::fs::read_to_string(path).expect("docs/keys.md");
        let (head, rest) = doc.split_once(BEGIN).expect("begin marker");
        let (current, tail) = rest.split_once(END).expect("end marker");
        let generated = markdown(&Keymap::builtin());
        if current != generated {
            if std::env::var("UPDATE_DOCS").as_deref() == Ok("1") {
                crate::atomic_write::write_atomic(
                    std::path::Path::new(path),
                    format!("{head}{BEGIN}{generated}{END}{tail}").as_bytes(),
                )
                .expect("write docs/keys.md");
            } else {
                panic!(
                    "docs/keys.md is out of date with src/keymap/default.toml; run UPDATE_DOCS=1 cargo test --lib keymap"
                );
            }
        }
    }
}
