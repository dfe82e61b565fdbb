//! `invocations`: one row per function invocation, from invocation spans.

use super::View;

// `inv` names the span columns it keeps: carried through the sorts below, `s.*` would move every
// span's attribute maps, events and links. Most invocations have one span: only spans sharing a
// dedupe key go through the window functions (attempts, the representative span) — partitions
// of one row cost as much there as larger ones — and each attempt's flags are a GROUP BY.
// A span alone under its key is its own attempt 1 and its own flags.
pub(crate) const INVOCATIONS: View = View {
    name: "invocations",
    description: "one row per function invocation (deduplicated invocation spans) with derived \
                  error, throttle, cold-start and timeout flags, configured memory and cost",
    sql: r#"
WITH inv AS (
    SELECT start_time, end_time, duration_ns, trace_id, span_id, kind, service_name, service_version,
        cloud_provider, cloud_platform, cloud_region, cloud_account_id, faas_invocation_id, faas_name,
        faas_version, faas_trigger, faas_max_memory_mb, faas_coldstart, is_error, is_throttle,
        error_type, exception_type, status_message, http_response_status_code, http_route,
        messaging_system, messaging_destination_name, workflow_name, workflow_execution_id, workflow_step,
        COALESCE(faas_invocation_id, encode(trace_id, 'hex') || encode(span_id, 'hex')) AS dedupe_key,
        COALESCE(faas_instance, resource_attributes['service.instance.id']) AS instance_key,
        COALESCE(resource_attributes['aws.lambda.initialization_type'], attributes['aws.lambda.initialization_type'])
            = 'provisioned-concurrency' AS provisioned
    FROM spans s
    WHERE is_invocation
),
keys AS (
    SELECT dedupe_key, count(*) AS spans FROM inv GROUP BY dedupe_key
),
tagged AS (
    SELECT inv.*, keys.spans FROM inv JOIN keys ON inv.dedupe_key = keys.dedupe_key
),
islands AS (
    SELECT *,
        CASE WHEN start_time > max(end_time) OVER (PARTITION BY dedupe_key ORDER BY start_time, span_id
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
             THEN 1 ELSE 0 END AS new_attempt
    FROM tagged
    WHERE spans > 1
),
attempts AS (
    SELECT *,
        1 + sum(new_attempt) OVER (PARTITION BY dedupe_key ORDER BY start_time, span_id
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS attempt
    FROM islands
),
groups AS (
    SELECT dedupe_key, attempt,
        bool_or(is_error) AS any_error,
        bool_or(is_throttle) AS any_throttle,
        bool_or(faas_coldstart) AS any_coldstart,
        max(faas_name) AS any_faas_name,
        max(faas_version) AS any_faas_version,
        max(instance_key) AS any_instance,
        max(faas_trigger) AS any_trigger,
        max(faas_max_memory_mb) AS any_memory,
        max(error_type) AS any_error_type,
        max(exception_type) AS any_exception_type,
        max(status_message) AS any_status_message,
        max(http_response_status_code) AS any_http_status,
        max(workflow_name) AS any_workflow_name,
        max(workflow_execution_id) AS any_workflow_execution_id,
        max(workflow_step) AS any_workflow_step
    FROM attempts
    GROUP BY dedupe_key, attempt
),
firsts AS (
    SELECT *,
        row_number() OVER (PARTITION BY dedupe_key, attempt
            ORDER BY CASE kind WHEN 2 THEN 0 WHEN 5 THEN 1 ELSE 2 END, duration_ns DESC, start_time, span_id) AS rn
    FROM attempts
),
ranked AS (
    SELECT f.start_time,
        f.end_time,
        f.duration_ns,
        f.trace_id,
        f.span_id,
        f.service_name,
        f.service_version,
        f.cloud_provider,
        f.cloud_platform,
        f.cloud_region,
        f.cloud_account_id,
        f.faas_invocation_id,
        f.faas_name,
        f.faas_version,
        f.instance_key,
        f.faas_trigger,
        f.faas_max_memory_mb,
        f.error_type,
        f.exception_type,
        f.status_message,
        f.http_response_status_code,
        f.http_route,
        f.messaging_system,
        f.messaging_destination_name,
        f.workflow_name,
        f.workflow_execution_id,
        f.workflow_step,
        f.provisioned,
        f.attempt, g.any_error, g.any_throttle, g.any_coldstart, g.any_faas_name, g.any_faas_version,
        g.any_instance, g.any_trigger, g.any_memory, g.any_error_type, g.any_exception_type,
        g.any_status_message, g.any_http_status, g.any_workflow_name, g.any_workflow_execution_id,
        g.any_workflow_step
    FROM firsts f JOIN groups g ON f.dedupe_key = g.dedupe_key AND f.attempt = g.attempt
    WHERE f.rn = 1
    UNION ALL
    SELECT start_time, end_time, duration_ns, trace_id, span_id, service_name, service_version,
        cloud_provider, cloud_platform, cloud_region, cloud_account_id, faas_invocation_id, faas_name,
        faas_version, instance_key, faas_trigger, faas_max_memory_mb, error_type, exception_type,
        status_message, http_response_status_code, http_route, messaging_system,
        messaging_destination_name, workflow_name, workflow_execution_id, workflow_step, provisioned,
        CAST(1 AS BIGINT) AS attempt, is_error AS any_error, is_throttle AS any_throttle,
        faas_coldstart AS any_coldstart, faas_name AS any_faas_name,
        faas_version AS any_faas_version, instance_key AS any_instance, faas_trigger AS any_trigger,
        faas_max_memory_mb AS any_memory, error_type AS any_error_type,
        exception_type AS any_exception_type, status_message AS any_status_message,
        http_response_status_code AS any_http_status, workflow_name AS any_workflow_name,
        workflow_execution_id AS any_workflow_execution_id, workflow_step AS any_workflow_step
    FROM tagged
    WHERE spans = 1
),
one AS (
    SELECT
        start_time, end_time, duration_ns, ranked.trace_id, span_id, service_name, service_version,
        cloud_provider, cloud_platform, cloud_region, cloud_account_id, attempt, faas_invocation_id,
        COALESCE(faas_name, any_faas_name, service_name) AS fn,
        COALESCE(faas_version, any_faas_version) AS faas_version,
        COALESCE(instance_key, any_instance) AS faas_instance,
        COALESCE(faas_trigger, any_trigger) AS faas_trigger,
        COALESCE(faas_max_memory_mb, any_memory) AS faas_max_memory_mb,
        COALESCE(error_type, any_error_type) AS error_type0,
        COALESCE(exception_type, any_exception_type) AS exception_type,
        COALESCE(status_message, any_status_message) AS status_message,
        COALESCE(http_response_status_code, any_http_status) AS http_response_status_code,
        COALESCE(workflow_name, any_workflow_name) AS workflow_name,
        COALESCE(workflow_execution_id, any_workflow_execution_id) AS workflow_execution_id,
        COALESCE(workflow_step, any_workflow_step) AS workflow_step,
        http_route, messaging_system, messaging_destination_name,
        any_error, any_throttle, any_coldstart, provisioned,
        init.trace_id IS NOT NULL AS init_span_cold
    FROM ranked
    LEFT JOIN (SELECT DISTINCT trace_id AS trace_id FROM spans
               WHERE faas_coldstart AND NOT is_invocation AND name LIKE 'init%') init
        ON ranked.trace_id = init.trace_id
),
flagged AS (
    SELECT *,
        row_number() OVER (PARTITION BY fn, service_name, faas_instance ORDER BY start_time, span_id) AS instance_seq,
        CAST(duration_ns AS DOUBLE) / 1e6 AS duration_ms,
        COALESCE(CAST(duration_ns AS DOUBLE) / 1e6 >= slod_function_timeout_ms(fn), false)
            OR COALESCE(status_message LIKE 'Task timed out%', false)
            OR COALESCE(status_message LIKE '%Timeout value of % was exceeded%', false)
            OR COALESCE(lower(error_type0) = 'timeout', false) AS timed_out
    FROM one
)
SELECT
    start_time AS time,
    date_trunc('minute', start_time) AS minute,
    end_time,
    service_name,
    fn AS faas_name,
    service_version,
    cloud_provider,
    cloud_platform,
    cloud_region,
    cloud_account_id,
    faas_version,
    faas_instance,
    faas_trigger,
    faas_invocation_id,
    trace_id,
    span_id,
    attempt,
    duration_ns,
    duration_ms,
    COALESCE(any_error, false) OR timed_out AS is_error,
    CASE WHEN any_error OR timed_out OR any_throttle THEN
        COALESCE(error_type0, exception_type, CASE WHEN timed_out THEN 'timeout' END,
                 CASE WHEN http_response_status_code >= 400 THEN CAST(http_response_status_code AS VARCHAR) END,
                 '_OTHER')
    END AS error_type,
    exception_type,
    status_message,
    COALESCE(any_throttle, false) AS is_throttle,
    CASE
        WHEN any_coldstart IS NOT NULL THEN any_coldstart
        WHEN init_span_cold THEN true
        WHEN provisioned THEN false
        WHEN faas_instance IS NOT NULL THEN instance_seq = 1
        ELSE false
    END AS is_cold_start,
    CASE
        WHEN any_coldstart IS NOT NULL THEN 'reported'
        WHEN init_span_cold THEN 'init_span'
        WHEN provisioned THEN 'provisioned'
        WHEN faas_instance IS NOT NULL THEN 'first_on_instance'
        ELSE 'unknown'
    END AS cold_start_source,
    timed_out AS is_timeout,
    slod_function_timeout_ms(fn) AS timeout_ms,
    duration_ms <= slod_function_latency_threshold_ms(fn) AS within_latency_threshold,
    http_route,
    http_response_status_code,
    messaging_system,
    messaging_destination_name,
    faas_max_memory_mb,
    slod_function_memory_mb(fn, faas_max_memory_mb) AS memory_mb,
    ceil(duration_ms) / 1000.0 * CAST(slod_function_memory_mb(fn, faas_max_memory_mb) AS DOUBLE) / 1024.0
        AS gb_seconds,
    COALESCE(ceil(duration_ms) / 1000.0 * CAST(slod_function_memory_mb(fn, faas_max_memory_mb) AS DOUBLE)
        / 1024.0 * slod_price_gb_second(cloud_platform), 0.0) + slod_price_request(cloud_platform) AS cost,
    workflow_name,
    workflow_execution_id,
    workflow_step
FROM flagged
"#,
};
