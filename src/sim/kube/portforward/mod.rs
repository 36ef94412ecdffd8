//! `pods/{name}/portforward`: what a pod's port answers, and the three ways clients reach it.
//!
//! - kube-rs: a websocket with the channel protocol `v4.channel.k8s.io` ([`channels`]): the
//!   ports in the `ports` query, port *i* on channels 2i (data) and 2i+1 (error), the first
//!   frame of each channel the port as 2 bytes little endian.
//! - kubectl 1.32: a websocket with subprotocol `SPDY/3.1+portforward.k8s.io` whose binary
//!   messages carry a SPDY/3.1 connection, falling back to a plain `Upgrade: SPDY/3.1` POST
//!   ([`spdy_session`] over [`super::spdy`]). Each forwarded connection is a pair of streams
//!   (`streamType` error and data, with `port` and `requestID` headers).
//!
//! A port answers from the address a caller attached with [`Ports::attach`]
//! (`KubeSim::serve_port`, how the Loki / Prometheus / Alertmanager simulators sit behind
//! Services), else with a small built-in HTTP responder naming the pod when a container
//! declares the port (an Envoy proxy pod's port routes by Host to its Gateway's HTTPRoutes,
//! [`envoy`]), else as nothing listening does (containerd's connection refused, on the
//! error channel). docs/reference/kubernetes.md §7 names the upstream sources.

pub mod channels;
pub mod envoy;
pub mod spdy_session;
pub mod target;

use super::errors::ApiError;
use super::routes::Shared;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

pub use target::{PodMatch, Ports};

/// The websocket subprotocol kubectl asks for: SPDY tunnelled through websocket messages
/// (client-go `tools/portforward/tunneling_dialer.go`, apimachinery
/// `util/portforward/constants.go`).
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The channel protocol the kubelet serves to websocket clients (kubelet
/// `cri/streaming/portforward/websocket.go`); kube-rs offers v5 then v4 and gets v4.
pub const CHANNEL_PROTOCOL: &str = "v4.channel.k8s.io";
/// `X-Stream-Protocol-Version` of a SPDY upgrade.
pub const SPDY_PROTOCOL: &str = "portforward.k8s.io";
const STREAM_PROTOCOL_VERSION: header::HeaderName =
    header::HeaderName::from_static("x-stream-protocol-version");

fn fail(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        e.status().to_string(),
    )
        .into_response()
}

fn header_has(h: &HeaderMap, name: header::HeaderName, want: &str) -> bool {
    h.get_all(name).iter().any(|v| {
        v.to_str()
            .unwrap_or_default()
            .split(',')
            .any(|p| p.trim().eq_ignore_ascii_case(want))
    })
}

/// The subprotocols a websocket client offers, in its order.
fn offered(h: &HeaderMap) -> Vec<String> {
    h.get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or_default().split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The pod a port-forward may reach: it exists, is bound to a node and runs. The wording is
/// the apiserver's (`PortForwardLocation`) and the kubelet's (`GetPortForward`).
pub fn runnable(pod: &Value, ns: &str, name: &str) -> Result<(), ApiError> {
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if node.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if phase != "Running" {
        let uid = pod
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(ApiError::new(
            500,
            "InternalError",
            format!("failed to find sandboxID for pod {name}_{ns}({uid})"),
        ));
    }
    Ok(())
}

/// `GET|POST /api/v1/namespaces/{ns}/pods/{name}/portforward`.
pub async fn handle(
    State(s): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
    mut req: Request,
) -> Response {
    if !super::routes::authorized(req.headers(), &s.token) {
        return fail(&ApiError::new(401, "Unauthorized", "Unauthorized"));
    }
    if req.method() != Method::GET && req.method() != Method::POST {
        return fail(&ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let pod = match s.store.get(&target::pods(), &ns, &name) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    if let Err(e) = runnable(&pod, &ns, &name) {
        return fail(&e);
    }
    let ctx = target::Ctx {
        store: s.store.clone(),
        ports: s.ports.clone(),
        namespace: ns,
        pod: name,
    };
    let headers = req.headers().clone();
    if header_has(&headers, header::UPGRADE, "websocket") {
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return fail(&ApiError::bad_request(
                "websocket upgrade without Sec-WebSocket-Key",
            ));
        };
        let offers = offered(&headers);
        let protocol = if offers.iter().any(|p| p == TUNNEL_PROTOCOL) {
            Some(TUNNEL_PROTOCOL)
        } else if offers.iter().any(|p| p == CHANNEL_PROTOCOL) {
            Some(CHANNEL_PROTOCOL)
        } else if offers.is_empty() {
            None
        } else {
            return fail(&ApiError::bad_request(format!(
                "unable to upgrade: unable to negotiate protocol: client supports {offers:?}, server supports [\"{TUNNEL_PROTOCOL}\" \"{CHANNEL_PROTOCOL}\"]"
            )));
        };
        let tunnel = protocol == Some(TUNNEL_PROTOCOL);
        let ports = if tunnel {
            vec![]
        } else {
            match channels::ports(req.uri().query()) {
                Ok(p) => p,
                Err(e) => return fail(&ApiError::bad_request(e)),
            }
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let io = hyper_util::rt::TokioIo::new(upgraded);
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            if tunnel {
                spdy_session::over_websocket(ws, ctx).await;
            } else {
                channels::serve(ws, ports, ctx).await;
            }
        });
        let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = resp.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        if let Some(p) = protocol {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
        }
        return resp;
    }
    if header_has(&headers, header::UPGRADE, "SPDY/3.1") {
        if !header_has(&headers, STREAM_PROTOCOL_VERSION, SPDY_PROTOCOL) {
            return fail(&ApiError::bad_request(format!(
                "unable to upgrade: unable to negotiate protocol: client supports {:?}, server supports [\"{SPDY_PROTOCOL}\"]",
                headers
                    .get_all(STREAM_PROTOCOL_VERSION)
                    .iter()
                    .map(|v| v.to_str().unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
            )));
        }
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            spdy_session::over_io(hyper_util::rt::TokioIo::new(upgraded), ctx).await;
        });
        let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = resp.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(
            STREAM_PROTOCOL_VERSION,
            HeaderValue::from_static(SPDY_PROTOCOL),
        );
        return resp;
    }
    fail(&ApiError::bad_request("Upgrade request required"))
}
