//! Query errors, mapped once to HTTP statuses (`http.rs`) and once to SQLSTATE codes
//! (`pg/error.rs`).

use std::time::Duration;

use datafusion::error::DataFusionError;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error("slod is read-only: {0} is not allowed; only SELECT, EXPLAIN, SHOW and DESCRIBE are")]
    ReadOnly(String),
    #[error("slod does not read or write server files: {0} is not allowed")]
    FileAccess(String),
    #[error("{0}")]
    Plan(String),
    #[error("query cancelled: it ran longer than the {}s limit (limits.query_timeout)", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("query cancelled: it needs more memory than limits.query_memory allows ({0})")]
    Memory(String),
    #[error("query failed: {0}")]
    Execution(String),
    #[error(
        "missing or wrong bearer token: send 'Authorization: Bearer <token>' with the token from the environment variable named by server.query_token_env"
    )]
    Unauthenticated,
    #[error("internal error: {0}")]
    Internal(String),
}

impl QueryError {
    pub fn from_datafusion(e: DataFusionError) -> QueryError {
        match e.find_root() {
            DataFusionError::SQL(..) => QueryError::Syntax(strip(&e)),
            // SQLOptions (allow_ddl/dml/statements = false) refused the plan.
            DataFusionError::Plan(m)
                if m.starts_with("DDL not supported")
                    || m.starts_with("DML not supported")
                    || m.starts_with("Statement not supported") =>
            {
                QueryError::ReadOnly(m.split(':').nth(1).unwrap_or(m).trim().to_string())
            }
            DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_) => QueryError::Plan(strip(&e)),
            DataFusionError::ResourcesExhausted(_) => QueryError::Memory(strip(&e)),
            DataFusionError::Internal(_) => QueryError::Internal(strip(&e)),
            _ => QueryError::Execution(strip(&e)),
        }
    }
}

/// DataFusion's messages without its "Error during planning:"-style prefixes repeated.
fn strip(e: &DataFusionError) -> String {
    e.find_root().to_string()
}
