//! Compaction (merge an hour partition's small files) and retention (drop expired
//! partitions). Both change the manifest with one atomic commit and delete replaced files
//! only afterwards, so a crash at any point leaves either the old or the new file set.

use std::collections::BTreeMap;

use tracing::info;

use crate::catalog::FileMeta;
use crate::error::Result;
use crate::flush::{self, HOUR_NS};
use crate::schema::Table;
use crate::store::Inner;

impl Inner {
    /// Drops every file whose hour partition ended before `now - retention`.
    pub(crate) fn apply_retention(&self) -> Result<usize> {
        let Some(retention) = self.opts.retention else {
            return Ok(0);
        };
        let cutoff = self.clock.now_ns() - retention.as_nanos() as i64;
        let mut next = self.manifest.lock().clone();
        let (expired, keep): (Vec<FileMeta>, Vec<FileMeta>) = next
            .files
            .into_iter()
            .partition(|f| f.hour_ns + HOUR_NS <= cutoff);
        if expired.is_empty() {
            return Ok(0);
        }
        next.files = keep;
        self.catalog.commit(&next)?;
        self.memtable.publish_files(next.files.clone());
        self.metrics.parquet_files.set(next.files.len() as i64);
        *self.manifest.lock() = next;
        crate::failpoint::hit("retention-mid");
        self.bury(&expired);
        self.metrics.retention_removed_files.inc_by(expired.len() as u64);
        info!(files = expired.len(), "retention dropped expired partitions");
        Ok(expired.len())
    }

    /// Merges small files of each hour partition, one bounded group at a time.
    pub(crate) fn compact(&self) -> Result<usize> {
        let files = self.manifest.lock().files.clone();
        let mut parts: BTreeMap<(Table, i64), Vec<FileMeta>> = BTreeMap::new();
        let small = self.opts.compaction_max_rows / 2;
        for f in files.into_iter().filter(|f| f.rows < small) {
            parts.entry((f.table, f.hour_ns)).or_default().push(f);
        }
        let mut merged = 0;
        for ((table, hour_ns), mut group) in parts {
            if group.len() < self.opts.compaction_min_files {
                continue;
            }
            group.sort_by_key(|f| f.rows);
            let mut take = Vec::new();
            let mut rows = 0;
            for f in group {
                if rows + f.rows > self.opts.compaction_max_rows && take.len() >= 2 {
                    break;
                }
                rows += f.rows;
                take.push(f);
            }
            if take.len() < 2 {
                continue;
            }
            self.merge(table, hour_ns, &take)?;
            merged += take.len();
        }
        Ok(merged)
    }

    fn merge(&self, table: Table, hour_ns: i64, inputs: &[FileMeta]) -> Result<()> {
        let mut batches = Vec::new();
        for f in inputs {
            batches.extend(flush::read_file(&self.opts.data_dir, f)?);
        }
        let refs: Vec<&arrow::record_batch::RecordBatch> = batches.iter().collect();
        // Inputs share one hour partition, so this writes one file.
        let out = flush::write_sorted(&self.opts.data_dir, table, &refs, &self.metrics)?;
        debug_assert!(out.iter().all(|f| f.hour_ns == hour_ns));
        drop(batches);
        crate::failpoint::hit("compaction-mid");
        let mut next = self.manifest.lock().clone();
        next.files.retain(|f| !inputs.iter().any(|i| i.path == f.path));
        next.files.extend(out);
        self.catalog.commit(&next)?;
        self.memtable.publish_files(next.files.clone());
        self.metrics.parquet_files.set(next.files.len() as i64);
        *self.manifest.lock() = next;
        crate::failpoint::hit("compaction-before-delete");
        self.bury(inputs);
        self.metrics.compactions.inc();
        self.metrics.compacted_files.inc_by(inputs.len() as u64);
        info!(%table, files = inputs.len(), "compacted partition files");
        Ok(())
    }
}
