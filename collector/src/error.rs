//! Ingest errors and their classes (user, transient, internal), mapped once to HTTP and gRPC.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// User error: the payload cannot be decoded. Not retryable.
    #[error("{0}")]
    BadRequest(String),
    /// User error: the body is larger than the limit after decompression. Not retryable.
    #[error(
        "request body exceeds {limit} bytes after decompression; send smaller batches (e.g. lower the exporter's max batch size)"
    )]
    TooLarge { limit: usize },
    #[error("unsupported content type {0:?}: send application/x-protobuf or application/json")]
    UnsupportedMediaType(String),
    #[error("unsupported content encoding {0:?}: use gzip, deflate, zstd or none")]
    UnsupportedEncoding(String),
    /// User error: a token is configured and the request did not carry it.
    #[error(
        "missing or wrong bearer token: send 'Authorization: Bearer <token>' with the token from the environment variable named by server.ingest_token_env"
    )]
    Unauthenticated,
    /// Transient: memory or WAL backlog is over its limit. Retry after the hint.
    #[error("slod is over its ingest buffer limit; retry after {}s", retry_after.as_secs())]
    Backpressure { retry_after: Duration },
    /// Transient: storage cannot accept writes right now (shutdown, WAL failure).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A bug: input must never reach this.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<slod_storage::Error> for IngestError {
    fn from(e: slod_storage::Error) -> IngestError {
        match e {
            slod_storage::Error::BufferFull { .. } => IngestError::Backpressure {
                retry_after: Duration::from_secs(1),
            },
            slod_storage::Error::ShuttingDown | slod_storage::Error::WalFailed => {
                IngestError::Unavailable(e.to_string())
            }
            other => IngestError::Internal(other.to_string()),
        }
    }
}

impl IngestError {
    /// A bounded label for the refused-items metric.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::BadRequest(_) => "bad_request",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngestError::UnsupportedEncoding(_) => "unsupported_encoding",
            IngestError::Unauthenticated => "unauthenticated",
            IngestError::Backpressure { .. } => "backpressure",
            IngestError::Unavailable(_) => "unavailable",
            IngestError::Internal(_) => "internal",
        }
    }
}
