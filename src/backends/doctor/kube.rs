//! The cluster reads the walk makes, as JSON: one object, or a list by label selector, of any
//! kind (built-in or custom), through kube-rs's dynamic API.

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;

/// A kind the walk reads.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

pub const GATEWAY: Kind = Kind {
    group: "gateway.networking.k8s.io",
    version: "v1",
    kind: "Gateway",
    plural: "gateways",
};
pub const HTTP_ROUTE: Kind = Kind {
    group: "gateway.networking.k8s.io",
    version: "v1",
    kind: "HTTPRoute",
    plural: "httproutes",
};
pub const SERVICE: Kind = Kind {
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
};
pub const POD: Kind = Kind {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
};
pub const SECRET: Kind = Kind {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
};
pub const ENDPOINT_SLICE: Kind = Kind {
    group: "discovery.k8s.io",
    version: "v1",
    kind: "EndpointSlice",
    plural: "endpointslices",
};
pub const CERTIFICATE: Kind = Kind {
    group: "cert-manager.io",
    version: "v1",
    kind: "Certificate",
    plural: "certificates",
};

impl Kind {
    fn resource(self) -> ApiResource {
        let api_version = if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        ApiResource {
            group: self.group.into(),
            version: self.version.into(),
            api_version,
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }

    fn api(self, client: &kube::Client, ns: Option<&str>) -> Api<DynamicObject> {
        let ar = self.resource();
        match ns {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        }
    }
}

fn json(obj: DynamicObject, kind: Kind) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    // Items of a list come without their kind.
    if v.get("kind").is_none_or(Value::is_null) {
        v["kind"] = Value::from(kind.kind);
    }
    v
}

/// The object `ns/name`, `None` when it does not exist (or its kind is not served).
pub async fn get(
    client: &kube::Client,
    kind: Kind,
    ns: &str,
    name: &str,
) -> Result<Option<Value>, String> {
    match kind.api(client, Some(ns)).get_opt(name).await {
        Ok(o) => Ok(o.map(|o| json(o, kind))),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(format!("reading {} {ns}/{name}: {e}", kind.kind)),
    }
}

/// Objects of `kind` in `ns` (every namespace when `None`) matching `labels`.
pub async fn list(
    client: &kube::Client,
    kind: Kind,
    ns: Option<&str>,
    labels: Option<&str>,
) -> Result<Vec<Value>, String> {
    let mut lp = ListParams::default();
    if let Some(l) = labels {
        lp = lp.labels(l);
    }
    match kind.api(client, ns).list(&lp).await {
        Ok(l) => Ok(l.items.into_iter().map(|o| json(o, kind)).collect()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(vec![]),
        Err(e) => Err(format!("listing {}: {e}", kind.plural)),
    }
}

/// `metadata.<field>` as text.
pub fn meta<'v>(obj: &'v Value, field: &str) -> &'v str {
    obj.pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The condition `ty` of `conds` (a `conditions` array).
pub fn condition<'v>(conds: Option<&'v Value>, ty: &str) -> Option<&'v Value> {
    conds?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
}

/// Whether the condition `ty` is `True`.
pub fn is_true(conds: Option<&Value>, ty: &str) -> bool {
    condition(conds, ty).and_then(|c| c.get("status")) == Some(&Value::from("True"))
}

/// `Type=Status Reason: message` of a condition, or `Type not reported`.
pub fn describe(conds: Option<&Value>, ty: &str) -> String {
    match condition(conds, ty) {
        Some(c) => {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
            let msg = s("message");
            if msg.is_empty() {
                format!("{ty}={} {}", s("status"), s("reason"))
            } else {
                format!("{ty}={} {}: {msg}", s("status"), s("reason"))
            }
        }
        None => format!("{ty} not reported"),
    }
}
