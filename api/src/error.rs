//! Query errors, mapped once to HTTP (and later to SQLSTATE codes for pgwire).

use std::time::Duration;

use datafusion::error::DataFusionError;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error("slod is read-only: {0} is not allowed; only SELECT, EXPLAIN, SHOW and DESCRIBE are")]
    ReadOnly(String),
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
