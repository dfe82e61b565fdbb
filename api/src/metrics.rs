//! Query self-telemetry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct QueryLabels {
    pub interface: &'static str,
    pub outcome: &'static str,
}

#[derive(Debug)]
pub struct ApiMetrics {
    pub(crate) queries: Family<QueryLabels, Counter>,
    pub(crate) query_seconds: Family<QueryLabels, Histogram>,
}

impl ApiMetrics {
    pub fn new(registry: &mut Registry) -> ApiMetrics {
        let m = ApiMetrics {
            queries: Family::default(),
            query_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            }),
        };
        registry.register(
            "slod_query_queries",
            "SQL queries run, by interface and outcome",
            m.queries.clone(),
        );
        registry.register(
            "slod_query_duration_seconds",
            "SQL query latency, by interface and outcome",
            m.query_seconds.clone(),
        );
        m
    }
}
