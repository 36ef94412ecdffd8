//! `homelab scaffold app --name N --category C [flags] [--yes|--dry-run|--no-commit]`: validate
//! the request, print the preview of every file and the diff, ask (unless --yes), write, run
//! `homelab check` on the result, and commit "apps: add N" (docs/scaffolding.md).
//!
//! Exit codes: 0 done (or dry run), 1 files written but not committed (the result fails
//! `homelab check`, or the commit failed), 2 invalid input, a refusal, or nothing done.
//! `homelab scaffold` alone opens the form screen (screens::scaffold).

use crate::cli::{GlobalArgs, ScaffoldAppArgs, ScaffoldArgs, ScaffoldCommand};
use crate::domain::printable::sanitize;
use crate::repo::output;
use crate::repo::tree::Tree;
use crate::scaffold::request::{SecretEntry, SecretValue};
use crate::scaffold::{AppInput, TreeFacts, apply, commit_message, plan, validate};
use crate::screens::ScreenId;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;
use zeroize::Zeroizing;

pub fn run(global: &GlobalArgs, args: ScaffoldArgs, started: Instant) -> ExitCode {
    match args.command {
        None => super::launch::tui(
            global,
            super::launch::Start::on(ScreenId::Scaffold, started),
        ),
        Some(ScaffoldCommand::App(a)) => match app(global, &a) {
            Ok(code) => code,
            Err(msg) => {
                eprintln!("homelab scaffold: {}", sanitize(&msg));
                ExitCode::from(2)
            }
        },
    }
}

fn app(global: &GlobalArgs, a: &ScaffoldAppArgs) -> Result<ExitCode, String> {
    let root = crate::config::repo_root(global.repo.as_deref())?;
    if a.secrets_from_stdin && !a.yes && !a.dry_run {
        return Err("--secrets-from-stdin needs --yes or --dry-run (stdin carries the values, so it cannot answer the question too)".into());
    }
    let tree = Tree::load(&root).map_err(|e| e.to_string())?;
    let facts = TreeFacts::read(&tree)?;
    let input = input(a)?;
    let req = match validate(&input, &facts) {
        Ok(r) => r,
        Err(errors) => {
            for e in &errors {
                eprintln!("homelab scaffold: {}", sanitize(&e.to_string()));
            }
            eprintln!("homelab scaffold: nothing was written.");
            return Ok(ExitCode::from(2));
        }
    };
    let plan = plan::plan(&root, &facts, &req)?;
    let shown = format!("{}==> diff\n{}", plan.preview(), plan.diff(false));
    if !super::headless::print_stdout(&shown).map_err(|e| format!("cannot write to stdout: {e}"))? {
        return Ok(ExitCode::from(2));
    }
    if a.dry_run {
        eprintln!(
            "homelab scaffold: dry run, nothing was written ({} files would be).",
            plan.files.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rels: Vec<String> = plan.files.iter().map(|f| f.rel.clone()).collect();
    if let Err(e) = apply::ready(&root, &tree, &plan, !a.no_commit) {
        if let apply::NotReady::TreeFails(report) = &e {
            eprint!("{}", output::human(report));
        }
        return Err(e.summary());
    }
    if !a.yes {
        let question = if a.no_commit {
            format!("Write these {} files? [y/N] ", rels.len())
        } else {
            format!(
                "Write these {} files and commit \"{}\"? [y/N] ",
                rels.len(),
                commit_message(&req.name)
            )
        };
        if !confirm(&question)? {
            eprintln!("homelab scaffold: nothing was written.");
            return Ok(ExitCode::from(2));
        }
    }
    let applied = apply::apply(&root, &plan, !a.no_commit)?;
    eprintln!(
        "homelab scaffold: wrote {} files under {}",
        applied.written().len(),
        plan.folder
    );
    match applied {
        apply::Applied::CheckFails { report, .. } => {
            eprint!("{}", output::human(&report));
            eprintln!(
                "homelab scaffold: the result fails `homelab check`, so nothing was committed. The files are written: fix them and commit yourself, or {}.",
                apply::restore_hint(&plan)
            );
            Ok(ExitCode::from(1))
        }
        apply::Applied::Written { .. } => {
            eprintln!("homelab scaffold: homelab check passes.");
            eprintln!("homelab scaffold: not committed (--no-commit).");
            Ok(ExitCode::SUCCESS)
        }
        apply::Applied::CommitFailed { error, .. } => {
            eprintln!("homelab scaffold: homelab check passes.");
            eprintln!(
                "homelab scaffold: {}\nhomelab scaffold: the files are written and pass the check, but nothing was committed; commit them yourself.",
                sanitize(&error)
            );
            Ok(ExitCode::from(1))
        }
        apply::Applied::Committed { id, .. } => {
            eprintln!("homelab scaffold: homelab check passes.");
            let short = id.to_string();
            eprintln!(
                "homelab scaffold: committed {} \"{}\" (push it to let Flux apply the app).",
                &short[..short.len().min(12)],
                commit_message(&req.name)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The request as typed, from the flags (the values file read, the secret values asked).
fn input(a: &ScaffoldAppArgs) -> Result<AppInput, String> {
    let values = match &a.values {
        None => String::new(),
        Some(p) => crate::scaffold::values_file::read(Path::new(""), p)
            .map_err(|e| format!("--values {e}"))?,
    };
    let secrets = secret_values(a)?;
    Ok(AppInput {
        name: a.name.clone(),
        category: a.category.clone(),
        image: a.image.clone(),
        chart_repo: a.chart_repo.clone(),
        chart: a.chart.clone(),
        chart_version: a.chart_version.clone(),
        values,
        service: a.service.clone(),
        port: a.port.clone(),
        hostname: a.hostname.clone(),
        exposure: a.exposure.clone(),
        storage: a.storage.clone(),
        storage_size: a.storage_size.clone(),
        mount_path: a.mount_path.clone(),
        cpu_request: a.cpu_request.clone(),
        memory_request: a.memory_request.clone(),
        cpu_limit: a.cpu_limit.clone(),
        memory_limit: a.memory_limit.clone(),
        probe_path: a.probe_path.clone(),
        secrets,
        runs_as_root: a.runs_as_root,
    })
}

/// The value of every `--secret KEY`: from stdin (`KEY=value` lines) or asked with echo off.
fn secret_values(a: &ScaffoldAppArgs) -> Result<Vec<SecretEntry>, String> {
    if a.secrets.is_empty() {
        return Ok(Vec::new());
    }
    let mut given: Vec<(String, SecretValue)> = Vec::new();
    if a.secrets_from_stdin {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        for n in 1..=1024 {
            let mut line = Zeroizing::new(String::new());
            match lock.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(format!("stdin line {n}: {e}")),
            }
            let l = line.trim_end_matches(['\n', '\r']);
            if l.trim().is_empty() || l.starts_with('#') {
                continue;
            }
            let Some((k, v)) = l.split_once('=') else {
                return Err(format!(
                    "stdin line {n}: not KEY=value (the value itself is not shown)"
                ));
            };
            given.push((k.trim().to_string(), SecretValue::new(v)));
        }
    }
    let mut out = Vec::new();
    for key in &a.secrets {
        let value = match given.iter().position(|(k, _)| k == key) {
            Some(i) => given.remove(i).1,
            None if a.secrets_from_stdin => {
                return Err(format!("--secret {key}: no `{key}=` line on stdin"));
            }
            None => ask_hidden(&format!("Value of {key} (not shown): "))?,
        };
        out.push(SecretEntry {
            key: key.clone(),
            value,
        });
    }
    if let Some((k, _)) = given.first() {
        return Err(format!(
            "stdin gives `{k}`, which no --secret names; add --secret {k} or drop the line"
        ));
    }
    Ok(out)
}

/// The controlling terminal, for questions (stdin may be a pipe).
fn tty() -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| {
            "no terminal to ask on: pass --yes (and --secrets-from-stdin for secret values)".into()
        })
}

fn read_tty_line(tty: &mut std::fs::File) -> Result<Zeroizing<String>, String> {
    let mut reader = std::io::BufReader::new(tty);
    let mut line = Zeroizing::new(String::with_capacity(1024));
    reader
        .read_line(&mut line)
        .map_err(|e| format!("reading the terminal: {e}"))?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_string());
    Ok(trimmed)
}

fn confirm(question: &str) -> Result<bool, String> {
    let mut t = tty()?;
    t.write_all(question.as_bytes())
        .and_then(|_| t.flush())
        .map_err(|e| format!("writing to the terminal: {e}"))?;
    let answer = read_tty_line(&mut t)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Ask for a value on the terminal with echo off; the terminal's modes are restored after.
fn ask_hidden(prompt: &str) -> Result<SecretValue, String> {
    use std::os::fd::AsRawFd;
    let mut t = tty()?;
    let fd = t.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for a valid fd (checked below).
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is an open terminal for the life of `t`; `old` is a valid termios.
    if unsafe { libc::tcgetattr(fd, &mut old) } != 0 {
        return Err("cannot read the terminal's modes to turn echo off".into());
    }
    let mut quiet = old;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above; `quiet` is `old` with echo off.
    if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) } != 0 {
        return Err("cannot turn the terminal's echo off".into());
    }
    let asked = t
        .write_all(prompt.as_bytes())
        .and_then(|_| t.flush())
        .map_err(|e| format!("writing to the terminal: {e}"))
        .and_then(|_| read_tty_line(&mut t));
    // SAFETY: restores the modes read above on the same fd.
    unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &old) };
    Ok(SecretValue::new(asked?.as_str()))
}
