//! The SQL API: read-only by construction, every query under a timeout and a memory limit,
//! answers in four formats, a consistent snapshot while flushes run, and `slod query`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use prost::Message;

use crate::bad_input::spans_request;
use crate::server::TestServer;

async fn post_sql(server: &TestServer, sql: &str) -> (u16, serde_json::Value) {
    let r = server
        .client
        .post(server.api_url("/api/v1/sql"))
        .body(sql.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn anything_but_a_query_is_refused_with_a_clear_message() {
    let server = TestServer::builder()
        .config("limits: { query_timeout: 2s, query_memory: 4MiB }")
        .start();
    let cases = [
        // DDL
        ("CREATE TABLE t (x INT)", "CREATE TABLE is not allowed"),
        ("DROP TABLE spans", "DROP TABLE is not allowed"),
        // DML
        ("INSERT INTO spans SELECT * FROM spans", "INSERT is not allowed"),
        ("DELETE FROM spans", "DELETE is not allowed"),
        // Files in and out.
        ("COPY (SELECT 1) TO '/tmp/slod-copy.csv'", "COPY is not allowed"),
        (
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
            "CREATE EXTERNAL TABLE is not allowed",
        ),
        ("SELECT * FROM '/etc/passwd'", "/etc/passwd"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        // Session changes.
        ("SET datafusion.execution.batch_size = 1", "SET is not allowed"),
        // Several statements at once.
        ("SELECT 1; SELECT 2", "one statement per request"),
        // Plain mistakes.
        ("SELEC 1", "syntax error"),
        ("SELECT nope FROM spans", "nope"),
        ("SELECT * FROM no_such_table", "no_such_table"),
    ];
    for (sql, says) in cases {
        let (status, body) = post_sql(&server, sql).await;
        assert_eq!(status, 400, "{sql}: {body}");
        let msg = body["error"].as_str().unwrap();
        assert!(msg.contains(says), "{sql}: {msg:?} should say {says:?}");
    }
    assert!(!std::path::Path::new("/tmp/slod-copy.csv").exists());

    // Over the time limit: cancelled with a clear error; the daemon keeps answering.
    let (status, body) = post_sql(&server, "SELECT count(*) FROM generate_series(1, 100000000000) a").await;
    assert_eq!(status, 504, "{body}");
    assert!(body["error"].as_str().unwrap().contains("limits.query_timeout"));
    // Over the memory limit: sorting 1M rows (8 MB) cannot fit in 4 MiB.
    let (status, body) = post_sql(
        &server,
        "SELECT value FROM generate_series(1, 1000000) ORDER BY value DESC",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("limits.query_memory"),
        "{body}"
    );
    let (status, body) = post_sql(&server, "SELECT 1 + 1 AS two").await;
    assert_eq!((status, body["rows"][0]["two"].as_i64()), (200, Some(2)));
}

#[tokio::test(flavor = "multi_thread")]
async fn results_come_in_json_ndjson_csv_and_arrow() {
    let server = TestServer::start();
    let body = spans_request("fmt", 4, 11).encode_to_vec();
    let r = server.post_protobuf("/v1/traces", body).await;
    assert_eq!(r.status(), 200);
    let sql = "SELECT name, kind, attributes FROM spans WHERE service_name = 'fmt' ORDER BY start_time";
    let get = |accept: &'static str| {
        let req = server
            .client
            .post(server.api_url("/api/v1/sql"))
            .header("accept", accept)
            .body(sql);
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            let rows: usize = r.headers()["x-slod-rows"].to_str().unwrap().parse().unwrap();
            (ct, rows, r.bytes().await.unwrap())
        }
    };
    let (ct, rows, json) = get("application/json").await;
    assert_eq!((ct.as_str(), rows), ("application/json", 4));
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["row_count"], 4);
    assert_eq!(v["columns"][1]["name"], "kind");
    assert!(v["execution_time_ms"].as_f64().is_some());
    let (ct, _, nd) = get("application/x-ndjson").await;
    assert_eq!(ct, "application/x-ndjson");
    let lines: Vec<serde_json::Value> = std::str::from_utf8(&nd)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], v["rows"][0], "NDJSON rows equal the JSON rows");
    let (ct, _, csv) = get("text/csv").await;
    assert!(ct.starts_with("text/csv"));
    let text = String::from_utf8(csv.to_vec()).unwrap();
    assert_eq!(
        text.lines().next(),
        Some("name,kind,attributes"),
        "CSV has a header"
    );
    assert_eq!(text.lines().count(), 5);
    let (ct, _, arrow) = get("application/vnd.apache.arrow.stream").await;
    assert_eq!(ct, "application/vnd.apache.arrow.stream");
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(arrow), None).unwrap();
    let n: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(n, 4);

    // DataFusion plans a `UNION ALL` of a text column with `CAST(… AS VARCHAR)` as Utf8 and
    // yields Utf8View batches: every format still carries the declared type and the values.
    let union = "SELECT max(m) AS m, count(m) AS n FROM (SELECT name AS m FROM spans \
                 WHERE service_name = 'fmt' UNION ALL SELECT CAST(NULL AS VARCHAR))";
    let (status, plain) = post_sql(
        &server,
        "SELECT max(name) AS m, count(name) AS n FROM spans WHERE service_name = 'fmt'",
    )
    .await;
    assert_eq!(status, 200, "{plain}");
    let (status, unioned) = post_sql(&server, union).await;
    assert_eq!(status, 200, "{unioned}");
    assert_eq!(unioned["rows"], plain["rows"]);
    let r = server
        .client
        .post(server.api_url("/api/v1/sql"))
        .header("accept", "application/vnd.apache.arrow.stream")
        .body(union)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(r.bytes().await.unwrap()), None)
            .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let m = batches[0].column(0);
    let m = arrow::array::cast::AsArray::as_string::<i32>(m.as_ref());
    assert_eq!(serde_json::json!(m.value(0)), plain["rows"][0]["m"]);

    // `slod query` prints a table and CSV.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slod"))
        .args([
            "query",
            "--url",
            &server.api_url(""),
            "SELECT count(*) AS n FROM spans WHERE service_name = 'fmt'",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("| n |") && table.contains("| 4 |"), "{table}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slod"))
        .args([
            "query",
            "--format",
            "csv",
            "--url",
            &server.api_url(""),
            "DROP TABLE spans",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"));
}

/// `slod_storage_flushes_total` from the server's /metrics.
async fn flushes(client: &reqwest::Client, metrics_url: &str) -> f64 {
    let text = client
        .get(metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("slod_storage_flushes_total "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_never_go_backwards_or_overshoot_while_flushes_run() {
    // Flushes every few requests: queries race them constantly.
    let server = TestServer::builder()
        .config("storage: { flush_max_size: 32KiB, flush_interval: 1s }")
        .start();
    let sent = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sender = {
        let metrics_url = server.api_url("/metrics");
        let (client, url, sent, done) = (
            server.client.clone(),
            server.otlp_http("/v1/traces"),
            sent.clone(),
            done.clone(),
        );
        tokio::spawn(async move {
            // At least 150 requests, and on until three flushes have raced the queries.
            let started = std::time::Instant::now();
            let mut i = 0u64;
            loop {
                if i >= 150 && i.is_multiple_of(10) && flushes(&client, &metrics_url).await >= 3.0 {
                    break;
                }
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(60),
                    "no flushes after 60 s"
                );
                i += 1;
                let body = spans_request("snap", 16, 5000 + i).encode_to_vec();
                let r = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                sent.fetch_add(16, Ordering::SeqCst);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut last = 0;
    let mut observations = 0;
    while !done.load(Ordering::SeqCst) {
        let before = sent.load(Ordering::SeqCst);
        let n = server
            .count("SELECT count(*) FROM spans WHERE service_name = 'snap'")
            .await;
        let after = sent.load(Ordering::SeqCst) + 16; // one request may be acknowledged mid-query
        assert!(
            n >= last,
            "count went backwards: {last} then {n} (rows hidden mid-flush)"
        );
        assert!(
            n >= before && n <= after,
            "count {n} outside [{before}, {after}] (rows missing or doubled)"
        );
        last = n;
        observations += 1;
    }
    sender.await.unwrap();
    assert!(
        observations > 10,
        "too few observations ({observations}) to prove anything"
    );
    assert_eq!(
        server
            .count("SELECT count(*) FROM spans WHERE service_name = 'snap'")
            .await,
        sent.load(Ordering::SeqCst)
    );
    let n = flushes(&server.client, &server.api_url("/metrics")).await;
    assert!(n >= 3.0, "the test must race real flushes (saw {n})");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_self_metric_follows_the_naming_rule() {
    let server = TestServer::start();
    let _ = post_sql(&server, "SELECT 1").await;
    let text = server.metrics_text().await;
    let mut families = 0;
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line.split_whitespace().skip(2);
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        families += 1;
        // STYLE.md: slod_<subsystem>_<object>_<unit>[_total], base units.
        assert!(
            name.starts_with("slod_") && name.split('_').count() >= 3,
            "{name}"
        );
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{name}");
        assert!(
            !name.contains("_milliseconds") && !name.contains("_ms"),
            "{name}: use seconds"
        );
        if kind == "histogram" {
            assert!(
                name.ends_with("_seconds") || name.ends_with("_bytes"),
                "{name}: histogram without a unit"
            );
        }
    }
    // Counters are exposed with the _total suffix.
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = text
            .lines()
            .find(|l| l.starts_with("# TYPE ") && name.starts_with(l.split_whitespace().nth(2).unwrap()));
        if family.is_some_and(|f| f.ends_with(" counter")) {
            assert!(name.ends_with("_total") || name.ends_with("_created"), "{name}");
        }
    }
    assert!(families >= 10, "{text}");
}
