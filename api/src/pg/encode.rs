//! Arrow results to PostgreSQL rows: type OIDs from arrow-pg, except that map columns (and
//! anything containing one) are sent as `json` text, which every client can decode, and
//! that float infinities are spelled as PostgreSQL spells them in text (`Infinity`, not
//! pgwire's `inf`, which node-postgres reads as NaN and JDBC refuses).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion_postgres::arrow_pg::datatypes::{encode_recordbatch, field_into_pg_type};
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse};
use datafusion_postgres::pgwire::error::PgWireResult;
use datafusion_postgres::pgwire::messages::data::DataRow;
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
    let float_text: Vec<bool> = fields
        .iter()
        .map(|f| {
            f.format() == FieldFormat::Text
                && [Type::FLOAT4, Type::FLOAT8, Type::FLOAT4_ARRAY, Type::FLOAT8_ARRAY].contains(f.datatype())
        })
        .collect();
    let fix = float_text.contains(&true);
    let mut rows = Vec::new();
    for batch in batches {
        let batch = jsonify(batch).map_err(super::error::to_pg)?;
        let encoded = encode_recordbatch(fields.clone(), batch);
        if fix {
            rows.extend(encoded.map(|r| r.map(|row| spell_infinities(row, &float_text))));
        } else {
            rows.extend(encoded);
        }
    }
    Ok(QueryResponse::new(fields, futures::stream::iter(rows)))
}

/// Rewrites `inf` to `Infinity` (and `-inf` to `-Infinity`, also inside float arrays) in the
/// text-format float columns of one encoded row; other rows are returned as they are.
fn spell_infinities(mut row: DataRow, float_text: &[bool]) -> DataRow {
    // A DataRow's data: per column, a big-endian i32 length (-1 for NULL) and the bytes.
    let fields = |data: &[u8]| {
        let mut out = Vec::with_capacity(float_text.len());
        let mut pos = 0;
        while pos + 4 <= data.len() {
            let len = i32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]);
            pos += 4;
            let len = usize::try_from(len).ok();
            let end = len.map_or(pos, |l| (pos + l).min(data.len()));
            out.push(len.map(|_| pos..end));
            pos = end;
        }
        out
    };
    let spans = fields(&row.data);
    let needs = spans.iter().zip(float_text).any(|(r, f)| {
        *f && r
            .as_ref()
            .is_some_and(|r| row.data[r.clone()].windows(3).any(|w| w == b"inf"))
    });
    if !needs {
        return row;
    }
    let mut data = bytes::BytesMut::with_capacity(row.data.len() + 16);
    for (r, f) in spans
        .iter()
        .zip(float_text.iter().chain(std::iter::repeat(&false)))
    {
        match r {
            None => data.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(r) => {
                let v = &row.data[r.clone()];
                let text;
                let v = if *f && v.windows(3).any(|w| w == b"inf") {
                    text = String::from_utf8_lossy(v).replace("inf", "Infinity");
                    text.as_bytes()
                } else {
                    v
                };
                data.extend_from_slice(&(v.len() as i32).to_be_bytes());
                data.extend_from_slice(v);
            }
        }
    }
    row.data = data;
    row
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
    fn infinities_are_spelled_as_postgresql_does_in_text() {
        use datafusion::arrow::array::Float64Array;
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Float64, true),
            Field::new("b", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Float64Array::from(vec![
                    Some(f64::INFINITY),
                    Some(f64::NEG_INFINITY),
                    None,
                    Some(1.5),
                    Some(f64::NAN),
                ])),
                Arc::new(StringArray::from(vec!["inf", "x", "y", "z", "w"])),
            ],
        )
        .unwrap();
        let text = |format: &Format| {
            let fields = Arc::new(fields(&schema, format, None).unwrap());
            let float_text: Vec<bool> = vec![format.format_for(0) == FieldFormat::Text, false];
            encode_recordbatch(fields, batch.clone())
                .map(|r| spell_infinities(r.unwrap(), &float_text))
                .map(|r| String::from_utf8_lossy(&r.data).into_owned())
                .collect::<Vec<_>>()
        };
        let rows = text(&Format::UnifiedText);
        assert!(
            rows[0].contains("Infinity") && rows[0].ends_with("inf"),
            "{rows:?}"
        );
        assert!(rows[1].contains("-Infinity"), "{rows:?}");
        assert!(rows[3].contains("1.5") && rows[4].contains("NaN"), "{rows:?}");
        // Binary format carries IEEE bytes: untouched.
        assert!(!text(&Format::UnifiedBinary)[0].contains("Infinity"));
    }

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
