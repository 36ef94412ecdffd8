//! The websocket channel protocol of port-forward (`v4.channel.k8s.io`, kubelet
//! `cri/streaming/portforward/websocket.go`; the client: kube-rs `kube-client/src/api/portforward.rs`).
//! Every binary message starts with its channel byte. Port *i* of the `ports` query uses channel
//! 2i for data and 2i+1 for errors; the server's first message on each is the port as 2 bytes
//! little endian. An error is one UTF-8 text on the error channel, after which the port is done.
//! There is no per-channel close in v4: the server closes the websocket once every port is done.

use super::target::Ctx;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Ports one websocket may forward (a channel number is one byte: 2 per port).
const MAX_PORTS: usize = 64;
/// Largest read from a pod's port sent in one message.
const CHUNK: usize = 32 * 1024;

/// The `ports` query parameter(s): comma separated, each 1..=65535, as the kubelet parses them.
pub fn ports(query: Option<&str>) -> Result<Vec<u16>, String> {
    let values: Vec<String> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "ports")
        .map(|(_, v)| v.into_owned())
        .collect();
    if values.is_empty() {
        return Err("query parameter \"ports\" is required".into());
    }
    let mut out = vec![];
    for v in &values {
        if v.is_empty() {
            return Err("query parameter \"ports\" cannot be empty".into());
        }
        for p in v.split(',') {
            let port: u16 = p
                .trim()
                .parse()
                .map_err(|e| format!("unable to parse \"{v}\" as a port: {e}"))?;
            if port < 1 {
                return Err(format!("port \"{v}\" must be > 0"));
            }
            out.push(port);
        }
    }
    if out.len() > MAX_PORTS {
        return Err(format!("at most {MAX_PORTS} ports per connection"));
    }
    Ok(out)
}

fn framed(channel: u8, bytes: &[u8]) -> Message {
    let mut b = Vec::with_capacity(bytes.len() + 1);
    b.push(channel);
    b.extend_from_slice(bytes);
    Message::binary(b)
}

/// What a port's task asks the connection to send; `Done` when the port is finished.
enum Out {
    Send(Message),
    Done,
}

/// Serve one upgraded websocket until every port is done or the client goes.
pub async fn serve<S>(ws: WebSocketStream<S>, ports: Vec<u16>, ctx: Ctx)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    for (i, port) in ports.iter().enumerate() {
        let le = port.to_le_bytes();
        for ch in [2 * i as u8, 2 * i as u8 + 1] {
            if sink.send(framed(ch, &le)).await.is_err() {
                return;
            }
        }
    }
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(64);
    let mut to_pod = Vec::with_capacity(ports.len());
    for (i, port) in ports.iter().enumerate() {
        // Unbounded: a send here never waits on a port that waits on this loop.
        let (tx, rx) = mpsc::unbounded_channel::<Option<Vec<u8>>>();
        to_pod.push(Some(tx));
        tokio::spawn(forward(ctx.clone(), i as u8, *port, rx, out_tx.clone()));
    }
    drop(out_tx);
    let mut open = ports.len();
    loop {
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(Out::Send(m)) => {
                    if sink.send(m).await.is_err() {
                        return;
                    }
                }
                Some(Out::Done) => {
                    open = open.saturating_sub(1);
                    if open == 0 {
                        let _ = sink.send(Message::Close(None)).await;
                        return;
                    }
                }
                None => return,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) if b.len() > 1 => {
                    let ch = usize::from(b[0]);
                    if ch % 2 == 0
                        && let Some(Some(tx)) = to_pod.get(ch / 2)
                    {
                        // A port that is done drops its receiver; later data is dropped too.
                        let _ = tx.send(Some(b[1..].to_vec()));
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    for tx in to_pod.iter_mut().filter_map(Option::take) {
                        let _ = tx.send(None);
                    }
                    // Let the ports finish what the pod still sends, then stop.
                    while let Some(out) = out_rx.recv().await {
                        if let Out::Send(m) = out
                            && sink.send(m).await.is_err()
                        {
                            return;
                        }
                    }
                    return;
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

/// One port: open it, then copy both ways until the pod's side ends.
async fn forward(
    ctx: Ctx,
    index: u8,
    port: u16,
    mut from_client: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    out: mpsc::Sender<Out>,
) {
    let data_ch = 2 * index;
    let mut io = match ctx.open(port).await {
        Ok(io) => io,
        Err(msg) => {
            let _ = out
                .send(Out::Send(framed(data_ch + 1, msg.as_bytes())))
                .await;
            let _ = out.send(Out::Done).await;
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
                    if out.send(Out::Send(framed(data_ch, &buf[..n]))).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
    let _ = out.send(Out::Done).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_as_the_kubelet_does() {
        assert_eq!(ports(Some("&ports=80%2C1234")).unwrap(), vec![80, 1234]);
        assert_eq!(ports(Some("ports=80&ports=81")).unwrap(), vec![80, 81]);
        assert_eq!(
            ports(None).unwrap_err(),
            "query parameter \"ports\" is required"
        );
        assert!(ports(Some("ports=0")).unwrap_err().contains("must be > 0"));
        assert!(
            ports(Some("ports=x"))
                .unwrap_err()
                .contains("unable to parse")
        );
    }
}
