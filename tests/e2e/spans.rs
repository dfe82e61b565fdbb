//! Invocation spans for the e2e tests: OTLP requests shaped like a Lambda exporter's, with
//! chosen failures and times.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};

pub fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// `n` invocations (AWS Lambda, eu-west-1) of each of `functions` of `service`, starting at
/// `start_s`, one a second; the first `bad` of each fail. Ids are unique per (function, start,
/// salt, i) for n ≤ 256.
pub fn invocations(
    service: &str,
    functions: &[String],
    start_s: u64,
    n: u64,
    bad: u64,
    salt: u64,
) -> ExportTraceServiceRequest {
    let resource_spans = functions
        .iter()
        .enumerate()
        .map(|(f, name)| {
            let spans = (0..n)
                .map(|i| {
                    let start = (start_s + i) * 1_000_000_000;
                    let id = start_s << 24 | (f as u64) << 16 | salt << 8 | i;
                    let mut trace_id = id.to_be_bytes().to_vec();
                    trace_id.extend_from_slice(&(f as u64 + 1000 * salt).to_be_bytes());
                    Span {
                        trace_id,
                        span_id: id.to_be_bytes().to_vec(),
                        name: name.clone(),
                        kind: 2,
                        start_time_unix_nano: start,
                        end_time_unix_nano: start + 20_000_000,
                        attributes: vec![kv("faas.invocation_id", &format!("{name}-{id}"))],
                        status: Some(Status {
                            code: if i < bad {
                                status::StatusCode::Error as i32
                            } else {
                                status::StatusCode::Ok as i32
                            },
                            message: String::new(),
                        }),
                        ..Default::default()
                    }
                })
                .collect();
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", service),
                        kv("faas.name", name),
                        kv("cloud.provider", "aws"),
                        kv("cloud.platform", "aws_lambda"),
                        kv("cloud.region", "eu-west-1"),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}
