//! Golden SQL tests: every `tests/sql/*.slt` file (sqllogictest) runs over the PostgreSQL wire
//! protocol against the real `slod` binary, with the simple query protocol psql and Grafana
//! use, each file on a fresh connection.
//!
//! Fixture data: `slod loadgen --scenario mixed --seed 7` backfills 30 minutes from
//! 2026-11-24T00:00:00Z over OTLP/HTTP; the server is then stopped (SIGTERM flushes everything
//! to Parquet) and started again on the same data directory, so the files query Parquet
//! files (statistics, bloom filters) rather than the in-memory buffer. Same seed, same data:
//! the expected results are stable.
//!
//! Column types are checked too, one letter per PostgreSQL type on the wire (see [`PgType`]),
//! from a `Describe` of the same statement. Errors are `SQLSTATE: message`, so
//! `statement error 25006: .*read-only` checks both, and `statement error (25006)` the code.
//!
//! `SLOD_SLT_UPDATE=1 cargo test --test sql` rewrites the expected results in place (review
//! the diff!). A command-line argument keeps only the files whose name contains it.
//!
//! The runner also checks that every SQL example in `docs/sql.md` appears, statement for
//! statement, in some `.slt` file, so the documented examples are executed and their results
//! pinned.

#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../e2e/server.rs"]
#[allow(dead_code)]
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use sqllogictest::{AsyncDB, ColumnType, DBOutput, Runner};
use tokio_postgres::types::Type;
use tokio_postgres::{NoTls, SimpleQueryMessage};

use server::TestServer;

/// The fixture: what `slod loadgen` sends before the files run.
const LOADGEN: &[&str] = &[
    "--protocol",
    "http-protobuf",
    "--scenario",
    "mixed",
    "--seed",
    "7",
    "--start",
    "2026-11-24T00:00:00Z",
    "--backfill",
    "30m",
    "--volume",
    "20",
    "--functions",
    "6",
    "--quiet",
];

/// A column's PostgreSQL type on the wire, as one sqllogictest letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PgType {
    /// `I`: int2, int4, int8, oid.
    Int,
    /// `R`: float4, float8, numeric.
    Real,
    /// `T`: text, varchar, name, char.
    Text,
    /// `B`: bool.
    Bool,
    /// `D`: timestamptz, timestamp, date, time, interval.
    Time,
    /// `J`: json, jsonb.
    Json,
    /// `A`: any array.
    Array,
    /// `X`: bytea.
    Bytes,
    /// `?`: anything else, or a statement that cannot be described.
    Any,
}

impl ColumnType for PgType {
    fn from_char(c: char) -> Option<Self> {
        Some(match c {
            'I' => PgType::Int,
            'R' => PgType::Real,
            'T' => PgType::Text,
            'B' => PgType::Bool,
            'D' => PgType::Time,
            'J' => PgType::Json,
            'A' => PgType::Array,
            'X' => PgType::Bytes,
            '?' => PgType::Any,
            _ => return None,
        })
    }

    fn to_char(&self) -> char {
        match self {
            PgType::Int => 'I',
            PgType::Real => 'R',
            PgType::Text => 'T',
            PgType::Bool => 'B',
            PgType::Time => 'D',
            PgType::Json => 'J',
            PgType::Array => 'A',
            PgType::Bytes => 'X',
            PgType::Any => '?',
        }
    }
}

impl From<&Type> for PgType {
    fn from(t: &Type) -> PgType {
        if matches!(t.kind(), tokio_postgres::types::Kind::Array(_)) {
            return PgType::Array;
        }
        match *t {
            Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => PgType::Int,
            Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => PgType::Real,
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR | Type::CHAR => PgType::Text,
            Type::BOOL => PgType::Bool,
            Type::TIMESTAMPTZ | Type::TIMESTAMP | Type::DATE | Type::TIME | Type::INTERVAL => PgType::Time,
            Type::JSON | Type::JSONB => PgType::Json,
            Type::BYTEA => PgType::Bytes,
            _ => PgType::Any,
        }
    }
}

/// Types match when equal; `?` in the file accepts any type. (The signature is sqllogictest's
/// `ColumnTypeValidator`.)
#[allow(clippy::ptr_arg)]
fn types_match(actual: &Vec<PgType>, expected: &Vec<PgType>) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| a == e || *e == PgType::Any)
}

/// An error as the server sent it.
#[derive(Debug)]
struct PgError {
    sqlstate: Option<String>,
    message: String,
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sqlstate {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PgError {}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> PgError {
        match e.as_db_error() {
            Some(db) => PgError {
                sqlstate: Some(db.code().code().to_string()),
                message: db.message().to_string(),
            },
            None => PgError {
                sqlstate: None,
                message: e.to_string(),
            },
        }
    }
}

/// One client connection.
struct Pg {
    client: tokio_postgres::Client,
}

#[async_trait::async_trait]
impl AsyncDB for Pg {
    type Error = PgError;
    type ColumnType = PgType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<PgType>, PgError> {
        let messages = self.client.simple_query(sql).await?;
        let mut rows = Vec::new();
        let mut columns = None;
        let mut count = 0;
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(c) => columns = Some(c.len()),
                SimpleQueryMessage::Row(row) => {
                    columns = Some(row.len());
                    rows.push(
                        (0..row.len())
                            .map(|i| match row.get(i) {
                                None => "NULL".to_string(),
                                Some("") => "(empty)".to_string(),
                                Some(v) => v.to_string(),
                            })
                            .collect::<Vec<_>>(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        let Some(width) = columns else {
            return Ok(DBOutput::StatementComplete(count));
        };
        // The types of the same statement, as the extended protocol describes them.
        let types = match self.client.prepare(sql).await {
            Ok(stmt) if stmt.columns().len() == width => {
                stmt.columns().iter().map(|c| PgType::from(c.type_())).collect()
            }
            _ => vec![PgType::Any; width],
        };
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "slod"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }

    fn error_sql_state(err: &PgError) -> Option<String> {
        err.sqlstate.clone()
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn slt_files(filter: Option<&str>) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/sql"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| filter.is_none_or(|f| p.to_string_lossy().contains(f)))
        .collect();
    files.sort();
    files
}

/// Starts slod, loads the fixture, and restarts it so every row is in Parquet.
fn fixture_server() -> TestServer {
    let mut server = TestServer::builder()
        // Fixed 2026 dates: no retention, or the fixture would age out.
        .config("storage: { retention: null }")
        .config("slo: { default_templates: false, default_rules: false }")
        .start();
    let out = Command::new(env!("CARGO_BIN_EXE_slod"))
        .arg("loadgen")
        .args(["--target", &format!("127.0.0.1:{}", server.http)])
        .args(LOADGEN)
        .output()
        .expect("cannot run slod loadgen");
    assert!(
        out.status.success(),
        "slod loadgen failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(
        server.stop().success(),
        "slod did not stop cleanly:\n{}",
        server.log()
    );
    server.spawn();
    server
}

fn normalise_sql(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(';')
        .to_string()
}

/// Statements of the ```sql blocks of a Markdown file (split at a `;` that ends a line).
fn doc_statements(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sql = false;
    let mut current = String::new();
    for line in markdown.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sql = t == "```sql";
            continue;
        }
        if !in_sql || t.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if t.ends_with(';') {
            out.push(normalise_sql(&current));
            current.clear();
        }
    }
    out
}

/// Every documented example must be in an `.slt` file (and so be run, its result pinned).
fn docs_examples_are_tested(files: &[PathBuf]) -> Result<(), String> {
    let slt: String = files
        .iter()
        .map(|f| normalise_sql(&std::fs::read_to_string(f).unwrap()))
        .collect::<Vec<_>>()
        .join("\n");
    let docs = std::fs::read_to_string(repo().join("docs/sql.md")).unwrap();
    let statements = doc_statements(&docs);
    if statements.is_empty() {
        return Err("docs/sql.md: no ```sql examples found".into());
    }
    let missing: Vec<_> = statements.iter().filter(|s| !slt.contains(s.as_str())).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "docs/sql.md examples that no tests/sql/*.slt file runs:\n{}",
            missing
                .iter()
                .map(|s| format!("  {s}"))
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }
}

fn main() -> ExitCode {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let update = std::env::var_os("SLOD_SLT_UPDATE").is_some();
    let files = slt_files(filter.as_deref());
    if files.is_empty() && filter.is_some() {
        // `cargo test some_other_test` passes its filter here too: nothing of ours matches.
        println!("0 passed, 0 failed (no .slt file matches the filter)");
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = fixture_server();
    let dsn = server.pg_dsn("slt");
    let mut passed = 0;
    let mut failed = 0;
    for file in &files {
        let name = file.strip_prefix(repo()).unwrap_or(file).display().to_string();
        let dsn = dsn.clone();
        let result: Result<(), String> = runtime.block_on(async {
            let mut runner = Runner::new(move || {
                let dsn = dsn.clone();
                async move {
                    let (client, conn) = tokio_postgres::connect(&dsn, NoTls).await?;
                    tokio::spawn(conn);
                    Ok::<_, PgError>(Pg { client })
                }
            });
            runner.with_column_validator(types_match);
            if update {
                runner
                    .update_test_file(
                        file,
                        " ",
                        sqllogictest::default_validator,
                        sqllogictest::default_normalizer,
                        types_match,
                    )
                    .await
                    .map_err(|e| e.to_string())
            } else {
                runner
                    .run_file_async(file)
                    .await
                    .map_err(|e| e.display(false).to_string())
            }
        });
        match result {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(e) => {
                println!("test {name} ... FAILED\n{e}\n");
                failed += 1;
            }
        }
    }
    if filter.is_none() {
        match docs_examples_are_tested(&files) {
            Ok(()) => {
                println!("test docs/sql.md examples are in tests/sql ... ok");
                passed += 1;
            }
            Err(e) => {
                println!("test docs/sql.md examples are in tests/sql ... FAILED\n{e}\n");
                failed += 1;
            }
        }
    }
    drop(server);
    println!("\n{passed} passed, {failed} failed");
    if failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
