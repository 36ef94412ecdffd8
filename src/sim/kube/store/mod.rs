//! The object store behind every resource: one global resourceVersion counter, objects filed by
//! (group, plural) then (namespace, name), a bounded history of watch events per type (older
//! versions answer 410), uid, creationTimestamp, generation (bumped on spec changes) and
//! managedFields kept by the server. Every write, from a client request or from a controller
//! loop in the simulator, goes through [`Store::write`]-based methods and reaches watchers through
//! [`Store::subscribe`].

mod allocate;
mod delete;

use super::apply;
use super::crd;
use super::defaults;
use super::errors::ApiError;
use super::fields::{self, Part, Writer};
use super::patch;
use super::resources::{self, ResourceType, TypeKey};
use super::select::Selectors;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watchers see it. `prev` is the object before (for selector transitions).
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub key: TypeKey,
    pub ty: EventType,
    pub object: Value,
    pub prev: Option<Value>,
}

#[derive(Default)]
struct History {
    events: VecDeque<Event>,
    /// The newest resourceVersion dropped from `events` (a watch from before it gets 410).
    evicted: u64,
}

struct State {
    rv: u64,
    types: BTreeMap<TypeKey, ResourceType>,
    /// Shared so lists and watch replays hand out pointers, not deep copies (5,000 pods).
    objects: BTreeMap<TypeKey, BTreeMap<(String, String), Arc<Value>>>,
    history: BTreeMap<TypeKey, History>,
    cap: usize,
}

/// A write's options: who writes (managedFields), dry run, the status subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOpts {
    pub manager: String,
    pub dry_run: bool,
    pub status: bool,
    pub force: bool,
}

impl WriteOpts {
    pub fn manager(m: &str) -> Self {
        Self {
            manager: m.into(),
            dry_run: false,
            status: false,
            force: false,
        }
    }
}

/// The PATCH bodies the server understands.
#[derive(Debug, Clone)]
pub enum Patch {
    Merge(Value),
    Strategic(Value),
    Json(Value),
    Apply(Value),
}

/// DeleteOptions that matter here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOpts {
    /// `Orphan`, `Background` (default) or `Foreground`.
    pub propagation: Option<String>,
    pub dry_run: bool,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// What a delete did: removed now (the last state), or marked and waiting for finalizers.
#[derive(Debug, Clone, PartialEq)]
pub enum Deleted {
    Gone(Value),
    Pending(Value),
}

/// A list page.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub items: Vec<Value>,
    pub rv: u64,
    pub continue_: String,
    pub remaining: Option<u64>,
}

/// A list page of the stored objects themselves (shared, not copied).
#[derive(Debug, Clone)]
pub struct SharedPage {
    pub items: Vec<Arc<Value>>,
    pub rv: u64,
    pub continue_: String,
    pub remaining: Option<u64>,
}

/// Where a watch starts: `initial` (a watch from the current state: every object, sent as
/// ADDED) or `replay` (the kept events after the asked version), then `live`.
pub struct WatchStart {
    pub initial: Vec<Arc<Value>>,
    pub replay: Vec<Event>,
    pub rv: u64,
    pub live: broadcast::Receiver<Event>,
}

pub struct Store {
    state: Mutex<State>,
    tx: broadcast::Sender<Event>,
}

pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn uid() -> String {
    let r = rand::random::<u128>();
    let h = format!("{r:032x}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn meta_str<'a>(o: &'a Value, f: &str) -> &'a str {
    o.get("metadata")
        .and_then(|m| m.get(f))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn finalizers(o: &Value) -> Vec<String> {
    o.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

const DNS1123: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn valid_name(n: &str) -> bool {
    n.len() <= 253
        && n.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

impl Store {
    /// Built-in types, the namespaces a fresh k3s server has, and `cap` watch events kept per type.
    pub fn new(cap: usize) -> Store {
        let types = resources::builtins()
            .into_iter()
            .map(|t| (t.key(), t))
            .collect();
        let (tx, _) = broadcast::channel(4096);
        let store = Store {
            // The four namespaces take 97..=100, so the first write of a test is 101.
            state: Mutex::new(State {
                rv: 96,
                types,
                objects: BTreeMap::new(),
                history: BTreeMap::new(),
                cap: cap.max(1),
            }),
            tx,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let _ = store.create(
                &resources::namespace_key(),
                "",
                json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":ns}}),
                &WriteOpts::manager("k3s"),
            );
        }
        store
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// Every served type (built-in and from Established CRDs).
    pub fn types(&self) -> Vec<ResourceType> {
        self.lock().types.values().cloned().collect()
    }

    /// The type served at group/version/plural.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.lock()
            .types
            .get(&(group.to_string(), plural.to_string()))
            .filter(|t| t.versions.iter().any(|v| v == version))
            .cloned()
    }

    /// The type an object's apiVersion and kind name.
    pub fn for_kind(&self, api_version: &str, kind: &str) -> Option<ResourceType> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.lock()
            .types
            .values()
            .find(|t| t.group == group && t.kind == kind && t.versions.iter().any(|v| v == version))
            .cloned()
    }

    fn rt(st: &State, key: &TypeKey) -> Result<ResourceType, ApiError> {
        st.types.get(key).cloned().ok_or_else(ApiError::no_route)
    }

    pub fn get(&self, key: &TypeKey, ns: &str, name: &str) -> Result<Value, ApiError> {
        let st = self.lock();
        let rt = Self::rt(&st, key)?;
        Self::find(&st, key, ns, name).ok_or_else(|| ApiError::not_found(&rt, name))
    }

    fn find(st: &State, key: &TypeKey, ns: &str, name: &str) -> Option<Value> {
        st.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
            .map(|o| Value::clone(o))
    }

    /// One page of a list: `ns` None lists every namespace; `limit`/`continue` page through
    /// (continue tokens carry the list's resourceVersion and the last key).
    pub fn list(
        &self,
        key: &TypeKey,
        ns: Option<&str>,
        sel: &Selectors,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<Listed, ApiError> {
        let page = self.list_shared(key, ns, sel, limit, cont)?;
        Ok(Listed {
            items: page.items.iter().map(|o| Value::clone(o)).collect(),
            rv: page.rv,
            continue_: page.continue_,
            remaining: page.remaining,
        })
    }

    /// [`Store::list`] without copying the objects (what the HTTP list serializes). A page
    /// costs its own items plus counting the rest: it starts at the namespace or the continue
    /// key in the ordered map, not at the first object.
    pub fn list_shared(
        &self,
        key: &TypeKey,
        ns: Option<&str>,
        sel: &Selectors,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<SharedPage, ApiError> {
        use base64::Engine as _;
        use std::ops::Bound;
        let st = self.lock();
        Self::rt(&st, key)?;
        let (list_rv, after) = match cont.filter(|c| !c.is_empty()) {
            None => (st.rv, None),
            Some(c) => {
                let bad = || ApiError::bad_request(format!("continue key is not valid: {c}"));
                let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c)
                    .map_err(|_| bad())?;
                let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
                let rv = v["rv"].as_u64().ok_or_else(bad)?;
                if rv < st.history.get(key).map(|h| h.evicted).unwrap_or(0) {
                    return Err(ApiError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    ));
                }
                let ns = v["ns"].as_str().unwrap_or_default().to_string();
                let name = v["name"].as_str().unwrap_or_default().to_string();
                (rv, Some((ns, name)))
            }
        };
        let lower = match (after, ns) {
            (Some(a), Some(n)) if a.0.as_str() < n => {
                Bound::Included((n.to_string(), String::new()))
            }
            (Some(a), _) => Bound::Excluded(a),
            (None, Some(n)) => Bound::Included((n.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let empty = BTreeMap::new();
        let matching = st
            .objects
            .get(key)
            .unwrap_or(&empty)
            .range((lower, Bound::Unbounded))
            .take_while(|((ons, _), _)| ns.is_none_or(|n| n == ons))
            .filter(|(_, o)| sel.matches(o));
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = vec![];
        let mut last = None;
        let mut more = 0u64;
        for (k, o) in matching {
            if items.len() < limit {
                items.push(o.clone());
                last = Some(k);
            } else {
                more += 1;
            }
        }
        let continue_ = match (more, last) {
            (m, Some((ns, name))) if m > 0 => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(json!({"rv": list_rv, "ns": ns, "name": name}).to_string()),
            _ => String::new(),
        };
        Ok(SharedPage {
            items,
            rv: list_rv,
            continue_,
            remaining: (more > 0).then_some(more),
        })
    }

    /// Subscribe and take what to replay in one step, so nothing falls between them. `since`
    /// None: the current objects as ADDED; Some(rv): the kept events after rv, or 410.
    pub fn watch(&self, key: &TypeKey, since: Option<u64>) -> Result<WatchStart, ApiError> {
        let st = self.lock();
        Self::rt(&st, key)?;
        let live = self.tx.subscribe();
        let (initial, replay) = match since {
            None => (
                st.objects
                    .get(key)
                    .into_iter()
                    .flat_map(|m| m.values().cloned())
                    .collect(),
                vec![],
            ),
            Some(rv) => {
                let h = st.history.get(key);
                let evicted = h.map(|h| h.evicted).unwrap_or(0);
                if rv < evicted {
                    return Err(ApiError::expired(format!(
                        "too old resource version: {rv} ({evicted})"
                    )));
                }
                let kept = h
                    .into_iter()
                    .flat_map(|h| h.events.iter())
                    .filter(|e| e.rv > rv)
                    .cloned()
                    .collect();
                (vec![], kept)
            }
        };
        Ok(WatchStart {
            initial,
            replay,
            rv: st.rv,
            live,
        })
    }

    pub fn create(
        &self,
        key: &TypeKey,
        ns: &str,
        obj: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let rt = Self::rt(&st, key)?;
        let mut obj = obj;
        let mut name = meta_str(&obj, "name").to_string();
        if name.is_empty() {
            let prefix = meta_str(&obj, "generateName");
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    &rt.kind,
                    &rt.group,
                    "",
                    &[(
                        "FieldValueRequired",
                        "metadata.name".into(),
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
            let suffix: String = (0..5)
                .map(|_| {
                    let alphabet = b"bcdfghjklmnpqrstvwxz2456789";
                    alphabet[rand::random::<usize>() % alphabet.len()] as char
                })
                .collect();
            name = format!("{prefix}{suffix}");
            obj["metadata"]["name"] = json!(name);
        }
        if Self::find(&st, key, ns, &name).is_some() {
            return Err(ApiError::already_exists(&rt, &name));
        }
        self.write(&mut st, &rt, ns, &name, None, obj, opts, None)
    }

    /// PUT: replace the whole object (404 when missing, 409 on a stale resourceVersion).
    pub fn replace(
        &self,
        key: &TypeKey,
        ns: &str,
        name: &str,
        obj: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let rt = Self::rt(&st, key)?;
        let old = Self::find(&st, key, ns, name).ok_or_else(|| ApiError::not_found(&rt, name))?;
        let sent = meta_str(&obj, "resourceVersion");
        if !sent.is_empty() && sent != meta_str(&old, "resourceVersion") {
            return Err(ApiError::stale(&rt, name));
        }
        self.write(&mut st, &rt, ns, name, Some(old), obj, opts, None)
    }

    /// PATCH of any kind; apply creates the object when it is missing.
    pub fn patch(
        &self,
        key: &TypeKey,
        ns: &str,
        name: &str,
        patch: Patch,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let rt = Self::rt(&st, key)?;
        let old = Self::find(&st, key, ns, name);
        let part = Self::part(&rt, opts);
        let (new, applied) = match patch {
            Patch::Apply(cfg) => {
                let want = rt.api_version(
                    cfg["apiVersion"]
                        .as_str()
                        .and_then(|a| a.rsplit('/').next())
                        .unwrap_or_default(),
                );
                if cfg["apiVersion"].as_str() != Some(want.as_str())
                    || cfg["kind"].as_str() != Some(rt.kind.as_str())
                {
                    return Err(ApiError::bad_request(format!(
                        "Incorrect version specified in apply patch. Specified patch version: {}, expected: {}",
                        cfg["apiVersion"].as_str().unwrap_or_default(),
                        rt.api_version(rt.preferred())
                    )));
                }
                let body_name = meta_str(&cfg, "name");
                if body_name != name {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({body_name}) does not match the name on the URL ({name})"
                    )));
                }
                if old.is_none() && opts.status {
                    return Err(ApiError::not_found(&rt, name));
                }
                let time = now();
                let w = Writer {
                    manager: &opts.manager,
                    api_version: &want,
                    subresource: opts.status.then_some("status"),
                    time: &time,
                };
                (
                    apply::apply(old.as_ref(), &cfg, &w, opts.force, part)?,
                    true,
                )
            }
            other => {
                let mut doc = old.clone().ok_or_else(|| ApiError::not_found(&rt, name))?;
                match other {
                    Patch::Merge(p) => patch::merge(&mut doc, &p, false),
                    Patch::Strategic(p) => patch::merge(&mut doc, &p, true),
                    Patch::Json(p) => patch::json_patch(&mut doc, &p)?,
                    Patch::Apply(_) => {}
                }
                (doc, false)
            }
        };
        let managed = applied.then(|| new.pointer("/metadata/managedFields").cloned());
        self.write(
            &mut st,
            &rt,
            ns,
            name,
            old,
            new,
            opts,
            managed.map(|m| m.unwrap_or(Value::Null)),
        )
    }

    fn part(rt: &ResourceType, opts: &WriteOpts) -> Part {
        match (rt.status, opts.status) {
            (_, true) => Part::StatusOnly,
            (true, false) => Part::NoStatus,
            (false, false) => Part::All,
        }
    }

    /// A controller's or the simulator's own write: create or replace `obj` whole, status
    /// included, as manager `manager`.
    pub fn put(&self, key: &TypeKey, obj: Value, manager: &str) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let rt = Self::rt(&st, key)?;
        let ns = if rt.namespaced {
            meta_str(&obj, "namespace").to_string()
        } else {
            String::new()
        };
        let name = meta_str(&obj, "name").to_string();
        let old = Self::find(&st, key, &ns, &name);
        // Status included: the type is written as if it had no status subresource.
        let whole = ResourceType {
            status: false,
            ..rt
        };
        self.write(
            &mut st,
            &whole,
            &ns,
            &name,
            old,
            obj,
            &WriteOpts::manager(manager),
            None,
        )
    }

    /// The one write path: identity, status rules, server metadata, managedFields, CRD status,
    /// deletion when the last finalizer goes, then the event.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        st: &mut State,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        old: Option<Value>,
        mut new: Value,
        opts: &WriteOpts,
        managed: Option<Value>,
    ) -> Result<Value, ApiError> {
        if !new.is_object() || !new.get("metadata").is_none_or(Value::is_object) {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object with object metadata",
            ));
        }
        if !valid_name(name) {
            return Err(ApiError::invalid(
                &rt.kind,
                &rt.group,
                name,
                &[(
                    "FieldValueInvalid",
                    "metadata.name".into(),
                    format!("Invalid value: \"{name}\": {DNS1123}"),
                )],
            ));
        }
        if rt.namespaced {
            let body_ns = meta_str(&new, "namespace");
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            if old.is_none() {
                let nskey = resources::namespace_key();
                match Self::find(st, &nskey, "", ns) {
                    None => return Err(ApiError::namespace_not_found(ns)),
                    Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
                        return Err(ApiError::new(
                            403,
                            "Forbidden",
                            format!(
                                "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                                rt.qualified()
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        let key = rt.key();
        new["apiVersion"] = json!(rt.api_version(rt.preferred()));
        new["kind"] = json!(rt.kind);
        if new.get("metadata").is_none() {
            new["metadata"] = json!({});
        }
        new["metadata"]["name"] = json!(name);
        if rt.namespaced {
            new["metadata"]["namespace"] = json!(ns);
        } else if let Some(m) = new["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        let part = Self::part(rt, opts);
        // The status subresource splits who writes what.
        match (part, &old) {
            (Part::StatusOnly, Some(o)) => {
                let status = new.get("status").cloned();
                let meta = new["metadata"].clone();
                new = o.clone();
                new["metadata"]["managedFields"] = meta["managedFields"].clone();
                match status {
                    Some(s) => new["status"] = s,
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            (Part::StatusOnly, None) => return Err(ApiError::not_found(rt, name)),
            (Part::NoStatus, _) => match old.as_ref().and_then(|o| o.get("status")) {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            },
            (Part::All, _) => {}
        }
        // API-server defaulting, after apply computed managedFields (an applier owns none of
        // it), before generation and the no-op check compare the object with the stored one.
        let mut alloc = allocate::Allocator {
            services: st.objects.get(&(String::new(), "services".to_string())),
            given: Default::default(),
        };
        if !rt.custom {
            defaults::apply(&rt.group, &rt.plural, &mut new, old.as_ref(), &mut alloc);
        }
        let time = now();
        // Server-owned metadata.
        let meta = new["metadata"]
            .as_object_mut()
            .ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
        match &old {
            Some(o) => {
                for k in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                ] {
                    match o["metadata"].get(k) {
                        Some(v) => meta.insert(k.into(), v.clone()),
                        None => meta.remove(k),
                    };
                }
                meta.insert(
                    "resourceVersion".into(),
                    o["metadata"]["resourceVersion"].clone(),
                );
            }
            None => {
                for k in [
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "resourceVersion",
                    "generation",
                ] {
                    meta.remove(k);
                }
                meta.insert("uid".into(), json!(uid()));
                meta.insert("creationTimestamp".into(), json!(time));
            }
        }
        if rt.has_generation(&new) {
            let g = old
                .as_ref()
                .and_then(|o| o.pointer("/metadata/generation"))
                .and_then(Value::as_i64);
            let changed = old
                .as_ref()
                .is_none_or(|o| o.get("spec") != new.get("spec"));
            new["metadata"]["generation"] = json!(match (g, changed) {
                (Some(g), true) => g.saturating_add(1),
                (Some(g), false) => g,
                (None, _) => 1,
            });
        }
        if let Some(o) = &old
            && o.pointer("/metadata/deletionTimestamp").is_some()
        {
            let before = finalizers(o);
            if let Some(f) = finalizers(&new).iter().find(|f| !before.contains(f)) {
                return Err(ApiError::invalid(
                    &rt.kind,
                    &rt.group,
                    name,
                    &[(
                        "FieldValueForbidden",
                        "metadata.finalizers".into(),
                        format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{\"{f}\"}}"
                        ),
                    )],
                ));
            }
        }
        match managed {
            Some(Value::Null) => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove("managedFields");
                }
            }
            Some(m) => new["metadata"]["managedFields"] = m,
            None => {
                let api_version = rt.api_version(rt.preferred());
                let w = Writer {
                    manager: &opts.manager,
                    api_version: &api_version,
                    subresource: opts.status.then_some("status"),
                    time: &time,
                };
                if let Some(o) = &old {
                    new["metadata"]["managedFields"] = o["metadata"]["managedFields"].clone();
                }
                fields::record_update(old.as_ref(), &mut new, &w, part);
            }
        }
        // Defaults a real server fills in at create.
        if old.is_none() && key == resources::namespace_key() {
            new["spec"] = json!({"finalizers": ["kubernetes"]});
            new["status"] = json!({"phase": "Active"});
            new["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
        }
        let served = if key == resources::crd_key() && !opts.status {
            let mut types = st.types.clone();
            if let Some(o) = &old
                && let Ok(prev) = crd::resource_type(o)
            {
                types.remove(&prev.key());
            }
            crd::settle(old.as_ref(), &mut new, &types, &time)?
        } else {
            None
        };
        if let Some(o) = &old
            && *o == new
        {
            return Ok(new);
        }
        if opts.dry_run {
            return Ok(new);
        }
        if new.pointer("/metadata/deletionTimestamp").is_some() && finalizers(&new).is_empty() {
            self.remove(st, &key, ns, name, new.clone());
            return Ok(new);
        }
        if let Some(t) = served {
            if let Some(o) = &old
                && let Ok(prev) = crd::resource_type(o)
                && prev.key() != t.key()
            {
                st.types.remove(&prev.key());
            }
            st.types.insert(t.key(), t);
        }
        self.commit(st, &key, ns, name, old, new)
    }

    fn commit(
        &self,
        st: &mut State,
        key: &TypeKey,
        ns: &str,
        name: &str,
        old: Option<Value>,
        mut new: Value,
    ) -> Result<Value, ApiError> {
        st.rv += 1;
        new["metadata"]["resourceVersion"] = json!(st.rv.to_string());
        st.objects
            .entry(key.clone())
            .or_default()
            .insert((ns.to_string(), name.to_string()), Arc::new(new.clone()));
        let ty = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(st, key, ty, new.clone(), old);
        Ok(new)
    }

    fn record(
        &self,
        st: &mut State,
        key: &TypeKey,
        ty: EventType,
        object: Value,
        prev: Option<Value>,
    ) {
        let ev = Event {
            rv: st.rv,
            key: key.clone(),
            ty,
            object,
            prev,
        };
        let cap = st.cap;
        let h = st.history.entry(key.clone()).or_default();
        h.events.push_back(ev.clone());
        while h.events.len() > cap {
            if let Some(old) = h.events.pop_front() {
                h.evicted = old.rv;
            }
        }
        let _ = self.tx.send(ev);
    }
}

#[cfg(test)]
mod tests;
