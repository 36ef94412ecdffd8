//! Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): the columns
//! kube-apiserver's printers give pods, nodes, deployments, namespaces, configmaps and CRDs;
//! custom resources print their `additionalPrinterColumns` (Name, then Age when none are
//! defined); anything else prints Name and Age.

use super::resources::{PrinterColumn, ResourceType};
use serde_json::{Value, json};

/// What `rows[].object` carries (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    pub fn parse(q: Option<&str>) -> Result<Include, String> {
        match q.unwrap_or("Metadata") {
            "" | "Metadata" => Ok(Include::Metadata),
            "None" => Ok(Include::None),
            "Object" => Ok(Include::Object),
            other => Err(format!("unrecognized includeObject value: \"{other}\"")),
        }
    }
}

/// Human age like kubectl prints it: `42s`, `5m`, `3h`, `2d`.
pub fn age(created: &str) -> String {
    let Ok(t) = created.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn col(name: &str, ty: &str, format: &str, priority: u64, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

fn text(o: &Value, p: &str) -> String {
    o.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn or_none(s: String) -> String {
    if s.is_empty() { "<none>".into() } else { s }
}

fn created(o: &Value) -> String {
    age(&text(o, "/metadata/creationTimestamp"))
}

fn condition(o: &Value, ty: &str) -> Option<String> {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == ty)
        .and_then(|c| c["status"].as_str())
        .map(str::to_string)
}

fn int(o: &Value, p: &str) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.";

/// Column definitions and one row of cells per object.
type Printer = (Vec<Value>, fn(&Value) -> Vec<Value>);

fn pods() -> Printer {
    (
        vec![
            col("Name", "string", "name", 0, NAME_DESC),
            col(
                "Ready",
                "string",
                "",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                "string",
                "",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                "string",
                "",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            col("Age", "string", "", 0, AGE_DESC),
            col(
                "IP",
                "string",
                "",
                1,
                "The IP address assigned to this pod.",
            ),
            col(
                "Node",
                "string",
                "",
                1,
                "The name of the node this pod is assigned to.",
            ),
            col(
                "Nominated Node",
                "string",
                "",
                1,
                "The name of the node nominated by the scheduler.",
            ),
            col(
                "Readiness Gates",
                "string",
                "",
                1,
                "The readiness gates of this pod.",
            ),
        ],
        |o| {
            let containers = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or(0);
            let statuses: Vec<&Value> = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            let ready = statuses.iter().filter(|s| s["ready"] == true).count();
            let restarts: i64 = statuses
                .iter()
                .map(|s| s["restartCount"].as_i64().unwrap_or(0))
                .sum();
            // printPod: `3 (12s ago)` from the newest lastState.terminated.finishedAt.
            let last_restart = statuses
                .iter()
                .filter_map(|s| s.pointer("/lastState/terminated/finishedAt"))
                .filter_map(Value::as_str)
                .max();
            let restarts = match last_restart {
                Some(t) if restarts > 0 => format!("{restarts} ({} ago)", age(t)),
                _ => restarts.to_string(),
            };
            let waiting = statuses
                .iter()
                .find_map(|s| s.pointer("/state/waiting/reason").and_then(Value::as_str));
            let mut status =
                waiting
                    .map(str::to_string)
                    .unwrap_or_else(|| match text(o, "/status/phase") {
                        p if p.is_empty() => "Pending".into(),
                        p => p,
                    });
            if o.pointer("/metadata/deletionTimestamp").is_some() {
                status = "Terminating".into();
            }
            vec![
                json!(text(o, "/metadata/name")),
                json!(format!("{ready}/{containers}")),
                json!(status),
                json!(restarts),
                json!(created(o)),
                json!(or_none(text(o, "/status/podIP"))),
                json!(or_none(text(o, "/spec/nodeName"))),
                json!("<none>"),
                json!("<none>"),
            ]
        },
    )
}

/// PersistentVolumeClaims as `printPersistentVolumeClaim` prints them (access modes as
/// RWO/ROX/RWX/RWOP).
fn claims() -> Printer {
    let d = |f: &str| format!("{f} of the claim (see core/v1 PersistentVolumeClaim).");
    (
        vec![
            col("Name", "string", "name", 0, NAME_DESC),
            col("Status", "string", "", 0, &d("status.phase")),
            col("Volume", "string", "", 0, &d("spec.volumeName")),
            col("Capacity", "string", "", 0, &d("status.capacity")),
            col("Access Modes", "string", "", 0, &d("status.accessModes")),
            col("StorageClass", "string", "", 0, &d("spec.storageClassName")),
            col(
                "VolumeAttributesClass",
                "string",
                "",
                0,
                &d("spec.volumeAttributesClassName"),
            ),
            col("Age", "string", "", 0, AGE_DESC),
            col("VolumeMode", "string", "", 1, &d("spec.volumeMode")),
        ],
        |o| {
            let bound = o.pointer("/metadata/deletionTimestamp").is_none()
                && text(o, "/status/phase") == "Bound";
            let modes = o
                .pointer("/status/accessModes")
                .and_then(Value::as_array)
                .filter(|_| bound)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|m| match m {
                    "ReadWriteOnce" => "RWO",
                    "ReadOnlyMany" => "ROX",
                    "ReadWriteMany" => "RWX",
                    "ReadWriteOncePod" => "RWOP",
                    other => other,
                })
                .collect::<Vec<_>>()
                .join(",");
            let phase = if o.pointer("/metadata/deletionTimestamp").is_some() {
                "Terminating".to_string()
            } else {
                text(o, "/status/phase")
            };
            let capacity = if bound {
                text(o, "/status/capacity/storage")
            } else {
                String::new()
            };
            let vac = match text(o, "/spec/volumeAttributesClassName") {
                v if v.is_empty() => "<unset>".to_string(),
                v => v,
            };
            vec![
                json!(text(o, "/metadata/name")),
                json!(phase),
                json!(text(o, "/spec/volumeName")),
                json!(capacity),
                json!(modes),
                json!(text(o, "/spec/storageClassName")),
                json!(vac),
                json!(created(o)),
                json!(or_none(text(o, "/spec/volumeMode"))),
            ]
        },
    )
}

/// Services as kube-apiserver prints them (`printService`).
fn services() -> Printer {
    let d = |f: &str| format!("{f} of the service (see core/v1 Service).");
    (
        vec![
            col("Name", "string", "name", 0, NAME_DESC),
            col("Type", "string", "", 0, &d("spec.type")),
            col("Cluster-IP", "string", "", 0, &d("spec.clusterIP")),
            col("External-IP", "string", "", 0, &d("spec.externalIPs")),
            col("Port(s)", "string", "", 0, &d("spec.ports")),
            col("Age", "string", "", 0, AGE_DESC),
            col("Selector", "string", "", 1, &d("spec.selector")),
        ],
        |o| {
            let ty = text(o, "/spec/type");
            let strings = |p: &str| -> Vec<String> {
                o.pointer(p)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            };
            let mut external = strings("/spec/externalIPs");
            let external = match ty.as_str() {
                "ExternalName" => text(o, "/spec/externalName"),
                "LoadBalancer" => {
                    external.extend(
                        o.pointer("/status/loadBalancer/ingress")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(|i| i["ip"].as_str().or(i["hostname"].as_str()))
                            .map(str::to_string),
                    );
                    if external.is_empty() {
                        "<pending>".into()
                    } else {
                        external.join(",")
                    }
                }
                _ => or_none(external.join(",")),
            };
            let ports = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64() {
                        Some(n) => format!("{}:{n}/{proto}", p["port"]),
                        None => format!("{}/{proto}", p["port"]),
                    }
                })
                .collect::<Vec<_>>()
                .join(",");
            let selector = o
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",");
            vec![
                json!(text(o, "/metadata/name")),
                json!(ty),
                json!(or_none(text(o, "/spec/clusterIP"))),
                json!(external),
                json!(or_none(ports)),
                json!(created(o)),
                json!(or_none(selector)),
            ]
        },
    )
}

/// core/v1 Events as kube-apiserver prints them (`printEvent`): the last-seen age with
/// `(xN over AGE)` for repeated ones, `kind/name` as Object.
fn events() -> Printer {
    let d = |f: &str| format!("{f} of the event (see core/v1 Event).");
    (
        vec![
            col("Last Seen", "string", "", 0, &d("lastTimestamp")),
            col("Type", "string", "", 0, &d("type")),
            col("Reason", "string", "", 0, &d("reason")),
            col("Object", "string", "", 0, &d("involvedObject")),
            col("Subobject", "string", "", 1, &d("involvedObject.fieldPath")),
            col("Source", "string", "", 1, &d("source")),
            col("Message", "string", "", 0, &d("message")),
            col("First Seen", "string", "", 1, &d("firstTimestamp")),
            col("Count", "string", "", 1, &d("count")),
            col("Name", "string", "name", 1, NAME_DESC),
        ],
        |o| {
            let count = int(o, "/count");
            let last = age(&text(o, "/lastTimestamp"));
            let first = age(&text(o, "/firstTimestamp"));
            let seen = if count > 1 {
                format!("{last} (x{count} over {first})")
            } else {
                last
            };
            let source = [text(o, "/source/component"), text(o, "/source/host")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                json!(seen),
                json!(text(o, "/type")),
                json!(text(o, "/reason")),
                json!(format!(
                    "{}/{}",
                    text(o, "/involvedObject/kind").to_lowercase(),
                    text(o, "/involvedObject/name")
                )),
                json!(text(o, "/involvedObject/fieldPath")),
                json!(source),
                json!(text(o, "/message")),
                json!(first),
                json!(count.to_string()),
                json!(text(o, "/metadata/name")),
            ]
        },
    )
}

fn nodes() -> Printer {
    (
        vec![
            col("Name", "string", "name", 0, NAME_DESC),
            col("Status", "string", "", 0, "The status of the node"),
            col("Roles", "string", "", 0, "The roles of the node"),
            col("Age", "string", "", 0, AGE_DESC),
            col(
                "Version",
                "string",
                "",
                0,
                "Kubelet Version reported by the node.",
            ),
            col(
                "Internal-IP",
                "string",
                "",
                1,
                "List of internal IPs for the node.",
            ),
            col(
                "External-IP",
                "string",
                "",
                1,
                "List of external IPs for the node.",
            ),
            col(
                "OS-Image",
                "string",
                "",
                1,
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            col(
                "Kernel-Version",
                "string",
                "",
                1,
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            col(
                "Container-Runtime",
                "string",
                "",
                1,
                "Container runtime version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ],
        |n| {
            let mut roles: Vec<String> = n
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|l| {
                    l.keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            roles.sort();
            let ip = n
                .pointer("/status/addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
                .and_then(|x| x["address"].as_str())
                .unwrap_or("<none>")
                .to_string();
            let status = match condition(n, "Ready").as_deref() {
                Some("True") => "Ready",
                Some("False") => "NotReady",
                _ => "Unknown",
            };
            vec![
                json!(text(n, "/metadata/name")),
                json!(status),
                json!(if roles.is_empty() {
                    "<none>".to_string()
                } else {
                    roles.join(",")
                }),
                json!(created(n)),
                json!(text(n, "/status/nodeInfo/kubeletVersion")),
                json!(ip),
                json!("<none>"),
                json!(text(n, "/status/nodeInfo/osImage")),
                json!(text(n, "/status/nodeInfo/kernelVersion")),
                json!(text(n, "/status/nodeInfo/containerRuntimeVersion")),
            ]
        },
    )
}

fn deployments() -> Printer {
    (
        vec![
            col("Name", "string", "name", 0, NAME_DESC),
            col(
                "Ready",
                "string",
                "",
                0,
                "Number of the pod with ready state",
            ),
            col(
                "Up-to-date",
                "integer",
                "",
                0,
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            col(
                "Available",
                "integer",
                "",
                0,
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            col("Age", "string", "", 0, AGE_DESC),
            col(
                "Containers",
                "string",
                "",
                1,
                "Names of each container in the template.",
            ),
            col(
                "Images",
                "string",
                "",
                1,
                "Images referenced by each container in the template.",
            ),
            col(
                "Selector",
                "string",
                "",
                1,
                "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
            ),
        ],
        |d| {
            let containers: Vec<&Value> = d
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            let names: Vec<&str> = containers
                .iter()
                .filter_map(|c| c["name"].as_str())
                .collect();
            let images: Vec<&str> = containers
                .iter()
                .filter_map(|c| c["image"].as_str())
                .collect();
            let selector: Vec<String> = d
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            let desired = d
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            vec![
                json!(text(d, "/metadata/name")),
                json!(format!("{}/{desired}", int(d, "/status/readyReplicas"))),
                json!(int(d, "/status/updatedReplicas")),
                json!(int(d, "/status/availableReplicas")),
                json!(created(d)),
                json!(names.join(",")),
                json!(images.join(",")),
                json!(or_none(selector.join(","))),
            ]
        },
    )
}

fn namespaces() -> Printer {
    (
        vec![
            col("Name", "string", "name", 0, NAME_DESC),
            col("Status", "string", "", 0, "The status of the namespace"),
            col("Age", "string", "", 0, AGE_DESC),
        ],
        |n| {
            vec![
                json!(text(n, "/metadata/name")),
                json!(text(n, "/status/phase")),
                json!(created(n)),
            ]
        },
    )
}

fn configmaps() -> Printer {
    (
        vec![
            col("Name", "string", "name", 0, NAME_DESC),
            col(
                "Data",
                "integer",
                "",
                0,
                "Data contains the configuration data.",
            ),
            col("Age", "string", "", 0, AGE_DESC),
        ],
        |c| {
            let n = c
                .get("data")
                .and_then(Value::as_object)
                .map(|m| m.len())
                .unwrap_or(0)
                + c.get("binaryData")
                    .and_then(Value::as_object)
                    .map(|m| m.len())
                    .unwrap_or(0);
            vec![
                json!(text(c, "/metadata/name")),
                json!(n),
                json!(created(c)),
            ]
        },
    )
}

fn crds() -> Printer {
    (
        vec![
            col("Name", "string", "name", 0, NAME_DESC),
            col("Created At", "date", "", 0, AGE_DESC),
        ],
        |c| {
            vec![
                json!(text(c, "/metadata/name")),
                json!(text(c, "/metadata/creationTimestamp")),
            ]
        },
    )
}

fn generic() -> Printer {
    (
        vec![
            col("Name", "string", "name", 0, NAME_DESC),
            col("Age", "string", "", 0, AGE_DESC),
        ],
        |o| vec![json!(text(o, "/metadata/name")), json!(created(o))],
    )
}

/// A custom resource's columns: Name, its printer columns, Age when it defines none.
type Cells<'a> = Box<dyn Fn(&Value) -> Vec<Value> + 'a>;

fn custom(columns: &[PrinterColumn]) -> (Vec<Value>, Cells<'_>) {
    let mut defs = vec![col("Name", "string", "name", 0, NAME_DESC)];
    if columns.is_empty() {
        defs.push(col("Age", "date", "", 0, AGE_DESC));
        return (
            defs,
            Box::new(|o| {
                vec![
                    json!(text(o, "/metadata/name")),
                    json!(age(&text(o, "/metadata/creationTimestamp"))),
                ]
            }),
        );
    }
    defs.extend(
        columns
            .iter()
            .map(|c| col(&c.name, &c.type_, "", c.priority, &c.description)),
    );
    (
        defs,
        Box::new(move |o| {
            let mut cells = vec![json!(text(o, "/metadata/name"))];
            cells.extend(columns.iter().map(|c| match jsonpath(o, &c.json_path) {
                // The server turns dates into ages (apiextensions `cellForJSONValue`).
                Some(Value::String(s)) if c.type_ == "date" => json!(age(s)),
                Some(Value::String(s)) => json!(s),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => v.clone(),
                Some(Value::Null) | None => Value::Null,
                Some(other) => json!(other.to_string()),
            }));
            cells
        }),
    )
}

/// The JSONPath subset printer columns use: `.a.b`, `[0]`, `[?(@.type=="Ready")]`.
pub fn jsonpath<'a>(o: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = o;
    let mut rest = path.trim().trim_start_matches('{').trim_end_matches('}');
    rest = rest.strip_prefix('$').unwrap_or(rest);
    let mut guard = 0;
    while !rest.is_empty() {
        guard += 1;
        if guard > 64 {
            return None;
        }
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("[?(@.") {
            let end = r.find(")]")?;
            let (field, want) = r[..end].split_once("==")?;
            let want = want.trim().trim_matches(|c| c == '"' || c == '\'');
            cur = cur
                .as_array()?
                .iter()
                .find(|i| i.get(field.trim()).and_then(Value::as_str) == Some(want))?;
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            cur = cur.get(r[..end].trim().parse::<usize>().ok()?)?;
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(cur)
}

/// A Table of `objects`; `with_columns` false leaves `columnDefinitions` empty (watch events
/// after the first).
pub fn table<O: std::borrow::Borrow<Value>>(
    rt: &ResourceType,
    objects: &[O],
    rv: Option<u64>,
    cont: &str,
    with_columns: bool,
    include: Include,
) -> Value {
    let (defs, rows): (Vec<Value>, Vec<Vec<Value>>) = if rt.custom {
        let (d, f) = custom(&rt.columns);
        (d, objects.iter().map(|o| f(o.borrow())).collect())
    } else {
        let (d, f) = match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "pods") => pods(),
            ("", "nodes") => nodes(),
            ("apps", "deployments") => deployments(),
            ("", "namespaces") => namespaces(),
            ("", "events") => events(),
            ("", "persistentvolumeclaims") => claims(),
            ("", "configmaps") => configmaps(),
            ("", "services") => services(),
            ("apiextensions.k8s.io", "customresourcedefinitions") => crds(),
            _ => generic(),
        };
        (d, objects.iter().map(|o| f(o.borrow())).collect())
    };
    let rows: Vec<Value> = objects
        .iter()
        .zip(rows)
        .map(|(o, cells)| {
            let o: &Value = o.borrow();
            let object = match include {
                Include::None => Value::Null,
                Include::Metadata => json!({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata": o["metadata"]}),
                Include::Object => o.clone(),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    let mut meta = json!({});
    if let Some(rv) = rv {
        meta["resourceVersion"] = json!(rv.to_string());
    }
    if !cont.is_empty() {
        meta["continue"] = json!(cont);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": if with_columns { Value::Array(defs) } else { json!([]) },
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_subset() {
        let o = json!({"status":{"conditions":[{"type":"A","status":"False"},{"type":"Ready","status":"True"}]},"spec":{"l":[1,2]}});
        assert_eq!(
            jsonpath(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("True"))
        );
        assert_eq!(jsonpath(&o, ".spec.l[1]"), Some(&json!(2)));
        assert_eq!(jsonpath(&o, ".spec.missing"), None);
    }
}
