//! Field ownership for server-side apply, simplified to leaf fields: a path names a scalar, an
//! empty map, or a list kept whole. Lists of maps whose every item has a string `name`
//! (containers, ports, env, volumes, conditions keyed by name...) are associative: their items are
//! addressed as `k:{"name":"..."}` like the real `+listMapKey=name` lists. What is simplified: no
//! per-type schema, so other list keys (`containerPort`, `type`, `uid`) and sets (`v:`) are atomic
//! lists, and a map is never owned as a whole (`.` entries are written but not required).

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Elem {
    Field(String),
    /// The item of an associative list whose `name` is this.
    Key(String),
}

pub type FieldPath = Vec<Elem>;
pub type FieldSet = BTreeSet<FieldPath>;

/// `metadata` fields the server owns; never part of anyone's field set.
const SERVER_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

fn keyed(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").and_then(Value::as_str).is_some())
}

/// Every leaf path of an object, without apiVersion, kind and the server's metadata; `status`
/// is left out or kept alone as `part` says.
pub fn leaves(obj: &Value, part: Part) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        if k == "apiVersion" || k == "kind" || !part.includes(k) {
            continue;
        }
        let mut path = vec![Elem::Field(k.clone())];
        if k == "metadata" {
            for (mk, mv) in v.as_object().into_iter().flatten() {
                if SERVER_META.contains(&mk.as_str()) {
                    continue;
                }
                path.push(Elem::Field(mk.clone()));
                walk(mv, &mut path, &mut out);
                path.pop();
            }
        } else {
            walk(v, &mut path, &mut out);
        }
    }
    out
}

/// Which top-level fields a write may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    All,
    /// Everything but `status` (the main resource of a type with a status subresource).
    NoStatus,
    /// Only `status` (and metadata), the `/status` subresource.
    StatusOnly,
}

impl Part {
    pub fn includes(self, top: &str) -> bool {
        match self {
            Part::All => true,
            Part::NoStatus => top != "status",
            Part::StatusOnly => top == "status" || top == "metadata",
        }
    }
}

fn walk(v: &Value, path: &mut FieldPath, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                path.push(Elem::Field(k.clone()));
                walk(c, path, out);
                path.pop();
            }
        }
        Value::Array(items) if keyed(items) => {
            for item in items {
                let name = item["name"].as_str().unwrap_or_default().to_string();
                path.push(Elem::Key(name));
                walk(item, path, out);
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The value at `path`, if present.
pub fn get<'a>(v: &'a Value, path: &[Elem]) -> Option<&'a Value> {
    let mut cur = v;
    for e in path {
        cur = match e {
            Elem::Field(f) => cur.get(f)?,
            Elem::Key(name) => cur
                .as_array()?
                .iter()
                .find(|i| i.get("name").and_then(Value::as_str) == Some(name))?,
        };
    }
    Some(cur)
}

/// Remove the value at `path`; maps and list items it leaves empty go too.
pub fn remove(v: &mut Value, path: &[Elem]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    // An item's `name` is its key: it stays while the item has other fields (they are found
    // through it), and the item goes when nothing else is left.
    if let (Elem::Field(f), Some(Elem::Key(_))) = (last, parent.last())
        && f == "name"
    {
        if get(v, parent)
            .and_then(Value::as_object)
            .is_some_and(|m| m.len() > 1)
        {
            return;
        }
        return remove(v, parent);
    }
    if let Some(p) = get_mut(v, parent) {
        match (last, p) {
            (Elem::Field(f), Value::Object(m)) => {
                m.remove(f);
            }
            (Elem::Key(name), Value::Array(items)) => {
                items.retain(|i| i.get("name").and_then(Value::as_str) != Some(name));
            }
            _ => return,
        }
    }
    let now_empty = match get(v, parent) {
        Some(Value::Object(m)) => m.is_empty() || is_bare_item(parent, m),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    };
    if now_empty && !parent.is_empty() {
        remove(v, parent);
    }
}

/// A list item left with only its key.
fn is_bare_item(path: &[Elem], m: &Map<String, Value>) -> bool {
    matches!(path.last(), Some(Elem::Key(_))) && m.len() == 1 && m.contains_key("name")
}

fn get_mut<'a>(v: &'a mut Value, path: &[Elem]) -> Option<&'a mut Value> {
    let mut cur = v;
    for e in path {
        cur = match e {
            Elem::Field(f) => cur.get_mut(f)?,
            Elem::Key(name) => cur
                .as_array_mut()?
                .iter_mut()
                .find(|i| i.get("name").and_then(Value::as_str) == Some(name))?,
        };
    }
    Some(cur)
}

/// `.spec.containers[name="app"].image`, the way apimachinery prints a field path.
pub fn render(path: &[Elem]) -> String {
    path.iter()
        .map(|e| match e {
            Elem::Field(f) => format!(".{f}"),
            Elem::Key(n) => format!("[name={}]", json!(n)),
        })
        .collect()
}

/// FieldsV1 (`{"f:spec":{"f:replicas":{}}}`) of a set.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for e in path {
            let key = match e {
                Elem::Field(f) => format!("f:{f}"),
                Elem::Key(n) => format!("k:{}", json!({"name": n})),
            };
            let is_item = matches!(e, Elem::Key(_));
            let entry = cur.entry(key).or_insert_with(|| json!({}));
            let Some(m) = entry.as_object_mut() else {
                break;
            };
            if is_item {
                m.entry(".").or_insert_with(|| json!({}));
            }
            cur = m;
        }
    }
    Value::Object(root)
}

/// The set a FieldsV1 value names (its leaves are the empty maps, `.` aside).
pub fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    let mut path = vec![];
    read_v1(v, &mut path, &mut out, 0);
    out
}

fn read_v1(v: &Value, path: &mut FieldPath, out: &mut FieldSet, depth: usize) {
    let Some(m) = v.as_object() else { return };
    let children: Vec<_> = m.iter().filter(|(k, _)| k.as_str() != ".").collect();
    if children.is_empty() || depth > 64 {
        if !path.is_empty() {
            out.insert(path.clone());
        }
        return;
    }
    for (k, c) in children {
        let elem = if let Some(f) = k.strip_prefix("f:") {
            Elem::Field(f.to_string())
        } else if let Some(key) = k.strip_prefix("k:") {
            match serde_json::from_str::<Value>(key)
                .ok()
                .and_then(|kv| kv.get("name").and_then(Value::as_str).map(str::to_string))
            {
                Some(n) => Elem::Key(n),
                None => continue,
            }
        } else {
            continue;
        };
        path.push(elem);
        read_v1(c, path, out, depth + 1);
        path.pop();
    }
}

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl Entry {
    fn same_owner(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }

    /// How conflict messages name the manager: `"kubectl"` for an applier, `"x" using apps/v1
    /// at <time>` for an updater (apimachinery `conflict.go` printManager).
    pub fn describe(&self) -> String {
        let mut s = json!(self.manager).to_string();
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
            if !self.time.is_empty() {
                s.push_str(&format!(" at {}", self.time));
            }
        }
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {}", json!(sub)));
        }
        s
    }
}

pub fn read_managed(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().to_string(),
            operation: e["operation"].as_str().unwrap_or("Update").to_string(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
            time: e["time"].as_str().unwrap_or_default().to_string(),
            subresource: e["subresource"].as_str().map(str::to_string),
            fields: from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

/// Write the entries back, dropping the paths the object no longer has and empty entries.
pub fn write_managed(obj: &mut Value, entries: Vec<Entry>) {
    let mut out = vec![];
    for mut e in entries {
        e.fields.retain(|p| get(obj, p).is_some());
        if e.fields.is_empty() {
            continue;
        }
        let mut v = json!({"manager": e.manager, "operation": e.operation,
            "apiVersion": e.api_version, "time": e.time, "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(&e.fields)});
        if let Some(s) = e.subresource {
            v["subresource"] = json!(s);
        }
        out.push(v);
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if out.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(out));
        }
    }
}

/// Who did a write, for its managedFields entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: Option<&'a str>,
    pub time: &'a str,
}

/// An Update (create, PUT, merge or JSON patch): the writer takes every leaf it changed from
/// whoever owned it (updates never conflict).
pub fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer, part: Part) {
    let mut entries = old.map(read_managed).unwrap_or_default();
    let changed: FieldSet = leaves(new, part)
        .into_iter()
        .filter(|p| old.and_then(|o| get(o, p)) != get(new, p))
        .collect();
    if !changed.is_empty() {
        for e in &mut entries {
            e.fields.retain(|p| !changed.contains(p));
        }
        match entries
            .iter_mut()
            .find(|e| e.same_owner(w.manager, "Update", w.subresource))
        {
            Some(e) => {
                e.fields.extend(changed);
                e.time = w.time.to_string();
                e.api_version = w.api_version.to_string();
            }
            None => entries.push(Entry {
                manager: w.manager.to_string(),
                operation: "Update".into(),
                api_version: w.api_version.to_string(),
                time: w.time.to_string(),
                subresource: w.subresource.map(str::to_string),
                fields: changed,
            }),
        }
    }
    write_managed(new, entries);
}

/// The entry of an applier, if it has one.
pub fn applier<'a>(entries: &'a mut [Entry], w: &Writer) -> Option<&'a mut Entry> {
    entries
        .iter_mut()
        .find(|e| e.same_owner(w.manager, "Apply", w.subresource))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_v1_round_trips_and_removal_prunes() {
        let obj = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","uid":"u","labels":{"a":"1"}},
            "spec":{"containers":[{"name":"app","image":"i","ports":[{"containerPort":80}]}]}});
        let set = leaves(&obj, Part::All);
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1,
            json!({"f:metadata":{"f:labels":{"f:a":{}}},"f:spec":{"f:containers":{
            "k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{}}}}})
        );
        assert_eq!(from_fields_v1(&v1), set);
        let mut o = obj.clone();
        for p in set
            .iter()
            .filter(|p| p.first() == Some(&Elem::Field("spec".into())))
        {
            remove(&mut o, p);
        }
        assert_eq!(o.get("spec"), None, "emptied maps and items go too");
        assert_eq!(
            render(&[
                Elem::Field("spec".into()),
                Elem::Key("app".into()),
                Elem::Field("image".into())
            ]),
            ".spec[name=\"app\"].image"
        );
    }
}
