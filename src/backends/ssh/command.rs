//! What runs on a node: a shell script, whether it needs root, which values in it are secret
//! (masked wherever the command is shown or journalled), and what came back.

use crate::shell_quote::quote;
use std::time::Duration;

/// A command for a node's shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCommand {
    /// POSIX sh script, run with `sh -c`.
    pub script: String,
    /// Run as root (through sudo unless the login user is root).
    pub sudo: bool,
    /// Values masked in [`RemoteCommand::display`] (join tokens, passwords).
    pub secrets: Vec<String>,
    /// Gives up (and reports a timeout) after this long.
    pub timeout: Option<Duration>,
    /// Safe to run again after a dropped connection (read-only probes, idempotent steps).
    pub idempotent: bool,
}

impl RemoteCommand {
    /// A read-only probe: no sudo, idempotent, 60 s timeout.
    pub fn probe(script: impl Into<String>) -> Self {
        Self {
            script: script.into(),
            sudo: false,
            secrets: vec![],
            timeout: Some(Duration::from_secs(60)),
            idempotent: true,
        }
    }

    /// A root command that changes the node.
    pub fn root(script: impl Into<String>) -> Self {
        Self {
            script: script.into(),
            sudo: true,
            secrets: vec![],
            timeout: Some(Duration::from_secs(900)),
            idempotent: false,
        }
    }

    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        let s = secret.into();
        if !s.is_empty() {
            self.secrets.push(s);
        }
        self
    }

    pub fn sudo(mut self) -> Self {
        self.sudo = true;
        self
    }

    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// The command as shown to the operator and journalled: secrets masked.
    pub fn display(&self) -> String {
        let shown = mask(&self.script, &self.secrets);
        if self.sudo {
            format!("sudo sh -c {}", quote(&shown))
        } else {
            shown
        }
    }
}

/// Replace every secret occurrence with `••••`.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "••••");
    }
    out
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of output (no trailing newline; secrets masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    pub text: String,
}

/// A finished command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutcome {
    /// `None` when the remote side ended without an exit status (killed by a signal).
    pub exit_status: Option<u32>,
    pub exit_signal: Option<String>,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutcome {
    pub fn success(&self) -> bool {
        self.exit_status == Some(0)
    }
}

/// Splits a byte stream into lines, keeping the unfinished tail.
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    pub(crate) fn push(&mut self, data: &[u8], mut emit: impl FnMut(String)) {
        self.buf.extend_from_slice(data);
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            emit(String::from_utf8_lossy(&line).into_owned());
        }
    }
    pub(crate) fn finish(&mut self, mut emit: impl FnMut(String)) {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            emit(String::from_utf8_lossy(&line).into_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking() {
        let c = RemoteCommand::root("K3S_TOKEN=abc123 sh install.sh").with_secret("abc123");
        assert_eq!(c.display(), "sudo sh -c 'K3S_TOKEN=•••• sh install.sh'");
        assert!(!c.display().contains("abc123"));
    }

    #[test]
    fn splitter_handles_partial_lines_and_crlf() {
        let mut s = LineSplitter::default();
        let mut got = vec![];
        s.push(b"one\r\ntw", |l| got.push(l));
        s.push(b"o\nthree", |l| got.push(l));
        s.finish(|l| got.push(l));
        assert_eq!(got, vec!["one", "two", "three"]);
    }
}
