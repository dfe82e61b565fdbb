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
