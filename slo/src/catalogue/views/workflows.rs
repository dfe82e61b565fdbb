//! Workflow executions (Step Functions, Temporal, Durable Functions) from spans, and per
//! workflow minutes from spans or orchestrator metrics.

use super::View;

/// An execution without an explicit end (Step Functions has no completion span) is finished
/// once the spans table holds data this much later than its last span.
pub const QUIET_PERIOD_MINUTES: i64 = 5;

pub(crate) const WORKFLOW_EXECUTIONS: View = View {
    name: "workflow_executions",
    description: "one row per workflow execution: start, end, status, end-to-end duration, step \
                  attempts, failures, retries, orchestrator errors, state transitions and cost",
    sql: r#"
WITH ws AS (
    SELECT s.*,
        workflow_step IS NOT NULL AND kind IN (2, 5) AS is_step,
        (name LIKE 'CompleteWorkflow:%')
            OR (name LIKE 'orchestration:%' AND name NOT LIKE '%:timer' AND kind = 2)
            OR attributes['workflow.execution.result'] IS NOT NULL
            OR attributes['workflow.result'] IS NOT NULL AS is_completion,
        is_error OR exception_type IS NOT NULL
            OR lower(COALESCE(attributes['durabletask.task.result'], '')) IN ('failed', 'terminated')
            OR lower(COALESCE(attributes['workflow.execution.result'], attributes['workflow.result'], ''))
               IN ('failure', 'error', 'timeout', 'cancellation') AS failed_span
    FROM spans s
    WHERE workflow_execution_id IS NOT NULL
),
e AS (
    SELECT
        workflow_execution_id,
        max(workflow_name) AS workflow_name,
        first_value(service_name ORDER BY start_time) AS service_name,
        max(cloud_provider) AS cloud_provider,
        max(cloud_region) AS cloud_region,
        CASE
            WHEN bool_or(attributes['aws.step_functions.execution.arn'] IS NOT NULL) THEN 'step_functions'
            WHEN bool_or(attributes['temporalWorkflowID'] IS NOT NULL) THEN 'temporal'
            WHEN bool_or(attributes['durabletask.task.instance_id'] IS NOT NULL) THEN 'durable_functions'
            ELSE 'other'
        END AS engine,
        min(start_time) AS start_time,
        max(end_time) AS last_seen,
        bool_or(is_completion) AS completed,
        bool_or(is_completion AND failed_span) AS completion_failed,
        count(DISTINCT CASE WHEN is_step THEN workflow_step END) AS steps,
        sum(CASE WHEN is_step THEN 1 ELSE 0 END) AS step_attempts,
        sum(CASE WHEN is_step AND failed_span THEN 1 ELSE 0 END) AS failed_steps,
        last_value(CASE WHEN is_step THEN failed_span END ORDER BY CASE WHEN is_step THEN start_time END NULLS FIRST)
            AS last_step_failed,
        sum(CASE WHEN NOT is_step AND failed_span THEN 1 ELSE 0 END) AS non_step_errors
    FROM ws
    GROUP BY workflow_execution_id
),
st AS (
    SELECT e.*,
        CASE
            WHEN completed THEN CASE WHEN completion_failed THEN 'failed' ELSE 'succeeded' END
            WHEN last_seen + INTERVAL '5 minutes' <= (SELECT max(end_time) FROM spans)
                THEN CASE WHEN COALESCE(last_step_failed, false) THEN 'failed' ELSE 'succeeded' END
            ELSE 'running'
        END AS status
    FROM e
),
cost AS (
    SELECT workflow_execution_id, sum(cost) AS function_cost, count(*) AS invocations
    FROM invocations
    WHERE workflow_execution_id IS NOT NULL
    GROUP BY workflow_execution_id
)
SELECT
    st.start_time,
    CASE WHEN status = 'running' THEN NULL ELSE last_seen END AS end_time,
    date_trunc('minute', st.start_time) AS minute,
    COALESCE(workflow_name, engine) AS workflow_name,
    st.workflow_execution_id,
    engine,
    service_name,
    cloud_provider,
    cloud_region,
    status,
    completed,
    CASE WHEN status = 'running' THEN NULL ELSE status = 'succeeded' END AS succeeded,
    CASE WHEN status = 'running' THEN NULL
         ELSE CAST(CAST(last_seen AS BIGINT) - CAST(st.start_time AS BIGINT) AS DOUBLE) / 1e6 END AS duration_ms,
    last_seen,
    steps,
    step_attempts,
    failed_steps,
    step_attempts - steps AS retries,
    CASE WHEN non_step_errors - CASE WHEN status = 'failed' AND COALESCE(last_step_failed, false) THEN 1 ELSE 0 END > 0
         THEN non_step_errors - CASE WHEN status = 'failed' AND COALESCE(last_step_failed, false) THEN 1 ELSE 0 END
         ELSE 0 END AS orchestrator_errors,
    step_attempts AS transitions,
    COALESCE(c.invocations, 0) AS invocations,
    COALESCE(c.function_cost, 0.0) AS function_cost,
    CAST(step_attempts AS DOUBLE) * slod_price_state_transition(engine) AS transition_cost,
    COALESCE(c.function_cost, 0.0) + CAST(step_attempts AS DOUBLE) * slod_price_state_transition(engine) AS cost
FROM st LEFT JOIN cost c ON st.workflow_execution_id = c.workflow_execution_id
"#,
};

pub(crate) const WORKFLOW_MINUTE: View = View {
    name: "workflow_minute",
    description: "per workflow per minute: executions, success rate, end-to-end P50/P95/P99, step \
                  failure and retry rates, orchestrator errors, cost per execution; from spans, \
                  or from AWS/States and Temporal metrics where no span describes that minute",
    sql: r#"
WITH s AS (
    SELECT minute, workflow_name, max(engine) AS engine,
        max(service_name) AS service_name, max(cloud_provider) AS cloud_provider, max(cloud_region) AS cloud_region,
        CAST(count(*) AS DOUBLE) AS executions,
        CAST(sum(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) AS DOUBLE) AS succeeded,
        CAST(sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS DOUBLE) AS failed,
        CAST(sum(CASE WHEN status = 'running' THEN 1 ELSE 0 END) AS DOUBLE) AS running,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
        percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms,
        CAST(sum(step_attempts) AS DOUBLE) AS step_attempts,
        CAST(sum(failed_steps) AS DOUBLE) AS failed_steps,
        CAST(sum(retries) AS DOUBLE) AS retries,
        CAST(sum(orchestrator_errors) AS DOUBLE) AS orchestrator_errors,
        CAST(sum(transitions) AS DOUBLE) AS transitions,
        sum(cost) AS cost
    FROM workflow_executions
    GROUP BY minute, workflow_name
),
ms AS (
    SELECT minute, COALESCE(state_machine, workflow_type) AS workflow_name,
        CASE WHEN state_machine IS NOT NULL THEN 'step_functions' ELSE 'temporal' END AS engine,
        max(cloud_provider) AS cloud_provider, max(cloud_region) AS cloud_region,
        sum(CASE WHEN name IN ('executionsstarted') THEN increase END) AS started,
        sum(CASE WHEN name IN ('executionssucceeded', 'temporal_workflow_completed') THEN increase END) AS succeeded,
        sum(CASE WHEN name IN ('executionsfailed', 'executionstimedout', 'executionsaborted',
                               'temporal_workflow_failed', 'temporal_workflow_canceled') THEN increase END) AS failed,
        sum(CASE WHEN name IN ('executionthrottled', 'executionsthrottled') THEN increase END) AS throttled,
        sum(CASE WHEN name = 'executiontime' THEN sample_sum END)
            / sum(CASE WHEN name = 'executiontime' THEN sample_count END) AS avg_ms
    FROM metric_samples
    WHERE state_machine IS NOT NULL OR (workflow_type IS NOT NULL AND name LIKE 'temporal_workflow_%')
    GROUP BY minute, COALESCE(state_machine, workflow_type),
        CASE WHEN state_machine IS NOT NULL THEN 'step_functions' ELSE 'temporal' END
),
mh AS (
    SELECT minute, workflow_type AS workflow_name,
        slod_histogram_quantile(0.5, explicit_bounds, bucket_counts) * max(ms_per_unit) AS p50_ms,
        slod_histogram_quantile(0.95, explicit_bounds, bucket_counts) * max(ms_per_unit) AS p95_ms,
        slod_histogram_quantile(0.99, explicit_bounds, bucket_counts) * max(ms_per_unit) AS p99_ms
    FROM metric_histograms
    WHERE name = 'temporal_workflow_endtoend_latency' AND workflow_type IS NOT NULL
    GROUP BY minute, workflow_type
),
m AS (
    SELECT ms.*, mh.p50_ms, mh.p95_ms, mh.p99_ms
    FROM ms
    LEFT JOIN mh ON ms.minute = mh.minute AND ms.workflow_name = mh.workflow_name
    LEFT JOIN s ON ms.minute = s.minute AND ms.workflow_name = s.workflow_name
    WHERE s.workflow_name IS NULL
),
merged AS (
    SELECT minute, workflow_name, engine, service_name, cloud_provider, cloud_region, 'spans' AS source,
        executions, succeeded, failed, running, p50_ms, p95_ms, p99_ms, step_attempts, failed_steps,
        retries, orchestrator_errors, transitions, cost
    FROM s
    UNION ALL
    SELECT minute, workflow_name, engine, CAST(NULL AS VARCHAR), cloud_provider, cloud_region, 'metrics',
        COALESCE(started, COALESCE(succeeded, 0) + COALESCE(failed, 0)), succeeded, failed, CAST(NULL AS DOUBLE),
        COALESCE(p50_ms, avg_ms), p95_ms, p99_ms, CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
        CAST(NULL AS DOUBLE), throttled, CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)
    FROM m
)
SELECT minute, workflow_name, engine, service_name, cloud_provider, cloud_region, source,
    executions, succeeded, failed, running,
    succeeded / NULLIF(COALESCE(succeeded, 0) + COALESCE(failed, 0), 0) AS success_rate,
    p50_ms, p95_ms, p99_ms,
    step_attempts, failed_steps,
    failed_steps / NULLIF(step_attempts, 0) AS step_failure_rate,
    retries,
    retries / NULLIF(step_attempts, 0) AS retry_rate,
    orchestrator_errors, transitions, cost,
    cost / NULLIF(executions, 0) AS cost_per_execution
FROM merged
"#,
};
