//! `ProxyCommand`: the command ssh_config names (Cloudflare Access' `cloudflared access ssh`,
//! `tailscale nc %h %p`, `ssh -W %h:%p bastion`, `nc`) runs through `sh -c`, as OpenSSH runs it
//! (`exec` + the line, tokens already expanded and quoted by
//! [`expand_proxy_command`](super::config::expand_proxy_command)), and SSH is spoken over its
//! stdin and stdout. The child is killed when the connection is dropped. What it writes to
//! stderr is kept (the last 4 KiB) for the error message when the connection fails; it never
//! reaches the terminal directly (the TUI owns it).

use super::SshError;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

/// How much of the command's stderr is kept for error messages.
const STDERR_TAIL: usize = 4096;

/// How long a failed connection waits for the command to finish its stderr.
const STDERR_SETTLE: Duration = Duration::from_secs(2);

/// The command's stderr, the last [`STDERR_TAIL`] bytes, and whether it has closed.
#[derive(Debug, Clone)]
pub struct StderrTail {
    bytes: Arc<Mutex<Vec<u8>>>,
    closed: watch::Receiver<bool>,
}

impl StderrTail {
    /// What the command said, once its stderr closed (or after a short bound when it keeps
    /// running), sanitized for a terminal, on one line.
    pub async fn text(&self) -> String {
        let mut closed = self.closed.clone();
        let _ = tokio::time::timeout(STDERR_SETTLE, closed.wait_for(|c| *c)).await;
        let bytes = self.bytes.lock().map(|b| b.clone()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        crate::domain::printable::sanitize(&text).into_owned()
    }

    fn push(bytes: &Mutex<Vec<u8>>, chunk: &[u8]) {
        if let Ok(mut b) = bytes.lock() {
            b.extend_from_slice(chunk);
            let excess = b.len().saturating_sub(STDERR_TAIL);
            b.drain(..excess);
        }
    }
}

/// A running ProxyCommand as one byte stream (its stdout to read, its stdin to write).
pub struct ProxyStream {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl ProxyStream {
    /// Start `command` (already expanded) for `host:port`; the stream and its stderr tail.
    pub fn spawn(command: &str, host: &str, port: u16) -> Result<(Self, StderrTail), SshError> {
        let fail = |message: String| SshError::Connect {
            host: host.to_string(),
            port,
            message,
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("exec {command}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(format!("cannot start ProxyCommand `{command}`: {e}")))?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(fail("ProxyCommand started without its pipes".into()));
        };
        let (done, closed) = watch::channel(false);
        let tail = StderrTail {
            bytes: Arc::default(),
            closed,
        };
        let sink = tail.bytes.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                StderrTail::push(&sink, &buf[..n]);
            }
            let _ = done.send(true);
        });
        Ok((
            Self {
                _child: child,
                stdin,
                stdout,
            },
            tail,
        ))
    }
}

impl AsyncRead for ProxyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for ProxyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
}
