//! The signal catalogue (DESIGN §4): every serverless signal an SRE reads, defined once as a
//! SQL view per function (or workflow, or queue) per minute over the storage tables. SLIs,
//! dashboards and alert rules read these views; `docs/signals.md` documents each one.
//!
//! Views are DataFusion views over the registered tables, so they always read the current
//! snapshot. What the telemetry does not say (timeouts, memory overrides, DLQ names, prices)
//! comes from [`CatalogueSettings`] through scalar UDFs (`slod_function_timeout_ms`, …) that
//! [`register_catalogue`] registers beside the views.

mod histogram;
mod settings;
mod udf;
mod views;

use std::sync::Arc;

use datafusion::datasource::ViewTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;

pub use histogram::quantile as bucket_quantile;
pub use settings::{
    CatalogueSettings, DEFAULT_LATENCY_THRESHOLD, DEFAULT_TIMEOUT, FunctionSettings, PlatformPricing,
    Pricing, SettingsError,
};
pub use udf::{UDFS, UdfDoc};
pub use views::{QUIET_PERIOD_MINUTES, VIEWS, View};

/// Registers the catalogue's UDFs and views in `ctx`, whose tables `spans`,
/// `metric_points`, `metric_distributions` and `logs` must already be registered (as
/// `slod_storage::register_tables` does). Replaces views and UDFs registered before, so
/// calling it again with new settings applies them.
pub fn register_catalogue(ctx: &SessionContext, settings: &CatalogueSettings) -> Result<()> {
    let resolved = settings.resolve().map_err(|errors| {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        DataFusionError::Configuration(text.join("; "))
    })?;
    let resolved = Arc::new(resolved);
    for f in udf::scalar_udfs(&resolved) {
        ctx.register_udf(f);
    }
    ctx.register_udf(histogram::bucket_delta());
    ctx.register_udf(histogram::histogram_count_le());
    ctx.register_udaf(histogram::histogram_quantile());
    for v in VIEWS {
        // Planning resolves table names only (no I/O on in-memory or snapshot tables), so
        // the synchronous API blocks on it briefly.
        let plan = futures::executor::block_on(ctx.state().create_logical_plan(v.sql))
            .map_err(|e| e.context(format!("catalogue view {}", v.name)))?;
        let view = ViewTable::new(plan, Some(v.sql.to_string()));
        ctx.deregister_table(v.name)?;
        ctx.register_table(v.name, Arc::new(view))?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
