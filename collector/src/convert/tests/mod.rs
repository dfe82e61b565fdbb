//! Conversion of real captures (`collector/testdata`, see its README) and of hand-built requests.
//!
//! Expected values come from each capture's `.json` twin (decoded by the protobuf reference
//! library, not by this crate), the testdata README, the OTel specs, or hand calculation noted
//! beside the assertion. Hand-built requests say which document they were written from.

use std::collections::BTreeMap;

use arrow::array::{
    Array, ArrayRef, BooleanArray, FixedSizeBinaryArray, Float64Array, ListArray, MapArray, StringArray,
    StructArray, UInt64Array,
};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, KeyValueList, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics, Summary, SummaryDataPoint,
    metric::Data, summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use slod_storage::Table;

use super::Converted;

const INGEST_NS: i64 = 1_800_000_000_000_000_000;

// ---- loading and converting -------------------------------------------------------------

fn capture(path: &str) -> Vec<u8> {
    let full = format!("{}/testdata/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("cannot read {full}: {e}"))
}

fn traces(path: &str) -> Converted {
    let req = ExportTraceServiceRequest::decode(capture(path).as_slice()).unwrap();
    super::traces(&req, INGEST_NS).unwrap()
}

fn metrics(path: &str) -> Converted {
    let req = ExportMetricsServiceRequest::decode(capture(path).as_slice()).unwrap();
    super::metrics(&req, INGEST_NS).unwrap()
}

fn logs(path: &str) -> Converted {
    let req = ExportLogsServiceRequest::decode(capture(path).as_slice()).unwrap();
    super::logs(&req, INGEST_NS).unwrap()
}

/// The batch of `table`; every capture converts without rejections.
fn batch(c: &Converted, table: Table) -> Rows<'_> {
    let found: Vec<&RecordBatch> = c
        .batches
        .iter()
        .filter(|(t, _)| *t == table)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(found.len(), 1, "one {table} batch");
    Rows(found[0])
}

fn spans_of(path: &str) -> (Converted, usize) {
    let c = traces(path);
    assert_eq!(c.rejected.count, 0, "{path}: {:?}", c.rejected.first);
    let n = batch(&c, Table::Spans).0.num_rows();
    assert_eq!(c.accepted, n as u64);
    (c, n)
}

// ---- reading columns ----------------------------------------------------------------------

/// Typed access to a batch's columns by name and row.
struct Rows<'a>(&'a RecordBatch);

impl Rows<'_> {
    fn col(&self, name: &str) -> &ArrayRef {
        self.0
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    fn str(&self, name: &str, row: usize) -> Option<String> {
        let a = self.col(name).as_any().downcast_ref::<StringArray>().unwrap();
        a.is_valid(row).then(|| a.value(row).to_string())
    }

    fn bool(&self, name: &str, row: usize) -> Option<bool> {
        let a = self.col(name).as_any().downcast_ref::<BooleanArray>().unwrap();
        a.is_valid(row).then(|| a.value(row))
    }

    /// Any integer or timestamp column, as i64.
    fn int(&self, name: &str, row: usize) -> Option<i64> {
        let a = cast(self.col(name), &DataType::Int64).unwrap();
        let a = a.as_any().downcast_ref::<arrow::array::Int64Array>().unwrap();
        a.is_valid(row).then(|| a.value(row))
    }

    fn uint(&self, name: &str, row: usize) -> Option<u64> {
        let a = self.col(name).as_any().downcast_ref::<UInt64Array>().unwrap();
        a.is_valid(row).then(|| a.value(row))
    }

    fn float(&self, name: &str, row: usize) -> Option<f64> {
        let a = self.col(name).as_any().downcast_ref::<Float64Array>().unwrap();
        a.is_valid(row).then(|| a.value(row))
    }

    /// A FixedSizeBinary id as lowercase hex.
    fn hex(&self, name: &str, row: usize) -> Option<String> {
        let a = self
            .col(name)
            .as_any()
            .downcast_ref::<FixedSizeBinaryArray>()
            .unwrap();
        a.is_valid(row).then(|| hex::encode(a.value(row)))
    }

    fn map(&self, name: &str, row: usize) -> BTreeMap<String, String> {
        let a = self.col(name).as_any().downcast_ref::<MapArray>().unwrap();
        entries(&a.value(row))
    }

    fn floats(&self, name: &str, row: usize) -> Option<Vec<f64>> {
        let a = self.col(name).as_any().downcast_ref::<ListArray>().unwrap();
        a.is_valid(row).then(|| {
            let v = a.value(row);
            let v = v.as_any().downcast_ref::<Float64Array>().unwrap();
            v.values().to_vec()
        })
    }

    fn uints(&self, name: &str, row: usize) -> Option<Vec<u64>> {
        let a = self.col(name).as_any().downcast_ref::<ListArray>().unwrap();
        a.is_valid(row).then(|| {
            let v = a.value(row);
            let v = v.as_any().downcast_ref::<UInt64Array>().unwrap();
            v.values().to_vec()
        })
    }

    /// Elements of a List<Struct> cell.
    fn structs(&self, name: &str, row: usize) -> StructArray {
        let a = self.col(name).as_any().downcast_ref::<ListArray>().unwrap();
        a.value(row)
            .as_any()
            .downcast_ref::<StructArray>()
            .unwrap()
            .clone()
    }

    /// The only row whose string column `name` equals `value`.
    fn row(&self, name: &str, value: &str) -> usize {
        let rows = self.rows(name, value);
        assert_eq!(rows.len(), 1, "rows with {name} = {value:?}");
        rows[0]
    }

    fn rows(&self, name: &str, value: &str) -> Vec<usize> {
        (0..self.0.num_rows())
            .filter(|r| self.str(name, *r).as_deref() == Some(value))
            .collect()
    }

    /// The span row with this span id (hex, from the capture's JSON).
    fn span(&self, span_id: &str) -> usize {
        let rows: Vec<usize> = (0..self.0.num_rows())
            .filter(|r| self.hex("span_id", *r).as_deref() == Some(span_id))
            .collect();
        assert_eq!(rows.len(), 1, "span {span_id}");
        rows[0]
    }
}

fn entries(s: &StructArray) -> BTreeMap<String, String> {
    let k = s.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    let v = s.column(1).as_any().downcast_ref::<StringArray>().unwrap();
    (0..s.len())
        .map(|i| (k.value(i).to_string(), v.value(i).to_string()))
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

// ---- building requests by hand ----------------------------------------------------------

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

fn resource(attrs: Vec<KeyValue>) -> Option<Resource> {
    Some(Resource {
        attributes: attrs,
        ..Default::default()
    })
}

fn span(name: &str, trace_id: Vec<u8>, span_id: Vec<u8>, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id,
        span_id,
        name: name.into(),
        kind: 2,
        start_time_unix_nano: 1_795_486_740_000_000_000,
        end_time_unix_nano: 1_795_486_740_100_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

fn trace_request(res: Option<Resource>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: res,
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

mod reference;

// ---- python-lambda ------------------------------------------------------------------------

#[test]
fn python_lambda_cold_http_invocation() {
    let (c, n) = spans_of("python-lambda/traces-1.pb");
    let t = batch(&c, Table::Spans);
    assert_eq!(n, 2, "invocation span and its `validate order` child");
    let inv = t.span("59cb495f0d2f587c");
    // The invocation span carries faas.invocation_id, so it is the invocation.
    assert_eq!(t.bool("is_invocation", inv), Some(true));
    assert_eq!(
        t.str("faas_invocation_id", inv),
        s("3f1c2a52-9d3e-4c6b-8f0a-0c5e8b7d1a01")
    );
    // The Python instrumentation never sets faas.coldstart: NULL, not false.
    assert_eq!(t.bool("faas_coldstart", inv), None);
    // Old HTTP names land in the new columns…
    assert_eq!(t.str("http_request_method", inv), s("GET"));
    assert_eq!(t.int("http_response_status_code", inv), Some(200));
    assert_eq!(t.str("http_route", inv), s("/orders/{id}"));
    assert_eq!(t.str("faas_trigger", inv), s("http"));
    // …and neither they nor any other promoted key stays in the map.
    assert_eq!(
        t.map("attributes", inv),
        map(&[
            ("http.user_agent", "curl/8.5.0"),
            ("http.scheme", "https"),
            ("net.host.name", "abc123.execute-api.eu-west-1.amazonaws.com"),
            ("http.target", "/orders/{id}?expand=items"),
        ])
    );
    // Span-level cloud.* keys fill the resource columns.
    assert_eq!(
        t.str("cloud_resource_id", inv),
        s("arn:aws:lambda:eu-west-1:123456789012:function:orders-api-py")
    );
    assert_eq!(t.str("cloud_account_id", inv), s("123456789012"));
    // Resource: faas.max_memory is an int in MB (512).
    assert_eq!(t.int("faas_max_memory_mb", inv), Some(512));
    assert_eq!(t.str("service_name", inv), s("orders-api-py"));
    assert_eq!(t.str("cloud_provider", inv), s("aws"));
    assert_eq!(t.str("cloud_platform", inv), s("aws_lambda"));
    assert_eq!(t.str("cloud_region", inv), s("eu-west-1"));
    assert_eq!(t.str("faas_name", inv), s("orders-api-py"));
    assert_eq!(t.str("faas_version", inv), s("$LATEST"));
    assert_eq!(
        t.str("faas_instance", inv),
        s("2026/11/24/[$LATEST]7c0d9a1e4b5f4e3c9a8b6d2f1e0c3b4a")
    );
    assert_eq!(
        t.map("resource_attributes", inv),
        map(&[
            ("telemetry.sdk.language", "python"),
            ("telemetry.sdk.name", "opentelemetry"),
            ("telemetry.sdk.version", "1.45.1"),
            ("service.instance.id", "96e238e7-81de-4500-a30a-e8b68ffa7ac7"),
        ])
    );
    // Ids, time and shape.
    assert_eq!(t.hex("trace_id", inv), s("779a3c5049cfde1c2bb6c99024db2611"));
    assert_eq!(t.hex("parent_span_id", inv), None);
    assert_eq!(t.bool("is_root", inv), Some(true));
    assert_eq!(t.int("kind", inv), Some(2));
    // 1795486740200423948 - 1795486740200321816 ns.
    assert_eq!(t.int("duration_ns", inv), Some(102_132));
    assert_eq!(t.int("start_time", inv), Some(1_795_486_740_200_321_816));
    assert_eq!(t.int("ingest_time", inv), Some(INGEST_NS));
    assert_eq!(
        t.str("scope_name", inv),
        s("opentelemetry.instrumentation.aws_lambda")
    );
    assert_eq!(t.str("scope_version", inv), s("0.66b1"));
    assert_eq!(t.bool("is_error", inv), Some(false));
    assert_eq!(t.bool("is_throttle", inv), Some(false));
    assert_eq!(t.str("workflow_name", inv), None);

    // The handler's INTERNAL child is not an invocation and inherits no invocation id.
    let child = t.span("81daa83e0c2ea8b2");
    assert_eq!(t.bool("is_invocation", child), Some(false));
    assert_eq!(t.str("faas_invocation_id", child), None);
    assert_eq!(t.bool("is_root", child), Some(false));
    assert_eq!(t.hex("parent_span_id", child), s("59cb495f0d2f587c"));
    assert_eq!(t.map("attributes", child), map(&[("order.id", "1001")]));
    assert_eq!(t.str("scope_name", child), s("orders.handler"));
    // Resource columns repeat on every span of the resource.
    assert_eq!(t.int("faas_max_memory_mb", child), Some(512));
}

#[test]
fn python_lambda_invocation_with_a_remote_parent_is_still_an_invocation() {
    let (c, _) = spans_of("python-lambda/traces-2.pb");
    let t = batch(&c, Table::Spans);
    let inv = t.span("1e58e5aba45f67f0");
    assert_eq!(t.bool("is_invocation", inv), Some(true));
    // Parent b7ad6b7169203331 came from the traceparent header: not a root.
    assert_eq!(t.bool("is_root", inv), Some(false));
    assert_eq!(t.hex("parent_span_id", inv), s("b7ad6b7169203331"));
    assert_eq!(t.str("http_request_method", inv), s("POST"));
    assert_eq!(t.int("http_response_status_code", inv), Some(200));
    assert_eq!(t.str("http_route", inv), s("/orders"));
}

#[test]
fn python_lambda_sqs_batch_child_consumer_is_not_an_invocation() {
    let (c, n) = spans_of("python-lambda/traces-3.pb");
    let t = batch(&c, Table::Spans);
    assert_eq!(n, 2);
    let root = t.span("a394f6f5269d69fc");
    assert_eq!(t.bool("is_invocation", root), Some(true));
    assert_eq!(t.str("faas_trigger", root), s("pubsub"));
    // CONSUMER `process orders-queue` under the invocation (flags 256: local parent).
    let child = t.span("920f073a06b2c35b");
    assert_eq!(t.int("kind", child), Some(5));
    assert_eq!(t.bool("is_invocation", child), Some(false));
    assert_eq!(t.str("messaging_system", child), s("aws_sqs"));
    assert_eq!(t.str("messaging_destination_name", child), s("orders-queue"));
    assert_eq!(t.str("messaging_operation", child), s("process"));
    assert_eq!(
        t.map("attributes", child),
        map(&[("messaging.batch.message_count", "2")])
    );
    // The link from the record's traceparent message attribute.
    let links = t.structs("links", child);
    assert_eq!(links.len(), 1);
    let tid = links
        .column_by_name("trace_id")
        .unwrap()
        .as_any()
        .downcast_ref::<FixedSizeBinaryArray>()
        .unwrap();
    let sid = links
        .column_by_name("span_id")
        .unwrap()
        .as_any()
        .downcast_ref::<FixedSizeBinaryArray>()
        .unwrap();
    assert_eq!(hex::encode(tid.value(0)), "5759e988bd862e3fe1be46a994272793");
    assert_eq!(hex::encode(sid.value(0)), "53995c3f42cd8ad8");
    let attrs = links
        .column_by_name("attributes")
        .unwrap()
        .as_any()
        .downcast_ref::<MapArray>()
        .unwrap();
    assert_eq!(
        entries(&attrs.value(0)),
        map(&[("messaging.message.id", "059f36b4-87a3-44ab-83d2-661975830a7d")])
    );
}

#[test]
fn python_lambda_exception_invocation_is_an_error() {
    let (c, _) = spans_of("python-lambda/traces-4.pb");
    let t = batch(&c, Table::Spans);
    let inv = t.span("2f16de5bbdecc2e9");
    // Status ERROR without a message, no http.status_code, no error.type.
    assert_eq!(t.bool("is_invocation", inv), Some(true));
    assert_eq!(t.bool("is_error", inv), Some(true));
    assert_eq!(t.int("status_code", inv), Some(2));
    assert_eq!(t.str("status_message", inv), None);
    assert_eq!(t.int("http_response_status_code", inv), None);
    assert_eq!(t.str("error_type", inv), None);
    // The exception event names the exception type.
    assert_eq!(t.str("exception_type", inv), s("ValueError"));
    let events = t.structs("events", inv);
    assert_eq!(events.len(), 1);
    let names = events
        .column_by_name("name")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(names.value(0), "exception");
    // The child carries a status message.
    let child = t.span("79f9435618dedf9f");
    assert_eq!(t.bool("is_error", child), Some(true));
    assert_eq!(
        t.str("status_message", child),
        s("ValueError: order fail does not exist")
    );
    assert_eq!(t.str("exception_type", child), s("ValueError"));
    assert_eq!(t.bool("is_invocation", child), Some(false));
}

// ---- node-lambda --------------------------------------------------------------------------

#[test]
fn node_lambda_coldstart_memory_and_qualified_arn() {
    // (file, invocation span id, faas.coldstart, cloud.resource_id as sent)
    let cases = [
        // First invocation: faas.coldstart=true; the ARN keeps the `live` alias.
        (
            "node-lambda/traces-1.pb",
            "632bd24f96c4cdda",
            true,
            "arn:aws:lambda:eu-west-1:123456789012:function:orders-api-node:live",
        ),
        // Later invocations: false (the `7` version qualifier is kept too).
        (
            "node-lambda/traces-2.pb",
            "b8187132ef27b361",
            false,
            "arn:aws:lambda:eu-west-1:123456789012:function:orders-api-node:7",
        ),
        (
            "node-lambda/traces-3.pb",
            "75b3252d997b0908",
            false,
            "arn:aws:lambda:eu-west-1:123456789012:function:orders-api-node",
        ),
    ];
    for (file, span_id, cold, arn) in cases {
        let (c, _) = spans_of(file);
        let t = batch(&c, Table::Spans);
        let inv = t.span(span_id);
        assert_eq!(t.bool("is_invocation", inv), Some(true), "{file}");
        assert_eq!(t.bool("faas_coldstart", inv), Some(cold), "{file}");
        assert_eq!(t.str("cloud_resource_id", inv), s(arn), "{file}");
        // 268435456 bytes = 256 MiB.
        assert_eq!(t.int("faas_max_memory_mb", inv), Some(256), "{file}");
        // The only non-promoted resource attribute is the string array, kept as JSON.
        assert_eq!(
            t.map("resource_attributes", inv),
            map(&[("aws.log.group.names", r#"["/aws/lambda/orders-api-node"]"#)]),
            "{file}"
        );
        // Node's resource has no telemetry.sdk.* but does have service.name.
        assert_eq!(t.str("service_name", inv), s("orders-api-node"), "{file}");
    }
}

#[test]
fn node_lambda_http_invocation_has_no_http_columns() {
    let (c, _) = spans_of("node-lambda/traces-1.pb");
    let t = batch(&c, Table::Spans);
    let inv = t.span("632bd24f96c4cdda");
    // Node 0.75.0 sets neither faas.trigger nor http.* for API Gateway events.
    assert_eq!(t.str("faas_trigger", inv), None);
    assert_eq!(t.str("http_request_method", inv), None);
    assert_eq!(t.int("http_response_status_code", inv), None);
    assert_eq!(
        t.map("attributes", inv),
        map(&[(
            "url.full",
            "https://abc123.execute-api.eu-west-1.amazonaws.com:443/orders/1001?expand=items"
        )])
    );
}

#[test]
fn node_lambda_sqs_child_and_error() {
    let (c, _) = spans_of("node-lambda/traces-2.pb");
    let t = batch(&c, Table::Spans);
    // The CONSUMER child carries faas.trigger too, but has a local parent (flags 257).
    let child = t.span("8bbfd53c68fd3d64");
    assert_eq!(t.bool("is_invocation", child), Some(false));
    assert_eq!(t.str("faas_trigger", child), s("pubsub"));
    // The child says nothing about cold starts.
    assert_eq!(t.bool("faas_coldstart", child), None);
    assert_eq!(t.str("messaging_operation", child), s("process"));

    let (c, _) = spans_of("node-lambda/traces-3.pb");
    let t = batch(&c, Table::Spans);
    let inv = t.span("75b3252d997b0908");
    // Node sets ERROR with the message, and an exception event of type Error.
    assert_eq!(t.bool("is_error", inv), Some(true));
    assert_eq!(t.str("status_message", inv), s("order fail does not exist"));
    assert_eq!(t.str("exception_type", inv), s("Error"));
}

// ---- python-e2e-client traces -------------------------------------------------------------

#[test]
fn e2e_client_old_conventions_throttle_and_server_error() {
    let (c, n) = spans_of("python-e2e-client/traces-2.pb");
    let t = batch(&c, Table::Spans);
    assert_eq!(n, 6);
    // faas.execution is the old faas.invocation_id; http.method / http.status_code old names.
    let ok = t.span("4c6ba239b6a5cf99");
    assert_eq!(
        t.str("faas_invocation_id", ok),
        s("f3abc7f3-cf32-4126-9728-07a0a986a619")
    );
    assert_eq!(t.bool("is_invocation", ok), Some(true));
    assert_eq!(t.str("http_request_method", ok), s("POST"));
    assert_eq!(t.int("http_response_status_code", ok), Some(200));
    assert_eq!(t.map("attributes", ok), map(&[]));
    // A 429 answer is a throttle; for a SERVER span a 4xx is not an error.
    let throttled = t.span("7b872a44c0b2d110");
    assert_eq!(t.int("http_response_status_code", throttled), Some(429));
    assert_eq!(t.bool("is_throttle", throttled), Some(true));
    assert_eq!(t.bool("is_error", throttled), Some(false));
    // The old messaging.operation lands in messaging_operation.
    let producer = t.span("ccee334af7c0dc7e");
    assert_eq!(t.str("messaging_operation", producer), s("publish"));
    assert_eq!(t.map("attributes", producer), map(&[]));

    let (c, n) = spans_of("python-e2e-client/traces-1.pb");
    let t = batch(&c, Table::Spans);
    assert_eq!(n, 9);
    // Root 1: faas.coldstart=true on the span.
    let cold = t.span("f12d1f1eb39ec5a1");
    assert_eq!(t.bool("faas_coldstart", cold), Some(true));
    // Root 3: 500 with ERROR status.
    let failed = t.span("47d69ce39f931394");
    assert_eq!(t.bool("is_error", failed), Some(true));
    assert_eq!(t.int("http_response_status_code", failed), Some(500));
    assert_eq!(t.bool("is_throttle", failed), Some(false));
    // Three invocations, one per trace.
    let invocations = (0..n)
        .filter(|r| t.bool("is_invocation", *r) == Some(true))
        .count();
    assert_eq!(invocations, 3);
    // 100 ms root (README table).
    assert_eq!(t.int("duration_ns", cold), Some(100_000_000));
}

// ---- temporal -----------------------------------------------------------------------------

#[test]
fn temporal_spans_carry_workflow_identity() {
    let (c, n) = spans_of("temporal/traces-1.pb");
    let t = batch(&c, Table::Spans);
    assert_eq!(n, 12);
    // (span id, workflow_name, workflow_execution_id, workflow_step)
    let cases = [
        // StartWorkflow: name from the span name, id from temporalWorkflowID.
        (
            "32ca92d9e79f3a06",
            Some("OrderWorkflow"),
            "order-1-39a37818",
            None,
        ),
        // RunWorkflow: same workflow.
        (
            "9d91f4e00b5eda26",
            Some("OrderWorkflow"),
            "order-1-39a37818",
            None,
        ),
        // RunActivity: a step of the workflow.
        ("8767fbc12f11632f", None, "order-1-39a37818", Some("charge_card")),
        ("74b04230d6dd2c05", None, "order-1-39a37818", Some("ship_order")),
        // StartActivity (the schedule) names the step too.
        ("27041624f9609a34", None, "order-1-39a37818", Some("charge_card")),
        // CompleteWorkflow: the end of the workflow.
        (
            "f62579b46c42d1c9",
            Some("OrderWorkflow"),
            "order-1-39a37818",
            None,
        ),
        // The second (failed) execution.
        (
            "1d0e54517abb0154",
            Some("OrderWorkflow"),
            "order-2-0f3974ce",
            None,
        ),
        ("f8620764c8cca15e", None, "order-2-0f3974ce", Some("charge_card")),
    ];
    for (id, name, execution, step) in cases {
        let r = t.span(id);
        assert_eq!(t.str("workflow_name", r).as_deref(), name, "{id}");
        assert_eq!(t.str("workflow_execution_id", r), s(execution), "{id}");
        assert_eq!(t.str("workflow_step", r).as_deref(), step, "{id}");
        // No serverless resource: no Temporal span is a function invocation.
        assert_eq!(t.bool("is_invocation", r), Some(false), "{id}");
    }
    // The failed activity has ERROR status; CompleteWorkflow of the failed workflow carries an
    // exception event but its status stays UNSET, so it is not an error span.
    let failed_activity = t.span("f8620764c8cca15e");
    assert_eq!(t.bool("is_error", failed_activity), Some(true));
    assert_eq!(
        t.str("status_message", failed_activity),
        s("ApplicationError: CardDeclined: card declined")
    );
    let complete = t.span("c84bc7032651a45e");
    assert_eq!(t.bool("is_error", complete), Some(false));
    assert_eq!(
        t.str("exception_type", complete),
        s("temporalio.exceptions.ActivityError")
    );
    // Temporal ids are not promoted: they stay in the attributes.
    assert_eq!(
        t.map("attributes", t.span("32ca92d9e79f3a06")),
        map(&[("temporalWorkflowID", "order-1-39a37818")])
    );
    assert_eq!(t.str("service_name", 0), s("orders-temporal-worker"));
}

// ---- metrics ------------------------------------------------------------------------------

#[test]
fn e2e_client_delta_metrics() {
    let c = metrics("python-e2e-client/metrics-1.pb");
    assert_eq!(c.rejected.count, 0);
    assert_eq!(
        c.accepted, 3,
        "one sum, one histogram, one exponential histogram point"
    );

    let p = batch(&c, Table::MetricPoints);
    assert_eq!(p.0.num_rows(), 1);
    let r = p.row("metric_name", "orders.processed");
    assert_eq!(p.str("metric_type", r), s("sum"));
    // aggregationTemporality 1 = DELTA.
    assert_eq!(p.str("temporality", r), s("delta"));
    assert_eq!(p.bool("is_monotonic", r), Some(true));
    assert_eq!(p.float("value", r), Some(12.0));
    assert_eq!(p.str("unit", r), s("{order}"));
    assert_eq!(p.map("attributes", r), map(&[("queue", "orders")]));
    assert_eq!(p.int("start_time", r), Some(1_795_486_744_711_177_924));
    assert_eq!(p.int("time", r), Some(1_795_486_744_738_992_722));
    assert_eq!(p.str("service_name", r), s("capture-svc"));
    assert_eq!(p.str("faas_name", r), s("capture-fn"));
    assert_eq!(p.int("faas_max_memory_mb", r), Some(512));
    assert_eq!(p.str("scope_name", r), s("slod.e2e"));
    assert_eq!(p.str("scope_version", r), s("1.0.0"));

    let d = batch(&c, Table::MetricDistributions);
    assert_eq!(d.0.num_rows(), 2);
    let h = d.row("metric_name", "orders.latency");
    assert_eq!(d.str("metric_type", h), s("histogram"));
    assert_eq!(d.str("temporality", h), s("delta"));
    assert_eq!(d.uint("count", h), Some(7));
    assert_eq!(d.float("sum", h), Some(2867.0));
    assert_eq!(d.float("min", h), Some(3.0));
    assert_eq!(d.float("max", h), Some(2000.0));
    assert_eq!(
        d.floats("explicit_bounds", h),
        Some(vec![0.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0])
    );
    // 10 buckets for 9 bounds, summing to count 7.
    assert_eq!(
        d.uints("bucket_counts", h),
        Some(vec![0, 1, 2, 0, 1, 0, 1, 0, 1, 1])
    );
    assert_eq!(d.int("scale", h), None);
    assert_eq!(d.uints("positive_bucket_counts", h), None);

    let e = d.row("metric_name", "orders.size");
    assert_eq!(d.str("metric_type", e), s("exponential_histogram"));
    assert_eq!(d.uint("count", e), Some(5));
    // 1 + 2 + 4 + 8 + 1000.
    assert_eq!(d.float("sum", e), Some(1015.0));
    assert_eq!(d.int("scale", e), Some(3));
    assert_eq!(d.uint("zero_count", e), Some(0));
    assert_eq!(d.int("positive_offset", e), Some(-1));
    // Scale 3: bucket index i covers (2^(i/8), 2^((i+1)/8)]. 1 → i=-1, 2 → 7, 4 → 15, 8 → 23,
    // 1000 → ceil(8·log2 1000)−1 = 79; minus the offset −1 gives positions 0, 8, 16, 24, 80
    // of the 160 buckets the SDK sent (max_size 160).
    let pos = d.uints("positive_bucket_counts", e).unwrap();
    assert_eq!(pos.len(), 160);
    let nonzero: Vec<(usize, u64)> = pos
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, c)| (i, *c))
        .collect();
    assert_eq!(nonzero, vec![(0, 1), (8, 1), (16, 1), (24, 1), (80, 1)]);
    // Python sends a negative range with one zero bucket.
    assert_eq!(d.uints("negative_bucket_counts", e), Some(vec![0]));
    assert_eq!(d.floats("explicit_bounds", e), None);
}

#[test]
fn python_sdk_cumulative_metrics_and_series_identity() {
    let c = metrics("python-sdk/metrics-1.pb");
    assert_eq!(c.rejected.count, 0);
    // 2 + 1 + 1 + 1 + 1 + 1 + 2 data points (testdata README table).
    assert_eq!(c.accepted, 9);
    let p = batch(&c, Table::MetricPoints);
    assert_eq!(p.0.num_rows(), 6);

    let processed = p.rows("metric_name", "orders.processed");
    assert_eq!(processed.len(), 2);
    let by_outcome = |outcome: &str| {
        *processed
            .iter()
            .find(|r| p.map("attributes", **r).get("outcome").map(String::as_str) == Some(outcome))
            .unwrap()
    };
    let (ok, failed) = (by_outcome("ok"), by_outcome("failed"));
    assert_eq!(p.float("value", ok), Some(5.0));
    assert_eq!(p.float("value", failed), Some(1.0));
    // aggregationTemporality 2 = CUMULATIVE.
    assert_eq!(p.str("temporality", ok), s("cumulative"));
    // Different attributes: different series.
    assert_ne!(p.uint("series_id", ok), p.uint("series_id", failed));
    assert_eq!(
        p.map("attributes", ok),
        map(&[("outcome", "ok"), ("queue", "orders")])
    );

    // UpDownCounter: a non-monotonic sum.
    let inflight = p.row("metric_name", "orders.inflight");
    assert_eq!(p.bool("is_monotonic", inflight), Some(false));
    assert_eq!(p.float("value", inflight), Some(2.0));
    // A gauge has no temporality or monotonicity.
    let gauge = p.row("metric_name", "process.runtime.memory.used");
    assert_eq!(p.str("metric_type", gauge), s("gauge"));
    assert_eq!(p.float("value", gauge), Some(123.5));
    assert_eq!(p.str("temporality", gauge), None);
    assert_eq!(p.bool("is_monotonic", gauge), None);
    // The SDK lowercased ApproximateNumberOfMessagesVisible; two queue series.
    let depth = p.rows("metric_name", "approximatenumberofmessagesvisible");
    let values: BTreeMap<String, f64> = depth
        .iter()
        .map(|r| {
            (
                p.map("attributes", *r)["QueueName"].clone(),
                p.float("value", *r).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        values,
        BTreeMap::from([("orders".to_string(), 0.0), ("orders-dlq".to_string(), 3.0)])
    );
    // Resource from OTEL_RESOURCE_ATTRIBUTES + the Lambda detector.
    assert_eq!(p.str("service_version", ok), s("1.4.2"));
    assert_eq!(p.str("deployment_environment", ok), s("prod"));
    assert_eq!(p.str("faas_version", ok), s("12"));
    assert_eq!(p.int("faas_max_memory_mb", ok), Some(1024));
    assert_eq!(
        p.map("resource_attributes", ok),
        map(&[
            ("telemetry.sdk.language", "python"),
            ("telemetry.sdk.name", "opentelemetry"),
            ("telemetry.sdk.version", "1.45.1"),
            ("service.instance.id", "aafb0c4d-c246-4856-ae70-9d5712c7c8bd"),
            ("team", "payments"),
        ])
    );

    let d = batch(&c, Table::MetricDistributions);
    let h = d.row("metric_name", "orders.latency");
    // The SDK's default bounds: 15 bounds, 16 buckets summing to count 5.
    assert_eq!(
        d.floats("explicit_bounds", h),
        Some(vec![
            0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
            10000.0
        ])
    );
    assert_eq!(
        d.uints("bucket_counts", h),
        Some(vec![0, 1, 2, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    );
    assert_eq!(d.uint("count", h), Some(5));
    assert_eq!(d.float("sum", h), Some(167.0));
    assert_eq!(d.str("temporality", h), s("cumulative"));
    let advised = d.row("metric_name", "orders.latency.advised");
    assert_eq!(
        d.floats("explicit_bounds", advised),
        Some(vec![0.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0])
    );
    // Exponential histogram at scale 5 with one zero: values 0, 1, 2, 4, 8 (sum 15). At scale 5
    // 1 → index −1, 2 → 31, 4 → 63, 8 → 95; offset −1 gives positions 0, 32, 64, 96.
    let e = d.row("metric_name", "orders.size");
    assert_eq!(d.int("scale", e), Some(5));
    assert_eq!(d.uint("zero_count", e), Some(1));
    assert_eq!(d.int("positive_offset", e), Some(-1));
    assert_eq!(d.float("sum", e), Some(15.0));
    assert_eq!(d.float("min", e), Some(0.0));
    assert_eq!(d.float("max", e), Some(8.0));
    let pos = d.uints("positive_bucket_counts", e).unwrap();
    let nonzero: Vec<usize> = (0..pos.len()).filter(|i| pos[*i] > 0).collect();
    assert_eq!(nonzero, vec![0, 32, 64, 96]);

    // metrics-2 is the next collection of the same SDK: the same series keep their id.
    let c2 = metrics("python-sdk/metrics-2.pb");
    let p2 = batch(&c2, Table::MetricPoints);
    let ok2 = *p2
        .rows("metric_name", "orders.processed")
        .iter()
        .find(|r| p2.map("attributes", **r)["outcome"] == "ok")
        .unwrap();
    assert_eq!(p2.float("value", ok2), Some(15.0), "cumulative value grew");
    assert_eq!(p2.uint("series_id", ok2), p.uint("series_id", ok));
    assert_eq!(p2.int("start_time", ok2), p.int("start_time", ok));
}

#[test]
fn temporal_core_metrics_convert() {
    let c = metrics("temporal/metrics-4.pb");
    assert_eq!(c.rejected.count, 0);
    let d = batch(&c, Table::MetricDistributions);
    let r = d.row("metric_name", "temporal_workflow_endtoend_latency");
    assert_eq!(d.str("unit", r), s("s"));
    assert_eq!(
        d.floats("explicit_bounds", r),
        Some(vec![
            0.1, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 30600.0,
            86400.0
        ])
    );
    assert_eq!(d.str("service_name", r), s("temporal-core-sdk"));
    let p = batch(&c, Table::MetricPoints);
    // One completed and one failed workflow in the recording.
    let completed = p.row("metric_name", "temporal_workflow_completed");
    assert_eq!(p.float("value", completed), Some(1.0));
    let failed = p.row("metric_name", "temporal_workflow_failed");
    assert_eq!(p.float("value", failed), Some(1.0));
    assert_eq!(
        p.map("attributes", completed)
            .get("service_name")
            .map(String::as_str),
        Some("temporal-core-sdk")
    );
}

// ---- logs ---------------------------------------------------------------------------------

#[test]
fn python_sdk_logs() {
    let c = logs("python-sdk/logs-1.pb");
    assert_eq!(c.rejected.count, 0);
    assert_eq!(c.accepted, 3);
    let l = batch(&c, Table::Logs);
    // (body, severity number, severity text, attributes)
    let cases = [
        ("order 1001 accepted", 9, "INFO", map(&[])),
        // Python's WARNING is sent as WARN; `extra` ints become decimal strings.
        (
            "order 1001 retried",
            13,
            "WARN",
            map(&[("order.id", "1001"), ("retry.count", "2")]),
        ),
    ];
    for (body, number, text, attrs) in cases {
        let r = l.row("body", body);
        assert_eq!(l.int("severity_number", r), Some(number), "{body}");
        assert_eq!(l.str("severity_text", r), s(text), "{body}");
        assert_eq!(l.map("attributes", r), attrs, "{body}");
    }
    let err = l.row("body", "order 1001 failed");
    assert_eq!(l.int("severity_number", err), Some(17));
    assert_eq!(
        l.map("attributes", err).get("exception.type").map(String::as_str),
        Some("KeyError")
    );
    for r in 0..3 {
        // All three records were logged inside `process order`.
        assert_eq!(l.hex("trace_id", r), s("9df9dcd025c1879cb5da1a103b19d255"));
        assert_eq!(l.hex("span_id", r), s("d1b58fd25b7d6a87"));
        assert_eq!(l.int("flags", r), Some(3));
        assert_eq!(l.str("service_name", r), s("orders-worker-py"));
        assert_eq!(l.str("scope_name", r), s("orders.worker"));
        assert_eq!(l.str("faas_invocation_id", r), None);
    }
    // FixedSizeBinary(16) and (8).
    assert_eq!(l.col("trace_id").data_type(), &DataType::FixedSizeBinary(16));
    assert_eq!(l.col("span_id").data_type(), &DataType::FixedSizeBinary(8));
    let first = l.row("body", "order 1001 accepted");
    assert_eq!(l.int("time", first), Some(1_795_486_743_062_628_864));
    assert_eq!(l.int("observed_time", first), Some(1_795_486_743_062_702_696));
}

#[test]
fn e2e_client_logs() {
    let c = logs("python-e2e-client/logs-1.pb");
    let l = batch(&c, Table::Logs);
    assert_eq!(l.0.num_rows(), 4);
    let severities: Vec<(i64, String)> = (0..4)
        .map(|r| {
            (
                l.int("severity_number", r).unwrap(),
                l.str("severity_text", r).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        severities,
        vec![
            (9, "INFO".to_string()),
            (9, "INFO".to_string()),
            (13, "WARN".to_string()),
            (17, "ERROR".to_string())
        ]
    );
    assert_eq!(l.str("body", 3), s("capture order 1 sent to orders-dlq"));
    // Inside root 1 of traces-1.
    assert_eq!(l.hex("span_id", 0), s("f12d1f1eb39ec5a1"));
    // The log scope has no version.
    assert_eq!(l.str("scope_version", 0), None);
}

// ---- hand-built requests ------------------------------------------------------------------

#[test]
fn malformed_span_ids_are_rejected_and_the_rest_kept() {
    let trace = vec![1u8; 16];
    let req = trace_request(
        resource(vec![kv_str("service.name", "svc")]),
        vec![
            // OTLP: trace_id is exactly 16 bytes.
            span("bad-trace", vec![1, 2, 3, 4, 5], vec![2; 8], vec![]),
            // A valid span.
            span("good", trace.clone(), vec![3; 8], vec![]),
            // OTLP: an all-zero span_id is invalid.
            span("zero-span", trace, vec![0; 8], vec![]),
        ],
    );
    let c = super::traces(&req, INGEST_NS).unwrap();
    assert_eq!(c.rejected.count, 2);
    assert_eq!(c.accepted, 1);
    let first = c.rejected.first.as_deref().unwrap();
    assert!(
        first.starts_with(r#"span "bad-trace": trace_id"#),
        "first message names the span and trace_id: {first}"
    );
    assert!(first.contains("got 5 bytes"), "{first}");
    let t = batch(&c, Table::Spans);
    assert_eq!(t.0.num_rows(), 1);
    assert_eq!(t.str("name", 0), s("good"));
}

#[test]
fn histogram_with_wrong_bucket_count_is_rejected() {
    let point = |bounds: Vec<f64>, counts: Vec<u64>| HistogramDataPoint {
        time_unix_nano: 1_795_486_740_000_000_000,
        count: counts.iter().sum(),
        explicit_bounds: bounds,
        bucket_counts: counts,
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(vec![kv_str("service.name", "svc")]),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "latency".into(),
                    data: Some(Data::Histogram(Histogram {
                        data_points: vec![
                            // OTLP: bucket_counts has one more entry than explicit_bounds.
                            point(vec![1.0, 2.0, 3.0], vec![1, 1, 1, 1]),
                            // Three counts for three bounds: malformed.
                            point(vec![1.0, 2.0, 3.0], vec![1, 1, 1]),
                        ],
                        aggregation_temporality: 1,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let c = super::metrics(&req, INGEST_NS).unwrap();
    assert_eq!(c.rejected.count, 1);
    assert_eq!(c.accepted, 1);
    let why = c.rejected.first.clone().unwrap();
    assert!(why.contains("latency"), "{why}");
    assert!(
        why.contains("3 bucket_counts for 3 explicit_bounds; expected 4"),
        "{why}"
    );
    let d = batch(&c, Table::MetricDistributions);
    assert_eq!(d.0.num_rows(), 1);
    assert_eq!(d.uints("bucket_counts", 0), Some(vec![1, 1, 1, 1]));
}

#[test]
fn service_name_falls_back_to_unknown_service() {
    // OTel resource SDK spec: service.name defaults to `unknown_service:` + process.executable.name,
    // or `unknown_service` when that is unknown too.
    let cases = [
        // No resource at all.
        (None, "unknown_service"),
        // A resource without service.name.
        (resource(vec![kv_str("cloud.provider", "aws")]), "unknown_service"),
        // With the executable's name.
        (
            resource(vec![kv_str("process.executable.name", "bootstrap")]),
            "unknown_service:bootstrap",
        ),
    ];
    for (res, want) in cases {
        let req = trace_request(res, vec![span("s", vec![1; 16], vec![2; 8], vec![])]);
        let c = super::traces(&req, INGEST_NS).unwrap();
        let t = batch(&c, Table::Spans);
        assert_eq!(t.str("service_name", 0), s(want));
    }
}

#[test]
fn promoted_keys_never_appear_in_the_maps() {
    // Every promoted resource key, some under their old names (DESIGN §2 alias table).
    let res = resource(vec![
        kv_str("service.name", "svc"),
        kv_str("service.version", "1.0"),
        kv_str("deployment.environment", "prod"),
        kv_str("cloud.provider", "azure"),
        kv_str("cloud.platform", "azure_functions"),
        kv_str("cloud.region", "westeurope"),
        kv_str("cloud.account.id", "sub-1"),
        kv_str("faas.id", "/subscriptions/sub-1/sites/fn"),
        kv_str("faas.name", "fn"),
        kv_str("faas.version", "7"),
        kv_str("faas.instance", "i-1"),
        // The Lambda layer's MB string (serverless-telemetry.md §2.2).
        kv_str("faas.max_memory", "1024"),
        kv_str("host.name", "worker-1"),
    ]);
    // Every promoted span key, old names where there are some.
    let attrs = vec![
        kv_str("faas.trigger", "http"),
        kv_str("faas.execution", "inv-1"),
        kv("faas.coldstart", Value::BoolValue(true)),
        kv_str("http.route", "/orders"),
        kv_str("http.method", "GET"),
        kv("http.status_code", Value::IntValue(503)),
        kv_str("messaging.system", "servicebus"),
        kv_str("messaging.destination", "orders"),
        kv_str("messaging.operation", "process"),
        kv_str("error.type", "503"),
        kv_str("order.id", "42"),
    ];
    let req = trace_request(res.clone(), vec![span("s", vec![1; 16], vec![2; 8], attrs)]);
    let c = super::traces(&req, INGEST_NS).unwrap();
    let t = batch(&c, Table::Spans);
    assert_eq!(t.map("attributes", 0), map(&[("order.id", "42")]));
    assert_eq!(t.map("resource_attributes", 0), map(&[("host.name", "worker-1")]));
    // Each value is in its column, aliases and old enum values renamed.
    let columns = [
        ("service_name", "svc"),
        ("service_version", "1.0"),
        ("deployment_environment", "prod"),
        ("cloud_provider", "azure"),
        ("cloud_platform", "azure.functions"),
        ("cloud_region", "westeurope"),
        ("cloud_account_id", "sub-1"),
        ("cloud_resource_id", "/subscriptions/sub-1/sites/fn"),
        ("faas_name", "fn"),
        ("faas_version", "7"),
        ("faas_instance", "i-1"),
        ("faas_trigger", "http"),
        ("faas_invocation_id", "inv-1"),
        ("http_route", "/orders"),
        ("http_request_method", "GET"),
        ("messaging_system", "servicebus"),
        ("messaging_destination_name", "orders"),
        ("messaging_operation", "process"),
        ("error_type", "503"),
    ];
    for (col, want) in columns {
        assert_eq!(t.str(col, 0), s(want), "{col}");
    }
    assert_eq!(t.int("faas_max_memory_mb", 0), Some(1024));
    assert_eq!(t.bool("faas_coldstart", 0), Some(true));
    assert_eq!(t.int("http_response_status_code", 0), Some(503));
    assert_eq!(t.bool("is_invocation", 0), Some(true));
    assert_eq!(t.bool("is_error", 0), Some(true));

    // Log records: the invocation id (old name here, as the Lambda layer's telemetry receiver
    // sends faas.invocation_id on its platform logs, §2.2) goes to its column only.
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: res,
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: 1_795_486_740_000_000_000,
                    body: Some(AnyValue {
                        value: Some(Value::StringValue("START RequestId: inv-1".into())),
                    }),
                    attributes: vec![
                        kv_str("type", "platform.start"),
                        kv_str("faas.execution", "inv-1"),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let c = super::logs(&req, INGEST_NS).unwrap();
    let l = batch(&c, Table::Logs);
    assert_eq!(l.str("faas_invocation_id", 0), s("inv-1"));
    assert_eq!(l.map("attributes", 0), map(&[("type", "platform.start")]));
    assert_eq!(l.map("resource_attributes", 0), map(&[("host.name", "worker-1")]));
    assert_eq!(l.int("faas_max_memory_mb", 0), Some(1024));
    // No trace context on this record: NULL ids.
    assert_eq!(l.hex("trace_id", 0), None);
    assert_eq!(l.hex("span_id", 0), None);
}

#[test]
fn step_functions_alias_gives_the_workflow_name() {
    // ADOT spells the key without the underscore (serverless-telemetry.md §2.1, §4.2).
    let arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:OrderFlow";
    let req = trace_request(
        resource(vec![kv_str("service.name", "caller")]),
        vec![span(
            "SFN.StartExecution",
            vec![1; 16],
            vec![2; 8],
            vec![kv_str("aws.stepfunctions.state_machine.arn", arn)],
        )],
    );
    let c = super::traces(&req, INGEST_NS).unwrap();
    let t = batch(&c, Table::Spans);
    assert_eq!(t.str("workflow_name", 0), s("OrderFlow"));
    // The attribute is kept under its canonical name.
    assert_eq!(
        t.map("attributes", 0),
        map(&[("aws.step_functions.state_machine.arn", arn)])
    );
}

#[test]
fn cloudwatch_dimensions_are_flattened_into_attributes() {
    // Written from the CloudWatch Metric Streams OpenTelemetry 1.0 format as summarised in
    // shared/reference/serverless-telemetry.md §2.6: a Summary per metric and minute, metric
    // name `amazonaws.com/<Namespace>/<MetricName>`, attributes Namespace, MetricName and a
    // `Dimensions` kvlist, q=0 → Minimum, q=1 → Maximum, resource without service.name.
    let dims = |function: &str| {
        kv(
            "Dimensions",
            Value::KvlistValue(KeyValueList {
                values: vec![
                    kv_str("FunctionName", function),
                    kv_str("Resource", &format!("{function}:prod")),
                ],
            }),
        )
    };
    let point = |function: &str| SummaryDataPoint {
        start_time_unix_nano: 1_795_486_680_000_000_000,
        time_unix_nano: 1_795_486_740_000_000_000,
        count: 10,
        sum: 1234.5,
        quantile_values: vec![
            ValueAtQuantile {
                quantile: 0.0,
                value: 12.0,
            },
            ValueAtQuantile {
                quantile: 1.0,
                value: 400.0,
            },
        ],
        attributes: vec![
            kv_str("Namespace", "AWS/Lambda"),
            kv_str("MetricName", "Duration"),
            dims(function),
        ],
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(vec![
                kv_str("cloud.provider", "aws"),
                kv_str("cloud.account.id", "123456789012"),
                kv_str("cloud.region", "eu-west-1"),
                kv_str(
                    "aws.exporter.arn",
                    "arn:aws:cloudwatch:eu-west-1:123456789012:metric-stream/slod",
                ),
            ]),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "amazonaws.com/AWS/Lambda/Duration".into(),
                    unit: "ms".into(),
                    data: Some(Data::Summary(Summary {
                        data_points: vec![point("orders-api"), point("billing")],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let c = super::metrics(&req, INGEST_NS).unwrap();
    assert_eq!(c.rejected.count, 0);
    let d = batch(&c, Table::MetricDistributions);
    assert_eq!(d.0.num_rows(), 2);
    let orders = (0..2)
        .find(|r| d.map("attributes", *r)["FunctionName"] == "orders-api")
        .unwrap();
    assert_eq!(
        d.map("attributes", orders),
        map(&[
            ("FunctionName", "orders-api"),
            ("MetricName", "Duration"),
            ("Namespace", "AWS/Lambda"),
            ("Resource", "orders-api:prod"),
        ])
    );
    assert_eq!(d.str("metric_type", orders), s("summary"));
    assert_eq!(d.uint("count", orders), Some(10));
    assert_eq!(d.float("sum", orders), Some(1234.5));
    assert_eq!(d.float("min", orders), Some(12.0));
    assert_eq!(d.float("max", orders), Some(400.0));
    assert_eq!(d.structs("quantiles", orders).len(), 2);
    // CloudWatch sends no service.name.
    assert_eq!(d.str("service_name", orders), s("unknown_service"));
    assert_eq!(d.str("cloud_account_id", orders), s("123456789012"));
    // Dimensions are part of the series identity.
    assert_ne!(d.uint("series_id", 0), d.uint("series_id", 1));
}

#[test]
fn series_id_is_name_resource_and_attribute_set() {
    use opentelemetry_proto::tonic::metrics::v1::{Gauge, NumberDataPoint, number_data_point};
    let series = |res: &str, name: &str, attrs: Vec<KeyValue>| {
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource(vec![kv_str("service.name", res)]),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: name.into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                time_unix_nano: 1_795_486_740_000_000_000,
                                value: Some(number_data_point::Value::AsInt(1)),
                                attributes: attrs,
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let c = super::metrics(&req, INGEST_NS).unwrap();
        batch(&c, Table::MetricPoints).uint("series_id", 0).unwrap()
    };
    let base = series(
        "svc",
        "depth",
        vec![kv_str("namespace", "default"), kv_str("queue", "orders")],
    );
    // (case, series id, same series as base?)
    let cases = [
        // Attribute order does not matter (Temporal's Rust core reorders labels between points).
        (
            "reordered attributes",
            series(
                "svc",
                "depth",
                vec![kv_str("queue", "orders"), kv_str("namespace", "default")],
            ),
            true,
        ),
        // Another attribute value is another series.
        (
            "other value",
            series(
                "svc",
                "depth",
                vec![kv_str("namespace", "default"), kv_str("queue", "dlq")],
            ),
            false,
        ),
        // A missing attribute is another series.
        (
            "fewer attributes",
            series("svc", "depth", vec![kv_str("namespace", "default")]),
            false,
        ),
        // Another metric name.
        (
            "other name",
            series(
                "svc",
                "size",
                vec![kv_str("namespace", "default"), kv_str("queue", "orders")],
            ),
            false,
        ),
        // Another resource.
        (
            "other resource",
            series(
                "svc-2",
                "depth",
                vec![kv_str("namespace", "default"), kv_str("queue", "orders")],
            ),
            false,
        ),
    ];
    for (case, id, same) in cases {
        assert_eq!(id == base, same, "{case}");
    }
}
