//! Shapes that cannot be run on this machine, written from
//! `/work/shared/reference/serverless-telemetry.md` (section named per test): the Lambda
//! collector layer, the Azure Functions host and isolated worker, Cloud Run, Durable
//! Functions, and throttles as AWS SDK and gRPC clients report them.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Status;
use slod_storage::Table;

use super::{INGEST_NS, batch, kv, kv_str, resource, span, trace_request};

const KIND_INTERNAL: i32 = 1;
const KIND_SERVER: i32 = 2;
const KIND_CLIENT: i32 = 3;

fn id(n: u8, len: usize) -> Vec<u8> {
    vec![n; len]
}

#[test]
fn lambda_layer_init_span_is_a_cold_start_but_not_an_invocation() {
    // §2.2: the telemetry-API receiver's `init <fn>` INTERNAL span with faas.coldstart=true;
    // its resource carries faas.max_memory as an MB *string*.
    let res = resource(vec![
        kv_str("service.name", "orders-fn"),
        kv_str("faas.name", "orders-fn"),
        kv_str("faas.max_memory", "512"),
        kv_str("faas.invoked_provider", "aws"),
        kv_str("cloud.provider", "aws"),
        kv_str("cloud.platform", "aws_lambda"),
    ]);
    let mut init = span(
        "init orders-fn",
        id(1, 16),
        id(2, 8),
        vec![kv("faas.coldstart", Value::BoolValue(true))],
    );
    init.kind = KIND_INTERNAL;
    let c = super::super::traces(&trace_request(res, vec![init]), INGEST_NS).unwrap();
    let rows = batch(&c, Table::Spans);
    assert_eq!(rows.bool("faas_coldstart", 0), Some(true));
    assert_eq!(
        rows.bool("is_invocation", 0),
        Some(false),
        "INTERNAL, no invocation id"
    );
    assert_eq!(rows.int("faas_max_memory_mb", 0), Some(512), "MB string");
}

#[test]
fn azure_functions_host_request_is_an_invocation_with_the_renamed_platform() {
    // §3.4: host OpenTelemetry mode: cloud.platform=azure_functions (old value), an HTTP
    // request activity with faas.trigger=http, faas.coldstart on the first request.
    let res = resource(vec![
        kv_str("service.name", "orders-app"),
        kv_str("cloud.provider", "azure"),
        kv_str("cloud.platform", "azure_functions"),
        kv_str("cloud.region", "westeurope"),
    ]);
    let req = span(
        "GET /api/orders",
        id(3, 16),
        id(4, 8),
        vec![
            kv_str("faas.trigger", "http"),
            kv_str("http.route", "api/orders"),
            kv("faas.coldstart", Value::BoolValue(true)),
        ],
    );
    let c = super::super::traces(&trace_request(res, vec![req]), INGEST_NS).unwrap();
    let rows = batch(&c, Table::Spans);
    assert_eq!(
        rows.str("cloud_platform", 0).as_deref(),
        Some("azure.functions"),
        "renamed value"
    );
    assert_eq!(
        rows.bool("is_invocation", 0),
        Some(true),
        "SERVER span of serverless compute"
    );
    assert_eq!(rows.bool("faas_coldstart", 0), Some(true));
    assert_eq!(
        rows.str("faas_name", 0),
        None,
        "the host sets no faas.name; views fall back to service_name"
    );
}

#[test]
fn azure_isolated_worker_spans_carry_the_invocation_id_under_either_schema() {
    // §3.4: schema 1.37 `function <Name>` INTERNAL with faas.invocation_id; legacy 1.17
    // `Invoke` with faas.execution.
    let res = resource(vec![
        kv_str("service.name", "orders-app"),
        kv_str("cloud.platform", "azure.functions"),
    ]);
    let mut new = span(
        "function Orders",
        id(5, 16),
        id(6, 8),
        vec![kv_str("faas.invocation_id", "a1")],
    );
    new.kind = KIND_INTERNAL;
    let mut old = span(
        "Invoke",
        id(5, 16),
        id(7, 8),
        vec![kv_str("faas.execution", "b2")],
    );
    old.kind = KIND_INTERNAL;
    let c = super::super::traces(&trace_request(res, vec![new, old]), INGEST_NS).unwrap();
    let rows = batch(&c, Table::Spans);
    assert_eq!(rows.str("faas_invocation_id", 0).as_deref(), Some("a1"));
    assert_eq!(rows.str("faas_invocation_id", 1).as_deref(), Some("b2"));
    assert_eq!(rows.bool("is_invocation", 0), Some(true));
    assert_eq!(rows.bool("is_invocation", 1), Some(true));
}

#[test]
fn cloud_run_request_is_an_invocation_and_its_client_call_is_not() {
    // §3.3: GCP detector resource (faas.name=K_SERVICE, faas.version=K_REVISION); spans come
    // from the user's HTTP server instrumentation.
    let res = resource(vec![
        kv_str("service.name", "orders"),
        kv_str("cloud.provider", "gcp"),
        kv_str("cloud.platform", "gcp_cloud_run"),
        kv_str("faas.name", "orders"),
        kv_str("faas.version", "orders-00042-abc"),
        kv_str("faas.instance", "00bf4bf02d"),
    ]);
    let server = span(
        "GET /orders",
        id(8, 16),
        id(9, 8),
        vec![
            kv_str("http.request.method", "GET"),
            kv("http.response.status_code", Value::IntValue(503)),
        ],
    );
    let mut client = span(
        "GET",
        id(8, 16),
        id(10, 8),
        vec![kv("http.response.status_code", Value::IntValue(404))],
    );
    client.kind = KIND_CLIENT;
    client.parent_span_id = id(9, 8);
    let c = super::super::traces(&trace_request(res, vec![server, client]), INGEST_NS).unwrap();
    let rows = batch(&c, Table::Spans);
    assert_eq!(rows.bool("is_invocation", 0), Some(true));
    assert_eq!(rows.bool("is_error", 0), Some(true), "503 from a server");
    assert_eq!(rows.str("faas_version", 0).as_deref(), Some("orders-00042-abc"));
    assert_eq!(rows.bool("is_invocation", 1), Some(false));
    assert_eq!(
        rows.bool("is_error", 1),
        Some(true),
        "404 answered to a client is an error for it"
    );
}

#[test]
fn durable_functions_orchestration_and_activity_share_the_execution() {
    // §4.3: `orchestration:<name>` SERVER and `activity:<name>` SERVER spans with
    // durabletask.task.instance_id as the execution id.
    let res = resource(vec![
        kv_str("service.name", "orders-app"),
        kv_str("cloud.platform", "azure.functions"),
    ]);
    let orch = span(
        "orchestration:ProcessOrder",
        id(11, 16),
        id(12, 8),
        vec![kv_str("durabletask.task.instance_id", "exec-7")],
    );
    let mut act = span(
        "activity:ChargeCard",
        id(11, 16),
        id(13, 8),
        vec![kv_str("durabletask.task.instance_id", "exec-7")],
    );
    act.kind = KIND_SERVER;
    let c = super::super::traces(&trace_request(res, vec![orch, act]), INGEST_NS).unwrap();
    let rows = batch(&c, Table::Spans);
    assert_eq!(rows.str("workflow_name", 0).as_deref(), Some("ProcessOrder"));
    assert_eq!(rows.str("workflow_step", 1).as_deref(), Some("ChargeCard"));
    assert_eq!(rows.str("workflow_execution_id", 0).as_deref(), Some("exec-7"));
    assert_eq!(rows.str("workflow_execution_id", 1).as_deref(), Some("exec-7"));
}

#[test]
fn throttles_as_aws_sdk_and_grpc_clients_report_them() {
    // §3.1: botocore puts str(ClientError) in the status description and sets the old
    // http.status_code; gRPC reports RESOURCE_EXHAUSTED as rpc.grpc.status_code=8.
    let res = resource(vec![kv_str("service.name", "caller")]);
    let mut boto = span(
        "Lambda.Invoke",
        id(14, 16),
        id(15, 8),
        vec![
            kv_str("rpc.service", "Lambda"),
            kv("http.status_code", Value::IntValue(429)),
        ],
    );
    boto.kind = KIND_CLIENT;
    boto.status = Some(Status {
        code: 2,
        message: "An error occurred (TooManyRequestsException) when calling the Invoke operation (reached max retries: 4): Rate Exceeded.".into(),
    });
    let mut grpc = span(
        "orders.Orders/Get",
        id(14, 16),
        id(16, 8),
        vec![kv("rpc.grpc.status_code", Value::IntValue(8))],
    );
    grpc.kind = KIND_CLIENT;
    let mut fine = span(
        "orders.Orders/List",
        id(14, 16),
        id(17, 8),
        vec![kv("rpc.grpc.status_code", Value::IntValue(0))],
    );
    fine.kind = KIND_CLIENT;
    let c = super::super::traces(&trace_request(res, vec![boto, grpc, fine]), INGEST_NS).unwrap();
    let rows = batch(&c, Table::Spans);
    assert_eq!(rows.bool("is_throttle", 0), Some(true));
    assert_eq!(rows.bool("is_error", 0), Some(true));
    assert_eq!(rows.bool("is_throttle", 1), Some(true), "RESOURCE_EXHAUSTED");
    assert_eq!(rows.bool("is_throttle", 2), Some(false), "OK");
}

#[test]
fn links_with_malformed_ids_are_dropped_and_counted() {
    // OTLP: a link needs a 16-byte trace id and an 8-byte span id; a malformed one cannot be
    // followed, so it is dropped and added to dropped_links_count (1 reported by the SDK + 1).
    use opentelemetry_proto::tonic::trace::v1::span::Link;
    let res = resource(vec![kv_str("service.name", "linker")]);
    let mut sp = span("process batch", id(18, 16), id(19, 8), vec![]);
    sp.dropped_links_count = 1;
    sp.links = vec![
        Link {
            trace_id: id(20, 16),
            span_id: id(21, 8),
            ..Default::default()
        },
        Link {
            trace_id: id(22, 3),
            span_id: id(23, 8),
            ..Default::default()
        },
    ];
    let c = super::super::traces(&trace_request(res, vec![sp]), INGEST_NS).unwrap();
    let rows = batch(&c, Table::Spans);
    assert_eq!(rows.int("dropped_links_count", 0), Some(2));
    let links = rows
        .col("links")
        .as_any()
        .downcast_ref::<arrow::array::ListArray>()
        .unwrap();
    assert_eq!(links.value_length(0), 1, "only the well-formed link is kept");
}
