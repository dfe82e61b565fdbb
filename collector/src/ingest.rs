//! The ingest pipeline shared by every receiver: decode → convert → WAL (fsync) → ack.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use slod_storage::Storage;

use crate::convert::Rejections;
use crate::error::IngestError;
use crate::metrics::{CollectorMetrics, RefusedLabels, RequestLabels, SignalLabel};
use crate::signal::{Request, Signal};

/// Payload encodings the receivers accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

/// The outcome of one accepted request (OTLP `partial_success` when `rejected.count > 0`).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub accepted: u64,
    pub rejected: Rejections,
}

/// Shared by the gRPC and HTTP receivers.
#[derive(Debug, Clone)]
pub struct Ingest {
    storage: Storage,
    metrics: Arc<CollectorMetrics>,
    pub(crate) max_request_bytes: usize,
    /// When set, every request must carry this bearer token.
    token: Option<Arc<str>>,
}

impl Ingest {
    pub fn new(
        storage: Storage,
        metrics: Arc<CollectorMetrics>,
        max_request_bytes: usize,
        token: Option<String>,
    ) -> Ingest {
        Ingest {
            storage,
            metrics,
            max_request_bytes,
            token: token.map(Arc::from),
        }
    }

    /// Checks the bearer token, when one is configured (constant-time compare).
    pub fn authorize(&self, presented: Option<&str>) -> Result<(), IngestError> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let ok = presented.is_some_and(|p| {
            p.len() == expected.len()
                && p.bytes()
                    .zip(expected.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if ok {
            Ok(())
        } else {
            Err(IngestError::Unauthenticated)
        }
    }

    /// Stores one decompressed request; returns once it is durable.
    pub async fn export(
        &self,
        signal: Signal,
        encoding: Encoding,
        transport: &'static str,
        body: Bytes,
    ) -> Result<Outcome, IngestError> {
        let started = Instant::now();
        let label = SignalLabel {
            signal: signal.name(),
        };
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                signal: signal.name(),
                transport,
            })
            .inc();
        self.metrics
            .request_bytes
            .get_or_create(&label)
            .inc_by(body.len() as u64);
        let result = self.store(signal, encoding, body).await;
        match &result {
            Ok(outcome) => {
                self.metrics
                    .accepted
                    .get_or_create(&label)
                    .inc_by(outcome.accepted);
                if outcome.rejected.count > 0 {
                    self.refused(signal, "invalid_item", outcome.rejected.count);
                }
                self.metrics
                    .ack_seconds
                    .get_or_create(&label)
                    .observe(started.elapsed().as_secs_f64());
            }
            Err(err) => self.refused(signal, err.reason(), 1),
        }
        result
    }

    fn refused(&self, signal: Signal, reason: &'static str, n: u64) {
        self.metrics
            .refused
            .get_or_create(&RefusedLabels {
                signal: signal.name(),
                reason,
            })
            .inc_by(n);
    }

    async fn store(&self, signal: Signal, encoding: Encoding, body: Bytes) -> Result<Outcome, IngestError> {
        // Refuse before decoding when over the buffer limit: backpressure must be cheap.
        self.storage.check_capacity()?;
        let (request, payload) = match encoding {
            Encoding::Protobuf => {
                let req = Request::decode_protobuf(signal, &body).map_err(|e| {
                    IngestError::BadRequest(format!("invalid OTLP protobuf {} request: {e}", signal.name()))
                })?;
                (req, body)
            }
            Encoding::Json => {
                let req = Request::decode_json(signal, &body).map_err(|e| {
                    IngestError::BadRequest(format!("invalid OTLP JSON {} request: {e}", signal.name()))
                })?;
                // The WAL holds protobuf only, so replay has one decoder.
                let payload = req.encode_protobuf();
                (req, payload)
            }
        };
        let ingest_ns = self.storage.now_ns();
        let converted = request
            .convert(ingest_ns)
            .map_err(|e| IngestError::Internal(e.to_string()))?;
        if !converted.batches.is_empty() {
            self.storage
                .append(signal as u8, ingest_ns, payload, converted.batches)
                .await?;
        }
        Ok(Outcome {
            accepted: converted.accepted,
            rejected: converted.rejected,
        })
    }
}
