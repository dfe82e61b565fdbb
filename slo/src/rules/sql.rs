//! A rule's SQL: the `$__now` placeholder, read-only validation, and planning against the
//! catalogue.
//!
//! `$__now` is replaced by a `TIMESTAMP` literal of the evaluation time truncated to the
//! minute — the end of the last complete minute, the same instant SLOs are evaluated at — so
//! `minute >= $__now - INTERVAL '5 minutes' AND minute < $__now` selects the last five
//! complete minutes. A literal (unlike `now()`) lets DataFusion prune, and makes a rule's
//! result a function of the data and the evaluation time only.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::datasource::MemTable;
use datafusion::error::Result as DfResult;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use slod_storage::Table;

use crate::catalogue::{CatalogueSettings, register_catalogue};

/// The placeholder for the evaluation time.
pub const NOW: &str = "$__now";

/// The evaluation minute (unix seconds) of `now_ns`.
pub fn evaluation_minute(now_ns: i64) -> i64 {
    now_ns.div_euclid(1_000_000_000).div_euclid(60) * 60
}

/// `sql` with `$__now` replaced by the timestamp of `now_s` (unix seconds, UTC).
pub fn substitute(sql: &str, now_s: i64) -> String {
    sql.replace(NOW, &crate::rollup::sql_ts(now_s))
}

/// Parses `sql` (with `$__now` substituted) and checks it is exactly one query: SELECT or
/// WITH … SELECT. No DDL, DML, COPY or `SET`.
pub fn check_read_only(sql: &str) -> Result<(), String> {
    let text = substitute(sql, 0);
    let statements = DFParser::parse_sql(&text).map_err(|e| format!("SQL does not parse: {e}"))?;
    match statements.len() {
        0 => return Err("SQL is empty".into()),
        1 => {}
        n => return Err(format!("SQL has {n} statements: a rule runs one query")),
    }
    match statements.front() {
        Some(Statement::Statement(s)) if matches!(**s, SqlStatement::Query(_)) => Ok(()),
        _ => Err("SQL is not a query: a rule runs one read-only SELECT".into()),
    }
}

/// A context with the storage tables (empty), the catalogue views and UDFs, and the SLO
/// tables: what rule SQL is planned against by `slod check` and at start-up.
pub fn planning_context(settings: &CatalogueSettings) -> DfResult<SessionContext> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("slod", "public");
    let ctx = SessionContext::new_with_config(config);
    for t in Table::ALL {
        let mem = MemTable::try_new(t.schema(), vec![vec![]])?;
        ctx.register_table(t.name(), Arc::new(mem))?;
    }
    register_catalogue(&ctx, settings)?;
    crate::tables::SloHandle::default().register(&ctx)?;
    Ok(ctx)
}

/// Plans `sql` in `ctx` and checks its output: a numeric `value` column; every other column
/// is a label.
pub async fn check_plan(ctx: &SessionContext, sql: &str) -> Result<(), String> {
    let text = substitute(sql, 0);
    let plan = ctx
        .state()
        .create_logical_plan(&text)
        .await
        .map_err(|e| format!("SQL does not plan against the catalogue: {}", e.strip_backtrace()))?;
    let schema = plan.schema();
    let value = schema
        .fields()
        .iter()
        .find(|f| f.name() == "value")
        .ok_or_else(|| {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            format!(
                "the query returns no `value` column (it returns: {})",
                names.join(", ")
            )
        })?;
    let numeric = value.data_type().is_numeric() || *value.data_type() == DataType::Boolean;
    if !numeric {
        return Err(format!(
            "the `value` column is {}, not a number",
            value.data_type()
        ));
    }
    Ok(())
}
