//! The query engine shared by every SQL interface: one `SessionContext` over storage's
//! tables, a read-only guard, a timeout and a memory limit on every query.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement;
use slod_storage::Storage;

use crate::error::QueryError;

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
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("slod", "public")
            .with_create_default_catalog_and_schema(true);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        slod_storage::register_tables(storage, &ctx)?;
        Ok(QueryEngine { ctx, limits })
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Runs one read-only statement to completion within the limits.
    pub async fn query(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let started = Instant::now();
        check_read_only(sql)?;
        let run = async {
            let options = SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false);
            let df = self.ctx.sql_with_options(sql, options).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await?;
            Ok::<_, DataFusionError>((schema, batches))
        };
        let (schema, batches) = tokio::time::timeout(self.limits.timeout, run)
            .await
            .map_err(|_| QueryError::Timeout(self.limits.timeout))?
            .map_err(QueryError::from_datafusion)?;
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        Ok(QueryResult {
            schema,
            batches,
            rows,
            elapsed: started.elapsed(),
        })
    }
}

/// Refuses anything but queries, with a message that names what was refused.
/// (DataFusion's `SQLOptions` re-checks the plan; this gives the clearer message.)
pub fn check_read_only(sql: &str) -> Result<(), QueryError> {
    let statements = DFParser::parse_sql(sql).map_err(|e| QueryError::Syntax(e.to_string()))?;
    if statements.is_empty() {
        return Err(QueryError::Syntax(
            "empty query: send one SELECT statement".into(),
        ));
    }
    if statements.len() > 1 {
        return Err(QueryError::Syntax(format!(
            "{} statements given: send one statement per request",
            statements.len()
        )));
    }
    // INVARIANT: exactly one statement, checked above.
    let refused = match &statements[0] {
        DfStatement::Statement(s) => match s.as_ref() {
            Statement::Query(_)
            | Statement::Explain { .. }
            | Statement::ExplainTable { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowVariable { .. } => None,
            other => Some(statement_kind(other)),
        },
        DfStatement::Explain(_) => None,
        DfStatement::CreateExternalTable(_) => Some("CREATE EXTERNAL TABLE".to_string()),
        DfStatement::CopyTo(_) => Some("COPY".to_string()),
        other => Some(
            format!("{other}")
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" "),
        ),
    };
    match refused {
        Some(kind) => Err(QueryError::ReadOnly(kind)),
        None => Ok(()),
    }
}

fn statement_kind(s: &Statement) -> String {
    let text = s.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.first().map(|w| w.to_ascii_uppercase()) {
        Some(w) if matches!(w.as_str(), "CREATE" | "DROP" | "ALTER" | "TRUNCATE") => {
            words.join(" ").to_ascii_uppercase()
        }
        Some(w) => w,
        None => "statement".into(),
    }
}
