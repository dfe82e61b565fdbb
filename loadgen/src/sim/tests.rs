//! The simulation's promises, checked on decoded output: determinism, volume, and that each
//! scenario changes what it says it changes (and little else).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;

use super::*;
use crate::export::Export;
use crate::scenario::{IncidentKind, Target};

/// 2026-11-24 00:00:00 UTC.
const START: u64 = 1_795_478_400_000_000_000;

fn config(scenario: Scenario, seed: u64, minutes: u64, volume: f64) -> SimConfig {
    SimConfig {
        seed,
        scenario,
        start_ns: START,
        duration: Duration::from_secs(minutes * 60),
        period: None,
        volume,
        functions: 10,
    }
}

fn text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn get(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).map(text)
}

/// A span flattened with the facts the checks need.
#[derive(Debug, Clone)]
struct Row {
    function: String,
    name: String,
    start: u64,
    duration: u64,
    error: bool,
    throttle: bool,
    invocation: bool,
    coldstart: Option<bool>,
    instance: String,
    version: String,
    attrs: HashMap<String, String>,
}

struct Output {
    rows: Vec<Row>,
    /// (metric name, attributes, time, value) of gauge and sum points.
    points: Vec<(String, HashMap<String, String>, u64, f64)>,
    /// (metric name, FunctionName dimension, time, sum) of summaries.
    summaries: Vec<(String, String, u64, f64)>,
    logs: Vec<String>,
    plan: Plan,
}

fn run(cfg: SimConfig) -> Output {
    let mut sim = Simulation::new(cfg);
    let plan = sim.plan().clone();
    let mut out = Output {
        rows: Vec::new(),
        points: Vec::new(),
        summaries: Vec::new(),
        logs: Vec::new(),
        plan,
    };
    for tick in &mut sim {
        for rs in tick.traces.iter().flat_map(|t| &t.resource_spans) {
            let res = &rs.resource.as_ref().unwrap().attributes;
            let platform = get(res, "cloud.platform");
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                let attrs: HashMap<String, String> = span
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.clone(), text(kv)))
                    .collect();
                // Azure names functions `<app>/<function>`; the fleet names the app.
                let function = attrs
                    .get("faas.name")
                    .cloned()
                    .or_else(|| get(res, "faas.name"))
                    .or_else(|| get(res, "service.name"))
                    .unwrap_or_default()
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let http = attrs
                    .get("http.status_code")
                    .or(attrs.get("http.response.status_code"))
                    .and_then(|v| v.parse::<i64>().ok());
                let status = span.status.as_ref();
                let message = status.map(|s| s.message.clone()).unwrap_or_default();
                let exception = span
                    .events
                    .iter()
                    .find(|e| e.name == "exception")
                    .and_then(|e| get(&e.attributes, "exception.type"))
                    .unwrap_or_default();
                let throttle = http == Some(429)
                    || ["TooManyRequests", "Throttl", "ProvisionedThroughputExceeded"]
                        .iter()
                        .any(|m| message.contains(m) || exception.contains(m));
                out.rows.push(Row {
                    function,
                    name: span.name.clone(),
                    start: span.start_time_unix_nano,
                    duration: span.end_time_unix_nano - span.start_time_unix_nano,
                    error: status.is_some_and(|s| s.code == 2)
                        || (span.kind == 2 && http.is_some_and(|h| h >= 500)),
                    throttle,
                    invocation: attrs.contains_key("faas.invocation_id")
                        || (span.kind == 2 && platform.is_some()),
                    coldstart: attrs.get("faas.coldstart").map(|v| v == "true"),
                    instance: get(res, "faas.instance").unwrap_or_default(),
                    version: get(res, "faas.version")
                        .or_else(|| get(res, "service.version"))
                        .unwrap_or_default(),
                    attrs,
                });
            }
        }
        for rm in tick.metrics.iter().flat_map(|m| &m.resource_metrics) {
            for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                match &m.data {
                    Some(Data::Gauge(g)) => {
                        for p in &g.data_points {
                            let v = match p.value {
                                Some(number_data_point::Value::AsInt(i)) => i as f64,
                                Some(number_data_point::Value::AsDouble(d)) => d,
                                None => 0.0,
                            };
                            let attrs = p.attributes.iter().map(|kv| (kv.key.clone(), text(kv))).collect();
                            out.points.push((m.name.clone(), attrs, p.time_unix_nano, v));
                        }
                    }
                    Some(Data::Summary(sm)) => {
                        for p in &sm.data_points {
                            let dims = p
                                .attributes
                                .iter()
                                .find(|kv| kv.key == "Dimensions")
                                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                                    Value::KvlistValue(l) => l.values.first().map(text),
                                    _ => None,
                                })
                                .unwrap_or_default();
                            out.summaries
                                .push((m.name.clone(), dims, p.time_unix_nano, p.sum));
                        }
                    }
                    _ => {}
                }
            }
        }
        for rec in tick
            .logs
            .iter()
            .flat_map(|l| &l.resource_logs)
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
        {
            if let Some(Value::StringValue(b)) = rec.body.as_ref().and_then(|b| b.value.as_ref()) {
                out.logs.push(b.clone());
            }
        }
    }
    out
}

fn incident(o: &Output, kind: IncidentKind) -> (String, u64, u64) {
    let i = o.plan.incidents.iter().find(|i| i.kind == kind).unwrap();
    let name = match &i.target {
        Target::Function { name, .. } => name.clone(),
        _ => String::new(),
    };
    (name, i.start_ns, i.end_ns)
}

fn rate(rows: &[&Row], pred: impl Fn(&Row) -> bool) -> f64 {
    rows.iter().filter(|r| pred(r)).count() as f64 / rows.len().max(1) as f64
}

fn invocations(o: &Output, f: impl Fn(&Row) -> bool) -> Vec<&Row> {
    o.rows.iter().filter(|r| r.invocation && f(r)).collect()
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let bytes = |seed| {
        let mut v = Vec::new();
        for t in Simulation::new(config(Scenario::Mixed, seed, 3, 200.0)) {
            for e in [
                t.traces.map(Export::Traces),
                t.metrics.map(Export::Metrics),
                t.logs.map(Export::Logs),
            ]
            .into_iter()
            .flatten()
            {
                v.extend(e.encode());
            }
        }
        v
    };
    let a = bytes(7);
    assert!(a.len() > 100_000, "3 minutes at 200 spans/s is more than 100 kB");
    assert!(a == bytes(7), "same seed, same bytes");
    assert!(a != bytes(8), "another seed, other bytes");
}

#[test]
fn volume_is_about_the_requested_spans_per_second_and_ids_are_valid() {
    let o = run(config(Scenario::Steady, 1, 5, 300.0));
    let per_second = o.rows.len() as f64 / 300.0;
    // Within 25 % of the requested 300 spans/s times the daily cycle's factor at midnight.
    let expected = 300.0 * crate::traffic::diurnal(START);
    assert!(
        (per_second - expected).abs() < expected * 0.25,
        "{per_second} spans/s, expected ~{expected}"
    );
    assert!(o.rows.iter().all(|r| r.duration < 120_000_000_000));
    assert!(!o.logs.is_empty() && o.logs.iter().any(|l| l.starts_with("REPORT RequestId: ")));
}

#[test]
fn error_burst_raises_exactly_the_target_functions_error_rate() {
    let o = run(config(Scenario::ErrorBurst, 3, 20, 300.0));
    let (target, s, e) = incident(&o, IncidentKind::ErrorBurst);
    let inside = |r: &Row| r.start >= s && r.start < e;
    let burst = rate(&invocations(&o, |r| r.function == target && inside(r)), |r| {
        r.error
    });
    let before = rate(&invocations(&o, |r| r.function == target && !inside(r)), |r| {
        r.error
    });
    assert!(
        burst > 0.2 && before < 0.05,
        "{target}: {burst} in the burst, {before} outside"
    );
    let mut fns: Vec<&str> = o.rows.iter().map(|r| r.function.as_str()).collect();
    fns.sort();
    fns.dedup();
    for f in fns.into_iter().filter(|f| *f != target) {
        let other = invocations(&o, |r| r.function == f && inside(r));
        // Workflow task functions fail by their own rules; the others stay at background.
        if other.len() > 50 && !f.starts_with("order-fulfilment") {
            assert!(rate(&other, |r| r.error) < 0.08, "{f} should not be hit");
        }
    }
}

#[test]
fn latency_regression_slows_the_target() {
    let o = run(config(Scenario::LatencyRegression, 4, 20, 300.0));
    let (target, s, e) = incident(&o, IncidentKind::LatencyRegression);
    let median = |inside: bool| {
        let mut d: Vec<u64> = invocations(&o, |r| {
            r.function == target && (r.start >= s && r.start < e) == inside
        })
        .iter()
        .map(|r| r.duration)
        .collect();
        d.sort_unstable();
        d[d.len() / 2] as f64
    };
    assert!(median(true) > 2.5 * median(false), "{target}");
}

/// Cold when the exporter says so, else the first invocation of an instance (slod's rule).
fn cold_rate(rows: &[&Row]) -> f64 {
    let mut seen = std::collections::HashSet::new();
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|r| r.start);
    let cold = sorted
        .iter()
        .filter(|r| {
            let first = seen.insert((r.function.clone(), r.instance.clone()));
            r.coldstart.unwrap_or(first)
        })
        .count();
    cold as f64 / rows.len().max(1) as f64
}

#[test]
fn cold_start_storm_pushes_the_cold_start_rate_above_five_percent() {
    let o = run(config(Scenario::ColdStartStorm, 5, 20, 300.0));
    let (_, s, e) = incident(&o, IncidentKind::ColdStartStorm);
    let all = invocations(&o, |_| true);
    let storm: Vec<&Row> = all
        .iter()
        .copied()
        .filter(|r| r.start >= s && r.start < e)
        .collect();
    let calm: Vec<&Row> = all
        .iter()
        .copied()
        .filter(|r| r.start >= START + 120 * SEC && r.start < s)
        .collect();
    let (storm, calm) = (cold_rate(&storm), cold_rate(&calm));
    assert!(storm > 0.05 && calm < 0.02, "storm {storm}, before {calm}");
}

#[test]
fn throttle_storm_throttles_the_target_in_its_window_only() {
    let o = run(config(Scenario::ThrottleStorm, 6, 20, 300.0));
    let (target, s, e) = incident(&o, IncidentKind::ThrottleStorm);
    assert_eq!(target, "payments-authorize");
    // Child calls of an invocation that began just before the end may start after it.
    let inside = o
        .rows
        .iter()
        .filter(|r| r.throttle && r.start >= s && r.start < e + MINUTE)
        .count();
    let outside = o
        .rows
        .iter()
        .filter(|r| r.throttle && (r.start < s || r.start >= e + MINUTE))
        .count();
    assert!(
        inside > 50 && outside == 0,
        "{inside} throttled spans inside, {outside} outside"
    );
    // The caller's Lambda.Invoke spans name the throttled function.
    assert!(
        o.rows
            .iter()
            .any(|r| r.throttle && r.attrs.get("faas.invoked_name") == Some(&target))
    );
    let throttles: f64 = o
        .summaries
        .iter()
        .filter(|(n, f, ..)| n == "amazonaws.com/AWS/Lambda/Throttles" && *f == target)
        .map(|p| p.3)
        .sum();
    assert!(throttles > 100.0, "CloudWatch Throttles {throttles}");
}

#[test]
fn dlq_backlog_grows_the_dlq_depth_gauge_during_the_incident() {
    let o = run(config(Scenario::DlqBacklog, 7, 20, 300.0));
    let (target, s, e) = incident(&o, IncidentKind::DlqBacklog);
    let depth: BTreeMap<u64, f64> = o
        .points
        .iter()
        .filter(|(n, a, ..)| {
            n == "approximatenumberofmessagesvisible"
                && a.get("QueueName").is_some_and(|q| {
                    q.starts_with(&target) && (q.ends_with("dlq") || q.ends_with("dead-letter"))
                })
        })
        .map(|(_, _, t, v)| (*t, *v))
        .collect();
    let at = |t: u64| depth.range(..=t).next_back().map_or(0.0, |x| *x.1);
    assert!(at(s) <= 3.0, "{target}: DLQ almost empty before ({})", at(s));
    assert!(
        at(e + 2 * MINUTE) > at(s) + 20.0,
        "{target}: DLQ grows: {depth:?}"
    );
    // Growth is steady: every minute of the incident after the first retries adds messages.
    let during: Vec<f64> = depth.range(s + 2 * MINUTE..e).map(|x| *x.1).collect();
    assert!(during.windows(2).all(|w| w[1] >= w[0]), "{during:?}");
}

#[test]
fn workflow_failures_fail_executions_with_consistent_step_spans() {
    let o = run(config(Scenario::WorkflowFailures, 8, 20, 400.0));
    let (_, s, e) = incident(&o, IncidentKind::WorkflowFailures);
    // Temporal: per execution id, the start/run/complete spans and the activities.
    let mut execs: HashMap<String, Vec<&Row>> = HashMap::new();
    for r in o
        .rows
        .iter()
        .filter(|r| r.attrs.contains_key("temporalWorkflowID"))
    {
        execs
            .entry(r.attrs["temporalWorkflowID"].clone())
            .or_default()
            .push(r);
    }
    let failed = |rows: &Vec<&Row>| {
        rows.iter().any(|r| {
            r.name.starts_with("RunActivity:")
                && r.error
                && !rows.iter().any(|x| {
                    x.name.starts_with("RunActivity:") && !x.error && x.start > r.start && x.name == r.name
                })
        })
    };
    let mut by_window = [(0, 0), (0, 0)];
    for rows in execs.values() {
        let start = rows.iter().map(|r| r.start).min().unwrap();
        // One StartWorkflow, one RunWorkflow, one CompleteWorkflow, all under one run id.
        for prefix in ["StartWorkflow:", "RunWorkflow:", "CompleteWorkflow:"] {
            assert_eq!(rows.iter().filter(|r| r.name.starts_with(prefix)).count(), 1);
        }
        let runs: Vec<&String> = rows.iter().filter_map(|r| r.attrs.get("temporalRunID")).collect();
        assert!(runs.windows(2).all(|w| w[0] == w[1]));
        let k = usize::from(start >= s && start < e);
        by_window[k].0 += usize::from(failed(rows));
        by_window[k].1 += 1;
    }
    let share = |(f, n): (usize, usize)| f as f64 / n.max(1) as f64;
    assert!(
        share(by_window[1]) > 0.2 && share(by_window[0]) < 0.1,
        "{by_window:?}"
    );
    // Step Functions: task invocations share the execution ARN and name their state.
    let sfn: Vec<&Row> = o
        .rows
        .iter()
        .filter(|r| r.attrs.contains_key("aws.step_functions.execution.arn"))
        .collect();
    assert!(
        sfn.iter()
            .all(|r| r.invocation && r.attrs.contains_key("aws.step_functions.state.name"))
    );
    // Durable Functions: failed orchestrations in the window.
    let durable = o
        .rows
        .iter()
        .filter(|r| r.name.starts_with("orchestration:") && r.error && r.start >= s)
        .count();
    assert!(durable > 0);
}

#[test]
fn bad_deploy_new_version_fails_more_than_the_old() {
    let o = run(config(Scenario::BadDeploy, 9, 20, 300.0));
    let i = o
        .plan
        .incidents
        .iter()
        .find(|i| i.kind == IncidentKind::BadDeploy)
        .unwrap();
    let (old, new) = i.versions.clone().unwrap();
    let Target::Function { name, .. } = &i.target else {
        panic!()
    };
    let contains = |r: &Row, v: &str| {
        r.version == v
            || r.version.contains(&format!("1.{v}.0"))
            || r.version.contains(&format!("-{:05}-", v.parse::<u64>().unwrap()))
    };
    let old_rate = rate(
        &invocations(&o, |r| &r.function == name && contains(r, &old)),
        |r| r.error,
    );
    let new_rows = invocations(&o, |r| &r.function == name && contains(r, &new));
    assert!(
        new_rows.len() > 20,
        "{name} {new}: {} invocations",
        new_rows.len()
    );
    assert!(
        rate(&new_rows, |r| r.error) > old_rate + 0.1,
        "{name}: old {old_rate}"
    );
    // The rollback: after the incident only the old version runs.
    assert!(
        invocations(&o, |r| &r.function == name && r.start > i.end_ns + MINUTE)
            .iter()
            .all(|r| contains(r, &old))
    );
}

#[test]
fn late_data_lands_hours_in_the_past_for_the_target_only() {
    let o = run(config(Scenario::LateData, 10, 20, 300.0));
    let (target, ..) = incident(&o, IncidentKind::LateData);
    let late: Vec<&Row> = o
        .rows
        .iter()
        .filter(|r| r.start + 3_600_000_000_000 < START)
        .collect();
    assert!(
        late.len() > 20 && late.iter().all(|r| r.function == target),
        "{}",
        late.len()
    );
    let steady = run(config(Scenario::Steady, 10, 20, 300.0));
    assert!(steady.rows.iter().all(|r| r.start >= START));
}

#[test]
fn mixed_runs_every_incident_once_across_the_window() {
    let o = run(config(Scenario::Mixed, 11, 30, 200.0));
    let mut kinds: Vec<IncidentKind> = o.plan.incidents.iter().map(|i| i.kind).collect();
    kinds.dedup();
    assert_eq!(kinds.len(), 8);
    assert!(o.rows.iter().any(|r| r.throttle) && o.rows.iter().any(|r| r.start < START));
}

#[test]
fn recursive_loop_multiplies_the_targets_invocations_until_the_end() {
    let o = run(config(Scenario::RecursiveLoop, 9, 20, 200.0));
    let (target, s, e) = incident(&o, IncidentKind::RecursiveLoop);
    assert_eq!(e, o.plan.end_ns, "a loop runs until the run ends");
    let target_fn = invocations(&o, |r| r.function == target)
        .first()
        .map(|r| r.attrs.get("faas.trigger").cloned());
    assert_eq!(target_fn, Some(Some("pubsub".into())), "an SQS-triggered Lambda");
    // Invocations per minute of the target: before the loop vs its last full minute (from
    // 60 s after its start the rate is at its 30x cap).
    let per_min = |from: u64, to: u64, name: &str| {
        invocations(&o, |r| r.function == name && r.start >= from && r.start < to).len() as f64
            / ((to - from) as f64 / MINUTE as f64)
    };
    let before = per_min(START, s, &target);
    let looping = per_min(s + MINUTE, e, &target);
    assert!(before > 0.0);
    assert!(
        looping / before > 15.0,
        "{target}: {before:.1}/min before, {looping:.1}/min in the loop"
    );
    // Every other function keeps its rate (within noise and the diurnal drift).
    for other in o
        .rows
        .iter()
        .map(|r| r.function.clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if other == target {
            continue;
        }
        let (b, l) = (per_min(START, s, &other), per_min(s + MINUTE, e, &other));
        if b >= 10.0 {
            assert!(l / b < 2.0, "{other}: {b:.1}/min before, {l:.1}/min during");
        }
    }
}

#[test]
fn workflow_stuck_stalls_temporal_executions_after_an_errored_workflow_task() {
    let o = run(config(Scenario::WorkflowStuck, 10, 20, 400.0));
    let (_, s, e) = incident(&o, IncidentKind::WorkflowStuck);
    assert_eq!(e, o.plan.end_ns);
    // Per Temporal execution id: (started at, errored RunWorkflow, CompleteWorkflow seen).
    let mut runs: HashMap<String, (u64, bool, bool)> = HashMap::new();
    for r in &o.rows {
        let Some(id) = r.attrs.get("temporalWorkflowID") else {
            continue;
        };
        let entry = runs.entry(id.clone()).or_insert((r.start, false, false));
        entry.0 = entry.0.min(r.start);
        entry.1 |= r.name.starts_with("RunWorkflow:") && r.error;
        entry.2 |= r.name.starts_with("CompleteWorkflow:");
    }
    let before: Vec<_> = runs.values().filter(|v| v.0 < s).collect();
    let during: Vec<_> = runs
        .values()
        .filter(|v| v.0 >= s + MINUTE && v.0 < e - MINUTE)
        .collect();
    // Before the incident every execution completes and no workflow task fails.
    assert!(before.iter().all(|v| !v.1 && v.2), "no task failure before");
    let stalled = during.iter().filter(|v| v.1).count();
    assert!(
        during.len() > 20 && stalled as f64 > 0.15 * during.len() as f64,
        "{stalled} of {} executions stalled",
        during.len()
    );
    // A stalled execution never completes; the others do.
    assert!(during.iter().all(|v| v.1 != v.2));
}
