//! `metric_samples`, `metric_histograms`, `function_metrics_1m`, `queue_depth_1m`.

use slod_storage::Table;

use super::*;
use crate::catalogue::CatalogueSettings;

/// A `metric_points` row of series `series` at minute `m` + 30 s.
pub(crate) fn point(name: &'static str, series: i64, m: i64, value: f64, kind: &'static str) -> Row {
    vec![
        ("time", V::T(at(m, 30.0))),
        ("metric_name", V::S(name)),
        ("metric_type", V::S(kind)),
        ("series_id", V::I(series)),
        ("service_name", V::S("unknown_service")),
        ("value", V::F(value)),
    ]
}

/// A counter point of the Lambda layer's function `api` (faas.name on the resource).
fn api(name: &'static str, series: i64, m: i64, value: f64, temporality: &'static str, start_m: i64) -> Row {
    with(
        point(name, series, m, value, "sum"),
        vec![
            ("service_name", V::S("api")),
            ("faas_name", V::S("api")),
            ("cloud_provider", V::S("aws")),
            ("cloud_region", V::S("eu-west-1")),
            ("temporality", V::S(temporality)),
            ("is_monotonic", V::B(true)),
            ("start_time", V::T(at(start_m, 0.0))),
        ],
    )
}

/// A CloudWatch Metric Streams summary (`amazonaws.com/AWS/<ns>/<name>`) at minute `m`.
pub(crate) fn cw(
    name: &'static str,
    series: i64,
    m: i64,
    dims: Vec<(&'static str, String)>,
    stats: (u64, f64, f64),
) -> Row {
    let (count, sum, max) = stats;
    vec![
        ("time", V::T(at(m, 60.0))),
        ("start_time", V::T(at(m, 0.0))),
        ("metric_name", V::S(name)),
        ("metric_type", V::S("summary")),
        ("series_id", V::I(series)),
        ("service_name", V::S("unknown_service")),
        ("cloud_provider", V::S("aws")),
        ("cloud_region", V::S("eu-west-1")),
        ("count", V::I(count as i64)),
        ("sum", V::F(sum)),
        ("max", V::F(max)),
        ("attributes", V::Map(dims)),
        ("quantiles", V::Quantiles(vec![(0.0, 0.0), (1.0, max)])),
    ]
}

pub(crate) fn histogram(
    fname: &'static str,
    series: i64,
    m: i64,
    temporality: &'static str,
    counts: Vec<u64>,
    sum: f64,
) -> Row {
    let n: u64 = counts.iter().sum();
    let bounds = if counts.len() == 5 {
        vec![0.1, 0.25, 0.5, 1.0]
    } else {
        vec![0.1, 1.0]
    };
    vec![
        ("time", V::T(at(m, 30.0))),
        ("start_time", V::T(at(0, 0.0))),
        ("metric_name", V::S("faas.invoke_duration")),
        ("metric_type", V::S("histogram")),
        ("unit", V::S("s")),
        ("series_id", V::I(series)),
        ("service_name", V::S(fname)),
        ("faas_name", V::S(fname)),
        ("temporality", V::S(temporality)),
        ("count", V::I(n as i64)),
        ("sum", V::F(sum)),
        ("max", V::F(0.9)),
        ("explicit_bounds", V::F64s(bounds)),
        ("bucket_counts", V::U64s(counts)),
    ]
}

fn fn_dims(f: &str) -> Vec<(&'static str, String)> {
    vec![("Namespace", "AWS/Lambda".into()), ("FunctionName", f.into())]
}

pub(crate) fn metric_tables() -> Vec<(Table, Vec<Row>)> {
    let points = vec![
        // faas.invocations (successes), cumulative since minute 0: 10, 25, then the process
        // restarted (new start_time) at 5, then a reset without a new start_time at 3.
        api("faas.invocations", 1, 0, 10.0, "cumulative", 0),
        api("faas.invocations", 1, 1, 25.0, "cumulative", 0),
        api("faas.invocations", 1, 2, 5.0, "cumulative", 2),
        api("faas.invocations", 1, 3, 3.0, "cumulative", 2),
        // faas.errors, delta: 2, 3, 0; faas.timeouts, delta: 1 in minute 1.
        api("faas.errors", 2, 0, 2.0, "delta", 0),
        api("faas.errors", 2, 1, 3.0, "delta", 1),
        api("faas.errors", 2, 2, 0.0, "delta", 2),
        api("faas.timeouts", 3, 1, 1.0, "delta", 1),
        // An exporter retry delivered the minute-0 errors point twice.
        api("faas.errors", 2, 0, 2.0, "delta", 0),
        // Bare CloudWatch names (awsfirehose cwmetrics relay), lowercased by an SDK.
        with(
            point("invocations", 4, 0, 4.0, "sum"),
            vec![
                ("temporality", V::S("delta")),
                ("is_monotonic", V::B(true)),
                ("service_name", V::S("Lambda")),
                ("attributes", V::Map(vec![("FunctionName", "relay".into())])),
            ],
        ),
    ];
    let dists = vec![
        cw(
            "amazonaws.com/AWS/Lambda/Invocations",
            10,
            0,
            fn_dims("worker"),
            (20, 20.0, 1.0),
        ),
        cw(
            "amazonaws.com/AWS/Lambda/Errors",
            11,
            0,
            fn_dims("worker"),
            (20, 3.0, 1.0),
        ),
        cw(
            "amazonaws.com/AWS/Lambda/Throttles",
            12,
            0,
            fn_dims("worker"),
            (2, 2.0, 1.0),
        ),
        cw(
            "amazonaws.com/AWS/Lambda/Duration",
            13,
            0,
            fn_dims("worker"),
            (20, 4000.0, 900.0),
        ),
        cw(
            "amazonaws.com/AWS/Lambda/ConcurrentExecutions",
            14,
            0,
            fn_dims("worker"),
            (1, 7.0, 7.0),
        ),
        cw(
            "amazonaws.com/AWS/Lambda/IteratorAge",
            15,
            0,
            fn_dims("worker"),
            (1, 1500.0, 1500.0),
        ),
        // The same invocations again per alias: must not be added.
        cw(
            "amazonaws.com/AWS/Lambda/Invocations",
            16,
            0,
            vec![
                ("FunctionName", "worker".into()),
                ("Resource", "worker:live".into()),
            ],
            (20, 20.0, 1.0),
        ),
        // faas.invoke_duration, delta, 12 invocations in minute 0.
        histogram("api", 20, 0, "delta", vec![4, 4, 2, 2, 0], 3.0),
        // cumulative: [1,1,0] then [3,2,0] → minute 1 holds [2,1,0].
        histogram("cum", 21, 0, "cumulative", vec![1, 1, 0], 0.5),
        histogram("cum", 21, 1, "cumulative", vec![3, 2, 0], 1.7),
    ];
    vec![(Table::MetricPoints, points), (Table::MetricDistributions, dists)]
}

#[tokio::test]
async fn counters_delta_and_cumulative_with_resets() {
    let ctx = catalogue(&metric_tables(), &CatalogueSettings::default());
    let r = rows(
        &ctx,
        "SELECT minute, invocations, errors, timeouts FROM function_metrics_1m WHERE faas_name = 'api' ORDER BY minute",
    )
    .await;
    assert_eq!(
        r,
        vec![
            // 10 successes (first point, counted since its start_time) + 2 errors.
            vec!["2026-01-05T10:00:00Z", "12.0", "2.0", "NULL"],
            // 25 − 10 = 15 successes + 3 errors + 1 timeout = 19; errors 3 + 1.
            vec!["2026-01-05T10:01:00Z", "19.0", "4.0", "1.0"],
            // restart (new start_time): 5 successes.
            vec!["2026-01-05T10:02:00Z", "5.0", "0.0", "NULL"],
            // 3 < 5: a reset, 3 successes.
            vec!["2026-01-05T10:03:00Z", "3.0", "NULL", "NULL"],
        ]
    );
}

#[tokio::test]
async fn cloudwatch_summaries_and_bare_lowercase_names() {
    let ctx = catalogue(&metric_tables(), &CatalogueSettings::default());
    let r = rows(
        &ctx,
        "SELECT faas_name, service_name, invocations, errors, throttles, duration_count, duration_avg_ms,
                duration_max_ms, concurrency, iterator_age_ms, cloud_region
         FROM function_metrics_1m WHERE faas_name IN ('worker', 'relay') ORDER BY faas_name",
    )
    .await;
    assert_eq!(
        r,
        vec![
            vec![
                "relay", "relay", "4.0", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"
            ],
            // Invocations 20 (the per-alias series ignored), Errors 3, Throttles 2,
            // Duration 4000 ms / 20 = 200 ms avg, max 900; concurrency 7; iterator age 1500 ms.
            vec![
                "worker",
                "worker",
                "20.0",
                "3.0",
                "2.0",
                "20.0",
                "200.0",
                "900.0",
                "7.0",
                "1500.0",
                "eu-west-1"
            ],
        ]
    );
}

#[tokio::test]
async fn duration_percentiles_from_histogram_buckets() {
    let ctx = catalogue(&metric_tables(), &CatalogueSettings::default());
    let q = |f: &str, m: i64| {
        format!(
            "SELECT duration_count, duration_sum_ms, duration_p50_ms, duration_p95_ms FROM function_metrics_1m
             WHERE faas_name = '{f}' AND minute = to_timestamp_nanos({})",
            at(m, 0.0)
        )
    };
    let r = rows(&ctx, &q("api", 0)).await;
    // 12 in buckets ≤0.1:4, ≤0.25:4, ≤0.5:2, ≤1:2. p50: rank 6 → 0.1 + 0.15 × 2/4 = 0.175 s;
    // p95: rank 11.4 → 0.5 + 0.5 × 1.4/2 = 0.85 s. Sum 3 s.
    let got: Vec<f64> = r[0].iter().map(|c| c.parse().unwrap()).collect();
    for (g, w) in got.iter().zip([12.0, 3000.0, 175.0, 850.0]) {
        assert!(close(*g, w), "{got:?}");
    }
    let r = rows(&ctx, &q("cum", 1)).await;
    // cumulative [3,2,0] − [1,1,0] = [2,1,0], count 3, sum 1.7 − 0.5 = 1.2 s;
    // p50: rank 1.5 in the first bucket (2) → 0.1 × 1.5/2 = 0.075 s.
    let got: Vec<f64> = r[0].iter().take(3).map(|c| c.parse().unwrap()).collect();
    for (g, w) in got.iter().zip([3.0, 1200.0, 75.0]) {
        assert!(close(*g, w), "{got:?}");
    }
}

#[tokio::test]
async fn queue_depth_and_dlq_by_name_and_by_config() {
    let depth = |q: &'static str, series, s: f64, v: f64| {
        with(
            point("approximatenumberofmessagesvisible", series, 0, v, "gauge"),
            vec![
                ("time", V::T(at(0, s))),
                ("attributes", V::Map(vec![("QueueName", q.into())])),
            ],
        )
    };
    let points = vec![
        depth("orders-dlq", 1, 10.0, 3.0),
        depth("orders-dlq", 1, 40.0, 5.0),
        depth("orders", 2, 10.0, 40.0),
        depth("parking-lot", 3, 10.0, 2.0),
    ];
    let dists = vec![cw(
        "amazonaws.com/AWS/SQS/ApproximateNumberOfMessagesVisible",
        9,
        0,
        vec![("QueueName", "payments-dead-letter".into())],
        (1, 9.0, 9.0),
    )];
    let mut s = CatalogueSettings::default();
    s.dlq_queues.push("parking-lot".into());
    let ctx = catalogue(
        &[(Table::MetricPoints, points), (Table::MetricDistributions, dists)],
        &s,
    );
    let r = rows(
        &ctx,
        "SELECT queue, is_dlq, depth FROM queue_depth_1m ORDER BY queue",
    )
    .await;
    assert_eq!(
        r,
        vec![
            vec!["orders", "false", "40.0"],
            // max of 3 and 5 in the minute.
            vec!["orders-dlq", "true", "5.0"],
            // configured in telemetry.dlq_queues.
            vec!["parking-lot", "true", "2.0"],
            vec!["payments-dead-letter", "true", "9.0"],
        ]
    );
}
