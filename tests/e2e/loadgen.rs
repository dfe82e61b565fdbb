//! `slod loadgen` against a real `slod serve`: each scenario is backfilled into its own server
//! by the real binary, and SQL over `/api/v1/sql` must show the signal the scenario promises
//! (the expectations come from the scenario descriptions in `slod loadgen --help`, not from
//! the generator's output). The same seed must give the same stored data.

use std::time::Duration;

use serde_json::Value;

use crate::server::TestServer;

/// Simulated minutes per scenario and spans per simulated second: small, but enough
/// invocations per function for rates to mean something.
const MINUTES: u64 = 4;
const VOLUME: &str = "100";

/// Yesterday 12:00 UTC: inside the default 30-day retention, and always the same hour of
/// day, so every run sees the same traffic (the generator keys its randomness by the offset
/// in the window; only the daily traffic cycle follows the clock hour).
fn start_secs() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (now - 86_400) / 86_400 * 86_400 + 12 * 3600
}

struct Run {
    plan: Value,
    start_ns: i64,
    /// The first incident's target function (if it has one) and window.
    target: String,
    from: i64,
    to: i64,
    summary: String,
}

fn slod(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_slod"))
        .arg("loadgen")
        .args(args)
        .output()
        .unwrap()
}

/// Backfills `MINUTES` of `scenario` into `server` with the real binary; returns its plan.
async fn backfill(server: &TestServer, scenario: &str, seed: u64, protocol: &str) -> Run {
    let start = start_secs().to_string();
    let seed = seed.to_string();
    let backfill = format!("{MINUTES}m");
    let port = if protocol == "grpc" {
        server.grpc
    } else {
        server.http
    };
    let target = format!("127.0.0.1:{port}");
    let common = [
        "--scenario",
        scenario,
        "--seed",
        &seed,
        "--start",
        &start,
        "--backfill",
        &backfill,
        "--volume",
        VOLUME,
        "--functions",
        "10",
    ];
    let plan = slod(&[&common[..], &["--plan"]].concat());
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let args: Vec<String> = [
        &common[..],
        &["--target", &target, "--protocol", protocol, "--quiet"],
    ]
    .concat()
    .into_iter()
    .map(String::from)
    .collect();
    let out = tokio::task::spawn_blocking(move || slod(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "loadgen failed: {summary}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(summary.contains(", failed 0 items"), "{summary}");
    let first = &plan["plan"]["incidents"][0];
    Run {
        start_ns: start.parse::<i64>().unwrap() * 1_000_000_000,
        target: first["target"]["function"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        from: first["start_ns"].as_i64().unwrap_or(0),
        to: first["end_ns"].as_i64().unwrap_or(0),
        plan,
        summary,
    }
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0.0)
}

/// Error rate of invocation spans of `function` inside and outside the incident window.
/// (Azure functions are named `<app>/<function>`, the fleet names the app.)
async fn error_rates(s: &TestServer, r: &Run, function: &str) -> (f64, f64, f64) {
    let q = format!(
        "SELECT
           SUM(CASE WHEN inside AND is_error THEN 1 ELSE 0 END) AS in_err,
           SUM(CASE WHEN inside THEN 1 ELSE 0 END) AS in_n,
           SUM(CASE WHEN NOT inside AND is_error THEN 1 ELSE 0 END) AS out_err,
           SUM(CASE WHEN NOT inside THEN 1 ELSE 0 END) AS out_n
         FROM (SELECT is_error, CAST(start_time AS BIGINT) >= {} AND CAST(start_time AS BIGINT) < {} AS inside
               FROM spans WHERE is_invocation AND split_part(faas_name, '/', 1) = '{function}')",
        r.from, r.to
    );
    let row = &s.sql(&q).await[0];
    let n_in = f64_of(&row["in_n"]);
    (
        f64_of(&row["in_err"]) / n_in.max(1.0),
        f64_of(&row["out_err"]) / f64_of(&row["out_n"]).max(1.0),
        n_in,
    )
}

fn fleet(r: &Run) -> Vec<String> {
    r.plan["fleet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_error_burst_raises_only_the_target_functions_error_rate() {
    let s = TestServer::start();
    let r = backfill(&s, "error_burst", 11, "http-protobuf").await;
    let (inside, outside, n) = error_rates(&s, &r, &r.target).await;
    assert!(n > 30.0, "{}: only {n} invocations in the burst", r.target);
    assert!(
        inside > 0.2 && outside < 0.05,
        "{}: {inside} in the burst, {outside} outside",
        r.target
    );
    for f in fleet(&r).iter().filter(|f| **f != r.target) {
        let (inside, _, n) = error_rates(&s, &r, f).await;
        if n >= 30.0 {
            assert!(
                inside < 0.1,
                "{f} is not the target but has error rate {inside} in the burst"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_latency_regression_slows_the_target() {
    let s = TestServer::start();
    let r = backfill(&s, "latency_regression", 12, "http-protobuf").await;
    let q = format!(
        "SELECT AVG(CASE WHEN inside THEN duration_ns END) AS slow, AVG(CASE WHEN NOT inside THEN duration_ns END) AS normal
         FROM (SELECT duration_ns, CAST(start_time AS BIGINT) >= {} AND CAST(start_time AS BIGINT) < {} AS inside
               FROM spans WHERE is_invocation AND split_part(faas_name, '/', 1) = '{}')",
        r.from, r.to, r.target
    );
    let row = &s.sql(&q).await[0];
    let (slow, normal) = (f64_of(&row["slow"]), f64_of(&row["normal"]));
    assert!(slow > 2.5 * normal, "{}: {slow} ns vs {normal} ns", r.target);
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_cold_start_storm_raises_the_cold_start_rate_above_5_percent() {
    let s = TestServer::start();
    let r = backfill(&s, "cold_start_storm", 13, "http-json").await;
    // Cold: what the exporter says, else the first invocation of an instance (the Python
    // instrumentation sends no faas.coldstart).
    let q = format!(
        "WITH inv AS (
           SELECT CAST(start_time AS BIGINT) AS t, faas_coldstart,
                  row_number() OVER (PARTITION BY faas_name, faas_instance ORDER BY start_time) AS nth
           FROM spans WHERE is_invocation)
         SELECT
           SUM(CASE WHEN t >= {from} AND t < {to} AND COALESCE(faas_coldstart, nth = 1) THEN 1 ELSE 0 END) AS storm_cold,
           SUM(CASE WHEN t >= {from} AND t < {to} THEN 1 ELSE 0 END) AS storm_n,
           SUM(CASE WHEN t >= {calm} AND t < {from} AND COALESCE(faas_coldstart, nth = 1) THEN 1 ELSE 0 END) AS calm_cold,
           SUM(CASE WHEN t >= {calm} AND t < {from} THEN 1 ELSE 0 END) AS calm_n
         FROM inv",
        from = r.from,
        to = r.to,
        calm = r.start_ns + 60_000_000_000,
    );
    let row = &s.sql(&q).await[0];
    let storm = f64_of(&row["storm_cold"]) / f64_of(&row["storm_n"]).max(1.0);
    let calm = f64_of(&row["calm_cold"]) / f64_of(&row["calm_n"]).max(1.0);
    assert!(storm > 0.05, "cold-start rate in the storm: {storm}");
    assert!(storm > 3.0 * calm, "storm {storm} vs before {calm}");
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_throttle_storm_produces_throttled_spans_and_throttle_metrics() {
    let s = TestServer::start();
    let r = backfill(&s, "throttle_storm", 14, "grpc").await;
    // (A child call of an invocation that began just before the end may start after it.)
    let q = format!(
        "SELECT SUM(CASE WHEN CAST(start_time AS BIGINT) >= {} AND CAST(start_time AS BIGINT) < {} THEN 1 ELSE 0 END) AS inside,
                COUNT(*) AS total
         FROM spans WHERE is_throttle",
        r.from,
        r.to + 60_000_000_000
    );
    let row = &s.sql(&q).await[0];
    let (inside, total) = (f64_of(&row["inside"]), f64_of(&row["total"]));
    assert!(
        inside > 20.0 && inside == total,
        "{inside} throttled spans in the storm, {total} in all"
    );
    let q = format!(
        "SELECT SUM(sum) AS throttles FROM metric_distributions
         WHERE metric_name = 'amazonaws.com/AWS/Lambda/Throttles' AND attributes['FunctionName'] = '{}'",
        r.target
    );
    let throttles = f64_of(&s.sql(&q).await[0]["throttles"]);
    assert!(
        throttles > 20.0,
        "CloudWatch Throttles for {}: {throttles}",
        r.target
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_dlq_backlog_grows_the_dlq_depth_gauge() {
    let s = TestServer::start();
    let r = backfill(&s, "dlq_backlog", 15, "http-protobuf").await;
    let q = format!(
        "SELECT CAST(time AS BIGINT) AS t, value FROM metric_points
         WHERE lower(metric_name) = 'approximatenumberofmessagesvisible'
           AND attributes['QueueName'] LIKE '{}%' AND regexp_like(attributes['QueueName'], '(?i)(dlq|dead[-_.]?letter)')
         ORDER BY t",
        r.target
    );
    let depth: Vec<(i64, f64)> = s
        .sql(&q)
        .await
        .iter()
        .map(|row| (row["t"].as_i64().unwrap(), f64_of(&row["value"])))
        .collect();
    let at = |t: i64| depth.iter().rev().find(|(x, _)| *x <= t).map_or(0.0, |d| d.1);
    let last = depth.last().map_or(0.0, |d| d.1);
    assert!(
        at(r.from) <= 3.0 && last >= at(r.from) + 10.0,
        "{}: DLQ depth {depth:?}",
        r.target
    );
    // It only grows: a backlog, not noise.
    assert!(depth.windows(2).all(|w| w[1].1 >= w[0].1), "{depth:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_workflow_failures_have_consistent_steps_per_execution() {
    let s = TestServer::start();
    let r = backfill(&s, "workflow_failures", 16, "http-protobuf").await;
    // Temporal: every span of an execution's trace carries its one execution id, and each
    // execution has one StartWorkflow and one CompleteWorkflow.
    let bad = s
        .count(
            "SELECT COUNT(*) FROM (SELECT trace_id FROM spans WHERE scope_name LIKE 'temporalio%'
               GROUP BY trace_id
               HAVING COUNT(DISTINCT workflow_execution_id) <> 1 OR COUNT(workflow_execution_id) <> COUNT(*)
                   OR SUM(CASE WHEN name LIKE 'StartWorkflow:%' THEN 1 ELSE 0 END) <> 1
                   OR SUM(CASE WHEN name LIKE 'CompleteWorkflow:%' THEN 1 ELSE 0 END) <> 1)",
        )
        .await;
    assert_eq!(bad, 0, "inconsistent Temporal executions");
    // A failed execution's CompleteWorkflow carries an exception event; more fail inside.
    let q = format!(
        "SELECT SUM(CASE WHEN inside AND failed THEN 1 ELSE 0 END) AS in_f, SUM(CASE WHEN inside THEN 1 ELSE 0 END) AS in_n,
                SUM(CASE WHEN NOT inside AND failed THEN 1 ELSE 0 END) AS out_f, SUM(CASE WHEN NOT inside THEN 1 ELSE 0 END) AS out_n
         FROM (SELECT cardinality(events) > 0 AS failed,
                      CAST(start_time AS BIGINT) >= {} AND CAST(start_time AS BIGINT) < {} AS inside
               FROM spans WHERE name LIKE 'CompleteWorkflow:%')",
        r.from, r.to
    );
    let row = &s.sql(&q).await[0];
    let inside = f64_of(&row["in_f"]) / f64_of(&row["in_n"]).max(1.0);
    let outside = f64_of(&row["out_f"]) / f64_of(&row["out_n"]).max(1.0);
    assert!(
        inside > 0.2 && outside < 0.1,
        "Temporal failures: {inside} inside, {outside} outside"
    );
    // Failed step spans name their step and their execution.
    let failed_steps = s
        .count("SELECT COUNT(*) FROM spans WHERE is_error AND workflow_step IS NOT NULL AND workflow_execution_id IS NOT NULL")
        .await;
    assert!(failed_steps > 5);
    // Step Functions: each execution's task invocations share the execution ARN, belong to
    // the state machine, and name known states.
    let q = "SELECT workflow_execution_id, COUNT(DISTINCT workflow_name) AS names,
                    SUM(CASE WHEN workflow_step IN ('ValidateOrder', 'ChargePayment', 'ShipOrder') THEN 0 ELSE 1 END) AS unknown,
                    MIN(workflow_name) AS wf, BOOL_AND(is_invocation) AS all_invocations
             FROM spans WHERE workflow_execution_id LIKE 'arn:aws:states:%' GROUP BY workflow_execution_id";
    let execs = s.sql(q).await;
    assert!(execs.len() > 10, "{} Step Functions executions", execs.len());
    for e in &execs {
        assert_eq!((f64_of(&e["names"]), f64_of(&e["unknown"])), (1.0, 0.0), "{e:?}");
        assert_eq!(
            (e["wf"].as_str(), e["all_invocations"].as_bool()),
            (Some("order-fulfilment"), Some(true))
        );
    }
    // Durable Functions: orchestrations fail inside the window.
    let q = format!(
        "SELECT COUNT(*) FROM spans WHERE name = 'orchestration:ProcessRefund' AND is_error
           AND CAST(start_time AS BIGINT) >= {} AND CAST(start_time AS BIGINT) < {}",
        r.from, r.to
    );
    assert!(s.count(&q).await > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_bad_deploy_new_version_fails_more_than_the_old() {
    let s = TestServer::start();
    let r = backfill(&s, "bad_deploy", 17, "http-protobuf").await;
    let versions = &r.plan["plan"]["incidents"][0]["versions"];
    let (old, new) = (versions[0].as_str().unwrap(), versions[1].as_str().unwrap());
    // Lambda reports faas.version; Azure and Cloud Run the app's service.version 1.<n>.0.
    let q = format!(
        "SELECT v, SUM(CASE WHEN is_error THEN 1 ELSE 0 END) AS err, COUNT(*) AS n
         FROM (SELECT is_error, COALESCE(service_version, faas_version) AS v FROM spans
               WHERE is_invocation AND split_part(faas_name, '/', 1) = '{}')
         GROUP BY v",
        r.target
    );
    let rows = s.sql(&q).await;
    let rate = |v: &str| {
        let row = rows
            .iter()
            .find(|x| x["v"].as_str() == Some(v) || x["v"].as_str() == Some(&format!("1.{v}.0")))
            .unwrap_or_else(|| panic!("no invocations of version {v}: {rows:?}"));
        (f64_of(&row["err"]) / f64_of(&row["n"]), f64_of(&row["n"]))
    };
    let ((old_rate, _), (new_rate, new_n)) = (rate(old), rate(new));
    assert!(new_n >= 20.0, "{new_n} invocations of {new}");
    assert!(
        new_rate > old_rate + 0.1,
        "{}: {new} fails {new_rate}, {old} fails {old_rate}",
        r.target
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_late_data_lands_in_past_hours() {
    let s = TestServer::start();
    let r = backfill(&s, "late_data", 18, "http-protobuf").await;
    // Spans from hours before the window, in earlier hour partitions, all of the target.
    let q = format!(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT faas_name) AS fns, MIN(faas_name) AS f,
                COUNT(DISTINCT date_trunc('hour', start_time)) AS hours
         FROM spans WHERE CAST(start_time AS BIGINT) < {}",
        r.start_ns - 3_600_000_000_000
    );
    let row = &s.sql(&q).await[0];
    assert!(f64_of(&row["n"]) > 10.0, "{row:?}");
    assert_eq!(
        (f64_of(&row["fns"]), row["f"].as_str()),
        (1.0, Some(r.target.as_str()))
    );
    assert!(f64_of(&row["hours"]) >= 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_steady_and_mixed_fill_every_table_and_respect_the_rate() {
    let s = TestServer::start();
    let r = backfill(&s, "steady", 19, "http-protobuf").await;
    assert!(r.plan["plan"]["incidents"].as_array().unwrap().is_empty());
    for table in ["spans", "metric_points", "metric_distributions", "logs"] {
        assert!(
            s.count(&format!("SELECT COUNT(*) FROM {table}")).await > 0,
            "{table} is empty"
        );
    }
    let reports = s
        .count("SELECT COUNT(*) FROM logs WHERE body LIKE 'REPORT RequestId: %Billed Duration: %Max Memory Used: %'")
        .await;
    assert!(reports > 100);
    let errors = s
        .sql("SELECT AVG(CASE WHEN is_error THEN 1.0 ELSE 0.0 END) AS e FROM spans WHERE is_invocation")
        .await;
    assert!(
        f64_of(&errors[0]["e"]) < 0.05,
        "steady traffic error rate {errors:?}"
    );
    let mixed = backfill(&s, "mixed", 20, "http-protobuf").await;
    assert!(
        mixed.plan["plan"]["incidents"].as_array().unwrap().len() >= 8,
        "{}",
        mixed.summary
    );

    // --rate holds: a 1-minute backfill capped at 2000 items/s takes at least items / 2000 s.
    let started = std::time::Instant::now();
    let target = format!("127.0.0.1:{}", s.http);
    let out = tokio::task::spawn_blocking(move || {
        slod(&[
            "--backfill",
            "1m",
            "--volume",
            "100",
            "--rate",
            "2000",
            "--seed",
            "21",
            "--target",
            &target,
            "--quiet",
        ])
    })
    .await
    .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{summary}");
    let sent: f64 = summary
        .split("sent ")
        .nth(1)
        .and_then(|x| x.split(' ').next())
        .and_then(|x| x.parse().ok())
        .unwrap();
    assert!(sent > 2000.0, "{summary}");
    assert!(
        sent <= 2000.0 * elapsed,
        "{sent} items in {elapsed:.2}s exceeds 2000/s"
    );
}

/// Aggregates over everything stored, independent of arrival order and ingest time.
async fn fingerprint(s: &TestServer) -> Vec<serde_json::Map<String, Value>> {
    let mut out = Vec::new();
    for q in [
        "SELECT COUNT(*) AS n, SUM(duration_ns) AS d, COUNT(DISTINCT span_id) AS ids,
                MIN(encode(trace_id, 'hex')) AS t0, MAX(encode(trace_id, 'hex')) AS t1,
                SUM(CASE WHEN is_error THEN 1 ELSE 0 END) AS e, SUM(CASE WHEN is_invocation THEN 1 ELSE 0 END) AS inv,
                COUNT(DISTINCT workflow_execution_id) AS wf, MIN(start_time) AS first, MAX(end_time) AS last
         FROM spans",
        "SELECT COUNT(*) AS n, SUM(value) AS v, COUNT(DISTINCT series_id) AS series FROM metric_points",
        "SELECT COUNT(*) AS n, SUM(sum) AS s, SUM(count) AS c FROM metric_distributions",
        "SELECT COUNT(*) AS n, SUM(length(body)) AS b, MIN(body) AS first FROM logs",
    ] {
        out.extend(s.sql(q).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_same_seed_gives_the_same_data() {
    let (a, b) = (TestServer::start(), TestServer::start());
    backfill(&a, "mixed", 42, "http-protobuf").await;
    backfill(&b, "mixed", 42, "grpc").await;
    let (fa, fb) = (fingerprint(&a).await, fingerprint(&b).await);
    assert!(f64_of(&fa[0]["n"]) > 1000.0, "{fa:?}");
    assert_eq!(fa, fb, "same seed, same data, whatever the transport");
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_honours_retry_after_and_counts_retries() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::response::IntoResponse;
    // A receiver that answers 503 + Retry-After: 1 to the first two requests, then 200.
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let app = axum::Router::new().fallback(move || {
        let c = c.clone();
        async move {
            if c.fetch_add(1, Ordering::SeqCst) < 2 {
                (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "1")],
                )
                    .into_response()
            } else {
                axum::http::StatusCode::OK.into_response()
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let target = format!("127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        slod(&[
            "--backfill",
            "10s",
            "--volume",
            "50",
            "--connections",
            "1",
            "--target",
            &target,
            "--quiet",
        ])
    })
    .await
    .unwrap();
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{summary}");
    // Both 503s were retried (a keep-alive connection the server closed may add one more
    // retry), nothing was lost, and the two one-second hints were waited for.
    let number = |after: &str| -> u64 {
        summary
            .split(after)
            .nth(1)
            .and_then(|x| x.split([' ', ',']).next())
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("no {after:?} in {summary}"))
    };
    assert!(number("retried ") >= 2, "{summary}");
    assert_eq!(number("failed "), 0, "{summary}");
    assert!(number("acked ") > 0, "{summary}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(calls.load(Ordering::SeqCst) >= 3);
}
