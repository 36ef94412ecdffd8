//! Reading an HTTP answer's body with a size cap: the one way every client here (PVE, Loki,
//! Prometheus, Alertmanager) reads a body, so a peer that sends gigabytes, or never stops, costs
//! at most the cap in memory. A declared `Content-Length` over the cap is refused before reading.

/// The cap for one answer unless a client sets its own: far above any answer homelab asks for
/// (a 5,000-line Loki page is a few MB), far below what would hurt a workstation.
pub const DEFAULT_BODY_CAP: usize = 64 << 20;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// More than `cap` bytes (declared or sent).
    TooLarge { cap: usize },
    /// The connection failed while reading.
    Transport(reqwest::Error),
}

impl BodyError {
    /// `the answer is larger than 64 MiB, the cap for one answer`, for the caller's framing
    /// (which names the endpoint).
    pub fn too_large_message(cap: usize) -> String {
        format!(
            "the answer is larger than {}, the cap for one answer; narrow the request (a shorter time range, a smaller limit)",
            human(cap)
        )
    }
}

/// The whole body of `resp`, at most `cap` bytes.
pub async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, BodyError> {
    if resp
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > cap))
    {
        return Err(BodyError::TooLarge { cap });
    }
    let mut body = Vec::with_capacity(
        resp.content_length()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
            .min(cap),
    );
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len().saturating_add(chunk.len()) > cap {
            return Err(BodyError::TooLarge { cap });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `64 MiB`, `512 KiB`, `100 bytes`.
fn human(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
pub(crate) mod test_server {
    //! A local HTTP/1.1 server whose answer is `declared` (a Content-Length, or none) and then
    //! an endless body: what a broken or hostile peer can send.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serve connections on 127.0.0.1 until the runtime ends; returns the base URL.
    pub async fn endless(declared: Option<u64>) -> String {
        serve(declared, None).await
    }

    /// A body of exactly `len` bytes, no Content-Length (the connection closes after it).
    pub async fn sized(len: usize) -> String {
        serve(None, Some(len)).await
    }

    async fn serve(declared: Option<u64>, total: Option<usize>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let head = match declared {
                        Some(n) => format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n"),
                        None => "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_owned(),
                    };
                    if sock.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'['; 64 << 10];
                    let mut left = total.unwrap_or(usize::MAX);
                    while left > 0 {
                        let n = left.min(chunk.len());
                        if sock.write_all(&chunk[..n]).await.is_err() {
                            return;
                        }
                        left -= n;
                    }
                });
            }
        });
        format!("http://{addr}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_endless_body_stops_at_the_cap() {
        let base = test_server::endless(None).await;
        let resp = reqwest::get(&base).await.unwrap();
        match read_capped(resp, 1 << 20).await {
            Err(BodyError::TooLarge { cap }) => assert_eq!(cap, 1 << 20),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_body_one_byte_over_the_cap_is_refused_one_at_the_cap_is_read() {
        let base = test_server::sized((1 << 20) + 1).await;
        let resp = reqwest::get(&base).await.unwrap();
        assert!(matches!(
            read_capped(resp, 1 << 20).await,
            Err(BodyError::TooLarge { .. })
        ));
        let base = test_server::sized(1 << 20).await;
        let resp = reqwest::get(&base).await.unwrap();
        assert_eq!(read_capped(resp, 1 << 20).await.unwrap().len(), 1 << 20);
    }

    #[tokio::test]
    async fn a_declared_length_over_the_cap_is_refused_before_reading() {
        let base = test_server::endless(Some(3 << 30)).await;
        let resp = reqwest::get(&base).await.unwrap();
        assert!(matches!(
            read_capped(resp, 1 << 20).await,
            Err(BodyError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_message_names_the_cap() {
        assert!(BodyError::too_large_message(DEFAULT_BODY_CAP).contains("64 MiB"));
    }
}
