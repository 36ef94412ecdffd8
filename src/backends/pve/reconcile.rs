//! A POST that starts a task is sent once. The transport retries only idempotent requests (GET,
//! PUT with absolute values, DELETE); when a POST's answer is lost (timeout, dropped connection,
//! 5xx) the change may have happened anyway, so instead of sending it again we read the state
//! back: the node's task list, compared with the list taken just before the POST. A new task of
//! the expected type and id, started by us, is the one our POST started.

use std::collections::BTreeSet;

use serde_json::Value;

use super::error::PveError;
use super::transport::{Method, PveClient};

/// Where a task-starting POST leaves its trace: the task type PVE gives it (`qmcreate`,
/// `qmclone`, `qmstart`, `download`...) and the id (the VM id; `None` for storage tasks).
#[derive(Debug, Clone, Copy)]
pub struct TaskProbe<'a> {
    pub node: &'a str,
    pub kind: &'a str,
    pub id: Option<u32>,
}

impl PveClient {
    /// UPIDs of this kind of task (running and finished) that the token can see on the node.
    async fn task_ids(&self, probe: &TaskProbe<'_>) -> Result<BTreeSet<String>, PveError> {
        let mut query = vec![
            ("typefilter".to_owned(), probe.kind.to_owned()),
            ("source".to_owned(), "all".to_owned()),
            ("limit".to_owned(), "500".to_owned()),
        ];
        if let Some(id) = probe.id {
            query.push(("vmid".to_owned(), id.to_string()));
        }
        let data = self
            .call(
                Method::Get,
                &format!("/nodes/{}/tasks", probe.node),
                &[],
                &query,
            )
            .await?;
        let me = self.principal();
        Ok(data
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|t| t.get("user").and_then(Value::as_str) == Some(me))
            .filter_map(|t| t.get("upid").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }

    /// Send `post` (a POST starting a task) exactly once. If its answer is lost, the new task it
    /// started, if any, is found in the task list and its UPID returned as the answer; if none
    /// is there, the original error is returned (its hint says the request was not repeated).
    pub(crate) async fn post_task<F>(
        &self,
        probe: TaskProbe<'_>,
        post: F,
    ) -> Result<Value, PveError>
    where
        F: std::future::Future<Output = Result<Value, PveError>>,
    {
        // The list before the POST; without it a lost answer cannot be told apart from an
        // older task, so the error stands.
        let before = self.task_ids(&probe).await.ok();
        let err = match post.await {
            Ok(v) => return Ok(v),
            Err(e) if e.retryable() => e,
            Err(e) => return Err(e),
        };
        let Some(before) = before else {
            return Err(err);
        };
        tracing::info!("{err}; reading the task list back instead of sending the POST again");
        match self.task_ids(&probe).await {
            Ok(after) => match after.difference(&before).next() {
                Some(upid) => {
                    tracing::info!("{}: the lost answer was {upid}", err.call);
                    Ok(Value::String(upid.clone()))
                }
                None => Err(err),
            },
            Err(_) => Err(err),
        }
    }
}
