//! `function_minute` and the per-function views built around it.

use slod_storage::Table;

use super::invocations::ten_checkouts;
use super::metrics::{cw, metric_tables};
use super::*;
use crate::catalogue::{CatalogueSettings, FunctionSettings, PlatformPricing};

fn client(fname: &'static str, id: u64, start_s: f64, ms: f64, attrs: Vec<(&'static str, String)>) -> Row {
    with(
        invocation(fname, id, start_s, ms),
        vec![
            ("kind", V::I(3)),
            ("is_invocation", V::B(false)),
            ("faas_invocation_id", V::S("x")),
            ("attributes", V::Map(attrs)),
        ],
    )
}

#[tokio::test]
async fn spans_win_over_metrics_for_a_function_minute_and_are_never_summed() {
    let mut tables = metric_tables();
    // Three `api` invocations in minute 0 (100, 200, 300 ms, the second failed), where the
    // Lambda layer's metrics also say 12 invocations.
    tables.push((
        Table::Spans,
        vec![
            invocation("api", 1, 1.0, 100.0),
            with(invocation("api", 2, 2.0, 200.0), vec![("is_error", V::B(true))]),
            invocation("api", 3, 3.0, 300.0),
        ],
    ));
    let ctx = catalogue(&tables, &CatalogueSettings::default());
    let r = rows(
        &ctx,
        "SELECT minute, source, invocations, successes, errors, timeouts, round(p50_ms, 3), round(p95_ms, 3)
         FROM function_minute WHERE faas_name = 'api' ORDER BY minute",
    )
    .await;
    assert_eq!(
        r,
        vec![
            // spans: 3 invocations, 1 error; exact percentiles of 100, 200, 300:
            // p50 = 200, p95 = 200 + 0.9 × 100 = 290 (position 0.95 × 2 = 1.9).
            vec![
                "2026-01-05T10:00:00Z",
                "spans",
                "3.0",
                "2.0",
                "1.0",
                "0.0",
                "200.0",
                "290.0"
            ],
            // no spans: the metrics (15 + 3 + 1 invocations, 3 + 1 errors, 1 timeout).
            vec![
                "2026-01-05T10:01:00Z",
                "metrics",
                "19.0",
                "15.0",
                "4.0",
                "1.0",
                "NULL",
                "NULL"
            ],
            vec![
                "2026-01-05T10:02:00Z",
                "metrics",
                "5.0",
                "5.0",
                "0.0",
                "NULL",
                "NULL",
                "NULL"
            ],
            // no errors point in minute 3: errors unknown, not 0.
            vec![
                "2026-01-05T10:03:00Z",
                "metrics",
                "3.0",
                "3.0",
                "NULL",
                "NULL",
                "NULL",
                "NULL"
            ],
        ]
    );
    // p99 = 200 + 0.98 × 100 = 298 ms against the default 30 s timeout.
    let ratio = num(
        &ctx,
        "SELECT p99_timeout_ratio FROM function_minute WHERE faas_name = 'api' AND source = 'spans'",
    )
    .await;
    assert_close(ratio, 298.0 / 30_000.0);
    let errors = rows(
        &ctx,
        "SELECT minute, error_type, source, errors FROM function_errors_1m WHERE faas_name = 'api' ORDER BY minute, error_type",
    )
    .await;
    assert_eq!(
        errors,
        vec![
            vec!["2026-01-05T10:00:00Z", "_OTHER", "spans", "1.0"],
            // metrics: 4 errors of which 1 timeout.
            vec!["2026-01-05T10:01:00Z", "_OTHER", "metrics", "3.0"],
            vec!["2026-01-05T10:01:00Z", "timeout", "metrics", "1.0"],
        ]
    );
}

#[tokio::test]
async fn errors_by_type_from_spans() {
    let ctx = spans(ten_checkouts());
    let r = rows(
        &ctx,
        "SELECT error_type, errors FROM function_errors_1m ORDER BY error_type",
    )
    .await;
    // #7 answered 500, #3 raised ValueError; the throttle (#9) is not an error.
    assert_eq!(r, vec![vec!["500", "1.0"], vec!["ValueError", "1.0"]]);
}

#[tokio::test]
async fn concurrency_is_the_most_overlapping_invocations_per_minute() {
    let ctx = spans(vec![
        invocation("conc", 1, 0.0, 10_000.0),
        invocation("conc", 2, 2.0, 3_000.0),
        invocation("conc", 3, 3.0, 1_000.0),
        // starts when #3 ends: end before start, so not overlapping #3.
        invocation("conc", 4, 4.0, 1_000.0),
        invocation("conc", 5, 61.0, 1_000.0),
    ]);
    let r = rows(
        &ctx,
        "SELECT minute, max_concurrency FROM function_concurrency_1m ORDER BY minute",
    )
    .await;
    // At 3 s #1, #2, #3 run; at 4 s #1, #2, #4 run: 3. Minute 1: only #5.
    assert_eq!(
        r,
        vec![
            vec!["2026-01-05T10:00:00Z", "3"],
            vec!["2026-01-05T10:01:00Z", "1"]
        ]
    );
    let c = num(
        &ctx,
        "SELECT max_concurrency FROM function_minute WHERE minute = to_timestamp_nanos(1767607200000000000)",
    )
    .await;
    assert_close(c, 3.0);
}

#[tokio::test]
async fn cost_per_function_minute_with_a_platform_price_override() {
    let mut s = CatalogueSettings::default();
    s.pricing.platforms.insert(
        "aws_lambda".into(),
        PlatformPricing {
            request: Some(0.000_000_4),
            ..Default::default()
        },
    );
    let mut worker = FunctionSettings::new("worker");
    worker.memory_mb = Some(1024);
    s.functions.push(worker);
    let dists = vec![
        cw(
            "amazonaws.com/AWS/Lambda/Invocations",
            10,
            0,
            vec![("FunctionName", "worker".into())],
            (20, 20.0, 1.0),
        ),
        cw(
            "amazonaws.com/AWS/Lambda/Duration",
            13,
            0,
            vec![("FunctionName", "worker".into())],
            (20, 4000.0, 900.0),
        ),
    ];
    let ctx = catalogue(
        &[
            (Table::Spans, ten_checkouts()),
            (Table::MetricDistributions, dists),
        ],
        &s,
    );
    let r = rows(
        &ctx,
        "SELECT faas_name, source, gb_seconds, cost FROM function_cost_1m ORDER BY faas_name",
    )
    .await;
    // checkout: 100 + 200 + … + 1000 = 5500 ms at 512 MB = 5.5 s × 0.5 GB = 2.75 GB-s;
    // 2.75 × 0.0000166667 + 10 × 0.0000004 (the aws_lambda request price).
    assert_eq!((r[0][0].as_str(), r[0][1].as_str()), ("checkout", "spans"));
    assert!(close(r[0][2].parse().unwrap(), 2.75));
    assert!(close(
        r[0][3].parse().unwrap(),
        2.75 * 0.000_016_666_7 + 10.0 * 0.000_000_4
    ));
    // worker (metrics only): 4000 ms × 1024 MB configured = 4 GB-s; 20 requests.
    assert_eq!((r[1][0].as_str(), r[1][1].as_str()), ("worker", "metrics"));
    assert!(close(r[1][2].parse().unwrap(), 4.0));
    assert!(close(
        r[1][3].parse().unwrap(),
        4.0 * 0.000_016_666_7 + 20.0 * 0.000_000_4
    ));
}

#[tokio::test]
async fn deployments_first_and_last_seen_per_version() {
    let v = |id, s, version: &'static str| {
        with(
            invocation("api", id, s, 10.0),
            vec![("faas_version", V::S(version))],
        )
    };
    let ctx = spans(vec![
        v(1, 0.0, "1"),
        v(2, 30.0, "1"),
        v(3, 50.0, "2"),
        v(4, 70.0, "2"),
    ]);
    let r = rows(&ctx, "SELECT version, first_seen, last_seen, invocation_spans, is_latest FROM deployments ORDER BY version").await;
    assert_eq!(
        r,
        vec![
            vec!["1", "2026-01-05T10:00:00Z", "2026-01-05T10:00:30Z", "2", "false"],
            vec!["2", "2026-01-05T10:00:50Z", "2026-01-05T10:01:10Z", "2", "true"],
        ]
    );
}

#[tokio::test]
async fn retries_by_kind() {
    let consumer = |id: u64, trace: u64, s: f64, msgs: Vec<&'static str>| {
        with(
            invocation("orders-worker", id, s, 10.0),
            vec![
                ("kind", V::I(5)),
                ("trace_id", V::Id(trace)),
                ("is_invocation", V::B(false)),
                ("faas_invocation_id", V::S("unused")),
                (
                    "links",
                    V::Links(
                        msgs.into_iter()
                            .map(|m| (9, 9, vec![("messaging.message.id", m.to_string())]))
                            .collect(),
                    ),
                ),
            ],
        )
    };
    let ctx = spans(vec![
        // Batch 1 holds m1 and m2; m2 failed and came back in batch 2.
        invocation("orders-worker", 1, 0.0, 50.0),
        consumer(11, 1, 0.001, vec!["m1", "m2"]),
        invocation("orders-worker", 2, 40.0, 50.0),
        consumer(12, 2, 40.001, vec!["m2", "m3"]),
        // An async event retried with the same request id a minute later.
        with(
            invocation("mailer", 3, 0.0, 10.0),
            vec![("faas_invocation_id", V::S("ev-1"))],
        ),
        with(
            invocation("mailer", 4, 70.0, 10.0),
            vec![("faas_invocation_id", V::S("ev-1"))],
        ),
        // An HTTP client resend.
        client(
            "mailer",
            5,
            1.0,
            5.0,
            vec![("http.request.resend_count", "1".into())],
        ),
    ]);
    let r = rows(
        &ctx,
        "SELECT minute, faas_name, kind, retries FROM retries_1m ORDER BY faas_name, minute",
    )
    .await;
    assert_eq!(
        r,
        vec![
            vec!["2026-01-05T10:00:00Z", "mailer", "http_resend", "1"],
            vec!["2026-01-05T10:01:00Z", "mailer", "invocation", "1"],
            vec!["2026-01-05T10:00:00Z", "orders-worker", "message", "1"],
        ]
    );
}

#[tokio::test]
async fn downstream_latency_auth_failures_and_dlq_messages() {
    let ddb = |id, s, ms| {
        client(
            "api",
            id,
            s,
            ms,
            vec![
                ("server.address", "dynamodb.eu-west-1.amazonaws.com".into()),
                ("db.system", "dynamodb".into()),
            ],
        )
    };
    let producer = |id, s, queue: &'static str, extra: Vec<(&'static str, V)>| {
        let r = with(
            client("api", id, s, 5.0, vec![]),
            vec![
                ("kind", V::I(4)),
                ("messaging_destination_name", V::S(queue)),
                ("messaging_system", V::S("aws_sqs")),
            ],
        );
        with(r, extra)
    };
    let mut s = CatalogueSettings::default();
    s.dlq_queues.push("parking-lot".into());
    let spans_in = vec![
        ddb(1, 1.0, 10.0),
        with(ddb(2, 2.0, 20.0), vec![("is_error", V::B(true))]),
        ddb(3, 3.0, 30.0),
        // An invocation answered 401 and one 403; a token check got 403 from the IdP.
        with(
            invocation("api", 4, 4.0, 5.0),
            vec![("http_response_status_code", V::I(401))],
        ),
        with(
            invocation("api", 5, 5.0, 5.0),
            vec![("http_response_status_code", V::I(403))],
        ),
        with(
            client(
                "api",
                6,
                5.001,
                2.0,
                vec![("server.address", "auth.acme.example".into())],
            ),
            vec![("http_response_status_code", V::I(403)), ("is_error", V::B(true))],
        ),
        producer(7, 6.0, "orders-dlq", vec![]),
        producer(
            8,
            7.0,
            "orders-dlq",
            vec![(
                "attributes",
                V::Map(vec![("messaging.batch.message_count", "3".into())]),
            )],
        ),
        producer(9, 8.0, "orders-events", vec![]),
        producer(10, 9.0, "parking-lot", vec![]),
        // Azure Service Bus settles a message to its dead-letter subqueue.
        with(
            client(
                "api",
                11,
                10.0,
                1.0,
                vec![("messaging.operation.name", "dead_letter".into())],
            ),
            vec![("messaging_destination_name", V::S("payments"))],
        ),
    ];
    let ctx = catalogue(&[(Table::Spans, spans_in)], &s);
    let r = rows(
        &ctx,
        "SELECT downstream, system, calls, errors, round(p50_ms, 3), round(p95_ms, 3), max_ms FROM downstream_calls_1m
         WHERE downstream LIKE 'dynamodb%'",
    )
    .await;
    // 10, 20, 30 ms: p50 = 20, p95 = 20 + 0.9 × 10 = 29.
    assert_eq!(
        r,
        vec![vec![
            "dynamodb.eu-west-1.amazonaws.com",
            "dynamodb",
            "3",
            "1",
            "20.0",
            "29.0",
            "30.0"
        ]]
    );
    let r = rows(&ctx, "SELECT direction, downstream, status_code, failures FROM auth_failures_1m ORDER BY direction, status_code").await;
    assert_eq!(
        r,
        vec![
            vec!["inbound", "NULL", "401", "1"],
            vec!["inbound", "NULL", "403", "1"],
            vec!["outbound", "auth.acme.example", "403", "1"],
        ]
    );
    let r = rows(&ctx, "SELECT queue, messages FROM dlq_messages_1m ORDER BY queue").await;
    // orders-dlq: 1 + a batch of 3; parking-lot by config; payments dead-lettered.
    assert_eq!(
        r,
        vec![
            vec!["orders-dlq", "4"],
            vec!["parking-lot", "1"],
            vec!["payments", "1"]
        ]
    );
}

#[tokio::test]
async fn memory_used_from_report_logs_and_mem_usage_against_configured() {
    let logs = vec![vec![
        ("time", V::T(at(0, 5.0))),
        ("service_name", V::S("api")),
        ("faas_name", V::S("api")),
        (
            "body",
            V::S(
                "REPORT RequestId: 1 Duration: 12.3 ms Billed Duration: 13 ms Memory Size: 256 MB Max Memory Used: 81 MB",
            ),
        ),
    ]];
    let mut mem = super::metrics::histogram("api", 30, 0, "delta", vec![0, 1, 0], 90e6);
    mem = with(
        mem,
        vec![
            ("metric_name", V::S("faas.mem_usage")),
            ("unit", V::S("By")),
            ("max", V::F(90e6)),
        ],
    );
    let ctx = catalogue(
        &[(Table::Logs, logs), (Table::MetricDistributions, vec![mem])],
        &CatalogueSettings::default(),
    );
    let r = rows(
        &ctx,
        "SELECT faas_name, configured_mb, max_used_mb, used_ratio, source FROM memory_1m",
    )
    .await;
    // max(81 from REPORT, 90e6 By / 1e6 = 90) = 90 of 256 MB = 0.3515625.
    assert_eq!(r, vec![vec!["api", "256", "90.0", "0.3515625", "logs+metrics"]]);
}
