//! The non-apply PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and strategic
//! merge patch simplified to a merge patch whose lists of named maps merge item by item by `name`
//! (`$patch` directives and other patch keys are not understood).

use super::errors::ApiError;
use serde_json::Value;

/// RFC 7386; `keyed` merges lists of named maps by name (the strategic subset).
pub fn merge(target: &mut Value, patch: &Value, keyed: bool) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else if let Some(tv) = t.get_mut(k) {
                    merge(tv, v, keyed);
                } else {
                    let mut fresh = Value::Object(Default::default());
                    merge(&mut fresh, v, keyed);
                    t.insert(k.clone(), if v.is_object() { fresh } else { v.clone() });
                }
            }
        }
        (Value::Array(t), Value::Array(p)) if keyed && named(t) && named(p) => {
            for item in p {
                let name = &item["name"];
                match t.iter_mut().find(|i| &i["name"] == name) {
                    Some(ti) => merge(ti, item, keyed),
                    None => t.push(item.clone()),
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn named(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").is_some_and(Value::is_string))
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(422, "Invalid", msg)
}

/// JSON pointer unescape (`~1` is `/`, `~0` is `~`).
fn tokens(pointer: &str) -> Result<Vec<String>, ApiError> {
    if pointer.is_empty() {
        return Ok(vec![]);
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| bad(format!("invalid JSON pointer {pointer:?}")))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent<'a>(doc: &'a mut Value, toks: &[String], path: &str) -> Result<&'a mut Value, ApiError> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| bad(format!("doc is missing path: \"{path}\"")))?;
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), ApiError> {
    let toks = tokens(path)?;
    let Some((last, up)) = toks.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, up, path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= a.len())
                    .ok_or_else(|| bad(format!("add operation index out of bounds: \"{path}\"")))?
            };
            a.insert(i, value);
        }
        _ => return Err(bad(format!("doc is missing path: \"{path}\""))),
    }
    Ok(())
}

fn take(doc: &mut Value, path: &str) -> Result<Value, ApiError> {
    let toks = tokens(path)?;
    let Some((last, up)) = toks.split_last() else {
        return Ok(std::mem::take(doc));
    };
    let missing = || bad(format!("doc is missing path: \"{path}\""));
    match parent(doc, up, path)? {
        Value::Object(m) => m.remove(last).ok_or_else(missing),
        Value::Array(a) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => Ok(a.remove(i)),
            _ => Err(missing()),
        },
        _ => Err(missing()),
    }
}

/// RFC 6902 on `doc`; the first failing operation fails the whole patch (422 Invalid).
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    let mut work = doc.clone();
    for op in ops {
        let path = op["path"].as_str().unwrap_or_default();
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| bad(format!("missing value for {path:?}")))
        };
        match op["op"].as_str().unwrap_or_default() {
            "add" => add(&mut work, path, value()?)?,
            "remove" => {
                take(&mut work, path)?;
            }
            "replace" => {
                take(&mut work, path)?;
                add(&mut work, path, value()?)?;
            }
            "move" => {
                let from = op["from"].as_str().unwrap_or_default();
                let v = take(&mut work, from)?;
                add(&mut work, path, v)?;
            }
            "copy" => {
                let from = op["from"].as_str().unwrap_or_default();
                let v = work
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| bad(format!("doc is missing path: \"{from}\"")))?;
                add(&mut work, path, v)?;
            }
            "test" => {
                if work.pointer(path) != Some(&value()?) {
                    return Err(bad(format!("testing value {path} failed")));
                }
            }
            other => return Err(bad(format!("Unexpected kind: {other}"))),
        }
    }
    *doc = work;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_ops_and_merge_patch_nulls() {
        let mut d = json!({"a":{"b":[1,2]},"c":"x"});
        json_patch(
            &mut d,
            &json!([
                {"op":"add","path":"/a/b/-","value":3},
                {"op":"replace","path":"/c","value":"y"},
                {"op":"move","from":"/c","path":"/e"},
                {"op":"copy","from":"/e","path":"/f"},
                {"op":"test","path":"/f","value":"y"},
                {"op":"remove","path":"/a/b/0"}
            ]),
        )
        .unwrap();
        assert_eq!(d, json!({"a":{"b":[2,3]},"e":"y","f":"y"}));
        // A failing op leaves the document untouched.
        let err = json_patch(
            &mut d,
            &json!([{"op":"remove","path":"/e"},{"op":"remove","path":"/nope"}]),
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(d["e"], "y");
        let mut m = json!({"spec":{"x":1,"y":2,"list":[{"name":"a","v":1}]}});
        merge(
            &mut m,
            &json!({"spec":{"x":null,"list":[{"name":"b","v":2}]}}),
            true,
        );
        assert_eq!(
            m,
            json!({"spec":{"y":2,"list":[{"name":"a","v":1},{"name":"b","v":2}]}})
        );
        merge(&mut m, &json!({"spec":{"list":[{"name":"c"}]}}), false);
        assert_eq!(m["spec"]["list"], json!([{"name":"c"}]));
    }
}
