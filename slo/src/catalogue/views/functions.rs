//! Per function per minute: concurrency, retries, the merged `function_minute` (spans win
//! over platform metrics), errors by type, memory, cost, deployments.

use super::View;

pub(crate) const FUNCTION_CONCURRENCY_1M: View = View {
    name: "function_concurrency_1m",
    description: "per function per minute: the most invocations running at once (overlapping \
                  invocation spans, sampled at each invocation start)",
    sql: r#"
WITH ev AS (
    SELECT faas_name, service_name, time AS t, 1 AS delta FROM invocations
    UNION ALL
    SELECT faas_name, service_name, end_time AS t, -1 AS delta FROM invocations
),
run AS (
    SELECT faas_name, service_name, t, delta,
        sum(delta) OVER (PARTITION BY faas_name ORDER BY t, delta
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
    FROM ev
)
SELECT date_trunc('minute', t) AS minute, faas_name, max(service_name) AS service_name,
    max(running) AS max_concurrency
FROM run
WHERE delta = 1
GROUP BY date_trunc('minute', t), faas_name
"#,
};

pub(crate) const RETRIES_1M: View = View {
    name: "retries_1m",
    description: "per function per minute and kind: attempts beyond the first (async invocation \
                  retries, redelivered messages, re-run workflow steps, HTTP resends)",
    sql: r#"
WITH msg AS (
    SELECT COALESCE(faas_name, service_name) AS faas_name, service_name, trace_id, start_time,
        l['attributes']['messaging.message.id'] AS message_id
    FROM (SELECT faas_name, service_name, trace_id, start_time, unnest(links) AS l
          FROM spans WHERE kind = 5 OR is_invocation)
),
deliveries AS (
    SELECT faas_name, max(service_name) AS service_name, message_id, trace_id, min(start_time) AS start_time
    FROM msg
    WHERE message_id IS NOT NULL
    GROUP BY faas_name, message_id, trace_id
),
numbered AS (
    SELECT *, row_number() OVER (PARTITION BY faas_name, message_id ORDER BY start_time, trace_id) AS n
    FROM deliveries
),
steps AS (
    SELECT minute, service_name, faas_name,
        row_number() OVER (PARTITION BY workflow_execution_id, workflow_step ORDER BY time, span_id) AS n
    FROM invocations
    WHERE workflow_execution_id IS NOT NULL AND workflow_step IS NOT NULL
),
r AS (
    SELECT minute, service_name, faas_name, 'invocation' AS kind FROM invocations WHERE attempt > 1
    UNION ALL
    SELECT date_trunc('minute', start_time), service_name, faas_name, 'message' FROM numbered WHERE n > 1
    UNION ALL
    SELECT minute, service_name, faas_name, 'step' FROM steps WHERE n > 1
    UNION ALL
    SELECT date_trunc('minute', start_time), service_name, COALESCE(faas_name, service_name), 'http_resend'
    FROM spans
    WHERE kind = 3 AND TRY_CAST(attributes['http.request.resend_count'] AS BIGINT) > 0
)
SELECT minute, max(service_name) AS service_name, faas_name, kind, count(*) AS retries
FROM r
GROUP BY minute, faas_name, kind
"#,
};

pub(crate) const FUNCTION_MINUTE: View = View {
    name: "function_minute",
    description: "one row per function per minute: invocations, successes, errors, throttles, \
                  cold starts, timeouts, retries, P50/P95/P99 vs timeout, concurrency, cost; from \
                  spans, or from platform metrics where no span describes that function-minute",
    sql: r#"
WITH s AS (
    SELECT minute, faas_name,
        max(service_name) AS service_name,
        max(cloud_provider) AS cloud_provider,
        max(cloud_platform) AS cloud_platform,
        max(cloud_region) AS cloud_region,
        CAST(count(*) AS DOUBLE) AS invocations,
        CAST(sum(CASE WHEN is_error THEN 1 ELSE 0 END) AS DOUBLE) AS errors,
        CAST(sum(CASE WHEN is_throttle THEN 1 ELSE 0 END) AS DOUBLE) AS throttles,
        CAST(sum(CASE WHEN is_cold_start THEN 1 ELSE 0 END) AS DOUBLE) AS cold_starts,
        CAST(sum(CASE WHEN is_timeout THEN 1 ELSE 0 END) AS DOUBLE) AS timeouts,
        CAST(sum(CASE WHEN within_latency_threshold THEN 1 ELSE 0 END) AS DOUBLE) AS within_latency_threshold,
        CAST(sum(CASE WHEN http_response_status_code IN (401, 403) THEN 1 ELSE 0 END) AS DOUBLE) AS auth_failures,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
        percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms,
        avg(duration_ms) AS avg_ms,
        max(duration_ms) AS max_ms,
        sum(duration_ms) AS duration_sum_ms,
        max(timeout_ms) AS timeout_ms,
        max(memory_mb) AS memory_mb,
        sum(gb_seconds) AS gb_seconds
    FROM invocations
    GROUP BY minute, faas_name
),
m AS (
    SELECT f.*, slod_function_memory_mb(f.faas_name, f.faas_max_memory_mb) AS memory_mb
    FROM function_metrics_1m f
    LEFT JOIN s ON f.minute = s.minute AND f.faas_name = s.faas_name
    WHERE s.faas_name IS NULL AND f.invocations IS NOT NULL
),
retries AS (
    SELECT minute, faas_name, CAST(sum(retries) AS DOUBLE) AS retries FROM retries_1m GROUP BY minute, faas_name
),
merged AS (
    SELECT minute, faas_name, service_name, cloud_provider, cloud_platform, cloud_region, 'spans' AS source,
        invocations, errors, throttles, cold_starts, timeouts, within_latency_threshold, auth_failures,
        p50_ms, p95_ms, p99_ms, avg_ms, max_ms, duration_sum_ms, timeout_ms, memory_mb, gb_seconds
    FROM s
    UNION ALL
    SELECT minute, faas_name, service_name, cloud_provider, cloud_platform, cloud_region, 'metrics',
        invocations, errors, throttles, cold_starts, timeouts, CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
        duration_p50_ms, duration_p95_ms, duration_p99_ms, duration_avg_ms, duration_max_ms, duration_sum_ms,
        slod_function_timeout_ms(faas_name), memory_mb,
        duration_sum_ms / 1000.0 * CAST(memory_mb AS DOUBLE) / 1024.0
    FROM m
)
SELECT
    g.minute,
    g.service_name,
    g.faas_name,
    g.cloud_provider,
    g.cloud_platform,
    g.cloud_region,
    g.source,
    g.invocations,
    g.invocations - COALESCE(g.errors, 0) AS successes,
    g.errors,
    g.throttles,
    g.cold_starts,
    g.timeouts,
    COALESCE(r.retries, 0.0) AS retries,
    g.within_latency_threshold,
    g.auth_failures,
    g.p50_ms,
    g.p95_ms,
    g.p99_ms,
    g.avg_ms,
    g.max_ms,
    g.duration_sum_ms,
    g.timeout_ms,
    g.p99_ms / g.timeout_ms AS p99_timeout_ratio,
    CASE WHEN g.source = 'spans' THEN CAST(c.max_concurrency AS DOUBLE) ELSE fm.concurrency END AS max_concurrency,
    fm.iterator_age_ms,
    g.memory_mb,
    g.gb_seconds
FROM merged g
LEFT JOIN retries r ON g.minute = r.minute AND g.faas_name = r.faas_name
LEFT JOIN function_concurrency_1m c ON g.minute = c.minute AND g.faas_name = c.faas_name
LEFT JOIN function_metrics_1m fm ON g.minute = fm.minute AND g.faas_name = fm.faas_name
"#,
};

pub(crate) const FUNCTION_ERRORS_1M: View = View {
    name: "function_errors_1m",
    description: "per function per minute and error type: failed invocations (spans), or \
                  faas.timeouts / other errors from metrics where no span describes the minute",
    sql: r#"
SELECT minute, max(service_name) AS service_name, faas_name, error_type, 'spans' AS source,
    CAST(count(*) AS DOUBLE) AS errors
FROM invocations
WHERE is_error
GROUP BY minute, faas_name, error_type
UNION ALL
SELECT minute, service_name, faas_name, 'timeout', 'metrics', timeouts
FROM function_minute
WHERE source = 'metrics' AND timeouts > 0
UNION ALL
SELECT minute, service_name, faas_name, '_OTHER', 'metrics', errors - COALESCE(timeouts, 0)
FROM function_minute
WHERE source = 'metrics' AND errors - COALESCE(timeouts, 0) > 0
"#,
};

pub(crate) const MEMORY_1M: View = View {
    name: "memory_1m",
    description: "per function per minute: most memory used (faas.mem_usage, Lambda REPORT logs) \
                  against configured memory",
    sql: r#"
WITH l AS (
    SELECT date_trunc('minute', time) AS minute, COALESCE(faas_name, service_name) AS faas_name,
        CAST(regexp_match(body, 'Max Memory Used: ([0-9]+) MB')[1] AS DOUBLE) AS used_mb,
        CAST(regexp_match(body, 'Memory Size: ([0-9]+) MB')[1] AS BIGINT) AS size_mb,
        faas_max_memory_mb
    FROM logs
    WHERE body LIKE '%Max Memory Used:%'
),
lm AS (
    SELECT minute, faas_name, max(used_mb) AS used_mb, max(COALESCE(size_mb, faas_max_memory_mb)) AS size_mb
    FROM l GROUP BY minute, faas_name
),
mm AS (
    SELECT minute, faas_name, memory_used_max_mb AS used_mb, faas_max_memory_mb AS size_mb
    FROM function_metrics_1m WHERE memory_used_max_mb IS NOT NULL
),
sm AS (
    SELECT minute, faas_name, max(faas_max_memory_mb) AS size_mb FROM invocations GROUP BY minute, faas_name
),
j AS (
    SELECT COALESCE(lm.minute, mm.minute) AS minute, COALESCE(lm.faas_name, mm.faas_name) AS faas_name,
        lm.used_mb AS log_used, mm.used_mb AS metric_used, COALESCE(lm.size_mb, mm.size_mb) AS size_mb
    FROM lm FULL OUTER JOIN mm ON lm.minute = mm.minute AND lm.faas_name = mm.faas_name
)
SELECT j.minute, j.faas_name,
    slod_function_memory_mb(j.faas_name, COALESCE(j.size_mb, sm.size_mb)) AS configured_mb,
    greatest(j.log_used, j.metric_used) AS max_used_mb,
    greatest(j.log_used, j.metric_used)
        / CAST(slod_function_memory_mb(j.faas_name, COALESCE(j.size_mb, sm.size_mb)) AS DOUBLE) AS used_ratio,
    CASE WHEN j.log_used IS NOT NULL AND j.metric_used IS NOT NULL THEN 'logs+metrics'
         WHEN j.log_used IS NOT NULL THEN 'logs' ELSE 'metrics' END AS source
FROM j LEFT JOIN sm ON j.minute = sm.minute AND j.faas_name = sm.faas_name
"#,
};

pub(crate) const FUNCTION_COST_1M: View = View {
    name: "function_cost_1m",
    description: "per function per minute: GB-seconds × price + invocations × request price \
                  (prices from settings, per platform)",
    sql: r#"
SELECT minute, service_name, faas_name, cloud_platform, source, invocations, memory_mb, gb_seconds,
    gb_seconds * slod_price_gb_second(cloud_platform) AS compute_cost,
    invocations * slod_price_request(cloud_platform) AS request_cost,
    COALESCE(gb_seconds * slod_price_gb_second(cloud_platform), 0.0)
        + invocations * slod_price_request(cloud_platform) AS cost
FROM function_minute
"#,
};

pub(crate) const DEPLOYMENTS: View = View {
    name: "deployments",
    description: "each faas.version / service.version of a function with the first and last time \
                  it was seen, so dashboards can mark deployments",
    sql: r#"
WITH v AS (
    SELECT service_name, COALESCE(faas_name, service_name) AS faas_name, faas_version, service_version,
        max(cloud_provider) AS cloud_provider, max(cloud_region) AS cloud_region,
        min(start_time) AS first_seen, max(start_time) AS last_seen,
        count(*) AS spans,
        sum(CASE WHEN is_invocation THEN 1 ELSE 0 END) AS invocation_spans
    FROM spans
    WHERE faas_version IS NOT NULL OR service_version IS NOT NULL
    GROUP BY service_name, COALESCE(faas_name, service_name), faas_version, service_version
)
SELECT *,
    COALESCE(faas_version, service_version) AS version,
    last_seen = max(last_seen) OVER (PARTITION BY service_name, faas_name) AS is_latest
FROM v
"#,
};
