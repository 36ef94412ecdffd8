//! Effects: the side effects `update` asks for. Tasks run on tokio and report back as
//! [`BackendEvent`]s over one bounded channel. Tasks are keyed: spawning a task with a key that
//! is already running aborts the old one, and anything the old one still sends is dropped
//! (generation check), so the newest request always wins.

use crate::msg::BackendEvent;
use futures::FutureExt;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::ExitStatus;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Identifies a task for "newest wins" and cancellation: `repo-status`, `loki-tail`,
/// `stage:proxmox`... One running task per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey(pub String);

impl TaskKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A backend event tagged with the task that produced it.
#[derive(Debug)]
pub struct Tagged {
    pub key: TaskKey,
    pub generation: u64,
    pub event: BackendEvent,
}

/// Handed to streaming tasks: send as many events as you like; `send` waits when the channel
/// is full (back-pressure) and returns false once the app is gone or the task is stale.
#[derive(Debug, Clone)]
pub struct EventSink {
    key: TaskKey,
    generation: u64,
    tx: mpsc::Sender<Tagged>,
}

impl EventSink {
    pub async fn send(&self, event: impl Into<BackendEvent>) -> bool {
        self.tx
            .send(Tagged {
                key: self.key.clone(),
                generation: self.generation,
                event: event.into(),
            })
            .await
            .is_ok()
    }

    /// For blocking code inside `spawn_blocking`.
    pub fn blocking_send(&self, event: impl Into<BackendEvent>) -> bool {
        self.tx
            .blocking_send(Tagged {
                key: self.key.clone(),
                generation: self.generation,
                event: event.into(),
            })
            .is_ok()
    }
}

type StreamFn = Box<dyn FnOnce(EventSink) -> BoxFuture<'static, ()> + Send>;
type BlockingFn = Box<dyn FnOnce() -> BackendEvent + Send>;

/// What a task runs.
pub enum Job {
    /// One async computation, one event.
    Future(BoxFuture<'static, BackendEvent>),
    /// Blocking work (git2, file I/O, crypto) on tokio's blocking pool, one event.
    Blocking(BlockingFn),
    /// A long-lived subscription that sends many events (log tail, watch, stage run).
    Stream(StreamFn),
}

pub struct Task {
    pub key: TaskKey,
    /// Human description for logs and "quit while X is running" prompts.
    pub label: String,
    pub job: Job,
}

impl Task {
    pub fn future<E: Into<BackendEvent>>(
        key: TaskKey,
        label: impl Into<String>,
        fut: impl Future<Output = E> + Send + 'static,
    ) -> Self {
        Self {
            key,
            label: label.into(),
            job: Job::Future(Box::pin(async move { fut.await.into() })),
        }
    }

    pub fn blocking<E: Into<BackendEvent>>(
        key: TaskKey,
        label: impl Into<String>,
        f: impl FnOnce() -> E + Send + 'static,
    ) -> Self {
        Self {
            key,
            label: label.into(),
            job: Job::Blocking(Box::new(move || f().into())),
        }
    }

    pub fn stream<F, Fut>(key: TaskKey, label: impl Into<String>, f: F) -> Self
    where
        F: FnOnce(EventSink) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            key,
            label: label.into(),
            job: Job::Stream(Box::new(move |sink| Box::pin(f(sink)))),
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.job {
            Job::Future(_) => "future",
            Job::Blocking(_) => "blocking",
            Job::Stream(_) => "stream",
        };
        write!(f, "Task({}, {kind}, {:?})", self.key, self.label)
    }
}

/// How an [`External`] program ended: its exit status, or why it could not be started.
pub type ExternalResult = Result<ExitStatus, std::io::Error>;

type ThenFn = Box<dyn FnOnce(ExternalResult) -> BackendEvent + Send>;

/// A program that takes over the terminal (the operator's editor). The runtime restores the
/// terminal, stops reading input, runs the program in the foreground with the terminal as its
/// stdin/stdout/stderr and `cwd` as its directory, waits for it, takes the terminal back (full
/// repaint at the current size), and delivers `then(result)` like any backend event, so the
/// screen that asked gets its own event with the exit status or the spawn error.
pub struct External {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub then: ThenFn,
}

impl External {
    pub fn new<E: Into<BackendEvent>>(
        program: impl Into<String>,
        args: Vec<String>,
        cwd: impl Into<PathBuf>,
        then: impl FnOnce(ExternalResult) -> E + Send + 'static,
    ) -> Self {
        Self {
            program: program.into(),
            args,
            cwd: cwd.into(),
            then: Box::new(move |result| then(result).into()),
        }
    }
}

impl fmt::Debug for External {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("External")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("cwd", &self.cwd)
            .finish_non_exhaustive()
    }
}

/// A side effect for the runtime. `update` returns these; it never performs them.
#[derive(Debug)]
pub enum Effect {
    Spawn(Task),
    Cancel(TaskKey),
    /// Restore the terminal, stop the process (SIGTSTP), take the terminal back on resume.
    Suspend,
    /// Hand the terminal to a program (an editor) until it exits, then take it back.
    External(External),
    /// Leave the event loop, restore the terminal.
    Quit,
}

pub type Effects = Vec<Effect>;

/// Running tasks by key, with the newest generation per key for stale-result dropping.
pub struct TaskRegistry {
    tx: mpsc::Sender<Tagged>,
    /// Newest generation spawned per key; 0 after a cancel (matches nothing).
    current: HashMap<TaskKey, u64>,
    handles: HashMap<TaskKey, (JoinHandle<()>, String)>,
    next_generation: u64,
}

impl TaskRegistry {
    pub fn new(tx: mpsc::Sender<Tagged>) -> Self {
        Self {
            tx,
            current: HashMap::new(),
            handles: HashMap::new(),
            next_generation: 1,
        }
    }

    /// Start `task`, aborting a running task with the same key. Must run inside a tokio runtime.
    pub fn spawn(&mut self, task: Task) {
        let generation = self.next_generation;
        self.next_generation += 1;
        self.handles.retain(|_, (h, _)| !h.is_finished());
        if let Some((old, _)) = self.handles.remove(&task.key) {
            old.abort();
        }
        self.current.insert(task.key.clone(), generation);
        let sink = EventSink {
            key: task.key.clone(),
            generation,
            tx: self.tx.clone(),
        };
        tracing::debug!(key = %task.key, label = %task.label, generation, "spawn task");
        let key = task.key.clone();
        // A panic inside a task is caught here and becomes its `TaskFailed` event (an error
        // toast); the panic hook only logs it (runtime::panics).
        let label = task.label.clone();
        let failed = move |key: TaskKey, payload: &(dyn std::any::Any + Send)| {
            BackendEvent::App(crate::app::Event::TaskFailed {
                key,
                error: format!("{label} panicked: {}", super::panics::message(payload)),
            })
        };
        let handle = match task.job {
            Job::Future(fut) => tokio::spawn(async move {
                let event = match AssertUnwindSafe(fut).catch_unwind().await {
                    Ok(event) => event,
                    Err(payload) => failed(sink.key.clone(), payload.as_ref()),
                };
                sink.send(event).await;
            }),
            Job::Blocking(f) => tokio::spawn(async move {
                let event = match tokio::task::spawn_blocking(f).await {
                    Ok(event) => event,
                    Err(e) if e.is_panic() => failed(sink.key.clone(), e.into_panic().as_ref()),
                    Err(e) => BackendEvent::App(crate::app::Event::TaskFailed {
                        key: sink.key.clone(),
                        error: e.to_string(),
                    }),
                };
                sink.send(event).await;
            }),
            Job::Stream(f) => tokio::spawn(async move {
                let stream = AssertUnwindSafe(f(sink.clone())).catch_unwind();
                if let Err(payload) = stream.await {
                    sink.send(failed(sink.key.clone(), payload.as_ref())).await;
                }
            }),
        };
        self.handles.insert(key, (handle, task.label));
    }

    /// Abort the task with this key; anything it already queued is dropped.
    pub fn cancel(&mut self, key: &TaskKey) {
        self.current.insert(key.clone(), 0);
        if let Some((handle, label)) = self.handles.remove(key) {
            tracing::debug!(%key, %label, "cancel task");
            handle.abort();
        }
    }

    /// Whether an event comes from the newest, not cancelled, task of its key.
    pub fn accept(&self, tagged: &Tagged) -> bool {
        self.current.get(&tagged.key) == Some(&tagged.generation)
    }

    /// Labels of tasks still running, sorted.
    pub fn running(&self) -> Vec<String> {
        let mut labels: Vec<String> = self
            .handles
            .values()
            .filter(|(h, _)| !h.is_finished())
            .map(|(_, l)| l.clone())
            .collect();
        labels.sort();
        labels
    }

    pub fn abort_all(&mut self) {
        for (_, (handle, _)) in self.handles.drain() {
            handle.abort();
        }
    }
}

impl Drop for TaskRegistry {
    fn drop(&mut self) {
        self.abort_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn failed(key: &str, text: &str) -> BackendEvent {
        BackendEvent::App(crate::app::Event::TaskFailed {
            key: TaskKey::new(key),
            error: text.into(),
        })
    }

    fn text(ev: &BackendEvent) -> String {
        match ev {
            BackendEvent::App(crate::app::Event::TaskFailed { error, .. }) => error.clone(),
            other => format!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn newest_request_wins() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut reg = TaskRegistry::new(tx);
        // A slow first request, then a fast second one with the same key.
        reg.spawn(Task::future(TaskKey::new("k"), "slow", async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            failed("k", "first")
        }));
        reg.spawn(Task::future(TaskKey::new("k"), "fast", async {
            failed("k", "second")
        }));
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(reg.accept(&got));
        assert_eq!(text(&got.event), "second");
        // The first was aborted: nothing else arrives.
        assert!(
            tokio::time::timeout(Duration::from_millis(400), rx.recv())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn stale_and_cancelled_events_are_dropped() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut reg = TaskRegistry::new(tx);
        // The old result is already queued when the new request starts: it must be ignored.
        reg.spawn(Task::blocking(TaskKey::new("b"), "blocking", || {
            failed("b", "old")
        }));
        // Queued, not merely "probably done by now": a blocking job that has not started
        // when the new request replaces it never runs at all.
        let queued = tokio::time::Instant::now() + Duration::from_secs(30);
        while rx.is_empty() {
            assert!(
                tokio::time::Instant::now() < queued,
                "the old result never arrived"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        reg.spawn(Task::future(TaskKey::new("b"), "new", async {
            failed("b", "new")
        }));
        let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(text(&first.event), "old");
        assert!(!reg.accept(&first), "stale blocking result accepted");
        let second = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(reg.accept(&second));

        reg.spawn(Task::stream(
            TaskKey::new("s"),
            "stream",
            |sink| async move {
                for i in 0..3 {
                    sink.send(failed("s", &i.to_string())).await;
                }
                std::future::pending::<()>().await;
            },
        ));
        let one = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(reg.accept(&one));
        assert_eq!(reg.running(), vec!["stream".to_owned()]);
        reg.cancel(&TaskKey::new("s"));
        // Whatever the stream queued before the cancel is now stale.
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            assert!(!reg.accept(&ev));
        }
        assert_eq!(reg.running(), Vec::<String>::new());
    }

    /// A panic in any kind of task comes back as that task's `TaskFailed` (an error toast, the
    /// loop goes on), and the registry keeps working.
    #[tokio::test]
    async fn a_panicking_task_reports_its_failure() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut reg = TaskRegistry::new(tx);
        reg.spawn(Task::future::<BackendEvent>(
            TaskKey::new("f"),
            "future job",
            async { panic!("future boom") },
        ));
        reg.spawn(Task::blocking::<BackendEvent>(
            TaskKey::new("b"),
            "blocking job",
            || panic!("blocking boom"),
        ));
        reg.spawn(Task::stream(
            TaskKey::new("s"),
            "stream job",
            |_sink| async { panic!("stream boom") },
        ));
        let mut errors = Vec::new();
        for _ in 0..3 {
            let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("a panicking task reports within 10 s")
                .unwrap();
            assert!(reg.accept(&got));
            errors.push(text(&got.event));
        }
        errors.sort();
        assert_eq!(
            errors,
            vec![
                "blocking job panicked: blocking boom",
                "future job panicked: future boom",
                "stream job panicked: stream boom",
            ]
        );
        reg.spawn(Task::future(TaskKey::new("f"), "after", async {
            failed("f", "still working")
        }));
        let got = rx.recv().await.unwrap();
        assert_eq!(text(&got.event), "still working");
    }
}
