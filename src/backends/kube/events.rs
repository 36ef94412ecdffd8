//! The events of one object, newest first (core/v1 Events selected by `involvedObject`, which
//! every Kubernetes version serves and `kubectl describe` reads too).

use k8s_openapi::api::core::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams};

/// At most this many events are returned.
pub const MAX_EVENTS: u32 = 500;

/// One event as the health pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    /// `Normal` or `Warning`.
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    /// RFC 3339 time it was last seen (`lastTimestamp`, else `eventTime`, else creation).
    pub last_seen: String,
}

fn seen(e: &Event) -> Option<jiff::Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn line(e: &Event) -> EventLine {
    let last_seen = seen(e).map(|t| t.to_string()).unwrap_or_default();
    EventLine {
        type_: e.type_.clone().unwrap_or_default(),
        reason: e.reason.clone().unwrap_or_default(),
        message: e.message.clone().unwrap_or_default(),
        count: e.count.unwrap_or(1),
        last_seen,
    }
}

/// Events about `kind` `name` (in `namespace`, or cluster-scoped when None), newest first.
pub async fn for_object(
    client: &Client,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<Vec<EventLine>, String> {
    let ns = namespace.unwrap_or("default");
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let mut fields = format!("involvedObject.kind={kind},involvedObject.name={name}");
    if let Some(ns) = namespace {
        fields.push_str(&format!(",involvedObject.namespace={ns}"));
    }
    let list = api
        .list(&ListParams::default().fields(&fields).limit(MAX_EVENTS))
        .await
        .map_err(|e| format!("events of {kind} {ns}/{name}: {e}"))?;
    let mut items: Vec<&Event> = list.items.iter().collect();
    // Newest first; events without any time last.
    items.sort_by_key(|e| std::cmp::Reverse(seen(e)));
    Ok(items.into_iter().map(line).collect())
}
