//! The built-in rules, active unless `slo.default_rules: false`. A rule file's rule with the
//! same name replaces a built-in one (to change a threshold, copy it from `docs/slo.md`).
//! Thresholds are documented in `docs/slo.md`, "Default rules"; keep the two in step.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Condition, Op, RuleSpec, Template};
use crate::spec::Location;

/// Name, severity, condition, `for` (s), lookback (s), summary, description, SQL.
type Row = (
    &'static str,
    &'static str,
    Option<(Op, f64)>,
    u64,
    u64,
    &'static str,
    &'static str,
    &'static str,
);

const HOUR: u64 = 3600;

/// Lookbacks: the rule's window plus room for invocations and executions that began earlier
/// (a workflow execution's spans start with the execution, not with its last step).
const DEFAULTS: &[Row] = &[
    (
        "DlqDepthGrowing",
        "ticket",
        Some((Op::Ge, 10.0)),
        0,
        HOUR,
        "dead-letter queue {{ $labels.queue }} grew by {{ $value }} messages in 15 minutes",
        "Messages are landing in {{ $labels.queue }} faster than anyone drains it: find the failing consumer (dlq_messages_1m, function_errors_1m) before the backlog expires.",
        r"WITH d AS (
  SELECT queue, cloud_provider, cloud_region, depth,
         row_number() OVER (PARTITION BY queue, cloud_provider, cloud_region ORDER BY minute DESC) AS newest,
         row_number() OVER (PARTITION BY queue, cloud_provider, cloud_region ORDER BY minute) AS oldest
  FROM queue_depth_1m
  WHERE is_dlq AND depth IS NOT NULL
    AND minute >= $__now - INTERVAL '15 minutes' AND minute < $__now
)
SELECT queue, cloud_provider, cloud_region,
       max(CASE WHEN newest = 1 THEN depth END) - max(CASE WHEN oldest = 1 THEN depth END) AS value
FROM d
GROUP BY queue, cloud_provider, cloud_region",
    ),
    (
        "FunctionDurationNearTimeout",
        "ticket",
        Some((Op::Gt, 0.8)),
        0,
        HOUR,
        "{{ $labels.faas_name }}: P99 duration at {{ humanizePercentage $value }} of its timeout",
        "In the last 5 minutes a minute's P99 duration of {{ $labels.faas_name }} reached {{ humanizePercentage $value }} of the configured timeout (functions: timeout): invocations are about to time out.",
        r"SELECT faas_name, max(service_name) AS service, max(cloud_provider) AS cloud_provider,
       max(cloud_region) AS cloud_region, max(p99_timeout_ratio) AS value
FROM function_minute
WHERE minute >= $__now - INTERVAL '5 minutes' AND minute < $__now AND invocations >= 50
GROUP BY faas_name",
    ),
    (
        "FunctionThrottlingWidespread",
        "page",
        Some((Op::Gt, 0.05)),
        0,
        HOUR,
        "{{ $labels.faas_name }}: {{ humanizePercentage $value }} of invocations throttled",
        "Over the last 5 minutes {{ humanizePercentage $value }} of {{ $labels.faas_name }}'s invocations were throttled: raise its reserved concurrency or the account limit, or slow the caller.",
        r"SELECT faas_name, max(service_name) AS service, max(cloud_provider) AS cloud_provider,
       max(cloud_region) AS cloud_region,
       sum(throttles) / sum(CASE WHEN source = 'metrics' THEN invocations + throttles ELSE invocations END) AS value
FROM function_minute
WHERE minute >= $__now - INTERVAL '5 minutes' AND minute < $__now AND throttles IS NOT NULL
GROUP BY faas_name
HAVING sum(throttles) >= 10",
    ),
    (
        "WorkflowOrchestratorErrors",
        "page",
        Some((Op::Ge, 1.0)),
        0,
        2 * HOUR,
        "workflow {{ $labels.workflow }}: {{ $value }} orchestrator errors in 15 minutes",
        "The orchestrator of {{ $labels.workflow }} ({{ $labels.engine }}) reported errors that no failed step explains (orchestration failures, throttled executions) in the last 15 minutes.",
        r"SELECT workflow_name AS workflow, engine, max(service_name) AS service,
       max(cloud_provider) AS cloud_provider, max(cloud_region) AS cloud_region,
       sum(orchestrator_errors) AS value
FROM workflow_minute
WHERE minute >= $__now - INTERVAL '15 minutes' AND minute < $__now
GROUP BY workflow_name, engine",
    ),
    (
        "WorkflowExecutionFailed",
        "ticket",
        None,
        0,
        6 * HOUR,
        "workflow {{ $labels.workflow }}: execution {{ $labels.workflow_execution_id }} failed",
        "Execution {{ $labels.workflow_execution_id }} of {{ $labels.workflow }} failed ({{ $value }} failed step attempts) while at least 10 % of the workflow's executions of the last 30 minutes failed. One alert per execution.",
        r"WITH recent AS (
  SELECT workflow_name, workflow_execution_id, engine, service_name, cloud_provider, cloud_region,
         status, failed_steps,
         count(*) OVER (PARTITION BY workflow_name, engine) AS finished,
         sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) OVER (PARTITION BY workflow_name, engine)
             AS failures
  FROM workflow_executions
  WHERE status IN ('failed', 'succeeded')
    AND end_time >= $__now - INTERVAL '30 minutes' AND end_time < $__now
)
SELECT workflow_name AS workflow, workflow_execution_id, engine, service_name AS service,
       cloud_provider, cloud_region, CAST(failed_steps AS DOUBLE) AS value
FROM recent
WHERE status = 'failed' AND failures >= 3 AND failures >= 0.1 * finished",
    ),
    (
        "WorkflowExecutionStuck",
        "ticket",
        None,
        0,
        25 * HOUR,
        "workflow {{ $labels.workflow }}: execution {{ $labels.workflow_execution_id }} silent for {{ printf \"%.0f\" $value }} minutes",
        "Execution {{ $labels.workflow_execution_id }} of {{ $labels.workflow }} ({{ $labels.engine }}) has not completed and has sent no span for {{ printf \"%.0f\" $value }} minutes while other telemetry kept arriving.",
        r"WITH horizon AS (
  SELECT least(max(end_time), $__now) AS t FROM spans WHERE end_time >= $__now - INTERVAL '1 day'
)
SELECT workflow_name AS workflow, workflow_execution_id, engine, service_name AS service,
       cloud_provider, cloud_region,
       CAST(CAST(h.t AS BIGINT) - CAST(last_seen AS BIGINT) AS DOUBLE) / 60e9 AS value
FROM workflow_executions CROSS JOIN horizon h
WHERE NOT completed AND engine IN ('temporal', 'durable_functions')
  AND last_seen < h.t - INTERVAL '30 minutes' AND start_time >= $__now - INTERVAL '1 day'",
    ),
    (
        "FunctionCostOverBudget",
        "ticket",
        Some((Op::Gt, 1.0)),
        0,
        HOUR,
        "{{ $labels.faas_name }}: spending at {{ humanizePercentage $value }} of its hourly budget",
        "At the rate of the last 15 minutes {{ $labels.faas_name }} costs {{ humanizePercentage $value }} of its cost_per_hour_budget (estimated from telemetry and the price table).",
        r"SELECT faas_name, max(service_name) AS service,
       sum(cost) * 4 / max(slod_function_cost_budget_per_hour(faas_name)) AS value
FROM function_cost_1m
WHERE minute >= $__now - INTERVAL '15 minutes' AND minute < $__now
GROUP BY faas_name
HAVING max(slod_function_cost_budget_per_hour(faas_name)) IS NOT NULL",
    ),
    (
        "InvocationSurge",
        "page",
        Some((Op::Gt, 10.0)),
        0,
        2 * HOUR,
        "{{ $labels.faas_name }}: invocation rate {{ printf \"%.1f\" $value }}x its previous hour",
        "{{ $labels.faas_name }} ran {{ printf \"%.1f\" $value }} times more invocations per minute in the last 5 minutes than in the hour before: a recursive loop (a function triggering itself through a queue, topic or bucket) or a runaway client.",
        r"WITH f AS (
  SELECT faas_name, max(service_name) AS service, max(cloud_provider) AS cloud_provider,
         max(cloud_region) AS cloud_region,
         sum(CASE WHEN minute >= $__now - INTERVAL '5 minutes' THEN invocations ELSE 0 END) AS recent,
         sum(CASE WHEN minute < $__now - INTERVAL '5 minutes' THEN invocations ELSE 0 END) AS before,
         min(minute) AS first
  FROM function_minute
  WHERE minute >= $__now - INTERVAL '65 minutes' AND minute < $__now
  GROUP BY faas_name
)
SELECT faas_name, service, cloud_provider, cloud_region,
       (recent / 5.0)
       / (greatest(before, 1) / (CAST(CAST($__now AS BIGINT) - 300000000000 - CAST(first AS BIGINT) AS DOUBLE) / 60e9))
       AS value
FROM f
WHERE recent >= 300 AND first <= $__now - INTERVAL '15 minutes'",
    ),
];

/// The built-in rules.
pub fn default_rules() -> Vec<RuleSpec> {
    DEFAULTS
        .iter()
        .map(
            |(name, severity, condition, for_s, lookback_s, summary, description, sql)| {
                let mut annotations = BTreeMap::new();
                for (k, v) in [("summary", summary), ("description", description)] {
                    // INVARIANT: the built-in templates parse (tested by `default_rules_are_valid`).
                    if let Ok(t) = Template::parse(v) {
                        annotations.insert(k.to_string(), t);
                    }
                }
                RuleSpec {
                    name: name.to_string(),
                    sql: sql.to_string(),
                    condition: condition.map(|(op, threshold)| Condition { op, threshold }),
                    for_: Duration::from_secs(*for_s),
                    lookback: Some(Duration::from_secs(*lookback_s)),
                    severity: severity.to_string(),
                    labels: BTreeMap::new(),
                    annotations,
                    runbook_url: None,
                    builtin: true,
                    origin: Location::new(&format!("<built-in rule {name}>"), 0, 0),
                }
            },
        )
        .collect()
}

/// The rules in effect: the built-ins (when `defaults` is on) with any a rule file redefines
/// replaced by the file's version, then the files' other rules.
pub fn effective(files: Vec<RuleSpec>, defaults: bool) -> Vec<RuleSpec> {
    let mut out: Vec<RuleSpec> = if defaults {
        default_rules()
            .into_iter()
            .filter(|d| !files.iter().any(|f| f.name == d.name))
            .collect()
    } else {
        Vec::new()
    };
    out.extend(files);
    out
}
