//! The query engine shared by every SQL interface: one `SessionContext` over storage's
//! tables, a read-only guard, a timeout and a memory limit on every query.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use slod_storage::Storage;

use crate::error::QueryError;
use crate::guard::check_read_only;

/// Limits applied to every query (config `limits:`).
#[derive(Debug, Clone)]
pub struct QueryLimits {
    pub timeout: Duration,
    /// Shared by all running queries (DataFusion memory pool). Operators that spill or
    /// buffer (sorts, joins, aggregations) are accounted; scanned batches in flight are not,
    /// so the limit is best-effort.
    pub memory_bytes: usize,
}

/// Rows and timing of one finished query.
#[derive(Debug)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    pub elapsed: Duration,
}

#[derive(Clone)]
pub struct QueryEngine {
    ctx: SessionContext,
    limits: QueryLimits,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl QueryEngine {
    pub fn new(storage: &Storage, limits: QueryLimits) -> Result<QueryEngine, DataFusionError> {
        // No spilling: a query over its memory share fails with a clear error instead of
        // filling the temporary disk of a machine that also holds the WAL.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limits.memory_bytes, 1.0)
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
            .build_arc()?;
        // PostgreSQL dialect everywhere: pgwire clients and Grafana send PostgreSQL, and one
        // dialect keeps HTTP and pgwire answers identical. UTC so timestamps never depend on
        // the host's zone.
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, "public")
            .with_create_default_catalog_and_schema(true);
        config.options_mut().sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
        config.options_mut().execution.time_zone = Some("UTC".into());
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        slod_storage::register_tables(storage, &ctx)?;
        crate::pg::catalog::register(&ctx)?;
        crate::udf::register(&ctx);
        Ok(QueryEngine { ctx, limits })
    }

    /// The one `SessionContext` every interface queries. This is also the hook for extra
    /// registrations: other subsystems (the SLO engine's `slo_status`, signal views) register
    /// their tables and views here once, and HTTP and pgwire both see them.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Runs one read-only statement to completion within the limits.
    pub async fn query(&self, sql: &str) -> Result<QueryResult, QueryError> {
        check_read_only(sql)?;
        self.run_sql(sql, self.limits.timeout).await
    }

    /// Runs one statement that the caller has already classified as a query, within the
    /// memory limit and `timeout` (never more than `limits.query_timeout`).
    pub(crate) async fn run_sql(&self, sql: &str, timeout: Duration) -> Result<QueryResult, QueryError> {
        let started = Instant::now();
        let run = async {
            let df = self.ctx.sql_with_options(sql, read_only()).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await?;
            Ok::<_, DataFusionError>((schema, batches))
        };
        self.finish(run, started, timeout).await
    }

    /// Runs a planned statement (pgwire's extended protocol plans at Parse and binds
    /// parameters later), re-checked as read-only, within the limits.
    pub(crate) async fn run_plan(
        &self,
        plan: LogicalPlan,
        timeout: Duration,
    ) -> Result<QueryResult, QueryError> {
        let started = Instant::now();
        read_only()
            .verify_plan(&plan)
            .map_err(QueryError::from_datafusion)?;
        let run = async {
            let df = self.ctx.execute_logical_plan(plan).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await?;
            Ok::<_, DataFusionError>((schema, batches))
        };
        self.finish(run, started, timeout).await
    }

    async fn finish(
        &self,
        run: impl Future<Output = Result<(SchemaRef, Vec<RecordBatch>), DataFusionError>>,
        started: Instant,
        timeout: Duration,
    ) -> Result<QueryResult, QueryError> {
        let timeout = timeout.min(self.limits.timeout);
        let (schema, batches) = tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| QueryError::Timeout(timeout))?
            .map_err(QueryError::from_datafusion)?;
        let batches = conform(&schema, batches).map_err(QueryError::from_datafusion)?;
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        Ok(QueryResult {
            schema,
            batches,
            rows,
            elapsed: started.elapsed(),
        })
    }
}

/// Casts `batches` to `schema`, the plan's logical schema, where their column types differ.
///
/// Clients are told the logical schema (pgwire describes columns at Parse, before anything
/// runs; HTTP writes it first), and DataFusion can produce other physical types: a `UNION ALL`
/// of a `Utf8` column with `CAST(… AS VARCHAR)` is planned as `Utf8` but yields `Utf8View`
/// batches. Encoding those under the declared type gave clients corrupt results.
pub(crate) fn conform(
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>, DataFusionError> {
    batches
        .into_iter()
        .map(|batch| {
            let same = batch.schema().fields().len() == schema.fields().len()
                && batch
                    .schema()
                    .fields()
                    .iter()
                    .zip(schema.fields())
                    .all(|(a, b)| a.data_type() == b.data_type());
            if same {
                return Ok(batch);
            }
            let columns = batch
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(column, field)| {
                    if column.data_type() == field.data_type() {
                        Ok(column.clone())
                    } else {
                        datafusion::arrow::compute::cast(column, field.data_type())
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        })
        .collect()
}

/// The catalog every table lives in; `current_database()` answers this name.
pub(crate) const CATALOG: &str = "slod";

fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}
