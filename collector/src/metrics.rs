//! Collector self-telemetry: the accepted / refused triad per signal (OTel Collector style).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SignalLabel {
    pub signal: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RefusedLabels {
    pub signal: &'static str,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub signal: &'static str,
    pub transport: &'static str,
}

#[derive(Debug)]
pub struct CollectorMetrics {
    /// Items stored (spans, data points, log records).
    pub(crate) accepted: Family<SignalLabel, Counter>,
    /// Items refused, by reason (bad items in partial success, or whole refused requests).
    pub(crate) refused: Family<RefusedLabels, Counter>,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) request_bytes: Family<SignalLabel, Counter>,
    pub(crate) ack_seconds: Family<SignalLabel, Histogram>,
}

impl CollectorMetrics {
    pub fn new(registry: &mut Registry) -> CollectorMetrics {
        let m = CollectorMetrics {
            accepted: Family::default(),
            refused: Family::default(),
            requests: Family::default(),
            request_bytes: Family::default(),
            ack_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0005, 2.0, 16))
            }),
        };
        registry.register(
            "slod_collector_accepted_items",
            "Telemetry items (spans, data points, log records) durably stored",
            m.accepted.clone(),
        );
        registry.register(
            "slod_collector_refused_items",
            "Telemetry items refused, by reason",
            m.refused.clone(),
        );
        registry.register(
            "slod_collector_requests",
            "Export requests received",
            m.requests.clone(),
        );
        registry.register(
            "slod_collector_request_bytes",
            "Decompressed bytes of export requests",
            m.request_bytes.clone(),
        );
        registry.register(
            "slod_collector_ack_duration_seconds",
            "Time from request received to durable acknowledgement",
            m.ack_seconds.clone(),
        );
        m
    }
}
