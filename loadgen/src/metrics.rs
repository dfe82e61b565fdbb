//! Platform metrics, per function and minute, in the shapes they reach an OTLP endpoint:
//!
//! * CloudWatch `AWS/Lambda`, `AWS/SQS` and `AWS/States` through Metric Streams (OpenTelemetry
//!   1.0 format, reference §2.6): a Summary per metric and minute named
//!   `amazonaws.com/<Namespace>/<MetricName>`, attributes `Namespace`, `MetricName` and a
//!   `Dimensions` kvlist; q0 = Minimum, q1 = Maximum.
//! * The opentelemetry-lambda layer's telemetry-API receiver (§2.2): `faas.invocations`
//!   (successes only), `faas.errors`, `faas.timeouts`, `faas.coldstarts`,
//!   `faas.invoke_duration` (s, advisory buckets), `faas.init_duration`, `faas.mem_usage` (By),
//!   configured with `metrics_temporality: delta`.
//! * Queue depth as the python-sdk capture sends it: an int gauge the SDK lowercased to
//!   `approximatenumberofmessagesvisible`, unit `{message}`, attribute `QueueName`.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, Summary, SummaryDataPoint, metric::Data, number_data_point, summary_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::otlp::{kvlist, s};
use crate::scope::Scope;

/// `faas.invoke_duration` / `faas.init_duration` advisory buckets (seconds, semconv).
pub(crate) const SECONDS_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// `faas.mem_usage` buckets (bytes).
pub(crate) const BYTES_BOUNDS: [f64; 7] = [32e6, 64e6, 128e6, 256e6, 512e6, 1024e6, 2048e6];
/// Temporal core's `temporal_workflow_endtoend_latency` buckets (seconds, temporal/metrics-*).
pub(crate) const TEMPORAL_BOUNDS: [f64; 16] = [
    0.1, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 30600.0, 86400.0,
];

/// An explicit-bucket histogram being filled.
#[derive(Debug, Clone)]
pub(crate) struct Hist {
    bounds: &'static [f64],
    counts: Vec<u64>,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Hist {
    pub(crate) fn new(bounds: &'static [f64]) -> Hist {
        Hist {
            bounds,
            counts: vec![0; bounds.len() + 1],
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    pub(crate) fn record(&mut self, v: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get_mut(bucket) {
            *c += 1;
        }
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub(crate) fn point(&self, start: u64, end: u64, attributes: Vec<KeyValue>) -> HistogramDataPoint {
        HistogramDataPoint {
            attributes,
            start_time_unix_nano: start,
            time_unix_nano: end,
            count: self.count,
            sum: Some(self.sum),
            bucket_counts: self.counts.clone(),
            explicit_bounds: self.bounds.to_vec(),
            min: (self.count > 0).then_some(self.min),
            max: (self.count > 0).then_some(self.max),
            ..Default::default()
        }
    }
}

/// One function's minute, as the platform would count it.
#[derive(Debug, Clone)]
pub(crate) struct FnMinute {
    /// Invocations that ran (CloudWatch `Invocations`: errors included, throttles excluded).
    pub invocations: u64,
    /// Function errors including timeouts (CloudWatch `Errors`).
    pub errors: u64,
    pub timeouts: u64,
    pub throttles: u64,
    pub coldstarts: u64,
    /// Duration in seconds.
    pub duration: Hist,
    pub init: Hist,
    pub memory: Hist,
    pub max_concurrency: u64,
    /// Streams: age of the last record read, ms.
    pub iterator_age_ms: f64,
}

impl Default for FnMinute {
    fn default() -> Self {
        FnMinute {
            invocations: 0,
            errors: 0,
            timeouts: 0,
            throttles: 0,
            coldstarts: 0,
            duration: Hist::new(&SECONDS_BOUNDS),
            init: Hist::new(&SECONDS_BOUNDS),
            memory: Hist::new(&BYTES_BOUNDS),
            max_concurrency: 0,
            iterator_age_ms: 0.0,
        }
    }
}

/// A Metric Streams summary point: `count` samples summing to `sum`, min and max.
pub(crate) fn cw_point(
    ns: &str,
    name: &str,
    dims: Vec<KeyValue>,
    w: (u64, u64),
    stats: (u64, f64, f64, f64),
) -> SummaryDataPoint {
    let (count, sum, min, max) = stats;
    SummaryDataPoint {
        attributes: vec![
            s("Namespace", ns),
            s("MetricName", name),
            kvlist("Dimensions", dims),
        ],
        start_time_unix_nano: w.0,
        time_unix_nano: w.1,
        count,
        sum,
        quantile_values: vec![
            summary_data_point::ValueAtQuantile {
                quantile: 0.0,
                value: min,
            },
            summary_data_point::ValueAtQuantile {
                quantile: 1.0,
                value: max,
            },
        ],
        ..Default::default()
    }
}

/// Metric Streams points grouped into one `Metric` per name, in first-seen order.
#[derive(Debug, Default)]
pub(crate) struct Summaries {
    metrics: Vec<Metric>,
}

impl Summaries {
    pub(crate) fn add(&mut self, ns: &str, name: &str, unit: &str, p: SummaryDataPoint) {
        let full = format!("amazonaws.com/{ns}/{name}");
        if let Some(m) = self.metrics.iter_mut().find(|m| m.name == full)
            && let Some(Data::Summary(sm)) = &mut m.data
        {
            sm.data_points.push(p);
            return;
        }
        self.metrics.push(Metric {
            name: full,
            unit: unit.into(),
            data: Some(Data::Summary(Summary { data_points: vec![p] })),
            ..Default::default()
        });
    }

    pub(crate) fn finish(self) -> Vec<Metric> {
        self.metrics
    }
}

/// CloudWatch `AWS/Lambda` points of one function's minute (no point when nothing happened,
/// as CloudWatch omits empty sparse metrics).
pub(crate) fn lambda_cloudwatch(
    out: &mut Summaries,
    function: &str,
    m: &FnMinute,
    w: (u64, u64),
    stream: bool,
) {
    let dims = || vec![s("FunctionName", function)];
    let ns = "AWS/Lambda";
    let n = m.invocations;
    if n > 0 {
        out.add(
            ns,
            "Invocations",
            "{Count}",
            cw_point(ns, "Invocations", dims(), w, (n, n as f64, 1.0, 1.0)),
        );
        let e = m.errors as f64;
        let emax = if m.errors > 0 { 1.0 } else { 0.0 };
        out.add(
            ns,
            "Errors",
            "{Count}",
            cw_point(ns, "Errors", dims(), w, (n, e, 0.0, emax)),
        );
        let d = &m.duration;
        out.add(
            ns,
            "Duration",
            "ms",
            cw_point(
                ns,
                "Duration",
                dims(),
                w,
                (d.count, d.sum * 1e3, d.min * 1e3, d.max * 1e3),
            ),
        );
        let c = m.max_concurrency as f64;
        out.add(
            ns,
            "ConcurrentExecutions",
            "{Count}",
            cw_point(ns, "ConcurrentExecutions", dims(), w, (1, c, c, c)),
        );
        if stream {
            let a = m.iterator_age_ms;
            out.add(
                ns,
                "IteratorAge",
                "ms",
                cw_point(ns, "IteratorAge", dims(), w, (1, a, a, a)),
            );
        }
    }
    if m.throttles > 0 {
        let t = m.throttles;
        out.add(
            ns,
            "Throttles",
            "{Count}",
            cw_point(ns, "Throttles", dims(), w, (t, t as f64, 1.0, 1.0)),
        );
    }
}

fn delta_sum(name: &str, unit: &str, v: u64, w: (u64, u64)) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                start_time_unix_nano: w.0,
                time_unix_nano: w.1,
                value: Some(number_data_point::Value::AsInt(v as i64)),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

pub(crate) fn histogram(
    name: &str,
    unit: &str,
    points: Vec<HistogramDataPoint>,
    temporality: AggregationTemporality,
) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: temporality as i32,
        })),
        ..Default::default()
    }
}

/// The Lambda layer's telemetry-API metrics for one function's minute (no data-point
/// attributes, as the receiver sends none).
pub(crate) fn lambda_layer(m: &FnMinute, w: (u64, u64)) -> Vec<Metric> {
    let successes = m.invocations.saturating_sub(m.errors);
    let mut out = vec![
        delta_sum("faas.invocations", "{invocation}", successes, w),
        delta_sum("faas.errors", "{error}", m.errors - m.timeouts.min(m.errors), w),
        delta_sum("faas.timeouts", "{timeout}", m.timeouts, w),
        delta_sum("faas.coldstarts", "{coldstart}", m.coldstarts, w),
        histogram(
            "faas.invoke_duration",
            "s",
            vec![m.duration.point(w.0, w.1, vec![])],
            AggregationTemporality::Delta,
        ),
        histogram(
            "faas.mem_usage",
            "By",
            vec![m.memory.point(w.0, w.1, vec![])],
            AggregationTemporality::Delta,
        ),
    ];
    if m.init.count > 0 {
        out.push(histogram(
            "faas.init_duration",
            "s",
            vec![m.init.point(w.0, w.1, vec![])],
            AggregationTemporality::Delta,
        ));
    }
    out
}

/// The queue monitor's gauge: one int point per queue.
pub(crate) fn queue_depth(depths: &[(String, i64)], time: u64) -> Metric {
    Metric {
        name: "approximatenumberofmessagesvisible".into(),
        unit: "{message}".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: depths
                .iter()
                .map(|(q, d)| NumberDataPoint {
                    attributes: vec![s("QueueName", q)],
                    time_unix_nano: time,
                    value: Some(number_data_point::Value::AsInt(*d)),
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    }
}

/// A cumulative int counter with one point.
pub(crate) fn cumulative(name: &str, attributes: Vec<KeyValue>, v: u64, w: (u64, u64)) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                attributes,
                start_time_unix_nano: w.0,
                time_unix_nano: w.1,
                value: Some(number_data_point::Value::AsInt(v as i64)),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

/// One export request from `(resource, scope, metrics)` groups; `None` when empty.
pub(crate) fn request(groups: Vec<(Resource, Scope, Vec<Metric>)>) -> Option<ExportMetricsServiceRequest> {
    let resource_metrics: Vec<ResourceMetrics> = groups
        .into_iter()
        .filter(|(_, _, m)| !m.is_empty())
        .map(|(resource, scope, metrics)| {
            let (scope, schema) = scope.message();
            ResourceMetrics {
                resource: Some(resource),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope),
                    metrics,
                    schema_url: schema.into(),
                }],
                schema_url: String::new(),
            }
        })
        .collect();
    (!resource_metrics.is_empty()).then_some(ExportMetricsServiceRequest { resource_metrics })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_upper_inclusive_with_an_overflow_bucket() {
        let mut h = Hist::new(&SECONDS_BOUNDS);
        // 0.005 → first bucket (le 0.005); 0.3 → (0.25, 0.5]; 11 → overflow.
        for v in [0.005, 0.3, 11.0] {
            h.record(v);
        }
        let p = h.point(0, 1, vec![]);
        assert_eq!(p.bucket_counts.len(), SECONDS_BOUNDS.len() + 1);
        assert_eq!(p.bucket_counts[0], 1);
        assert_eq!(p.bucket_counts[7], 1);
        assert_eq!(p.bucket_counts[14], 1);
        assert_eq!((p.count, p.min, p.max), (3, Some(0.005), Some(11.0)));
    }
}
