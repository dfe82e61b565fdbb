//! `trace_id('0af7651916cd43dd8448eb211c80319c')` → the 16-byte id, `span_id('…')` → 8 bytes.
//!
//! Immutable, so DataFusion's simplifier evaluates a call on a literal at planning time and
//! `trace_id = trace_id('…')` reaches the Parquet scan as a plain equality on a binary
//! literal: row groups are skipped by min/max statistics and the bloom filter.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, FixedSizeBinaryBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

pub(crate) fn id_udf(name: &'static str, bytes: i32) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Utf8],
        DataType::FixedSizeBinary(bytes),
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| parse_ids(name, bytes, args)),
    )
}

fn parse_ids(name: &str, bytes: i32, args: &[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let Some(text) = arrays.first() else {
        return exec_err!(
            "{name}(text) takes the id as hex, e.g. {name}('{}')",
            "0a".repeat(bytes as usize)
        );
    };
    let text = cast(text, &DataType::Utf8)?;
    let text = datafusion::common::cast::as_string_array(&text)?;
    let mut out = FixedSizeBinaryBuilder::with_capacity(text.len(), bytes);
    for i in 0..text.len() {
        if text.is_null(i) {
            out.append_null();
            continue;
        }
        let s = text.value(i).trim();
        match decode_hex(s) {
            Some(b) if b.len() == bytes as usize => out.append_value(b)?,
            _ => {
                return exec_err!(
                    "{name}('{s}'): not a {}-character hex id, e.g. {name}('{}')",
                    bytes * 2,
                    "0a".repeat(bytes as usize)
                );
            }
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids() {
        // Valid ids decode; wrong length, odd length and non-hex are refused.
        assert_eq!(decode_hex("0aff"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex("0AFF"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
        let ok = parse_ids(
            "span_id",
            8,
            &[ColumnarValue::from(datafusion::scalar::ScalarValue::from(
                "00000000000000ff",
            ))],
        );
        assert!(ok.is_ok());
        let bad = parse_ids(
            "span_id",
            8,
            &[ColumnarValue::from(datafusion::scalar::ScalarValue::from("ff"))],
        );
        assert!(bad.unwrap_err().to_string().contains("16-character hex id"));
    }
}
