//! The storage facade: open (replay), append, flush, maintenance, shutdown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use tracing::{debug, info, warn};

use crate::catalog::{Catalog, FileMeta, Manifest};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::flush;
use crate::memtable::{Memtable, TableSnapshot};
use crate::metrics::StorageMetrics;
use crate::schema::Table;
use crate::wal::{self, ReplayReport, Wal, WalOptions, WalRecord};

/// Runtime storage settings (built from the `storage:` and `limits:` config sections).
#[derive(Debug, Clone)]
pub struct StorageOptions {
    pub data_dir: PathBuf,
    /// Flush when the memtable holds this many bytes…
    pub flush_max_bytes: u64,
    /// …or when its oldest row has waited this long.
    pub flush_interval: Duration,
    /// How long the WAL writer waits for more requests to share one fsync.
    pub wal_group_commit: Duration,
    pub wal_segment_max_bytes: u64,
    /// Drop hour partitions that ended longer ago than this.
    pub retention: Option<Duration>,
    /// Refuse writes (retryable) while this many bytes are buffered in memory.
    pub max_buffered_bytes: u64,
    /// Merge an hour partition's files once it has this many small ones.
    pub compaction_min_files: usize,
    /// Upper bound on rows in one compacted file (bounds compaction memory).
    pub compaction_max_rows: u64,
    /// Replaced files are deleted this long after they leave the manifest, so queries that
    /// planned with them can finish.
    pub file_grace: Duration,
    /// How often compaction and retention run (and once right at start).
    pub maintenance_interval: Duration,
}

impl StorageOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> StorageOptions {
        StorageOptions {
            data_dir: data_dir.into(),
            flush_max_bytes: 64 << 20,
            flush_interval: Duration::from_secs(60),
            wal_group_commit: Duration::from_millis(2),
            wal_segment_max_bytes: 64 << 20,
            retention: Some(Duration::from_secs(30 * 86_400)),
            max_buffered_bytes: 512 << 20,
            compaction_min_files: 4,
            // About one row group: bounds compaction memory to one such file and its sorted copy.
            compaction_max_rows: 131_072,
            file_grace: Duration::from_secs(60),
            maintenance_interval: Duration::from_secs(10),
        }
    }
}

/// Turns a WAL record back into rows (storage does not know what the payload is).
pub trait RecordDecoder: Send + Sync {
    fn decode(&self, record: &WalRecord) -> std::result::Result<Vec<(Table, RecordBatch)>, String>;
}

/// The storage engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Storage {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) opts: StorageOptions,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) memtable: Arc<Memtable>,
    wal: Wal,
    pub(crate) catalog: Catalog,
    /// The committed manifest; changed only under `write_lock`.
    pub(crate) manifest: Mutex<Manifest>,
    /// Serialises flush, compaction and retention (every manifest change).
    pub(crate) write_lock: tokio::sync::Mutex<()>,
    pub(crate) metrics: Arc<StorageMetrics>,
    /// Files that left the manifest, with the time after which they may be deleted.
    pub(crate) graveyard: Mutex<Vec<(i64, PathBuf)>>,
}

impl Storage {
    /// Opens the data directory: loads the manifest, removes leftovers of interrupted
    /// changes, replays the WAL into the memtable and starts the WAL writer.
    pub fn open(
        opts: StorageOptions,
        clock: Arc<dyn Clock>,
        registry: &mut Registry,
        decoder: &dyn RecordDecoder,
    ) -> Result<(Storage, ReplayReport)> {
        let metrics = Arc::new(StorageMetrics::new(registry));
        std::fs::create_dir_all(&opts.data_dir).map_err(crate::error::io(&opts.data_dir))?;
        let catalog = Catalog::new(&opts.data_dir);
        let manifest = catalog.load()?;
        catalog.remove_orphans(&manifest)?;
        let memtable = Arc::new(Memtable::new(manifest.files.clone(), manifest.flushed_seq));
        let wal_dir = opts.data_dir.join("wal");
        let mut bad = 0u64;
        let report = wal::replay(&wal_dir, manifest.flushed_seq, |rec| match decoder.decode(&rec) {
            Ok(batches) => memtable.insert(rec.seq, rec.ingest_time_ns, batches),
            Err(reason) => {
                bad += 1;
                warn!(seq = rec.seq, %reason, "wal record could not be decoded; skipped");
            }
        })?;
        metrics.wal_replayed_records.inc_by(report.records);
        metrics.wal_torn_tails.inc_by(report.torn.len() as u64);
        metrics.parquet_files.set(manifest.files.len() as i64);
        if report.records > 0 || !report.torn.is_empty() {
            info!(
                records = report.records,
                undecodable = bad,
                already_flushed = report.already_flushed,
                torn_tails = report.torn.len(),
                "wal replayed"
            );
        }
        let next_seq = report.max_seq.max(manifest.flushed_seq) + 1;
        let wal = Wal::start(
            WalOptions {
                dir: wal_dir,
                group_commit: opts.wal_group_commit,
                segment_max_bytes: opts.wal_segment_max_bytes,
            },
            next_seq,
            memtable.clone(),
            metrics.clone(),
        )?;
        let inner = Arc::new(Inner {
            catalog,
            manifest: Mutex::new(manifest),
            memtable,
            wal,
            clock,
            write_lock: tokio::sync::Mutex::new(()),
            metrics,
            graveyard: Mutex::new(Vec::new()),
            opts,
        });
        Ok((Storage { inner }, report))
    }

    /// The Parquet files the committed manifest of `data_dir` lists, read without opening the
    /// store: no WAL replay, nothing written, so offline tools (`slod backtest --from-store`)
    /// may read a data directory a running daemon owns. Rows still only in the WAL are not
    /// included. Files a compaction replaces stay on disk for a grace period, so a reader of
    /// this list does not lose them mid-read.
    pub fn committed_files(data_dir: &std::path::Path) -> Result<Vec<crate::FileMeta>> {
        Ok(crate::catalog::Catalog::new(data_dir).load()?.files)
    }

    /// Fails fast (retryable) when the buffer is over its limit, before any work is done.
    pub fn check_capacity(&self) -> Result<()> {
        let buffered = self.inner.memtable.buffered_bytes();
        self.inner.metrics.buffered_bytes.set(buffered as i64);
        if buffered >= self.inner.opts.max_buffered_bytes {
            return Err(Error::BufferFull {
                buffered_bytes: buffered,
                limit_bytes: self.inner.opts.max_buffered_bytes,
            });
        }
        Ok(())
    }

    /// Durably appends one request: returns after its WAL record is fsynced and its rows are
    /// visible to queries. `payload` is what replay hands back to the [`RecordDecoder`].
    /// `ingest_ns` is the time the rows were stamped with; replay hands it back.
    pub async fn append(
        &self,
        kind: u8,
        ingest_ns: i64,
        payload: Bytes,
        batches: Vec<(Table, RecordBatch)>,
    ) -> Result<u64> {
        self.check_capacity()?;
        self.inner.wal.append(kind, ingest_ns, payload, batches).await
    }

    pub fn now_ns(&self) -> i64 {
        self.inner.clock.now_ns()
    }

    /// A consistent view of one table: in-memory batches plus committed files.
    pub fn snapshot(&self, table: Table) -> TableSnapshot {
        self.inner.memtable.snapshot(table)
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.inner.opts.data_dir
    }

    pub fn files(&self) -> Vec<FileMeta> {
        self.inner.memtable.files()
    }

    pub fn buffered_bytes(&self) -> u64 {
        self.inner.memtable.buffered_bytes()
    }

    /// True when the memtable is over its size or age threshold.
    pub fn flush_due(&self) -> bool {
        let (bytes, oldest) = self.inner.memtable.active_stats();
        let age_due = oldest.is_some_and(|t| {
            self.inner.clock.now_ns().saturating_sub(t) >= self.inner.opts.flush_interval.as_nanos() as i64
        });
        bytes >= self.inner.opts.flush_max_bytes || age_due
    }

    /// Writes every buffered row to Parquet, commits the manifest and deletes the WAL
    /// segments it covers. Returns the number of rows flushed.
    pub async fn flush(&self) -> Result<u64> {
        let _guard = self.inner.write_lock.lock().await;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.flush_blocking())
            .await
            .map_err(|e| Error::Io {
                path: PathBuf::from("flush task"),
                source: std::io::Error::other(e.to_string()),
            })?
    }

    /// Compaction, retention and deferred deletes; one pass.
    pub async fn maintain(&self) -> Result<()> {
        let _guard = self.inner.write_lock.lock().await;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            inner.apply_retention()?;
            inner.compact()?;
            inner.empty_graveyard(false);
            Ok(())
        })
        .await
        .map_err(|e| Error::Io {
            path: PathBuf::from("maintenance task"),
            source: std::io::Error::other(e.to_string()),
        })?
    }

    /// Runs flushes (when due) and maintenance until `stop` resolves, then flushes once more.
    pub async fn run_background(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        // The first pass runs at once, so a restart applies retention before anything else.
        let mut last_maintenance: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            if self.flush_due() {
                if let Err(err) = self.flush().await {
                    warn!(error = %err, "flush failed; rows stay in the WAL and memory, retrying");
                }
            } else if self.inner.memtable.active_stats().0 < self.inner.opts.flush_max_bytes / 2 {
                // Merging is for trickles of tiny requests; near a flush it would only copy.
                self.coalesce().await;
            }
            if last_maintenance.is_none_or(|t| t.elapsed() >= self.inner.opts.maintenance_interval) {
                last_maintenance = Some(Instant::now());
                if let Err(err) = self.maintain().await {
                    warn!(error = %err, "maintenance failed; will retry");
                }
            }
        }
    }

    /// Merges runs of small in-memory batches (one per request) into one: exporters send
    /// many small requests, and each batch carries builder slack and per-batch scan cost.
    pub async fn coalesce(&self) {
        let _guard = self.inner.write_lock.lock().await;
        let inner = self.inner.clone();
        let merged = tokio::task::spawn_blocking(move || {
            for (table, batches) in inner.memtable.coalesce_candidates(16, 1024) {
                match arrow::compute::concat_batches(&table.schema(), &batches) {
                    Ok(merged) => inner.memtable.replace_prefix(table, batches.len(), merged),
                    Err(err) => warn!(%table, error = %err, "could not merge buffered batches"),
                }
            }
        })
        .await;
        if let Err(err) = merged {
            warn!(error = %err, "batch merge task failed");
        }
    }

    /// Flushes what is buffered and stops the WAL writer.
    pub async fn shutdown(&self) -> Result<()> {
        let flushed = self.flush().await;
        self.inner.wal.shutdown();
        self.inner.empty_graveyard(true);
        flushed.map(|_| ())
    }
}

impl Inner {
    fn flush_blocking(&self) -> Result<u64> {
        let started = Instant::now();
        self.wal.request_rotation();
        let frozen = self.memtable.freeze();
        let flushed_before = self.manifest.lock().flushed_seq;
        if frozen.tables.is_empty() && frozen.max_seq <= flushed_before {
            return Ok(0);
        }
        let mut new_files = Vec::new();
        let mut rows = 0u64;
        for (table, batches) in &frozen.tables {
            match flush::write_table(
                &self.opts.data_dir,
                *table,
                batches,
                self.opts.flush_max_bytes as usize,
                &self.metrics,
            ) {
                Ok(files) => {
                    rows += files.iter().map(|f| f.rows).sum::<u64>();
                    new_files.extend(files);
                }
                Err(err) => {
                    self.memtable.unfreeze();
                    return Err(err);
                }
            }
        }
        crate::failpoint::hit("flush-after-parquet");
        let mut next = self.manifest.lock().clone();
        next.files.extend(new_files);
        next.flushed_seq = frozen.max_seq;
        if let Err(err) = self.catalog.commit(&next) {
            self.memtable.unfreeze();
            return Err(err);
        }
        self.metrics.parquet_files.set(next.files.len() as i64);
        self.memtable.publish_flush(next.files.clone(), frozen.bytes);
        *self.manifest.lock() = next;
        crate::failpoint::hit("flush-before-wal-delete");
        self.delete_flushed_segments(frozen.max_seq)?;
        self.metrics.flushes.inc();
        self.metrics.flushed_rows.inc_by(rows);
        self.metrics
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .buffered_bytes
            .set(self.memtable.buffered_bytes() as i64);
        debug!(rows, seq = frozen.max_seq, "flushed");
        Ok(rows)
    }

    /// Deletes every WAL segment whose records all have `seq <= flushed_seq`: segment i holds
    /// `[first_i, first_{i+1})`, and the newest (active) segment is never deleted.
    fn delete_flushed_segments(&self, flushed_seq: u64) -> Result<()> {
        let dir = self.opts.data_dir.join("wal");
        let segments = wal::list_segments(&dir)?;
        for pair in segments.windows(2) {
            // INVARIANT: windows(2) yields slices of exactly two.
            let (_, path) = &pair[0];
            let (next_first, _) = pair[1];
            if next_first <= flushed_seq + 1 {
                std::fs::remove_file(path).map_err(crate::error::io(path))?;
            }
        }
        wal::sync_dir(&dir)
    }

    /// Files leaving the manifest are deleted after the grace period (or now, at shutdown).
    pub(crate) fn bury(&self, files: &[FileMeta]) {
        let at = self.clock.now_ns() + self.opts.file_grace.as_nanos() as i64;
        let mut g = self.graveyard.lock();
        for f in files {
            g.push((at, self.opts.data_dir.join(&f.path)));
        }
    }

    pub(crate) fn empty_graveyard(&self, all: bool) {
        let now = self.clock.now_ns();
        let due: Vec<PathBuf> = {
            let mut g = self.graveyard.lock();
            let (due, keep) = g.drain(..).partition(|(at, _)| all || *at <= now);
            *g = keep;
            due.into_iter().map(|(_, p)| p).collect()
        };
        for p in &due {
            if let Err(err) = std::fs::remove_file(p)
                && err.kind() != std::io::ErrorKind::NotFound
            {
                warn!(file = %p.display(), error = %err, "could not delete replaced file");
            }
        }
        if !due.is_empty() {
            for t in Table::ALL {
                crate::catalog::prune_empty_dirs(&self.opts.data_dir.join(t.name()));
            }
        }
    }
}
