//! Port-forward over SPDY/3.1, the kubelet's `httpstream` handler (kubelet
//! `cri/streaming/portforward/httpstream.go`) as kubectl 1.32 uses it (client-go
//! `tools/portforward/portforward.go`): for each local connection the client opens an error
//! stream and a data stream, both with the headers `streamType` (`error` / `data`), `port` and
//! `requestID`; the server answers every SYN_STREAM with a SYN_REPLY, pairs the two by
//! `requestID`, copies the data stream to the pod's port and back, writes a failure as text on
//! the error stream, and half-closes (FIN) the error then the data stream when the pod's side
//! ends. PINGs are echoed. The transport is either the upgraded connection itself
//! ([`over_io`]) or the binary messages of a websocket ([`over_websocket`], client-go
//! `tunneling_connection.go`: each write is one message, a read spans messages).

use super::target::Ctx;
use crate::sim::kube::spdy::{self, Codec, Frame};
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Forwarded connections open at once on one SPDY connection.
const MAX_PAIRS: usize = 1024;
/// Largest read from a pod's port sent in one data frame.
const CHUNK: usize = 32 * 1024;
/// RST_STREAM status REFUSED_STREAM.
const RST_REFUSED: u32 = 3;

/// Serve SPDY carried in a websocket's binary messages.
pub async fn over_websocket<S>(ws: WebSocketStream<S>, ctx: Ctx)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Binary(b) if in_tx.send(b.to_vec()).await.is_err() => return,
                Message::Close(_) => return,
                _ => {}
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            if sink.send(Message::binary(bytes)).await.is_err() {
                return;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    });
    session(in_rx, out_tx, ctx).await;
    reader.abort();
    let _ = writer.await;
}

/// Serve SPDY on the upgraded connection itself (`Upgrade: SPDY/3.1`).
pub async fn over_io<S>(io: S, ctx: Ctx)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if in_tx.send(buf[..n].to_vec()).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    session(in_rx, out_tx, ctx).await;
    reader.abort();
    let _ = writer.await;
}

/// What a forwarded connection asks the session to send.
enum Ev {
    Data { stream: u32, bytes: Vec<u8> },
    Fin { stream: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Data,
    Error,
}

#[derive(Default)]
struct Pair {
    data: Option<u32>,
    error: Option<u32>,
    port: u16,
    /// Set once both streams are there and the forwarder runs: bytes for the pod, None = FIN.
    to_pod: Option<mpsc::UnboundedSender<Option<Vec<u8>>>>,
}

/// Why a stream is refused (the kubelet's `httpStreamReceived` checks).
fn classify(headers: &spdy::Headers, stream: u32) -> Result<(Kind, u16, String), String> {
    let port_text = spdy::header(headers, "port").unwrap_or_default();
    if port_text.is_empty() {
        return Err("\"port\" header is required".into());
    }
    let port: u16 = port_text
        .parse()
        .map_err(|e| format!("unable to parse \"{port_text}\" as a port: {e}"))?;
    if port < 1 {
        return Err(format!("port \"{port_text}\" must be > 0"));
    }
    let kind = match spdy::header(headers, "streamtype").unwrap_or_default() {
        "" => return Err("\"streamType\" header is required".into()),
        "error" => Kind::Error,
        "data" => Kind::Data,
        other => return Err(format!("invalid stream type \"{other}\"")),
    };
    // Clients older than requestID: the error stream's id names the pair, the data stream's id
    // minus 2 (kubelet `httpStreamHandler.requestID`).
    let id = match spdy::header(headers, "requestid") {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => match kind {
            Kind::Error => stream.to_string(),
            Kind::Data => stream.saturating_sub(2).to_string(),
        },
    };
    Ok((kind, port, id))
}

async fn session(mut inbound: mpsc::Receiver<Vec<u8>>, outbound: mpsc::Sender<Vec<u8>>, ctx: Ctx) {
    let mut codec = Codec::new();
    let mut streams: HashMap<u32, (String, Kind)> = HashMap::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let (ev_tx, mut ev_rx) = mpsc::channel::<Ev>(64);
    macro_rules! send {
        ($frame:expr) => {
            match codec.encode(&$frame) {
                Ok(bytes) => {
                    if outbound.send(bytes).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!("sim kube port-forward: {e}");
                    return;
                }
            }
        };
    }
    loop {
        tokio::select! {
            got = inbound.recv() => {
                let Some(bytes) = got else { return };
                codec.feed(&bytes);
                loop {
                    let frame = match codec.next_frame() {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!("sim kube port-forward to {}/{}: {e}", ctx.namespace, ctx.pod);
                            send!(Frame::GoAway { last_good: 0, status: 1 });
                            return;
                        }
                    };
                    match frame {
                        Frame::SynStream { stream, headers, .. } => {
                            let (kind, port, id) = match classify(&headers, stream) {
                                Ok(c) => c,
                                Err(why) => {
                                    tracing::debug!("sim kube port-forward: stream {stream} refused: {why}");
                                    send!(Frame::RstStream { stream, status: spdy::RST_CANCEL });
                                    continue;
                                }
                            };
                            if !pairs.contains_key(&id) && pairs.len() >= MAX_PAIRS {
                                send!(Frame::RstStream { stream, status: RST_REFUSED });
                                continue;
                            }
                            let pair = pairs.entry(id.clone()).or_default();
                            let slot = match kind {
                                Kind::Data => &mut pair.data,
                                Kind::Error => &mut pair.error,
                            };
                            if slot.is_some() {
                                send!(Frame::RstStream { stream, status: spdy::RST_PROTOCOL_ERROR });
                                continue;
                            }
                            *slot = Some(stream);
                            pair.port = port;
                            streams.insert(stream, (id.clone(), kind));
                            send!(Frame::SynReply { stream, fin: false, headers: vec![] });
                            if let (Some(data), Some(error), None) = (pair.data, pair.error, &pair.to_pod) {
                                let (tx, rx) = mpsc::unbounded_channel();
                                pair.to_pod = Some(tx);
                                tokio::spawn(forward(ctx.clone(), pair.port, data, error, rx, ev_tx.clone()));
                            }
                        }
                        Frame::Data { stream, fin, data } => {
                            let Some((id, kind)) = streams.get(&stream) else { continue };
                            if *kind == Kind::Data
                                && let Some(tx) = pairs.get(id).and_then(|p| p.to_pod.as_ref())
                            {
                                if !data.is_empty() {
                                    let _ = tx.send(Some(data));
                                }
                                if fin {
                                    let _ = tx.send(None);
                                }
                            }
                        }
                        Frame::RstStream { stream, .. } => {
                            if let Some((id, _)) = streams.remove(&stream)
                                && let Some(p) = pairs.remove(&id)
                            {
                                for s in [p.data, p.error].into_iter().flatten() {
                                    streams.remove(&s);
                                }
                                if let Some(tx) = p.to_pod {
                                    let _ = tx.send(None);
                                }
                            }
                        }
                        Frame::Ping(id) => send!(Frame::Ping(id)),
                        Frame::GoAway { .. } => return,
                        Frame::SynReply { .. }
                        | Frame::Headers { .. }
                        | Frame::Settings
                        | Frame::WindowUpdate { .. } => {}
                    }
                }
            }
            ev = ev_rx.recv() => match ev {
                Some(Ev::Data { stream, bytes }) => send!(Frame::Data { stream, fin: false, data: bytes }),
                Some(Ev::Fin { stream }) => {
                    send!(Frame::Data { stream, fin: true, data: vec![] });
                    // Both of a pair's streams are finished once its data stream is.
                    if let Some((id, Kind::Data)) = streams.get(&stream).cloned()
                        && let Some(p) = pairs.remove(&id)
                    {
                        for s in [p.data, p.error].into_iter().flatten() {
                            streams.remove(&s);
                        }
                    }
                }
                None => return,
            },
        }
    }
}

/// One forwarded connection: open the port, copy until the pod's side ends, then FIN the error
/// stream and the data stream (the kubelet closes them in that order).
async fn forward(
    ctx: Ctx,
    port: u16,
    data: u32,
    error: u32,
    mut from_client: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    out: mpsc::Sender<Ev>,
) {
    let mut io = match ctx.open(port).await {
        Ok(io) => io,
        Err(msg) => {
            let _ = out
                .send(Ev::Data {
                    stream: error,
                    bytes: msg.into_bytes(),
                })
                .await;
            let _ = out.send(Ev::Fin { stream: error }).await;
            let _ = out.send(Ev::Fin { stream: data }).await;
            return;
        }
    };
    let mut buf = vec![0u8; CHUNK];
    let mut client_open = true;
    let gone = ctx.gone();
    tokio::pin!(gone);
    loop {
        tokio::select! {
            _ = &mut gone => break,
            got = from_client.recv(), if client_open => match got {
                Some(Some(bytes)) => {
                    if io.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Some(None) | None => {
                    client_open = false;
                    let _ = io.shutdown().await;
                }
            },
            n = io.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.send(Ev::Data { stream: data, bytes: buf[..n].to_vec() }).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
    let _ = out.send(Ev::Fin { stream: error }).await;
    let _ = out.send(Ev::Fin { stream: data }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> spdy::Headers {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn streams_are_checked_as_the_kubelet_does() {
        let ok = classify(
            &h(&[("streamtype", "data"), ("port", "8080"), ("requestid", "4")]),
            3,
        )
        .unwrap();
        assert!(ok.0 == Kind::Data && ok.1 == 8080 && ok.2 == "4");
        assert_eq!(
            classify(&h(&[("streamtype", "data")]), 1).unwrap_err(),
            "\"port\" header is required"
        );
        assert!(
            classify(&h(&[("streamtype", "x"), ("port", "1")]), 1)
                .unwrap_err()
                .contains("invalid stream type")
        );
        // No requestID: the pair is named after the error stream's id.
        let e = classify(&h(&[("streamtype", "error"), ("port", "1")]), 5).unwrap();
        let d = classify(&h(&[("streamtype", "data"), ("port", "1")]), 7).unwrap();
        assert_eq!(e.2, d.2);
    }
}
