//! Loki JSON (docs/reference/loki.md §2, §4): stream results and tail frames, parsed straight into
//! [`LogLine`]s. Timestamps are nanosecond strings; one `Arc<Labels>` per stream.

use crate::domain::logs::{Labels, LogLine};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Deserialize)]
struct WireStream<'a> {
    #[serde(borrow)]
    stream: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    #[serde(borrow)]
    values: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

#[derive(Deserialize)]
struct WireDropped {}

/// One websocket frame of `/loki/api/v1/tail`.
#[derive(Deserialize)]
struct WireTailFrame<'a> {
    #[serde(borrow, default)]
    streams: Vec<WireStream<'a>>,
    #[serde(default)]
    dropped_entries: Option<Vec<WireDropped>>,
}

#[derive(Deserialize)]
struct WireQueryResponse<'a> {
    status: Cow<'a, str>,
    #[serde(borrow)]
    data: Option<WireQueryData<'a>>,
    #[serde(default)]
    error: Option<String>,
}

/// `data` of a query answer, tagged by `resultType`.
#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum WireQueryData<'a> {
    Streams(#[serde(borrow)] Vec<WireStream<'a>>),
    Matrix(serde::de::IgnoredAny),
    Vector(serde::de::IgnoredAny),
    Scalar(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

/// A parsed tail frame.
#[derive(Debug, Default, PartialEq)]
pub struct TailFrame {
    pub lines: Vec<LogLine>,
    /// How many entries Loki says it dropped (the tail could not keep up).
    pub dropped: usize,
}

/// Why a Loki payload could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("bad timestamp `{0}` (expected nanoseconds since the epoch)")]
    Timestamp(String),
    #[error("Loki reported an error: {0}")]
    Loki(String),
    #[error(
        "the query returned `{0}` (a metric query); the log pane shows log queries such as {{app=\"x\"}} |= \"error\""
    )]
    NotStreams(String),
}

fn push_streams(streams: Vec<WireStream<'_>>, out: &mut Vec<LogLine>) -> Result<(), WireError> {
    for s in streams {
        let labels: Labels = s
            .stream
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let labels = Arc::new(labels);
        out.reserve(s.values.len());
        for (ts, line) in s.values {
            let ts_ns: i64 = ts
                .parse()
                .map_err(|_| WireError::Timestamp(ts.to_string()))?;
            out.push(LogLine::new(ts_ns, Arc::clone(&labels), line.into_owned()));
        }
    }
    Ok(())
}

/// Parse a tail frame `{"streams":[...],"dropped_entries":[...]}`; lines come out sorted by time.
pub fn parse_tail_frame(text: &[u8]) -> Result<TailFrame, WireError> {
    let frame: WireTailFrame<'_> =
        serde_json::from_slice(text).map_err(|e| WireError::Json(e.to_string()))?;
    let mut lines = Vec::new();
    push_streams(frame.streams, &mut lines)?;
    lines.sort_by_key(|l| l.ts_ns);
    Ok(TailFrame {
        lines,
        dropped: frame.dropped_entries.map_or(0, |d| d.len()),
    })
}

/// Parse a `query_range` answer for a log query; lines come out oldest first whatever the
/// `direction` was.
pub fn parse_query_range(body: &[u8]) -> Result<Vec<LogLine>, WireError> {
    let resp: WireQueryResponse<'_> =
        serde_json::from_slice(body).map_err(|e| WireError::Json(e.to_string()))?;
    if resp.status != "success" {
        return Err(WireError::Loki(
            resp.error.unwrap_or_else(|| resp.status.into_owned()),
        ));
    }
    let data = resp
        .data
        .ok_or_else(|| WireError::Json("missing `data`".into()))?;
    let streams = match data {
        WireQueryData::Streams(s) => s,
        WireQueryData::Matrix(_) => return Err(WireError::NotStreams("matrix".into())),
        WireQueryData::Vector(_) => return Err(WireError::NotStreams("vector".into())),
        WireQueryData::Scalar(_) | WireQueryData::String(_) => {
            return Err(WireError::NotStreams("scalar".into()));
        }
    };
    let mut lines = Vec::new();
    push_streams(streams, &mut lines)?;
    lines.sort_by_key(|l| l.ts_ns);
    Ok(lines)
}

/// The value of a one-sample (or empty) vector answer, as `sum(...)` gives:
/// `{"data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.5,"42"]}]}}`.
/// An empty result is 0.
pub fn parse_vector_sum(body: &[u8]) -> Result<u64, WireError> {
    #[derive(Deserialize)]
    struct Sample {
        value: (serde::de::IgnoredAny, String),
    }
    #[derive(Deserialize)]
    #[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
    enum Data {
        Vector(Vec<Sample>),
        Matrix(serde::de::IgnoredAny),
        Streams(serde::de::IgnoredAny),
        Scalar(serde::de::IgnoredAny),
        String(serde::de::IgnoredAny),
    }
    #[derive(Deserialize)]
    struct R {
        status: String,
        data: Option<Data>,
        #[serde(default)]
        error: Option<String>,
    }
    let r: R = serde_json::from_slice(body).map_err(|e| WireError::Json(e.to_string()))?;
    if r.status != "success" {
        return Err(WireError::Loki(r.error.unwrap_or(r.status)));
    }
    let samples = match r.data {
        Some(Data::Vector(s)) => s,
        _ => return Err(WireError::Json("expected a vector result".into())),
    };
    let mut total = 0u64;
    for s in samples {
        let v: f64 = s
            .value
            .1
            .parse()
            .map_err(|_| WireError::Json(format!("bad sample `{}`", s.value.1)))?;
        // `as` saturates (NaN is 0); the sum saturates too: a peer's 1e20 is not a panic.
        total = total.saturating_add(v.max(0.0).round() as u64);
    }
    Ok(total)
}

/// `{"status":"success","data":["a","b"]}` (labels, label values).
pub fn parse_string_list(body: &[u8]) -> Result<Vec<String>, WireError> {
    #[derive(Deserialize)]
    struct R {
        status: String,
        #[serde(default)]
        data: Vec<String>,
        #[serde(default)]
        error: Option<String>,
    }
    let r: R = serde_json::from_slice(body).map_err(|e| WireError::Json(e.to_string()))?;
    if r.status != "success" {
        return Err(WireError::Loki(r.error.unwrap_or(r.status)));
    }
    Ok(r.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::logs::LogLevel;

    #[test]
    fn parses_the_documented_tail_frame() {
        let frame = br#"{"streams":[{"stream":{"app":"ingress-nginx-controller","namespace":"ingress-nginx","detected_level":"info"},
             "values":[["1756749695032629429","GET /healthz 200"]]}],
 "dropped_entries":[{"labels":{"app":"ingress-nginx-controller"},"timestamp":"1756737438665606681"}]}"#;
        let f = parse_tail_frame(frame).unwrap();
        assert_eq!(f.dropped, 1);
        assert_eq!(f.lines.len(), 1);
        assert_eq!(f.lines[0].ts_ns, 1756749695032629429);
        assert_eq!(f.lines[0].labels["namespace"], "ingress-nginx");
        assert_eq!(f.lines[0].level, LogLevel::Info);
        let f = parse_tail_frame(br#"{"streams":[]}"#).unwrap();
        assert_eq!(f, TailFrame::default());
    }

    #[test]
    fn query_range_comes_out_oldest_first_with_escapes() {
        let body = br#"{"status":"success","data":{"resultType":"streams","result":[
  {"stream":{"job":"varlogs"},"values":[["1569266497240578000","foo \"quoted\""],["1569266492548155000","bar"]]}],
 "stats":{}}}"#;
        let lines = parse_query_range(body).unwrap();
        assert_eq!(
            lines.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(),
            vec!["bar", "foo \"quoted\""]
        );
    }

    #[test]
    fn metric_results_and_bad_timestamps_are_explained() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(matches!(parse_query_range(body), Err(WireError::NotStreams(t)) if t == "matrix"));
        let body = br#"{"streams":[{"stream":{},"values":[["yesterday","x"]]}]}"#;
        assert_eq!(
            parse_tail_frame(body),
            Err(WireError::Timestamp("yesterday".into()))
        );
        assert!(matches!(parse_tail_frame(b"{"), Err(WireError::Json(_))));
    }

    #[test]
    fn vector_sums() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.5,"42"]}],"stats":{}}}"#;
        assert_eq!(parse_vector_sum(body), Ok(42));
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(parse_vector_sum(body), Ok(0));
        let body = br#"{"status":"success","data":{"resultType":"streams","result":[]}}"#;
        assert!(parse_vector_sum(body).is_err());
    }

    #[test]
    fn huge_samples_saturate_instead_of_overflowing() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1e20"]},{"metric":{},"value":[1,"1e20"]}]}}"#;
        assert_eq!(parse_vector_sum(body), Ok(u64::MAX));
    }

    #[test]
    fn string_lists() {
        assert_eq!(
            parse_string_list(br#"{"status":"success","data":["app","job"]}"#).unwrap(),
            vec!["app", "job"]
        );
    }
}
