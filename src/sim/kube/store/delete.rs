//! Deletion: finalizers hold an object (deletionTimestamp set) until the last one is removed;
//! dependents found through ownerReferences go first (Background, Foreground) or lose the
//! reference (Orphan); a namespace takes its content with it.

use super::super::crd;
use super::super::errors::ApiError;
use super::super::resources::{self, ResourceType, TypeKey};
use super::{DeleteOpts, Deleted, EventType, State, Store, finalizers, meta_str, now};
use serde_json::{Value, json};

impl Store {
    /// Remove an object for good: DELETED, then whatever waited on it.
    pub(super) fn remove(
        &self,
        st: &mut State,
        key: &TypeKey,
        ns: &str,
        name: &str,
        mut last: Value,
    ) {
        let Some(objs) = st.objects.get_mut(key) else {
            return;
        };
        if objs.remove(&(ns.to_string(), name.to_string())).is_none() {
            return;
        }
        st.rv += 1;
        last["metadata"]["resourceVersion"] = json!(st.rv.to_string());
        self.record(st, key, EventType::Deleted, last.clone(), None);
        if *key == resources::crd_key()
            && let Ok(rt) = crd::resource_type(&last)
        {
            let served = st.types.get(&rt.key()).is_some_and(|t| t.custom);
            if served {
                st.types.remove(&rt.key());
                let crs: Vec<_> = st
                    .objects
                    .remove(&rt.key())
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                for ((cns, cname), obj) in crs {
                    st.rv += 1;
                    let mut obj = Value::clone(&obj);
                    obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
                    let _ = (cns, cname);
                    self.record(st, &rt.key(), EventType::Deleted, obj, None);
                }
            }
        }
        self.settle_waiters(st, &last);
    }

    /// After `gone` left: owners in foreground deletion and a terminating namespace finish when
    /// nothing of theirs is left.
    pub(super) fn settle_waiters(&self, st: &mut State, gone: &Value) {
        let owner_uids: Vec<String> = gone
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r["uid"].as_str().map(str::to_string))
            .collect();
        for uid in owner_uids {
            let owner = st.objects.iter().find_map(|(k, objs)| {
                objs.iter()
                    .find(|(_, o)| meta_str(o, "uid") == uid)
                    .map(|((ons, oname), o)| {
                        (k.clone(), ons.clone(), oname.clone(), Value::clone(o))
                    })
            });
            let Some((k, ons, oname, o)) = owner else {
                continue;
            };
            let waiting = o.pointer("/metadata/deletionTimestamp").is_some()
                && finalizers(&o).iter().any(|f| f == "foregroundDeletion");
            if waiting && Self::dependents(st, &uid).is_empty() {
                let mut next = o.clone();
                let left: Vec<String> = finalizers(&o)
                    .into_iter()
                    .filter(|f| f != "foregroundDeletion")
                    .collect();
                next["metadata"]["finalizers"] = json!(left);
                self.finish_or_commit(st, &k, &ons, &oname, o, next);
            }
        }
        let ns = meta_str(gone, "namespace").to_string();
        if !ns.is_empty() {
            let nskey = resources::namespace_key();
            if let Some(n) = Self::find(st, &nskey, "", &ns)
                && n.pointer("/metadata/deletionTimestamp").is_some()
                && finalizers(&n).is_empty()
                && !Self::has_content(st, &ns)
            {
                self.remove(st, &nskey, "", &ns, n);
            }
        }
    }

    pub(super) fn finish_or_commit(
        &self,
        st: &mut State,
        key: &TypeKey,
        ns: &str,
        name: &str,
        old: Value,
        next: Value,
    ) {
        if finalizers(&next).is_empty() && next.pointer("/metadata/deletionTimestamp").is_some() {
            self.remove(st, key, ns, name, next);
        } else {
            let _ = self.commit(st, key, ns, name, Some(old), next);
        }
    }

    pub(super) fn dependents(st: &State, uid: &str) -> Vec<(TypeKey, String, String)> {
        let mut out = vec![];
        for (k, objs) in &st.objects {
            for ((ns, name), o) in objs {
                let owned = o
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid));
                if owned {
                    out.push((k.clone(), ns.clone(), name.clone()));
                }
            }
        }
        out
    }

    pub(super) fn has_content(st: &State, ns: &str) -> bool {
        st.objects
            .iter()
            .any(|(_, objs)| objs.keys().any(|(ons, _)| ons == ns))
    }

    /// DELETE: objects with finalizers get `deletionTimestamp` and stay until the last finalizer
    /// is removed; dependents (ownerReferences) go with them (Background, Foreground) or lose
    /// the reference (Orphan); a namespace takes its content with it.
    pub fn delete(
        &self,
        key: &TypeKey,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Deleted, ApiError> {
        let mut st = self.lock();
        let rt = Self::rt(&st, key)?;
        let obj = Self::find(&st, key, ns, name).ok_or_else(|| ApiError::not_found(&rt, name))?;
        let uid_now = meta_str(&obj, "uid").to_string();
        if opts
            .precondition_uid
            .as_ref()
            .is_some_and(|u| *u != uid_now)
            || opts
                .precondition_rv
                .as_ref()
                .is_some_and(|r| r != meta_str(&obj, "resourceVersion"))
        {
            return Err(ApiError::stale(&rt, name));
        }
        if opts.dry_run {
            return Ok(Deleted::Pending(obj));
        }
        self.delete_locked(&mut st, &rt, ns, name, obj, opts.propagation.as_deref())
    }

    pub(super) fn delete_locked(
        &self,
        st: &mut State,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        obj: Value,
        propagation: Option<&str>,
    ) -> Result<Deleted, ApiError> {
        let key = rt.key();
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(Deleted::Pending(obj));
        }
        let uid = meta_str(&obj, "uid").to_string();
        let foreground = propagation == Some("Foreground");
        for (k, dns, dname) in Self::dependents(st, &uid) {
            let Some(dep) = Self::find(st, &k, &dns, &dname) else {
                continue;
            };
            if propagation == Some("Orphan") {
                let mut next = dep.clone();
                if let Some(refs) = next
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| r["uid"] != uid.as_str());
                }
                let _ = self.commit(st, &k, &dns, &dname, Some(dep), next);
            } else if let Ok(drt) = Self::rt(st, &k) {
                let _ = self.delete_locked(st, &drt, &dns, &dname, dep, propagation);
            }
        }
        if key == resources::namespace_key() {
            let content: Vec<(TypeKey, String)> = st
                .objects
                .iter()
                .flat_map(|(k, objs)| {
                    objs.keys()
                        .filter(|(o, _)| o == name)
                        .map(move |(_, n)| (k.clone(), n.clone()))
                })
                .collect();
            for (k, n) in content {
                if let (Ok(crt), Some(o)) = (Self::rt(st, &k), Self::find(st, &k, name, &n)) {
                    let _ = self.delete_locked(st, &crt, name, &n, o, propagation);
                }
            }
        }
        let mut fins = finalizers(&obj);
        if foreground && !Self::dependents(st, &uid).is_empty() {
            fins.push("foregroundDeletion".into());
        }
        let waits_for_content = key == resources::namespace_key() && Self::has_content(st, name);
        if fins.is_empty() && !waits_for_content {
            let last = obj.clone();
            self.remove(st, &key, ns, name, obj);
            return Ok(Deleted::Gone(last));
        }
        let mut next = obj.clone();
        next["metadata"]["deletionTimestamp"] = json!(now());
        next["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if !fins.is_empty() {
            next["metadata"]["finalizers"] = json!(fins);
        }
        if key == resources::namespace_key() {
            next["status"]["phase"] = json!("Terminating");
        }
        let stored = self.commit(st, &key, ns, name, Some(obj), next)?;
        Ok(Deleted::Pending(stored))
    }
}
