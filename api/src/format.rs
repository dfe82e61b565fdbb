//! Query result encodings, chosen by `Accept`: JSON (default), NDJSON, CSV, Arrow IPC stream.

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::json::writer::{JsonArray, LineDelimited, WriterBuilder as JsonWriterBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use std::sync::Arc;

use crate::engine::QueryResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    NdJson,
    Csv,
    Arrow,
}

impl Format {
    /// Picks the first supported type in an `Accept` header; JSON when none matches.
    pub fn from_accept(accept: Option<&str>) -> Format {
        for part in accept.unwrap_or("").split(',') {
            let mime = part.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            match mime.as_str() {
                "application/x-ndjson" | "application/ndjson" | "application/jsonl" => return Format::NdJson,
                "text/csv" => return Format::Csv,
                "application/vnd.apache.arrow.stream" => return Format::Arrow,
                "application/json" => return Format::Json,
                _ => {}
            }
        }
        Format::Json
    }

    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "json" => Some(Format::Json),
            "ndjson" => Some(Format::NdJson),
            "csv" => Some(Format::Csv),
            "arrow" => Some(Format::Arrow),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::NdJson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
        }
    }
}

/// Encodes a result. JSON is an object: `{"columns": [{"name", "type"}], "rows": [{…}],
/// "row_count": n, "execution_time_ms": t}`; timestamps are RFC 3339, binary ids hex, maps
/// objects, nulls explicit.
pub fn encode(format: Format, result: &QueryResult) -> Result<Vec<u8>, ArrowError> {
    let batches: Vec<&RecordBatch> = result.batches.iter().collect();
    match format {
        Format::Json => {
            let mut rows = Vec::new();
            {
                let mut w = JsonWriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, JsonArray>(&mut rows);
                w.write_batches(&batches)?;
                w.finish()?;
            }
            if rows.is_empty() {
                rows.extend_from_slice(b"[]");
            }
            let columns: Vec<serde_json::Value> = result
                .schema
                .fields()
                .iter()
                .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()}))
                .collect();
            let mut out = Vec::with_capacity(rows.len() + 256);
            out.extend_from_slice(b"{\"columns\":");
            out.extend_from_slice(serde_json::Value::Array(columns).to_string().as_bytes());
            out.extend_from_slice(b",\"rows\":");
            out.extend_from_slice(&rows);
            out.extend_from_slice(
                format!(
                    ",\"row_count\":{},\"execution_time_ms\":{:.3}}}",
                    result.rows,
                    result.elapsed.as_secs_f64() * 1000.0
                )
                .as_bytes(),
            );
            Ok(out)
        }
        Format::NdJson => {
            let mut out = Vec::new();
            let mut w = JsonWriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, LineDelimited>(&mut out);
            w.write_batches(&batches)?;
            w.finish()?;
            drop(w);
            Ok(out)
        }
        Format::Csv => {
            let mut out = Vec::new();
            {
                let mut w = CsvWriterBuilder::new().with_header(true).build(&mut out);
                if batches.is_empty() {
                    let empty = RecordBatch::new_empty(flat_schema(&result.schema));
                    w.write(&empty)?;
                }
                for b in &batches {
                    w.write(&flatten_nested(b)?)?;
                }
            }
            Ok(out)
        }
        Format::Arrow => {
            let mut out = Vec::new();
            {
                let mut w = StreamWriter::try_new(&mut out, &result.schema)?;
                for b in &batches {
                    w.write(b)?;
                }
                w.finish()?;
            }
            Ok(out)
        }
    }
}

fn is_nested(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Map(..)
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::Struct(_)
    )
}

fn flat_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if is_nested(f.data_type()) {
                Field::new(f.name(), DataType::Utf8, true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// CSV has no nested values: maps, lists and structs become their display text
/// (`{key: value}`, `[1, 2]`).
fn flatten_nested(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch.schema().fields().iter().any(|f| is_nested(f.data_type())) {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let columns = batch
        .columns()
        .iter()
        .map(|c| {
            if !is_nested(c.data_type()) {
                return Ok(c.clone());
            }
            let f = ArrayFormatter::try_new(c.as_ref(), &options)?;
            let values: StringArray = (0..c.len())
                .map(|i| {
                    if c.is_null(i) {
                        None
                    } else {
                        Some(f.value(i).to_string())
                    }
                })
                .collect();
            Ok(Arc::new(values) as ArrayRef)
        })
        .collect::<Result<Vec<_>, ArrowError>>()?;
    RecordBatch::try_new(flat_schema(&batch.schema()), columns)
}
