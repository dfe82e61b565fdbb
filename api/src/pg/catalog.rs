//! What PostgreSQL clients look up on connect and in their UIs: `pg_catalog` (from
//! datafusion-postgres), `current_setting()`, a PostgreSQL-shaped `version()`.
//!
//! Registered on the shared `SessionContext`, so the HTTP API answers the same catalog
//! queries as pgwire.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ScalarValue, exec_err};
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
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
    ctx.register_udf(create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(current_setting),
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
    match args.first() {
        Some(ColumnarValue::Scalar(s)) => match s {
            ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => Ok(
                ColumnarValue::Scalar(ScalarValue::Utf8(v.as_deref().map(lookup).transpose()?)),
            ),
            other => exec_err!("current_setting(text): the setting name must be text, got {other}"),
        },
        Some(ColumnarValue::Array(a)) => {
            let cast = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
            let names = cast
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| DataFusionError::Execution("current_setting(text): expected text".into()))?;
            let mut out = Vec::with_capacity(names.len());
            for i in 0..names.len() {
                out.push(if names.is_null(i) {
                    None
                } else {
                    Some(lookup(names.value(i))?)
                });
            }
            Ok(ColumnarValue::Array(Arc::new(StringArray::from(out)) as ArrayRef))
        }
        None => exec_err!(
            "current_setting(text) takes the name of a setting, e.g. current_setting('server_version_num')"
        ),
    }
}
