//! Platform metrics (`metric_points`, `metric_distributions`) normalised once: counter
//! increases per point whatever the temporality, then per function and per queue minutes.

use super::View;

pub(crate) const METRIC_SAMPLES: View = View {
    name: "metric_samples",
    description: "every gauge, sum and summary point with its counter increase (delta as is, \
                  cumulative as the increase since the series' previous point, resets handled) \
                  and the dimensions the catalogue groups by",
    sql: r#"
WITH points AS (
    SELECT time, start_time, metric_name, metric_type, unit, series_id, service_name, faas_name,
        cloud_provider, cloud_platform, cloud_region, faas_max_memory_mb, attributes, temporality, is_monotonic, value,
        CAST(NULL AS DOUBLE) AS sample_count, CAST(NULL AS DOUBLE) AS sample_sum,
        row_number() OVER (PARTITION BY series_id, time ORDER BY ingest_time) AS dup
    FROM metric_points
    WHERE NOT isnan(value)
),
counters AS (
    SELECT *,
        lag(value) OVER (PARTITION BY series_id ORDER BY time) AS prev_value,
        lag(start_time) OVER (PARTITION BY series_id ORDER BY time) AS prev_start
    FROM points
    WHERE dup = 1
),
summaries AS (
    SELECT time, start_time, metric_name, metric_type, unit, series_id, service_name, faas_name,
        cloud_provider, cloud_platform, cloud_region, faas_max_memory_mb, attributes, temporality,
        CAST(NULL AS BOOLEAN) AS is_monotonic,
        max AS value, CAST(count AS DOUBLE) AS sample_count, sum AS sample_sum,
        row_number() OVER (PARTITION BY series_id, time ORDER BY ingest_time) AS dup
    FROM metric_distributions
    WHERE metric_type = 'summary'
),
unified AS (
    SELECT time, start_time, metric_name, metric_type, unit, series_id, service_name, faas_name,
        cloud_provider, cloud_platform, cloud_region, faas_max_memory_mb, attributes, temporality, is_monotonic,
        CASE
            WHEN metric_type = 'sum' AND COALESCE(is_monotonic, true) AND temporality = 'cumulative' THEN
                CASE
                    WHEN prev_value IS NULL THEN CASE WHEN start_time IS NOT NULL THEN value END
                    WHEN value < prev_value THEN value
                    WHEN start_time IS NOT NULL AND prev_start IS NOT NULL AND start_time <> prev_start THEN value
                    ELSE value - prev_value
                END
            WHEN metric_type = 'sum' AND COALESCE(is_monotonic, true) THEN value
        END AS increase,
        value, sample_count, sample_sum, time AS bucket_time
    FROM counters
    UNION ALL
    SELECT time, start_time, metric_name, metric_type, unit, series_id, service_name, faas_name,
        cloud_provider, cloud_platform, cloud_region, faas_max_memory_mb, attributes, temporality, is_monotonic,
        sample_sum AS increase, value, sample_count, sample_sum,
        -- CloudWatch summaries cover [start_time, time): they describe the start's minute.
        COALESCE(start_time, time) AS bucket_time
    FROM summaries
    WHERE dup = 1
)
SELECT
    time,
    date_trunc('minute', bucket_time) AS minute,
    metric_name,
    lower(regexp_replace(metric_name, '^.*/', '')) AS name,
    CASE WHEN metric_name LIKE 'amazonaws.com/%'
         THEN regexp_replace(regexp_replace(metric_name, '^amazonaws.com/', ''), '/[^/]*$', '')
         ELSE attributes['Namespace'] END AS namespace,
    metric_type,
    unit,
    temporality,
    series_id,
    service_name,
    COALESCE(attributes['FunctionName'], attributes['faas.name'], faas_name) AS function_name,
    COALESCE(attributes['FunctionName'], attributes['faas.name']) IS NOT NULL AS function_from_dimension,
    COALESCE(attributes['QueueName'], attributes['queuename'], attributes['queue_name'],
             attributes['subscription_id'], attributes['messaging.destination.name']) AS queue,
    regexp_replace(attributes['StateMachineArn'], '^.*:', '') AS state_machine,
    attributes['workflow_type'] AS workflow_type,
    attributes['Resource'] IS NOT NULL OR attributes['ExecutedVersion'] IS NOT NULL AS is_version_series,
    cloud_provider,
    CASE WHEN metric_name LIKE 'amazonaws.com/AWS/Lambda/%' OR attributes['Namespace'] = 'AWS/Lambda' THEN 'aws_lambda'
         ELSE cloud_platform END AS cloud_platform,
    cloud_region,
    faas_max_memory_mb,
    increase,
    value,
    sample_count,
    sample_sum
FROM unified
"#,
};

pub(crate) const METRIC_HISTOGRAMS: View = View {
    name: "metric_histograms",
    description: "every explicit-bucket histogram point as the increase since the series' previous \
                  point (count, sum, buckets), durations converted to ms",
    sql: r#"
WITH h AS (
    SELECT *,
        row_number() OVER (PARTITION BY series_id, time ORDER BY ingest_time) AS dup
    FROM metric_distributions
    WHERE metric_type = 'histogram'
),
l AS (
    SELECT *,
        lag(count) OVER (PARTITION BY series_id ORDER BY time) AS prev_count,
        lag(sum) OVER (PARTITION BY series_id ORDER BY time) AS prev_sum,
        lag(bucket_counts) OVER (PARTITION BY series_id ORDER BY time) AS prev_buckets,
        lag(start_time) OVER (PARTITION BY series_id ORDER BY time) AS prev_start
    FROM h
    WHERE dup = 1
),
d AS (
    SELECT *,
        temporality = 'cumulative' AND prev_count IS NOT NULL AND count >= prev_count
            AND NOT (start_time IS NOT NULL AND prev_start IS NOT NULL AND start_time <> prev_start) AS continues
    FROM l
)
SELECT
    time,
    date_trunc('minute', time) AS minute,
    metric_name,
    lower(regexp_replace(metric_name, '^.*/', '')) AS name,
    unit,
    temporality,
    series_id,
    service_name,
    COALESCE(attributes['FunctionName'], attributes['faas.name'], faas_name) AS function_name,
    attributes['workflow_type'] AS workflow_type,
    cloud_provider,
    cloud_region,
    CASE WHEN temporality = 'cumulative' AND prev_count IS NULL AND start_time IS NULL THEN 0
         WHEN continues THEN count - prev_count ELSE count END AS count,
    CASE WHEN temporality = 'cumulative' AND prev_count IS NULL AND start_time IS NULL THEN 0.0
         WHEN continues THEN sum - prev_sum ELSE sum END AS sum,
    CASE WHEN temporality = 'cumulative' THEN NULL ELSE max END AS max,
    explicit_bounds,
    CASE WHEN temporality = 'cumulative' AND prev_count IS NULL AND start_time IS NULL THEN NULL
         WHEN continues THEN slod_bucket_delta(bucket_counts, prev_buckets) ELSE bucket_counts END AS bucket_counts,
    CASE lower(COALESCE(unit, ''))
        WHEN 's' THEN 1000.0 WHEN 'ms' THEN 1.0 WHEN 'us' THEN 0.001 WHEN 'ns' THEN 0.000001
        ELSE CASE WHEN lower(regexp_replace(metric_name, '^.*/', '')) LIKE 'temporal%' THEN 1.0 ELSE 1000.0 END
    END AS ms_per_unit
FROM d
"#,
};

pub(crate) const FUNCTION_METRICS_1M: View = View {
    name: "function_metrics_1m",
    description: "per function per minute from platform metrics: CloudWatch AWS/Lambda and the \
                  OTel FaaS metrics (faas.invocations, faas.errors, faas.invoke_duration, …)",
    sql: r#"
WITH s AS (
    SELECT * FROM metric_samples
    WHERE function_name IS NOT NULL AND NOT is_version_series
      AND (namespace IS NULL OR lower(namespace) = 'aws/lambda')
),
agg AS (
    SELECT minute, function_name AS faas_name,
        max(CASE WHEN NOT function_from_dimension AND service_name NOT LIKE 'unknown_service%' THEN service_name END)
            AS service_name,
        max(cloud_provider) AS cloud_provider,
        max(cloud_platform) AS cloud_platform,
        max(cloud_region) AS cloud_region,
        max(faas_max_memory_mb) AS faas_max_memory_mb,
        sum(CASE WHEN name = 'invocations' THEN increase END) AS cw_invocations,
        sum(CASE WHEN name = 'errors' THEN increase END) AS cw_errors,
        sum(CASE WHEN name = 'faas.invocations' THEN increase END) AS otel_successes,
        sum(CASE WHEN name = 'faas.errors' THEN increase END) AS otel_errors,
        sum(CASE WHEN name = 'faas.timeouts' THEN increase END) AS timeouts,
        sum(CASE WHEN name IN ('throttles', 'faas.throttles') THEN increase END) AS throttles,
        sum(CASE WHEN name IN ('faas.coldstarts', 'coldstart') THEN increase END) AS cold_starts,
        sum(CASE WHEN name = 'duration' THEN sample_count END) AS cw_duration_count,
        sum(CASE WHEN name = 'duration' THEN sample_sum END) AS cw_duration_sum_ms,
        max(CASE WHEN name = 'duration' THEN value END) AS cw_duration_max_ms,
        max(CASE WHEN name IN ('concurrentexecutions', 'faas.concurrency') THEN value END) AS concurrency,
        max(CASE WHEN name = 'iteratorage' THEN value END) AS iterator_age_ms,
        sum(CASE WHEN name = 'deadlettererrors' THEN increase END) AS dead_letter_errors,
        sum(CASE WHEN name = 'asynceventsdropped' THEN increase END) AS async_events_dropped
    FROM s
    GROUP BY minute, function_name
),
hist AS (
    SELECT minute, function_name AS faas_name,
        sum(CASE WHEN name = 'faas.invoke_duration' THEN count END) AS h_count,
        sum(CASE WHEN name = 'faas.invoke_duration' THEN sum * ms_per_unit END) AS h_sum_ms,
        max(CASE WHEN name = 'faas.invoke_duration' THEN max * ms_per_unit END) AS h_max_ms,
        max(CASE WHEN name = 'faas.invoke_duration' THEN ms_per_unit END) AS h_ms,
        slod_histogram_quantile(0.5, CASE WHEN name = 'faas.invoke_duration' THEN explicit_bounds END,
                                CASE WHEN name = 'faas.invoke_duration' THEN bucket_counts END) AS h_p50,
        slod_histogram_quantile(0.95, CASE WHEN name = 'faas.invoke_duration' THEN explicit_bounds END,
                                CASE WHEN name = 'faas.invoke_duration' THEN bucket_counts END) AS h_p95,
        slod_histogram_quantile(0.99, CASE WHEN name = 'faas.invoke_duration' THEN explicit_bounds END,
                                CASE WHEN name = 'faas.invoke_duration' THEN bucket_counts END) AS h_p99,
        max(CASE WHEN name = 'faas.mem_usage' THEN max END) / 1e6 AS memory_used_max_mb
    FROM metric_histograms
    WHERE function_name IS NOT NULL
    GROUP BY minute, function_name
),
j AS (
    SELECT COALESCE(a.minute, h.minute) AS minute, COALESCE(a.faas_name, h.faas_name) AS faas_name,
        a.service_name, a.cloud_provider, a.cloud_platform, a.cloud_region, a.faas_max_memory_mb,
        a.cw_invocations, a.cw_errors, a.otel_successes, a.otel_errors, a.timeouts, a.throttles,
        a.cold_starts, a.cw_duration_count, a.cw_duration_sum_ms, a.cw_duration_max_ms, a.concurrency,
        a.iterator_age_ms, a.dead_letter_errors, a.async_events_dropped,
        h.h_count, h.h_sum_ms, h.h_max_ms, h.h_ms, h.h_p50, h.h_p95, h.h_p99, h.memory_used_max_mb
    FROM agg a FULL OUTER JOIN hist h ON a.minute = h.minute AND a.faas_name = h.faas_name
)
SELECT
    minute,
    COALESCE(service_name, faas_name) AS service_name,
    faas_name,
    cloud_provider,
    cloud_platform,
    cloud_region,
    faas_max_memory_mb,
    COALESCE(cw_invocations,
             CASE WHEN otel_successes IS NOT NULL OR otel_errors IS NOT NULL OR timeouts IS NOT NULL
                  THEN COALESCE(otel_successes, 0) + COALESCE(otel_errors, 0) + COALESCE(timeouts, 0) END)
        AS invocations,
    COALESCE(cw_errors,
             CASE WHEN otel_errors IS NOT NULL OR timeouts IS NOT NULL
                  THEN COALESCE(otel_errors, 0) + COALESCE(timeouts, 0) END) AS errors,
    timeouts,
    throttles,
    cold_starts,
    COALESCE(cw_duration_count, CAST(h_count AS DOUBLE)) AS duration_count,
    COALESCE(cw_duration_sum_ms, h_sum_ms) AS duration_sum_ms,
    COALESCE(cw_duration_sum_ms, h_sum_ms) / NULLIF(COALESCE(cw_duration_count, CAST(h_count AS DOUBLE)), 0)
        AS duration_avg_ms,
    COALESCE(cw_duration_max_ms, h_max_ms) AS duration_max_ms,
    h_p50 * h_ms AS duration_p50_ms,
    h_p95 * h_ms AS duration_p95_ms,
    h_p99 * h_ms AS duration_p99_ms,
    concurrency,
    iterator_age_ms,
    memory_used_max_mb,
    dead_letter_errors,
    async_events_dropped
FROM j
"#,
};

pub(crate) const QUEUE_DEPTH_1M: View = View {
    name: "queue_depth_1m",
    description: "per queue per minute: depth (max of the queue-depth gauges), age of the oldest \
                  message, and whether the queue is a dead-letter queue",
    sql: r#"
SELECT
    minute,
    queue,
    slod_is_dlq(queue) AS is_dlq,
    max(CASE WHEN name IN ('approximatenumberofmessagesvisible', 'num_undelivered_messages',
                           'activemessages', 'messaging.queue.depth') THEN value END) AS depth,
    max(CASE WHEN name IN ('approximateageofoldestmessage', 'oldest_unacked_message_age') THEN value END)
        AS oldest_message_age_s,
    max(CASE WHEN name = 'deadletteredmessages' THEN value END) AS dead_lettered_messages,
    max(cloud_provider) AS cloud_provider,
    max(cloud_region) AS cloud_region
FROM metric_samples
WHERE queue IS NOT NULL
  AND name IN ('approximatenumberofmessagesvisible', 'num_undelivered_messages', 'activemessages',
               'messaging.queue.depth', 'approximateageofoldestmessage', 'oldest_unacked_message_age',
               'deadletteredmessages')
GROUP BY minute, queue
"#,
};
