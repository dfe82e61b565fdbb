//! Fixed-shape trace requests for benchmarks and tests that need "n valid spans now":
//! invocations of 4 spans (invocation, DynamoDB call, HTTP call, SQS send) with the current
//! semantic-convention names. The realistic, scenario-driven traffic is [`crate::Simulation`].

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span::Event};
use prost::Message;

use crate::fleet::{Function, Platform};
use crate::otlp::{b, i, s};
use crate::rng::Rng;

/// Generates trace export requests for a fleet, deterministically from a seed.
#[derive(Debug)]
pub struct SpanBatchGen {
    rng: Rng,
    functions: Vec<Function>,
    /// Probability that an invocation fails.
    pub error_rate: f64,
    next: usize,
}

impl SpanBatchGen {
    pub fn new(seed: u64, functions: Vec<Function>) -> SpanBatchGen {
        SpanBatchGen {
            rng: Rng::new(seed),
            functions,
            error_rate: 0.01,
            next: 0,
        }
    }

    fn id<const N: usize>(&mut self) -> Vec<u8> {
        self.rng.id::<N>()
    }

    fn resource(f: &Function) -> Resource {
        let mut attrs = vec![
            s("service.name", &f.service),
            s("service.version", &f.version),
            s("deployment.environment.name", "prod"),
            s("cloud.region", f.region),
            s("telemetry.sdk.language", "python"),
            s("telemetry.sdk.name", "opentelemetry"),
            s("telemetry.sdk.version", "1.45.1"),
        ];
        match f.platform {
            Platform::AwsLambda => attrs.extend([
                s("cloud.provider", "aws"),
                s("cloud.platform", "aws_lambda"),
                s("faas.name", &f.name),
                s("faas.version", "$LATEST"),
                s(
                    "faas.instance",
                    format!("2026/11/24/[$LATEST]{:032x}", f.name.len()),
                ),
                i("faas.max_memory", f.memory_mb),
            ]),
            Platform::AzureFunctions => attrs.extend([
                s("cloud.provider", "azure"),
                s("cloud.platform", "azure_functions"),
                s("faas.name", &f.name),
                s("faas.instance", format!("{:016x}", f.name.len())),
            ]),
            Platform::GcpCloudRun => attrs.extend([
                s("cloud.provider", "gcp"),
                s("cloud.platform", "gcp_cloud_run"),
                s("faas.name", &f.name),
                s("faas.version", format!("{}-00{}", f.name, f.version)),
                s("faas.instance", format!("00bf4bf02d{:014x}", f.name.len())),
            ]),
        }
        Resource {
            attributes: attrs,
            ..Default::default()
        }
    }

    /// One request with about `spans` spans for one function: invocations of 4 spans each
    /// (invocation, DynamoDB call, HTTP call, SQS send), start times around `now_ns`.
    pub fn request(&mut self, spans: usize, now_ns: u64) -> ExportTraceServiceRequest {
        let f = self.functions[self.next % self.functions.len()].clone();
        self.next += 1;
        let mut out = Vec::with_capacity(spans);
        while out.len() < spans {
            self.invocation(&f, now_ns, &mut out);
        }
        out.truncate(spans);
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Self::resource(&f)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "opentelemetry.instrumentation.aws_lambda".into(),
                        version: "0.66b1".into(),
                        ..Default::default()
                    }),
                    spans: out,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    fn invocation(&mut self, f: &Function, now_ns: u64, out: &mut Vec<Span>) {
        let trace_id = self.id::<16>();
        let root_id = self.id::<8>();
        let start = now_ns - self.rng.range(0, 1_000_000_000);
        let dur = self.rng.range(5_000_000, 400_000_000);
        let failed = self.rng.chance(self.error_rate);
        let request_id = self.rng.hex(32);
        let mut attrs = vec![
            s("faas.trigger", "http"),
            s("faas.invocation_id", request_id),
            s(
                "cloud.resource_id",
                format!("arn:aws:lambda:{}:{}:function:{}", f.region, f.account, f.name),
            ),
            s("cloud.account.id", f.account),
            s("http.request.method", "POST"),
            s("http.route", &f.route),
            s(
                "url.path",
                format!(
                    "{}/{}",
                    f.route.trim_end_matches("/{id}"),
                    self.rng.range(1, 100_000)
                ),
            ),
            s("url.scheme", "https"),
            s("user_agent.original", "Mozilla/5.0 (compatible; slod-loadgen)"),
            s("server.address", "api.example.com"),
            s("network.protocol.version", "1.1"),
            i("http.response.status_code", if failed { 500 } else { 200 }),
            s(
                "aws.lambda.invoked_arn",
                format!(
                    "arn:aws:lambda:{}:{}:function:{}:live",
                    f.region, f.account, f.name
                ),
            ),
            b("faas.coldstart", self.rng.chance(0.02)),
            s(
                "client.address",
                format!("10.0.{}.{}", self.rng.range(0, 255), self.rng.range(1, 255)),
            ),
            i("http.request.body.size", self.rng.range(100, 5000) as i64),
        ];
        let mut events = Vec::new();
        let mut status = None;
        if failed {
            attrs.push(s("error.type", "ValueError"));
            status = Some(Status {
                code: 2,
                message: "order validation failed".into(),
            });
            events.push(Event {
                time_unix_nano: start + dur / 2,
                name: "exception".into(),
                attributes: vec![
                    s("exception.type", "ValueError"),
                    s("exception.message", "order validation failed"),
                    s("exception.stacktrace", "Traceback (most recent call last):\n  File \"handler.py\", line 42, in handler\nValueError: order validation failed"),
                ],
                dropped_attributes_count: 0,
            });
        }
        out.push(Span {
            trace_id: trace_id.clone(),
            span_id: root_id.clone(),
            name: f.name.clone(),
            kind: 2,
            start_time_unix_nano: start,
            end_time_unix_nano: start + dur,
            attributes: attrs,
            events,
            status,
            flags: 0x100,
            ..Default::default()
        });
        let children: [(&str, i32, Vec<KeyValue>); 3] = [
            (
                "DynamoDB.GetItem",
                3,
                vec![
                    s("rpc.system", "aws-api"),
                    s("rpc.service", "DynamoDB"),
                    s("rpc.method", "GetItem"),
                    s("db.system.name", "aws.dynamodb"),
                    s("aws.dynamodb.table_names", "orders"),
                    s("server.address", format!("dynamodb.{}.amazonaws.com", f.region)),
                    i("server.port", 443),
                    s("cloud.region", f.region),
                    i("http.response.status_code", 200),
                    s("aws.request_id", format!("{:020X}", self.rng.next_u64())),
                    s("http.request.method", "POST"),
                    i("aws.dynamodb.consumed_capacity", 1),
                ],
            ),
            (
                "GET",
                3,
                vec![
                    s("http.request.method", "GET"),
                    s("url.full", "https://inventory.internal.example.com/v1/items/42"),
                    s("server.address", "inventory.internal.example.com"),
                    i("server.port", 443),
                    i("http.response.status_code", 200),
                    s("network.protocol.version", "1.1"),
                    s("url.scheme", "https"),
                    s("http.route", "/v1/items/{id}"),
                    i("http.response.body.size", 812),
                    s("user_agent.original", "python-requests/2.32.3"),
                    s("network.peer.address", "10.1.2.3"),
                    i("network.peer.port", 443),
                ],
            ),
            (
                "orders-events send",
                4,
                vec![
                    s("messaging.system", "aws_sqs"),
                    s("messaging.destination.name", "orders-events"),
                    s("messaging.operation.type", "send"),
                    s("messaging.operation.name", "SendMessage"),
                    s("rpc.system", "aws-api"),
                    s("rpc.service", "SQS"),
                    s("rpc.method", "SendMessage"),
                    s("server.address", format!("sqs.{}.amazonaws.com", f.region)),
                    s(
                        "aws.sqs.queue.url",
                        format!(
                            "https://sqs.{}.amazonaws.com/{}/orders-events",
                            f.region, f.account
                        ),
                    ),
                    s("messaging.message.id", self.rng.hex(32)),
                    i("messaging.message.body.size", 512),
                    s("cloud.region", f.region),
                ],
            ),
        ];
        for (k, (name, kind, attrs)) in children.into_iter().enumerate() {
            let cstart = start + (k as u64 + 1) * dur / 5;
            out.push(Span {
                trace_id: trace_id.clone(),
                span_id: self.id::<8>(),
                parent_span_id: root_id.clone(),
                name: name.into(),
                kind,
                start_time_unix_nano: cstart,
                end_time_unix_nano: cstart + dur / 6,
                attributes: attrs,
                flags: 0x100,
                ..Default::default()
            });
        }
    }
}

/// Pre-encodes requests as OTLP protobuf bodies.
pub fn encode_traces(req: &ExportTraceServiceRequest) -> Vec<u8> {
    req.encode_to_vec()
}
