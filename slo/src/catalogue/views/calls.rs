//! Outgoing calls: latency and failures per downstream, 401/403s, messages sent to DLQs.

use super::View;

pub(crate) const DOWNSTREAM_CALLS_1M: View = View {
    name: "downstream_calls_1m",
    description: "per function per minute per downstream (CLIENT and PRODUCER spans by \
                  peer.service / server.address / db.system / rpc.service): calls, errors, \
                  throttles and exact P50/P95/P99 latency",
    sql: r#"
WITH c AS (
    SELECT date_trunc('minute', start_time) AS minute, service_name,
        COALESCE(faas_name, service_name) AS faas_name,
        COALESCE(attributes['peer.service'], attributes['server.address'], attributes['net.peer.name'],
                 attributes['faas.invoked_name'], attributes['db.system.name'], attributes['db.system'],
                 attributes['rpc.service'], messaging_destination_name, name) AS downstream,
        COALESCE(attributes['db.system.name'], attributes['db.system'], attributes['rpc.system'],
                 messaging_system, CASE WHEN http_request_method IS NOT NULL THEN 'http' END) AS system,
        CAST(duration_ns AS DOUBLE) / 1e6 AS duration_ms, is_error, is_throttle
    FROM spans
    WHERE kind IN (3, 4)
)
SELECT minute, service_name, faas_name, downstream, system,
    count(*) AS calls,
    sum(CASE WHEN is_error THEN 1 ELSE 0 END) AS errors,
    sum(CASE WHEN is_throttle THEN 1 ELSE 0 END) AS throttles,
    avg(duration_ms) AS avg_ms,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms,
    max(duration_ms) AS max_ms
FROM c
GROUP BY minute, service_name, faas_name, downstream, system
"#,
};

pub(crate) const AUTH_FAILURES_1M: View = View {
    name: "auth_failures_1m",
    description: "per function per minute: 401/403 answers the function gave (inbound) and got \
                  from its downstreams (outbound)",
    sql: r#"
SELECT minute, service_name, faas_name, 'inbound' AS direction, CAST(NULL AS VARCHAR) AS downstream,
    http_response_status_code AS status_code, count(*) AS failures
FROM invocations
WHERE http_response_status_code IN (401, 403)
GROUP BY minute, service_name, faas_name, http_response_status_code
UNION ALL
SELECT date_trunc('minute', start_time), service_name, COALESCE(faas_name, service_name), 'outbound',
    COALESCE(attributes['peer.service'], attributes['server.address'], attributes['net.peer.name'], name),
    http_response_status_code, count(*)
FROM spans
WHERE kind = 3 AND http_response_status_code IN (401, 403)
GROUP BY date_trunc('minute', start_time), service_name, COALESCE(faas_name, service_name),
    COALESCE(attributes['peer.service'], attributes['server.address'], attributes['net.peer.name'], name),
    http_response_status_code
"#,
};

pub(crate) const DLQ_MESSAGES_1M: View = View {
    name: "dlq_messages_1m",
    description: "per function per minute per dead-letter queue: messages the function sent to it \
                  (PRODUCER/send spans) or dead-lettered (Azure Service Bus settlement)",
    sql: r#"
SELECT date_trunc('minute', start_time) AS minute, service_name, COALESCE(faas_name, service_name) AS faas_name,
    messaging_destination_name AS queue,
    sum(COALESCE(TRY_CAST(attributes['messaging.batch.message_count'] AS BIGINT), 1)) AS messages
FROM spans
WHERE messaging_destination_name IS NOT NULL
  AND (
        (slod_is_dlq(messaging_destination_name)
         AND (kind = 4 OR messaging_operation IN ('send', 'publish', 'create')))
        OR attributes['messaging.operation.name'] = 'dead_letter'
        OR attributes['messaging.servicebus.disposition_status'] = 'dead_letter'
      )
GROUP BY date_trunc('minute', start_time), service_name, COALESCE(faas_name, service_name),
    messaging_destination_name
"#,
};
