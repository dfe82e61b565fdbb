//! The in-memory buffer of durable, not-yet-flushed rows, and the committed file list.
//!
//! Both live under one lock so that a query's snapshot is consistent: a flush moves batches
//! from `active` to `frozen` (still visible), writes Parquet, then — in one critical section —
//! publishes the new files and drops the frozen batches. No row is ever missing or doubled.

use arrow::record_batch::RecordBatch;
use parking_lot::Mutex;
use std::collections::BTreeMap;

use crate::catalog::FileMeta;
use crate::schema::Table;

/// What a query of one table sees.
#[derive(Debug, Clone, Default)]
pub struct TableSnapshot {
    pub batches: Vec<RecordBatch>,
    pub files: Vec<FileMeta>,
}

/// Batches taken for one flush: every table's rows up to `max_seq`.
#[derive(Debug, Default)]
pub(crate) struct Frozen {
    pub tables: BTreeMap<Table, Vec<RecordBatch>>,
    pub max_seq: u64,
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct State {
    active: BTreeMap<Table, Vec<RecordBatch>>,
    frozen: BTreeMap<Table, Vec<RecordBatch>>,
    files: BTreeMap<Table, Vec<FileMeta>>,
    active_bytes: u64,
    frozen_bytes: u64,
    max_seq: u64,
    /// Ingest time of the oldest active batch, for flush-by-age.
    oldest_active_ns: Option<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct Memtable {
    state: Mutex<State>,
}

impl Memtable {
    pub(crate) fn new(files: Vec<FileMeta>, max_seq: u64) -> Memtable {
        let mut by_table: BTreeMap<Table, Vec<FileMeta>> = BTreeMap::new();
        for f in files {
            by_table.entry(f.table).or_default().push(f);
        }
        Memtable {
            state: Mutex::new(State {
                files: by_table,
                max_seq,
                ..Default::default()
            }),
        }
    }

    /// Adds one durable record's batches. Called by the WAL writer (and replay) in sequence
    /// order; `ingest_ns` is the record's ingest time, for flush-by-age.
    pub(crate) fn insert(&self, seq: u64, ingest_ns: i64, batches: Vec<(Table, RecordBatch)>) {
        let bytes: u64 = batches
            .iter()
            .map(|(_, b)| b.get_array_memory_size() as u64)
            .sum();
        let mut s = self.state.lock();
        s.max_seq = s.max_seq.max(seq);
        if batches.is_empty() {
            return;
        }
        s.active_bytes += bytes;
        if s.oldest_active_ns.is_none() {
            s.oldest_active_ns = Some(ingest_ns);
        }
        for (table, batch) in batches {
            if batch.num_rows() > 0 {
                s.active.entry(table).or_default().push(batch);
            }
        }
    }

    pub(crate) fn snapshot(&self, table: Table) -> TableSnapshot {
        let s = self.state.lock();
        let mut batches = s.frozen.get(&table).cloned().unwrap_or_default();
        batches.extend(s.active.get(&table).into_iter().flatten().cloned());
        TableSnapshot {
            batches,
            files: s.files.get(&table).cloned().unwrap_or_default(),
        }
    }

    /// Bytes held in memory, active and frozen.
    pub(crate) fn buffered_bytes(&self) -> u64 {
        let s = self.state.lock();
        s.active_bytes + s.frozen_bytes
    }

    pub(crate) fn active_stats(&self) -> (u64, Option<i64>) {
        let s = self.state.lock();
        (s.active_bytes, s.oldest_active_ns)
    }

    #[cfg(test)]
    pub(crate) fn max_seq(&self) -> u64 {
        self.state.lock().max_seq
    }

    /// Moves every active batch to `frozen` and returns a copy to write out.
    /// Only one flush runs at a time (the caller serialises flushes).
    pub(crate) fn freeze(&self) -> Frozen {
        let mut s = self.state.lock();
        let active = std::mem::take(&mut s.active);
        let moved = std::mem::take(&mut s.active_bytes);
        s.oldest_active_ns = None;
        s.frozen_bytes += moved;
        for (t, b) in &active {
            s.frozen.entry(*t).or_default().extend(b.iter().cloned());
        }
        Frozen {
            tables: active,
            max_seq: s.max_seq,
            bytes: moved,
        }
    }

    /// For each table with at least `min` active batches averaging fewer than `small_rows`
    /// rows, a copy of them (to be merged).
    pub(crate) fn coalesce_candidates(
        &self,
        min: usize,
        small_rows: usize,
    ) -> Vec<(Table, Vec<RecordBatch>)> {
        let s = self.state.lock();
        s.active
            .iter()
            .filter(|(_, b)| {
                let rows: usize = b.iter().map(|x| x.num_rows()).sum();
                b.len() >= min && rows < small_rows * b.len()
            })
            .map(|(t, b)| (*t, b.clone()))
            .collect()
    }

    /// Replaces the first `n` active batches of `table` with `merged` (same rows, tight
    /// buffers). Only called under the storage write lock, so no flush can have taken them;
    /// the WAL writer only appends after them.
    pub(crate) fn replace_prefix(&self, table: Table, n: usize, merged: RecordBatch) {
        let mut s = self.state.lock();
        let Some(active) = s.active.get_mut(&table) else {
            return;
        };
        if active.len() < n {
            return;
        }
        let old: u64 = active[..n].iter().map(|b| b.get_array_memory_size() as u64).sum();
        let new = merged.get_array_memory_size() as u64;
        active.splice(..n, [merged]);
        s.active_bytes = s.active_bytes.saturating_sub(old) + new;
    }

    /// Puts frozen batches back after a failed flush, ahead of newer rows.
    pub(crate) fn unfreeze(&self) {
        let mut s = self.state.lock();
        let frozen = std::mem::take(&mut s.frozen);
        let bytes = std::mem::take(&mut s.frozen_bytes);
        for (t, mut batches) in frozen {
            let newer = s.active.remove(&t).unwrap_or_default();
            batches.extend(newer);
            s.active.insert(t, batches);
        }
        s.active_bytes += bytes;
        if s.oldest_active_ns.is_none() && !s.active.is_empty() {
            s.oldest_active_ns = Some(i64::MIN);
        }
    }

    /// Publishes the committed file list and drops the frozen batches, atomically for readers.
    pub(crate) fn publish_flush(&self, files: Vec<FileMeta>, frozen_bytes: u64) {
        let mut s = self.state.lock();
        s.frozen.clear();
        s.frozen_bytes = s.frozen_bytes.saturating_sub(frozen_bytes);
        s.files = group(files);
    }

    /// Replaces the committed file list (compaction, retention).
    pub(crate) fn publish_files(&self, files: Vec<FileMeta>) {
        self.state.lock().files = group(files);
    }

    pub(crate) fn files(&self) -> Vec<FileMeta> {
        self.state.lock().files.values().flatten().cloned().collect()
    }
}

fn group(files: Vec<FileMeta>) -> BTreeMap<Table, Vec<FileMeta>> {
    let mut by_table: BTreeMap<Table, Vec<FileMeta>> = BTreeMap::new();
    for f in files {
        by_table.entry(f.table).or_default().push(f);
    }
    by_table
}
