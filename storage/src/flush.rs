//! Writing rows to Parquet: split by hour partition, sort, zstd, page statistics, bloom
//! filter on ids, fsync, rename into place.
//!
//! Layout: `<data>/<table>/date=YYYY-MM-DD/hour=HH/<ulid>.parquet`.

use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, TimestampNanosecondArray};
use arrow::compute::{SortColumn, SortOptions, concat, interleave_record_batch, lexsort_to_indices};
use arrow::datatypes::SchemaRef;
use chrono::{DateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use std::time::Instant;

use crate::catalog::{FileMeta, relative};
use crate::error::{Error, Result, io};
use crate::metrics::{StageLabel, StorageMetrics};
use crate::schema::Table;
use crate::wal::sync_dir;

pub(crate) const HOUR_NS: i64 = 3_600_000_000_000;
pub(crate) const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Writes `batches` of `table` as sorted files, one per hour partition per chunk of at most
/// `chunk_bytes` of input: the extra memory a flush needs (one sorted copy of one chunk) stays
/// bounded however far behind the flusher is. Compaction merges the files later.
pub(crate) fn write_table(
    root: &Path,
    table: Table,
    batches: &[RecordBatch],
    chunk_bytes: usize,
    metrics: &StorageMetrics,
) -> Result<Vec<FileMeta>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < batches.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < batches.len()
            && (end == start || bytes + batches[end].get_array_memory_size() <= chunk_bytes)
        {
            bytes += batches[end].get_array_memory_size();
            end += 1;
        }
        let chunk: Vec<&RecordBatch> = batches[start..end].iter().collect();
        start = end;
        out.extend(write_sorted(root, table, &chunk, metrics)?);
    }
    Ok(out)
}

/// Writes the rows of `batches` as one sorted file per hour partition they touch. One copy:
/// rows go straight from the input batches into sorted order.
pub(crate) fn write_sorted(
    root: &Path,
    table: Table,
    batches: &[&RecordBatch],
    metrics: &StorageMetrics,
) -> Result<Vec<FileMeta>> {
    let stage = |name: &'static str, started: Instant| {
        metrics
            .write_stage_seconds
            .get_or_create(&StageLabel { stage: name })
            .inc_by(started.elapsed().as_secs_f64());
    };
    let batches: Vec<&RecordBatch> = batches.iter().copied().filter(|b| b.num_rows() > 0).collect();
    let mut out = Vec::new();
    let started = Instant::now();
    let parts = sorted_partitions(table, &batches)?;
    stage("sort", started);
    for (hour_ns, rows) in parts {
        let started = Instant::now();
        let sorted = interleave_record_batch(&batches, &rows)?;
        stage("sort", started);
        let started = Instant::now();
        out.push(write_file(root, table, hour_ns, &sorted)?);
        stage("encode", started);
    }
    Ok(out)
}

/// One hour partition's rows as (batch index, row index) pairs, in sorted order.
type HourRows = (i64, Vec<(usize, usize)>);

/// The rows of `batches` as (batch, row) pairs, grouped by hour partition and sorted by the
/// table's sort key within each, computed from the key columns alone.
fn sorted_partitions(table: Table, batches: &[&RecordBatch]) -> Result<Vec<HourRows>> {
    if batches.is_empty() {
        return Ok(Vec::new());
    }
    let column = |name: &str| -> Result<ArrayRef> {
        let parts: Vec<&dyn Array> = batches
            .iter()
            .filter_map(|b| b.column_by_name(name).map(|c| c.as_ref()))
            .collect();
        Ok(concat(&parts)?)
    };
    let time = column(table.time_column())?;
    let time = time
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .ok_or_else(|| {
            Error::Arrow(arrow::error::ArrowError::SchemaError(format!(
                "{table}: bad time column"
            )))
        })?;
    let hours: Int64Array = time
        .values()
        .iter()
        .map(|t| t.div_euclid(HOUR_NS) * HOUR_NS)
        .collect();
    let options = Some(SortOptions {
        descending: false,
        nulls_first: true,
    });
    let mut keys = vec![SortColumn {
        values: Arc::new(hours.clone()) as ArrayRef,
        options,
    }];
    for name in table.sort_columns() {
        keys.push(SortColumn {
            values: column(name)?,
            options,
        });
    }
    let order = lexsort_to_indices(&keys, None)?;
    // Global row number → (batch, row).
    let mut origin = Vec::with_capacity(time.len());
    for (b, batch) in batches.iter().enumerate() {
        origin.extend((0..batch.num_rows()).map(|r| (b, r)));
    }
    let mut parts: Vec<HourRows> = Vec::new();
    for &i in order.values() {
        // INVARIANT: sort indices are row numbers of the concatenated keys, < origin.len().
        let i = i as usize;
        let hour = hours.value(i);
        match parts.last_mut() {
            Some((h, rows)) if *h == hour => rows.push(origin[i]),
            _ => parts.push((hour, vec![origin[i]])),
        }
    }
    Ok(parts)
}

/// The event-time column as nanoseconds.
pub(crate) fn time_values(table: Table, batch: &RecordBatch) -> Result<TimestampNanosecondArray> {
    let col = batch
        .column_by_name(table.time_column())
        .and_then(|c| c.as_any().downcast_ref::<TimestampNanosecondArray>())
        .ok_or_else(|| {
            Error::Arrow(arrow::error::ArrowError::SchemaError(format!(
                "{table}: time column {} missing",
                table.time_column()
            )))
        })?;
    Ok(col.clone())
}

pub(crate) fn writer_properties(table: Table, schema: &SchemaRef, rows: usize) -> Result<WriterProperties> {
    let sorting = table
        .sort_columns()
        .iter()
        .filter_map(|name| schema.index_of(name).ok())
        .map(|i| SortingColumn {
            column_idx: i as i32,
            descending: false,
            nulls_first: true,
        })
        .collect();
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_sorting_columns(Some(sorting))
        .set_created_by("slod".into());
    // Random ids: a dictionary only costs; a bloom filter makes trace lookups skip row groups.
    for id in ["trace_id", "span_id", "parent_span_id", "faas_invocation_id"] {
        if schema.index_of(id).is_ok() {
            props = props.set_column_dictionary_enabled(ColumnPath::from(id), false);
        }
    }
    if schema.index_of("trace_id").is_ok() {
        let ndv = rows.clamp(1, ROW_GROUP_ROWS) as u64;
        props = props
            .set_column_bloom_filter_enabled(ColumnPath::from("trace_id"), true)
            .set_column_bloom_filter_max_ndv(ColumnPath::from("trace_id"), ndv)
            .set_column_bloom_filter_fpp(ColumnPath::from("trace_id"), 0.01);
    }
    Ok(props.build())
}

/// Writes one sorted partition file durably and returns its metadata.
pub(crate) fn write_file(root: &Path, table: Table, hour_ns: i64, batch: &RecordBatch) -> Result<FileMeta> {
    let dir = root.join(partition_dir(table, hour_ns));
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    let id = ulid::Ulid::new();
    let tmp = dir.join(format!("{id}.parquet.tmp"));
    let path = dir.join(format!("{id}.parquet"));
    let schema = batch.schema();
    let props = writer_properties(table, &schema, batch.num_rows())?;
    let file = File::create(&tmp).map_err(io(&tmp))?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(props))?;
    writer.write(batch)?;
    let file = writer.into_inner()?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io(&path))?;
    sync_dir(&dir)?;
    let bytes = fs::metadata(&path).map_err(io(&path))?.len();
    let times = time_values(table, batch)?;
    let (min, max) = times
        .values()
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(*t), hi.max(*t)));
    Ok(FileMeta {
        table,
        path: relative(root, &path),
        rows: batch.num_rows() as u64,
        bytes,
        hour_ns,
        min_time_ns: min,
        max_time_ns: max,
    })
}

pub(crate) fn partition_dir(table: Table, hour_ns: i64) -> String {
    let t: DateTime<Utc> = DateTime::from_timestamp_nanos(hour_ns);
    format!(
        "{}/date={}/hour={}",
        table.name(),
        t.format("%Y-%m-%d"),
        t.format("%H")
    )
}

/// Reads a whole Parquet file back (compaction input).
pub(crate) fn read_file(root: &Path, meta: &FileMeta) -> Result<Vec<RecordBatch>> {
    let path = root.join(&meta.path);
    let file = File::open(&path).map_err(io(&path))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(64 * 1024)
        .build()?;
    let target: SchemaRef = meta.table.schema();
    reader
        .map(|b| {
            let b = b?;
            // Files carry the table schema; re-label to the canonical schema (metadata only).
            Ok(RecordBatch::try_new(Arc::clone(&target), b.columns().to_vec())?)
        })
        .collect()
}

#[cfg(test)]
mod tests;
