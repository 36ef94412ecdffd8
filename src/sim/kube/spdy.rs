//! SPDY/3.1 framing, the part `kubectl port-forward` speaks (client-go's `httpstream/spdy` on
//! moby/spdystream): control frames SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY,
//! HEADERS and WINDOW_UPDATE, data frames, and the header blocks compressed with one zlib stream
//! per direction that starts from the SPDY/3 dictionary (every block ends in a sync flush).
//! docs/reference/kubernetes.md §7 (port-forward) cites the sources.
//!
//! [`Codec`] is pure: bytes in, frames out ([`Codec::feed`] / [`Codec::next_frame`]) and frames
//! in, bytes out ([`Codec::encode`]). Both directions are implemented so a test can play the
//! client.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::sync::OnceLock;

/// The protocol version every control frame carries.
pub const VERSION: u16 = 3;
/// FLAG_FIN on a data frame or SYN_STREAM / SYN_REPLY / HEADERS.
pub const FLAG_FIN: u8 = 0x01;
/// Largest frame payload accepted (the length field has 24 bits; the peers here never send more
/// than 32 KiB at once). A bigger frame ends the session.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Largest decompressed header block accepted.
const MAX_HEADER_BLOCK: usize = 256 * 1024;
/// Header pairs accepted in one block.
const MAX_HEADERS: u32 = 128;

/// RST_STREAM status codes (SPDY/3.1 §2.4.2).
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_CANCEL: u32 = 5;

const T_SYN_STREAM: u16 = 1;
const T_SYN_REPLY: u16 = 2;
const T_RST_STREAM: u16 = 3;
const T_SETTINGS: u16 = 4;
const T_PING: u16 = 6;
const T_GOAWAY: u16 = 7;
const T_HEADERS: u16 = 8;
const T_WINDOW_UPDATE: u16 = 9;

/// Header name/value pairs as they travel: names lower case, several values joined by NUL.
pub type Headers = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream: u32,
        associated: u32,
        priority: u8,
        fin: bool,
        headers: Headers,
    },
    SynReply {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    /// Settings are read and ignored (spdystream ignores them too).
    Settings,
    Ping(u32),
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    WindowUpdate {
        stream: u32,
        delta: u32,
    },
    Data {
        stream: u32,
        fin: bool,
        data: Vec<u8>,
    },
}

/// The SPDY/3 header compression dictionary (SPDY/3 draft §2.6.10.1): each word with a 32-bit
/// length before it, then a run of common values. 1423 bytes, Adler-32 0xe3c6a7c2, which is the
/// dictionary id a client's zlib header names.
pub fn dictionary() -> &'static [u8] {
    static DICT: OnceLock<Vec<u8>> = OnceLock::new();
    DICT.get_or_init(|| {
        const WORDS: &[&str] = &[
            "options",
            "head",
            "post",
            "put",
            "delete",
            "trace",
            "accept",
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "connection",
            "content-base",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-md5",
            "content-range",
            "content-type",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "location",
            "max-forwards",
            "pragma",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "retry-after",
            "server",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "user-agent",
            "vary",
            "via",
            "warning",
            "www-authenticate",
            "method",
            "get",
            "status",
            "200 OK",
            "version",
            "HTTP/1.1",
            "url",
            "public",
            "set-cookie",
            "keep-alive",
            "origin",
        ];
        const TAIL: &[&str] = &[
            "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
            "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized",
            "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable",
            "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
            "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,",
            "text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8",
            "charset=iso-8859-1,utf-,*,enq=0.",
        ];
        let mut d = Vec::with_capacity(1423);
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        for t in TAIL {
            d.extend_from_slice(t.as_bytes());
        }
        d
    })
}

/// A framing or compression failure; the session ends with it (a GOAWAY when possible).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpdyError(pub String);

impl std::fmt::Display for SpdyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, SpdyError> {
    Err(SpdyError(msg.into()))
}

/// One end of a SPDY/3.1 connection: the inbound buffer and header decompressor, the outbound
/// header compressor.
pub struct Codec {
    inbound: Vec<u8>,
    inflate: Decompress,
    deflate: Compress,
    deflate_primed: bool,
}

impl Default for Codec {
    fn default() -> Self {
        Self::new()
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

impl Codec {
    pub fn new() -> Codec {
        Codec {
            inbound: Vec::new(),
            inflate: Decompress::new(true),
            deflate: Compress::new(Compression::best(), true),
            deflate_primed: false,
        }
    }

    /// Append received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.inbound.extend_from_slice(bytes);
    }

    /// The next complete frame, None until one has fully arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SpdyError> {
        let Some(word0) = u32_at(&self.inbound, 0) else {
            return Ok(None);
        };
        let Some(word1) = u32_at(&self.inbound, 4) else {
            return Ok(None);
        };
        let flags = (word1 >> 24) as u8;
        let len = (word1 & 0x00ff_ffff) as usize;
        if len > MAX_PAYLOAD {
            return err(format!(
                "frame of {len} bytes is over the {MAX_PAYLOAD}-byte limit"
            ));
        }
        let Some(end) = 8usize.checked_add(len) else {
            return err("frame length overflows");
        };
        if self.inbound.len() < end {
            return Ok(None);
        }
        let payload: Vec<u8> = self.inbound[8..end].to_vec();
        self.inbound.drain(..end);
        let fin = flags & FLAG_FIN != 0;
        if word0 & 0x8000_0000 == 0 {
            let stream = word0 & 0x7fff_ffff;
            if stream == 0 {
                return err("data frame on stream 0");
            }
            return Ok(Some(Frame::Data {
                stream,
                fin,
                data: payload,
            }));
        }
        let version = ((word0 >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return err(format!(
                "control frame of SPDY version {version}, not {VERSION}"
            ));
        }
        let kind = (word0 & 0xffff) as u16;
        let short = || SpdyError(format!("control frame type {kind} is too short"));
        let stream_at = |at: usize| u32_at(&payload, at).map(|v| v & 0x7fff_ffff);
        let frame = match kind {
            T_SYN_STREAM => {
                let stream = stream_at(0).ok_or_else(short)?;
                let associated = stream_at(4).ok_or_else(short)?;
                let priority = payload.get(8).ok_or_else(short)? >> 5;
                let headers = self.read_headers(payload.get(10..).ok_or_else(short)?)?;
                Frame::SynStream {
                    stream,
                    associated,
                    priority,
                    fin,
                    headers,
                }
            }
            T_SYN_REPLY => Frame::SynReply {
                stream: stream_at(0).ok_or_else(short)?,
                fin,
                headers: self.read_headers(payload.get(4..).ok_or_else(short)?)?,
            },
            T_HEADERS => Frame::Headers {
                stream: stream_at(0).ok_or_else(short)?,
                fin,
                headers: self.read_headers(payload.get(4..).ok_or_else(short)?)?,
            },
            T_RST_STREAM => Frame::RstStream {
                stream: stream_at(0).ok_or_else(short)?,
                status: u32_at(&payload, 4).ok_or_else(short)?,
            },
            T_SETTINGS => Frame::Settings,
            T_PING => Frame::Ping(u32_at(&payload, 0).ok_or_else(short)?),
            T_GOAWAY => Frame::GoAway {
                last_good: stream_at(0).ok_or_else(short)?,
                status: u32_at(&payload, 4).unwrap_or(0),
            },
            T_WINDOW_UPDATE => Frame::WindowUpdate {
                stream: stream_at(0).ok_or_else(short)?,
                delta: u32_at(&payload, 4).ok_or_else(short)? & 0x7fff_ffff,
            },
            other => return err(format!("unknown control frame type {other}")),
        };
        Ok(Some(frame))
    }

    /// Decompress one header block (continuing the connection's zlib stream) and parse it.
    fn read_headers(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        let mut out: Vec<u8> = Vec::with_capacity(block.len().saturating_mul(4).max(256));
        let mut input = block;
        loop {
            if out.len() == out.capacity() {
                if out.len() >= MAX_HEADER_BLOCK {
                    return err("header block is over 256 KiB");
                }
                out.reserve(out.len().max(256));
            }
            let before_in = self.inflate.total_in();
            let before_out = self.inflate.total_out();
            let r = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = usize::try_from(self.inflate.total_in() - before_in).unwrap_or(input.len());
            input = input.get(used..).unwrap_or_default();
            let produced = self.inflate.total_out() - before_out;
            match r {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {
                    if input.is_empty() && out.len() < out.capacity() {
                        break;
                    }
                    if used == 0 && produced == 0 && out.len() < out.capacity() {
                        return err("header block does not decompress");
                    }
                }
                Err(e) => match e.needs_dictionary() {
                    Some(_) => {
                        self.inflate
                            .set_dictionary(dictionary())
                            .map_err(|e| SpdyError(format!("header dictionary: {e}")))?;
                    }
                    None => return err(format!("header block: {e}")),
                },
            }
        }
        parse_block(&out)
    }

    fn write_headers(&mut self, headers: &Headers) -> Result<Vec<u8>, SpdyError> {
        if !self.deflate_primed {
            self.deflate
                .set_dictionary(dictionary())
                .map_err(|e| SpdyError(format!("header dictionary: {e}")))?;
            self.deflate_primed = true;
        }
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (name, value) in headers {
            for s in [name.to_ascii_lowercase().as_str(), value.as_str()] {
                raw.extend_from_slice(&(s.len() as u32).to_be_bytes());
                raw.extend_from_slice(s.as_bytes());
            }
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = raw.as_slice();
        loop {
            if out.len() == out.capacity() {
                out.reserve(256);
            }
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError(format!("header compression: {e}")))?;
            let used = usize::try_from(self.deflate.total_in() - before).unwrap_or(input.len());
            input = input.get(used..).unwrap_or_default();
            // A sync flush is complete once all input is taken and output room is left over.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        Ok(out)
    }

    /// The bytes of one frame.
    pub fn encode(&mut self, frame: &Frame) -> Result<Vec<u8>, SpdyError> {
        let control = |kind: u16, flags: u8, payload: Vec<u8>| -> Result<Vec<u8>, SpdyError> {
            if payload.len() > 0x00ff_ffff {
                return err("frame payload over 16 MiB");
            }
            let mut b = Vec::with_capacity(payload.len() + 8);
            b.extend_from_slice(
                &(0x8000_0000u32 | (u32::from(VERSION) << 16) | u32::from(kind)).to_be_bytes(),
            );
            b.extend_from_slice(&((u32::from(flags) << 24) | payload.len() as u32).to_be_bytes());
            b.extend_from_slice(&payload);
            Ok(b)
        };
        let fin_flag = |fin: bool| if fin { FLAG_FIN } else { 0 };
        match frame {
            Frame::SynStream {
                stream,
                associated,
                priority,
                fin,
                headers,
            } => {
                let mut p = Vec::new();
                p.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
                p.extend_from_slice(&(associated & 0x7fff_ffff).to_be_bytes());
                p.push((priority & 0x07) << 5);
                p.push(0);
                p.extend(self.write_headers(headers)?);
                control(T_SYN_STREAM, fin_flag(*fin), p)
            }
            Frame::SynReply {
                stream,
                fin,
                headers,
            } => {
                let mut p = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
                p.extend(self.write_headers(headers)?);
                control(T_SYN_REPLY, fin_flag(*fin), p)
            }
            Frame::Headers {
                stream,
                fin,
                headers,
            } => {
                let mut p = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
                p.extend(self.write_headers(headers)?);
                control(T_HEADERS, fin_flag(*fin), p)
            }
            Frame::RstStream { stream, status } => {
                let mut p = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                control(T_RST_STREAM, 0, p)
            }
            Frame::Settings => control(T_SETTINGS, 0, 0u32.to_be_bytes().to_vec()),
            Frame::Ping(id) => control(T_PING, 0, id.to_be_bytes().to_vec()),
            Frame::GoAway { last_good, status } => {
                let mut p = (last_good & 0x7fff_ffff).to_be_bytes().to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                control(T_GOAWAY, 0, p)
            }
            Frame::WindowUpdate { stream, delta } => {
                let mut p = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
                p.extend_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
                control(T_WINDOW_UPDATE, 0, p)
            }
            Frame::Data { stream, fin, data } => {
                if data.len() > 0x00ff_ffff {
                    return err("data frame over 16 MiB");
                }
                let mut b = Vec::with_capacity(data.len() + 8);
                b.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
                b.extend_from_slice(
                    &((u32::from(fin_flag(*fin)) << 24) | data.len() as u32).to_be_bytes(),
                );
                b.extend_from_slice(data);
                Ok(b)
            }
        }
    }
}

/// A decompressed header block: a 32-bit count, then per pair a 32-bit length and the name,
/// a 32-bit length and the value.
fn parse_block(b: &[u8]) -> Result<Headers, SpdyError> {
    let count = u32_at(b, 0).ok_or_else(|| SpdyError("header block is empty".into()))?;
    if count > MAX_HEADERS {
        return err(format!(
            "{count} headers in one block (at most {MAX_HEADERS})"
        ));
    }
    let mut at = 4usize;
    let take = |at: &mut usize| -> Result<String, SpdyError> {
        let len = u32_at(b, *at).ok_or_else(|| SpdyError("header block is cut short".into()))?;
        let start = *at + 4;
        let end = start
            .checked_add(len as usize)
            .filter(|e| *e <= b.len())
            .ok_or_else(|| SpdyError("header block is cut short".into()))?;
        *at = end;
        Ok(String::from_utf8_lossy(&b[start..end]).into_owned())
    };
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let name = take(&mut at)?;
        let value = take(&mut at)?;
        out.push((name.to_ascii_lowercase(), value));
    }
    Ok(out)
}

/// The first value of header `name` (names are lower case on the wire).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split('\0').next().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adler32(b: &[u8]) -> u32 {
        let (mut a, mut s) = (1u32, 0u32);
        for x in b {
            a = (a + u32::from(*x)) % 65521;
            s = (s + a) % 65521;
        }
        (s << 16) | a
    }

    #[test]
    fn dictionary_is_the_spdy3_one() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(adler32(d), 0xe3c6_a7c2);
        assert!(d.starts_with(b"\0\0\0\x07options\0\0\0\x04head"));
        assert!(d.ends_with(b",*,enq=0."));
    }

    #[test]
    fn frames_round_trip_through_two_codecs() {
        let mut client = Codec::new();
        let mut server = Codec::new();
        let frames = [
            Frame::SynStream {
                stream: 1,
                associated: 0,
                priority: 0,
                fin: false,
                headers: vec![
                    ("streamtype".into(), "error".into()),
                    ("port".into(), "8080".into()),
                    ("requestid".into(), "0".into()),
                ],
            },
            Frame::Data {
                stream: 1,
                fin: true,
                data: vec![],
            },
            Frame::SynStream {
                stream: 3,
                associated: 0,
                priority: 0,
                fin: false,
                headers: vec![
                    ("streamtype".into(), "data".into()),
                    ("port".into(), "8080".into()),
                    ("requestid".into(), "0".into()),
                ],
            },
            Frame::Ping(1),
            Frame::Data {
                stream: 3,
                fin: false,
                data: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            },
            Frame::GoAway {
                last_good: 3,
                status: 0,
            },
        ];
        let mut wire = Vec::new();
        for f in &frames {
            wire.extend(client.encode(f).unwrap());
        }
        // Arrives in pieces: nothing is returned before a frame is whole.
        let mut got = vec![];
        for chunk in wire.chunks(5) {
            server.feed(chunk);
            while let Some(f) = server.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        // The answer direction has its own zlib stream.
        let reply = server
            .encode(&Frame::SynReply {
                stream: 1,
                fin: false,
                headers: vec![],
            })
            .unwrap();
        client.feed(&reply);
        assert_eq!(
            client.next_frame().unwrap(),
            Some(Frame::SynReply {
                stream: 1,
                fin: false,
                headers: vec![]
            })
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut c = Codec::new();
        c.feed(&[
            0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0c, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xde,
            0xad,
        ]);
        assert!(c.next_frame().is_err());
        let mut c = Codec::new();
        c.feed(&[0x80, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1]);
        assert!(c.next_frame().unwrap_err().0.contains("version 2"));
        let mut c = Codec::new();
        c.feed(&[0x00, 0x00, 0x00, 0x01, 0x01, 0xff, 0xff, 0xff]);
        assert!(c.next_frame().unwrap_err().0.contains("limit"));
    }
}
