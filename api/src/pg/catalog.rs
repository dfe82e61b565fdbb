//! What PostgreSQL clients look up on connect and in their UIs: `pg_catalog` (from
//! datafusion-postgres), `current_setting()`, a PostgreSQL-shaped `version()`, and
//! `to_regtype()` (psycopg's type introspection), and `information_schema.columns` with
//! PostgreSQL's type names in `data_type` (`bigint`, `timestamp with time zone`, ...) instead
//! of Arrow's, as Grafana's query builder and other tools show them.
//!
//! Registered on the shared `SessionContext`, so the HTTP API answers the same catalog
//! queries as pgwire.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int32Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DataFusionError, ScalarValue, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, Projection, ScalarUDF, Volatility, create_udf,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;

use crate::engine::CATALOG;

/// The PostgreSQL version slod presents (`server_version`): the one whose catalog layout
/// datafusion-postgres reproduces.
pub(crate) const SERVER_VERSION: &str = "16.6";
pub(crate) const SERVER_VERSION_NUM: &str = "160006";

/// Settings `current_setting()` and `SHOW` answer: PostgreSQL's defaults, except that the
/// server is read-only and always UTC.
pub(crate) fn setting(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "server_version" => SERVER_VERSION,
        "server_version_num" => SERVER_VERSION_NUM,
        "search_path" => "\"$user\", public",
        "timezone" => "UTC",
        "log_timezone" => "UTC",
        "datestyle" => "ISO, YMD",
        "intervalstyle" => "postgres",
        "client_encoding" | "server_encoding" => "UTF8",
        "standard_conforming_strings" | "integer_datetimes" => "on",
        "default_transaction_read_only" | "transaction_read_only" => "on",
        "transaction_isolation" | "default_transaction_isolation" => "read committed",
        "is_superuser" => "off",
        "max_identifier_length" => "63",
        "max_connections" => "100",
        "max_index_keys" => "32",
        "block_size" => "8192",
        "lc_collate" | "lc_ctype" | "lc_messages" | "lc_monetary" | "lc_numeric" | "lc_time" => "C",
        "extra_float_digits" => "1",
        "bytea_output" => "hex",
        "application_name" => "",
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => "0",
        "ssl" => "off",
        "server_version_full" => SERVER_VERSION,
        _ => return None,
    })
}

pub(crate) fn register(ctx: &SessionContext) -> Result<(), DataFusionError> {
    setup_pg_catalog(ctx, CATALOG, EmptyContextProvider).map_err(|e| *e)?;
    ctx.add_analyzer_rule(Arc::new(PgColumnTypes::new()));
    ctx.register_udf(create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(current_setting),
    ));
    ctx.register_udf(create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Immutable,
        Arc::new(to_regtype),
    ));
    let version = format!(
        "PostgreSQL {SERVER_VERSION} (slod {}, Apache DataFusion {}) on {}, 64-bit",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION,
        std::env::consts::ARCH,
    );
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(version.clone()))))
        }),
    ));
    Ok(())
}

/// `current_setting(name)`: Grafana reads `server_version_num` to detect the version and
/// `search_path` to list tables.
fn current_setting(args: &[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    let lookup = |name: &str| -> Result<String, DataFusionError> {
        match setting(name) {
            Some(v) => Ok(v.to_string()),
            None => exec_err!("unrecognized configuration parameter \"{name}\""),
        }
    };
    let usage =
        "current_setting(text) takes the name of a setting, e.g. current_setting('server_version_num')";
    Ok(match text_arg(args, usage)? {
        TextArg::Scalar(v) => ColumnarValue::Scalar(ScalarValue::Utf8(v.as_deref().map(lookup).transpose()?)),
        TextArg::Column(names) => {
            let out = names
                .iter()
                .map(|n| n.map(lookup).transpose())
                .collect::<Result<StringArray, _>>()?;
            ColumnarValue::Array(Arc::new(out) as ArrayRef)
        }
    })
}

/// The one text argument of a catalog function: a constant (`None` = NULL) or a column.
enum TextArg {
    Scalar(Option<String>),
    Column(StringArray),
}

fn text_arg(args: &[ColumnarValue], usage: &str) -> Result<TextArg, DataFusionError> {
    match args.first() {
        Some(ColumnarValue::Scalar(
            ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v),
        )) => Ok(TextArg::Scalar(v.clone())),
        Some(ColumnarValue::Scalar(ScalarValue::Null)) => Ok(TextArg::Scalar(None)),
        Some(ColumnarValue::Scalar(other)) => exec_err!("{usage}; got {other}"),
        Some(ColumnarValue::Array(a)) => {
            let cast = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
            let names = cast
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| DataFusionError::Execution(format!("{usage}; got {}", a.data_type())))?;
            Ok(TextArg::Column(names.clone()))
        }
        None => exec_err!("{usage}"),
    }
}

/// The SQL-standard name PostgreSQL's `information_schema.columns.data_type` gives the wire
/// type slod sends for an Arrow type (as DataFusion's information_schema prints it); other
/// text is returned as it is, so applying this twice changes nothing.
pub(crate) fn pg_data_type(arrow: &str) -> String {
    let t = arrow.trim();
    let name = match t {
        _ if t.contains("Map(") => "json",
        "Boolean" => "boolean",
        "Int8" | "Int16" | "UInt8" => "smallint",
        "Int32" | "UInt16" => "integer",
        "Int64" | "UInt32" => "bigint",
        "UInt64" => "numeric",
        "Float16" | "Float32" => "real",
        "Float64" => "double precision",
        "Utf8" | "LargeUtf8" | "Utf8View" => "text",
        "Binary" | "LargeBinary" | "BinaryView" => "bytea",
        "Date32" | "Date64" => "date",
        "Null" => "unknown",
        _ if t.starts_with("FixedSizeBinary(") => "bytea",
        _ if t.starts_with("Decimal") => "numeric",
        _ if t.starts_with("Timestamp(") => {
            if t.contains('"') || t.contains("Some(") {
                "timestamp with time zone"
            } else {
                "timestamp without time zone"
            }
        }
        _ if t.starts_with("Time32(") || t.starts_with("Time64(") => "time without time zone",
        _ if t.starts_with("Interval(") || t.starts_with("Duration(") => "interval",
        _ if t.starts_with("List(") || t.starts_with("LargeList(") || t.starts_with("FixedSizeList(") => {
            "ARRAY"
        }
        _ if t.starts_with("Struct(") => "record",
        _ => return arrow.to_string(),
    };
    name.to_string()
}

/// Analyzer rule: every scan of `information_schema.columns` is wrapped in a projection that
/// passes each column through, `data_type` through [`pg_data_type`]. HTTP and pgwire share it.
#[derive(Debug)]
struct PgColumnTypes {
    udf: Arc<ScalarUDF>,
}

impl PgColumnTypes {
    fn new() -> PgColumnTypes {
        let udf = create_udf(
            "slod_pg_data_type",
            vec![DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(|args: &[ColumnarValue]| {
                let a = ColumnarValue::values_to_arrays(args)?;
                let names = a[0]
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| DataFusionError::Execution("slod_pg_data_type: expected text".into()))?;
                let out: StringArray = names.iter().map(|n| n.map(pg_data_type)).collect();
                Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
            }),
        );
        PgColumnTypes { udf: Arc::new(udf) }
    }
}

impl AnalyzerRule for PgColumnTypes {
    fn name(&self) -> &str {
        "slod_pg_column_types"
    }

    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan, DataFusionError> {
        let udf = &self.udf;
        plan.transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = &node else {
                return Ok(Transformed::no(node));
            };
            if scan.table_name.schema() != Some("information_schema") || scan.table_name.table() != "columns"
            {
                return Ok(Transformed::no(node));
            }
            let exprs: Vec<Expr> = scan
                .projected_schema
                .iter()
                .map(|(qualifier, field)| {
                    let col = Expr::Column(Column::new(qualifier.cloned(), field.name()));
                    if field.name() == "data_type" {
                        Expr::ScalarFunction(ScalarFunction::new_udf(udf.clone(), vec![col]))
                            .alias_qualified(qualifier.cloned(), "data_type")
                    } else {
                        col
                    }
                })
                .collect();
            let projection = Projection::try_new(exprs, Arc::new(node))?;
            Ok(Transformed::yes(LogicalPlan::Projection(projection)))
        })
        .map(|t| t.data)
    }
}

/// PostgreSQL's built-in types by OID, with the names `to_regtype()` accepts for each
/// (`typname`, then SQL spellings). Array types are `_<typname>` or `<name>[]`.
const TYPES: &[(i32, i32, &[&str])] = &[
    // (oid, array oid, names)
    (16, 1000, &["bool", "boolean"]),
    (17, 1001, &["bytea"]),
    (18, 1002, &["\"char\""]),
    (19, 1003, &["name"]),
    (20, 1016, &["int8", "bigint"]),
    (21, 1005, &["int2", "smallint"]),
    (23, 1007, &["int4", "integer", "int"]),
    (25, 1009, &["text"]),
    (26, 1028, &["oid"]),
    (114, 199, &["json"]),
    (142, 143, &["xml"]),
    (700, 1021, &["float4", "real"]),
    (701, 1022, &["float8", "double precision"]),
    (790, 791, &["money"]),
    (829, 1040, &["macaddr"]),
    (869, 1041, &["inet"]),
    (650, 651, &["cidr"]),
    (1042, 1014, &["bpchar", "character", "char"]),
    (1043, 1015, &["varchar", "character varying"]),
    (1082, 1182, &["date"]),
    (1083, 1183, &["time", "time without time zone"]),
    (1114, 1115, &["timestamp", "timestamp without time zone"]),
    (1184, 1185, &["timestamptz", "timestamp with time zone"]),
    (1186, 1187, &["interval"]),
    (1266, 1270, &["timetz", "time with time zone"]),
    (1560, 1561, &["bit"]),
    (1562, 1563, &["varbit", "bit varying"]),
    (1700, 1231, &["numeric", "decimal"]),
    (2950, 2951, &["uuid"]),
    (3802, 3807, &["jsonb"]),
    (3614, 3643, &["tsvector"]),
    (3615, 3645, &["tsquery"]),
    (2249, 2287, &["record"]),
    (2278, 0, &["void"]),
    (705, 0, &["unknown"]),
];

/// The OID of a type name as `to_regtype()` resolves it: case-insensitive, an optional
/// `pg_catalog.` prefix, a type modifier (`varchar(10)`) ignored; `None` for a type slod's
/// PostgreSQL does not have (`hstore`, `geometry`, ...).
pub(crate) fn regtype(name: &str) -> Option<i32> {
    let mut n = name.trim().to_ascii_lowercase();
    n = n.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(rest) = n.strip_prefix("pg_catalog.") {
        n = rest.to_string();
    }
    let (base, array) = match n.strip_suffix("[]") {
        Some(b) => (b.trim_end().to_string(), true),
        None => match n.strip_prefix('_') {
            Some(b) => (b.to_string(), true),
            None => (n, false),
        },
    };
    let base = match base.find('(') {
        // varchar(10), numeric(10,2), timestamp(3) with time zone
        Some(i) => {
            let close = base[i..].find(')').map_or(base.len(), |j| i + j + 1);
            format!("{}{}", base[..i].trim_end(), &base[close..])
        }
        None => base,
    };
    let base = base.trim();
    let (oid, array_oid, _) = TYPES.iter().find(|(_, _, names)| names.contains(&base))?;
    match (array, *array_oid) {
        (false, _) => Some(*oid),
        (true, 0) => None,
        (true, a) => Some(a),
    }
}

/// `to_regtype(text)`: the type's OID, or NULL when there is no such type (psycopg's
/// `TypeInfo.fetch` asks this on behalf of adapters: `hstore` is absent here).
fn to_regtype(args: &[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    Ok(
        match text_arg(
            args,
            "to_regtype(text) takes a type name, e.g. to_regtype('json')",
        )? {
            TextArg::Scalar(v) => ColumnarValue::Scalar(ScalarValue::Int32(v.as_deref().and_then(regtype))),
            TextArg::Column(names) => {
                let out: Int32Array = names.iter().map(|n| n.and_then(regtype)).collect();
                ColumnarValue::Array(Arc::new(out) as ArrayRef)
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::{pg_data_type, regtype};

    #[test]
    fn arrow_types_get_postgresql_names() {
        for (arrow, pg) in [
            ("Int64", "bigint"),
            ("Int8", "smallint"),
            ("UInt64", "numeric"),
            ("Float64", "double precision"),
            ("Utf8", "text"),
            ("Boolean", "boolean"),
            ("FixedSizeBinary(16)", "bytea"),
            ("Timestamp(ns, \"UTC\")", "timestamp with time zone"),
            ("Timestamp(Nanosecond, Some(\"UTC\"))", "timestamp with time zone"),
            ("Timestamp(ns)", "timestamp without time zone"),
            (
                "Map(\"entries\": non-null Struct(\"keys\": non-null Utf8, \"values\": Utf8), unsorted)",
                "json",
            ),
            ("List(Struct(\"name\": Utf8, \"attributes\": Map(..)))", "json"),
            ("List(Float64)", "ARRAY"),
            ("bigint", "bigint"),
        ] {
            assert_eq!(pg_data_type(arrow), pg, "{arrow}");
        }
    }

    #[test]
    fn type_names_resolve_as_postgresql_does() {
        for (name, oid) in [
            ("json", Some(114)),
            ("JSON", Some(114)),
            ("pg_catalog.int8", Some(20)),
            ("bigint", Some(20)),
            ("double precision", Some(701)),
            ("timestamp with time zone", Some(1184)),
            ("timestamptz", Some(1184)),
            ("varchar(10)", Some(1043)),
            ("numeric(10, 2)", Some(1700)),
            ("text[]", Some(1009)),
            ("_float8", Some(1022)),
            ("\"char\"", Some(18)),
            ("char", Some(1042)),
            ("hstore", None),
            ("void[]", None),
            ("", None),
        ] {
            assert_eq!(regtype(name), oid, "{name}");
        }
    }
}
