//! The catalogue's views: SQL over the storage tables (and earlier views), in dependency
//! order. One file per family.

mod calls;
mod functions;
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
    functions::FUNCTION_CONCURRENCY_1M,
    functions::RETRIES_1M,
    functions::FUNCTION_MINUTE,
    functions::FUNCTION_ERRORS_1M,
    functions::MEMORY_1M,
    functions::FUNCTION_COST_1M,
    functions::DEPLOYMENTS,
    calls::DOWNSTREAM_CALLS_1M,
    calls::AUTH_FAILURES_1M,
    calls::DLQ_MESSAGES_1M,
    workflows::WORKFLOW_EXECUTIONS,
    workflows::WORKFLOW_MINUTE,
];
