//! A headless demo lab run as the operator runs it (`homelab demo --headless`), its printed
//! environment, and `homelab` commands run in that environment.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

/// The variable naming the binary the demo's tests drive; `.ci/run` sets it to the release
/// build, so the end-to-end tests run the binary a user runs.
pub const BIN_ENV: &str = "HOMELAB_E2E_BIN";

/// The binary the demo's tests drive: [`BIN_ENV`] when set (it must exist), else this test
/// build's `homelab`.
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| match std::env::var(BIN_ENV) {
        Ok(p) if !p.is_empty() => {
            assert!(
                std::path::Path::new(&p).is_file(),
                "{BIN_ENV}={p}: no such file (cargo build --release --bin homelab first)"
            );
            p
        }
        _ => env!("CARGO_BIN_EXE_homelab").to_string(),
    })
}

/// A running `homelab demo --headless`; SIGTERM and a check that its directory went on drop.
pub struct HeadlessLab {
    child: Child,
    /// What it printed before "ready".
    pub printed: String,
    /// The Flux install manifest the lab pins (its `Flux manifest` line).
    pub flux_manifest: PathBuf,
    pub env: BTreeMap<String, String>,
}

/// One shell word as `shell_quote::quote` prints it.
fn unquote(v: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '\\' if !quoted => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c => out.push(c),
        }
    }
    out
}

impl HeadlessLab {
    pub fn start(extra: &[&str]) -> HeadlessLab {
        let mut child = Command::new(bin())
            .args(["--repo", env!("CARGO_MANIFEST_DIR"), "demo", "--headless"])
            .args(extra)
            .env_remove("HOMELAB_CLUSTER")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("homelab demo --headless");
        let out = child.stdout.take().expect("stdout");
        let mut printed = String::new();
        let mut env = BTreeMap::new();
        for line in BufReader::new(out).lines() {
            let line = line.expect("a line");
            printed.push_str(&line);
            printed.push('\n');
            if let Some(kv) = line.strip_prefix("export ") {
                let (k, v) = kv.split_once('=').expect("export K=V");
                env.insert(k.to_string(), unquote(v));
            }
            if line.contains("demo lab ready") {
                let flux_manifest = printed
                    .lines()
                    .find_map(|l| l.trim_start().strip_prefix("Flux manifest"))
                    .and_then(|rest| rest.trim_start().split("  (").next())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| panic!("no `Flux manifest` line:\n{printed}"));
                return HeadlessLab {
                    child,
                    printed,
                    flux_manifest,
                    env,
                };
            }
        }
        let status = child.wait().expect("wait");
        panic!("homelab demo --headless ended ({status}) before it was ready:\n{printed}");
    }

    pub fn var(&self, k: &str) -> &str {
        self.env
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{k} not printed"))
    }

    pub fn path(&self, k: &str) -> PathBuf {
        PathBuf::from(self.var(k))
    }

    /// The lab's root directory (HOME's parent).
    pub fn root(&self) -> PathBuf {
        self.path("HOME").parent().expect("root").to_path_buf()
    }

    /// A command in the lab's environment only (and PATH), like a shell that evaluated the
    /// printed lines.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env_clear();
        c.env("PATH", std::env::var("PATH").unwrap_or_default());
        c.envs(&self.env);
        c
    }

    /// `homelab ARGS` in the lab's environment.
    pub fn homelab(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut c = self.command(bin());
        c.args(args).stdin(Stdio::null());
        for (k, v) in extra_env {
            c.env(k, v);
        }
        c.output().expect("homelab")
    }

    /// Stop it as Ctrl-C would; returns its exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().expect("wait")
    }
}

impl Drop for HeadlessLab {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `homelab bootstrap --yes --accept-new --flux-manifest <the lab's>` of every stage, as the
/// lab's `# try:` line says: green means success, or (while later stages are not in this
/// build) exit 2 with every missing stage named as not built and nothing failed.
pub fn bootstrap_all(lab: &HeadlessLab, extra_env: &[(&str, &str)]) -> Output {
    let manifest = lab.flux_manifest.display().to_string();
    lab.homelab(
        &[
            "bootstrap",
            "--yes",
            "--accept-new",
            "--flux-manifest",
            &manifest,
        ],
        extra_env,
    )
}

pub fn assert_green(o: &Output) {
    let out = String::from_utf8_lossy(&o.stdout);
    let missing: Vec<&str> = homelab::stages::registry::StageId::all()
        .filter(|id| !id.available())
        .map(|id| id.as_str())
        .collect();
    let ok = o.status.success() || (o.status.code() == Some(2) && !missing.is_empty());
    assert!(ok, "the bootstrap is not green:\n{}", text(o));
    for m in &missing {
        assert!(
            out.contains(&format!("stage `{m}` is not implemented in this build yet")),
            "{m} not reported:\n{}",
            text(o)
        );
    }
    assert!(!out.contains(" FAIL "), "a check failed:\n{}", text(o));
    for id in homelab::stages::registry::StageId::all().filter(|id| id.available()) {
        assert!(
            out.contains(&format!("{:<8} verify", id.as_str())),
            "{id} was not verified:\n{}",
            text(o)
        );
    }
}

/// `homelab demo --speed max` in a tmux window (130x40) as a newcomer starts it, waited for
/// until the home screen shows the demo cluster; with the lab's directory, read from the top
/// bar. `None` when tmux is missing (see `Launch::new`).
pub fn tui_demo(tag: &str) -> Option<(crate::support::tmux::Tmux, PathBuf)> {
    tui_demo_with(tag, &[])
}

/// [`tui_demo`] with more `homelab demo` options (`--fail STAGE:STEP`).
pub fn tui_demo_with(tag: &str, extra: &[&str]) -> Option<(crate::support::tmux::Tmux, PathBuf)> {
    use crate::support::tmux::{Has, Launch};
    let mut args = vec![
        bin(),
        "--repo",
        env!("CARGO_MANIFEST_DIR"),
        "demo",
        "--speed",
        "max",
    ];
    args.extend_from_slice(extra);
    let t = Launch::new(tag)?.size(130, 40).run(&args);
    let home = t.wait_screen(
        &[Has("Cluster demo"), Has("k3s-agent-2")],
        std::time::Duration::from_secs(90),
    );
    let lab: PathBuf = home
        .split_whitespace()
        .find(|w| w.contains("/homelab-demo-"))
        // The lab's directory: what precedes `/repo` (a spinner may follow the path while
        // the repository's state loads).
        .and_then(|w| w.find("/repo").map(|i| PathBuf::from(&w[..i])))
        .expect("the lab's repository in the top bar");
    assert!(lab.is_dir(), "{}", lab.display());
    Some((t, lab))
}
