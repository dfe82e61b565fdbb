//! Sending one export request to the target over OTLP/gRPC, OTLP/HTTP protobuf or
//! OTLP/HTTP JSON, and classifying the answer the way the OTLP spec tells exporters to:
//! HTTP 429/502/503/504 and gRPC UNAVAILABLE (and RESOURCE_EXHAUSTED with `RetryInfo`) are
//! retried after the server's hint (`Retry-After`, `RetryInfo`); everything else that is not
//! a success is permanent.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::{logs, metrics, trace};
use prost::Message;
use slod_collector::rpc;
use slod_loadgen::Export;
use tonic::transport::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Protocol {
    /// OTLP/gRPC (default port 4317).
    Grpc,
    /// OTLP/HTTP with protobuf bodies (default port 4318).
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies (default port 4318).
    HttpJson,
}

impl Protocol {
    fn default_port(self) -> u16 {
        match self {
            Protocol::Grpc => 4317,
            Protocol::HttpProtobuf | Protocol::HttpJson => 4318,
        }
    }
}

/// `--target` as a base URL: `host`, `host:port` or `http://host[:port]`; the protocol's
/// default port when none is given.
pub(crate) fn endpoint(target: &str, protocol: Protocol) -> Result<reqwest::Url> {
    let t = target.trim();
    if t.starts_with("https://") {
        bail!("--target {t}: TLS is not supported; slod listens on plain HTTP, use http://");
    }
    let with_scheme = if t.contains("://") {
        t.to_string()
    } else {
        format!("http://{t}")
    };
    let mut url = reqwest::Url::parse(&with_scheme)
        .with_context(|| format!("--target {t:?} is not host, host:port or http://host:port"))?;
    if url.scheme() != "http" {
        bail!("--target {t}: only http:// targets are supported");
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("--target {t:?} has no host");
    }
    if url.port().is_none() {
        url.set_port(Some(protocol.default_port()))
            .map_err(|()| anyhow::anyhow!("--target {t:?}: cannot set a port"))?;
    }
    url.set_path("");
    Ok(url)
}

/// What became of one attempt.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Accepted; `rejected` items refused through `partial_success`.
    Ok {
        rejected: u64,
    },
    /// Try again after the hint (if the server gave one).
    Retry {
        after: Option<Duration>,
        why: String,
    },
    Permanent(String),
}

/// A connection to the target for all three signals.
#[derive(Debug, Clone)]
pub(crate) enum Client {
    Http {
        client: reqwest::Client,
        base: reqwest::Url,
        json: bool,
    },
    Grpc(Box<GrpcClients>),
}

/// One gRPC channel's three OTLP service clients.
#[derive(Debug, Clone)]
pub(crate) struct GrpcClients {
    traces: TraceServiceClient<Channel>,
    metrics: MetricsServiceClient<Channel>,
    logs: LogsServiceClient<Channel>,
}

impl Client {
    /// Only `base` is ever contacted: no redirects followed, no proxy taken from the
    /// environment, no `OTEL_EXPORTER_OTLP_*` variables read.
    pub(crate) fn new(base: reqwest::Url, protocol: Protocol, timeout: Duration) -> Result<Client> {
        Ok(match protocol {
            Protocol::Grpc => {
                let channel = Channel::from_shared(base.as_str().trim_end_matches('/').to_string())?
                    .timeout(timeout)
                    .connect_lazy();
                Client::Grpc(Box::new(GrpcClients {
                    traces: TraceServiceClient::new(channel.clone()),
                    metrics: MetricsServiceClient::new(channel.clone()),
                    logs: LogsServiceClient::new(channel),
                }))
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => Client::Http {
                client: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .timeout(timeout)
                    .user_agent(concat!("slod-loadgen/", env!("CARGO_PKG_VERSION")))
                    .build()?,
                base,
                json: protocol == Protocol::HttpJson,
            },
        })
    }

    /// The request's body as this client sends it (for byte counts).
    pub(crate) fn body(&self, e: &Export) -> Result<Vec<u8>> {
        Ok(match self {
            Client::Http { json: true, .. } => match e {
                Export::Traces(r) => serde_json::to_vec(r)?,
                Export::Metrics(r) => serde_json::to_vec(r)?,
                Export::Logs(r) => serde_json::to_vec(r)?,
            },
            _ => e.encode(),
        })
    }

    pub(crate) async fn send(&mut self, e: &Export, body: Vec<u8>) -> Answer {
        match self {
            Client::Http { client, base, json } => http(client, base, *json, e, body).await,
            Client::Grpc(c) => grpc(&mut c.traces, &mut c.metrics, &mut c.logs, e).await,
        }
    }
}

async fn http(
    client: &reqwest::Client,
    base: &reqwest::Url,
    json: bool,
    e: &Export,
    body: Vec<u8>,
) -> Answer {
    let url = match base.join(e.signal().path()) {
        Ok(u) => u,
        Err(err) => return Answer::Permanent(format!("bad url: {err}")),
    };
    let content_type = if json {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    let resp = match client
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(err) => {
            return Answer::Retry {
                after: None,
                why: format!("cannot reach the target: {err}"),
            };
        }
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let bytes = resp.bytes().await.unwrap_or_default();
    match status {
        200..=299 => Answer::Ok {
            rejected: if json {
                rejected_json(&bytes)
            } else {
                rejected_protobuf(e, &bytes)
            },
        },
        // OTLP spec: only these are retryable.
        429 | 502 | 503 | 504 => Answer::Retry {
            after: retry_after,
            why: format!("HTTP {status}"),
        },
        _ => Answer::Permanent(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes).trim()
        )),
    }
}

/// `Retry-After`: delay-seconds or an HTTP-date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate(v.trim())?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

fn httpdate(v: &str) -> Option<std::time::SystemTime> {
    // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7).
    let iso = {
        let p: Vec<&str> = v.split_whitespace().collect();
        let [_, day, mon, year, time, "GMT"] = p.as_slice() else {
            return None;
        };
        let months = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let m = months.iter().position(|x| x == mon)? + 1;
        format!("{year}-{m:02}-{day:0>2}T{time}Z")
    };
    humantime::parse_rfc3339(&iso).ok()
}

fn rejected_protobuf(e: &Export, body: &[u8]) -> u64 {
    match e {
        Export::Traces(_) => trace::v1::ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_spans.max(0) as u64),
        Export::Metrics(_) => metrics::v1::ExportMetricsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_data_points.max(0) as u64),
        Export::Logs(_) => logs::v1::ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_log_records.max(0) as u64),
    }
}

fn rejected_json(body: &[u8]) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let p = &v["partialSuccess"];
    ["rejectedSpans", "rejectedDataPoints", "rejectedLogRecords"]
        .iter()
        .filter_map(|k| match &p[*k] {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        })
        .sum()
}

async fn grpc(
    traces: &mut TraceServiceClient<Channel>,
    metrics: &mut MetricsServiceClient<Channel>,
    logs: &mut LogsServiceClient<Channel>,
    e: &Export,
) -> Answer {
    let result = match e {
        Export::Traces(r) => traces
            .export(r.clone())
            .await
            .map(|a| a.into_inner().partial_success.map_or(0, |p| p.rejected_spans)),
        Export::Metrics(r) => metrics.export(r.clone()).await.map(|a| {
            a.into_inner()
                .partial_success
                .map_or(0, |p| p.rejected_data_points)
        }),
        Export::Logs(r) => logs.export(r.clone()).await.map(|a| {
            a.into_inner()
                .partial_success
                .map_or(0, |p| p.rejected_log_records)
        }),
    };
    match result {
        Ok(rejected) => Answer::Ok {
            rejected: rejected.max(0) as u64,
        },
        Err(status) => classify(&status),
    }
}

/// OTLP spec: retryable gRPC codes; RESOURCE_EXHAUSTED only with `RetryInfo`.
fn classify(status: &tonic::Status) -> Answer {
    use tonic::Code;
    let delay = retry_info(status);
    let why = format!("gRPC {:?}: {}", status.code(), status.message());
    match status.code() {
        Code::Unavailable
        | Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::DataLoss => Answer::Retry { after: delay, why },
        Code::ResourceExhausted if delay.is_some() => Answer::Retry { after: delay, why },
        _ => Answer::Permanent(why),
    }
}

/// `google.rpc.RetryInfo` from the status details or the `google.rpc.retryinfo-bin` trailer.
fn retry_info(status: &tonic::Status) -> Option<Duration> {
    let from_details = rpc::Status::decode(status.details())
        .ok()
        .and_then(|s| {
            s.details
                .into_iter()
                .find(|d| d.type_url.ends_with("google.rpc.RetryInfo"))
        })
        .and_then(|any| rpc::RetryInfo::decode(any.value.as_slice()).ok());
    let from_trailer = || {
        status
            .metadata()
            .get_bin("google.rpc.retryinfo-bin")
            .and_then(|v| v.to_bytes().ok())
            .and_then(|b| rpc::RetryInfo::decode(b.as_ref()).ok())
    };
    let info = from_details.or_else(from_trailer)?;
    let d = info.retry_delay?;
    Some(Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_get_the_protocols_default_port_and_only_http() {
        // Table: input, protocol, expected base URL (or error).
        let ok = [
            ("127.0.0.1", Protocol::Grpc, "http://127.0.0.1:4317/"),
            ("127.0.0.1", Protocol::HttpJson, "http://127.0.0.1:4318/"),
            ("localhost:9999", Protocol::HttpProtobuf, "http://localhost:9999/"),
            (
                "http://[::1]:14318/v1/traces",
                Protocol::HttpProtobuf,
                "http://[::1]:14318/",
            ),
        ];
        for (t, p, want) in ok {
            assert_eq!(endpoint(t, p).unwrap().as_str(), want, "{t}");
        }
        assert!(
            endpoint("https://example.com", Protocol::Grpc)
                .unwrap_err()
                .to_string()
                .contains("TLS")
        );
        assert!(endpoint("ftp://x", Protocol::Grpc).is_err());
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn grpc_codes_follow_the_otlp_retry_rules() {
        let info = rpc::RetryInfo {
            retry_delay: Some(rpc::Duration { seconds: 2, nanos: 0 }),
        };
        let details = rpc::Status {
            code: 14,
            message: String::new(),
            details: vec![rpc::Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                value: info.encode_to_vec(),
            }],
        };
        let unavailable =
            tonic::Status::with_details(tonic::Code::Unavailable, "busy", details.encode_to_vec().into());
        // UNAVAILABLE: retry after the RetryInfo delay.
        assert!(
            matches!(classify(&unavailable), Answer::Retry { after: Some(d), .. } if d == Duration::from_secs(2))
        );
        // RESOURCE_EXHAUSTED without RetryInfo: permanent; INVALID_ARGUMENT: permanent.
        assert!(matches!(
            classify(&tonic::Status::resource_exhausted("too big")),
            Answer::Permanent(_)
        ));
        assert!(matches!(
            classify(&tonic::Status::invalid_argument("bad")),
            Answer::Permanent(_)
        ));
    }
}
