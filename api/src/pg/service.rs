//! Query handling for both protocols: parse (datafusion-postgres' PostgreSQL compatibility
//! parser), guard (read-only), answer session statements with hooks, run queries on the
//! shared [`QueryEngine`] within its limits, encode rows.
//!
//! Results are collected before the first row is sent, so the timeout, the memory limit
//! and cancel requests (pgwire selects on them around `do_query`) cover the whole query, and
//! every error reaches the client as one clean `ErrorResponse`.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, Response, Tag};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, Type};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::{DfSessionService, Parser, QueryHook};
use futures::Sink;

use super::encode;
use super::error::{remap, to_pg};
use crate::engine::{QueryEngine, QueryResult};
use crate::error::QueryError;
use crate::guard::{StatementClass, classify};
use crate::metrics::{ApiMetrics, QueryLabels};

/// What datafusion-postgres keeps per prepared statement: the SQL and its plan.
pub(crate) type PgStatement = (String, Option<(Statement, LogicalPlan)>);

/// Metadata key datafusion-postgres' `SET statement_timeout` writes.
const STATEMENT_TIMEOUT_MS: &str = "statement_timeout_ms";

pub(crate) struct PgService {
    engine: QueryEngine,
    metrics: Arc<ApiMetrics>,
    hooks: Vec<Arc<dyn QueryHook>>,
    sql_parser: PostgresCompatibilityParser,
    parser: Arc<GuardedParser>,
}

impl Debug for PgService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgService").finish_non_exhaustive()
    }
}

impl PgService {
    pub(crate) fn new(engine: QueryEngine, metrics: Arc<ApiMetrics>) -> PgService {
        use datafusion_postgres::hooks::{cursor, set_show, transactions};
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(super::session::SessionHook),
            Arc::new(set_show::SetShowHook),
            Arc::new(transactions::TransactionStatementHook),
            Arc::new(cursor::CursorStatementHook),
        ];
        // datafusion-postgres' parser plans prepared statements (and lets the hooks plan
        // SET/SHOW); only its service can build one.
        let ctx = Arc::new(engine.context().clone());
        let df = DfSessionService::new_with_hooks(ctx, hooks.clone());
        let parser = Arc::new(GuardedParser {
            inner: ExtendedQueryHandler::query_parser(&df),
            sql_parser: PostgresCompatibilityParser::new(),
        });
        PgService {
            engine,
            metrics,
            hooks,
            sql_parser: PostgresCompatibilityParser::new(),
            parser,
        }
    }

    /// The client's `statement_timeout` when set and shorter than `limits.query_timeout`.
    fn timeout(&self, client: &(impl ClientInfo + ?Sized)) -> Duration {
        let limit = self.engine.limits().timeout;
        client
            .metadata()
            .get(STATEMENT_TIMEOUT_MS)
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map_or(limit, |ms| Duration::from_millis(ms).min(limit))
    }

    fn observe(&self, result: &Result<QueryResult, QueryError>) {
        let labels = QueryLabels {
            interface: "pg",
            outcome: if result.is_ok() { "ok" } else { "error" },
        };
        self.metrics.queries.get_or_create(&labels).inc();
        if let Ok(r) = result {
            self.metrics
                .query_seconds
                .get_or_create(&labels)
                .observe(r.elapsed.as_secs_f64());
        }
    }

    async fn simple_statement<C>(&self, client: &mut C, statement: Statement) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let class = classify(&statement).map_err(to_pg)?;
        for hook in &self.hooks {
            if let Some(r) = hook
                .handle_simple_query(&statement, self.engine.context(), client as &mut dyn HookClient)
                .await
            {
                return r.map_err(remap);
            }
        }
        if class == StatementClass::Session {
            // A session statement no hook knows (FETCH without DECLARE, ...) is a no-op.
            return Ok(Response::Execution(Tag::new(&super::guard_tag(&statement))));
        }
        let result = self
            .engine
            .run_sql(&statement.to_string(), self.timeout(client))
            .await;
        self.observe(&result);
        let r = result.map_err(to_pg)?;
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        Ok(Response::Query(encode::response(
            &r.schema,
            r.batches,
            &Format::UnifiedText,
            Some(options),
        )?))
    }
}

#[async_trait]
impl SimpleQueryHandler for PgService {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statements = self.sql_parser.parse(query).map_err(|e| parse_error(query, e))?;
        if statements.is_empty() {
            // `-- ping` (pgx, Grafana) and `;` (lib/pq).
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            match self.simple_statement(client, statement).await {
                Ok(r) => responses.push(r),
                Err(PgWireError::UserError(info)) => {
                    // PostgreSQL stops a multi-statement query at the first error and still
                    // sends what the earlier statements returned.
                    responses.push(Response::Error(info));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for PgService {
    type Statement = PgStatement;
    type QueryParser = GuardedParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (_, Some((statement, plan))) = &portal.statement.statement else {
            return Ok(Response::EmptyQuery);
        };
        let server_types = self
            .parser
            .inner
            .get_parameter_types(&portal.statement.statement)?;
        let inferred = inferred_parameter_types(plan).map_err(|e| to_pg(QueryError::from_datafusion(e)))?;
        let inferred_refs: Vec<Option<&DataType>> = inferred.iter().map(Option::as_ref).collect();
        let server_refs: Vec<Option<&Type>> = server_types.iter().map(Some).collect();
        let params = deserialize_parameters_with_server_types(portal, &inferred_refs, &server_refs)?;
        for hook in &self.hooks {
            if let Some(r) = hook
                .handle_extended_query(
                    statement,
                    plan,
                    &params,
                    self.engine.context(),
                    client as &mut dyn HookClient,
                )
                .await
            {
                return r.map_err(remap);
            }
        }
        if classify(statement).map_err(to_pg)? == StatementClass::Session {
            return Ok(Response::Execution(Tag::new(&super::guard_tag(statement))));
        }
        let plan = plan
            .clone()
            .replace_params_with_values(&params)
            .map_err(|e| to_pg(QueryError::from_datafusion(e)))?;
        let result = self.engine.run_plan(plan, self.timeout(client)).await;
        self.observe(&result);
        let r = result.map_err(to_pg)?;
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        Ok(Response::Query(encode::response(
            &r.schema,
            r.batches,
            &portal.result_column_format,
            Some(options),
        )?))
    }
}

/// datafusion-postgres' prepared-statement parser behind the read-only guard, with result
/// descriptions that know about map columns.
pub(crate) struct GuardedParser {
    inner: Arc<Parser>,
    sql_parser: PostgresCompatibilityParser,
}

impl Debug for GuardedParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedParser").finish_non_exhaustive()
    }
}

#[async_trait]
impl QueryParser for GuardedParser {
    type Statement = PgStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<PgStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let statements = self.sql_parser.parse(sql).map_err(|e| parse_error(sql, e))?;
        if let Some(first) = statements.first() {
            classify(first).map_err(to_pg)?;
        }
        self.inner.parse_sql(client, sql, types).await.map_err(remap)
    }

    fn get_parameter_types(&self, stmt: &PgStatement) -> PgWireResult<Vec<Type>> {
        self.inner.get_parameter_types(stmt)
    }

    fn get_result_schema(&self, stmt: &PgStatement, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        match stmt {
            (_, Some((_, plan))) if !matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_)) => {
                encode::fields(
                    plan.schema().as_arrow(),
                    format.unwrap_or(&Format::UnifiedText),
                    None,
                )
            }
            _ => Ok(vec![]),
        }
    }
}

/// A statement the PostgreSQL parser rejects may still be one DataFusion's own dialect knows
/// (`CREATE EXTERNAL TABLE ... LOCATION '/etc/passwd'`): refuse it as the HTTP API does
/// (42501 or 25006) instead of calling it a syntax error.
fn parse_error(sql: &str, e: impl std::fmt::Display) -> PgWireError {
    match crate::guard::check_read_only(sql) {
        Err(refused @ (QueryError::ReadOnly(_) | QueryError::FileAccess(_))) => to_pg(refused),
        _ => to_pg(QueryError::Syntax(e.to_string())),
    }
}

/// Parameter types in `$1, $2, ...` order: what DataFusion inferred from the plan, else
/// the type of an explicit cast (`$1::int8`). (After datafusion-postgres' planner.)
fn inferred_parameter_types(plan: &LogicalPlan) -> datafusion::error::Result<Vec<Option<DataType>>> {
    let mut types: HashMap<String, Option<DataType>> = plan.get_parameter_types()?;
    if types.values().any(Option::is_none) {
        plan.apply(|node| {
            for expr in node.expressions() {
                expr.apply(|e| {
                    if let Expr::Cast(cast) = e
                        && let Expr::Placeholder(ph) = cast.expr.as_ref()
                        && let Some(slot @ None) = types.get_mut(&ph.id)
                    {
                        *slot = Some(cast.field.data_type().clone());
                    }
                    Ok(TreeNodeRecursion::Continue)
                })?;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    let mut entries: Vec<(String, Option<DataType>)> = types.into_iter().collect();
    entries.sort_by_key(|(id, _)| id.trim_start_matches('$').parse::<u32>().unwrap_or(u32::MAX));
    Ok(entries.into_iter().map(|(_, t)| t).collect())
}
