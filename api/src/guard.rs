//! The read-only guard shared by every SQL interface: only queries (and, over pgwire, the
//! session statements clients send on connect) pass; writes, DDL, `COPY` and file access are
//! refused with an error that names what was refused.
//!
//! DataFusion's `SQLOptions` re-checks every plan in [`crate::QueryEngine`]; this guard runs
//! first because it gives the clearer message and the right class (read-only vs file access).

use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{CopyTarget, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

use crate::error::QueryError;

/// What a statement is allowed to do, decided from its syntax tree alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatementClass {
    /// A query the engine runs (`SELECT`, `VALUES`, `EXPLAIN`, `SHOW TABLES`, ...).
    Query,
    /// Session bookkeeping a PostgreSQL client sends (`SET`, `BEGIN`, `DECLARE ... CURSOR`,
    /// `DISCARD ALL`): answered by the pgwire layer, never by the engine.
    Session,
}

/// Refuses anything but a single query, for the HTTP API.
pub fn check_read_only(sql: &str) -> Result<(), QueryError> {
    let statements = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {})
        .map_err(|e| QueryError::Syntax(e.to_string()))?;
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
    match &statements[0] {
        DfStatement::Statement(s) => match classify(s)? {
            StatementClass::Query => Ok(()),
            // Session statements only make sense on a PostgreSQL connection.
            StatementClass::Session => Err(QueryError::ReadOnly(statement_kind(s))),
        },
        DfStatement::Explain(e) => match e.statement.as_ref() {
            DfStatement::Statement(s) => classify(s).map(|_| ()),
            DfStatement::Explain(_) => Ok(()),
            other => check_df_statement(other),
        },
        other => check_df_statement(other),
    }
}

fn check_df_statement(s: &DfStatement) -> Result<(), QueryError> {
    match s {
        DfStatement::CreateExternalTable(_) => Err(QueryError::FileAccess("CREATE EXTERNAL TABLE".into())),
        DfStatement::CopyTo(_) => Err(QueryError::FileAccess("COPY".into())),
        other => Err(QueryError::ReadOnly(
            format!("{other}")
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_uppercase(),
        )),
    }
}

/// Classifies one statement, refusing writes (`ReadOnly`, SQLSTATE 25006) and anything that
/// reads or writes server files (`FileAccess`, SQLSTATE 42501).
pub(crate) fn classify(s: &Statement) -> Result<StatementClass, QueryError> {
    match s {
        Statement::Query(q) => {
            // `SELECT ... INTO t` creates a table.
            if let datafusion::sql::sqlparser::ast::SetExpr::Select(sel) = q.body.as_ref()
                && sel.into.is_some()
            {
                return Err(QueryError::ReadOnly("SELECT ... INTO".into()));
            }
            Ok(StatementClass::Query)
        }
        Statement::Explain { statement, .. } => classify(statement).map(|_| StatementClass::Query),
        Statement::ExplainTable { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowFunctions { .. } => Ok(StatementClass::Query),
        Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::Set(_)
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. }
        | Statement::Discard { .. }
        | Statement::Deallocate { .. } => Ok(StatementClass::Session),
        Statement::Declare { stmts } => {
            for d in stmts {
                if let Some(q) = &d.for_query {
                    classify(&Statement::Query(q.clone()))?;
                }
            }
            Ok(StatementClass::Session)
        }
        Statement::Copy { target, to, .. } => match target {
            CopyTarget::File { .. } | CopyTarget::Program { .. } => Err(QueryError::FileAccess(format!(
                "COPY {} a server file or program",
                if *to { "TO" } else { "FROM" }
            ))),
            _ => Err(QueryError::ReadOnly("COPY".into())),
        },
        Statement::CopyIntoSnowflake { .. } | Statement::Unload { .. } => {
            Err(QueryError::FileAccess("COPY INTO / UNLOAD".into()))
        }
        Statement::LoadData { .. } | Statement::Install { .. } | Statement::Load { .. } => {
            Err(QueryError::FileAccess(statement_kind(s)))
        }
        other => Err(QueryError::ReadOnly(statement_kind(other))),
    }
}

/// The first words of a statement, for messages: `INSERT`, `CREATE TABLE`, `DROP VIEW`.
pub(crate) fn statement_kind(s: &Statement) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statements() {
        // (sql, expected): Ok(class) or the error's variant name.
        let cases: &[(&str, &str)] = &[
            // Queries run.
            ("SELECT 1", "query"),
            ("EXPLAIN SELECT 1", "query"),
            ("EXPLAIN ANALYZE SELECT 1", "query"),
            ("SHOW TABLES", "query"),
            // Session statements are for the pgwire layer.
            ("SET extra_float_digits = 3", "session"),
            ("BEGIN", "session"),
            ("COMMIT", "session"),
            ("DECLARE c CURSOR FOR SELECT 1", "session"),
            ("DISCARD ALL", "session"),
            // Writes and DDL are refused as read-only.
            ("INSERT INTO spans VALUES (1)", "read_only"),
            ("UPDATE spans SET name = 'x'", "read_only"),
            ("DELETE FROM spans", "read_only"),
            ("CREATE TABLE t (a int)", "read_only"),
            ("DROP TABLE spans", "read_only"),
            ("SELECT 1 INTO t", "read_only"),
            ("COPY spans FROM STDIN", "read_only"),
            ("EXPLAIN ANALYZE INSERT INTO spans VALUES (1)", "read_only"),
            ("DECLARE c CURSOR FOR SELECT 1 INTO t", "read_only"),
            // Server files are refused as file access.
            ("COPY spans TO '/tmp/x.csv'", "file_access"),
            ("COPY spans FROM '/etc/passwd'", "file_access"),
            ("COPY spans TO PROGRAM 'sh'", "file_access"),
        ];
        for (sql, expected) in cases {
            // Parsed as the pgwire path parses (sqlparser, PostgreSQL dialect).
            let stmts =
                datafusion::sql::sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
            let got = match classify(&stmts[0]) {
                Ok(StatementClass::Query) => "query",
                Ok(StatementClass::Session) => "session",
                Err(QueryError::ReadOnly(_)) => "read_only",
                Err(QueryError::FileAccess(_)) => "file_access",
                Err(e) => panic!("{sql}: unexpected {e}"),
            };
            assert_eq!(got, *expected, "{sql}");
        }
    }

    #[test]
    fn http_refuses_what_pgwire_answers_itself_and_datafusion_file_statements() {
        // HTTP runs queries only.
        assert!(check_read_only("SELECT 1").is_ok());
        assert!(check_read_only("EXPLAIN SELECT 1").is_ok());
        assert!(matches!(
            check_read_only("SET a = 1"),
            Err(QueryError::ReadOnly(_))
        ));
        assert!(matches!(
            check_read_only("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc'"),
            Err(QueryError::FileAccess(_))
        ));
        assert!(matches!(
            check_read_only("COPY spans TO '/tmp/x.parquet'"),
            Err(QueryError::FileAccess(_))
        ));
        assert!(matches!(
            check_read_only("SELECT 1; SELECT 2"),
            Err(QueryError::Syntax(_))
        ));
        assert!(matches!(check_read_only(""), Err(QueryError::Syntax(_))));
    }
}
