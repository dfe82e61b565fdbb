//! slod storage: the table schemas, the write-ahead log, the in-memory buffer, Parquet files,
//! compaction, retention and the DataFusion tables over them.
//!
//! Bottom of the DESIGN §1 diagram: every other crate writes or reads telemetry through
//! [`Storage`]. It knows nothing of OTLP (payloads are opaque bytes plus Arrow batches) and
//! depends on no other slod crate.
//!
//! Durability contract: [`Storage::append`] returns only after the request is in the WAL and
//! fsynced; its rows are then visible to queries. A WAL segment is deleted only after a
//! committed manifest lists Parquet files holding all of its rows. See `storage/README.md`.

mod catalog;
mod clock;
mod error;
mod failpoint;
mod flush;
mod maintenance;
mod memtable;
mod metrics;
mod prune;
mod schema;
mod store;
mod table;
mod wal;

pub use catalog::FileMeta;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use memtable::TableSnapshot;
pub use metrics::StorageMetrics;
pub use schema::{
    RESOURCE_COLUMNS, Table, event_fields, link_fields, quantile_fields, string_map_type, timestamp_type,
};
pub use store::{RecordDecoder, Storage, StorageOptions};
pub use table::{SnapshotTable, register_tables};
pub use wal::{ReplayReport, WalRecord};
