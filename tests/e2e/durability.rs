//! Nothing acknowledged is lost: `kill -9` at random moments and at named failpoints, a torn
//! WAL tail, backpressure under tiny limits, and retention across a restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::bad_input::spans_request;
use crate::server::TestServer;

const SPANS: usize = 32;
const DAY_NS: u64 = 86_400 * 1_000_000_000;

/// Request `k` of service `svc`, tagged with resource attribute `test.request = k`.
fn tagged(svc: &str, k: u64, age_ns: u64) -> ExportTraceServiceRequest {
    let mut req = spans_request(svc, SPANS, 1000 + k);
    let rs = &mut req.resource_spans[0];
    rs.resource.as_mut().unwrap().attributes.push(KeyValue {
        key: "test.request".into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(k.to_string())),
        }),
        ..Default::default()
    });
    for s in &mut rs.scope_spans[0].spans {
        s.start_time_unix_nano -= age_ns;
        s.end_time_unix_nano -= age_ns;
    }
    req
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// 200: must be stored exactly once.
    Acked,
    /// The client never learned (connection reset, refused, error status): all or nothing.
    Unknown,
}

/// Sends tagged requests one after another until stopped, recording each outcome.
fn start_sender(
    server: &TestServer,
    next: Arc<Mutex<u64>>,
    log: Arc<Mutex<HashMap<u64, Outcome>>>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let url = server.otlp_http("/v1/traces");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let k = {
                let mut n = next.lock().unwrap();
                *n += 1;
                *n
            };
            let body = tagged("crash", k, 0).encode_to_vec();
            let r = client
                .post(&url)
                .header("content-type", "application/x-protobuf")
                .body(body)
                .send()
                .await;
            let outcome = match r {
                Ok(resp) if resp.status() == 200 => Outcome::Acked,
                _ => Outcome::Unknown,
            };
            log.lock().unwrap().insert(k, outcome);
            if outcome == Outcome::Unknown {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    })
}

fn crash_config() -> &'static str {
    // Tiny flushes and eager compaction so every failpoint is reached within seconds.
    "storage: { flush_max_size: 48KiB, flush_interval: 1s, compaction_min_files: 2, maintenance_interval: 500ms, retention: 30d }\n\
     limits: { max_buffered: 64MiB }"
}

/// Sends one acknowledged request whose spans are 40 days old.
async fn send_expired(server: &TestServer, next: &Mutex<u64>, expired: &mut Vec<u64>) {
    let k = {
        let mut n = next.lock().unwrap();
        *n += 1;
        *n
    };
    let body = tagged("crash", k, 40 * DAY_NS).encode_to_vec();
    // Like an exporter: retry while the daemon says "later".
    for _ in 0..120 {
        let resp = server.post_protobuf("/v1/traces", body.clone()).await;
        if resp.status() == 200 {
            expired.push(k);
            return;
        }
        assert_eq!(resp.status(), 429, "only backpressure may refuse it");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the expired request was never accepted");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_random_moments_and_failpoints_loses_no_acknowledged_span() {
    let mut server = TestServer::builder().config(crash_config()).start();
    let next = Arc::new(Mutex::new(0u64));
    let log = Arc::new(Mutex::new(HashMap::new()));
    let mut rng = StdRng::seed_from_u64(20261124);

    let mut expired = Vec::new();
    // Five kills at seeded random moments while the client sends continuously.
    for round in 0..5 {
        let stop = Arc::new(AtomicBool::new(false));
        let sender = start_sender(&server, next.clone(), log.clone(), stop.clone());
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1500))).await;
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        sender.await.unwrap();
        server.spawn(); // panics unless it starts cleanly
        assert!(server.log().matches("slod is ready").count() >= round + 2);
    }

    // Named failpoints: the daemon aborts there by itself; it must restart cleanly.
    for fp in [
        "flush-after-parquet",
        "flush-before-wal-delete",
        "compaction-mid",
        "compaction-before-delete",
        "retention-mid",
    ] {
        server.kill9();
        server.env = vec![("SLOD_FAILPOINTS".into(), fp.into())];
        server.spawn();
        if fp == "retention-mid" {
            // Retention needs something expired in a committed file: a 40-day-old request.
            send_expired(&server, &next, &mut expired).await;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let sender = start_sender(&server, next.clone(), log.clone(), stop.clone());
        let exited = tokio::task::spawn_blocking({
            let pid = server.pid();
            move || {
                let started = Instant::now();
                while std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
                    && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .unwrap_or_default()
                        .contains(") Z")
                {
                    if started.elapsed() > Duration::from_secs(60) {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                true
            }
        })
        .await
        .unwrap();
        stop.store(true, Ordering::Relaxed);
        sender.await.unwrap();
        assert!(exited, "failpoint {fp} was never reached; log:\n{}", server.log());
        let status = server.wait_exit(Duration::from_secs(5)).expect("exited");
        assert!(!status.success(), "{fp}: the process aborted");
        assert!(
            server.log().contains(&format!("failpoint {fp} reached")),
            "{fp}: aborted at the failpoint"
        );
        server.env.clear();
        server.spawn();
    }

    // Every acknowledged request is there exactly once; every unknown one whole or not at all.
    tokio::time::sleep(Duration::from_millis(1500)).await; // a retention pass after the restart
    let rows = server
        .sql(
            "SELECT resource_attributes['test.request'] AS k, count(*) AS n, count(DISTINCT span_id) AS d
             FROM spans WHERE service_name = 'crash' GROUP BY 1",
        )
        .await;
    let stored: HashMap<u64, (i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["k"].as_str().unwrap().parse().unwrap(),
                (r["n"].as_i64().unwrap(), r["d"].as_i64().unwrap()),
            )
        })
        .collect();
    let log = log.lock().unwrap();
    let acked = log.values().filter(|o| **o == Outcome::Acked).count();
    assert!(
        acked >= 20,
        "the client got {acked} acknowledgements: too few to prove anything"
    );
    for (k, outcome) in log.iter() {
        let (n, d) = stored.get(k).copied().unwrap_or((0, 0));
        assert_eq!(n, d, "request {k}: a span stored twice");
        match outcome {
            Outcome::Acked => assert_eq!(
                n, SPANS as i64,
                "acknowledged request {k} must be stored exactly once"
            ),
            Outcome::Unknown => assert!(
                n == 0 || n == SPANS as i64,
                "request {k} stored partially: {n} spans"
            ),
        }
    }
    for k in &expired {
        assert!(
            !stored.contains_key(k),
            "the 40-day-old request {k} is past retention"
        );
    }
    for k in stored.keys() {
        assert!(log.contains_key(k), "request {k} stored but never sent");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_wal_tail_replays_the_good_prefix_and_is_reported() {
    let mut server = TestServer::builder()
        .config("storage: { flush_interval: 1h, flush_max_size: 16MiB }\nlimits: { max_buffered: 64MiB }")
        .start();
    for k in 1..=10 {
        let resp = server
            .post_protobuf("/v1/traces", tagged("torn", k, 0).encode_to_vec())
            .await;
        assert_eq!(resp.status(), 200);
    }
    server.kill9();
    let wal = server.data.join("wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    let last = segments
        .iter()
        .rev()
        .find(|p| std::fs::metadata(p).unwrap().len() > 16)
        .unwrap()
        .clone();
    let len = std::fs::metadata(&last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    server.spawn();
    assert_eq!(
        server
            .count("SELECT count(*) FROM spans WHERE service_name = 'torn'")
            .await,
        9 * SPANS as i64,
        "the nine intact records replay; the cut one is gone whole"
    );
    assert!(
        server.log().contains("torn tail"),
        "the torn tail is reported in the log"
    );
    assert!(
        server
            .metrics_text()
            .await
            .contains("slod_wal_torn_tails_total 1"),
        "and in /metrics"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn over_the_buffer_limit_ingest_answers_retry_later_and_loses_nothing() {
    // A 2 MiB buffer, 512 KiB flushes that take 2 s each: ingest outruns the flusher.
    let server = TestServer::builder()
        .config("storage: { flush_max_size: 512KiB, flush_interval: 1h }\nlimits: { max_buffered: 2MiB }")
        .env("SLOD_FAILPOINTS", "flush-after-parquet=sleep:2000")
        .start();
    let url = server.otlp_http("/v1/traces");
    let mut tasks = Vec::new();
    for t in 0..3u64 {
        let (client, url) = (server.client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = 0u64;
            let mut refused = Vec::new();
            for i in 0..6u64 {
                let body = spans_request("bp", 200, t * 100 + i).encode_to_vec();
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let r = client
                        .post(&url)
                        .header("content-type", "application/x-protobuf")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    if r.status() == 200 {
                        acked += 200;
                        break;
                    }
                    assert_eq!(r.status(), 429, "backpressure is 429");
                    let after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                    refused.push(after);
                    assert!(Instant::now() < deadline, "never accepted");
                    tokio::time::sleep(Duration::from_secs(after)).await;
                }
            }
            (acked, refused)
        }));
    }
    // Meanwhile over gRPC: UNAVAILABLE with RetryInfo while the buffer is full.
    let mut grpc_client =
        opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient::connect(
            server.grpc_url(),
        )
        .await
        .unwrap();
    let mut saw_unavailable = false;
    let mut grpc_acked = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while grpc_acked < 3 {
        assert!(Instant::now() < deadline, "gRPC export never accepted");
        match grpc_client
            .export(spans_request("bp", 200, 9000 + grpc_acked))
            .await
        {
            Ok(_) => grpc_acked += 1,
            Err(s) => {
                assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
                assert!(
                    s.metadata().get_bin("google.rpc.retryinfo-bin").is_some(),
                    "RetryInfo for Python clients"
                );
                assert!(
                    String::from_utf8_lossy(s.details()).contains("google.rpc.RetryInfo"),
                    "RetryInfo in grpc-status-details-bin"
                );
                saw_unavailable = true;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let mut acked = grpc_acked * 200;
    let mut refusals = 0;
    for t in tasks {
        let (a, r) = t.await.unwrap();
        acked += a;
        refusals += r.len();
        assert!(r.iter().all(|s| *s >= 1), "Retry-After is at least one second");
    }
    assert!(refusals > 0, "the tiny buffer must have refused some requests");
    assert!(saw_unavailable || refusals > 0);
    assert_eq!(
        server
            .count("SELECT count(*) FROM spans WHERE service_name = 'bp'")
            .await as u64,
        acked,
        "no loss"
    );
    assert!(server.metrics_text().await.contains(r#"reason="backpressure""#));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_with_retention_drops_only_expired_partitions() {
    let mut server = TestServer::builder()
        .config("storage: { retention: null }")
        .start();
    for (k, age_days) in [(1, 40), (2, 10), (3, 0)] {
        let resp = server
            .post_protobuf("/v1/traces", tagged("ret", k, age_days * DAY_NS).encode_to_vec())
            .await;
        assert_eq!(resp.status(), 200);
    }
    assert!(server.stop().success(), "graceful stop flushes and exits 0");
    let partitions = |root: &std::path::Path| -> Vec<String> {
        let mut out = Vec::new();
        for d in std::fs::read_dir(root.join("spans"))
            .into_iter()
            .flatten()
            .flatten()
        {
            out.push(d.file_name().to_string_lossy().into_owned());
        }
        out.sort();
        out
    };
    assert_eq!(
        partitions(&server.data).len(),
        3,
        "three day partitions written: {:?}",
        partitions(&server.data)
    );

    std::fs::write(
        &server.config_path,
        "storage: { retention: 30d, maintenance_interval: 200ms }\n",
    )
    .unwrap();
    server.spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let old = server
            .count("SELECT count(*) FROM spans WHERE resource_attributes['test.request'] = '1'")
            .await;
        if old == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the 40-day-old partition was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for k in ["2", "3"] {
        let n = server
            .count(&format!(
                "SELECT count(*) FROM spans WHERE resource_attributes['test.request'] = '{k}'"
            ))
            .await;
        assert_eq!(n, SPANS as i64, "request {k} is within retention");
    }
    assert!(server.stop().success());
    assert_eq!(
        partitions(&server.data).len(),
        2,
        "the expired partition's files are deleted: {:?}",
        partitions(&server.data)
    );
}
