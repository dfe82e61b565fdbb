//! Storage self-telemetry (names follow `slod_<subsystem>_<object>_<unit>[_total]`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StageLabel {
    pub stage: &'static str,
}

#[derive(Debug)]
pub struct StorageMetrics {
    /// Time in each step of writing Parquet (flush and compaction): `sort`, `encode`.
    pub(crate) write_stage_seconds: Family<StageLabel, Counter<f64>>,
    pub(crate) wal_fsync_seconds: Histogram,
    pub(crate) wal_records: Counter,
    pub(crate) wal_replayed_records: Counter,
    pub(crate) wal_torn_tails: Counter,
    pub(crate) flushes: Counter,
    pub(crate) flushed_rows: Counter,
    pub(crate) flush_seconds: Histogram,
    pub(crate) compactions: Counter,
    pub(crate) compacted_files: Counter,
    pub(crate) retention_removed_files: Counter,
    pub(crate) buffered_bytes: Gauge,
    pub(crate) parquet_files: Gauge,
}

impl StorageMetrics {
    pub fn new(registry: &mut Registry) -> StorageMetrics {
        let m = StorageMetrics {
            write_stage_seconds: Family::default(),
            wal_fsync_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            wal_records: Counter::default(),
            wal_replayed_records: Counter::default(),
            wal_torn_tails: Counter::default(),
            flushes: Counter::default(),
            flushed_rows: Counter::default(),
            flush_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            compactions: Counter::default(),
            compacted_files: Counter::default(),
            retention_removed_files: Counter::default(),
            buffered_bytes: Gauge::default(),
            parquet_files: Gauge::default(),
        };
        registry.register(
            "slod_wal_fsync_duration_seconds",
            "Time to write and fsync one group commit",
            m.wal_fsync_seconds.clone(),
        );
        registry.register(
            "slod_storage_write_stage_seconds",
            "Seconds spent in each step of writing Parquet files (sort, encode)",
            m.write_stage_seconds.clone(),
        );
        registry.register(
            "slod_wal_records",
            "Records appended to the WAL",
            m.wal_records.clone(),
        );
        registry.register(
            "slod_wal_replayed_records",
            "WAL records replayed at start",
            m.wal_replayed_records.clone(),
        );
        registry.register(
            "slod_wal_torn_tails",
            "Torn or corrupt WAL tails found (and truncated) at start",
            m.wal_torn_tails.clone(),
        );
        registry.register(
            "slod_storage_flushes",
            "Memtable flushes to Parquet",
            m.flushes.clone(),
        );
        registry.register(
            "slod_storage_flushed_rows",
            "Rows written to Parquet by flushes",
            m.flushed_rows.clone(),
        );
        registry.register(
            "slod_storage_flush_duration_seconds",
            "Time to write and commit one flush",
            m.flush_seconds.clone(),
        );
        registry.register(
            "slod_storage_compactions",
            "Compactions committed",
            m.compactions.clone(),
        );
        registry.register(
            "slod_storage_compacted_files",
            "Parquet files merged away by compaction",
            m.compacted_files.clone(),
        );
        registry.register(
            "slod_storage_retention_removed_files",
            "Parquet files dropped by retention",
            m.retention_removed_files.clone(),
        );
        registry.register(
            "slod_storage_buffered_bytes",
            "Bytes of rows held in memory, not yet in Parquet",
            m.buffered_bytes.clone(),
        );
        registry.register(
            "slod_storage_parquet_files",
            "Parquet files in the manifest",
            m.parquet_files.clone(),
        );
        m
    }
}
