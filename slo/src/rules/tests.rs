//! Rule tests: parsing (with exact messages), conditions, templates, the pending/`for`/
//! resolution state machine (pure, hand-timed), and rules run over hand-built catalogue data
//! with expectations computed by hand.

use std::collections::BTreeMap;
use std::time::Duration;

use super::engine::{InstanceState, Row, RuleEngine, RuleOutput};
use super::*;
use crate::catalogue::CatalogueSettings;
use crate::catalogue::tests::{T0, V, catalogue, invocation, with};
use crate::condition::ConditionState;

const MIN: i64 = 60_000_000_000;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn rule(yaml: &str) -> RuleSpec {
    let (rules, errors) = parse_rule_file("r.yaml", yaml);
    assert!(errors.is_empty(), "{errors:?}");
    rules.into_iter().next().unwrap()
}

#[test]
fn conditions_parse_and_compare() {
    // (text, value, holds)
    let cases = [
        ("value > 10", 10.5, true),
        ("value > 10", 10.0, false),
        ("value >= 10", 10.0, true),
        ("  < 0.5", 0.4, true),
        ("value <= -1", -1.0, true),
        ("value == 0", 0.0, true),
        ("value != 0", 0.0, false),
        // NaN never holds, not even `!=`.
        ("value != 0", f64::NAN, false),
    ];
    for (text, v, holds) in cases {
        let c = Condition::parse(text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(c.holds(v), holds, "{text} with {v}");
    }
    for bad in ["value > ", "x > 1", "value => 1", "value > inf", "10"] {
        assert_eq!(Condition::parse(bad), None, "{bad}");
    }
    assert_eq!(Condition::parse("value>=3").unwrap().to_string(), "value >= 3");
}

#[test]
fn templates_render_labels_and_values() {
    let l = labels(&[("queue", "orders-dlq")]);
    // (template, value, rendered)
    let cases = [
        (
            "{{ $labels.queue }} holds {{ $value }}",
            12.0,
            "orders-dlq holds 12",
        ),
        ("{{$value}}", 0.81254, "0.8125"),
        ("{{ printf \"%.1f\" $value }}x", 14.44, "14.4x"),
        ("{{ humanizePercentage $value }}", 0.8125, "81.25%"),
        // A label the instance does not have renders empty, as in Prometheus.
        ("[{{ $labels.nope }}]", 1.0, "[]"),
        ("no actions", 1.0, "no actions"),
    ];
    for (t, v, want) in cases {
        assert_eq!(Template::parse(t).unwrap().render(&l, v), want, "{t}");
    }
    for bad in [
        "{{ $labels }}",
        "{{ .Value }}",
        "{{ $value",
        "{{ printf \"%d\" $value }}",
    ] {
        assert!(Template::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_rule_file_parses_into_rules() {
    let r = rule(
        "rules:
  - name: OrdersBacklog
    sql: SELECT queue, max(depth) AS value FROM queue_depth_1m WHERE minute >= $__now - INTERVAL '5 minutes' GROUP BY queue
    condition: value > 1000
    for: 5m
    severity: page
    labels: { team: orders }
    annotations: { summary: '{{ $labels.queue }}: {{ $value }}' }
    runbook_url: https://rb/orders
",
    );
    assert_eq!(r.name, "OrdersBacklog");
    assert_eq!(
        r.condition,
        Some(Condition {
            op: Op::Gt,
            threshold: 1000.0
        })
    );
    assert_eq!(r.for_, Duration::from_secs(300));
    assert_eq!(r.severity, "page");
    assert_eq!(r.labels, labels(&[("team", "orders")]));
    assert_eq!(r.runbook_url.as_deref(), Some("https://rb/orders"));
    assert_eq!(r.origin.line, 2);
    // Defaults: no condition (every row), for 0, severity ticket.
    let r = rule("rules:\n  - { name: A, sql: 'SELECT 1 AS value' }\n");
    assert_eq!(
        (r.condition, r.for_, r.severity.as_str()),
        (None, Duration::ZERO, "ticket")
    );
}

#[test]
fn every_problem_of_a_rule_file_is_reported_with_its_line() {
    let (rules, errors) = parse_rule_file(
        "r.yaml",
        "rules:
  - name: 1bad
    sql: DROP TABLE spans
    condition: value ~ 3
    for: soon
    labels: { severity: page }
    annotations: { summary: '{{ .Value }}' }
  - name: Ok
    sql: SELECT 1 AS value; SELECT 2 AS value
  - name: Ok
    sql: SELECT 1 AS value
    unknown: 1
",
    );
    assert!(rules.is_empty());
    let text: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.at, e.message))
        .collect();
    assert_eq!(
        text,
        [
            "r.yaml:2:11: rule name \"1bad\" is not a valid alertname",
            "r.yaml:3:10: SQL is not a query: a rule runs one read-only SELECT",
            "r.yaml:4:16: condition \"value ~ 3\" is not a comparison of value with a number",
            "r.yaml:5:10: for \"soon\" is not a duration",
            "r.yaml:6:15: label \"severity\" is set by the rule itself",
            "r.yaml:7:29: annotation \"summary\": unsupported template action: {{ .Value }}",
            "r.yaml:9:10: SQL has 2 statements: a rule runs one query",
            // (marked-yaml places an unknown key at the entry's first value.)
            "r.yaml:10:9: Unknown field `unknown`, expected one of `name`, `sql`, `condition`, `for`, `lookback`, `severity`, `labels`, `annotations`, or `runbook_url`",
        ],
        "{text:#?}"
    );
}

#[test]
fn default_rules_are_valid_and_plan_against_the_catalogue() {
    let rules = defaults::default_rules();
    let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "DlqDepthGrowing",
            "FunctionDurationNearTimeout",
            "FunctionThrottlingWidespread",
            "WorkflowOrchestratorErrors",
            "WorkflowExecutionFailed",
            "WorkflowExecutionStuck",
            "FunctionCostOverBudget",
            "InvocationSurge",
        ]
    );
    for r in &rules {
        assert_eq!(r.annotations.len(), 2, "{}: a template did not parse", r.name);
        sql::check_read_only(&r.sql).unwrap_or_else(|e| panic!("{}: {e}", r.name));
    }
    let errors = file::plan_all(&rules, &CatalogueSettings::default());
    assert!(errors.is_empty(), "{errors:#?}");
    // Docs list every default rule.
    let doc = include_str!("../../../docs/slo.md");
    for r in &rules {
        assert!(
            doc.contains(&format!("`{}`", r.name)),
            "docs/slo.md does not describe {}",
            r.name
        );
        assert!(
            doc.contains(&r.sql),
            "docs/slo.md does not show {}'s SQL as built in",
            r.name
        );
    }
}

#[test]
fn a_file_rule_replaces_the_builtin_of_the_same_name_and_defaults_can_be_off() {
    let mine = rule("rules:\n  - { name: InvocationSurge, sql: 'SELECT 1 AS value', severity: ticket }\n");
    let rules = defaults::effective(vec![mine.clone()], true);
    assert_eq!(rules.len(), defaults::default_rules().len());
    let surge: Vec<&RuleSpec> = rules.iter().filter(|r| r.name == "InvocationSurge").collect();
    assert_eq!(surge, [&mine]);
    assert_eq!(defaults::effective(vec![mine.clone()], false), [mine]);
}

#[tokio::test]
async fn sql_that_names_an_unknown_column_or_returns_no_value_fails_planning() {
    let ctx = sql::planning_context(&CatalogueSettings::default()).unwrap();
    let e = sql::check_plan(&ctx, "SELECT nope AS value FROM function_minute")
        .await
        .unwrap_err();
    assert!(e.starts_with("SQL does not plan against the catalogue:"), "{e}");
    let e = sql::check_plan(&ctx, "SELECT faas_name FROM function_minute")
        .await
        .unwrap_err();
    assert_eq!(e, "the query returns no `value` column (it returns: faas_name)");
    let e = sql::check_plan(&ctx, "SELECT 'x' AS value").await.unwrap_err();
    assert_eq!(e, "the `value` column is Utf8, not a number");
    // $__now is a timestamp; rules can read the SLO tables too.
    sql::check_plan(
        &ctx,
        "SELECT slo, count(*) AS value FROM slo_status WHERE evaluated_at < $__now GROUP BY slo",
    )
    .await
    .unwrap();
}

/// One evaluation of rule 0 with `rows` at minute `m` after T0.
fn step(e: &mut RuleEngine, m: i64, rows: Result<Vec<Row>, String>) -> RuleOutput {
    let mut out = RuleOutput::default();
    let _ = e.advance(0, rows, T0 + m * MIN, &mut out);
    out
}

fn states(out: &RuleOutput) -> Vec<(String, InstanceState, f64)> {
    let mut v: Vec<_> = out
        .instances
        .iter()
        .map(|i| (i.labels["q"].clone(), i.state, i.value))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn for_keeps_an_instance_pending_then_fires_and_resolves_once() {
    let r = rule(
        "rules:\n  - { name: Backlog, sql: 'SELECT 1 AS value', condition: value > 5, for: 2m, labels: { team: t } }\n",
    );
    let mut e = RuleEngine::new(vec![r], Duration::from_secs(5));
    let a = |v: f64| Ok(vec![(labels(&[("q", "a")]), Some(v))]);
    use InstanceState::*;
    // m0: 7 > 5 → pending (held 0 of 2 minutes); no condition for alerting.
    let out = step(&mut e, 0, a(7.0));
    assert_eq!(states(&out), [("a".into(), Pending, 7.0)]);
    assert!(out.conditions.is_empty());
    // m1: held 1 minute: still pending.
    assert_eq!(states(&step(&mut e, 1, a(8.0))), [("a".into(), Pending, 8.0)]);
    // m2: held 2 minutes = for: firing, active since m0.
    let out = step(&mut e, 2, a(9.0));
    assert_eq!(states(&out), [("a".into(), Firing, 9.0)]);
    let c = &out.conditions[0];
    assert_eq!(c.state, ConditionState::Firing);
    assert_eq!(c.active_since_ns, T0);
    assert_eq!(c.value, 9.0);
    assert_eq!(c.objective, None);
    assert_eq!(
        c.labels,
        labels(&[
            ("alertname", "Backlog"),
            ("severity", "ticket"),
            ("q", "a"),
            ("team", "t")
        ])
    );
    assert_eq!(c.annotations["summary"], "Backlog {q=\"a\"}: value 9 (value > 5)");
    // m3: the query fails: state kept, still firing, nothing resolved.
    let out = step(&mut e, 3, Err("boom".into()));
    assert_eq!(out.conditions.len(), 1);
    assert_eq!(out.conditions[0].state, ConditionState::Firing);
    // m4: 3 ≤ 5: resolved once, with the value that no longer meets the condition.
    let out = step(&mut e, 4, a(3.0));
    assert_eq!(states(&out), [("a".into(), Resolved, 3.0)]);
    assert_eq!(out.conditions[0].state, ConditionState::Resolved);
    // m5: nothing more to say.
    let out = step(&mut e, 5, a(3.0));
    assert!(out.instances.is_empty() && out.conditions.is_empty());
    // m6: holds again: pending from scratch (the 2 minutes start over).
    assert_eq!(states(&step(&mut e, 6, a(6.0))), [("a".into(), Pending, 6.0)]);
    // m7: gone before `for`: dropped silently, never fired.
    let out = step(&mut e, 7, Ok(vec![]));
    assert!(out.instances.is_empty() && out.conditions.is_empty());
}

#[test]
fn instances_are_independent_and_a_vanished_one_resolves() {
    let r = rule("rules:\n  - { name: X, sql: 'SELECT 1 AS value' }\n");
    let mut e = RuleEngine::new(vec![r], Duration::from_secs(5));
    let row = |q: &str, v: f64| (labels(&[("q", q)]), Some(v));
    use InstanceState::*;
    // No condition, no `for`: every row fires at once; a NULL value is no instance.
    let out = step(
        &mut e,
        0,
        Ok(vec![row("a", 1.0), row("b", 2.0), (labels(&[("q", "c")]), None)]),
    );
    assert_eq!(
        states(&out),
        [("a".into(), Firing, 1.0), ("b".into(), Firing, 2.0)]
    );
    // b disappears: resolved with its last value; a keeps firing since m0.
    let out = step(&mut e, 1, Ok(vec![row("a", 1.5)]));
    assert_eq!(
        states(&out),
        [("a".into(), Firing, 1.5), ("b".into(), Resolved, 2.0)]
    );
    assert!(out.conditions.iter().all(|c| c.active_since_ns == T0));
    // Two rows with one label set: an error, state kept.
    let mut out = RuleOutput::default();
    let err = e
        .advance(0, Ok(vec![row("a", 1.0), row("a", 2.0)]), T0 + 2 * MIN, &mut out)
        .unwrap_err();
    assert!(
        err.starts_with("the query returned two rows with the labels {q=\"a\"}"),
        "{err}"
    );
    assert_eq!(states(&out), [("a".into(), Firing, 1.5)]);
}

/// Step Functions executions by hand (each a Lambda task per step; a failed task is a failed
/// step attempt). A second case: with only two failures (below 3) nothing fires. The store's last span is at minute 20, so executions quiet since minute 0
/// are finished and their last step attempt decides.
#[tokio::test]
async fn workflow_execution_failed_fires_once_per_execution_however_many_steps_fail() {
    use crate::catalogue::tests::workflows::sf_task;
    const E1: &str = "arn:aws:states:eu-west-1:1:execution:fulfil:e1";
    const E2: &str = "arn:aws:states:eu-west-1:1:execution:fulfil:e2";
    const E3: &str = "arn:aws:states:eu-west-1:1:execution:fulfil:e3";
    const E4: &str = "arn:aws:states:eu-west-1:1:execution:fulfil:e4";
    let spans = vec![
        // e1: Charge fails three times, the last attempt too → failed, 3 failed attempts.
        sf_task(1, 0.0, E1, "Reserve", false),
        sf_task(2, 1.0, E1, "Charge", true),
        sf_task(3, 2.0, E1, "Charge", true),
        sf_task(4, 3.0, E1, "Charge", true),
        // e2: Charge fails once, the retry succeeds, Ship succeeds → succeeded: no alert.
        sf_task(11, 0.0, E2, "Reserve", false),
        sf_task(12, 1.0, E2, "Charge", true),
        sf_task(13, 2.0, E2, "Charge", false),
        sf_task(14, 3.0, E2, "Ship", false),
        // e3: Reserve fails once, nothing after → failed, 1 failed attempt.
        sf_task(21, 0.0, E3, "Reserve", true),
        // e4: Ship (the last step) fails once → failed, 1 failed attempt.
        sf_task(31, 0.0, E4, "Reserve", false),
        sf_task(32, 1.0, E4, "Ship", true),
        // Unrelated traffic at minute 20 (the store's latest data).
        with(invocation("other", 99, 1200.0, 10.0), vec![]),
    ];
    let spans_without_e4: Vec<_> = spans
        .iter()
        .filter(|r| !r.iter().any(|(_, v)| matches!(v, V::S(x) if *x == E4)))
        .cloned()
        .collect();
    let ctx = catalogue(
        &[(slod_storage::Table::Spans, spans)],
        &CatalogueSettings::default(),
    );
    let rules: Vec<RuleSpec> = defaults::default_rules()
        .into_iter()
        .filter(|r| r.name == "WorkflowExecutionFailed")
        .collect();
    let mut e = RuleEngine::new(rules, Duration::from_secs(30));
    // Evaluated at minute 25: 3 of the 4 executions that ended in the last 30 minutes failed
    // (≥ 3 failures and ≥ 10 %): one condition per failed execution.
    let out = e.tick(&ctx, T0 + 25 * MIN + 7_000_000_000).await;
    assert!(out.failed.is_empty(), "{:?}", out.statuses);
    let mut got: Vec<(String, f64, String)> = out
        .conditions
        .iter()
        .map(|c| {
            (
                c.labels["workflow_execution_id"].clone(),
                c.value,
                c.labels["workflow"].clone(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            (E1.to_string(), 3.0, "fulfil".to_string()),
            (E3.to_string(), 1.0, "fulfil".to_string()),
            (E4.to_string(), 1.0, "fulfil".to_string()),
        ]
    );
    let c = &out.conditions[0];
    assert_eq!(c.labels["alertname"], "WorkflowExecutionFailed");
    assert_eq!(c.labels["engine"], "step_functions");
    assert!(
        c.annotations["summary"].contains("execution arn:aws:states:"),
        "{:?}",
        c.annotations
    );
    assert!(
        c.annotations["query"].contains("TIMESTAMP '2026-01-05T10:25:00'"),
        "{}",
        c.annotations["query"]
    );
    // At minute 31 the failures (ended 10:00:03) are more than 30 minutes old: all resolve once.
    let out = e.tick(&ctx, T0 + 31 * MIN).await;
    assert_eq!(out.conditions.len(), 3);
    assert!(out.conditions.iter().all(|c| c.state == ConditionState::Resolved));
    assert!(e.tick(&ctx, T0 + 32 * MIN).await.conditions.is_empty());

    // Without e4: 2 failures of 3 finished — fewer than 3: a background of failed
    // executions is the workflow_success SLO's business, not a per-execution alert.
    let spans: Vec<_> = spans_without_e4;
    let ctx = catalogue(
        &[(slod_storage::Table::Spans, spans)],
        &CatalogueSettings::default(),
    );
    let rules: Vec<RuleSpec> = defaults::default_rules()
        .into_iter()
        .filter(|r| r.name == "WorkflowExecutionFailed")
        .collect();
    let mut e = RuleEngine::new(rules, Duration::from_secs(30));
    assert!(e.tick(&ctx, T0 + 25 * MIN).await.conditions.is_empty());
}

/// `WorkflowExecutionStuck` measures silence against the newest data, not the clock: an
/// execution whose spans stopped 40 minutes ago is stuck when other telemetry kept arriving,
/// and not when nothing newer arrived at all (a delayed pipeline, a backfill in progress).
#[tokio::test]
async fn workflow_execution_stuck_counts_silence_against_the_data_not_the_clock() {
    use crate::catalogue::tests::workflows::durable;
    // A Durable Functions execution that started and ran an activity, never completed.
    let stalled = vec![
        durable("create_orchestration:Refund", 200, 4, 0.0, 4.0, "d1"),
        durable("activity:notify", 202, 3, 0.1, 400.0, "d1"),
    ];
    let rules: Vec<RuleSpec> = defaults::default_rules()
        .into_iter()
        .filter(|r| r.name == "WorkflowExecutionStuck")
        .collect();
    let now = T0 + 45 * MIN;

    // Nothing newer than the execution's own spans: no data says it is stuck.
    let ctx = catalogue(
        &[(slod_storage::Table::Spans, stalled.clone())],
        &CatalogueSettings::default(),
    );
    let mut e = RuleEngine::new(rules.clone(), Duration::from_secs(30));
    let out = e.tick(&ctx, now).await;
    assert!(out.failed.is_empty(), "{:?}", out.statuses);
    assert!(out.conditions.is_empty(), "{:?}", out.conditions);

    // Other traffic up to minute 40: silent for 40 minutes (less its last span's 0.5 s).
    let mut spans = stalled;
    spans.push(with(invocation("other", 99, 2400.0, 0.0), vec![]));
    let ctx = catalogue(
        &[(slod_storage::Table::Spans, spans)],
        &CatalogueSettings::default(),
    );
    let mut e = RuleEngine::new(rules, Duration::from_secs(30));
    let out = e.tick(&ctx, now).await;
    assert!(out.failed.is_empty(), "{:?}", out.statuses);
    assert_eq!(out.conditions.len(), 1, "{:?}", out.conditions);
    let c = &out.conditions[0];
    assert_eq!(c.labels["workflow_execution_id"], "d1");
    assert_eq!(c.labels["engine"], "durable_functions");
    assert!((c.value - (40.0 - 0.5 / 60.0)).abs() < 1e-9, "{}", c.value);
}

/// Throttling and P99-near-timeout over hand-built invocations (minute 0 to 4).
#[tokio::test]
async fn throttling_and_timeout_rules_over_hand_built_invocations() {
    let mut spans = Vec::new();
    let mut id = 1;
    // "hot": 60 invocations a minute in minutes 0-1; 6 of each minute's are throttled → 12 of
    // 120 = 10 % > 5 %, and 12 ≥ 10 throttles.
    // "slow": 60 a minute in minute 2; 3 last 9 s of its 10 s timeout, the rest 100 ms. P99 at
    // rank 0.99 × 59 = 58.41 → between the 59th and 60th values, both 9000 ms → 0.9 > 0.8.
    for m in 0..2 {
        for i in 0..60 {
            let r = invocation("hot", id, (m * 60 + i) as f64, 20.0);
            spans.push(with(r, vec![("is_throttle", V::B(i < 6))]));
            id += 1;
        }
    }
    for i in 0..60 {
        let ms = if i < 3 { 9000.0 } else { 100.0 };
        spans.push(invocation("slow", id, (120 + i) as f64, ms));
        id += 1;
    }
    let mut settings = CatalogueSettings::default();
    let mut slow = crate::catalogue::FunctionSettings::new("slow");
    slow.timeout = Some(Duration::from_secs(10));
    settings.functions.insert(0, slow);
    let ctx = catalogue(&[(slod_storage::Table::Spans, spans)], &settings);
    let rules: Vec<RuleSpec> = defaults::default_rules()
        .into_iter()
        .filter(|r| {
            ["FunctionThrottlingWidespread", "FunctionDurationNearTimeout"].contains(&r.name.as_str())
        })
        .collect();
    let mut e = RuleEngine::new(rules, Duration::from_secs(30));
    // At minute 4 the last 5 complete minutes are minutes -1..=3.
    let out = e.tick(&ctx, T0 + 4 * MIN).await;
    assert!(out.failed.is_empty(), "{:?}", out.statuses);
    let mut got: Vec<(String, String, f64)> = out
        .conditions
        .iter()
        .map(|c| {
            (
                c.labels["alertname"].clone(),
                c.labels["faas_name"].clone(),
                c.value,
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].0.as_str(), got[0].1.as_str()),
        ("FunctionDurationNearTimeout", "slow")
    );
    assert!((got[0].2 - 0.9).abs() < 1e-6, "{got:?}");
    assert_eq!(
        (got[1].0.as_str(), got[1].1.as_str()),
        ("FunctionThrottlingWidespread", "hot")
    );
    assert!((got[1].2 - 0.1).abs() < 1e-9, "{got:?}");
    // At minute 9 the window (minutes 4-8) is empty: both resolve.
    let out = e.tick(&ctx, T0 + 9 * MIN).await;
    assert_eq!(out.conditions.len(), 2);
    assert!(out.conditions.iter().all(|c| c.state == ConditionState::Resolved));
}

/// Invocation surge and cost over budget over hand-built invocations: "loop" runs 2
/// invocations a minute in minutes 0-14, then 100 a minute in minutes 15-19 (a recursive
/// loop); "flat" runs 2 a minute throughout. Memory is unknown, so each invocation costs the
/// request price only (0.0000002 USD).
#[tokio::test]
async fn invocation_surge_and_cost_over_budget_over_hand_built_invocations() {
    let mut spans = Vec::new();
    let mut id = 1;
    for m in 0..20i64 {
        let n = if m >= 15 { 100 } else { 2 };
        for i in 0..n {
            spans.push(invocation("loop", id, (m * 60) as f64 + i as f64 * 0.5, 10.0));
            id += 1;
        }
        for i in 0..2 {
            spans.push(invocation("flat", id, (m * 60 + i * 30) as f64, 10.0));
            id += 1;
        }
    }
    let mut settings = CatalogueSettings::default();
    let mut budget = crate::catalogue::FunctionSettings::new("loop");
    budget.cost_per_hour_budget = Some(0.0002);
    settings.functions.insert(0, budget);
    let ctx = catalogue(&[(slod_storage::Table::Spans, spans)], &settings);
    let rules: Vec<RuleSpec> = defaults::default_rules()
        .into_iter()
        .filter(|r| ["InvocationSurge", "FunctionCostOverBudget"].contains(&r.name.as_str()))
        .collect();
    let mut e = RuleEngine::new(rules, Duration::from_secs(30));
    let out = e.tick(&ctx, T0 + 20 * MIN).await;
    assert!(out.failed.is_empty(), "{:?}", out.statuses);
    let mut got: Vec<(String, String, f64)> = out
        .conditions
        .iter()
        .map(|c| {
            (
                c.labels["alertname"].clone(),
                c.labels["faas_name"].clone(),
                c.value,
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), 2, "{got:?}");
    // Cost: minutes 5-19 hold 10 × 2 + 5 × 100 = 520 invocations × 0.0000002 = 0.000104 USD;
    // × 4 = 0.000416 USD an hour ÷ 0.0002 budget = 2.08.
    assert_eq!(
        (got[0].0.as_str(), got[0].1.as_str()),
        ("FunctionCostOverBudget", "loop")
    );
    assert!((got[0].2 - 2.08).abs() < 1e-9, "{got:?}");
    // Surge: 500 in the last 5 minutes = 100 a minute; before: 30 in the 15 minutes since
    // loop's first minute = 2 a minute; 100 / 2 = 50 > 10. flat: 10 in 5 minutes < 300.
    assert_eq!(
        (got[1].0.as_str(), got[1].1.as_str()),
        ("InvocationSurge", "loop")
    );
    assert!((got[1].2 - 50.0).abs() < 1e-9, "{got:?}");
}

/// A rule with a `lookback` sees only the storage rows of the lookback (the restriction sits
/// on the scan, under the catalogue's views); without one it sees all retained data.
#[tokio::test]
async fn a_lookback_restricts_the_rows_a_rule_reads() {
    // "old" ran at minute 0, "new" at minute 100; the rules run at minute 121.
    let spans = vec![
        invocation("old", 1, 0.0, 10.0),
        invocation("new", 2, 100.0 * 60.0, 10.0),
    ];
    let ctx = catalogue(
        &[(slod_storage::Table::Spans, spans)],
        &CatalogueSettings::default(),
    );
    let sql = "SELECT faas_name, CAST(count(*) AS DOUBLE) AS value FROM invocations GROUP BY faas_name";
    let unscoped = rule(&format!("rules:\n  - name: All\n    sql: \"{sql}\"\n"));
    let scoped = rule(&format!(
        "rules:\n  - name: LastHour\n    lookback: 1h\n    sql: \"{sql}\"\n"
    ));
    assert_eq!(scoped.lookback, Some(Duration::from_secs(3600)));
    let mut e = RuleEngine::new(vec![unscoped, scoped], Duration::from_secs(30));
    let out = e.tick(&ctx, T0 + 121 * MIN).await;
    assert!(out.failed.is_empty(), "{:?}", out.statuses);
    let mut got: Vec<(String, String)> = out
        .conditions
        .iter()
        .map(|c| (c.labels["alertname"].clone(), c.labels["faas_name"].clone()))
        .collect();
    got.sort();
    let want = [("All", "new"), ("All", "old"), ("LastHour", "new")];
    let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(got, want);

    // A lookback that is not a positive duration is refused with its line.
    let (_, errors) = parse_rule_file(
        "r.yaml",
        "rules:\n  - name: X\n    lookback: soon\n    sql: SELECT 1 AS value\n",
    );
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|e| e.contains("r.yaml:3") && e.contains("lookback \"soon\"")),
        "{text:?}"
    );
}

/// `function_minute` is cached across ticks: the rule's answer follows data ingested between
/// ticks — in the trailing minutes and, found from `ingest_time`, in an older minute — and
/// equals what a fresh engine derives from the same tables.
#[tokio::test]
async fn cached_function_minute_follows_new_and_late_data() {
    let r = rule(
        "rules:\n  - name: Count\n    lookback: 1h\n    sql: \"SELECT faas_name, sum(invocations) AS value FROM function_minute WHERE minute >= $__now - INTERVAL '1 hour' AND minute < $__now GROUP BY faas_name\"\n",
    );
    let settings = CatalogueSettings::default();
    // One invocation a minute, minutes 1..=60 (the tick at minute 61 counts minutes 1..60).
    let base: Vec<_> = (1..=60)
        .map(|m| invocation("a", m as u64, m as f64 * 60.0 + 1.0, 10.0))
        .collect();
    let now = T0 + 61 * MIN + 5_000_000_000;
    let mut e = RuleEngine::new(vec![r.clone()], Duration::from_secs(30));
    let out = e
        .tick(
            &catalogue(&[(slod_storage::Table::Spans, base.clone())], &settings),
            now,
        )
        .await;
    assert!(out.failed.is_empty(), "{:?}", out.statuses);
    assert_eq!(out.instances[0].value, 60.0);
    let (first, _) = out.minutes.expect("the cache is built");
    assert!(first.minutes >= 61, "{first:?}");

    // Between ticks: two more in minute 58 (trailing) and one late one for minute 5, ingested
    // after the first tick.
    let ingested = V::T(now + 10_000_000_000);
    let mut more = base.clone();
    more.push(invocation("a", 1001, 58.0 * 60.0 + 2.0, 10.0));
    more.push(invocation("a", 1002, 58.0 * 60.0 + 3.0, 10.0));
    more.push(with(
        invocation("a", 1003, 5.0 * 60.0 + 2.0, 10.0),
        vec![("ingest_time", ingested)],
    ));
    let ctx = catalogue(&[(slod_storage::Table::Spans, more)], &settings);
    let later = now + 20_000_000_000;
    let out = e.tick(&ctx, later).await;
    assert_eq!(out.instances[0].value, 63.0, "{:?}", out.statuses);
    let (second, _) = out.minutes.unwrap();
    // The trailing 16 minutes and the late minute, not the whole hour again.
    assert!(
        second.minutes < first.minutes && second.minutes >= 17,
        "{second:?}"
    );
    let fresh = RuleEngine::new(vec![r], Duration::from_secs(30))
        .tick(&ctx, later)
        .await;
    assert_eq!(fresh.instances[0].value, 63.0);
}

/// The cache's rows are `function_minute`'s, whether `invocations` is held in memory or (past
/// the row limit) derived again at each read: errors, a retried invocation, cold starts.
#[tokio::test]
async fn cached_function_minute_rows_equal_the_views() {
    use super::minutes::MinuteCache;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    let r = rule(
        "rules:\n  - name: Count\n    lookback: 30m\n    sql: \"SELECT faas_name, sum(invocations) AS value FROM function_cost_1m WHERE minute >= $__now - INTERVAL '30 minutes' GROUP BY faas_name\"\n",
    );
    let bad = rule(
        "rules:\n  - name: Bad\n    lookback: 30m\n    sql: \"SELECT faas_name, sum(errors + retries + cold_starts) AS value FROM function_minute WHERE minute >= $__now - INTERVAL '30 minutes' GROUP BY faas_name\"\n",
    );
    let mut spans = Vec::new();
    for i in 0..40u64 {
        let f = if i % 3 == 0 { "b" } else { "a" };
        let mut row = invocation(f, i + 1, 1500.0 + i as f64 * 17.0, 50.0 + (i * 37 % 400) as f64);
        if i % 7 == 0 {
            row = with(row, vec![("is_error", V::B(true))]);
        }
        if i % 11 == 0 {
            row = with(row, vec![("faas_coldstart", V::B(true))]);
        }
        spans.push(row);
    }
    // Invocation 5 retried two minutes later: a second attempt of the same request id.
    spans.push(with(
        invocation("a", 500, 1500.0 + 4.0 * 17.0 + 120.0, 30.0),
        vec![("faas_invocation_id", V::S("req-5"))],
    ));
    let ctx = catalogue(
        &[(slod_storage::Table::Spans, spans)],
        &CatalogueSettings::default(),
    );
    let now = T0 + 40 * MIN;
    let render = |b: &datafusion::arrow::array::RecordBatch| {
        let mut lines: Vec<String> = pretty_format_batches(std::slice::from_ref(b))
            .unwrap()
            .to_string()
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    };
    let mut got = Vec::new();
    let mut held = None;
    for limit in [usize::MAX, 0] {
        let mut cache = MinuteCache::new(&[r.clone(), bad.clone()])
            .with_shared(crate::shared::SharedInvocations::new(limit));
        cache.update(&ctx, now, Duration::from_secs(30)).await.unwrap();
        let rows = cache.rows().expect("built").clone();
        got.push(render(&rows));
        held = Some(rows);
    }
    assert_eq!(got[0], got[1]);
    // By hand: 40 invocations (26 of a, 14 of b) and the retry's second attempt = 41; errors
    // at i = 0, 7, …, 35 = 6; one retry; cold starts only where reported (no instance ids):
    // i = 0, 11, 22, 33 = 4.
    let c = datafusion::prelude::SessionContext::new();
    c.register_batch("fm", held.unwrap()).unwrap();
    let sum = |col: &str| {
        let c = c.clone();
        let sql = format!("SELECT sum({col}) FROM fm");
        async move { crate::catalogue::tests::num(&c, &sql).await.unwrap_or(0.0) }
    };
    assert_eq!(sum("invocations").await, 41.0);
    assert_eq!(sum("errors").await, 6.0);
    assert_eq!(sum("retries").await, 1.0);
    assert_eq!(sum("cold_starts").await, 4.0);

    // For the cost rule alone the cache keeps what function_cost_1m reads, not the retries
    // (nor the joins behind them), and the rule's answer is the same.
    let mut cache = MinuteCache::new(std::slice::from_ref(&r));
    cache.update(&ctx, now, Duration::from_secs(30)).await.unwrap();
    let rows = cache.rows().expect("built");
    let names: Vec<&str> = rows
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert!(
        !names.contains(&"retries") && !names.contains(&"max_concurrency"),
        "{names:?}"
    );
    for c in ["minute", "invocations", "gb_seconds", "cloud_platform", "source"] {
        assert!(names.contains(&c), "{c} missing: {names:?}");
    }
    let c = datafusion::prelude::SessionContext::new();
    c.register_batch("fm", rows.clone()).unwrap();
    assert_eq!(
        crate::catalogue::tests::num(&c, "SELECT sum(invocations) FROM fm").await,
        Some(41.0)
    );
    let mut e = RuleEngine::new(vec![r.clone()], Duration::from_secs(30));
    let out = e.tick(&ctx, now).await;
    assert!(out.failed.is_empty(), "{:?}", out.statuses);
    let mut values: Vec<(String, f64)> = out
        .instances
        .iter()
        .map(|i| (i.labels["faas_name"].clone(), i.value))
        .collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(values, [("a".to_string(), 27.0), ("b".to_string(), 14.0)]);
}

#[test]
fn the_cache_keeps_the_columns_its_rules_name() {
    use super::minutes::kept;
    let all: Vec<String> = ["minute", "faas_name", "errors", "retries", "max_concurrency"]
        .map(String::from)
        .to_vec();
    let names = |reads: &str| kept(&all, reads);
    assert_eq!(
        names("select faas_name, sum(errors) * 4 as value, count(*) from function_minute"),
        ["minute", "faas_name", "errors"]
    );
    // A word, not a part of one: function_errors_1m names no `errors` column.
    assert_eq!(
        names("select faas_name from function_errors_1m"),
        ["minute", "faas_name"]
    );
    for wildcard in [
        "select * from function_minute",
        "select f.* from function_minute f",
        "select 1, * from x",
    ] {
        assert_eq!(names(wildcard), all, "{wildcard}");
    }
}
