//! The storage error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write-ahead log is unavailable after an earlier fsync failure; restart slod")]
    WalFailed,
    #[error("write-ahead log segment {path} has a bad header; it is not a slod WAL file")]
    SegmentHeader { path: PathBuf },
    #[error("storage is shutting down")]
    ShuttingDown,
    #[error("buffer full: {buffered_bytes} bytes buffered, limit {limit_bytes}; retry later")]
    BufferFull { buffered_bytes: u64, limit_bytes: u64 },
    #[error("manifest {path} is corrupt: {reason}")]
    ManifestCorrupt { path: PathBuf, reason: String },
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("query engine error: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("decoding WAL record {seq} failed: {reason}")]
    Replay { seq: u64, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
