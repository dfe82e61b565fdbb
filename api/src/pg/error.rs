//! The single mapping of query errors to PostgreSQL errors: SQLSTATE code plus the same
//! safe message the HTTP API sends (PostgreSQL appendix A, "Error Codes").

use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};

use crate::error::QueryError;

/// SQLSTATE for a query error.
pub(crate) fn sqlstate(err: &QueryError) -> &'static str {
    match err {
        QueryError::Syntax(_) => "42601",
        QueryError::ReadOnly(_) => "25006",
        QueryError::FileAccess(_) => "42501",
        QueryError::Plan(m) => plan_sqlstate(m),
        QueryError::Timeout(_) => "57014",
        QueryError::Memory(_) => "53200",
        QueryError::Execution(m) if m.contains("Divide by zero") => "22012",
        QueryError::Execution(m) if m.contains("Cast error") => "22P02",
        QueryError::Execution(_) => "22000",
        QueryError::Unauthenticated => "28P01",
        QueryError::Internal(_) => "XX000",
    }
}

/// DataFusion reports every planning failure as one error kind; the message says which.
fn plan_sqlstate(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("table") && m.contains("not found") {
        "42P01" // undefined_table
    } else if m.contains("no field named") || (m.contains("column") && m.contains("not found")) {
        "42703" // undefined_column
    } else if m.contains("invalid function") || m.contains("function") && m.contains("not found") {
        "42883" // undefined_function
    } else if m.contains("not implemented") || m.contains("unsupported") {
        "0A000" // feature_not_supported
    } else if m.contains("cannot be cast") || m.contains("cast") || m.contains("coerc") {
        "42804" // datatype_mismatch
    } else {
        "42000" // syntax_error_or_access_rule_violation
    }
}

/// A query error as pgwire sends it: `ERROR`, SQLSTATE, message.
pub(crate) fn to_pg(err: QueryError) -> PgWireError {
    if matches!(err, QueryError::Internal(_)) {
        tracing::error!(error = %err, "pgwire query failed with an internal error");
    }
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_owned(),
        sqlstate(&err).to_owned(),
        err.to_string(),
    )))
}

/// Errors raised inside datafusion-postgres' hooks and parser arrive as boxed errors; give
/// DataFusion's a proper SQLSTATE too.
pub(crate) fn remap(err: PgWireError) -> PgWireError {
    match err {
        PgWireError::ApiError(e) => match e.downcast::<datafusion::error::DataFusionError>() {
            Ok(df) => to_pg(QueryError::from_datafusion(*df)),
            Err(e) => match e.downcast::<datafusion::sql::sqlparser::parser::ParserError>() {
                Ok(p) => to_pg(QueryError::Syntax(p.to_string())),
                Err(e) => to_pg(QueryError::Execution(e.to_string())),
            },
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates() {
        // Each error class maps to the code a PostgreSQL client expects for it.
        let cases = [
            (QueryError::Syntax("x".into()), "42601"),
            (QueryError::ReadOnly("INSERT".into()), "25006"),
            (QueryError::FileAccess("COPY".into()), "42501"),
            (
                QueryError::Plan("table 'slod.public.nope' not found".into()),
                "42P01",
            ),
            (
                QueryError::Plan("Schema error: No field named nope.".into()),
                "42703",
            ),
            (QueryError::Plan("Invalid function 'nope'.".into()), "42883"),
            (QueryError::Timeout(std::time::Duration::from_secs(1)), "57014"),
            (QueryError::Memory("x".into()), "53200"),
            (
                QueryError::Execution("Arrow error: Divide by zero error".into()),
                "22012",
            ),
            (QueryError::Internal("x".into()), "XX000"),
        ];
        for (err, code) in cases {
            assert_eq!(sqlstate(&err), code, "{err}");
        }
    }
}
