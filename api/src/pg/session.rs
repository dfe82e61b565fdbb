//! `SET` and `SHOW` on a shared engine: settings a client changes live in its own
//! connection (pgwire client metadata), never in the `SessionContext` every connection and
//! the HTTP API share. `SET datafusion.*` is refused; unknown PostgreSQL settings are
//! remembered and echoed by `SHOW`, as drivers expect.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Set, Statement};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::results::{
    DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag,
};
use datafusion_postgres::pgwire::error::PgWireResult;
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::startup::ParameterStatus;

use super::catalog::setting;
use super::error::to_pg;
use crate::error::QueryError;

/// Metadata key datafusion-postgres' `SET TIME ZONE` handling and result formatting read.
const TIMEZONE: &str = "timezone";

/// Settings datafusion-postgres' own `SET`/`SHOW` hook handles per connection (it also
/// sends the `ParameterStatus` the client expects for them).
const DELEGATED: &[&str] = &[
    "statement_timeout",
    "datestyle",
    "bytea_output",
    "intervalstyle",
    "application_name",
    "extra_float_digits",
    "search_path",
];

#[derive(Debug)]
pub(crate) struct SessionHook;

impl SessionHook {
    async fn set(&self, set: &Set, client: &mut dyn HookClient) -> Option<PgWireResult<Response>> {
        match set {
            Set::SingleAssignment { variable, values, .. } => {
                let var = variable.to_string().to_ascii_lowercase();
                if var.starts_with("datafusion.") {
                    return Some(Err(to_pg(QueryError::ReadOnly(format!(
                        "SET {var} (engine settings are shared by every client; ask the operator to change them in slod.yaml)"
                    )))));
                }
                if DELEGATED.contains(&var.as_str()) {
                    return None;
                }
                let value = values
                    .first()
                    .map(|v| v.to_string().trim_matches('\'').to_string())
                    .unwrap_or_default();
                client.metadata_mut().insert(var, value);
                Some(Ok(Response::Execution(Tag::new("SET"))))
            }
            Set::SetTimeZone { value, .. } => {
                let tz = value
                    .to_string()
                    .trim_matches(|c| c == '\'' || c == '"')
                    .to_string();
                client.metadata_mut().insert(TIMEZONE.into(), tz.clone());
                let status = ParameterStatus::new("TimeZone".into(), tz);
                if let Err(e) = client
                    .send_message(PgWireBackendMessage::ParameterStatus(status))
                    .await
                {
                    return Some(Err(e));
                }
                Some(Ok(Response::Execution(Tag::new("SET"))))
            }
            // SET NAMES, SET ROLE, SET TRANSACTION ...: nothing to change on a read-only server.
            _ => Some(Ok(Response::Execution(Tag::new("SET")))),
        }
    }

    fn show(&self, statement: &Statement, client: &dyn HookClient) -> Option<PgWireResult<Response>> {
        let Statement::ShowVariable { variable } = statement else {
            return None;
        };
        let name = variable
            .iter()
            .map(|v| v.value.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        let name = if name == "time zone" {
            "timezone".to_string()
        } else {
            name
        };
        if DELEGATED.contains(&name.as_str()) {
            return None;
        }
        let value = client
            .metadata()
            .get(&name)
            .cloned()
            .or_else(|| setting(&name).map(str::to_string));
        Some(match value {
            Some(v) => show_response(&name, &v).map(Response::Query),
            None => Err(to_pg(QueryError::Plan(format!(
                "unrecognized configuration parameter \"{name}\""
            )))),
        })
    }
}

fn show_response(name: &str, value: &str) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(vec![FieldInfo::new(
        name.to_string(),
        None,
        None,
        Type::TEXT,
        FieldFormat::Text,
    )]);
    let mut encoder = DataRowEncoder::new(fields.clone());
    encoder.encode_field(&Some(value))?;
    let row = encoder.take_row();
    Ok(QueryResponse::new(fields, futures::stream::iter([Ok(row)])))
}

#[async_trait]
impl QueryHook for SessionHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        match statement {
            Statement::Set(set) => self.set(set, client).await,
            Statement::ShowVariable { .. } => self.show(statement, client),
            Statement::Discard { .. } => Some(Ok(Response::Execution(Tag::new("DISCARD ALL")))),
            Statement::Deallocate { .. } => Some(Ok(Response::Execution(Tag::new("DEALLOCATE")))),
            _ => None,
        }
    }

    async fn handle_extended_parse_query(
        &self,
        _statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // datafusion-postgres' SetShowHook plans SET and SHOW as empty relations.
        None
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.handle_simple_query(statement, ctx, client).await
    }
}
