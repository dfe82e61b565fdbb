//! The calls a handler makes, as CLIENT and PRODUCER spans of the SDK instrumentations:
//! DynamoDB (botocore / aws-sdk), Cosmos DB and Firestore, HTTP APIs (requests, undici,
//! HttpClient), SQS sends (including to DLQs) and `Lambda.Invoke`.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{Status, span::Event};

use crate::fleet::{Function, Platform, Runtime, Trigger};
use crate::invocation::{Call, Outcome};
use crate::otlp::{CLIENT, PRODUCER, error_status, exception_event, i, s};
use crate::rng::Rng;
use crate::scope::Scope;

/// A child span before it is placed in time.
#[derive(Debug, Clone)]
pub(crate) struct Child {
    pub scope: Scope,
    pub name: String,
    pub kind: i32,
    pub attributes: Vec<KeyValue>,
    pub status: Option<Status>,
    pub events: Vec<Event>,
    /// Share of the handler's time the call takes.
    pub share: f64,
}

fn child(scope: Scope, name: impl Into<String>, kind: i32, attributes: Vec<KeyValue>, share: f64) -> Child {
    Child {
        scope,
        name: name.into(),
        kind,
        attributes,
        status: None,
        events: Vec::new(),
        share,
    }
}

impl Child {
    fn fail(mut self, ty: &str, message: &str, python: bool) -> Child {
        self.status = error_status(&format!("{ty}: {message}"));
        self.events.push(exception_event(0, ty, message, python));
        self
    }
}

/// The children of one invocation, in call order.
pub(crate) fn children(c: &Call<'_>, rng: &mut Rng) -> Vec<Child> {
    let f = c.f;
    let mut out = Vec::with_capacity(5);
    if c.outcome == Outcome::Timeout && f.platform != Platform::AwsLambda {
        // The request hung on its database call.
        out.push(database(f, c, 0.9));
        return out;
    }
    if let Outcome::Denied(code) = c.outcome {
        // The token check against the identity provider says no.
        out.push(http_call(
            f,
            "GET",
            "auth.acme.example",
            "/oauth2/userInfo",
            code,
            0,
            0.1,
        ));
        return out;
    }
    out.push(database(f, c, 0.15 * c.slow.min(4.0)));
    let downstream_failure = matches!(&c.outcome, Outcome::Error(e) if e.downstream);
    if downstream_failure {
        // 503, one retry (http.request.resend_count), 503 again.
        out.push(http_call(
            f,
            "GET",
            "inventory.internal.example",
            "/v1/items/42",
            503,
            0,
            0.1,
        ));
        out.push(http_call(
            f,
            "GET",
            "inventory.internal.example",
            "/v1/items/42",
            503,
            1,
            0.1,
        ));
    } else if f.trigger == Trigger::Http && rng.chance(0.5) {
        out.push(http_call(
            f,
            "GET",
            "inventory.internal.example",
            "/v1/items/42",
            200,
            0,
            0.2,
        ));
    }
    if let Some((target, throttled)) = c.invoke {
        out.push(lambda_invoke(f, target, throttled));
    }
    if f.platform == Platform::AwsLambda && f.trigger == Trigger::Http && rng.chance(0.3) {
        out.push(sqs_send(f, &format!("{}-events", f.service), 0.08, rng));
    }
    if c.dlq_send
        && let Some(dlq) = &f.dlq
    {
        out.push(sqs_send(f, dlq, 0.05, rng));
    }
    out
}

fn python(f: &Function) -> bool {
    f.runtime == Runtime::Python
}

fn aws_scope(f: &Function) -> Scope {
    if python(f) {
        Scope::Botocore
    } else {
        Scope::AwsSdkJs
    }
}

/// The function's database call: DynamoDB on AWS, Cosmos DB on Azure, Firestore on GCP.
fn database(f: &Function, c: &Call<'_>, share: f64) -> Child {
    let throttled = c.outcome == Outcome::Throttled;
    match f.platform {
        Platform::AwsLambda => {
            let op = match f.trigger {
                Trigger::Http => "GetItem",
                Trigger::Sqs => "PutItem",
                Trigger::Schedule => "Query",
                Trigger::Stream | Trigger::Direct => "UpdateItem",
            };
            let a = vec![
                s("rpc.system", "aws-api"),
                s("rpc.service", "DynamoDB"),
                s("rpc.method", op),
                s("db.system", "dynamodb"),
                s("aws.dynamodb.table_names", &f.table),
                s("server.address", format!("dynamodb.{}.amazonaws.com", f.region)),
                s("cloud.region", f.region),
                i("http.status_code", if throttled { 400 } else { 200 }),
            ];
            let mut ch = child(aws_scope(f), format!("DynamoDB.{op}"), CLIENT, a, share);
            if throttled {
                // botocore puts str(ClientError) in the status description.
                let msg = format!(
                    "An error occurred (ProvisionedThroughputExceededException) when calling the {op} operation: Rate of requests exceeds the allowed throughput."
                );
                ch.status = error_status(&msg);
                ch.events.push(exception_event(
                    0,
                    "botocore.errorfactory.ProvisionedThroughputExceededException",
                    &msg,
                    python(f),
                ));
            }
            ch
        }
        Platform::AzureFunctions => child(
            Scope::HttpClient,
            format!("read_item {}", f.table),
            CLIENT,
            vec![
                s("db.system", "cosmosdb"),
                s("db.namespace", "acme"),
                s("db.collection.name", &f.table),
                s("db.operation.name", "read_item"),
                s("server.address", "acme-prod.documents.azure.com"),
                i("db.cosmosdb.status_code", if throttled { 429 } else { 200 }),
            ],
            share,
        ),
        Platform::GcpCloudRun => child(
            Scope::Flask,
            "google.firestore.v1.Firestore/GetDocument",
            CLIENT,
            vec![
                s("rpc.system", "grpc"),
                s("rpc.service", "google.firestore.v1.Firestore"),
                s("rpc.method", "GetDocument"),
                s("server.address", "firestore.googleapis.com"),
                i("rpc.grpc.status_code", if throttled { 8 } else { 0 }),
            ],
            share,
        ),
    }
}

/// An outgoing HTTP request (4xx/5xx answers make a CLIENT span an error, per HTTP semconv).
fn http_call(
    f: &Function,
    method: &str,
    host: &str,
    path: &str,
    status: i64,
    resend: i64,
    share: f64,
) -> Child {
    let scope = match (f.platform, f.runtime) {
        (Platform::AzureFunctions, _) => Scope::HttpClient,
        (_, Runtime::Node) => Scope::Undici,
        _ => Scope::Requests,
    };
    let mut a = vec![
        s("http.request.method", method),
        s("url.full", format!("https://{host}{path}")),
        s("server.address", host),
        i("server.port", 443),
        i("http.response.status_code", status),
        s("network.protocol.version", "1.1"),
    ];
    if resend > 0 {
        a.push(i("http.request.resend_count", resend));
    }
    let mut ch = child(scope, method, CLIENT, a, share);
    if status >= 400 {
        a_error(&mut ch, status);
    }
    ch
}

fn a_error(ch: &mut Child, status: i64) {
    ch.attributes.push(s("error.type", status.to_string()));
    ch.status = error_status("");
}

/// `SendMessage` to a queue (a DLQ when the handler parks a request it cannot process).
fn sqs_send(f: &Function, queue: &str, share: f64, rng: &mut Rng) -> Child {
    let mut a = vec![
        s("messaging.system", "aws_sqs"),
        s("messaging.destination.name", queue),
        s("rpc.system", "aws-api"),
        s("rpc.service", "SQS"),
        s("rpc.method", "SendMessage"),
        s("server.address", format!("sqs.{}.amazonaws.com", f.region)),
        s(
            "aws.sqs.queue.url",
            format!("https://sqs.{}.amazonaws.com/{}/{queue}", f.region, f.account),
        ),
        s("messaging.message.id", rng.uuid()),
    ];
    // botocore still sends the old key; the Node SDK instrumentation the new one.
    if python(f) {
        a.push(s("messaging.operation", "publish"));
    } else {
        a.push(s("messaging.operation.type", "send"));
    }
    child(aws_scope(f), format!("{queue} send"), PRODUCER, a, share)
}

/// `Lambda.Invoke` of another function (span.faas.client); throttled: HTTP 429
/// `TooManyRequestsException`.
fn lambda_invoke(f: &Function, target: &Function, throttled: bool) -> Child {
    let a = vec![
        s("rpc.system", "aws-api"),
        s("rpc.service", "Lambda"),
        s("rpc.method", "Invoke"),
        s("faas.invoked_name", &target.name),
        s("faas.invoked_provider", "aws"),
        s("faas.invoked_region", target.region),
        s("cloud.region", f.region),
        i("http.status_code", if throttled { 429 } else { 200 }),
    ];
    let ch = child(aws_scope(f), "Lambda.Invoke", CLIENT, a, 0.3);
    if throttled {
        ch.fail("TooManyRequestsException", "Rate Exceeded.", python(f))
    } else {
        ch
    }
}

/// `SFN.StartExecution` (aws-sdk instrumentation; the state machine ARN is a request
/// attribute, the execution ARN only in the response, so it is absent).
pub(crate) fn start_execution(f: &Function, state_machine_arn: &str) -> Child {
    child(
        aws_scope(f),
        "SFN.StartExecution",
        CLIENT,
        vec![
            s("rpc.system", "aws-api"),
            s("rpc.service", "SFN"),
            s("rpc.method", "StartExecution"),
            s("aws.step_functions.state_machine.arn", state_machine_arn),
            s("cloud.region", f.region),
            i("http.status_code", 200),
        ],
        0.2,
    )
}
