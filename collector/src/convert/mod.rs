//! OTLP requests → Arrow batches of the storage tables, normalising on the way
//! (one pass over the decoded request, no intermediate JSON or row structs).

mod attrs;
mod logs;
mod metrics;
mod resource;
mod spans;

use arrow::record_batch::RecordBatch;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use slod_storage::Table;

/// Items refused inside an otherwise valid request (OTLP `partial_success`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rejections {
    pub count: u64,
    /// The first reason, which the response carries as `error_message`.
    pub first: Option<String>,
}

impl Rejections {
    pub(crate) fn add(&mut self, why: String) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(why);
        }
    }
}

/// The rows of one request.
#[derive(Debug, Default)]
pub struct Converted {
    pub batches: Vec<(Table, RecordBatch)>,
    pub accepted: u64,
    pub rejected: Rejections,
}

pub fn traces(
    req: &ExportTraceServiceRequest,
    ingest_ns: i64,
) -> Result<Converted, arrow::error::ArrowError> {
    spans::convert(req, ingest_ns)
}

pub fn metrics(
    req: &ExportMetricsServiceRequest,
    ingest_ns: i64,
) -> Result<Converted, arrow::error::ArrowError> {
    metrics::convert(req, ingest_ns)
}

pub fn logs(req: &ExportLogsServiceRequest, ingest_ns: i64) -> Result<Converted, arrow::error::ArrowError> {
    logs::convert(req, ingest_ns)
}

#[cfg(test)]
mod tests;
