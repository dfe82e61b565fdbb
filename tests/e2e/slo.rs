//! The SLO engine end to end: spans over OTLP/HTTP, one function's error rate jumps, `slo_status`
//! shows the burn rate rising, the page condition fires at the first evaluation after the data
//! lands, and resolves after recovery. Time is controlled by backdating spans to past minutes
//! and by a short policy (page at 10× over 10m and 1m), not by sleeping through real windows.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::Value;

use crate::server::TestServer;

fn now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `n` invocations of `checkout` in the minute starting at `minute` (unix s); the first `bad`
/// of them fail.
fn invocations(minute: i64, n: u64, bad: u64, salt: u64) -> ExportTraceServiceRequest {
    crate::spans::invocations("checkout", &["checkout".to_string()], minute as u64, n, bad, salt)
}

async fn send(server: &TestServer, req: ExportTraceServiceRequest) {
    let resp = server.post_protobuf("/v1/traces", req.encode_to_vec()).await;
    assert!(resp.status().is_success(), "{}", resp.status());
}

/// The `checkout-avail` row of slo_status.
async fn status(server: &TestServer) -> Option<serde_json::Map<String, Value>> {
    let rows = server
        .sql(
            "SELECT state, total, good, severity, burn_rates['1m'] AS b1m, burn_rates['10m'] AS b10m, \
             CAST(evaluated_at AS BIGINT) AS at FROM slo_status WHERE slo = 'checkout-avail'",
        )
        .await;
    rows.into_iter().next()
}

/// Polls slo_status until `pred` holds (at most `limit`).
async fn until(
    server: &TestServer,
    limit: Duration,
    what: &str,
    pred: impl Fn(&serde_json::Map<String, Value>) -> bool,
) -> serde_json::Map<String, Value> {
    let started = Instant::now();
    loop {
        if let Some(row) = status(server).await
            && pred(&row)
        {
            return row;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: last slo_status row {:?}\n{}",
            status(server).await,
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn f(row: &serde_json::Map<String, Value>, k: &str) -> f64 {
    row[k].as_f64().unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread")]
async fn error_jump_pages_at_the_next_evaluation_and_resolves_after_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let slos = dir.path().join("slos.yaml");
    std::fs::write(
        &slos,
        "slos:\n  - { name: checkout-avail, sli: availability, objective: 0.99, selector: { faas_name: checkout } }\n",
    )
    .unwrap();
    // The built-in SQL rules run in the same loop after the SLOs (they have their own tests,
    // tests/e2e/rules.rs): off here, so the timing checked is the SLO evaluation's alone.
    let server = TestServer::builder()
        .config(&format!(
            "slo:\n  evaluation_interval: 1s\n  default_rules: false\n  files: [{}]\n  policy: [ {{ severity: page, long: 10m, short: 1m, burn_rate: 10 }} ]\n",
            slos.display()
        ))
        .start();

    // Start early in a minute, so the checks below see evaluations of the same minute.
    if now_s() % 60 > 35 {
        tokio::time::sleep(Duration::from_secs((61 - now_s() % 60) as u64)).await;
    }
    let m = now_s() / 60 * 60;

    // 1. Twenty clean minutes, 20 invocations each, backdated: ok, burn 0.
    for k in 1..=20 {
        send(&server, invocations(m - 60 * k, 20, 0, 0)).await;
    }
    let row = until(&server, Duration::from_secs(30), "clean history", |r| {
        f(r, "total") >= 400.0
    })
    .await;
    assert_eq!(row["state"], "ok", "{row:?}");
    assert_eq!(f(&row, "good"), 400.0);
    assert_eq!(f(&row, "b1m"), 0.0);
    assert_eq!(f(&row, "b10m"), 0.0);

    // 2. The last three minutes get 20 more invocations each, 10 of them failing: late data for
    //    minutes already rolled up. By hand, at the evaluation of minute m: 1m window = 10 bad of
    //    40 → 25 % → burn 25; 10m window (minutes m-10..=m-1) = 30 bad of 10 × 20 + 60 = 260 →
    //    burn 11.54. Both above 10: page.
    for k in 1..=3 {
        send(&server, invocations(m - 60 * k, 20, 10, 1)).await;
    }
    let row = until(
        &server,
        Duration::from_secs(10),
        "page fires at the next evaluation",
        |r| r["state"] == "firing",
    )
    .await;
    assert_eq!(
        row["at"].as_i64(),
        Some(m),
        "evaluated at the same minute: {row:?}"
    );
    assert_eq!(row["severity"], "page");
    assert!((f(&row, "b1m") - 25.0).abs() < 1e-6, "{row:?}");
    assert!((f(&row, "b10m") - 30.0 / 260.0 / 0.01).abs() < 1e-6, "{row:?}");
    assert_eq!(f(&row, "total"), 460.0);

    // The same on /metrics and /api/v1/slos/{name}.
    let metrics = server.metrics_text().await;
    assert!(
        metrics.lines().any(|l| l.starts_with("slod_slo_alert_firing{")
            && l.contains("slo=\"checkout-avail\"")
            && l.contains("windows=\"10m/1m\"")
            && l.ends_with(" 1")),
        "{metrics}"
    );
    let api: Value = server
        .client
        .get(server.api_url("/api/v1/slos/checkout-avail"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cond = &api["data"]["conditions"][0];
    assert_eq!(cond["state"], "firing");
    assert_eq!(cond["labels"]["alertname"], "SLOBurnRate");
    assert_eq!(cond["labels"]["faas_name"], "checkout");
    assert_eq!(cond["labels"]["long_window"], "10m");
    let missing = server
        .client
        .get(server.api_url("/api/v1/slos/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("known SLOs: checkout-avail")
    );

    // 3. Recovery: the current minute is clean. Once it is complete, the 1m window holds no
    //    failures (burn 0) and the page resolves, though the 10m window still burns above 10.
    send(&server, invocations(m, 20, 0, 2)).await;
    let row = until(
        &server,
        Duration::from_secs(90),
        "page resolves after recovery",
        |r| r["state"] != "firing",
    )
    .await;
    assert_eq!(row["at"].as_i64(), Some(m + 60), "{row:?}");
    assert_eq!(f(&row, "b1m"), 0.0);
    // 10m window, now minutes m-9..=m: 9 × 20 + 60 + 20 = 260 events, still 30 bad.
    assert!((f(&row, "b10m") - 30.0 / 260.0 / 0.01).abs() < 1e-6, "{row:?}");
    let history = server
        .sql("SELECT state FROM slo_history WHERE slo = 'checkout-avail' ORDER BY time, state")
        .await;
    let states: Vec<&str> = history.iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["firing", "resolved"]);
}

/// `slod backtest --from-store` over a real data directory: checkout runs 50 invocations a
/// minute for 60 minutes, then 10 minutes in which half fail. After the server stops (its
/// shutdown flushes to Parquet) the replay fires the 1h/5m page for checkout's instance at
/// exactly the minute the workbook formula says: at +62 min the last hour holds 50 bad of
/// 3000 (burn 16.7 ≥ 14.4, 5m window 50 of 250); at +61 it held 25 (8.3). An empty data
/// directory is refused with what to do.
#[tokio::test(flavor = "multi_thread")]
async fn backtest_from_store_replays_the_policy_per_instance() {
    let mut s = TestServer::start();
    let start = (now_s() / 60 - 100) * 60;
    for m in 0..70 {
        let bad = if m >= 60 { 25 } else { 0 };
        send(&s, invocations(start + m * 60, 50, bad, 7)).await;
    }
    s.stop();
    let dir = tempfile::tempdir().unwrap();
    let slo = dir.path().join("slo.yaml");
    std::fs::write(
        &slo,
        "slos:\n  - { name: avail, sli: availability, objective: 0.999, selector: { faas_name: check* } }\n",
    )
    .unwrap();
    let rfc = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let backtest = |data: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_slod"))
            .arg("backtest")
            .arg("--slo")
            .arg(&slo)
            .arg("--from-store")
            .arg("--data-dir")
            .arg(data)
            .args([
                "--from",
                &rfc(start),
                "--to",
                &rfc(start + 90 * 60),
                "--format",
                "json",
            ])
            .output()
            .unwrap()
    };
    let out = backtest(&s.data);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let periods: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let page = periods
        .iter()
        .find(|p| p["windows"] == "1h/5m")
        .unwrap_or_else(|| panic!("no 1h/5m page: {periods:#?}"));
    assert_eq!(page["severity"], "page");
    assert_eq!(page["labels"]["faas_name"], "checkout", "{page:#}");
    assert_eq!(page["fired_at"], rfc(start + 62 * 60), "{page:#}");
    // Nothing held before the errors began.
    for p in &periods {
        assert!(
            p["fired_at"].as_str().unwrap() >= rfc(start + 60 * 60).as_str(),
            "{p:#}"
        );
    }

    let empty = tempfile::tempdir().unwrap();
    let out = backtest(empty.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no flushed telemetry"), "{err}");
}
