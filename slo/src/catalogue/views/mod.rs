//! The catalogue's views: SQL over the storage tables (and earlier views), in dependency
//! order. One file per family.

mod invocations;
mod metrics;
mod workflows;

pub use workflows::QUIET_PERIOD_MINUTES;

/// A view: its name, a one-line description and its defining query.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub name: &'static str,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Every view, in dependency order (a view only reads tables and views listed before it).
pub const VIEWS: &[View] = &[
    invocations::INVOCATIONS,
    metrics::METRIC_SAMPLES,
    metrics::METRIC_HISTOGRAMS,
    metrics::FUNCTION_METRICS_1M,
    metrics::QUEUE_DEPTH_1M,
    workflows::WORKFLOW_EXECUTIONS,
];
