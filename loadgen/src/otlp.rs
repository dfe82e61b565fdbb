//! Small builders for OTLP protobuf messages (attributes, scopes, status, exception events).

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use opentelemetry_proto::tonic::trace::v1::{Status, span::Event};

pub(crate) fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

pub(crate) fn s(key: &str, v: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(v.into()))
}

pub(crate) fn i(key: &str, v: i64) -> KeyValue {
    kv(key, Value::IntValue(v))
}

pub(crate) fn b(key: &str, v: bool) -> KeyValue {
    kv(key, Value::BoolValue(v))
}

/// A string array (Node's `aws.log.group.names`).
pub(crate) fn strings(key: &str, values: &[&str]) -> KeyValue {
    kv(
        key,
        Value::ArrayValue(ArrayValue {
            values: values
                .iter()
                .map(|v| AnyValue {
                    value: Some(Value::StringValue((*v).into())),
                })
                .collect(),
        }),
    )
}

/// A key-value list (CloudWatch Metric Streams' `Dimensions`).
pub(crate) fn kvlist(key: &str, values: Vec<KeyValue>) -> KeyValue {
    kv(key, Value::KvlistValue(KeyValueList { values }))
}

pub(crate) fn scope(name: &str, version: &str) -> InstrumentationScope {
    InstrumentationScope {
        name: name.into(),
        version: version.into(),
        ..Default::default()
    }
}

/// Status ERROR with a description (empty for the Python Lambda instrumentation, which sets none).
pub(crate) fn error_status(message: &str) -> Option<Status> {
    Some(Status {
        code: 2,
        message: message.into(),
    })
}

/// The `exception` span event every observed SDK records (Python adds `exception.escaped`).
pub(crate) fn exception_event(time: u64, ty: &str, message: &str, python: bool) -> Event {
    let stacktrace = if python {
        format!(
            "Traceback (most recent call last):\n  File \"/var/task/handler.py\", line 42, in handler\n{ty}: {message}"
        )
    } else {
        format!("{ty}: {message}\n    at handler (/var/task/index.js:42:11)")
    };
    let mut attributes = vec![
        s("exception.type", ty),
        s("exception.message", message),
        s("exception.stacktrace", stacktrace),
    ];
    if python {
        attributes.push(b("exception.escaped", true));
    }
    Event {
        time_unix_nano: time,
        name: "exception".into(),
        attributes,
        dropped_attributes_count: 0,
    }
}

/// Span kinds (OTLP enum).
pub(crate) const INTERNAL: i32 = 1;
pub(crate) const SERVER: i32 = 2;
pub(crate) const CLIENT: i32 = 3;
pub(crate) const PRODUCER: i32 = 4;
pub(crate) const CONSUMER: i32 = 5;

/// Span flags as observed: Python 256 (has-is-remote), 768 with a remote parent; Node 257
/// (sampled + has-is-remote).
pub(crate) const FLAGS_PYTHON: u32 = 0x100;
pub(crate) const FLAGS_PYTHON_REMOTE: u32 = 0x300;
pub(crate) const FLAGS_NODE: u32 = 0x101;
