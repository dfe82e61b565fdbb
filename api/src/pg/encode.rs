//! Arrow results to PostgreSQL rows: type OIDs from arrow-pg, except that map columns (and
//! anything containing one) are sent as `json` text, which every client can decode.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion_postgres::arrow_pg::datatypes::{encode_recordbatch, field_into_pg_type};
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::{FieldInfo, QueryResponse};
use datafusion_postgres::pgwire::error::PgWireResult;
use datafusion_postgres::pgwire::types::format::FormatOptions;

use crate::error::QueryError;

/// True for types PostgreSQL has no array/record form for here: maps, at any depth.
fn has_map(t: &DataType) -> bool {
    match t {
        DataType::Map(..) => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => has_map(f.data_type()),
        DataType::Struct(fs) => fs.iter().any(|f| has_map(f.data_type())),
        DataType::Dictionary(_, v) => has_map(v),
        _ => false,
    }
}

/// Row description for a result schema in the requested formats.
pub(crate) fn fields(
    schema: &Schema,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
) -> PgWireResult<Vec<FieldInfo>> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let ty = if has_map(f.data_type()) {
                Type::JSON
            } else if let Some(t) = wire_type(f.data_type()) {
                datafusion_postgres::arrow_pg::datatypes::into_pg_type(&t)?
            } else {
                field_into_pg_type(f)?
            };
            let mut info = FieldInfo::new(f.name().clone(), None, None, ty, format.format_for(i));
            if let Some(o) = &options {
                info = info.with_format_options(o.clone());
            }
            Ok(info)
        })
        .collect()
}

/// A finished result as a pgwire response.
pub(crate) fn response(
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(fields(schema, format, options)?);
    let mut rows = Vec::new();
    for batch in batches {
        let batch = jsonify(batch).map_err(super::error::to_pg)?;
        rows.extend(encode_recordbatch(fields.clone(), batch));
    }
    Ok(QueryResponse::new(fields, futures::stream::iter(rows)))
}

/// Types arrow-pg 0.16 does not encode correctly, cast first: `FixedSizeBinary` (ids) to
/// `Binary`, `Int8` to `Int16` (both otherwise hang the row encoder).
fn wire_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::FixedSizeBinary(_) => Some(DataType::Binary),
        DataType::Int8 => Some(DataType::Int16),
        _ => None,
    }
}

/// Replaces every map-carrying column by its JSON text (`{"k":"v"}`), nulls kept, and casts
/// columns to the types the row encoder handles.
pub(crate) fn jsonify(batch: RecordBatch) -> Result<RecordBatch, QueryError> {
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| has_map(f.data_type()) || wire_type(f.data_type()).is_some())
    {
        return Ok(batch);
    }
    let mut new_fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (f, col) in schema.fields().iter().zip(batch.columns()) {
        if has_map(f.data_type()) {
            columns.push(json_column(f, col)?);
            new_fields.push(Field::new(f.name(), DataType::Utf8, true));
        } else if let Some(t) = wire_type(f.data_type()) {
            let cast = datafusion::arrow::compute::cast(col, &t)
                .map_err(|e| QueryError::Internal(format!("cast for the wire: {e}")))?;
            columns.push(cast);
            new_fields.push(Field::new(f.name(), t, true));
        } else {
            columns.push(col.clone());
            new_fields.push(f.as_ref().clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(new_fields)), columns)
        .map_err(|e| QueryError::Internal(format!("json conversion: {e}")))
}

fn json_column(field: &Field, col: &ArrayRef) -> Result<ArrayRef, QueryError> {
    let err = |e: &dyn std::fmt::Display| QueryError::Internal(format!("json conversion: {e}"));
    let one = Field::new("v", field.data_type().clone(), true);
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(vec![one])), vec![col.clone()]).map_err(|e| err(&e))?;
    let mut buf = Vec::new();
    {
        let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
        w.write(&batch).map_err(|e| err(&e))?;
        w.finish().map_err(|e| err(&e))?;
    }
    let mut out = StringBuilder::new();
    for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let mut v: serde_json::Value = serde_json::from_slice(line).map_err(|e| err(&e))?;
        match v.get_mut("v").map(serde_json::Value::take) {
            Some(serde_json::Value::Null) | None => out.append_null(),
            Some(value) => out.append_value(value.to_string()),
        }
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, MapBuilder, StringArray};

    #[test]
    fn maps_become_json_text_and_nulls_stay_null() {
        let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        b.keys().append_value("http.route");
        b.values().append_value("/orders");
        b.append(true).unwrap();
        b.append(false).unwrap(); // null map
        b.append(true).unwrap(); // empty map
        let col: ArrayRef = Arc::new(b.finish());
        let schema = Schema::new(vec![Field::new("attributes", col.data_type().clone(), true)]);
        let fields = fields(&schema, &Format::UnifiedText, None).unwrap();
        assert_eq!(fields[0].datatype(), &Type::JSON);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![col]).unwrap();
        let out = jsonify(batch).unwrap();
        let s = out.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(s.value(0), r#"{"http.route":"/orders"}"#);
        assert!(s.is_null(1));
        assert_eq!(s.value(2), "{}");
    }
}
