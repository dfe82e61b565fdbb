//! The default SQL alert rules against a real `slod serve`: each loadgen scenario made for a
//! rule is backfilled (6 simulated minutes ending at the current minute, so the rules' `$__now`
//! windows cover it) and the rule must fire on the scenario's target; on `steady` no rule may
//! be pending or firing. Expectations come from the scenario descriptions (`slod loadgen
//! --help`) and the plan's target, not from the rules' own output.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::server::TestServer;

/// The fleet's own timeouts (loadgen `fleet.rs`), as a user would configure them; a cost
/// budget far above what the fleet spends, so `FunctionCostOverBudget` is armed. Seven of
/// these servers run beside the other e2e tests on two cores (a debug build evaluating eight
/// rules over whole stores): evaluation every 2 s, and the test's own SQL may take 2 minutes.
pub(crate) const CONFIG: &str = r#"
slo: { evaluation_interval: 2s, default_templates: false }
limits: { query_timeout: 120s }
functions:
  "*": { timeout: 30s, latency_threshold: 1s, cost_per_hour_budget: 50 }
  orders-api: { timeout: 10s }
  checkout-api: { timeout: 15s }
  payments-authorize: { timeout: 6s }
  inventory-sync: { timeout: 20s }
  "notifications-run*": { timeout: 60s }
  reports-nightly: { timeout: 60s }
  "billing-reconcile*": { timeout: 60s }
"#;

/// Starts a server and backfills `scenario` (6 minutes); returns the server and the first
/// incident's target function (empty when it has none).
async fn backfill(scenario: &str, seed: u64) -> (TestServer, String) {
    let (s, plan) = backfill_minutes(scenario, seed, 6, 100).await;
    let target = plan["plan"]["incidents"][0]["target"]["function"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    (s, target)
}

/// Starts a server and backfills `minutes` of `scenario` at `volume` items/s, ending at the
/// current minute; returns the server and loadgen's plan.
async fn backfill_minutes(scenario: &str, seed: u64, minutes: u64, volume: u32) -> (TestServer, Value) {
    backfill_with(
        TestServer::builder().config(CONFIG).start(),
        scenario,
        seed,
        minutes,
        volume,
    )
    .await
}

/// Backfills the last `minutes` of `scenario` into `s` with loadgen; returns `s` and the plan.
pub(crate) async fn backfill_with(
    s: TestServer,
    scenario: &str,
    seed: u64,
    minutes: u64,
    volume: u32,
) -> (TestServer, Value) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let start = (now / 60 * 60 - minutes * 60).to_string();
    let backfill = format!("{minutes}m");
    let volume = volume.to_string();
    let target = format!("127.0.0.1:{}", s.http);
    let seed = seed.to_string();
    let common = [
        "loadgen",
        "--scenario",
        scenario,
        "--seed",
        &seed,
        "--start",
        &start,
        "--backfill",
        &backfill,
        "--volume",
        &volume,
        "--functions",
        "10",
    ]
    .map(String::from);
    let run = move |extra: &[&str]| {
        let mut args = common.to_vec();
        args.extend(extra.iter().map(|a| a.to_string()));
        std::process::Command::new(env!("CARGO_BIN_EXE_slod"))
            .args(args)
            .output()
            .unwrap()
    };
    let plan: Value = serde_json::from_slice(&run(&["--plan"]).stdout).unwrap();
    let out = tokio::task::spawn_blocking(move || run(&["--target", &target, "--quiet"]))
        .await
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && summary.contains(", failed 0 items"),
        "{summary}"
    );
    (s, plan)
}

async fn rules(s: &TestServer) -> Value {
    s.client
        .get(s.api_url("/api/v1/rules"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["data"]
        .clone()
}

/// `(rule, labels)` of the firing instances.
fn firing(data: &Value) -> Vec<(String, Value)> {
    data["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["state"] == "firing")
        .map(|i| (i["rule"].as_str().unwrap().to_string(), i["labels"].clone()))
        .collect()
}

/// Polls until `pred` holds on the rules' data (at most 150 s: a debug build evaluates the
/// eight rules over these stores in 10-30 s).
async fn until(s: &TestServer, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let data = rules(s).await;
        if pred(&data) {
            return data;
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "{what}: last /api/v1/rules {data:#}\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits for `rule` to fire on an instance whose `label` starts with `prefix` (Azure
/// functions are named `<app>/<function>`); checks every rule evaluated without error.
async fn fires(s: &TestServer, rule: &str, label: &str, prefix: &str) -> Value {
    let data = until(s, &format!("{rule} fires for {prefix}"), |d| {
        firing(d)
            .iter()
            .any(|(r, l)| r == rule && l[label].as_str().is_some_and(|v| v.starts_with(prefix)))
    })
    .await;
    for r in data["rules"].as_array().unwrap() {
        assert_eq!(r["health"], "ok", "{r:#}");
    }
    data
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_dlq_backlog_fires_dlq_depth_growing_for_the_targets_dlq() {
    let (s, target) = backfill("dlq_backlog", 15).await;
    assert!(!target.is_empty());
    let data = fires(&s, "DlqDepthGrowing", "queue", &target).await;
    let c = data["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["labels"]["alertname"] == "DlqDepthGrowing")
        .unwrap();
    // Grown by at least the rule's 10 messages in 15 minutes; the annotation says so.
    assert!(c["value"].as_f64().unwrap() >= 10.0, "{c:#}");
    assert!(
        c["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("dead-letter queue "),
        "{c:#}"
    );
    assert!(
        c["annotations"]["query"]
            .as_str()
            .unwrap()
            .contains("TIMESTAMP '")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_latency_regression_fires_duration_near_timeout_for_the_target() {
    // Seed 24 slows notifications-run (Cloud Run: timed-out requests are spans lasting the
    // whole 60 s timeout; Lambda would send none).
    let (s, target) = backfill("latency_regression", 24).await;
    assert_eq!(target, "notifications-run");
    fires(&s, "FunctionDurationNearTimeout", "faas_name", &target).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_throttle_storm_fires_throttling_widespread_for_the_target() {
    let (s, target) = backfill("throttle_storm", 14).await;
    assert!(!target.is_empty());
    fires(&s, "FunctionThrottlingWidespread", "faas_name", &target).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_workflow_failures_fire_once_per_failed_execution() {
    let (s, _) = backfill("workflow_failures", 16).await;
    let data = fires(&s, "WorkflowExecutionFailed", "workflow_execution_id", "").await;
    let ids: Vec<String> = firing(&data)
        .into_iter()
        .filter(|(r, _)| r == "WorkflowExecutionFailed")
        .map(|(_, l)| l["workflow_execution_id"].as_str().unwrap().to_string())
        .collect();
    // Many executions fail in the window (about 40 %), each exactly once.
    assert!(ids.len() >= 3, "{ids:?}");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "one condition per execution: {ids:?}");
    // And the same executions are failed in the catalogue.
    let failed = s
        .count("SELECT COUNT(*) FROM workflow_executions WHERE status = 'failed'")
        .await;
    assert!(
        failed as usize >= ids.len(),
        "{failed} failed executions, {} alerts",
        ids.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_stay_quiet_on_steady() {
    let (s, _) = backfill("steady", 19).await;
    // Wait for two publications after the backfill: the second comes from a tick that began
    // after the data was in.
    let first = until(&s, "a rule evaluation", |d| {
        !d["rules"].as_array().unwrap().is_empty()
    })
    .await;
    let second = until(&s, "another rule evaluation", |d| {
        d["rules"] != first["rules"] && !d["rules"].as_array().unwrap().is_empty()
    })
    .await;
    let third = until(&s, "a third rule evaluation", |d| {
        d["rules"] != second["rules"] && !d["rules"].as_array().unwrap().is_empty()
    })
    .await;
    let rules = third["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 8, "every default rule is loaded");
    for r in rules {
        assert_eq!(r["health"], "ok", "{r:#}");
    }
    // The rules did see the traffic (e.g. the near-timeout rule's per-function rows).
    let near_timeout = rules
        .iter()
        .find(|r| r["rule"]["name"] == "FunctionDurationNearTimeout")
        .unwrap();
    assert!(near_timeout["rows"].as_u64().unwrap() > 0, "{near_timeout:#}");
    assert_eq!(third["instances"], Value::Array(vec![]), "{third:#}");
    let metrics = s.metrics_text().await;
    assert!(
        metrics.contains("slod_rule_evaluation_failures_total{rule=\"InvocationSurge\"} 0"),
        "{metrics}"
    );
}

/// A recursive loop multiplies one function's invocations (up to 30x) for the last 6 of 40
/// minutes: `InvocationSurge` fires for it alone. Then, with a cost budget of 3x what the
/// function cost per hour before the loop (measured from the data, the server restarted on
/// the same store), `FunctionCostOverBudget` fires for it too.
#[tokio::test(flavor = "multi_thread")]
async fn rules_recursive_loop_fires_invocation_surge_and_cost_over_budget() {
    let (mut s, plan) = backfill_minutes("recursive_loop", 20, 40, 40).await;
    let incident = &plan["plan"]["incidents"][0];
    assert_eq!(incident["kind"], "recursive_loop");
    let target = incident["target"]["function"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let data = fires(&s, "InvocationSurge", "faas_name", &target).await;
    let surging: Vec<(String, Value)> = firing(&data)
        .into_iter()
        .filter(|(r, _)| r == "InvocationSurge")
        .collect();
    assert_eq!(surging.len(), 1, "{surging:?}");
    let c = data["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["labels"]["alertname"] == "InvocationSurge")
        .unwrap();
    assert!(c["value"].as_f64().unwrap() > 10.0, "{c:#}");
    assert_eq!(c["labels"]["severity"], "page");
    // The budget-50 fleet is nowhere near its budget.
    assert!(
        !firing(&data).iter().any(|(r, _)| r == "FunctionCostOverBudget"),
        "{data:#}"
    );

    // What the function cost per hour before the loop, from the catalogue.
    let loop_start = incident["start_ns"].as_u64().unwrap() / 1_000_000_000;
    let first = plan["plan"]["start_ns"].as_u64().unwrap() / 1_000_000_000;
    let before = s
        .sql(&format!(
            "SELECT sum(cost) AS cost FROM function_cost_1m WHERE faas_name = '{target}' \
             AND minute < to_timestamp({loop_start})"
        ))
        .await;
    let cost = before[0]["cost"].as_f64().unwrap();
    let per_hour = cost * 3600.0 / (loop_start - first) as f64;
    assert!(per_hour > 0.0);
    let budget = 3.0 * per_hour;
    s.stop();
    let config = std::fs::read_to_string(&s.config_path).unwrap();
    std::fs::write(
        &s.config_path,
        format!("{config}  \"{target}\": {{ cost_per_hour_budget: {budget} }}\n"),
    )
    .unwrap();
    s.spawn();
    let data = fires(&s, "FunctionCostOverBudget", "faas_name", &target).await;
    let over: Vec<(String, Value)> = firing(&data)
        .into_iter()
        .filter(|(r, _)| r == "FunctionCostOverBudget")
        .collect();
    assert_eq!(
        over.len(),
        1,
        "only the looping function has a small budget: {over:?}"
    );
}

/// A Temporal worker with non-deterministic code fails the workflow task of 30 % of the
/// executions from minute 24 of 60 on, and they stall: `WorkflowOrchestratorErrors` fires for
/// the Temporal workflow only, and `WorkflowExecutionStuck` once per execution silent for 30
/// minutes — each one a Temporal execution the catalogue holds as never completed.
#[tokio::test(flavor = "multi_thread")]
async fn rules_workflow_stuck_fires_orchestrator_errors_and_stuck_executions() {
    let (s, plan) = backfill_minutes("workflow_stuck", 21, 60, 40).await;
    assert_eq!(plan["plan"]["incidents"][0]["kind"], "workflow_stuck");
    let data = fires(&s, "WorkflowOrchestratorErrors", "engine", "temporal").await;
    for (rule, labels) in firing(&data) {
        if rule == "WorkflowOrchestratorErrors" {
            assert_eq!(labels["engine"], "temporal", "{labels:#}");
        }
    }
    let data = fires(&s, "WorkflowExecutionStuck", "workflow_execution_id", "").await;
    let ids: Vec<String> = firing(&data)
        .into_iter()
        .filter(|(r, _)| r == "WorkflowExecutionStuck")
        .map(|(_, l)| l["workflow_execution_id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() >= 3, "{ids:?}");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "one condition per execution: {ids:?}");
    let list: Vec<String> = ids.iter().map(|i| format!("'{i}'")).collect();
    let stalled = s
        .count(&format!(
            "SELECT COUNT(*) FROM workflow_executions WHERE engine = 'temporal' AND NOT completed \
             AND workflow_execution_id IN ({})",
            list.join(", ")
        ))
        .await;
    assert_eq!(stalled as usize, ids.len(), "{ids:?}");
}
