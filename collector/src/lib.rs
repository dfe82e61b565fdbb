//! slod collector: OTLP receivers (gRPC and HTTP), decoding, normalisation of serverless
//! semantic conventions into storage rows, and backpressure.
//!
//! Left of storage in the DESIGN §1 diagram: it depends on `slod-storage` only and hands it
//! Arrow batches plus the raw request for the WAL. Receivers share one [`Ingest`] pipeline:
//! decode → convert (normalise) → WAL with fsync → acknowledge.

mod body;
pub mod convert;
mod error;
pub mod grpc;
pub mod http;
mod ingest;
mod metrics;
mod normalise;
pub mod rpc;
mod signal;

pub use error::IngestError;
pub use ingest::{Encoding, Ingest, Outcome};
pub use metrics::CollectorMetrics;
pub use signal::{Request, Signal, WalDecoder};
