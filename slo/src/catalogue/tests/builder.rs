//! A tiny row builder over the real storage schemas: name the columns a test cares about,
//! the rest are NULL (or the type's zero value where the column is not nullable).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, FixedSizeBinaryBuilder, Float64Builder, Int8Builder, Int32Builder,
    Int64Builder, ListArray, MapBuilder, MapFieldNames, RecordBatch, StringBuilder, StructArray,
    TimestampNanosecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use slod_storage::Table;

/// A cell value.
#[derive(Debug, Clone)]
pub(crate) enum V {
    S(&'static str),
    Str(String),
    I(i64),
    F(f64),
    B(bool),
    /// Timestamp, ns since the epoch.
    T(i64),
    /// Bytes for a fixed-size binary id (padded/truncated to the column's width).
    Id(u64),
    Map(Vec<(&'static str, String)>),
    F64s(Vec<f64>),
    U64s(Vec<u64>),
    /// `links`: (trace id, span id, attributes) per link.
    Links(Vec<Link>),
    /// `quantiles`: (quantile, value).
    Quantiles(Vec<(f64, f64)>),
    /// `events`: names only (offset 0, no attributes).
    Events(Vec<&'static str>),
}

/// A link: trace id, span id, attributes.
pub(crate) type Link = (u64, u64, Vec<(&'static str, String)>);

pub(crate) type Row = Vec<(&'static str, V)>;

/// Replaces or adds cells of a row.
pub(crate) fn with(mut row: Row, cells: Vec<(&'static str, V)>) -> Row {
    for (k, v) in cells {
        row.retain(|(x, _)| *x != k);
        row.push((k, v));
    }
    row
}

/// An invocation span of `faas_name` (a Lambda in eu-west-1): span and trace id `id`,
/// starting `start_s` seconds after the test epoch, lasting `ms` milliseconds.
pub(crate) fn invocation(faas_name: &'static str, id: u64, start_s: f64, ms: f64) -> Row {
    let start = at(0, start_s);
    let dur = (ms * 1e6) as i64;
    vec![
        ("trace_id", V::Id(id)),
        ("span_id", V::Id(id)),
        ("start_time", V::T(start)),
        ("end_time", V::T(start + dur)),
        ("duration_ns", V::I(dur)),
        ("name", V::S(faas_name)),
        ("kind", V::I(2)),
        ("is_root", V::B(true)),
        ("service_name", V::S(faas_name)),
        ("faas_name", V::S(faas_name)),
        ("cloud_provider", V::S("aws")),
        ("cloud_platform", V::S("aws_lambda")),
        ("cloud_region", V::S("eu-west-1")),
        ("faas_invocation_id", V::Str(format!("req-{id}"))),
        ("is_invocation", V::B(true)),
    ]
}

/// Minute `m` (from the test epoch) plus `s` seconds, in ns.
pub(crate) fn at(m: i64, s: f64) -> i64 {
    T0 + m * 60_000_000_000 + (s * 1e9) as i64
}

/// 2026-01-05T10:00:00Z.
pub(crate) const T0: i64 = 1_767_607_200_000_000_000;

pub(crate) fn batch(table: Table, rows: &[Row]) -> RecordBatch {
    let schema = table.schema();
    let maps: Vec<HashMap<&str, &V>> = rows
        .iter()
        .map(|r| r.iter().map(|(k, v)| (*k, v)).collect())
        .collect();
    for r in rows {
        for (k, _) in r {
            assert!(schema.field_with_name(k).is_ok(), "{table} has no column {k}");
        }
    }
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            column(
                f,
                &maps
                    .iter()
                    .map(|m| m.get(f.name().as_str()).copied())
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    RecordBatch::try_new(schema, cols).unwrap()
}

fn column(f: &Field, vals: &[Option<&V>]) -> ArrayRef {
    let n = vals.len();
    let null = !f.is_nullable();
    match f.data_type() {
        DataType::Utf8 => {
            let mut b = StringBuilder::new();
            for v in vals {
                match v {
                    Some(V::S(s)) => b.append_value(s),
                    Some(V::Str(s)) => b.append_value(s),
                    None if null => b.append_value(""),
                    None => b.append_null(),
                    other => panic!("{}: not a string: {other:?}", f.name()),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Int64 => {
            let mut b = Int64Builder::new();
            for v in vals {
                match v {
                    Some(V::I(i)) => b.append_value(*i),
                    None if null => b.append_value(0),
                    None => b.append_null(),
                    other => panic!("{}: not an int: {other:?}", f.name()),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Int32 => {
            let mut b = Int32Builder::new();
            for v in vals {
                match v {
                    Some(V::I(i)) => b.append_value(*i as i32),
                    None if null => b.append_value(0),
                    None => b.append_null(),
                    other => panic!("{}: not an int: {other:?}", f.name()),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Int8 => {
            let mut b = Int8Builder::new();
            for v in vals {
                match v {
                    Some(V::I(i)) => b.append_value(*i as i8),
                    None => b.append_value(0),
                    other => panic!("{}: not an int: {other:?}", f.name()),
                }
            }
            Arc::new(b.finish())
        }
        DataType::UInt32 => {
            let mut b = UInt32Builder::new();
            for v in vals {
                match v {
                    Some(V::I(i)) => b.append_value(*i as u32),
                    None => b.append_value(0),
                    other => panic!("{}: not an int: {other:?}", f.name()),
                }
            }
            Arc::new(b.finish())
        }
        DataType::UInt64 => {
            let mut b = UInt64Builder::new();
            for v in vals {
                match v {
                    Some(V::I(i)) => b.append_value(*i as u64),
                    None if null => b.append_value(0),
                    None => b.append_null(),
                    other => panic!("{}: not an int: {other:?}", f.name()),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::new();
            for v in vals {
                match v {
                    Some(V::F(x)) => b.append_value(*x),
                    Some(V::I(i)) => b.append_value(*i as f64),
                    None if null => b.append_value(0.0),
                    None => b.append_null(),
                    other => panic!("{}: not a float: {other:?}", f.name()),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::new();
            for v in vals {
                match v {
                    Some(V::B(x)) => b.append_value(*x),
                    None if null => b.append_value(false),
                    None => b.append_null(),
                    other => panic!("{}: not a bool: {other:?}", f.name()),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(_, _) => {
            let mut b = TimestampNanosecondBuilder::new().with_timezone("UTC");
            for v in vals {
                match v {
                    Some(V::T(t)) => b.append_value(*t),
                    None if null => b.append_value(0),
                    None => b.append_null(),
                    other => panic!("{}: not a time: {other:?}", f.name()),
                }
            }
            Arc::new(b.finish())
        }
        DataType::FixedSizeBinary(w) => {
            let mut b = FixedSizeBinaryBuilder::new(*w);
            for v in vals {
                match v {
                    Some(V::Id(x)) => b.append_value(id_bytes(*x, *w as usize)).unwrap(),
                    None if null => b.append_value(vec![0u8; *w as usize]).unwrap(),
                    None => b.append_null(),
                    other => panic!("{}: not an id: {other:?}", f.name()),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Map(_, _) => {
            let mut b = map_builder();
            for v in vals {
                if let Some(V::Map(kv)) = v {
                    for (k, v) in kv {
                        b.keys().append_value(k);
                        b.values().append_value(v);
                    }
                }
                b.append(true).unwrap();
            }
            Arc::new(b.finish())
        }
        DataType::List(item) => list_column(f.name(), item.data_type(), vals, n),
        other => panic!("{}: unsupported type {other}", f.name()),
    }
}

fn id_bytes(x: u64, w: usize) -> Vec<u8> {
    let mut out = vec![0u8; w];
    let be = x.to_be_bytes();
    out[w - 8..].copy_from_slice(&be);
    out
}

fn map_builder() -> MapBuilder<StringBuilder, StringBuilder> {
    let names = MapFieldNames {
        entry: "entries".into(),
        key: "keys".into(),
        value: "values".into(),
    };
    MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new())
}

fn list_column(name: &str, item: &DataType, vals: &[Option<&V>], n: usize) -> ArrayRef {
    let field = Arc::new(Field::new("item", item.clone(), true));
    let mut offsets = vec![0i32];
    let mut push = |len: usize| {
        let last = *offsets.last().unwrap();
        offsets.push(last + len as i32);
    };
    let values: ArrayRef = match item {
        DataType::Float64 => {
            let mut b = Float64Builder::new();
            for v in vals {
                let xs = match v {
                    Some(V::F64s(xs)) => xs.clone(),
                    _ => vec![],
                };
                push(xs.len());
                b.append_slice(&xs);
            }
            Arc::new(b.finish())
        }
        DataType::UInt64 => {
            let mut b = UInt64Builder::new();
            for v in vals {
                let xs = match v {
                    Some(V::U64s(xs)) => xs.clone(),
                    _ => vec![],
                };
                push(xs.len());
                b.append_slice(&xs);
            }
            Arc::new(b.finish())
        }
        DataType::Struct(fields) if name == "links" => {
            let (mut t, mut s, mut m) = (
                FixedSizeBinaryBuilder::new(16),
                FixedSizeBinaryBuilder::new(8),
                map_builder(),
            );
            for v in vals {
                let links = match v {
                    Some(V::Links(l)) => l.clone(),
                    _ => vec![],
                };
                push(links.len());
                for (ti, si, attrs) in links {
                    t.append_value(id_bytes(ti, 16)).unwrap();
                    s.append_value(id_bytes(si, 8)).unwrap();
                    for (k, v) in attrs {
                        m.keys().append_value(k);
                        m.values().append_value(v);
                    }
                    m.append(true).unwrap();
                }
            }
            struct_array(
                fields,
                vec![Arc::new(t.finish()), Arc::new(s.finish()), Arc::new(m.finish())],
            )
        }
        DataType::Struct(fields) if name == "quantiles" => {
            let (mut q, mut x) = (Float64Builder::new(), Float64Builder::new());
            for v in vals {
                let qs = match v {
                    Some(V::Quantiles(qs)) => qs.clone(),
                    _ => vec![],
                };
                push(qs.len());
                for (a, b) in qs {
                    q.append_value(a);
                    x.append_value(b);
                }
            }
            struct_array(fields, vec![Arc::new(q.finish()), Arc::new(x.finish())])
        }
        DataType::Struct(fields) => {
            // events: names only.
            let (mut t, mut nm, mut m) = (Int64Builder::new(), StringBuilder::new(), map_builder());
            for v in vals {
                let names = match v {
                    Some(V::Events(n)) => n.clone(),
                    _ => vec![],
                };
                push(names.len());
                for x in names {
                    t.append_value(0);
                    nm.append_value(x);
                    m.append(true).unwrap();
                }
            }
            struct_array(
                fields,
                vec![Arc::new(t.finish()), Arc::new(nm.finish()), Arc::new(m.finish())],
            )
        }
        other => panic!("{name}: unsupported list item {other}"),
    };
    assert_eq!(offsets.len(), n + 1);
    Arc::new(ListArray::try_new(field, OffsetBuffer::new(offsets.into()), values, None).unwrap())
}

fn struct_array(fields: &Fields, cols: Vec<ArrayRef>) -> ArrayRef {
    Arc::new(StructArray::try_new(fields.clone(), cols, None).unwrap())
}

/// A context laid out as `api`'s engine lays it out (catalog `slod`, schema `public`) with
/// the four tables as in-memory tables.
pub(crate) fn context(tables: &[(Table, Vec<Row>)]) -> SessionContext {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("slod", "public")
        .with_target_partitions(2);
    let ctx = SessionContext::new_with_config(config);
    for t in Table::ALL {
        let rows: &[Row] = tables
            .iter()
            .find(|(x, _)| *x == t)
            .map_or(&[], |(_, r)| r.as_slice());
        let b = batch(t, rows);
        let mem = MemTable::try_new(t.schema(), vec![vec![b]]).unwrap();
        ctx.register_table(t.name(), Arc::new(mem)).unwrap();
    }
    ctx
}
