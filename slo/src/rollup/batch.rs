//! Query results as rows addressed by column name, with lenient numeric and string reads.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampSecondType};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DfResult;
use datafusion::prelude::SessionContext;

/// All rows of a query, columns concatenated.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    names: Vec<String>,
    columns: HashMap<String, ArrayRef>,
    len: usize,
}

impl Rows {
    pub(crate) async fn collect(ctx: &SessionContext, sql: &str) -> DfResult<Rows> {
        let batches = ctx.sql(sql).await?.collect().await?;
        Rows::from_batches(&batches)
    }

    pub(crate) fn from_batches(batches: &[RecordBatch]) -> DfResult<Rows> {
        let Some(first) = batches.first() else {
            return Ok(Rows::default());
        };
        let schema = first.schema();
        let mut rows = Rows::default();
        for (i, field) in schema.fields().iter().enumerate() {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
            let array = datafusion::arrow::compute::concat(&parts)?;
            // Normalise once: numbers to f64, strings to Utf8, times to seconds.
            let target = match field.data_type() {
                DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Second, tz.clone()),
                t if t.is_numeric() || *t == DataType::Boolean => DataType::Float64,
                _ => DataType::Utf8,
            };
            let array = cast(&array, &target)?;
            rows.len = array.len();
            rows.names.push(field.name().clone());
            rows.columns.insert(field.name().clone(), array);
        }
        Ok(rows)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn columns(&self) -> impl Iterator<Item = String> + '_ {
        self.names.iter().cloned()
    }

    pub(crate) fn f64(&self, col: &str, i: usize) -> Option<f64> {
        let a = self.columns.get(col)?;
        let a = a.as_primitive_opt::<Float64Type>()?;
        (!a.is_null(i)).then(|| a.value(i)).filter(|v| v.is_finite())
    }

    pub(crate) fn str(&self, col: &str, i: usize) -> Option<String> {
        let a = self.columns.get(col)?;
        let a = a.as_string_opt::<i32>()?;
        (!a.is_null(i)).then(|| a.value(i).to_string())
    }

    /// Unix seconds of a timestamp column.
    pub(crate) fn timestamp(&self, col: &str, i: usize) -> Option<i64> {
        let a = self.columns.get(col)?;
        let a = a.as_primitive_opt::<TimestampSecondType>()?;
        (!a.is_null(i)).then(|| a.value(i))
    }

    pub(crate) fn timestamps(&self, col: &str) -> Vec<Option<i64>> {
        (0..self.len).map(|i| self.timestamp(col, i)).collect()
    }
}
