//! Alerting end to end: the real `slod` evaluates SLOs and SQL rules over spans it receives on
//! OTLP/HTTP and notifies a real HTTP webhook receiver (an axum server in this process, one
//! path per behaviour: `/ok`, `/flaky` (503, 503, then 200), `/bad` (400), `/stall` (hangs
//! while told to)) and a real Alertmanager 0.25 (Debian's `prometheus-alertmanager`, installed
//! by `scripts/setup-alertmanager.sh`, run on loopback without clustering).

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::{Value, json};

use crate::server::{TestServer, free_port};
use crate::spans::invocations;

const SECRET: &str = "e2e-hook-secret";

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    /// The status it answered; `None` while it hangs (or when the caller went away first).
    answered: Option<u16>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn key(&self) -> String {
        self.headers.get("idempotency-key").cloned().unwrap_or_default()
    }
}

#[derive(Default)]
struct HookState {
    seen: Mutex<Vec<Received>>,
    flaky: AtomicUsize,
    stall: AtomicBool,
}

/// The webhook receiver.
#[derive(Clone)]
struct Hook {
    port: u16,
    state: Arc<HookState>,
}

async fn receive(
    State(state): State<Arc<HookState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let index = {
        let mut seen = state.seen.lock().unwrap();
        seen.push(Received {
            path: path.clone(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: body.to_vec(),
            answered: None,
        });
        seen.len() - 1
    };
    let status = match path.as_str() {
        "flaky" if state.flaky.fetch_add(1, Ordering::SeqCst) < 2 => StatusCode::SERVICE_UNAVAILABLE,
        "bad" => StatusCode::BAD_REQUEST,
        "stall" if state.stall.load(Ordering::SeqCst) => {
            while state.stall.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // The caller of a stalled request is gone (killed): not recorded as answered.
            return StatusCode::OK;
        }
        _ => StatusCode::OK,
    };
    state.seen.lock().unwrap()[index].answered = Some(status.as_u16());
    status
}

impl Hook {
    async fn start() -> Hook {
        let state = Arc::new(HookState::default());
        let app = axum::Router::new()
            .route("/{path}", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Hook { port, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn seen(&self, path: &str) -> Vec<Received> {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `pred` holds for the requests at `path`.
    async fn until(
        &self,
        path: &str,
        limit: Duration,
        what: &str,
        server: &TestServer,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let seen = self.seen(path);
            if pred(&seen) {
                return seen;
            }
            assert!(
                started.elapsed() < limit,
                "{what}: /{path} saw {:#?}\nslod log:\n{}",
                seen.iter()
                    .map(|r| (r.answered, String::from_utf8_lossy(&r.body).to_string()))
                    .collect::<Vec<_>>(),
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn send(server: &TestServer, req: ExportTraceServiceRequest) {
    let resp = server.post_protobuf("/v1/traces", req.encode_to_vec()).await;
    assert!(resp.status().is_success(), "{}", resp.status());
}

/// A rule that fires per function while it has failed invocations in the last `window`
/// seconds: alerts on demand, without waiting for minute windows.
fn errors_rule(dir: &std::path::Path, window: u64) -> std::path::PathBuf {
    let path = dir.join("rules.yaml");
    std::fs::write(
        &path,
        format!(
            "rules:\n  - name: FunctionErrors\n    sql: |\n      SELECT faas_name, service_name AS service, CAST(count(*) AS DOUBLE) AS value\n      FROM invocations WHERE is_error AND end_time >= now() - INTERVAL '{window} seconds'\n      GROUP BY faas_name, service_name\n    condition: value > 0\n    severity: page\n    annotations: {{ summary: \"{{{{ $labels.faas_name }}}} fails\" }}\n"
        ),
    )
    .unwrap();
    path
}

fn verify_signature(r: &Received) {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&r.body);
    let want = format!("sha256={}", hex(&mac.finalize().into_bytes()));
    assert_eq!(r.headers.get("x-slod-signature"), Some(&want), "{:?}", r.headers);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A real Alertmanager on loopback.
struct Alertmanager {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// `receiver_url`: where it sends its webhooks; `external_url`: its `externalURL`.
    async fn start(receiver_url: &str, external_url: &str) -> Alertmanager {
        let bin = std::env::var("SLOD_TEST_ALERTMANAGER")
            .unwrap_or_else(|_| "/usr/bin/prometheus-alertmanager".into());
        assert!(
            std::path::Path::new(&bin).exists(),
            "Alertmanager not found at {bin}: run ./scripts/setup-alertmanager.sh (./scripts/test.sh does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: hook\n  group_by: [alertname, slo, service, workflow]\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {receiver_url}\n        send_resolved: true\n"
            ),
        )
        .unwrap();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .arg(format!("--web.external-url={external_url}"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("am.log")).unwrap())
                .spawn()
                .unwrap();
            let mut am = Alertmanager {
                child,
                port,
                _dir: tempfile::tempdir().unwrap(),
            };
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if let Ok(r) = reqwest::get(am.url("/-/ready")).await
                    && r.status().is_success()
                {
                    am._dir = dir;
                    return am;
                }
                if am.child.try_wait().unwrap().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = am.child.kill();
        }
        panic!(
            "Alertmanager did not start: {}",
            std::fs::read_to_string(dir.path().join("am.log")).unwrap_or_default()
        );
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn post(&self, alerts: &Value) {
        let r = reqwest::Client::new()
            .post(self.url("/api/v2/alerts"))
            .json(alerts)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }

    async fn alerts(&self) -> Vec<Value> {
        reqwest::get(self.url("/api/v2/alerts"))
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The alerts of a webhook message as Alertmanager's `PostableAlert`s, `endsAt` as given.
fn postable(message: &Value, ends_at: impl Fn(&Value) -> String) -> Value {
    Value::Array(
        message["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                json!({
                    "labels": a["labels"],
                    "annotations": a["annotations"],
                    "startsAt": a["startsAt"],
                    "endsAt": ends_at(a),
                    "generatorURL": a["generatorURL"],
                })
            })
            .collect(),
    )
}

/// The first webhook message the real Alertmanager sent with `status` and `alerts` alerts.
///
/// Alertmanager's dispatcher takes a posted batch alert by alert: on a loaded machine a group's
/// timer can flush before the whole batch arrived, and the next flush carries all of it. What is
/// compared is the message's shape, not Alertmanager's ingest timing.
async fn alertmanagers_message(hook: &Hook, server: &TestServer, status: &str, alerts: usize) -> Value {
    let complete = |r: &Received| {
        let m = r.json();
        m["status"] == status && m["alerts"].as_array().map_or(0, Vec::len) == alerts
    };
    let seen = hook
        .until(
            "am",
            Duration::from_secs(30),
            &format!("Alertmanager's {status} message with {alerts} alerts"),
            server,
            |s| s.iter().any(complete),
        )
        .await;
    seen.into_iter().find(complete).unwrap().json()
}

/// Asserts two webhook messages are equal (alerts in fingerprint order), naming every field
/// that differs.
fn assert_same_message(ours: &Value, theirs: &Value) {
    let (ours, theirs) = (sorted(ours.clone()), sorted(theirs.clone()));
    let mut diffs = Vec::new();
    json_diff("", &ours, &theirs, &mut diffs);
    assert!(
        diffs.is_empty(),
        "slod's message differs from Alertmanager's:\n{}\nslod:\n{ours:#}",
        diffs.join("\n")
    );
}

/// Every path where `a` and `b` differ, with both values.
fn json_diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (va, vb) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                json_diff(&format!("{path}.{k}"), va, vb, out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                json_diff(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        _ if a != b => out.push(format!("  {path}: slod {a} / Alertmanager {b}")),
        _ => {}
    }
}

/// A message with its alerts in fingerprint order (Alertmanager sorts by labels).
fn sorted(mut m: Value) -> Value {
    if let Some(alerts) = m["alerts"].as_array_mut() {
        alerts.sort_by_key(|a| a["fingerprint"].as_str().unwrap_or("").to_string());
    }
    m
}

fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap();
    chrono::DateTime::from_timestamp(d.as_secs() as i64, d.subsec_nanos())
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A burst across 20 functions of one service: one grouped page, shaped field by field like the
/// one the real Alertmanager sends for the same alerts, HMAC-signed; after recovery one
/// resolved notification, again like Alertmanager's.
#[tokio::test(flavor = "multi_thread")]
async fn alerting_a_burst_across_twenty_functions_is_one_page_like_alertmanagers() {
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let slos = dir.path().join("slos.yaml");
    std::fs::write(
        &slos,
        "slos:\n  - { name: orders-avail, sli: availability, objective: 0.99, selector: { service_name: orders } }\n",
    )
    .unwrap();
    let external = "http://slod.e2e:8080";
    let server = TestServer::builder()
        .config(&format!(
            "slo:\n  evaluation_interval: 1s\n  default_rules: false\n  hold_down: 1s\n  files: [{}]\n  policy: [ {{ severity: page, long: 10m, short: 1m, burn_rate: 10 }} ]\n\
             alerting:\n  external_url: {external}\n  dashboard_url: 'https://grafana.e2e/d/slod?var-slo={{slo}}&var-function={{faas_name}}'\n  route: {{ receiver: hook, group_wait: 2s, group_interval: 3s, repeat_interval: 1h }}\n  receivers:\n    - name: hook\n      webhook_configs: [ {{ url: '{}', hmac_secret_env: SLOD_E2E_SECRET }} ]\n",
            slos.display(),
            hook.url("ok"),
        ))
        .env("SLOD_E2E_SECRET", SECRET)
        .start();
    let functions: Vec<String> = (0..20).map(|i| format!("orders-fn-{i:02}")).collect();
    if now_s() % 60 > 30 {
        tokio::time::sleep(Duration::from_secs(61 - now_s() % 60)).await;
    }
    let m = now_s() / 60 * 60;
    // Ten clean minutes, then the last three minutes half failing, for all 20 functions.
    for k in 1..=10 {
        send(&server, invocations("orders", &functions, m - 60 * k, 20, 0, 0)).await;
    }
    for k in 1..=3 {
        send(&server, invocations("orders", &functions, m - 60 * k, 20, 10, 1)).await;
    }
    let seen = hook
        .until("ok", Duration::from_secs(60), "the page", &server, |s| {
            !s.is_empty()
        })
        .await;
    // Two more group intervals: still one notification (not 20, not a repeat).
    tokio::time::sleep(Duration::from_secs(7)).await;
    let seen_after = hook.seen("ok");
    assert_eq!(seen_after.len(), 1, "{seen_after:#?}");
    let page = &seen[0];
    verify_signature(page);
    assert_eq!(page.headers["content-type"], "application/json");
    assert_eq!(page.key().len(), 26, "a ULID Idempotency-Key: {:?}", page.headers);
    let ours = page.json();
    assert_eq!(ours["status"], "firing");
    assert_eq!(ours["alerts"].as_array().unwrap().len(), 20, "{ours:#}");
    assert_eq!(ours["groupLabels"].as_object().unwrap().len(), 3, "{ours:#}");
    assert_eq!(ours["groupLabels"]["alertname"], "SLOBurnRate");
    assert_eq!(ours["groupLabels"]["service"], "orders");
    assert_eq!(ours["groupLabels"]["slo"], "orders-avail");
    assert_eq!(ours["commonLabels"]["severity"], "page");
    // Content to act on: what burns and how fast, where to look, the query to drill in.
    for a in ours["alerts"].as_array().unwrap() {
        let f = a["labels"]["faas_name"].as_str().unwrap();
        let text = |k: &str| a["annotations"][k].as_str().unwrap_or("").to_string();
        assert!(text("summary").contains(f), "{a:#}");
        assert!(
            text("description").contains("burn rate") && text("description").contains("error budget left"),
            "{a:#}"
        );
        assert!(text("query").contains("orders-avail"), "{a:#}");
        assert_eq!(
            text("dashboard"),
            format!("https://grafana.e2e/d/slod?var-slo=orders-avail&var-function={f}")
        );
        assert_eq!(a["generatorURL"], format!("{external}/api/v1/slos/orders-avail"));
    }

    // The same alerts through the real Alertmanager, configured as slod (same receiver name,
    // grouping and external URL): its webhook must be the same message.
    let am = Alertmanager::start(&hook.url("am"), external).await;
    let ahead = rfc3339(SystemTime::now() + Duration::from_secs(240));
    am.post(&postable(&ours, |_| ahead.clone())).await;
    let theirs = alertmanagers_message(&hook, &server, "firing", 20).await;
    assert_same_message(&ours, &theirs);

    // Recovery: the current minute is clean for every function; once it completes the 1m
    // window is clean and the page resolves: one resolved notification for all 20.
    send(&server, invocations("orders", &functions, m, 20, 0, 2)).await;
    let seen = hook
        .until("ok", Duration::from_secs(150), "the resolution", &server, |s| {
            s.len() >= 2
        })
        .await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(hook.seen("ok").len(), 2);
    let resolved = &seen[1];
    verify_signature(resolved);
    assert_ne!(resolved.key(), page.key());
    let ours = resolved.json();
    assert_eq!(ours["status"], "resolved", "{ours:#}");
    assert_eq!(ours["alerts"].as_array().unwrap().len(), 20);
    // Alertmanager, told the same resolutions, says the same.
    am.post(&postable(&ours, |a| a["endsAt"].as_str().unwrap().to_string()))
        .await;
    let theirs = alertmanagers_message(&hook, &server, "resolved", 20).await;
    assert_same_message(&ours, &theirs);
}

/// slod configured with the `FunctionErrors` rule (window `window` s) and `receivers` (YAML
/// list items), routed per function by `routes` (YAML list items, may be empty).
fn rule_server(dir: &std::path::Path, window: u64, routes: &str, receivers: &str) -> TestServer {
    let rules = errors_rule(dir, window);
    TestServer::builder()
        .config(&format!(
            "slo:\n  evaluation_interval: 1s\n  default_templates: false\n  default_rules: false\n  hold_down: 1s\n  rules: [{}]\n\
             alerting:\n  route:\n    receiver: default\n    group_by: [alertname, faas_name]\n    group_wait: 1s\n    group_interval: 2s\n    repeat_interval: 1h\n    routes: [{routes}]\n  receivers:\n    - name: default\n{receivers}\n",
            rules.display(),
        ))
        .env("SLOD_E2E_SECRET", SECRET)
        .start()
}

async fn fail_now(server: &TestServer, functions: &[&str], salt: u64) {
    let functions: Vec<String> = functions.iter().map(|f| f.to_string()).collect();
    send(server, invocations("orders", &functions, now_s(), 3, 3, salt)).await;
}

async fn get_json(server: &TestServer, path: &str) -> Value {
    server
        .client
        .get(server.api_url(path))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()
}

fn slod_cli(server: &TestServer, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slod"))
        .args(args)
        .arg("--url")
        .arg(server.api_url(""))
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A receiver answering 503 twice then 200 gets the notification (same Idempotency-Key every
/// attempt); one answering 400 is called once, never retried, and the failure shows in
/// `slod_alerting_notifications_failed_total` and in `slod alerts`.
#[tokio::test(flavor = "multi_thread")]
async fn alerting_retries_5xx_with_one_key_and_never_retries_a_400() {
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = rule_server(
        dir.path(),
        600,
        "{ matchers: ['faas_name=\"flaky-fn\"'], receiver: flaky }, { matchers: ['faas_name=\"bad-fn\"'], receiver: bad }",
        &format!(
            "    - {{ name: flaky, webhook_configs: [ {{ url: '{}' }} ] }}\n    - {{ name: bad, webhook_configs: [ {{ url: '{}' }} ] }}",
            hook.url("flaky"),
            hook.url("bad")
        ),
    );
    fail_now(&server, &["flaky-fn", "bad-fn"], 1).await;
    let flaky = hook
        .until(
            "flaky",
            Duration::from_secs(60),
            "delivery after two 503s",
            &server,
            |s| s.iter().any(|r| r.answered == Some(200)),
        )
        .await;
    assert_eq!(
        flaky.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [Some(503), Some(503), Some(200)]
    );
    let keys: BTreeSet<String> = flaky.iter().map(Received::key).collect();
    assert_eq!(keys.len(), 1, "one Idempotency-Key across retries: {keys:?}");
    hook.until(
        "bad",
        Duration::from_secs(30),
        "the refused notification",
        &server,
        |s| !s.is_empty(),
    )
    .await;
    // Well past the backoff of a retry (1 s, 2 s, ...): still one call.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(hook.seen("bad").len(), 1, "a 400 is not retried");
    assert_eq!(hook.seen("flaky").len(), 3, "nothing after the 200");
    let metrics = server.metrics_text().await;
    for want in [
        "slod_alerting_notifications_failed_total{receiver=\"bad\",reason=\"status_400\"} 1",
        "slod_alerting_notifications_total{receiver=\"flaky\"} 1",
        "slod_alerting_notification_requests_failed_total{receiver=\"flaky\",reason=\"status_503\"} 2",
    ] {
        assert!(metrics.lines().any(|l| l == want), "missing {want}:\n{metrics}");
    }
    let (ok, out) = slod_cli(&server, &["alerts"]);
    assert!(ok, "{out}");
    let failed = out
        .lines()
        .find(|l| l.contains(" bad ") && l.contains("failed"))
        .unwrap_or_else(|| panic!("no failed notification for bad in:\n{out}"));
    assert!(failed.contains("status_400"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains(" flaky ") && l.contains("delivered") && l.contains(" 3 ")),
        "{out}"
    );
    assert!(out.contains("FunctionErrors"), "{out}");
}

/// A silence added with `slod silence add` mutes its function's alert (listed as suppressed
/// with the silence's id) while another function's goes out; when the silence expires the
/// muted alert is notified. The silences API refuses bad input with 400 and unknown ids
/// with 404; silences survive a restart.
#[tokio::test(flavor = "multi_thread")]
async fn alerting_a_silence_mutes_until_it_expires() {
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = rule_server(
        dir.path(),
        600,
        "",
        &format!("      webhook_configs: [ {{ url: '{}' }} ]", hook.url("ok")),
    );
    // Bad input, before anything else.
    for (body, status, want) in [
        ("not json", 400, "a silence is JSON like"),
        (
            "{\"matchers\": [], \"endsAt\": \"2099-01-01T00:00:00Z\", \"createdBy\": \"a\", \"comment\": \"b\"}",
            400,
            "at least one matcher",
        ),
        (
            "{\"matchers\": [{\"name\": \"faas_name\", \"value\": \"x\", \"isRegex\": false}], \"endsAt\": \"2001-01-01T00:00:00Z\", \"createdBy\": \"a\", \"comment\": \"b\"}",
            400,
            "in the past",
        ),
        (
            "{\"matchers\": [{\"name\": \"faas_name\", \"value\": \"(\", \"isRegex\": true}], \"endsAt\": \"2099-01-01T00:00:00Z\", \"createdBy\": \"a\", \"comment\": \"b\"}",
            400,
            "regex",
        ),
        (
            "{\"matchers\": [{\"name\": \"faas_name\", \"value\": \"\", \"isRegex\": false}], \"endsAt\": \"2099-01-01T00:00:00Z\", \"createdBy\": \"a\", \"comment\": \"b\"}",
            400,
            "match every alert",
        ),
    ] {
        let r = server
            .client
            .post(server.api_url("/api/v1/silences"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].as_str().unwrap().contains(want), "{body}: {v}");
    }
    let r = server
        .client
        .delete(server.api_url("/api/v1/silences/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (ok, out) = slod_cli(&server, &["silence", "add", "faas_name", "-c", "x"]);
    assert!(!ok && out.contains("matcher"), "{out}");

    let (ok, id) = slod_cli(
        &server,
        &[
            "silence",
            "add",
            "faas_name=\"quiet-fn\"",
            "--duration",
            "20s",
            "--comment",
            "deploying quiet-fn",
            "--author",
            "e2e",
        ],
    );
    assert!(ok, "{id}");
    let id = id.trim().to_string();
    let added = Instant::now();
    // A second silence, expired at once by `slod silence rm`.
    let (ok, other) = slod_cli(
        &server,
        &[
            "silence",
            "add",
            "cloud_region=~\"us-.*\"",
            "-c",
            "provider outage",
        ],
    );
    assert!(ok, "{other}");
    let (ok, out) = slod_cli(&server, &["silence", "rm", other.trim()]);
    assert!(ok, "{out}");
    let (ok, out) = slod_cli(&server, &["silence", "ls"]);
    assert!(
        ok && out.contains(&id) && out.contains("deploying quiet-fn") && !out.contains(other.trim()),
        "{out}"
    );
    // Persisted: a restart keeps the silence.
    server.stop();
    server.spawn();
    let (ok, out) = slod_cli(&server, &["silence", "ls", "--all"]);
    assert!(ok && out.contains(&id) && out.contains(other.trim()), "{out}");

    fail_now(&server, &["quiet-fn", "loud-fn"], 1).await;
    let seen = hook
        .until(
            "ok",
            Duration::from_secs(60),
            "loud-fn's notification",
            &server,
            |s| !s.is_empty(),
        )
        .await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].json()["groupLabels"]["faas_name"], "loud-fn");
    // The API lists quiet-fn's alert as suppressed by the silence.
    let alerts = get_json(&server, "/api/v1/alerts").await;
    let quiet = alerts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["faas_name"] == "quiet-fn")
        .unwrap_or_else(|| panic!("{alerts:#}"))
        .clone();
    assert_eq!(quiet["status"]["state"], "suppressed", "{quiet:#}");
    assert_eq!(quiet["status"]["silencedBy"], json!([id]));
    // Nothing for quiet-fn while the silence holds; after it ends, its notification.
    let seen = hook
        .until(
            "ok",
            Duration::from_secs(60),
            "quiet-fn after the silence",
            &server,
            |s| s.len() >= 2,
        )
        .await;
    assert!(
        added.elapsed() >= Duration::from_secs(19),
        "notified {:?} after the silence was added",
        added.elapsed()
    );
    assert_eq!(seen[1].json()["groupLabels"]["faas_name"], "quiet-fn");
}

/// `kill -9` while the receiver stalls on a notification: after the restart it is sent again
/// with the same Idempotency-Key and delivered. `kill -9` after a delivery: nothing is sent
/// twice, and a later change is notified. No key is accepted (answered 2xx) twice.
#[tokio::test(flavor = "multi_thread")]
async fn alerting_kill_9_loses_no_notification_and_repeats_none() {
    let hook = Hook::start().await;
    hook.state.stall.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let mut server = rule_server(
        dir.path(),
        600,
        "",
        &format!(
            "      webhook_configs: [ {{ url: '{}', timeout: 120s, hmac_secret_env: SLOD_E2E_SECRET }} ]",
            hook.url("stall")
        ),
    );
    fail_now(&server, &["fn-a"], 1).await;
    let stalled = hook
        .until(
            "stall",
            Duration::from_secs(60),
            "the stalled notification",
            &server,
            |s| !s.is_empty(),
        )
        .await;
    let first_key = stalled[0].key();
    server.kill9();
    hook.state.stall.store(false, Ordering::SeqCst);
    server.spawn();
    let seen = hook
        .until(
            "stall",
            Duration::from_secs(60),
            "the notification sent again",
            &server,
            |s| s.iter().any(|r| r.answered == Some(200)),
        )
        .await;
    let delivered: Vec<&Received> = seen.iter().filter(|r| r.answered == Some(200)).collect();
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        delivered[0].key(),
        first_key,
        "the same Idempotency-Key after the restart"
    );
    assert_eq!(delivered[0].body, stalled[0].body, "the same notification");
    verify_signature(delivered[0]);

    // Crash after the delivery is journaled (a crash between the receiver's 2xx and that
    // record would re-send it, with the same key: the one allowed repeat): fn-a is still
    // failing, but it was notified: nothing again.
    let started = Instant::now();
    loop {
        let n = get_json(&server, "/api/v1/notifications").await;
        if n["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == first_key && n["status"] == "delivered")
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never journaled as delivered: {n:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill9();
    server.spawn();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        hook.seen("stall")
            .iter()
            .filter(|r| r.answered == Some(200))
            .count(),
        1,
        "{:#?}",
        hook.seen("stall")
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).to_string())
            .collect::<Vec<_>>()
    );
    // A change of the group is notified: fn-b fails too.
    fail_now(&server, &["fn-b"], 2).await;
    let seen = hook
        .until(
            "stall",
            Duration::from_secs(60),
            "fn-b's notification",
            &server,
            |s| s.iter().filter(|r| r.answered == Some(200)).count() >= 2,
        )
        .await;
    let last = seen.iter().rfind(|r| r.answered == Some(200)).unwrap().json();
    let names: BTreeSet<&str> = last["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["faas_name"].as_str().unwrap())
        .collect();
    assert!(names.contains("fn-b"), "{last:#}");
    let accepted: Vec<String> = seen
        .iter()
        .filter(|r| r.answered == Some(200))
        .map(Received::key)
        .collect();
    let unique: BTreeSet<&String> = accepted.iter().collect();
    assert_eq!(unique.len(), accepted.len(), "a key accepted twice: {accepted:?}");
}

/// An `alertmanager` receiver pushes the alert to a real Alertmanager (read back from its
/// `/api/v2/alerts` with `endsAt` ahead), and its resolution when the rule stops holding.
#[tokio::test(flavor = "multi_thread")]
async fn alerting_pushes_to_a_real_alertmanager_and_resolves_there() {
    let hook = Hook::start().await;
    let am = Alertmanager::start(&hook.url("am"), "http://am.e2e").await;
    let dir = tempfile::tempdir().unwrap();
    let server = rule_server(
        dir.path(),
        15,
        "",
        &format!("      alertmanager_configs: [ {{ url: '{}' }} ]", am.url("")),
    );
    fail_now(&server, &["pushed-fn"], 1).await;
    let started = Instant::now();
    let alert = loop {
        if let Some(a) = am
            .alerts()
            .await
            .into_iter()
            .find(|a| a["labels"]["faas_name"] == "pushed-fn")
        {
            break a;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never pushed:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(alert["labels"]["alertname"], "FunctionErrors");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["status"]["state"], "active");
    assert_eq!(alert["annotations"]["summary"], "pushed-fn fails");
    let ends = chrono::DateTime::parse_from_rfc3339(alert["endsAt"].as_str().unwrap()).unwrap();
    let ahead = ends.timestamp() - now_s() as i64;
    assert!((120..=300).contains(&ahead), "endsAt {ahead}s ahead");
    // Alertmanager notified its own webhook receiver (it groups by itself).
    hook.until(
        "am",
        Duration::from_secs(30),
        "Alertmanager's notification",
        &server,
        |s| !s.is_empty(),
    )
    .await;
    // The failures leave the rule's 15 s window: slod pushes the resolution, Alertmanager
    // drops the alert and sends its resolved notification.
    let started = Instant::now();
    while am
        .alerts()
        .await
        .iter()
        .any(|a| a["labels"]["faas_name"] == "pushed-fn")
    {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "never resolved:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let seen = hook
        .until(
            "am",
            Duration::from_secs(30),
            "Alertmanager's resolution",
            &server,
            |s| s.iter().any(|r| r.json()["status"] == "resolved"),
        )
        .await;
    assert!(seen.iter().any(|r| r.json()["status"] == "resolved"));
}

/// A workflow incident (loadgen's `workflow_failures`, executions failing in several step
/// attempts) through the built-in `WorkflowExecutionFailed` rule: one alert per failed
/// execution, never one per step, grouped per workflow.
#[tokio::test(flavor = "multi_thread")]
async fn alerting_a_failed_workflow_execution_is_one_alert_whatever_its_failed_steps() {
    let hook = Hook::start().await;
    let server = TestServer::builder()
        .config(crate::rules::CONFIG)
        .config(&format!(
            "alerting:\n  route: {{ receiver: hook, group_wait: 1s, group_interval: 2s }}\n  receivers: [ {{ name: hook, webhook_configs: [ {{ url: '{}' }} ] }} ]\n",
            hook.url("ok")
        ))
        .start();
    let (server, _) = crate::rules::backfill_with(server, "workflow_failures", 16, 6, 100).await;
    let is_execution = |r: &Received| r.json()["groupLabels"]["alertname"] == "WorkflowExecutionFailed";
    hook.until(
        "ok",
        Duration::from_secs(150),
        "WorkflowExecutionFailed notifications",
        &server,
        |s| s.iter().any(is_execution),
    )
    .await;
    // Evaluations keep re-reporting the failed executions: no notification repeats them.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let notes: Vec<Value> = hook
        .seen("ok")
        .iter()
        .filter(|r| is_execution(r))
        .map(Received::json)
        .collect();
    let mut ids: Vec<String> = Vec::new();
    let mut workflows = BTreeSet::new();
    for n in &notes {
        assert_eq!(n["status"], "firing");
        workflows.insert(n["groupLabels"]["workflow"].as_str().unwrap().to_string());
        for a in n["alerts"].as_array().unwrap() {
            ids.push(a["labels"]["workflow_execution_id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        notes.len(),
        workflows.len(),
        "one notification per workflow: {notes:#?}"
    );
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "one alert per execution: {ids:?}");
    assert!(ids.len() >= 3, "{ids:?}");
    // Some of these executions failed in more than one step attempt.
    let list = ids.iter().map(|i| format!("'{i}'")).collect::<Vec<_>>().join(",");
    let max_failed = server
        .count(&format!(
            "SELECT CAST(max(failed_steps) AS BIGINT) FROM workflow_executions WHERE workflow_execution_id IN ({list})"
        ))
        .await;
    assert!(
        max_failed >= 2,
        "an alerted execution with several failed steps: max {max_failed}"
    );
}
