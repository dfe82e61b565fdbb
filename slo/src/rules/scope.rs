//! Time-scoped query contexts for rules with a `lookback`.
//!
//! The catalogue's views group, deduplicate and window over raw spans, which stops a rule's
//! `minute >= $__now - INTERVAL '5 minutes'` from reaching the Parquet scan: queried as is,
//! every rule would read every retained span at every tick. A scoped context holds the same
//! functions, the same non-storage tables (`slo_status`, …) and the same catalogue views, but
//! its storage tables are views of the real ones restricted to `time >= now − lookback`; the
//! restriction sits directly on the scan, so row groups and files outside it are pruned.
//!
//! What a view derives from history it sees only within the lookback: an instance's first
//! invocation in the lookback counts as a cold start, and an execution that began before it
//! lacks its first spans.

use std::sync::Arc;

use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider,
};
use datafusion::datasource::{TableProvider, ViewTable};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use slod_storage::Table;

/// Prefix of the unrestricted storage tables inside a scoped context.
const RAW: &str = "__slod_raw_";

/// A context like `ctx` whose storage tables hold only rows with time ≥ `from_s` (unix s), and
/// time < `to_s` as well when given; the catalogue views named in `overrides` are served by the
/// given tables instead of their SQL (views registered after them read the override). With
/// `until`, views after that one are left out.
pub async fn scoped_with(
    ctx: &SessionContext,
    from_s: i64,
    to_s: Option<i64>,
    overrides: &[(&str, Arc<dyn TableProvider>)],
    until: Option<&str>,
) -> Result<SessionContext> {
    let state = ctx.state();
    let options = state.config().options();
    let (catalog_name, schema_name) = (
        options.catalog.default_catalog.clone(),
        options.catalog.default_schema.clone(),
    );
    let source = ctx
        .catalog(&catalog_name)
        .and_then(|c| c.schema(&schema_name))
        .ok_or_else(|| DataFusionError::Plan(format!("no default schema {catalog_name}.{schema_name}")))?;

    let schema = Arc::new(MemorySchemaProvider::new());
    let catalog = MemoryCatalogProvider::new();
    catalog.register_schema(&schema_name, schema)?;
    let catalogs = MemoryCatalogProviderList::new();
    catalogs.register_catalog(catalog_name, Arc::new(catalog));
    let scoped = SessionContext::new_with_state(
        SessionStateBuilder::new_from_existing(state)
            .with_catalog_list(Arc::new(catalogs))
            .build(),
    );

    let views: Vec<&str> = crate::catalogue::VIEWS.iter().map(|v| v.name).collect();
    for name in source.table_names() {
        if views.contains(&name.as_str()) {
            continue;
        }
        let Some(provider) = source.table(&name).await? else {
            continue;
        };
        match Table::from_name(&name) {
            Some(t) => {
                let raw = format!("{RAW}{name}");
                scoped.register_table(&raw, provider)?;
                let column = t.time_column();
                let mut sql = format!(
                    "SELECT * FROM {raw} WHERE {column} >= {}",
                    crate::rollup::sql_ts(from_s)
                );
                if let Some(to_s) = to_s {
                    sql.push_str(&format!(" AND {column} < {}", crate::rollup::sql_ts(to_s)));
                }
                register_view(&scoped, &name, &sql).await?;
            }
            None => {
                scoped.register_table(&name, provider)?;
            }
        }
    }
    for v in crate::catalogue::VIEWS {
        match overrides.iter().find(|(name, _)| *name == v.name) {
            Some((_, table)) => {
                scoped.register_table(v.name, table.clone())?;
            }
            None => register_view(&scoped, v.name, v.sql).await?,
        }
        if until == Some(v.name) {
            break;
        }
    }
    Ok(scoped)
}

async fn register_view(ctx: &SessionContext, name: &str, sql: &str) -> Result<()> {
    let plan = ctx
        .state()
        .create_logical_plan(sql)
        .await
        .map_err(|e| e.context(format!("scoped view {name}")))?;
    ctx.register_table(name, Arc::new(ViewTable::new(plan, Some(sql.to_string()))))?;
    Ok(())
}
