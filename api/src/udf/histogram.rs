//! Percentiles from histograms without exploding buckets into rows (DESIGN §2).
//!
//! - `histogram_quantile(q, explicit_bounds, bucket_counts)`: OTLP explicit buckets
//!   (`counts` has one more entry than `bounds`; the last bucket is `(last bound, +Inf)`),
//!   interpolated linearly inside the bucket as Prometheus' `histogram_quantile` does: the
//!   first bucket starts at 0 (or at its upper bound when that is negative), and a quantile
//!   in the `+Inf` bucket is the highest finite bound.
//! - `exp_histogram_quantile(q, scale, zero_count, positive_offset, positive_bucket_counts)`:
//!   OTLP exponential buckets (index i covers `(base^i, base^(i+1)]`, `base = 2^(2^-scale)`),
//!   interpolated linearly; the zero bucket counts as 0.
//! - `merge_buckets(bucket_counts)`: aggregate, adds bucket counts element-wise across rows
//!   (for rows that share their bounds), so
//!   `histogram_quantile(0.95, first_value(explicit_bounds), merge_buckets(bucket_counts))`
//!   is the P95 of a whole group.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, ListArray, ListBuilder, UInt64Builder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int32Type, UInt64Type};
use datafusion::common::{DataFusionError, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarUDF, Signature, Volatility, create_udf,
};

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(t, true)))
}

pub(crate) fn histogram_quantile() -> ScalarUDF {
    let args = vec![
        DataType::Float64,
        list_of(DataType::Float64),
        list_of(DataType::UInt64),
    ];
    let udf = create_udf(
        "histogram_quantile",
        args.clone(),
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = ColumnarValue::values_to_arrays(args)?;
            let q = a[0].as_primitive::<Float64Type>();
            let bounds = a[1].as_list::<i32>();
            let counts = a[2].as_list::<i32>();
            let mut out = Float64Builder::with_capacity(q.len());
            for i in 0..q.len() {
                if q.is_null(i) || bounds.is_null(i) || counts.is_null(i) {
                    out.append_null();
                    continue;
                }
                let b = bounds.value(i);
                let c = counts.value(i);
                let b: Vec<f64> = b
                    .as_primitive::<Float64Type>()
                    .iter()
                    .map(|v| v.unwrap_or(f64::NAN))
                    .collect();
                let c: Vec<u64> = c
                    .as_primitive::<UInt64Type>()
                    .iter()
                    .map(|v| v.unwrap_or(0))
                    .collect();
                out.append_option(explicit_quantile(q.value(i), &b, &c)?);
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
        }),
    );
    super::coerced(udf, args)
}

/// Quantile of explicit buckets; `None` when the histogram is empty.
pub(crate) fn explicit_quantile(
    q: f64,
    bounds: &[f64],
    counts: &[u64],
) -> Result<Option<f64>, DataFusionError> {
    if counts.len() != bounds.len() + 1 {
        return exec_err!(
            "histogram_quantile: {} bucket counts for {} bounds; OTLP histograms have one count more than bounds",
            counts.len(),
            bounds.len()
        );
    }
    if q.is_nan() {
        return Ok(Some(f64::NAN));
    }
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return Ok(None);
    }
    // Prometheus: q < 0 is -Inf, q > 1 is +Inf.
    if q < 0.0 {
        return Ok(Some(f64::NEG_INFINITY));
    }
    if q > 1.0 {
        return Ok(Some(f64::INFINITY));
    }
    // The catalogue's interpolation (the `slod_histogram_quantile` aggregate uses it too).
    Ok(slod_slo::catalogue::bucket_quantile(q, bounds, counts))
}

pub(crate) fn exp_histogram_quantile() -> ScalarUDF {
    let args = vec![
        DataType::Float64,
        DataType::Int32,
        DataType::UInt64,
        DataType::Int32,
        list_of(DataType::UInt64),
    ];
    let udf = create_udf(
        "exp_histogram_quantile",
        args.clone(),
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = ColumnarValue::values_to_arrays(args)?;
            let q = a[0].as_primitive::<Float64Type>();
            let scale = a[1].as_primitive::<Int32Type>();
            let zero = a[2].as_primitive::<UInt64Type>();
            let offset = a[3].as_primitive::<Int32Type>();
            let counts = a[4].as_list::<i32>();
            let mut out = Float64Builder::with_capacity(q.len());
            for i in 0..q.len() {
                if q.is_null(i) || scale.is_null(i) || counts.is_null(i) {
                    out.append_null();
                    continue;
                }
                let c: Vec<u64> = counts
                    .value(i)
                    .as_primitive::<UInt64Type>()
                    .iter()
                    .map(|v| v.unwrap_or(0))
                    .collect();
                let zero = if zero.is_null(i) { 0 } else { zero.value(i) };
                let offset = if offset.is_null(i) { 0 } else { offset.value(i) };
                out.append_option(exponential_quantile(q.value(i), scale.value(i), zero, offset, &c));
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
        }),
    );
    super::coerced(udf, args)
}

/// Quantile of positive exponential buckets; `None` when empty.
pub(crate) fn exponential_quantile(
    q: f64,
    scale: i32,
    zero_count: u64,
    offset: i32,
    counts: &[u64],
) -> Option<f64> {
    let total = zero_count + counts.iter().sum::<u64>();
    if total == 0 || q.is_nan() {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    if rank <= zero_count as f64 {
        return Some(0.0);
    }
    let base = 2f64.powf(2f64.powi(-scale));
    let mut seen = zero_count;
    for (i, &c) in counts.iter().enumerate() {
        if c > 0 && (seen + c) as f64 >= rank {
            let idx = offset as f64 + i as f64;
            let lower = base.powf(idx);
            let upper = base.powf(idx + 1.0);
            return Some(lower + (upper - lower) * (rank - seen as f64) / c as f64);
        }
        seen += c;
    }
    Some(base.powf(offset as f64 + counts.len() as f64))
}

pub(crate) fn merge_buckets() -> AggregateUDF {
    AggregateUDF::new_from_impl(MergeBuckets {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MergeBuckets {
    signature: Signature,
}

impl AggregateUDFImpl for MergeBuckets {
    fn name(&self) -> &str {
        "merge_buckets"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType, DataFusionError> {
        Ok(list_of(DataType::UInt64))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>, DataFusionError> {
        Ok(Box::new(SumLists::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>, DataFusionError> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[sum]", args.name),
            list_of(DataType::UInt64),
            true,
        ))])
    }
}

/// Element-wise sum of bucket-count lists; every non-null list must have the same length.
#[derive(Debug, Default)]
struct SumLists {
    sum: Option<Vec<u64>>,
}

impl SumLists {
    fn add_lists(&mut self, lists: &ListArray) -> Result<(), DataFusionError> {
        for i in 0..lists.len() {
            if lists.is_null(i) {
                continue;
            }
            let v = cast(&lists.value(i), &DataType::UInt64)?;
            let v = v.as_primitive::<UInt64Type>();
            let sum = self.sum.get_or_insert_with(|| vec![0; v.len()]);
            if sum.len() != v.len() {
                return exec_err!(
                    "merge_buckets: rows have {} and {} buckets; merge only histograms with the same bounds (GROUP BY explicit_bounds)",
                    sum.len(),
                    v.len()
                );
            }
            for (s, x) in sum.iter_mut().zip(v.iter()) {
                *s = s.saturating_add(x.unwrap_or(0));
            }
        }
        Ok(())
    }
}

impl Accumulator for SumLists {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<(), DataFusionError> {
        let Some(v) = values.first() else { return Ok(()) };
        let lists = cast(v, &list_of(DataType::UInt64))?;
        self.add_lists(lists.as_list::<i32>())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<(), DataFusionError> {
        self.update_batch(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>, DataFusionError> {
        Ok(vec![self.evaluate()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue, DataFusionError> {
        let mut b = ListBuilder::new(UInt64Builder::new());
        match &self.sum {
            Some(s) => {
                b.values().append_slice(s);
                b.append(true);
            }
            None => b.append(false),
        }
        Ok(ScalarValue::List(Arc::new(b.finish())))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.sum.as_ref().map_or(0, |s| s.capacity() * 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_quantiles_match_prometheus_by_hand() {
        // Buckets (0,10] (10,20] (20,+Inf) with 10, 10, 0 observations.
        let b = [10.0, 20.0];
        // Median: rank 10 is the end of the first bucket.
        assert_eq!(explicit_quantile(0.5, &b, &[10, 10, 0]).unwrap(), Some(10.0));
        // P75: rank 15, halfway through (10,20].
        assert_eq!(explicit_quantile(0.75, &b, &[10, 10, 0]).unwrap(), Some(15.0));
        // Everything in +Inf: the highest finite bound.
        assert_eq!(explicit_quantile(0.5, &b, &[0, 0, 4]).unwrap(), Some(20.0));
        // Empty histogram: NULL.
        assert_eq!(explicit_quantile(0.5, &b, &[0, 0, 0]).unwrap(), None);
        // Out-of-range q, as Prometheus.
        assert_eq!(
            explicit_quantile(1.5, &b, &[1, 0, 0]).unwrap(),
            Some(f64::INFINITY)
        );
        // Mismatched lengths are a user error.
        assert!(explicit_quantile(0.5, &b, &[1, 2]).is_err());
    }

    #[test]
    fn exponential_quantiles_by_hand() {
        // scale 0: base 2, offset 0: buckets (1,2], (2,4]; 2 and 2 observations.
        assert_eq!(exponential_quantile(0.5, 0, 0, 0, &[2, 2]), Some(2.0));
        assert_eq!(exponential_quantile(0.75, 0, 0, 0, &[2, 2]), Some(3.0));
        // Zero bucket first.
        assert_eq!(exponential_quantile(0.25, 0, 2, 0, &[2, 4]), Some(0.0));
        assert_eq!(exponential_quantile(0.5, 0, 0, 0, &[]), None);
    }

    #[test]
    fn merge_sums_elementwise_and_refuses_different_shapes() {
        let mut acc = SumLists::default();
        let mut b = ListBuilder::new(UInt64Builder::new());
        b.values().append_slice(&[1, 2, 3]);
        b.append(true);
        b.append(false);
        b.values().append_slice(&[10, 20, 30]);
        b.append(true);
        acc.update_batch(&[Arc::new(b.finish())]).unwrap();
        assert_eq!(acc.sum, Some(vec![11, 22, 33]));
        let mut b = ListBuilder::new(UInt64Builder::new());
        b.values().append_slice(&[1]);
        b.append(true);
        assert!(acc.update_batch(&[Arc::new(b.finish())]).is_err());
    }
}
