//! Export requests as a sender handles them: one type over the three signals, coalesced
//! across ticks and split so that no request holds more than a given number of items (what
//! the rate limiter and the receiver's request size limit want).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

use crate::sim::{Tick, point_count, record_count, span_count};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    /// OTLP/HTTP path.
    pub fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }
}

/// One export request.
#[derive(Debug, Clone, PartialEq)]
pub enum Export {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

impl Export {
    pub fn signal(&self) -> Signal {
        match self {
            Export::Traces(_) => Signal::Traces,
            Export::Metrics(_) => Signal::Metrics,
            Export::Logs(_) => Signal::Logs,
        }
    }

    /// Spans, data points or log records.
    pub fn items(&self) -> u64 {
        match self {
            Export::Traces(r) => span_count(r),
            Export::Metrics(r) => point_count(r),
            Export::Logs(r) => record_count(r),
        }
    }

    /// OTLP protobuf bytes.
    pub fn encode(&self) -> Vec<u8> {
        use prost::Message;
        match self {
            Export::Traces(r) => r.encode_to_vec(),
            Export::Metrics(r) => r.encode_to_vec(),
            Export::Logs(r) => r.encode_to_vec(),
        }
    }
}

/// Splits `resources` (each with its scopes and items) into chunks of at most `max` items.
fn chunk<R: Clone, S: Clone, I: Clone>(
    resources: Vec<R>,
    max: u64,
    scopes: impl Fn(&R) -> &Vec<S>,
    items: impl Fn(&S) -> Vec<I>,
    weight: impl Fn(&I) -> u64,
    rebuild_scope: impl Fn(&S, Vec<I>) -> S,
    rebuild_resource: impl Fn(&R, Vec<S>) -> R,
) -> Vec<Vec<R>> {
    let max = max.max(1);
    let mut out: Vec<Vec<R>> = Vec::new();
    let mut cur: Vec<R> = Vec::new();
    let mut n = 0u64;
    for r in &resources {
        let mut r_scopes: Vec<S> = Vec::new();
        for sc in scopes(r) {
            let mut part: Vec<I> = Vec::new();
            for it in items(sc) {
                let w = weight(&it);
                if n + w > max && n > 0 {
                    if !part.is_empty() {
                        r_scopes.push(rebuild_scope(sc, std::mem::take(&mut part)));
                    }
                    if !r_scopes.is_empty() {
                        cur.push(rebuild_resource(r, std::mem::take(&mut r_scopes)));
                    }
                    out.push(std::mem::take(&mut cur));
                    n = 0;
                }
                n += w;
                part.push(it);
            }
            if !part.is_empty() {
                r_scopes.push(rebuild_scope(sc, part));
            }
        }
        if !r_scopes.is_empty() {
            cur.push(rebuild_resource(r, r_scopes));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `e` as requests of at most `max` items (a single metric with more points stays whole).
pub fn split(e: Export, max: u64) -> Vec<Export> {
    if e.items() <= max {
        return vec![e];
    }
    match e {
        Export::Traces(r) => chunk(
            r.resource_spans,
            max,
            |r: &ResourceSpans| &r.scope_spans,
            |s: &ScopeSpans| s.spans.clone(),
            |_| 1,
            |s, spans| ScopeSpans { spans, ..s.clone() },
            |r, scope_spans| ResourceSpans {
                scope_spans,
                ..r.clone()
            },
        )
        .into_iter()
        .map(|resource_spans| Export::Traces(ExportTraceServiceRequest { resource_spans }))
        .collect(),
        Export::Metrics(r) => chunk(
            r.resource_metrics,
            max,
            |r: &ResourceMetrics| &r.scope_metrics,
            |s: &ScopeMetrics| s.metrics.clone(),
            |m| {
                point_count(&ExportMetricsServiceRequest {
                    resource_metrics: vec![ResourceMetrics {
                        scope_metrics: vec![ScopeMetrics {
                            metrics: vec![m.clone()],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                })
            },
            |s, metrics| ScopeMetrics { metrics, ..s.clone() },
            |r, scope_metrics| ResourceMetrics {
                scope_metrics,
                ..r.clone()
            },
        )
        .into_iter()
        .map(|resource_metrics| Export::Metrics(ExportMetricsServiceRequest { resource_metrics }))
        .collect(),
        Export::Logs(r) => chunk(
            r.resource_logs,
            max,
            |r: &ResourceLogs| &r.scope_logs,
            |s: &ScopeLogs| s.log_records.clone(),
            |_| 1,
            |s, log_records| ScopeLogs {
                log_records,
                ..s.clone()
            },
            |r, scope_logs| ResourceLogs {
                scope_logs,
                ..r.clone()
            },
        )
        .into_iter()
        .map(|resource_logs| Export::Logs(ExportLogsServiceRequest { resource_logs }))
        .collect(),
    }
}

/// Coalesces ticks into requests of up to `max` items per signal.
#[derive(Debug)]
pub struct Batcher {
    max: u64,
    traces: ExportTraceServiceRequest,
    metrics: ExportMetricsServiceRequest,
    logs: ExportLogsServiceRequest,
}

impl Batcher {
    pub fn new(max: u64) -> Batcher {
        Batcher {
            max: max.max(1),
            traces: Default::default(),
            metrics: Default::default(),
            logs: Default::default(),
        }
    }

    /// Adds a tick; returns the requests that are full.
    pub fn push(&mut self, tick: Tick) -> Vec<Export> {
        if let Some(t) = tick.traces {
            self.traces.resource_spans.extend(t.resource_spans);
        }
        if let Some(m) = tick.metrics {
            self.metrics.resource_metrics.extend(m.resource_metrics);
        }
        if let Some(l) = tick.logs {
            self.logs.resource_logs.extend(l.resource_logs);
        }
        let mut out = Vec::new();
        if span_count(&self.traces) >= self.max {
            out.extend(split(Export::Traces(std::mem::take(&mut self.traces)), self.max));
        }
        if point_count(&self.metrics) >= self.max {
            out.extend(split(
                Export::Metrics(std::mem::take(&mut self.metrics)),
                self.max,
            ));
        }
        if record_count(&self.logs) >= self.max {
            out.extend(split(Export::Logs(std::mem::take(&mut self.logs)), self.max));
        }
        out
    }

    /// Everything buffered.
    pub fn flush(&mut self) -> Vec<Export> {
        let mut out = Vec::new();
        for e in [
            Export::Traces(std::mem::take(&mut self.traces)),
            Export::Metrics(std::mem::take(&mut self.metrics)),
            Export::Logs(std::mem::take(&mut self.logs)),
        ] {
            if e.items() > 0 {
                out.extend(split(e, self.max));
            }
        }
        out
    }
}
