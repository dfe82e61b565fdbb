use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, FixedSizeBinaryArray, Int8Array, Int32Array, Int64Array, MapBuilder,
    StringArray, StringBuilder, TimestampNanosecondArray, UInt32Array, new_null_array,
};
use arrow::datatypes::DataType;

use super::*;

const T0: i64 = 1_795_486_740_000_000_000; // 2026-11-24T…, inside one hour

/// A spans batch whose rows carry (service, function, start) plus a `name` that encodes all
/// three, so any row scrambled across columns is visible. Other columns: defaults or nulls.
fn spans(rows: &[(&str, &str, i64)]) -> RecordBatch {
    let schema = Table::Spans.schema();
    let n = rows.len();
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            match f.name().as_str() {
                "service_name" => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                "faas_name" => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                "name" => Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| format!("{}/{}/{}", r.0, r.1, r.2)),
                )),
                "start_time" | "end_time" | "ingest_time" => Arc::new(
                    TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.2)).with_timezone("UTC"),
                ),
                _ if f.is_nullable() => new_null_array(f.data_type(), n),
                _ => match f.data_type() {
                    DataType::FixedSizeBinary(w) => Arc::new(
                        FixedSizeBinaryArray::try_from_iter((0..n).map(|i| vec![i as u8 + 1; *w as usize]))
                            .unwrap(),
                    ),
                    DataType::Int64 => Arc::new(Int64Array::from(vec![1; n])),
                    DataType::Int32 => Arc::new(Int32Array::from(vec![1; n])),
                    DataType::Int8 => Arc::new(Int8Array::from(vec![1; n])),
                    DataType::UInt32 => Arc::new(UInt32Array::from(vec![0; n])),
                    DataType::Boolean => Arc::new(BooleanArray::from(vec![false; n])),
                    DataType::Map(..) => {
                        let mut m = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
                        for i in 0..n {
                            m.keys().append_value("row");
                            m.values().append_value(i.to_string());
                            m.append(true).unwrap();
                        }
                        Arc::new(m.finish())
                    }
                    other => panic!("no default for {other}"),
                },
            }
        })
        .collect();
    RecordBatch::try_new(schema, cols).unwrap()
}

fn names(batch: &RecordBatch) -> Vec<String> {
    let a = batch
        .column_by_name("name")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    (0..a.len()).map(|i| a.value(i).to_string()).collect()
}

#[test]
fn flush_splits_by_hour_and_sorts_each_file_by_service_function_time() {
    let dir = tempfile::tempdir().unwrap();
    // Two input batches, rows out of order, two hours.
    let a = spans(&[
        ("svc-b", "fn-1", T0 + 5),
        ("svc-a", "fn-2", T0 + HOUR_NS + 1),
        ("svc-a", "fn-1", T0 + 9),
    ]);
    let b = spans(&[
        ("svc-a", "fn-1", T0 + 2),
        ("svc-b", "fn-0", T0 + HOUR_NS),
        ("svc-a", "fn-2", T0 + 1),
    ]);
    // A chunk limit smaller than one batch: each batch is written on its own.
    for (limit, files_expected) in [(usize::MAX, 2), (1, 4)] {
        let metrics = StorageMetrics::new(&mut prometheus_client::registry::Registry::default());
        let files = write_table(dir.path(), Table::Spans, &[a.clone(), b.clone()], limit, &metrics).unwrap();
        assert_eq!(files.len(), files_expected, "limit {limit}");
        let mut all = Vec::new();
        for f in &files {
            let batches = read_file(dir.path(), f).unwrap();
            let rows: Vec<String> = batches.iter().flat_map(names).collect();
            // Sorted within the file by (service, function, time): names encode exactly that.
            let mut sorted = rows.clone();
            sorted.sort_by_key(|n| {
                let p: Vec<&str> = n.split('/').collect();
                (p[0].to_string(), p[1].to_string(), p[2].parse::<i64>().unwrap())
            });
            assert_eq!(rows, sorted, "file {} is sorted", f.path);
            // Every row of a file belongs to its hour, and columns stayed together.
            for batch in &batches {
                let t = time_values(Table::Spans, batch).unwrap();
                for (i, n) in names(batch).iter().enumerate() {
                    assert_eq!(
                        n.rsplit('/').next().unwrap().parse::<i64>().unwrap(),
                        t.value(i),
                        "{n}: row intact"
                    );
                    assert_eq!(t.value(i).div_euclid(HOUR_NS) * HOUR_NS, f.hour_ns);
                }
            }
            assert_eq!(f.rows as usize, rows.len());
            assert!(f.path.starts_with("spans/date="), "{}", f.path);
            all.extend(rows);
        }
        all.sort();
        let mut want: Vec<String> = names(&a).into_iter().chain(names(&b)).collect();
        want.sort();
        assert_eq!(all, want, "every row written exactly once (limit {limit})");
    }
}
