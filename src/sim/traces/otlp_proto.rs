//! Just enough of the protobuf wire format to read the spans of an OTLP
//! `ExportTraceServiceRequest` (opentelemetry-proto `trace/v1/trace.proto`,
//! `collector/trace/v1/trace_service.proto`): resource_spans = 1 -> { resource = 1 ->
//! { attributes = 1 -> KeyValue { key = 1, value = 2 -> AnyValue { string_value = 1 } } },
//! scope_spans = 2 -> { spans = 2 -> Span { trace_id = 1, span_id = 2, name = 5 } } }.
//! Every other field is skipped by its wire type; malformed input is an error, never a panic.

use super::SpanIn;

/// One field's payload.
enum Wire<'a> {
    Varint,
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at).ok_or("truncated varint")?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint longer than 10 bytes".into())
}

/// The fields of one message, in order.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let tag = varint(buf, &mut at)?;
        let (field, wire) = (tag >> 3, tag & 7);
        let w = match wire {
            0 => {
                varint(buf, &mut at)?;
                Wire::Varint
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                at = at
                    .checked_add(n)
                    .filter(|e| *e <= buf.len())
                    .ok_or("truncated fixed field")?;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut at)?).map_err(|_| "length too large")?;
                let end = at
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or("truncated length-delimited field")?;
                let b = &buf[at..end];
                at = end;
                Wire::Bytes(b)
            }
            w => return Err(format!("wire type {w} is not supported")),
        };
        out.push((field, w));
    }
    Ok(out)
}

fn bytes_of<'a, 'f>(fs: &'f [(u64, Wire<'a>)], n: u64) -> impl Iterator<Item = &'a [u8]> + 'f {
    fs.iter().filter_map(move |(f, w)| match w {
        Wire::Bytes(b) if *f == n => Some(*b),
        _ => None,
    })
}

fn service_name(resource: &[u8]) -> Result<String, String> {
    for kv in bytes_of(&fields(resource)?, 1) {
        let kv = fields(kv)?;
        let key = bytes_of(&kv, 1).next().unwrap_or_default();
        if key == b"service.name"
            && let Some(value) = bytes_of(&kv, 2).next()
        {
            let value = fields(value)?;
            let s = bytes_of(&value, 1).next().unwrap_or_default();
            return Ok(String::from_utf8_lossy(s).into_owned());
        }
    }
    Ok(String::new())
}

/// The spans of a binary `ExportTraceServiceRequest`.
pub fn spans(body: &[u8]) -> Result<Vec<SpanIn>, String> {
    let mut out = Vec::new();
    for rs in bytes_of(&fields(body)?, 1) {
        let rs = fields(rs)?;
        let service = match bytes_of(&rs, 1).next() {
            Some(r) => service_name(r)?,
            None => String::new(),
        };
        for ss in bytes_of(&rs, 2) {
            for span in bytes_of(&fields(ss)?, 2) {
                let sf = fields(span)?;
                let trace_id = bytes_of(&sf, 1).next().unwrap_or_default();
                let span_id = bytes_of(&sf, 2).next().unwrap_or_default();
                if trace_id.len() != 16 || span_id.len() != 8 {
                    return Err(format!(
                        "a span has a {}-byte trace_id and a {}-byte span_id (16 and 8 expected)",
                        trace_id.len(),
                        span_id.len()
                    ));
                }
                let name = bytes_of(&sf, 5).next().unwrap_or_default();
                out.push(SpanIn {
                    trace_id: hex::encode(trace_id),
                    span_id: hex::encode(span_id),
                    name: String::from_utf8_lossy(name).into_owned(),
                    service: service.clone(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, b: &[u8]) -> Vec<u8> {
        let mut out = vec![
            u8::try_from((n << 3) | 2).unwrap(),
            u8::try_from(b.len()).unwrap(),
        ];
        out.extend_from_slice(b);
        out
    }

    #[test]
    fn reads_a_request_built_by_hand_and_refuses_truncation() {
        let any = field(1, b"probe");
        let kv = [field(1, b"service.name"), field(2, &any)].concat();
        let resource = field(1, &kv);
        let mut span = [
            field(1, &[0xab; 16]),
            field(2, &[0xcd; 8]),
            field(5, b"hello"),
        ]
        .concat();
        // A varint field and a fixed64 one (kind, start time) are skipped.
        span.extend_from_slice(&[(6 << 3), 2, (7 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]);
        let ss = field(2, &span);
        let rs = [field(1, &resource), field(2, &ss)].concat();
        let body = field(1, &rs);
        let got = spans(&body).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].trace_id, "ab".repeat(16));
        assert_eq!(got[0].span_id, "cd".repeat(8));
        assert_eq!(got[0].name, "hello");
        assert_eq!(got[0].service, "probe");
        assert!(spans(&body[..body.len() - 3]).is_err());
        assert!(spans(&[0x0b]).is_err());
    }
}
