//! Shared by the console tests: the peer rule, a harness that drives a [`ConsoleState`] with
//! the real effect runner, frame rendering, and Prometheus + Alertmanager processes.

#![allow(dead_code)]

use homelab::backends::endpoint::{Auth, Timeouts};
use homelab::backends::loki::LokiClient;
use homelab::backends::prom::{AlertmanagerClient, PrometheusClient};
use homelab::msg::BackendEvent;
use homelab::runtime::effects::{Tagged, TaskRegistry};
use homelab::screens::console::effects::{ConsoleBackends, Planned, plan};
use homelab::screens::console::events::ConsoleEffect;
use homelab::screens::console::state::{ConsoleState, EndpointsShown};
use homelab::screens::console::view::{Cx, render_console};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use crate::support::net;
pub use crate::support::require_peer;

pub fn fast() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_secs(5),
    }
}

/// A console wired to real backends through the app's task registry, with the events
/// coming back on its channel, as in the running TUI.
pub struct Harness {
    pub st: ConsoleState,
    pub backends: ConsoleBackends,
    pub tasks: TaskRegistry,
    pub rx: mpsc::Receiver<Tagged>,
    /// OSC 52 sequences the console wrote to the terminal.
    pub clipboard: Vec<String>,
}

impl Harness {
    pub fn new(loki: Option<&str>, prometheus: Option<&str>, alertmanager: Option<&str>) -> Self {
        Self::with_auth(loki, prometheus, alertmanager, Auth::None)
    }

    pub fn with_auth(
        loki: Option<&str>,
        prometheus: Option<&str>,
        alertmanager: Option<&str>,
        auth: Auth,
    ) -> Self {
        let backends = ConsoleBackends {
            loki: loki.map(|u| LokiClient::new(u, auth.clone(), fast()).unwrap()),
            prometheus: prometheus.map(|u| PrometheusClient::new(u, auth.clone(), fast()).unwrap()),
            alertmanager: alertmanager
                .map(|u| AlertmanagerClient::new(u, auth.clone(), fast()).unwrap()),
            alert_poll: Duration::from_millis(300),
            ..ConsoleBackends::default()
        };
        let (tx, rx) = mpsc::channel(1024);
        let endpoints = EndpointsShown {
            loki: loki.map(str::to_owned),
            prometheus: prometheus.map(str::to_owned),
            alertmanager: alertmanager.map(str::to_owned),
        };
        let mut st = ConsoleState::new("homelab-test", endpoints);
        st.tz = jiff::tz::TimeZone::UTC;
        Self {
            st,
            backends,
            tasks: TaskRegistry::new(tx),
            rx,
            clipboard: Vec::new(),
        }
    }

    pub fn run(&mut self, effects: Vec<ConsoleEffect>) {
        for fx in effects {
            for p in plan(fx, &self.backends) {
                match p {
                    Planned::Spawn(t) => self.tasks.spawn(t),
                    Planned::Cancel(k) => self.tasks.cancel(&k),
                    Planned::Notify => self.backends.refresh.notify_waiters(),
                    Planned::Terminal(s) => self.clipboard.push(s),
                    Planned::Nothing => {}
                }
            }
        }
    }

    /// Apply events (running the effects they cause) until `done` holds. Panics with `what`
    /// and the pane states after a generous deadline (no wall-clock assertion: only a bound).
    pub async fn until(&mut self, what: &str, mut done: impl FnMut(&ConsoleState) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !done(&self.st) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "timed out waiting for {what}\nlogs: conn={:?} error={:?} notice={:?} lines={}\nalerts: prom={:?} am={:?} n={} notice={:?}",
                    self.st.logs.conn,
                    self.st.logs.error,
                    self.st.logs.notice,
                    self.st.logs.buffer.len(),
                    self.st.alerts.prometheus.conn,
                    self.st.alerts.alertmanager.conn,
                    self.st.alerts.alerts.len(),
                    self.st.alerts.notice
                );
            }
            match tokio::time::timeout(left.min(Duration::from_millis(500)), self.rx.recv()).await {
                Ok(Some(tagged)) => {
                    if !self.tasks.accept(&tagged) {
                        continue;
                    }
                    if let BackendEvent::Console(ev) = tagged.event {
                        let fx = self.st.on_event(ev);
                        self.run(fx);
                    }
                }
                Ok(None) => panic!("event channel closed while waiting for {what}"),
                Err(_) => {}
            }
        }
    }

    pub fn now_ns() -> i64 {
        jiff::Timestamp::now().as_nanosecond() as i64
    }

    pub fn screen(&self, w: u16, h: u16) -> String {
        render(&self.st, w, h, jiff::Timestamp::now().as_second())
    }
}

/// Draw the console into a `w`x`h` test terminal and return its text.
pub fn render(st: &ConsoleState, w: u16, h: u16, now_s: i64) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    let theme = homelab::theme::ThemeCatalog::builtin()
        .load("homelab-dark")
        .0;
    let keymap = homelab::keymap::Keymap::builtin();
    term.draw(|f| {
        render_console(
            st,
            f,
            f.area(),
            &Cx {
                theme: &theme,
                keymap: &keymap,
                now_s,
            },
        )
    })
    .unwrap();
    term.backend().to_string()
}

/// A real Prometheus and Alertmanager, each on a loopback address of its own (their ports are
/// picked before they start and Prometheus is restarted on its port: see [`net`]), killed on
/// drop.
pub struct PromStack {
    pub dir: tempfile::TempDir,
    pub prom_addr: SocketAddr,
    pub am_addr: SocketAddr,
    prom: Option<Child>,
    am: Option<Child>,
}

impl PromStack {
    pub fn prometheus_url(&self) -> String {
        format!("http://{}", self.prom_addr)
    }
    pub fn alertmanager_url(&self) -> String {
        format!("http://{}", self.am_addr)
    }

    /// `None` (after SKIP) when the binaries are missing.
    pub fn start() -> Option<Self> {
        if !require_peer("prometheus") || !require_peer("prometheus-alertmanager") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (prom_addr, am_addr) = (net::free_addr(), net::free_addr());
        std::fs::write(
            dir.path().join("am.yml"),
            "route:\n  receiver: default\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: default\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("rules.yml"),
            r#"groups:
  - name: homelab-test
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: critical, namespace: media, app: jellyfin}
        annotations: {summary: "Always firing, for the console tests", description: "vector(1) is always 1."}
      - alert: SlowToFire
        expr: vector(1)
        for: 1h
        labels: {severity: warning, job: node-exporter}
        annotations: {summary: "Pending for an hour"}
"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("prom.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am_addr}']\n",
                dir.path().join("rules.yml").display()
            ),
        )
        .unwrap();
        let mut s = Self {
            dir,
            prom_addr,
            am_addr,
            prom: None,
            am: None,
        };
        s.start_alertmanager();
        s.start_prometheus();
        Some(s)
    }

    fn log(&self, name: &str) -> Stdio {
        Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.path().join(name))
                .unwrap(),
        )
    }

    pub fn start_alertmanager(&mut self) {
        let d = self.dir.path();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", d.join("am.yml").display()))
            .arg(format!("--storage.path={}", d.join("am-data").display()))
            .arg(format!("--web.listen-address={}", self.am_addr))
            .arg("--cluster.listen-address=")
            .stdout(self.log("am.log"))
            .stderr(self.log("am.log"))
            .spawn()
            .expect("start prometheus-alertmanager");
        self.am = Some(child);
    }

    pub fn start_prometheus(&mut self) {
        let d = self.dir.path();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", d.join("prom.yml").display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                d.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address={}", self.prom_addr))
            .arg("--rules.alert.resend-delay=1s")
            .stdout(self.log("prom.log"))
            .stderr(self.log("prom.log"))
            .spawn()
            .expect("start prometheus");
        self.prom = Some(child);
    }

    pub fn stop_prometheus(&mut self) {
        if let Some(mut c) = self.prom.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn logs(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!(
            "--- prom.log\n{}\n--- am.log\n{}",
            read("prom.log"),
            read("am.log")
        )
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PromStack {
    fn drop(&mut self) {
        for c in [self.prom.take(), self.am.take()].into_iter().flatten() {
            let mut c = c;
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots")
        .join("console")
}
