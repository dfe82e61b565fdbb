//! The PostgreSQL wire protocol against the real binary, with real clients: psql, psycopg 3
//! (simple and extended), tokio-postgres, node-postgres, and Grafana's statements replayed.
//! Answers are compared with the values sent over OTLP and with DuckDB over the same
//! flushed Parquet files.

mod dataset;
mod limits;

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use crate::server::{TestServer, python};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a client script; panics with its output when it fails.
fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub fn psql(server: &TestServer, args: &[&str]) -> String {
    let mut cmd = Command::new("psql");
    cmd.arg(server.pg_dsn("psql"))
        .args(["-X", "-v", "ON_ERROR_STOP=1"])
        .args(args);
    run(&mut cmd, &format!("psql {args:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_agree_with_the_values_sent_and_with_duckdb() {
    let mut server = TestServer::start();
    let sent = dataset::invocations(dataset::base_ns());
    dataset::ingest_and_flush(&mut server, &sent).await;
    let files = dataset::parquet_files(&server, "spans");
    assert!(!files.is_empty(), "no Parquet file after a graceful restart");
    let expected = dataset::expected(&sent);
    let total = sent.len();

    // psql: -c, \dt, \d spans, and the errors it prints.
    let out = psql(&server, &["-At", "-c", "SELECT count(*) FROM spans"]);
    assert_eq!(out.trim(), total.to_string());
    let out = psql(&server, &["-c", "\\dt"]);
    for t in ["spans", "metric_points", "metric_distributions", "logs"] {
        assert!(out.contains(t), "\\dt lists {t}:\n{out}");
    }
    let out = psql(&server, &["-c", "\\d spans"]);
    assert!(out.contains("Table \"public.spans\""), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("start_time") && l.contains("timestamp with time zone")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("duration_ns") && l.contains("bigint")),
        "{out}"
    );
    let mut cmd = Command::new("psql");
    cmd.arg(server.pg_dsn("psql"))
        .args(["-X", "-c", "INSERT INTO spans SELECT * FROM spans"]);
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("read-only"),
        "{out:?}"
    );

    // psycopg 3 (simple, extended, prepared, binary) and DuckDB over the same files.
    let cfg = serde_json::json!({
        "dsn": server.pg_dsn("psycopg"),
        "spans_parquet": files,
        "expected": expected,
    });
    run(
        Command::new(python())
            .arg(repo().join("tests/python/pg_clients.py"))
            .arg(cfg.to_string()),
        "psycopg + duckdb (tests/python/pg_clients.py)",
    );

    // Grafana's statements, macros expanded for the data's time range.
    let cfg = serde_json::json!({
        "dsn": server.pg_dsn("grafana"),
        "from_s": expected["base_s"],
        "to_s": expected["end_s"],
    });
    run(
        Command::new(python())
            .arg(repo().join("tests/python/pg_grafana.py"))
            .arg(cfg.to_string()),
        "grafana replay (tests/python/pg_grafana.py)",
    );

    // node-postgres.
    let cfg = serde_json::json!({"port": server.pg, "expected": expected});
    run(
        Command::new("node")
            .arg(repo().join("tests/node/pg_client.cjs"))
            .arg(cfg.to_string())
            .env("NODE_PATH", repo().join("scripts/node/node_modules")),
        "node-postgres (tests/node/pg_client.cjs; run scripts/setup-node.sh)",
    );

    // tokio-postgres: simple query, then extended with binary parameters and results.
    let c = server.pg_connect().await;
    let rows = c.simple_query("SELECT count(*) AS n FROM spans").await.unwrap();
    let n = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(n, Some(total.to_string()));
    let rows = c
        .query(
            "SELECT faas_name, count(*) AS n, CAST(sum(CASE WHEN is_error THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
             max(duration_ns) AS max_ns FROM spans WHERE duration_ns >= $1 GROUP BY faas_name ORDER BY faas_name",
            &[&0i64],
        )
        .await
        .unwrap();
    let got: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!([
                r.get::<_, String>(0),
                r.get::<_, i64>(1),
                r.get::<_, i64>(2),
                r.get::<_, i64>(3)
            ])
        })
        .collect();
    let want: Vec<serde_json::Value> = expected["per_function"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::json!([r[0], r[1], r[2], r[3]]))
        .collect();
    assert_eq!(got, want);
    // A column DataFusion plans as text but produces as Utf8View (a UNION ALL with
    // `CAST(… AS VARCHAR)`) arrives as the text it was described as, in both protocols.
    let union =
        "SELECT max(m) AS m FROM (SELECT faas_name AS m FROM spans UNION ALL SELECT CAST(NULL AS VARCHAR))";
    let last = want.last().unwrap()[0].as_str().unwrap().to_string();
    assert_eq!(c.query_one(union, &[]).await.unwrap().get::<_, String>(0), last);
    let rows = c.simple_query(union).await.unwrap();
    let m = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(m, Some(last));
    let first = &sent[0];
    let row = c
        .query_one(
            "SELECT start_time, is_error, trace_id, attributes, duration_ns / 1e6 AS ms, \
             make_array(1.5, 2.5) AS fa, name FROM spans WHERE trace_id = trace_id($1)",
            &[&dataset::hex(&first.trace_id)],
        )
        .await
        .unwrap();
    let start: SystemTime = row.get(0);
    let start_ns = start.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64;
    assert_eq!(
        start_ns / 1000,
        first.start_ns / 1000,
        "timestamptz (microseconds on the wire)"
    );
    assert!(!row.get::<_, bool>(1));
    assert_eq!(row.get::<_, Vec<u8>>(2), first.trace_id.to_vec());
    let attrs: serde_json::Value = row.get(3);
    assert_eq!(attrs["app.route"], first.route.as_str());
    assert_eq!(row.get::<_, f64>(4), first.duration_ns as f64 / 1e6);
    assert_eq!(row.get::<_, Vec<f64>>(5), vec![1.5, 2.5]);
    assert_eq!(row.get::<_, String>(6), "checkout handler");

    // A lookup by trace id prunes by the bloom filter: an id inside the file's min/max range
    // that was never sent leaves no row group to read.
    let missing = format!("a1{}{:016x}", "00".repeat(7), 100);
    let rows = c
        .simple_query(&format!(
            "EXPLAIN ANALYZE SELECT count(*) FROM spans WHERE trace_id = trace_id('{missing}')"
        ))
        .await
        .unwrap();
    let plan: String = rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(1).map(str::to_string),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let pruned = pruned_row_groups(&plan, "row_groups_pruned_bloom_filter");
    assert!(
        matches!(pruned, Some((total, matched)) if total >= 1 && matched == 0),
        "bloom filter did not prune ({pruned:?}):\n{plan}"
    );
}

/// `(total, matched)` of a pruning metric in EXPLAIN ANALYZE output (`name=3 total → 1 matched`).
fn pruned_row_groups(plan: &str, name: &str) -> Option<(u64, u64)> {
    let rest = &plan[plan.find(&format!("{name}="))? + name.len() + 1..];
    let mut words = rest.split_whitespace();
    let total = words.next()?.parse().ok()?;
    let matched = words.nth(2)?.parse().ok()?;
    Some((total, matched))
}
