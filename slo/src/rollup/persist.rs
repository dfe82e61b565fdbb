//! `sli_rollup` as Arrow (the SQL table) and as a Parquet snapshot on disk.
//!
//! The snapshot (`<data_dir>/_slo/sli_rollup.parquet`) holds both tiers and the ingest-time
//! watermark it reflects; it is replaced atomically (write, fsync, rename, fsync dir). After a
//! restart the rollups resume from it and recompute only what was ingested after the watermark,
//! instead of re-reading 30 days of raw spans. Losing it costs a rebuild, never correctness.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, AsArray, Float64Array, MapArray, MapBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampSecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampSecondType};
use datafusion::arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;

use super::{Rollups, SeriesKey, TieredSeries};
use crate::burn::Counts;

const WATERMARK_KEY: &str = "slod.rollup.watermark_ns";
const FLOOR_KEY: &str = "slod.rollup.minute_floor";

/// `sli_rollup(slo, labels, tier, minute, good, total)`: `tier` is `minute` or `hour`; an hour
/// row sums all of that hour's minutes (including minute rows still present).
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("slo", DataType::Utf8, false),
        Field::new("labels", slod_storage::string_map_type(), false),
        Field::new("tier", DataType::Utf8, false),
        Field::new(
            "minute",
            DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
            false,
        ),
        Field::new("good", DataType::Float64, false),
        Field::new("total", DataType::Float64, false),
    ]))
}

/// Every row of every series, as one batch.
pub fn to_batch(series: &BTreeMap<SeriesKey, Arc<TieredSeries>>) -> Result<RecordBatch, ArrowError> {
    let mut slo = Vec::new();
    let mut tier = Vec::new();
    let mut minute = Vec::new();
    let mut good = Vec::new();
    let mut total = Vec::new();
    let mut labels = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for (key, s) in series {
        let rows = s
            .minutes()
            .map(|(t, c)| ("minute", t, c))
            .chain(s.hours().map(|(t, c)| ("hour", t, c)));
        for (name, t, c) in rows {
            slo.push(key.slo.clone());
            tier.push(name);
            minute.push(t);
            good.push(c.good);
            total.push(c.total);
            for (k, v) in &key.labels {
                labels.keys().append_value(k);
                labels.values().append_value(v);
            }
            labels.append(true)?;
        }
    }
    let labels = labels.finish();
    // MapBuilder names its fields differently from the storage map type: rebuild with ours.
    let labels = MapArray::try_new(
        match slod_storage::string_map_type() {
            DataType::Map(f, _) => f,
            _ => unreachable!("string_map_type is a map"),
        },
        labels.offsets().clone(),
        labels.entries().clone().with_fields(),
        None,
        false,
    )?;
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(slo)) as ArrayRef,
            Arc::new(labels),
            Arc::new(StringArray::from(tier)),
            Arc::new(TimestampSecondArray::from(minute).with_timezone("UTC")),
            Arc::new(Float64Array::from(good)),
            Arc::new(Float64Array::from(total)),
        ],
    )
}

trait WithFields {
    fn with_fields(self) -> datafusion::arrow::array::StructArray;
}

impl WithFields for datafusion::arrow::array::StructArray {
    fn with_fields(self) -> datafusion::arrow::array::StructArray {
        let (_, columns, nulls) = self.into_parts();
        let fields = match slod_storage::string_map_type() {
            DataType::Map(f, _) => match f.data_type() {
                DataType::Struct(fields) => fields.clone(),
                _ => unreachable!("map entries are a struct"),
            },
            _ => unreachable!("string_map_type is a map"),
        };
        datafusion::arrow::array::StructArray::new(fields, columns, nulls)
    }
}

/// Writes the snapshot atomically.
pub fn save(rollups: &Rollups, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let batch = to_batch(&rollups.series).map_err(std::io::Error::other)?;
    let floor = rollups
        .series
        .values()
        .map(|s| s.minute_floor())
        .max()
        .unwrap_or(0);
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_key_value_metadata(Some(vec![
            parquet::file::metadata::KeyValue::new(WATERMARK_KEY.into(), rollups.watermark_ns.to_string()),
            parquet::file::metadata::KeyValue::new(FLOOR_KEY.into(), floor.to_string()),
        ]))
        .build();
    let tmp = dir.join("sli_rollup.parquet.tmp");
    let file = File::create(&tmp)?;
    let mut writer = ArrowWriter::try_new(file, schema(), Some(props)).map_err(std::io::Error::other)?;
    writer.write(&batch).map_err(std::io::Error::other)?;
    let file = writer.into_inner().map_err(std::io::Error::other)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join("sli_rollup.parquet"))?;
    File::open(dir)?.sync_all()
}

/// (bucket start, counts) pairs of one tier.
type Buckets = Vec<(i64, Counts)>;

/// Loads a snapshot into `rollups` (series of SLOs no longer configured are dropped). Returns
/// false when there is none.
pub fn load(rollups: &mut Rollups, dir: &Path) -> std::io::Result<bool> {
    let path = dir.join("sli_rollup.parquet");
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(std::io::Error::other)?;
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default();
    let get = |k: &str| -> i64 {
        kv.iter()
            .find(|e| e.key == k)
            .and_then(|e| e.value.as_ref()?.parse().ok())
            .unwrap_or(0)
    };
    let (watermark, floor) = (get(WATERMARK_KEY), get(FLOOR_KEY));
    let known: std::collections::HashSet<String> = rollups.slos().map(|s| s.name.clone()).collect();
    let mut parts: BTreeMap<SeriesKey, (Buckets, Buckets)> = BTreeMap::new();
    for batch in builder.build().map_err(std::io::Error::other)? {
        let batch = batch.map_err(std::io::Error::other)?;
        let slo = batch.column(0).as_string::<i32>();
        let labels = batch.column(1).as_map();
        let tier = batch.column(2).as_string::<i32>();
        let minute = batch.column(3).as_primitive::<TimestampSecondType>();
        let good = batch
            .column(4)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        let total = batch
            .column(5)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        // Rows of one series are consecutive (written series by series): build a key only
        // when the series changes.
        let keys_all = labels.keys().as_string::<i32>();
        let values_all = labels.values().as_string::<i32>();
        let offsets = labels.offsets();
        let mut current: Option<SeriesKey> = None;
        for i in 0..batch.num_rows() {
            if !known.contains(slo.value(i)) {
                continue;
            }
            let (a, b) = (offsets[i] as usize, offsets[i + 1] as usize);
            let same = current.as_ref().is_some_and(|k| {
                k.slo == slo.value(i)
                    && k.labels.len() == b - a
                    && k.labels
                        .iter()
                        .zip(a..b)
                        .all(|((lk, lv), j)| lk == keys_all.value(j) && lv == values_all.value(j))
            });
            if !same {
                current = Some(SeriesKey {
                    slo: slo.value(i).to_string(),
                    labels: (a..b)
                        .map(|j| (keys_all.value(j).to_string(), values_all.value(j).to_string()))
                        .collect(),
                });
            }
            let Some(key) = &current else { continue };
            let c = Counts {
                good: good.value(i),
                total: total.value(i),
            };
            if !same {
                parts.entry(key.clone()).or_default();
            }
            let part = parts
                .get_mut(key)
                .ok_or_else(|| std::io::Error::other("series vanished"))?;
            if tier.value(i) == "minute" {
                part.0.push((minute.value(i), c));
            } else {
                part.1.push((minute.value(i), c));
            }
        }
    }
    rollups.series = parts
        .into_iter()
        .map(|(k, (m, h))| (k, Arc::new(TieredSeries::restore(m, h, floor))))
        .collect();
    rollups.watermark_ns = watermark;
    Ok(true)
}
