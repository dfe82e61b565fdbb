//! The SQL that turns catalogue views into per-minute good/total counts.
//!
//! One query per *source* (function invocations, platform metrics, workflow executions, DLQ
//! depth), not per SLO: the per-function aggregate carries one column per distinct SLI
//! condition, and each SLO then picks its column and its functions in Rust. The cost of a tick
//! grows with functions × minutes recomputed, not with the number of SLOs.

use std::time::Duration;

use crate::spec::{Sli, SloSpec};

/// `TIMESTAMP '…'` literal for unix seconds (UTC).
pub(crate) fn ts(unix: i64) -> String {
    format!(
        "TIMESTAMP '{}'",
        crate::backtest::rfc3339(unix).trim_end_matches('Z')
    )
}

/// Latency thresholds named by the SLOs (milliseconds), deduplicated; `None` = the function's
/// configured `latency_threshold`.
pub(crate) fn thresholds(slos: &[SloSpec], workflow: bool) -> Vec<Option<u64>> {
    let mut out: Vec<Option<u64>> = Vec::new();
    for s in slos {
        let t = match (&s.sli, workflow) {
            (Sli::Latency { threshold }, false) | (Sli::WorkflowLatency { threshold }, true) => {
                threshold.map(|d: Duration| d.as_millis() as u64)
            }
            _ => continue,
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

pub(crate) fn threshold_column(t: Option<u64>) -> String {
    match t {
        Some(ms) => format!("fast_{ms}"),
        None => "fast_default".into(),
    }
}

/// How far before a recomputed range spans are read: the `invocations` view derives cold starts
/// as the first invocation seen per instance, so an instance idle for longer than this counts
/// cold again (Lambda reclaims idle environments well before an hour).
pub(crate) const INSTANCE_LOOKBACK: i64 = 3600;
/// How far after the range: spans of one invocation (host and worker, retries) end together.
pub(crate) const DEDUPE_AHEAD: i64 = 15 * 60;
/// How far before a recomputed range workflow spans are read: `workflow_executions` groups
/// spans by execution, so a time filter on its `end_time` cannot reach the scan, and unscoped
/// every tick would read every retained workflow span. An execution ending in the range is
/// derived from its spans of the 6 hours before the range; a longer one counts from its first
/// span in that window (a shorter duration than it had), its outcome from its last spans.
pub(crate) const WORKFLOW_LOOKBACK: i64 = 6 * 3600;

/// Per minute and function, from the `invocations` view of a context scoped to
/// `[from − INSTANCE_LOOKBACK, to + DEDUPE_AHEAD)`: the view's window functions (dedupe,
/// attempts, first invocation per instance) stop a time filter from reaching the scan, so the
/// unscoped view would read every retained span at every tick.
pub(crate) fn invocations(from: i64, to: i64, bucket: &str, thresholds: &[Option<u64>]) -> String {
    let mut fast = String::new();
    for t in thresholds {
        let limit = match t {
            Some(ms) => ms.to_string(),
            None => "slod_function_latency_threshold_ms(faas_name)".into(),
        };
        fast.push_str(&format!(
            ",\n  count(*) FILTER (WHERE duration_ms <= {limit}) AS {}",
            threshold_column(*t)
        ));
    }
    format!(
        "SELECT date_trunc('{bucket}', time) AS bucket, service_name, faas_name, cloud_provider, cloud_region,
  count(*) AS total,
  count(*) FILTER (WHERE NOT coalesce(is_error, false)) AS ok,
  count(*) FILTER (WHERE NOT coalesce(is_throttle, false)) AS not_throttled,
  count(*) FILTER (WHERE NOT coalesce(is_cold_start, false)) AS warm{fast}
FROM invocations
WHERE time >= {} AND time < {}
GROUP BY 1, 2, 3, 4, 5",
        ts(from),
        ts(to)
    )
}

/// Per minute and function, from platform metrics (used only where no span describes that
/// function in that minute: spans win, the two are never summed).
pub(crate) fn function_metrics(from: i64, to: i64, bucket: &str) -> String {
    format!(
        "SELECT date_trunc('{bucket}', minute) AS bucket, service_name, faas_name, cloud_provider, cloud_region,
  sum(invocations) AS invocations, sum(errors) AS errors, sum(throttles) AS throttles,
  sum(cold_starts) AS cold_starts
FROM function_metrics_1m
WHERE minute >= {} AND minute < {}
GROUP BY 1, 2, 3, 4, 5",
        ts(from),
        ts(to)
    )
}

/// Per minute and function, from `faas.invoke_duration` histograms (the OTel FaaS metric):
/// all invocations, and per latency threshold those at most that long (exact at a bucket
/// bound, interpolated inside a bucket).
pub(crate) fn duration_histograms(from: i64, to: i64, bucket: &str, thresholds: &[Option<u64>]) -> String {
    let fast = histogram_fast(thresholds, "function_name");
    format!(
        "SELECT date_trunc('{bucket}', minute) AS bucket,
  max(CASE WHEN service_name NOT LIKE 'unknown_service%' THEN service_name END) AS service_name,
  function_name AS faas_name, max(cloud_provider) AS cloud_provider, max(cloud_region) AS cloud_region,
  CAST(sum(count) AS DOUBLE) AS total{fast}
FROM metric_histograms
WHERE name = 'faas.invoke_duration' AND function_name IS NOT NULL AND bucket_counts IS NOT NULL
  AND minute >= {} AND minute < {}
GROUP BY 1, 3",
        ts(from),
        ts(to)
    )
}

/// Per minute and Temporal workflow type, from `temporal_workflow_endtoend_latency`
/// histograms: finished executions, and per threshold those at most that long.
pub(crate) fn workflow_histograms(from: i64, to: i64, bucket: &str, thresholds: &[Option<u64>]) -> String {
    let fast = histogram_fast(thresholds, "workflow_type");
    format!(
        "SELECT date_trunc('{bucket}', minute) AS bucket, workflow_type AS workflow_name,
  max(cloud_provider) AS cloud_provider, max(cloud_region) AS cloud_region,
  CAST(sum(count) AS DOUBLE) AS total{fast}
FROM metric_histograms
WHERE name = 'temporal_workflow_endtoend_latency' AND workflow_type IS NOT NULL
  AND bucket_counts IS NOT NULL AND minute >= {} AND minute < {}
GROUP BY 1, 2",
        ts(from),
        ts(to)
    )
}

/// One `fast_*` column per threshold: the histogram's observations at most that long
/// (`None`: the configured `latency_threshold` of the `subject` column's function or workflow).
fn histogram_fast(thresholds: &[Option<u64>], subject: &str) -> String {
    let mut fast = String::new();
    for t in thresholds {
        let limit = match t {
            Some(ms) => format!("CAST({ms} AS DOUBLE)"),
            None => format!("CAST(slod_function_latency_threshold_ms({subject}) AS DOUBLE)"),
        };
        fast.push_str(&format!(
            ",\n  sum(slod_histogram_count_le(explicit_bounds, bucket_counts, {limit} / ms_per_unit)) AS {}",
            threshold_column(*t)
        ));
    }
    fast
}

/// Per minute (of completion) and workflow, from the `workflow_executions` view.
pub(crate) fn workflows(from: i64, to: i64, bucket: &str, thresholds: &[Option<u64>]) -> String {
    let mut fast = String::new();
    for t in thresholds {
        let limit = match t {
            Some(ms) => ms.to_string(),
            None => "slod_function_latency_threshold_ms(workflow_name)".into(),
        };
        fast.push_str(&format!(
            ",\n  count(*) FILTER (WHERE duration_ms <= {limit}) AS {}",
            threshold_column(*t)
        ));
    }
    format!(
        "SELECT date_trunc('{bucket}', end_time) AS bucket, workflow_name, service_name, cloud_provider, cloud_region,
  count(*) AS total,
  count(*) FILTER (WHERE succeeded) AS ok{fast}
FROM workflow_executions
WHERE succeeded IS NOT NULL AND end_time >= {} AND end_time < {}
GROUP BY 1, 2, 3, 4, 5",
        ts(from),
        ts(to)
    )
}

/// Per minute and workflow, from the orchestrators' counters (Step Functions
/// `ExecutionsSucceeded`/`Failed`/`TimedOut`/`Aborted`, Temporal `temporal_workflow_completed`/
/// `failed`/`canceled`): finished executions and the succeeded ones. The same names as the
/// `workflow_minute` view's metrics side.
pub(crate) fn workflow_metrics(from: i64, to: i64, bucket: &str) -> String {
    format!(
        "SELECT date_trunc('{bucket}', minute) AS bucket, COALESCE(state_machine, workflow_type) AS workflow_name,
  max(cloud_provider) AS cloud_provider, max(cloud_region) AS cloud_region,
  sum(CASE WHEN name IN ('executionssucceeded', 'temporal_workflow_completed') THEN increase END) AS ok,
  sum(CASE WHEN name IN ('executionssucceeded', 'temporal_workflow_completed', 'executionsfailed',
        'executionstimedout', 'executionsaborted', 'temporal_workflow_failed', 'temporal_workflow_canceled')
      THEN increase END) AS total
FROM metric_samples
WHERE (state_machine IS NOT NULL OR (workflow_type IS NOT NULL AND name LIKE 'temporal_workflow_%'))
  AND minute >= {} AND minute < {}
GROUP BY 1, 2",
        ts(from),
        ts(to)
    )
}

/// Per minute and dead-letter queue: the deepest reading.
pub(crate) fn dlq(from: i64, to: i64) -> String {
    format!(
        "SELECT minute AS bucket, queue, cloud_provider, cloud_region, max(depth) AS depth
FROM queue_depth_1m
WHERE is_dlq AND minute >= {} AND minute < {}
GROUP BY 1, 2, 3, 4",
        ts(from),
        ts(to)
    )
}

/// A custom SLI's SQL restricted to a range.
pub(crate) fn custom(sql: &str, from: i64, to: i64) -> String {
    format!(
        "SELECT * FROM ({sql}) AS custom_sli WHERE minute >= {} AND minute < {}",
        ts(from),
        ts(to)
    )
}

/// Minutes that received data since `since` (unix ns of ingest), across every table.
pub(crate) fn dirty_minutes(since_ns: i64, until_ns: i64) -> String {
    let range = format!(
        "ingest_time >= to_timestamp_nanos({since_ns}) AND ingest_time < to_timestamp_nanos({until_ns})"
    );
    format!(
        "SELECT DISTINCT date_trunc('minute', start_time) AS minute FROM spans WHERE {range}
UNION SELECT DISTINCT date_trunc('minute', time) AS minute FROM metric_points WHERE {range}
UNION SELECT DISTINCT date_trunc('minute', time) AS minute FROM metric_distributions WHERE {range}"
    )
}
