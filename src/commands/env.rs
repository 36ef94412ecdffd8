//! `homelab env ...`: the SOPS file commands, with sops' exit codes; `env edit` opens the
//! env screen. Nothing here starts an async runtime, logging or the theme unless the command
//! is `edit` (docs/performance.md, "Startup cost").

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use zeroize::Zeroizing;

use super::launch::{self, Start};
use crate::cli::{EnvArgs, EnvCommand, GlobalArgs};
use crate::screens::ScreenId;
use crate::screens::start::EnvFile;
use crate::secrets::document::{EncryptedFile, Format, Opened};
use crate::secrets::error::{Result, SopsError};
use crate::secrets::keys::Identities;
use crate::secrets::rules;
use crate::secrets::tree::{Node, Scalar, parse_path};

/// Run an `env` subcommand and turn errors into messages and exit codes.
pub fn run(global: &GlobalArgs, args: EnvArgs, started: Instant) -> ExitCode {
    let Some(command) = args.command else {
        eprintln!(
            "homelab env: choose a command: decrypt FILE | get FILE KEY | set FILE KEY [VALUE|-] | unset FILE KEY | edit FILE | encrypt FILE | rotate FILE [--data-key]"
        );
        return ExitCode::from(2);
    };
    // Every env command may hold decrypted values from here on.
    crate::secrets::process::hold_secrets();
    if let EnvCommand::Edit { file, read_only } = &command {
        return edit(global, file, *read_only, started);
    }
    match execute(global, command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("homelab: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `homelab env edit FILE`: open the TUI on the env screen with FILE.
fn edit(global: &GlobalArgs, file: &Path, read_only: bool, started: Instant) -> ExitCode {
    let absolute = if file.is_absolute() {
        file.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(file))
            .unwrap_or_else(|_| file.to_path_buf())
    };
    if !absolute.is_file() {
        eprintln!("homelab: {}: no such file", file.display());
        return ExitCode::from(1);
    }
    let mut start = Start::on(ScreenId::Env, started);
    start.params.env_file = Some(EnvFile {
        path: absolute.clone(),
        read_only,
    });
    // Outside a repository (no config/clusters/ here or above) the editor opens the file alone;
    // an explicit --repo that is wrong is still an error.
    if global.repo.is_none() && crate::config::repo_root(None).is_err() {
        return launch::tui_for_file(global, start, absolute);
    }
    launch::tui(global, start)
}

fn identities() -> Identities {
    let ids = Identities::discover();
    for w in &ids.warnings {
        eprintln!("homelab: warning: {w}");
    }
    ids
}

fn open_checked(file: &Path) -> Result<Opened> {
    EncryptedFile::open_verified(file, &identities())
}

fn execute(_global: &GlobalArgs, command: EnvCommand) -> Result<()> {
    match command {
        EnvCommand::Decrypt { file } => {
            let opened = open_checked(&file)?;
            let text = opened.plaintext()?;
            write_stdout(text.as_bytes(), &file)
        }
        EnvCommand::Get { file, key } => {
            let opened = open_checked(&file)?;
            let path = parse_path(&key).map_err(SopsError::Usage)?;
            match opened.get(&path) {
                Some(Node::Scalar(s)) => {
                    let text = Zeroizing::new(s.display_text());
                    write_stdout(text.as_bytes(), &file)?;
                    if std::io::stdout().is_terminal() {
                        println!();
                    }
                    Ok(())
                }
                Some(_) => Err(SopsError::Usage(format!(
                    "{}: `{key}` is a mapping or list, not a single value; use `homelab env decrypt`",
                    file.display()
                ))),
                None => Err(SopsError::KeyNotFound {
                    path: file.clone(),
                    key,
                }),
            }
        }
        EnvCommand::Set { file, key, value } => {
            let value = match value.as_deref() {
                None | Some("-") => read_stdin_value()?,
                Some(v) => {
                    eprintln!(
                        "homelab: warning: the value is on the command line, where other users can read it (ps, /proc) and your shell history keeps it; pipe it in instead: `homelab env set {} {key} < file`",
                        file.display()
                    );
                    Zeroizing::new(v.to_string())
                }
            };
            let path = parse_path(&key).map_err(SopsError::Usage)?;
            let changed = on_current_content(&file, || {
                let mut opened = open_checked(&file)?;
                if opened.format == Format::Dotenv && path.len() != 1 {
                    return Err(SopsError::Usage(
                        "dotenv files have only top-level keys".into(),
                    ));
                }
                let changed = opened.set(&path, Node::Scalar(Scalar::Str(value.to_string())))?;
                if changed {
                    opened.save()?;
                }
                Ok(changed)
            })?;
            if changed {
                eprintln!("homelab: {}: set {key}", file.display());
            } else {
                eprintln!(
                    "homelab: {}: {key} already has that value; file not rewritten",
                    file.display()
                );
            }
            Ok(())
        }
        EnvCommand::Unset { file, key } => {
            let path = parse_path(&key).map_err(SopsError::Usage)?;
            on_current_content(&file, || {
                let mut opened = open_checked(&file)?;
                opened.unset(&path)?;
                opened.save()
            })?;
            eprintln!("homelab: {}: removed {key}", file.display());
            Ok(())
        }
        EnvCommand::Edit { .. } => Err(SopsError::Usage(
            "edit opens the editor screen (handled before this point)".into(),
        )),
        EnvCommand::Encrypt { file } => {
            let format = Format::from_path(&file)?;
            let config = rules::load_from_cwd()?;
            let rule = config.rule_for(&file)?.clone();
            let plain = Zeroizing::new(
                std::fs::read_to_string(&file).map_err(|e| SopsError::io(&file, e))?,
            );
            let mut opened = Opened::new_plain(
                &file,
                format,
                &plain,
                rule.rule,
                rule.mac_only_encrypted,
                &rule.age,
            )?;
            opened.save()?;
            eprintln!(
                "homelab: {}: encrypted for {} (rule from {})",
                file.display(),
                rule.age.join(", "),
                config.path.display()
            );
            Ok(())
        }
        EnvCommand::Rotate {
            file,
            data_key,
            yes,
        } => {
            let config = rules::load_from_cwd()?;
            let recipients = config.rule_for(&file)?.age.clone();
            let current = EncryptedFile::load(&file)?.recipients();
            accept_new_recipients(&file, &current, &recipients, yes)?;
            if data_key {
                on_current_content(&file, || {
                    let mut opened = open_checked(&file)?;
                    opened.rotate_data_key(&recipients)?;
                    opened.save()
                })?;
                eprintln!(
                    "homelab: {}: new data key, every value re-encrypted, wrapped for {}",
                    file.display(),
                    recipients.join(", ")
                );
            } else {
                let ids = identities();
                let before = on_current_content(&file, || {
                    let mut enc = EncryptedFile::load(&file)?;
                    let before = enc.recipients();
                    let key = enc.data_key(&ids)?;
                    enc.rewrap(&key, &recipients)?;
                    enc.save()?;
                    Ok(before)
                })?;
                let added: Vec<_> = recipients.iter().filter(|r| !before.contains(r)).collect();
                let removed: Vec<_> = before.iter().filter(|r| !recipients.contains(r)).collect();
                eprintln!(
                    "homelab: {}: data key re-wrapped for {} recipient(s); added {:?}, removed {:?}",
                    file.display(),
                    recipients.len(),
                    added,
                    removed
                );
            }
            Ok(())
        }
    }
}

/// Like `sops updatekeys`: before wrapping the data key for recipients the file is not
/// encrypted for yet, show them and ask (a changed .sops.yaml must not silently give someone
/// the secrets). `--yes` accepts; without a terminal and without `--yes` nothing is changed.
fn accept_new_recipients(
    file: &Path,
    current: &[String],
    wanted: &[String],
    yes: bool,
) -> Result<()> {
    let added: Vec<&String> = wanted.iter().filter(|r| !current.contains(r)).collect();
    if added.is_empty() || yes {
        return Ok(());
    }
    let list = added
        .iter()
        .map(|r| format!("  + {r}"))
        .collect::<Vec<_>>()
        .join("\n");
    if !std::io::stdin().is_terminal() {
        return Err(SopsError::Usage(format!(
            "{}: .sops.yaml adds recipient(s) the file is not encrypted for:\n{list}\nThey would be able to decrypt it. Nothing was changed; run again with --yes to accept.",
            file.display()
        )));
    }
    eprint!(
        "{}: the following recipient(s) will be able to decrypt it:\n{list}\nIs this okay? (y/n) ",
        file.display()
    );
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| SopsError::io("<stdin>", e))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(SopsError::Usage(format!(
            "{}: not rotated; nothing was changed",
            file.display()
        )))
    }
}

/// Times a read-modify-write is redone when the file changed under it.
const REAPPLY_ATTEMPTS: usize = 3;

/// Run a read-modify-write of `file`; when the file changed on disk between the read and the
/// write (another homelab, sops, an editor), nothing was written: read it again and re-apply
/// the change on top of the new content, so the other writer's change is kept.
fn on_current_content<T>(file: &Path, mut op: impl FnMut() -> Result<T>) -> Result<T> {
    let mut attempt = 1;
    loop {
        match op() {
            Err(SopsError::ChangedOnDisk { .. }) if attempt < REAPPLY_ATTEMPTS => {
                eprintln!(
                    "homelab: {} changed on disk meanwhile; reading it again and re-applying the change on top",
                    file.display()
                );
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn write_stdout(bytes: &[u8], file: &Path) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| SopsError::io(file, e))
}

/// A value from stdin; one trailing newline (from `echo`) is dropped.
fn read_stdin_value() -> Result<Zeroizing<String>> {
    let mut buf = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut buf)
        .map_err(|e| SopsError::io("<stdin>", e))?;
    if buf.ends_with('\n') {
        buf.pop();
    }
    Ok(buf)
}
