//! pgwire under hostile or heavy use: bad input gets a SQLSTATE and the connection stays
//! usable; timeouts, memory limits and cancel requests stop a query, not the daemon; 32
//! clients query while ingest runs; passwords and TLS.

use std::time::{Duration, Instant};

use prost::Message;
use tokio_postgres::error::SqlState;

use crate::bad_input::spans_request;
use crate::server::TestServer;

fn code(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_statements_get_sqlstates_and_the_connection_keeps_serving() {
    let server = TestServer::builder()
        .config("limits: { query_timeout: 2s, query_memory: 4MiB }")
        .start();
    let c = server.pg_connect().await;
    // (statement, SQLSTATE, phrase of the message)
    let cases = [
        // Syntax.
        ("SELEC 1", "42601", "syntax error"),
        ("SELECT (1", "42601", "syntax error"),
        // Unknown names.
        ("SELECT * FROM no_such_table", "42P01", "no_such_table"),
        ("SELECT nope FROM spans", "42703", "nope"),
        ("SELECT no_such_function(1)", "42883", "no_such_function"),
        // Writes and DDL: read-only.
        (
            "INSERT INTO spans SELECT * FROM spans",
            "25006",
            "INSERT is not allowed",
        ),
        ("UPDATE spans SET name = 'x'", "25006", "UPDATE is not allowed"),
        ("DELETE FROM spans", "25006", "DELETE is not allowed"),
        ("CREATE TABLE t (x INT)", "25006", "CREATE TABLE is not allowed"),
        ("DROP TABLE spans", "25006", "DROP TABLE is not allowed"),
        ("CREATE VIEW v AS SELECT 1", "25006", "CREATE VIEW is not allowed"),
        ("SELECT 1 INTO t", "25006", "SELECT ... INTO"),
        ("COPY spans FROM STDIN", "25006", "COPY is not allowed"),
        (
            "SET datafusion.execution.batch_size = 1",
            "25006",
            "datafusion.execution.batch_size",
        ),
        // Files.
        ("COPY spans TO '/tmp/slod-pg-copy.csv'", "42501", "server file"),
        ("COPY spans FROM '/etc/passwd'", "42501", "server file"),
        ("COPY spans TO PROGRAM 'id'", "42501", "server file"),
        // Values.
        ("SELECT 1 / 0", "22012", "Divide by zero"),
        ("SELECT trace_id('xyz')", "22000", "hex id"),
        ("SHOW no_such_setting", "42000", "no_such_setting"),
    ];
    for (sql, want, says) in cases {
        // Both protocols: simple (batch_execute) and extended (query).
        for extended in [false, true] {
            let err = if extended {
                c.query(sql, &[]).await.err()
            } else {
                c.batch_execute(sql).await.err()
            };
            let err = err.unwrap_or_else(|| panic!("{sql}: no error (extended: {extended})"));
            assert_eq!(code(&err), want, "{sql} (extended: {extended}): {err:?}");
            let msg = err
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_default();
            assert!(msg.contains(says), "{sql}: {msg:?} should say {says:?}");
            // The connection is still usable.
            let one: i64 = c.query_one("SELECT CAST(1 AS BIGINT)", &[]).await.unwrap().get(0);
            assert_eq!(one, 1);
        }
    }
    assert!(!std::path::Path::new("/tmp/slod-pg-copy.csv").exists());

    // Over the time limit: 57014, and the daemon keeps answering.
    let started = Instant::now();
    let err = c
        .query("SELECT count(*) FROM generate_series(1, 100000000000) a", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(format!("{err:?}").contains("limits.query_timeout"), "{err:?}");
    // A client's own statement_timeout is shorter still.
    c.batch_execute("SET statement_timeout = '300ms'").await.unwrap();
    let started = Instant::now();
    let err = c
        .batch_execute("SELECT count(*) FROM generate_series(1, 100000000000) a")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    c.batch_execute("SET statement_timeout = 0").await.unwrap();
    // Over the memory limit: 53200.
    let err = c
        .query(
            "SELECT value FROM generate_series(1, 1000000) ORDER BY value DESC",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::OUT_OF_MEMORY), "{err:?}");
    assert!(format!("{err:?}").contains("limits.query_memory"), "{err:?}");

    // A CancelRequest stops the running query (57014) and the connection keeps working.
    let cancel = c.cancel_token();
    let slow = tokio::spawn(async move {
        let r = c
            .query("SELECT count(*) FROM generate_series(1, 100000000000) a", &[])
            .await;
        (c, r)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let (c, r) = slow.await.unwrap();
    let err = r.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let two: i64 = c.query_one("SELECT CAST(2 AS BIGINT)", &[]).await.unwrap().get(0);
    assert_eq!(two, 2);

    // Connections to another database are refused (3D000).
    let dsn = server.pg_dsn("x").replace("dbname=slod", "dbname=postgres");
    let err = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
        .await
        .err()
        .unwrap();
    assert_eq!(code(&err), "3D000", "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_two_clients_query_while_ingest_continues() {
    let server = TestServer::builder()
        .config("storage: { flush_max_size: 256KiB, flush_interval: 1s }")
        .start();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let ingest = {
        let (client, url, stop, sent) = (
            server.client.clone(),
            server.otlp_http("/v1/traces"),
            stop.clone(),
            sent.clone(),
        );
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = spans_request("concurrent", 50, i).encode_to_vec();
                let r = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                sent.fetch_add(50, std::sync::atomic::Ordering::SeqCst);
                i += 1;
            }
        })
    };
    let mut clients = Vec::new();
    for k in 0..32 {
        let c = server.pg_connect().await;
        let sent = sent.clone();
        clients.push(tokio::spawn(async move {
            let mut last = 0i64;
            for _ in 0..10 {
                let before = sent.load(std::sync::atomic::Ordering::SeqCst);
                // Half the clients use the extended protocol, half the simple one.
                let n: i64 = if k % 2 == 0 {
                    c.query_one(
                        "SELECT count(*) FROM spans WHERE service_name = $1",
                        &[&"concurrent"],
                    )
                    .await
                    .unwrap()
                    .get(0)
                } else {
                    let rows = c
                        .simple_query("SELECT count(*) FROM spans WHERE service_name = 'concurrent'")
                        .await
                        .unwrap();
                    rows.iter()
                        .find_map(|m| match m {
                            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0)?.parse().ok(),
                            _ => None,
                        })
                        .unwrap()
                };
                let after = sent.load(std::sync::atomic::Ordering::SeqCst);
                // Acknowledged rows are visible; nothing is doubled or lost mid-flush.
                assert!(
                    n >= before && n <= after + 50,
                    "count {n} outside [{before}, {after}]"
                );
                assert!(n >= last, "count went backwards: {last} then {n}");
                last = n;
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    ingest.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_is_required_when_set_and_tls_is_served_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl could not make a test certificate");
    let server = TestServer::builder()
        .config(&format!(
            "pg: {{ tls_cert: {}, tls_key: {} }}",
            cert.display(),
            key.display()
        ))
        .env("SLOD_PG_PASSWORD", "s3cret")
        .start();
    // The right password (SCRAM-SHA-256), any user name.
    for user in ["grafana", "alice"] {
        let dsn = format!("{} password=s3cret", server.pg_dsn(user));
        let (c, conn) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let one: i64 = c.query_one("SELECT CAST(1 AS BIGINT)", &[]).await.unwrap().get(0);
        assert_eq!(one, 1);
    }
    // A wrong or missing password is rejected with 28P01.
    for pw in ["wrong", ""] {
        let dsn = format!("{} password='{pw}'", server.pg_dsn("grafana"));
        let err = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
            .await
            .err()
            .unwrap();
        assert!(
            code(&err) == "28P01" || err.to_string().contains("password"),
            "password {pw:?}: {err:?}"
        );
    }
    // psql with sslmode=require (Grafana's default) negotiates TLS and authenticates.
    let out = std::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} dbname=slod user=g sslmode=require password=s3cret",
            server.pg
        ))
        .args([
            "-X",
            "-At",
            "-c",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ])
        .output()
        .unwrap();
    let out2 = std::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} dbname=slod user=g sslmode=require password=s3cret",
            server.pg
        ))
        .args(["-X", "-At", "-c", "SELECT 42"])
        .output()
        .unwrap();
    assert!(
        out2.status.success() && String::from_utf8_lossy(&out2.stdout).trim() == "42",
        "psql over TLS: {out2:?} (pg_stat_ssl: {out:?})"
    );
    let out = std::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} dbname=slod user=g sslmode=require password=nope",
            server.pg
        ))
        .args(["-X", "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("password authentication failed"),
        "{out:?}"
    );
}
