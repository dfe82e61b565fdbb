//! The three OTLP signals: decoding their protobuf requests and converting them to rows.
//! Also the storage `RecordDecoder` that turns WAL records back into rows at replay.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use slod_storage::{RecordDecoder, Table, WalRecord};

use crate::convert::{self, Converted};

/// An OTLP signal. The discriminant is the WAL record kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Traces = 1,
    Metrics = 2,
    Logs = 3,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    pub fn from_kind(kind: u8) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| *s as u8 == kind)
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// What one item of this signal is called in OTLP responses and metrics.
    pub fn item(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "data_points",
            Signal::Logs => "log_records",
        }
    }
}

/// A decoded request of any signal.
#[derive(Debug)]
pub enum Request {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

impl Request {
    pub fn decode_protobuf(signal: Signal, body: &[u8]) -> Result<Request, prost::DecodeError> {
        Ok(match signal {
            Signal::Traces => Request::Traces(ExportTraceServiceRequest::decode(body)?),
            Signal::Metrics => Request::Metrics(ExportMetricsServiceRequest::decode(body)?),
            Signal::Logs => Request::Logs(ExportLogsServiceRequest::decode(body)?),
        })
    }

    pub fn decode_json(signal: Signal, body: &[u8]) -> Result<Request, serde_json::Error> {
        Ok(match signal {
            Signal::Traces => Request::Traces(serde_json::from_slice(body)?),
            Signal::Metrics => Request::Metrics(serde_json::from_slice(body)?),
            Signal::Logs => Request::Logs(serde_json::from_slice(body)?),
        })
    }

    pub fn encode_protobuf(&self) -> Bytes {
        Bytes::from(match self {
            Request::Traces(r) => r.encode_to_vec(),
            Request::Metrics(r) => r.encode_to_vec(),
            Request::Logs(r) => r.encode_to_vec(),
        })
    }

    pub fn convert(&self, ingest_ns: i64) -> Result<Converted, arrow::error::ArrowError> {
        match self {
            Request::Traces(r) => convert::traces(r, ingest_ns),
            Request::Metrics(r) => convert::metrics(r, ingest_ns),
            Request::Logs(r) => convert::logs(r, ingest_ns),
        }
    }
}

/// Replays WAL records (raw OTLP protobuf requests) into rows, exactly as ingest did.
#[derive(Debug, Default, Clone, Copy)]
pub struct WalDecoder;

impl RecordDecoder for WalDecoder {
    fn decode(&self, record: &WalRecord) -> Result<Vec<(Table, arrow::record_batch::RecordBatch)>, String> {
        let signal =
            Signal::from_kind(record.kind).ok_or_else(|| format!("unknown record kind {}", record.kind))?;
        let req = Request::decode_protobuf(signal, &record.payload).map_err(|e| e.to_string())?;
        Ok(req
            .convert(record.ingest_time_ns)
            .map_err(|e| e.to_string())?
            .batches)
    }
}
