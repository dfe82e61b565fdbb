//! One function invocation as spans: the invocation span each runtime's instrumentation
//! sends (see [`Runtime`]) and the handler's child spans ([`crate::downstream`]).

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{Span, span::Link};

use crate::downstream::{self, Child};
use crate::fleet::{Function, Platform, Runtime, Trigger};
use crate::otlp::{
    CONSUMER, FLAGS_NODE, FLAGS_PYTHON, INTERNAL, SERVER, b, error_status, exception_event, i, s,
};
use crate::resource::azure_site;
use crate::rng::Rng;
use crate::scope::Scope;

/// How an invocation ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Ok,
    /// The handler raised.
    Error(Failure),
    /// 401 or 403 answered to the caller: a client error, not a function error.
    Denied(i64),
    /// Its DynamoDB calls were throttled; HTTP handlers answer 429.
    Throttled,
    /// Azure and Cloud Run cut the request at the timeout (Lambda sends no span then).
    Timeout,
}

/// A handler failure.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub ty: &'static str,
    pub message: String,
    /// The failure is a downstream HTTP dependency answering 503.
    pub downstream: bool,
}

/// An SQS message in a batch.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub id: String,
    pub receive_count: u32,
    pub poison: bool,
}

/// Everything that decides one invocation's spans.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub f: &'a Function,
    pub trace_id: Vec<u8>,
    pub start: u64,
    pub duration: u64,
    pub cold: bool,
    /// Azure: the specialization the cold request waited for.
    pub init_ns: u64,
    pub outcome: Outcome,
    pub invocation_id: String,
    pub messages: &'a [Message],
    /// Slow-down of the function's dependencies (latency regressions).
    pub slow: f64,
    /// `Some(throttled)` when the handler calls another Lambda.
    pub invoke: Option<(&'a Function, bool)>,
    /// The handler parks the request in its DLQ.
    pub dlq_send: bool,
    /// Extra invocation-span attributes (Step Functions task context).
    pub extra: Vec<KeyValue>,
    /// Extra calls the handler makes (`SFN.StartExecution`).
    pub more: Vec<Child>,
}

/// A span and the scope that produced it.
#[derive(Debug)]
pub(crate) struct Built {
    pub scope: Scope,
    pub span: Span,
}

fn flags(f: &Function) -> u32 {
    if f.runtime == Runtime::Node {
        FLAGS_NODE
    } else {
        FLAGS_PYTHON
    }
}

fn lambda_arn(f: &Function) -> String {
    format!("arn:aws:lambda:{}:{}:function:{}", f.region, f.account, f.name)
}

fn http_status(o: &Outcome) -> i64 {
    match o {
        Outcome::Ok => 200,
        Outcome::Error(_) => 500,
        Outcome::Denied(code) => *code,
        Outcome::Throttled => 429,
        Outcome::Timeout => 504,
    }
}

/// The invocation span's name, kind, scope and attributes for the function's runtime.
fn root_attributes(c: &Call<'_>, rng: &mut Rng) -> (String, Scope, Vec<KeyValue>) {
    let f = c.f;
    let path = format!(
        "{}/{}",
        f.route.trim_end_matches("/{id}"),
        rng.range(1000, 99_999)
    );
    match f.runtime {
        // python-lambda/: old HTTP names, no faas.coldstart; the ARN without qualifier; no
        // http.status_code when the handler raised.
        Runtime::Python => {
            let mut a = vec![
                s("cloud.account.id", f.account),
                s("cloud.resource_id", lambda_arn(f)),
                s("faas.invocation_id", &c.invocation_id),
            ];
            match f.trigger {
                Trigger::Http => {
                    a.extend([
                        s("faas.trigger", "http"),
                        s("http.method", if f.weight > 2.0 { "GET" } else { "POST" }),
                        s("http.user_agent", "Mozilla/5.0 (compatible; acme-mobile/4.2)"),
                        s("http.scheme", "https"),
                        s(
                            "net.host.name",
                            format!("abc123.execute-api.{}.amazonaws.com", f.region),
                        ),
                        s("http.route", &f.route),
                        s("http.target", path),
                    ]);
                    if !matches!(c.outcome, Outcome::Error(_)) {
                        a.push(i("http.status_code", http_status(&c.outcome)));
                    }
                }
                Trigger::Sqs => a.push(s("faas.trigger", "pubsub")),
                Trigger::Schedule | Trigger::Stream | Trigger::Direct => {}
            }
            (f.name.clone(), Scope::PythonLambda, a)
        }
        // node-lambda/: faas.coldstart always, the invoked ARN with its alias, url.full and
        // no faas.trigger for HTTP events.
        Runtime::Node => {
            let mut a = vec![
                s("faas.invocation_id", &c.invocation_id),
                s("cloud.resource_id", format!("{}:live", lambda_arn(f))),
                s("cloud.account.id", f.account),
                b("faas.coldstart", c.cold),
            ];
            match f.trigger {
                Trigger::Http => a.push(s(
                    "url.full",
                    format!("https://abc123.execute-api.{}.amazonaws.com:443{path}", f.region),
                )),
                Trigger::Sqs => a.push(s("faas.trigger", "pubsub")),
                Trigger::Schedule | Trigger::Stream | Trigger::Direct => {}
            }
            (f.name.clone(), Scope::NodeLambda, a)
        }
        // Azure Functions host: ASP.NET Core request activity "<METHOD> <route>" with
        // faas.trigger, faas.coldstart=true on the specialization request only.
        Runtime::AzureHost => {
            let func = format!("{}/{}", f.name, camel(&f.service));
            let mut a = vec![
                s("faas.name", &func),
                s(
                    "cloud.resource_id",
                    format!("{}/functions/{}", azure_site(f), camel(&f.service)),
                ),
                s("faas.invocation_id", &c.invocation_id),
            ];
            if c.cold {
                a.push(b("faas.coldstart", true));
            }
            let name = match f.trigger {
                Trigger::Schedule => {
                    a.extend([s("faas.trigger", "timer"), s("faas.cron", "0 */1 * * * *")]);
                    format!("function {}", camel(&f.service))
                }
                _ => {
                    let route = format!("api{}", f.route);
                    a.extend([
                        s("faas.trigger", "http"),
                        s("http.request.method", "POST"),
                        s("http.route", &route),
                        s("url.scheme", "https"),
                        s("url.path", format!("/api{path}")),
                        s("server.address", format!("{}.azurewebsites.net", f.name)),
                        i("http.response.status_code", http_status(&c.outcome)),
                    ]);
                    format!("POST {route}")
                }
            };
            (name, Scope::AspNetCore, a)
        }
        // A Flask service on Cloud Run: plain HTTP server semantics, nothing faas.* on the span.
        Runtime::CloudRun => {
            let a = vec![
                s("http.request.method", "POST"),
                s("http.route", &f.route),
                s("url.scheme", "https"),
                s("url.path", path),
                s("server.address", format!("{}-4711.{}.run.app", f.name, f.region)),
                s("user_agent.original", "Google-Cloud-Tasks"),
                s("network.protocol.version", "1.1"),
                i("http.response.status_code", http_status(&c.outcome)),
            ];
            (format!("POST {}", f.route), Scope::Flask, a)
        }
    }
}

fn camel(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|x| x.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// The invocation's spans, root first.
pub(crate) fn build(c: &Call<'_>, rng: &mut Rng) -> Vec<Built> {
    let f = c.f;
    let (name, scope, mut attributes) = root_attributes(c, rng);
    attributes.extend(c.extra.iter().cloned());
    let root_id = rng.id::<8>();
    let end = c.start + c.duration;
    let python = f.is_python();
    let mut root = Span {
        trace_id: c.trace_id.clone(),
        span_id: root_id.clone(),
        name,
        kind: SERVER,
        start_time_unix_nano: c.start,
        end_time_unix_nano: end,
        flags: flags(f),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(8);
    let mut t = c.start;
    if c.cold && f.platform != Platform::AwsLambda && c.init_ns > 0 {
        // Azure: the request that triggered specialization gets an `init` child; Cloud Run's
        // container start delays the request the same way.
        if f.runtime == Runtime::AzureHost {
            out.push(Built {
                scope: Scope::AzureHost,
                span: Span {
                    trace_id: c.trace_id.clone(),
                    span_id: rng.id::<8>(),
                    parent_span_id: root_id.clone(),
                    name: "init".into(),
                    kind: INTERNAL,
                    start_time_unix_nano: c.start,
                    end_time_unix_nano: c.start + c.init_ns,
                    flags: flags(f),
                    ..Default::default()
                },
            });
        }
        t += c.init_ns;
    }
    let body = end.saturating_sub(t).max(1);
    // SQS: the per-batch CONSUMER span with one link per message (python-lambda/traces-3).
    let mut parent = root_id.clone();
    if f.trigger == Trigger::Sqs && !c.messages.is_empty() {
        let consumer = consumer_span(c, &root_id, t, body, rng);
        out.push(Built {
            scope,
            span: consumer,
        });
    }
    if f.platform == Platform::AwsLambda {
        // The handler's own span (`validate order` in both captures).
        let handler_id = rng.id::<8>();
        let mut h = Span {
            trace_id: c.trace_id.clone(),
            span_id: handler_id.clone(),
            parent_span_id: root_id.clone(),
            name: match f.trigger {
                Trigger::Http => "validate order",
                Trigger::Sqs => "process order",
                Trigger::Schedule => "build report",
                Trigger::Stream => "sync inventory",
                Trigger::Direct => "run step",
            }
            .into(),
            kind: INTERNAL,
            start_time_unix_nano: t + body / 50,
            end_time_unix_nano: end - body / 50,
            attributes: vec![s("order.id", rng.range(1000, 99_999).to_string())],
            flags: flags(f),
            ..Default::default()
        };
        if let Outcome::Error(e) = &c.outcome {
            let msg = format!("{}: {}", e.ty, e.message);
            h.status = error_status(if python { &msg } else { &e.message });
            h.events
                .push(exception_event(end - body / 20, e.ty, &e.message, python));
        }
        out.push(Built {
            scope: Scope::Handler,
            span: h,
        });
        parent = handler_id;
    }
    let mut children = downstream::children(c, rng);
    children.extend(c.more.iter().cloned());
    for (k, child) in children.into_iter().enumerate() {
        out.push(place(c, child, &parent, t, body, k, rng));
    }
    // Root status per runtime: Python sets ERROR without a message, Node with the message;
    // the .NET host and Flask record 5xx answers as errors.
    match &c.outcome {
        Outcome::Error(e) => {
            let msg = match f.runtime {
                Runtime::Python => String::new(),
                Runtime::Node => e.message.clone(),
                Runtime::AzureHost => format!(
                    "Exception while executing function: Functions.{}",
                    camel(&f.service)
                ),
                Runtime::CloudRun => format!("{}: {}", e.ty, e.message),
            };
            root.status = error_status(&msg);
            root.events
                .push(exception_event(end - body / 25, e.ty, &e.message, python));
        }
        Outcome::Throttled if f.runtime == Runtime::Node => {
            let m = "Rate of requests exceeds the allowed throughput.";
            root.status = error_status(&format!("ProvisionedThroughputExceededException: {m}"));
            root.events.push(exception_event(
                end - body / 25,
                "ProvisionedThroughputExceededException",
                m,
                false,
            ));
        }
        Outcome::Timeout => {
            let secs = f.timeout_ms as f64 / 1000.0;
            root.status = error_status(&match f.runtime {
                Runtime::AzureHost => format!(
                    "Timeout value of {:02}:{:02}:{:02} was exceeded by function: Functions.{}",
                    f.timeout_ms / 3_600_000,
                    f.timeout_ms / 60_000 % 60,
                    f.timeout_ms / 1000 % 60,
                    camel(&f.service)
                ),
                _ => format!("Task timed out after {secs:.2} seconds"),
            });
        }
        _ => {}
    }
    root.attributes = attributes;
    out.insert(0, Built { scope, span: root });
    out
}

fn consumer_span(c: &Call<'_>, root_id: &[u8], t: u64, body: u64, rng: &mut Rng) -> Span {
    let f = c.f;
    let queue = f.queue.clone().unwrap_or_else(|| format!("{}-queue", f.name));
    let mut a = Vec::with_capacity(9);
    if f.runtime == Runtime::Node {
        a.extend([
            s("faas.trigger", "pubsub"),
            s("messaging.operation.name", "process"),
        ]);
    }
    a.extend([
        s("messaging.system", "aws_sqs"),
        s("messaging.destination.name", &queue),
        s("messaging.operation.type", "process"),
    ]);
    if c.messages.len() > 1 {
        a.push(i("messaging.batch.message_count", c.messages.len() as i64));
    }
    if f.runtime == Runtime::Node {
        a.extend([
            s("server.address", format!("sqs.{}.amazonaws.com", f.region)),
            s(
                "aws.sqs.queue.url",
                format!("https://sqs.{}.amazonaws.com/{}/{queue}", f.region, f.account),
            ),
        ]);
    }
    let links = c
        .messages
        .iter()
        .map(|m| Link {
            trace_id: rng.id::<16>(),
            span_id: rng.id::<8>(),
            attributes: vec![s("messaging.message.id", &m.id)],
            flags: if f.runtime == Runtime::Node { 769 } else { 768 },
            ..Default::default()
        })
        .collect();
    Span {
        trace_id: c.trace_id.clone(),
        span_id: rng.id::<8>(),
        parent_span_id: root_id.to_vec(),
        name: format!("process {queue}"),
        kind: CONSUMER,
        start_time_unix_nano: t + body / 100,
        end_time_unix_nano: t + body - body / 100,
        attributes: a,
        links,
        flags: flags(f),
        ..Default::default()
    }
}

/// Places the k-th child call inside the handler's time.
fn place(c: &Call<'_>, child: Child, parent: &[u8], t: u64, body: u64, k: usize, rng: &mut Rng) -> Built {
    let slot = (k as u64 % 5 + 1) * body / 8;
    let len = ((body as f64 * child.share) as u64).clamp(1_000_000, body / 3 + 1);
    let mut events = child.events;
    for e in &mut events {
        e.time_unix_nano = t + slot + len - len / 10;
    }
    Built {
        scope: child.scope,
        span: Span {
            trace_id: c.trace_id.clone(),
            span_id: rng.id::<8>(),
            parent_span_id: parent.to_vec(),
            name: child.name,
            kind: child.kind,
            start_time_unix_nano: t + slot,
            end_time_unix_nano: t + slot + len,
            attributes: child.attributes,
            status: child.status,
            events,
            flags: flags(c.f),
            ..Default::default()
        },
    }
}
