//! The operator's own editor: which program (`$VISUAL`, else `$EDITOR`, else `vi`), its words
//! split the way a shell splits a simple command line, and the arguments that open a file at a
//! line (`+LINE FILE`, or the forms helix and VS Code want). Pure: the runtime runs the result
//! as an [`crate::runtime::effects::External`] program.

use std::fmt;
use std::path::Path;

/// The editor used when neither variable is set.
pub const DEFAULT_EDITOR: &str = "vi";

/// `$VISUAL` and `$EDITOR` as they were when the screen was built (read once, so tests can
/// set them without touching the process environment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditorVars {
    pub visual: Option<String>,
    pub editor: Option<String>,
}

impl EditorVars {
    pub fn from_env() -> Self {
        let var = |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        Self {
            visual: var("VISUAL"),
            editor: var("EDITOR"),
        }
    }
}

/// Where the editor command came from, for messages that say which variable to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Visual,
    Editor,
    /// Neither variable is set: [`DEFAULT_EDITOR`].
    Default,
}

impl Source {
    /// `$VISUAL`, `$EDITOR`, or `the default`.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Visual => "$VISUAL",
            Source::Editor => "$EDITOR",
            Source::Default => "the default",
        }
    }
}

/// A program and its arguments, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditorCommand {
    pub program: String,
    pub args: Vec<String>,
    pub source: Source,
}

impl EditorCommand {
    /// What to tell an operator whose editor could not be started (`err` from spawning it).
    pub fn spawn_failed(&self, err: &std::io::Error) -> String {
        let fix = "set $VISUAL or $EDITOR to your editor (for example `export EDITOR=nano`) and start homelab again";
        match (self.source, err.kind()) {
            (Source::Default, std::io::ErrorKind::NotFound) => format!(
                "No editor to open: $VISUAL and $EDITOR are not set and `{}` is not installed; {fix}",
                self.program
            ),
            (source, std::io::ErrorKind::NotFound) => format!(
                "Cannot start the editor `{}` (from {}): not found on PATH; {fix}",
                self.program,
                source.describe()
            ),
            (source, _) => format!(
                "Cannot start the editor `{}` (from {}): {err}; {fix}",
                self.program,
                source.describe()
            ),
        }
    }
}

/// The command line as a shell would read it back (words with spaces or quotes are quoted).
impl fmt::Display for EditorCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = std::iter::once(&self.program).chain(&self.args);
        for (i, w) in words.enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(&crate::shell_quote::quote(w))?;
        }
        Ok(())
    }
}

/// How a program takes "this file at this line".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineArg {
    /// `+LINE FILE`: vi, vim, nvim, nano, emacs, micro, kakoune... (the common convention).
    Plus,
    /// `FILE:LINE`: helix, Sublime Text, Zed.
    Colon,
    /// `-g FILE:LINE`: VS Code and its builds.
    Goto,
}

fn line_arg(program: &str) -> LineArg {
    let name = Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    match name {
        "hx" | "helix" | "subl" | "zed" => LineArg::Colon,
        "code" | "code-insiders" | "codium" | "vscodium" => LineArg::Goto,
        _ => LineArg::Plus,
    }
}

/// The command that opens `file` (relative to the directory it will run in) at `line`
/// (1-based; `None` opens the file at the top) in the operator's editor. Errors name the
/// variable and say what to change.
pub fn open_at(vars: &EditorVars, file: &str, line: Option<u32>) -> Result<EditorCommand, String> {
    let (source, value) = match (set(&vars.visual), set(&vars.editor)) {
        (Some(v), _) => (Source::Visual, v),
        (None, Some(e)) => (Source::Editor, e),
        (None, None) => (Source::Default, DEFAULT_EDITOR),
    };
    let mut words = split(value).map_err(|e| format!("{} (`{value}`) {e}", source.describe()))?;
    if words.first().is_none_or(String::is_empty) {
        return Err(format!(
            "{} (`{value}`) names no program; set it to your editor, e.g. `nano` or `code -w`",
            source.describe()
        ));
    }
    let program = words.remove(0);
    // A file named `+x` or `-x` would read as an option.
    let file = if file.starts_with(['-', '+']) {
        format!("./{file}")
    } else {
        file.to_owned()
    };
    let mut args = words;
    match (line, line_arg(&program)) {
        (None, _) => args.push(file),
        (Some(l), LineArg::Plus) => args.extend([format!("+{l}"), file]),
        (Some(l), LineArg::Colon) => args.push(format!("{file}:{l}")),
        (Some(l), LineArg::Goto) => args.extend(["-g".to_owned(), format!("{file}:{l}")]),
    }
    Ok(EditorCommand {
        program,
        args,
        source,
    })
}

/// A variable's value, unless unset or blank.
fn set(var: &Option<String>) -> Option<&str> {
    var.as_deref().filter(|s| !s.trim().is_empty())
}

/// Split a command line into words as `sh` does for a simple command (the `shell-words` crate:
/// blanks, `'...'`, `"..."`, backslashes). Anything that needs a real shell (variables, command
/// substitution, pipes, lists, redirections, a leading `~`) is an error rather than a guess.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    if let Some(c) = shell_syntax(line) {
        return Err(format!(
            "uses shell syntax (`{c}`) that homelab does not interpret; put the command in a small script and point the variable at it"
        ));
    }
    shell_words::split(line).map_err(|_| "has an unterminated quote".to_string())
}

/// The first character that only a real shell would give meaning to: outside quotes any of
/// `` $`|&;<>() `` or a word-initial `~`; inside double quotes `$` and `` ` ``; nothing inside
/// single quotes or after a backslash.
fn shell_syntax(line: &str) -> Option<char> {
    let mut chars = line.chars();
    let (mut single, mut double, mut word_start) = (false, false, true);
    while let Some(c) = chars.next() {
        let at_start = std::mem::replace(&mut word_start, false);
        match c {
            '\\' if !single => {
                chars.next();
            }
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            _ if single => {}
            '$' | '`' => return Some(c),
            _ if double => {}
            '|' | '&' | ';' | '<' | '>' | '(' | ')' => return Some(c),
            '~' if at_start => return Some(c),
            ' ' | '\t' | '\n' => word_start = true,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(visual: Option<&str>, editor: Option<&str>) -> EditorVars {
        EditorVars {
            visual: visual.map(str::to_owned),
            editor: editor.map(str::to_owned),
        }
    }

    fn words(cmd: &EditorCommand) -> Vec<&str> {
        std::iter::once(cmd.program.as_str())
            .chain(cmd.args.iter().map(String::as_str))
            .collect()
    }

    const FILE: &str = "cluster/apps/x.yaml";

    #[test]
    fn visual_wins_over_editor_which_wins_over_vi() {
        let both = open_at(&vars(Some("nvim"), Some("nano")), FILE, Some(12)).unwrap();
        assert_eq!(words(&both), ["nvim", "+12", FILE]);
        assert_eq!(both.source, Source::Visual);

        let editor = open_at(&vars(None, Some("nano")), FILE, Some(12)).unwrap();
        assert_eq!(words(&editor), ["nano", "+12", FILE]);
        assert_eq!(editor.source, Source::Editor);

        let none = open_at(&vars(None, None), FILE, Some(12)).unwrap();
        assert_eq!(words(&none), ["vi", "+12", FILE]);
        assert_eq!(none.source, Source::Default);
    }

    #[test]
    fn empty_or_blank_variables_count_as_unset() {
        let cmd = open_at(&vars(Some(""), Some("  ")), FILE, Some(3)).unwrap();
        assert_eq!(words(&cmd), ["vi", "+3", FILE]);
        let cmd = open_at(&vars(Some(" \t"), Some("micro")), FILE, Some(3)).unwrap();
        assert_eq!(words(&cmd), ["micro", "+3", FILE]);
    }

    #[test]
    fn arguments_in_the_variable_come_before_the_file() {
        let cmd = open_at(&vars(None, Some("emacsclient -t -a ''")), FILE, Some(7)).unwrap();
        assert_eq!(words(&cmd), ["emacsclient", "-t", "-a", "", "+7", FILE]);
        let cmd = open_at(&vars(None, Some("  vim   -u NONE ")), FILE, None).unwrap();
        assert_eq!(words(&cmd), ["vim", "-u", "NONE", FILE]);
    }

    #[test]
    fn quoted_program_paths_and_arguments() {
        let cmd = open_at(
            &vars(Some(r#""/opt/My Editor/bin/ed" --title 'a b' c\ d"#), None),
            FILE,
            Some(1),
        )
        .unwrap();
        assert_eq!(
            words(&cmd),
            ["/opt/My Editor/bin/ed", "--title", "a b", "c d", "+1", FILE]
        );
        assert_eq!(
            cmd.to_string(),
            format!("'/opt/My Editor/bin/ed' --title 'a b' 'c d' +1 {FILE}")
        );
        assert_eq!(
            split(r#"vim -c "echo \"hi\" \\ \$x" it's"#),
            Err("has an unterminated quote".into())
        );
        assert_eq!(
            split(r#"vim -c "echo \"hi\" \\ \$x \n""#).unwrap(),
            ["vim", "-c", r#"echo "hi" \ $x \n"#]
        );
        assert_eq!(split("a''b \"\"").unwrap(), ["ab", ""]);
        assert_eq!(split("x=~/y").unwrap(), ["x=~/y"]);
    }

    #[test]
    fn helix_and_vscode_get_their_own_forms() {
        let hx = open_at(&vars(None, Some("hx")), FILE, Some(9)).unwrap();
        assert_eq!(words(&hx), ["hx", &format!("{FILE}:9")]);
        let helix = open_at(&vars(None, Some("/usr/bin/helix")), FILE, Some(9)).unwrap();
        assert_eq!(words(&helix), ["/usr/bin/helix", &format!("{FILE}:9")]);
        let code = open_at(&vars(Some("code -w"), None), FILE, Some(9)).unwrap();
        assert_eq!(words(&code), ["code", "-w", "-g", &format!("{FILE}:9")]);
        // Without a line, every editor just gets the file.
        let code = open_at(&vars(Some("code --wait"), None), FILE, None).unwrap();
        assert_eq!(words(&code), ["code", "--wait", FILE]);
        // `hxx` is not helix.
        let other = open_at(&vars(None, Some("hxx")), FILE, Some(9)).unwrap();
        assert_eq!(words(&other), ["hxx", "+9", FILE]);
    }

    #[test]
    fn a_file_that_looks_like_an_option_is_made_a_path() {
        let cmd = open_at(&vars(None, Some("vi")), "+odd.yaml", Some(2)).unwrap();
        assert_eq!(words(&cmd), ["vi", "+2", "./+odd.yaml"]);
        let cmd = open_at(&vars(None, Some("hx")), "-x", Some(2)).unwrap();
        assert_eq!(words(&cmd), ["hx", "./-x:2"]);
    }

    #[test]
    fn shell_syntax_and_broken_quotes_are_errors_naming_the_variable() {
        for bad in [
            "vim $OPTS",
            "`which vim`",
            "vim | cat",
            "vim; ls",
            "vim && x",
            "vim > log",
            "~/bin/ed",
            "vim \"$HOME/x\"",
        ] {
            let err = open_at(&vars(None, Some(bad)), FILE, Some(1)).unwrap_err();
            assert!(
                err.starts_with(&format!("$EDITOR (`{bad}`) uses shell syntax")),
                "{err}"
            );
            assert!(err.contains("script"), "{err}");
        }
        let err = open_at(&vars(Some("vim \"-c"), None), FILE, Some(1)).unwrap_err();
        assert_eq!(err, "$VISUAL (`vim \"-c`) has an unterminated quote");
        // Quoted or escaped, the same characters are plain text.
        assert_eq!(
            split(r#"ed '$x|y' "a;b" \$z"#).unwrap(),
            ["ed", "$x|y", "a;b", "$z"]
        );
        let err = open_at(&vars(Some("'' -w"), None), FILE, Some(1)).unwrap_err();
        assert!(err.contains("names no program"), "{err}");
    }

    #[test]
    fn spawn_failures_say_which_variable_to_set() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let vi = open_at(&vars(None, None), FILE, None).unwrap();
        let text = vi.spawn_failed(&missing);
        assert!(text.contains("$VISUAL and $EDITOR are not set"), "{text}");
        assert!(text.contains("`vi` is not installed"), "{text}");
        assert!(text.contains("export EDITOR="), "{text}");
        let nv = open_at(&vars(None, Some("nvim")), FILE, None).unwrap();
        let text = nv.spawn_failed(&missing);
        assert!(
            text.starts_with("Cannot start the editor `nvim` (from $EDITOR): not found"),
            "{text}"
        );
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let text = nv.spawn_failed(&denied);
        assert!(text.contains("permission denied"), "{text}");
    }
}
