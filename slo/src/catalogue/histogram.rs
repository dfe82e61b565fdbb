//! Percentiles from explicit-bucket histograms (`metric_distributions`): buckets are never
//! exploded into rows (DESIGN §2); an aggregate merges them and interpolates.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, ListBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Float64Type, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, ColumnarValue, ScalarUDF, Volatility, create_udaf, create_udf,
};

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t, true)))
}

/// The `q` quantile of a histogram with upper-inclusive `bounds` and `counts` (one more
/// than bounds: the last is the overflow bucket). Linear interpolation inside the bucket,
/// the first bucket's lower edge is 0 (durations, sizes); a quantile in the overflow bucket
/// is the largest finite bound (Prometheus `histogram_quantile` does the same).
pub fn quantile(q: f64, bounds: &[f64], counts: &[u64]) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 || !(0.0..=1.0).contains(&q) || counts.len() != bounds.len() + 1 {
        return None;
    }
    let rank = q * total as f64;
    let mut before = 0u64;
    for (i, c) in counts.iter().enumerate() {
        let after = before + c;
        if (after as f64) >= rank && *c > 0 {
            let Some(upper) = bounds.get(i).copied() else {
                return bounds.last().copied();
            };
            let lower = if i == 0 { upper.min(0.0) } else { bounds[i - 1] };
            return Some(lower + (upper - lower) * (rank - before as f64) / *c as f64);
        }
        before = after;
    }
    bounds.last().copied()
}

/// How many observations of a histogram (upper-inclusive `bounds`, `counts` with the overflow
/// bucket last) are at most `x`: whole buckets up to `x`, and the bucket holding `x` in
/// proportion (linear interpolation, first bucket from 0 — Prometheus' `histogram_fraction`).
/// Exact when `x` is a bucket bound; the overflow bucket never counts.
pub(crate) fn count_le(bounds: &[f64], counts: &[u64], x: f64) -> Option<f64> {
    if counts.len() != bounds.len() + 1 || x.is_nan() {
        return None;
    }
    let mut out = 0.0;
    for (i, upper) in bounds.iter().enumerate() {
        let c = counts[i] as f64;
        if *upper <= x {
            out += c;
            continue;
        }
        let lower = if i == 0 { upper.min(0.0) } else { bounds[i - 1] };
        if lower < x && upper > &lower {
            out += c * (x - lower) / (upper - lower);
        }
        break;
    }
    Some(out)
}

/// `slod_histogram_count_le(bounds, counts, x)`: [`count_le`] per row (NULL for a NULL or
/// malformed histogram).
pub(crate) fn histogram_count_le() -> ScalarUDF {
    create_udf(
        "slod_histogram_count_le",
        vec![
            list_of(DataType::Float64),
            list_of(DataType::UInt64),
            DataType::Float64,
        ],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let [bounds, counts, x] = arrays.as_slice() else {
                return Err(DataFusionError::Internal(
                    "slod_histogram_count_le takes 3 arguments".into(),
                ));
            };
            let n = bounds.len();
            let (bounds, counts) = (bounds.as_list::<i32>(), counts.as_list::<i32>());
            let x = x.as_primitive::<Float64Type>();
            let out: arrow::array::Float64Array = (0..n)
                .map(|i| {
                    if bounds.is_null(i) || counts.is_null(i) || x.is_null(i) {
                        return None;
                    }
                    let b: Vec<f64> = bounds
                        .value(i)
                        .as_primitive::<Float64Type>()
                        .iter()
                        .map(|v| v.unwrap_or(f64::NAN))
                        .collect();
                    let c: Vec<u64> = counts
                        .value(i)
                        .as_primitive::<UInt64Type>()
                        .iter()
                        .map(|v| v.unwrap_or(0))
                        .collect();
                    count_le(&b, &c, x.value(i))
                })
                .collect();
            let out: ArrayRef = Arc::new(out);
            Ok(ColumnarValue::Array(out))
        }),
    )
}

#[derive(Debug, Default)]
struct QuantileAcc {
    q: Option<f64>,
    bounds: Option<Vec<f64>>,
    counts: Vec<u64>,
}

impl QuantileAcc {
    fn add(&mut self, bounds: &[f64], counts: &[u64]) {
        if counts.len() != bounds.len() + 1 {
            return;
        }
        match &self.bounds {
            None => {
                self.bounds = Some(bounds.to_vec());
                self.counts = counts.to_vec();
            }
            // Histograms with other bounds cannot be merged bucket by bucket: skipped.
            Some(b) if b.as_slice() == bounds => {
                for (a, c) in self.counts.iter_mut().zip(counts) {
                    *a += c;
                }
            }
            Some(_) => {}
        }
    }

    fn add_rows(&mut self, qs: Option<&ArrayRef>, bounds: &ArrayRef, counts: &ArrayRef) -> Result<()> {
        if let Some(qs) = qs
            && self.q.is_none()
        {
            let qs = qs.as_primitive::<Float64Type>();
            self.q = qs.iter().flatten().next();
        }
        let bounds = bounds.as_list::<i32>();
        let counts = counts.as_list::<i32>();
        for i in 0..bounds.len() {
            if bounds.is_null(i) || counts.is_null(i) {
                continue;
            }
            let b = bounds.value(i);
            let c = counts.value(i);
            let b: Vec<f64> = b.as_primitive::<Float64Type>().iter().flatten().collect();
            let c: Vec<u64> = c
                .as_primitive::<UInt64Type>()
                .iter()
                .map(|x| x.unwrap_or(0))
                .collect();
            self.add(&b, &c);
        }
        Ok(())
    }
}

fn arg(values: &[ArrayRef], i: usize) -> Result<&ArrayRef> {
    values
        .get(i)
        .ok_or_else(|| DataFusionError::Internal(format!("slod_histogram_quantile: missing argument {i}")))
}

impl Accumulator for QuantileAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add_rows(Some(arg(values, 0)?), arg(values, 1)?, arg(values, 2)?)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.add_rows(Some(arg(states, 0)?), arg(states, 1)?, arg(states, 2)?)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let bounds = self
            .bounds
            .as_ref()
            .map(|b| b.iter().map(|x| Some(*x)).collect::<Vec<_>>());
        let counts = self
            .bounds
            .as_ref()
            .map(|_| self.counts.iter().map(|x| Some(*x)).collect::<Vec<_>>());
        Ok(vec![
            ScalarValue::Float64(self.q),
            ScalarValue::List(Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(
                vec![bounds],
            ))),
            ScalarValue::List(Arc::new(ListArray::from_iter_primitive::<UInt64Type, _, _>(
                vec![counts],
            ))),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let v = match (self.q, &self.bounds) {
            (Some(q), Some(b)) => quantile(q, b, &self.counts),
            _ => None,
        };
        Ok(ScalarValue::Float64(v))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.bounds.as_ref().map_or(0, |b| b.len() * 8) + self.counts.len() * 8
    }
}

pub(crate) fn histogram_quantile() -> AggregateUDF {
    create_udaf(
        "slod_histogram_quantile",
        vec![
            DataType::Float64,
            list_of(DataType::Float64),
            list_of(DataType::UInt64),
        ],
        Arc::new(DataType::Float64),
        Volatility::Immutable,
        Arc::new(|_| Ok(Box::new(QuantileAcc::default()))),
        Arc::new(vec![
            DataType::Float64,
            list_of(DataType::Float64),
            list_of(DataType::UInt64),
        ]),
    )
}

/// Per-bucket increase since the previous cumulative point; after a reset (fewer counts in
/// any bucket, another bucket layout, or no previous point) the counts themselves.
pub(crate) fn bucket_delta() -> ScalarUDF {
    create_udf(
        "slod_bucket_delta",
        vec![list_of(DataType::UInt64), list_of(DataType::UInt64)],
        list_of(DataType::UInt64),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let [cur, prev] = arrays.as_slice() else {
                return Err(DataFusionError::Internal(
                    "slod_bucket_delta takes 2 arguments".into(),
                ));
            };
            let n = cur.len();
            let (cur, prev) = (cur.as_list::<i32>(), prev.as_list::<i32>());
            let mut out = ListBuilder::new(UInt64Builder::new()).with_field(Arc::new(Field::new(
                "item",
                DataType::UInt64,
                true,
            )));
            for i in 0..n {
                if cur.is_null(i) {
                    out.append(false);
                    continue;
                }
                let c: Vec<u64> = cur
                    .value(i)
                    .as_primitive::<UInt64Type>()
                    .iter()
                    .map(|x| x.unwrap_or(0))
                    .collect();
                let p: Option<Vec<u64>> = (!prev.is_null(i)).then(|| {
                    prev.value(i)
                        .as_primitive::<UInt64Type>()
                        .iter()
                        .map(|x| x.unwrap_or(0))
                        .collect()
                });
                match p {
                    Some(p) if p.len() == c.len() && c.iter().zip(&p).all(|(a, b)| a >= b) => {
                        for (a, b) in c.iter().zip(&p) {
                            out.values().append_value(a - b);
                        }
                    }
                    _ => out.values().append_slice(&c),
                }
                out.append(true);
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish())))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::count_le;

    #[test]
    fn count_le_whole_buckets_and_interpolation() {
        let b = [0.1, 0.25, 0.5, 1.0];
        let c = [10, 5, 3, 1, 1];
        // (x, expected)
        let cases = [
            (0.25, 15.0),
            (0.3, 15.6),
            (0.05, 5.0),
            (0.0, 0.0),
            (1.0, 19.0),
            (100.0, 19.0),
            (-1.0, 0.0),
        ];
        for (x, want) in cases {
            let got = count_le(&b, &c, x).unwrap();
            assert!((got - want).abs() < 1e-9, "x={x}: {got} != {want}");
        }
        assert_eq!(count_le(&b, &[1, 2], 0.3), None, "malformed");
        assert_eq!(count_le(&b, &c, f64::NAN), None);
    }
}
