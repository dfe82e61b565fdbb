//! Attribute values as strings, and the `Map<Utf8, Utf8>` column builder.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{ArrayRef, MapBuilder, MapFieldNames, StringBuilder};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};

/// The canonical string form of an attribute value: strings as they are, integers in
/// decimal, booleans `true`/`false`, doubles in shortest round-trip form, bytes in hex,
/// arrays and key-value lists as JSON.
pub(crate) fn value_str(v: Option<&AnyValue>) -> Cow<'_, str> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => Cow::Borrowed(s.as_str()),
        Some(Value::BoolValue(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => Cow::Owned(i.to_string()),
        Some(Value::DoubleValue(d)) => Cow::Owned(d.to_string()),
        Some(Value::BytesValue(b)) => Cow::Owned(hex::encode(b)),
        Some(other) => Cow::Owned(to_json(other).to_string()),
        None => Cow::Borrowed(""),
    }
}

/// A value as a number, when it is one (ints, doubles, numeric strings).
pub(crate) fn value_f64(v: Option<&AnyValue>) -> Option<f64> {
    match v.and_then(|v| v.value.as_ref())? {
        Value::IntValue(i) => Some(*i as f64),
        Value::DoubleValue(d) => Some(*d),
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn value_bool(v: Option<&AnyValue>) -> Option<bool> {
    match v.and_then(|v| v.value.as_ref())? {
        Value::BoolValue(b) => Some(*b),
        Value::StringValue(s) => match s.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        },
        Value::IntValue(i) => Some(*i != 0),
        _ => None,
    }
}

fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::StringValue(s) => J::String(s.clone()),
        Value::BoolValue(b) => J::Bool(*b),
        Value::IntValue(i) => J::from(*i),
        Value::DoubleValue(d) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Value::BytesValue(b) => J::String(hex::encode(b)),
        Value::ArrayValue(a) => J::Array(
            a.values
                .iter()
                .map(|x| x.value.as_ref().map_or(J::Null, to_json))
                .collect(),
        ),
        Value::KvlistValue(kv) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
                    (kv.key.clone(), v.map_or(J::Null, to_json))
                })
                .collect(),
        ),
        #[allow(unreachable_patterns)]
        _ => J::Null,
    }
}

/// Key-value pairs of a kvlist value (CloudWatch `Dimensions`), flattened.
pub(crate) fn kvlist(v: Option<&AnyValue>) -> Option<&[KeyValue]> {
    match v.and_then(|v| v.value.as_ref())? {
        Value::KvlistValue(kv) => Some(&kv.values),
        _ => None,
    }
}

/// Builds a `Map<Utf8, Utf8>` column, one map per row.
#[derive(Debug)]
pub(crate) struct MapColumn {
    inner: MapBuilder<StringBuilder, StringBuilder>,
}

impl MapColumn {
    pub(crate) fn new() -> MapColumn {
        let names = MapFieldNames {
            entry: "entries".into(),
            key: "keys".into(),
            value: "values".into(),
        };
        MapColumn {
            inner: MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new()),
        }
    }

    pub(crate) fn entry(&mut self, key: &str, value: &str) {
        self.inner.keys().append_value(key);
        self.inner.values().append_value(value);
    }

    /// Ends the current row's map.
    pub(crate) fn end_row(&mut self) {
        // INVARIANT: keys and values are appended in pairs above, so lengths always match.
        #[allow(clippy::expect_used)]
        self.inner
            .append(true)
            .expect("map keys and values are appended in pairs");
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        Arc::new(self.inner.finish())
    }
}
