//! A small, hand-built span set with known values: what the PostgreSQL wire tests send over
//! OTLP and then expect back (directly, and from DuckDB over the flushed Parquet files).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span::SpanKind, status::StatusCode,
};
use serde_json::json;

use crate::server::TestServer;

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

/// One invocation as sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub function: &'static str,
    pub trace_id: [u8; 16],
    pub start_ns: u64,
    pub duration_ns: u64,
    pub status: i64,
    pub error: bool,
    pub route: String,
}

/// `checkout`: 20 invocations of 10, 20, ... 200 ms, two 500s; `search`: 10 of 5 ms, one
/// throttled (429). One minute apart from `base_ns` (aligned to the hour so every span lands
/// in one hour partition).
pub fn invocations(base_ns: u64) -> Vec<Sent> {
    let mut out = Vec::new();
    for i in 0..20u64 {
        let status = if i == 7 || i == 13 { 500 } else { 200 };
        out.push(Sent {
            function: "checkout",
            trace_id: id(1, i),
            start_ns: base_ns + i * 60_000_000_000 + 1_000_000,
            duration_ns: (i + 1) * 10_000_000,
            status,
            error: status == 500,
            route: format!("/orders/{}", i % 3),
        });
    }
    for i in 0..10u64 {
        let status = if i == 4 { 429 } else { 200 };
        out.push(Sent {
            function: "search",
            trace_id: id(2, i),
            start_ns: base_ns + i * 60_000_000_000 + 2_000_000,
            duration_ns: 5_000_000,
            status,
            error: false,
            route: "/search".into(),
        });
    }
    out
}

fn id(f: u8, i: u64) -> [u8; 16] {
    let mut t = [0u8; 16];
    t[0] = 0xa0 | f;
    t[8..].copy_from_slice(&(i + 1).to_be_bytes());
    t
}

pub fn request(sent: &[Sent]) -> ExportTraceServiceRequest {
    let mut resource_spans = Vec::new();
    for function in ["checkout", "search"] {
        let spans = sent
            .iter()
            .filter(|x| x.function == function)
            .enumerate()
            .map(|(i, x)| Span {
                trace_id: x.trace_id.to_vec(),
                span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                name: format!("{function} handler"),
                kind: SpanKind::Server as i32,
                start_time_unix_nano: x.start_ns,
                end_time_unix_nano: x.start_ns + x.duration_ns,
                attributes: vec![
                    kv("faas.invocation_id", s(&format!("{function}-{i}"))),
                    kv("faas.trigger", s("http")),
                    kv("http.route", s(&x.route)),
                    // Not a promoted column: stays in the `attributes` map.
                    kv("app.route", s(&x.route)),
                    kv("http.response.status_code", Value::IntValue(x.status)),
                ],
                status: Some(Status {
                    code: if x.error {
                        StatusCode::Error
                    } else {
                        StatusCode::Ok
                    } as i32,
                    message: String::new(),
                }),
                ..Default::default()
            })
            .collect();
        resource_spans.push(ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s(function)),
                    kv("cloud.provider", s("aws")),
                    kv("cloud.platform", s("aws_lambda")),
                    kv("cloud.region", s("eu-west-1")),
                    kv("faas.name", s(function)),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "e2e".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    ExportTraceServiceRequest { resource_spans }
}

/// The start of the current hour minus one hour, in ns: every span is in the past and in one
/// hour partition.
pub fn base_ns() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (now / 3600 * 3600 - 3600) * 1_000_000_000
}

/// Sends the data set over OTLP/HTTP, then restarts the server so every row is in Parquet.
pub async fn ingest_and_flush(server: &mut TestServer, sent: &[Sent]) {
    use prost::Message;
    let r = server
        .post_protobuf("/v1/traces", request(sent).encode_to_vec())
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(server.stop().code(), Some(0), "{}", server.log());
    server.spawn();
}

/// Every Parquet file of `table` under the data directory.
pub fn parquet_files(server: &TestServer, table: &str) -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(&server.data.join(table), &mut out);
    out.sort();
    out
}

/// Expected answers, computed here from what was sent (not from slod).
pub fn expected(sent: &[Sent]) -> serde_json::Value {
    let per_function: Vec<serde_json::Value> = ["checkout", "search"]
        .iter()
        .map(|f| {
            let rows: Vec<&Sent> = sent.iter().filter(|x| x.function == *f).collect();
            json!([
                f,
                rows.len(),
                rows.iter().filter(|x| x.error).count(),
                rows.iter().map(|x| x.duration_ns).max().unwrap(),
                rows.iter().map(|x| x.duration_ns).sum::<u64>(),
            ])
        })
        .collect();
    let first = &sent[0];
    json!({
        "per_function": per_function,
        "throttled": sent.iter().filter(|x| x.status == 429).count(),
        "checkout_at_least_100ms": sent.iter().filter(|x| x.function == "checkout" && x.duration_ns >= 100_000_000).count(),
        "first_trace_hex": hex(&first.trace_id),
        "first_route": first.route,
        "first_start_us": first.start_ns / 1000,
        "first_duration_ns": first.duration_ns,
        "base_s": sent.iter().map(|x| x.start_ns).min().unwrap() / 1_000_000_000,
        "end_s": sent.iter().map(|x| x.start_ns + x.duration_ns).max().unwrap() / 1_000_000_000 + 1,
    })
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
