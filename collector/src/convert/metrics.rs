//! `ExportMetricsServiceRequest` → `metric_points` (gauge, sum) and `metric_distributions`
//! (histogram, exponential histogram, summary; buckets stay lists, never rows).

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, ListBuilder, RecordBatch, StringBuilder,
    StructArray, TimestampNanosecondBuilder, UInt32Builder, UInt64Builder,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint, SummaryDataPoint, metric::Data,
    number_data_point,
};
use slod_storage::{Table, quantile_fields};
use xxhash_rust::xxh3::Xxh3;

use super::attrs::{MapColumn, kvlist, value_str};
use super::resource::{ResourceColumns, ResourceCtx};
use super::spans::list;
use super::{Converted, Rejections};
use crate::normalise::Slot;

pub(crate) fn convert(
    req: &ExportMetricsServiceRequest,
    ingest_ns: i64,
) -> Result<Converted, arrow::error::ArrowError> {
    let mut points = Columns::new();
    let mut dists = Columns::new();
    let mut p = PointExtra::default();
    let mut d = DistExtra::new();
    let mut rejected = Rejections::default();
    let mut total = 0u64;
    for rm in &req.resource_metrics {
        let empty = Vec::new();
        let res = ResourceCtx::new(rm.resource.as_ref().map_or(&empty, |r| &r.attributes));
        for sm in &rm.scope_metrics {
            let scope = sm
                .scope
                .as_ref()
                .map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
            for m in &sm.metrics {
                let id = Identity {
                    res: &res,
                    name: &m.name,
                    unit: &m.unit,
                    scope,
                    ingest_ns,
                };
                let check = |t: u64| check_time(&m.name, t);
                let (seen, rejected) = (&mut total, &mut rejected);
                match &m.data {
                    Some(Data::Gauge(g)) => each(&g.data_points, seen, rejected, check, |dp| {
                        points.append(&id, "gauge", dp);
                        p.append(dp, None, None);
                    }),
                    Some(Data::Sum(s)) => each(&s.data_points, seen, rejected, check, |dp| {
                        points.append(&id, "sum", dp);
                        p.append(dp, temporality(s.aggregation_temporality), Some(s.is_monotonic));
                    }),
                    Some(Data::Histogram(h)) => {
                        let valid: Vec<&HistogramDataPoint> = h
                            .data_points
                            .iter()
                            .filter(|dp| match check_buckets(&m.name, dp) {
                                Ok(()) => true,
                                Err(why) => {
                                    *seen += 1;
                                    rejected.add(why);
                                    false
                                }
                            })
                            .collect();
                        each(&valid, seen, rejected, check, |dp| {
                            dists.append(&id, "histogram", *dp);
                            d.histogram(dp, temporality(h.aggregation_temporality));
                        })
                    }
                    Some(Data::ExponentialHistogram(h)) => {
                        each(&h.data_points, seen, rejected, check, |dp| {
                            dists.append(&id, "exponential_histogram", dp);
                            d.exponential(dp, temporality(h.aggregation_temporality));
                        })
                    }
                    Some(Data::Summary(s)) => each(&s.data_points, seen, rejected, check, |dp| {
                        dists.append(&id, "summary", dp);
                        d.summary(dp);
                    }),
                    None => {}
                }
            }
        }
    }
    let mut batches = Vec::new();
    if points.rows > 0 {
        let mut cols = points.head();
        cols.extend(p.finish());
        cols.extend(points.tail());
        batches.push((
            Table::MetricPoints,
            RecordBatch::try_new(Table::MetricPoints.schema(), cols)?,
        ));
    }
    if dists.rows > 0 {
        let mut cols = dists.head();
        cols.extend(d.finish()?);
        cols.extend(dists.tail());
        batches.push((
            Table::MetricDistributions,
            RecordBatch::try_new(Table::MetricDistributions.schema(), cols)?,
        ));
    }
    Ok(Converted {
        batches,
        accepted: total - rejected.count,
        rejected,
    })
}

/// Counts each point, refuses those `check` rejects, hands the rest to `accept`.
fn each<P: Point>(
    points: &[P],
    seen: &mut u64,
    rejected: &mut Rejections,
    check: impl Fn(u64) -> Result<(), String>,
    mut accept: impl FnMut(&P),
) {
    for dp in points {
        *seen += 1;
        match check(dp.time()) {
            Ok(()) => accept(dp),
            Err(why) => rejected.add(why),
        }
    }
}

/// What every OTLP data point type has.
trait Point {
    fn time(&self) -> u64;
    fn start(&self) -> u64;
    fn flags(&self) -> u32;
    fn attributes(&self) -> &[KeyValue];
}

macro_rules! point {
    ($($t:ty),*) => {$(
        impl Point for $t {
            fn time(&self) -> u64 { self.time_unix_nano }
            fn start(&self) -> u64 { self.start_time_unix_nano }
            fn flags(&self) -> u32 { self.flags }
            fn attributes(&self) -> &[KeyValue] { &self.attributes }
        }
    )*};
}
point!(
    NumberDataPoint,
    HistogramDataPoint,
    ExponentialHistogramDataPoint,
    SummaryDataPoint
);

impl<P: Point> Point for &P {
    fn time(&self) -> u64 {
        (*self).time()
    }
    fn start(&self) -> u64 {
        (*self).start()
    }
    fn flags(&self) -> u32 {
        (*self).flags()
    }
    fn attributes(&self) -> &[KeyValue] {
        (*self).attributes()
    }
}

fn check_time(name: &str, t: u64) -> Result<(), String> {
    if t == 0 {
        return Err(format!("metric {name:?}: data point without time_unix_nano"));
    }
    Ok(())
}

fn check_buckets(name: &str, dp: &HistogramDataPoint) -> Result<(), String> {
    let (b, c) = (dp.explicit_bounds.len(), dp.bucket_counts.len());
    if c != 0 && c != b + 1 {
        return Err(format!(
            "metric {name:?}: histogram has {c} bucket_counts for {b} explicit_bounds; expected {}",
            b + 1
        ));
    }
    Ok(())
}

fn temporality(t: i32) -> Option<&'static str> {
    match t {
        1 => Some("delta"),
        2 => Some("cumulative"),
        _ => None,
    }
}

struct Identity<'a> {
    res: &'a ResourceCtx<'a>,
    name: &'a str,
    unit: &'a str,
    scope: (&'a str, &'a str),
    ingest_ns: i64,
}

/// Point attributes, with CloudWatch Metric Streams' `Dimensions` kvlist flattened.
fn point_attributes(attrs: &[KeyValue]) -> Vec<(&str, Cow<'_, str>)> {
    let mut out = Vec::with_capacity(attrs.len());
    for kv in attrs {
        if kv.key == "Dimensions"
            && let Some(dims) = kvlist(kv.value.as_ref())
        {
            out.extend(dims.iter().map(|d| (d.key.as_str(), value_str(d.value.as_ref()))));
            continue;
        }
        out.push((kv.key.as_str(), value_str(kv.value.as_ref())));
    }
    out.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out
}

/// Identity and tail columns shared by both metric tables.
struct Columns {
    rows: usize,
    time: TimestampNanosecondBuilder,
    start: TimestampNanosecondBuilder,
    name: StringBuilder,
    kind: StringBuilder,
    unit: StringBuilder,
    series: UInt64Builder,
    resource: ResourceColumns,
    flags: UInt32Builder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    resource_attributes: MapColumn,
    attributes: MapColumn,
    ingest: TimestampNanosecondBuilder,
}

impl Columns {
    fn new() -> Columns {
        let ts = || TimestampNanosecondBuilder::new().with_timezone("UTC");
        Columns {
            rows: 0,
            time: ts(),
            start: ts(),
            name: StringBuilder::new(),
            kind: StringBuilder::new(),
            unit: StringBuilder::new(),
            series: UInt64Builder::new(),
            resource: ResourceColumns::new(),
            flags: UInt32Builder::new(),
            scope_name: StringBuilder::new(),
            scope_version: StringBuilder::new(),
            resource_attributes: MapColumn::new(),
            attributes: MapColumn::new(),
            ingest: ts(),
        }
    }

    fn append(&mut self, id: &Identity<'_>, kind: &str, dp: &impl Point) {
        let (start, time, flags) = (dp.start(), dp.time(), dp.flags());
        let attrs = point_attributes(dp.attributes());
        let mut h = Xxh3::new();
        h.update(&id.res.hash.to_le_bytes());
        h.update(id.name.as_bytes());
        for (k, v) in &attrs {
            h.update(&[0]);
            h.update(k.as_bytes());
            h.update(&[1]);
            h.update(v.as_bytes());
        }
        self.rows += 1;
        self.time.append_value(i64::try_from(time).unwrap_or(i64::MAX));
        self.start
            .append_option((start != 0).then(|| i64::try_from(start).unwrap_or(i64::MAX)));
        self.name.append_value(id.name);
        self.kind.append_value(kind);
        self.unit.append_option(Some(id.unit).filter(|u| !u.is_empty()));
        self.series.append_value(h.digest());
        self.resource.append(|s: Slot| id.res.slot(s), id.res.memory_mb);
        self.flags.append_value(flags);
        self.scope_name
            .append_option(Some(id.scope.0).filter(|s| !s.is_empty()));
        self.scope_version
            .append_option(Some(id.scope.1).filter(|s| !s.is_empty()));
        id.res.write_rest(&mut self.resource_attributes);
        for (k, v) in &attrs {
            self.attributes.entry(k, v);
        }
        self.attributes.end_row();
        self.ingest.append_value(id.ingest_ns);
    }

    fn head(&mut self) -> Vec<ArrayRef> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.start.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.unit.finish()),
            Arc::new(self.series.finish()),
        ];
        cols.extend(self.resource.finish());
        cols
    }

    fn tail(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.flags.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            self.resource_attributes.finish(),
            self.attributes.finish(),
            Arc::new(self.ingest.finish()),
        ]
    }
}

#[derive(Default)]
struct PointExtra {
    value: Float64Builder,
    temporality: StringBuilder,
    monotonic: BooleanBuilder,
}

impl PointExtra {
    fn append(&mut self, dp: &NumberDataPoint, temporality: Option<&str>, monotonic: Option<bool>) {
        let v = match dp.value {
            Some(number_data_point::Value::AsDouble(d)) => d,
            Some(number_data_point::Value::AsInt(i)) => i as f64,
            None => f64::NAN,
        };
        self.value.append_value(v);
        self.temporality.append_option(temporality);
        self.monotonic.append_option(monotonic);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.value.finish()),
            Arc::new(self.temporality.finish()),
            Arc::new(self.monotonic.finish()),
        ]
    }
}

struct DistExtra {
    temporality: StringBuilder,
    count: UInt64Builder,
    sum: Float64Builder,
    min: Float64Builder,
    max: Float64Builder,
    bounds: ListBuilder<Float64Builder>,
    buckets: ListBuilder<UInt64Builder>,
    scale: Int32Builder,
    zero_count: UInt64Builder,
    zero_threshold: Float64Builder,
    pos_offset: Int32Builder,
    pos_buckets: ListBuilder<UInt64Builder>,
    neg_offset: Int32Builder,
    neg_buckets: ListBuilder<UInt64Builder>,
    q_offsets: Vec<i32>,
    q_quantile: Float64Builder,
    q_value: Float64Builder,
}

impl DistExtra {
    fn new() -> DistExtra {
        DistExtra {
            temporality: StringBuilder::new(),
            count: UInt64Builder::new(),
            sum: Float64Builder::new(),
            min: Float64Builder::new(),
            max: Float64Builder::new(),
            bounds: ListBuilder::new(Float64Builder::new()),
            buckets: ListBuilder::new(UInt64Builder::new()),
            scale: Int32Builder::new(),
            zero_count: UInt64Builder::new(),
            zero_threshold: Float64Builder::new(),
            pos_offset: Int32Builder::new(),
            pos_buckets: ListBuilder::new(UInt64Builder::new()),
            neg_offset: Int32Builder::new(),
            neg_buckets: ListBuilder::new(UInt64Builder::new()),
            q_offsets: vec![0],
            q_quantile: Float64Builder::new(),
            q_value: Float64Builder::new(),
        }
    }

    fn common(
        &mut self,
        temporality: Option<&str>,
        count: u64,
        sum: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
    ) {
        self.temporality.append_option(temporality);
        self.count.append_value(count);
        self.sum.append_option(sum);
        self.min.append_option(min);
        self.max.append_option(max);
    }

    fn no_quantiles(&mut self) {
        let last = self.q_offsets.last().copied().unwrap_or(0);
        self.q_offsets.push(last);
    }

    fn no_exponential(&mut self) {
        self.scale.append_null();
        self.zero_count.append_null();
        self.zero_threshold.append_null();
        self.pos_offset.append_null();
        self.pos_buckets.append_null();
        self.neg_offset.append_null();
        self.neg_buckets.append_null();
    }

    fn histogram(&mut self, dp: &HistogramDataPoint, temporality: Option<&str>) {
        self.common(temporality, dp.count, dp.sum, dp.min, dp.max);
        self.bounds.values().append_slice(&dp.explicit_bounds);
        self.bounds.append(true);
        self.buckets.values().append_slice(&dp.bucket_counts);
        self.buckets.append(true);
        self.no_exponential();
        self.no_quantiles();
    }

    fn exponential(&mut self, dp: &ExponentialHistogramDataPoint, temporality: Option<&str>) {
        self.common(temporality, dp.count, dp.sum, dp.min, dp.max);
        self.bounds.append_null();
        self.buckets.append_null();
        self.scale.append_value(dp.scale);
        self.zero_count.append_value(dp.zero_count);
        self.zero_threshold.append_value(dp.zero_threshold);
        let pos = dp.positive.as_ref();
        self.pos_offset.append_option(pos.map(|b| b.offset));
        self.pos_buckets
            .values()
            .append_slice(pos.map_or(&[][..], |b| &b.bucket_counts));
        self.pos_buckets.append(true);
        let neg = dp.negative.as_ref();
        self.neg_offset.append_option(neg.map(|b| b.offset));
        self.neg_buckets
            .values()
            .append_slice(neg.map_or(&[][..], |b| &b.bucket_counts));
        self.neg_buckets.append(true);
        self.no_quantiles();
    }

    fn summary(&mut self, dp: &SummaryDataPoint) {
        // CloudWatch streams: q=0 is the minimum and q=1 the maximum.
        let q = |x: f64| {
            dp.quantile_values
                .iter()
                .find(|v| v.quantile == x)
                .map(|v| v.value)
        };
        self.common(None, dp.count, Some(dp.sum), q(0.0), q(1.0));
        self.bounds.append_null();
        self.buckets.append_null();
        self.no_exponential();
        for v in &dp.quantile_values {
            self.q_quantile.append_value(v.quantile);
            self.q_value.append_value(v.value);
        }
        let last = self.q_offsets.last().copied().unwrap_or(0);
        self.q_offsets.push(last + dp.quantile_values.len() as i32);
    }

    fn finish(&mut self) -> Result<Vec<ArrayRef>, arrow::error::ArrowError> {
        let q = StructArray::try_new(
            quantile_fields(),
            vec![
                Arc::new(self.q_quantile.finish()),
                Arc::new(self.q_value.finish()),
            ],
            None,
        )?;
        Ok(vec![
            Arc::new(self.temporality.finish()),
            Arc::new(self.count.finish()),
            Arc::new(self.sum.finish()),
            Arc::new(self.min.finish()),
            Arc::new(self.max.finish()),
            Arc::new(self.bounds.finish()),
            Arc::new(self.buckets.finish()),
            Arc::new(self.scale.finish()),
            Arc::new(self.zero_count.finish()),
            Arc::new(self.zero_threshold.finish()),
            Arc::new(self.pos_offset.finish()),
            Arc::new(self.pos_buckets.finish()),
            Arc::new(self.neg_offset.finish()),
            Arc::new(self.neg_buckets.finish()),
            list(q, std::mem::replace(&mut self.q_offsets, vec![0]))?,
        ])
    }
}
