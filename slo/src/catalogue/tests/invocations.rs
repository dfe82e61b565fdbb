//! `invocations`: counting, dedupe, cold starts, timeouts.

use std::time::Duration;

use slod_storage::Table;

use super::*;
use crate::catalogue::{CatalogueSettings, FunctionSettings};

/// Ten checkout invocations at seconds 0..9 lasting 100..1000 ms: #3 raised ValueError, #7
/// answered 500, #9 was throttled (HTTP 429, not an error for a server).
pub(crate) fn ten_checkouts() -> Vec<Row> {
    (1..=10u64)
        .map(|i| {
            let mut r = invocation("checkout", i, i as f64, i as f64 * 100.0);
            r = with(
                r,
                vec![
                    ("faas_max_memory_mb", V::I(512)),
                    ("http_response_status_code", V::I(200)),
                ],
            );
            match i {
                3 => with(
                    r,
                    vec![
                        ("is_error", V::B(true)),
                        ("status_code", V::I(2)),
                        ("exception_type", V::S("ValueError")),
                    ],
                ),
                7 => with(
                    r,
                    vec![("is_error", V::B(true)), ("http_response_status_code", V::I(500))],
                ),
                9 => with(
                    r,
                    vec![
                        ("is_throttle", V::B(true)),
                        ("http_response_status_code", V::I(429)),
                    ],
                ),
                _ => r,
            }
        })
        .collect()
}

#[tokio::test]
async fn counts_errors_throttles_and_error_types() {
    let ctx = spans(ten_checkouts());
    let r = rows(
        &ctx,
        "SELECT count(*), sum(CAST(is_error AS INT)), sum(CAST(is_throttle AS INT)),
                sum(CAST(within_latency_threshold AS INT)), min(minute), max(faas_name)
         FROM invocations",
    )
    .await;
    // 10 invocations, 2 errors (#3, #7), 1 throttle (#9); all ≤ 1000 ms (default 1s threshold).
    assert_eq!(
        r,
        vec![vec!["10", "2", "1", "10", "2026-01-05T10:00:00Z", "checkout"]]
    );
    let r = rows(
        &ctx,
        "SELECT faas_invocation_id, error_type FROM invocations WHERE error_type IS NOT NULL ORDER BY 1",
    )
    .await;
    // exception type, then the HTTP status as text; a throttle keeps its 429.
    assert_eq!(
        r,
        vec![
            vec!["req-3", "ValueError"],
            vec!["req-7", "500"],
            vec!["req-9", "429"]
        ]
    );
}

#[tokio::test]
async fn cost_is_gb_seconds_times_price_plus_request_price() {
    let ctx = spans(ten_checkouts());
    // #1: 100 ms at 512 MB = 0.1 s × 0.5 GB = 0.05 GB-s; 0.05 × 0.0000166667 + 0.0000002.
    let gb_s = num(
        &ctx,
        "SELECT gb_seconds FROM invocations WHERE faas_invocation_id = 'req-1'",
    )
    .await;
    assert_close(gb_s, 0.05);
    let cost = num(
        &ctx,
        "SELECT cost FROM invocations WHERE faas_invocation_id = 'req-1'",
    )
    .await;
    assert_close(cost, 0.05 * 0.0000166667 + 0.0000002);
}

#[tokio::test]
async fn azure_host_and_worker_spans_and_export_retries_count_once_async_retries_twice() {
    let host = with(
        invocation("orders-app/Checkout", 1, 0.0, 300.0),
        vec![
            ("cloud_provider", V::S("azure")),
            ("cloud_platform", V::S("azure.functions")),
            ("faas_invocation_id", V::S("inv-a")),
            ("http_response_status_code", V::I(200)),
        ],
    );
    // The isolated worker's INTERNAL `function Checkout` span inside the host's request span.
    let worker = with(
        invocation("Checkout", 2, 0.05, 200.0),
        vec![
            ("kind", V::I(1)),
            ("trace_id", V::Id(1)),
            ("parent_span_id", V::Id(1)),
            ("faas_invocation_id", V::S("inv-a")),
            ("is_error", V::B(true)),
        ],
    );
    // An exporter retry delivered span 3 twice.
    let once = invocation("charge", 3, 10.0, 50.0);
    let again = once.clone();
    // Lambda retries an async event with the same request id, a minute later.
    let first = with(
        invocation("charge", 4, 20.0, 50.0),
        vec![("faas_invocation_id", V::S("async-1"))],
    );
    let retry = with(
        invocation("charge", 5, 80.0, 50.0),
        vec![("faas_invocation_id", V::S("async-1"))],
    );
    let ctx = spans(vec![host, worker, once, again, first, retry]);
    let r = rows(
        &ctx,
        "SELECT faas_name, faas_invocation_id, attempt, duration_ms, is_error FROM invocations ORDER BY time",
    )
    .await;
    assert_eq!(
        r,
        vec![
            // one row for host + worker: the SERVER span's name and duration, the worker's error.
            vec!["orders-app/Checkout", "inv-a", "1", "300.0", "true"],
            vec!["charge", "req-3", "1", "50.0", "false"],
            vec!["charge", "async-1", "1", "50.0", "false"],
            vec!["charge", "async-1", "2", "50.0", "false"],
        ]
    );
}

#[tokio::test]
async fn cold_start_is_reported_else_first_invocation_per_instance() {
    let node = |id, s, cold| {
        with(
            invocation("node-fn", id, s, 10.0),
            vec![("faas_coldstart", V::B(cold))],
        )
    };
    let py = |id, s, instance: &'static str| {
        with(
            invocation("py-fn", id, s, 10.0),
            vec![("faas_instance", V::S(instance))],
        )
    };
    let rows_in = vec![
        // Node reports: true, false, false.
        node(1, 0.0, true),
        node(2, 1.0, false),
        node(3, 2.0, false),
        // Python never says: instance A seen at 3, 4, 5 s, instance B at 6 s.
        py(4, 3.0, "A"),
        py(5, 4.0, "A"),
        py(6, 5.0, "A"),
        py(7, 6.0, "B"),
        // Provisioned concurrency: warm even on a new instance.
        with(
            py(8, 7.0, "C"),
            vec![(
                "resource_attributes",
                V::Map(vec![(
                    "aws.lambda.initialization_type",
                    "provisioned-concurrency".into(),
                )]),
            )],
        ),
        // The Lambda layer's `init py-fn` span (faas.coldstart=true) in the invocation's trace.
        py(9, 8.0, "D"),
        with(
            invocation("py-fn", 90, 7.9, 5.0),
            vec![
                ("name", V::S("init py-fn")),
                ("kind", V::I(1)),
                ("trace_id", V::Id(9)),
                ("is_invocation", V::B(false)),
                ("faas_coldstart", V::B(true)),
                ("faas_instance", V::S("D")),
            ],
        ),
    ];
    let ctx = spans(rows_in);
    let r = rows(
        &ctx,
        "SELECT faas_invocation_id, is_cold_start, cold_start_source FROM invocations ORDER BY time",
    )
    .await;
    let want = [
        ("req-1", "true", "reported"),
        ("req-2", "false", "reported"),
        ("req-3", "false", "reported"),
        ("req-4", "true", "first_on_instance"),
        ("req-5", "false", "first_on_instance"),
        ("req-6", "false", "first_on_instance"),
        ("req-7", "true", "first_on_instance"),
        ("req-8", "false", "provisioned"),
        ("req-9", "true", "init_span"),
    ];
    let want: Vec<Vec<String>> = want
        .iter()
        .map(|(a, b, c)| vec![a.to_string(), b.to_string(), c.to_string()])
        .collect();
    assert_eq!(r, want);
}

#[tokio::test]
async fn timeouts_follow_the_function_settings_exact_name_before_globs() {
    let mut s = CatalogueSettings::default();
    let mut orders = FunctionSettings::new("orders-*");
    orders.timeout = Some(Duration::from_secs(2));
    orders.latency_threshold = Some(Duration::from_millis(500));
    let mut slow = FunctionSettings::new("orders-slow");
    slow.timeout = Some(Duration::from_secs(10));
    // "*" (30 s, 1 s) comes first, as in the example config: a glob listed earlier that
    // matches wins for that setting, but an exact name always wins.
    s.functions.push(slow);
    s.functions.insert(0, orders);
    let spans_in = vec![
        invocation("orders-fast", 1, 0.0, 2500.0),
        invocation("orders-slow", 2, 1.0, 2500.0),
        invocation("billing", 3, 2.0, 2500.0),
        with(
            invocation("billing", 4, 3.0, 900.0),
            vec![
                ("is_error", V::B(true)),
                ("status_message", V::S("Task timed out after 3.00 seconds")),
            ],
        ),
    ];
    let ctx = catalogue(&[(Table::Spans, spans_in)], &s);
    let r = rows(
        &ctx,
        "SELECT faas_name, timeout_ms, is_timeout, error_type, within_latency_threshold FROM invocations ORDER BY time",
    )
    .await;
    assert_eq!(
        r,
        vec![
            // 2.5 s ≥ 2 s (orders-*) → timeout; threshold 500 ms from orders-*.
            vec!["orders-fast", "2000.0", "true", "timeout", "false"],
            // exact entry: 10 s; latency threshold not set there → orders-* glob's 500 ms.
            vec!["orders-slow", "10000.0", "false", "NULL", "false"],
            // only "*": 30 s, 1 s.
            vec!["billing", "30000.0", "false", "NULL", "false"],
            // Lambda's own message says it timed out.
            vec!["billing", "30000.0", "true", "timeout", "true"],
        ]
    );
}
