//! Rollups over the real catalogue views on hand-built tables; expected counts by hand.

use std::collections::BTreeMap;

use slod_storage::Table;

use super::*;
use crate::burn::WindowCounts;
use crate::catalogue::CatalogueSettings;
use crate::catalogue::tests::metrics::cw;
use crate::catalogue::tests::{Row, V, at, catalogue, invocation, with};
use crate::spec::parse_file;

const NS: i64 = 1_000_000_000;

fn slos(yaml: &str) -> Vec<SloSpec> {
    let (slos, errors) = parse_file("test.yaml", yaml);
    assert!(errors.is_empty(), "{errors:#?}");
    slos
}

fn fn_labels(f: &str) -> BTreeMap<String, String> {
    [
        ("service", f),
        ("faas_name", f),
        ("cloud_provider", "aws"),
        ("cloud_region", "eu-west-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn minute(m: i64) -> i64 {
    at(m, 0.0) / NS
}

fn counts(r: &Rollups, slo: &str, labels: &BTreeMap<String, String>, m: i64) -> Counts {
    let key = SeriesKey {
        slo: slo.into(),
        labels: labels.clone(),
    };
    r.series()
        .get(&key)
        .map(|s| s.counts(minute(m), minute(m + 1)))
        .unwrap_or_default()
}

/// Invocation `id` of `f` in minute `m`, ingested at `ingest_ns`.
fn inv(f: &'static str, id: u64, m: i64, ms: f64, error: bool, ingest_ns: i64) -> Row {
    with(
        invocation(f, id, m as f64 * 60.0 + 1.0, ms),
        vec![("is_error", V::B(error)), ("ingest_time", V::T(ingest_ns))],
    )
}

const YAML: &str = r#"
slos:
  - { name: avail, sli: availability, objective: 0.999 }
  - { name: fast, sli: latency, threshold: 100ms, objective: 0.99, selector: { faas_name: "check*" } }
  - { name: fast-default, sli: latency, objective: 0.99, selector: { faas_name: checkout } }
  - { name: throttles, sli: throttling, objective: 0.999 }
"#;

/// The same counts whether `invocations` is derived by the rollup query itself, shared and held
/// in memory, or shared but over the row limit.
#[tokio::test]
async fn minute_counts_per_kind_from_spans() {
    use crate::shared::SharedInvocations;
    for shared in [
        None,
        Some(SharedInvocations::default()),
        Some(SharedInvocations::new(0)),
    ] {
        minute_counts_per_kind(shared).await;
    }
}

async fn minute_counts_per_kind(shared: Option<crate::shared::SharedInvocations>) {
    // checkout, minute 0: 4 invocations (1 error; 50, 80, 150, 2000 ms); minute 1: 2 ok (10 ms).
    let rows = vec![
        inv("checkout", 1, 0, 50.0, false, 0),
        inv("checkout", 2, 0, 80.0, true, 0),
        inv("checkout", 3, 0, 150.0, false, 0),
        inv("checkout", 4, 0, 2000.0, false, 0),
        inv("checkout", 5, 1, 10.0, false, 0),
        inv("checkout", 6, 1, 10.0, false, 0),
        inv("search", 7, 1, 500.0, true, 0),
    ];
    let ctx = catalogue(&[(Table::Spans, rows)], &CatalogueSettings::default());
    let mut r = Rollups::new(slos(YAML));
    if let Some(shared) = shared {
        r.share(shared);
    }
    let stats = r.update(&ctx, at(5, 0.0)).await.unwrap();
    assert!(stats.minutes_recomputed >= 15, "{stats:?}");
    let checkout = fn_labels("checkout");
    assert_eq!(
        counts(&r, "avail", &checkout, 0),
        Counts {
            good: 3.0,
            total: 4.0
        }
    );
    assert_eq!(
        counts(&r, "avail", &checkout, 1),
        Counts {
            good: 2.0,
            total: 2.0
        }
    );
    assert_eq!(
        counts(&r, "avail", &fn_labels("search"), 1),
        Counts {
            good: 0.0,
            total: 1.0
        }
    );
    // ≤ 100 ms: 50 and 80 of minute 0.
    assert_eq!(
        counts(&r, "fast", &checkout, 0),
        Counts {
            good: 2.0,
            total: 4.0
        }
    );
    // The selector `check*` excludes search.
    assert!(
        r.instances("fast")
            .all(|(k, _)| k.labels["faas_name"] == "checkout")
    );
    // The function's default latency_threshold is 1s: all but the 2000 ms one.
    assert_eq!(
        counts(&r, "fast-default", &checkout, 0),
        Counts {
            good: 3.0,
            total: 4.0
        }
    );
    assert_eq!(
        counts(&r, "throttles", &checkout, 0),
        Counts {
            good: 4.0,
            total: 4.0
        }
    );
    // One series per SLO and function.
    assert_eq!(r.instances("avail").count(), 2);
}

#[tokio::test]
async fn late_data_changes_the_minute_it_belongs_to() {
    let early = vec![inv("checkout", 1, 0, 50.0, false, at(0, 2.0))];
    let ctx = catalogue(&[(Table::Spans, early.clone())], &CatalogueSettings::default());
    let mut r = Rollups::new(slos(YAML));
    r.update(&ctx, at(1, 0.0)).await.unwrap();
    assert_eq!(
        counts(&r, "avail", &fn_labels("checkout"), 0),
        Counts {
            good: 1.0,
            total: 1.0
        }
    );

    // Three hours later a failed invocation of minute 0 arrives (far outside the trailing window).
    let mut all = early;
    all.push(inv("checkout", 2, 0, 50.0, true, at(180, 0.0)));
    let ctx = catalogue(&[(Table::Spans, all)], &CatalogueSettings::default());
    r.update(&ctx, at(180, 30.0)).await.unwrap();
    assert_eq!(
        counts(&r, "avail", &fn_labels("checkout"), 0),
        Counts {
            good: 1.0,
            total: 2.0
        }
    );
}

#[tokio::test]
async fn platform_metrics_count_where_no_span_describes_the_function() {
    let dims = |f: &str| vec![("FunctionName", f.to_string())];
    let dists = vec![
        // worker: metrics only. 20 invocations, 2 errors, 5 throttles in minute 0.
        cw(
            "amazonaws.com/AWS/Lambda/Invocations",
            1,
            0,
            dims("worker"),
            (20, 20.0, 1.0),
        ),
        cw(
            "amazonaws.com/AWS/Lambda/Errors",
            2,
            0,
            dims("worker"),
            (20, 2.0, 1.0),
        ),
        cw(
            "amazonaws.com/AWS/Lambda/Throttles",
            3,
            0,
            dims("worker"),
            (20, 5.0, 1.0),
        ),
        // checkout: spans and metrics for the same minute — spans win, never summed.
        cw(
            "amazonaws.com/AWS/Lambda/Invocations",
            4,
            0,
            dims("checkout"),
            (99, 99.0, 1.0),
        ),
    ];
    let spans = vec![inv("checkout", 1, 0, 50.0, false, 0)];
    let ctx = catalogue(
        &[(Table::Spans, spans), (Table::MetricDistributions, dists)],
        &CatalogueSettings::default(),
    );
    let mut r = Rollups::new(slos(YAML));
    r.update(&ctx, at(5, 0.0)).await.unwrap();
    let worker = r
        .instances("avail")
        .find(|(k, _)| k.labels.get("faas_name").map(String::as_str) == Some("worker"))
        .map(|(k, _)| k.labels.clone())
        .expect("a worker series from metrics");
    assert_eq!(
        counts(&r, "avail", &worker, 0),
        Counts {
            good: 18.0,
            total: 20.0
        }
    );
    // Throttled requests are not in Lambda's Invocations: valid = 20 + 5, good = 20.
    assert_eq!(
        counts(&r, "throttles", &worker, 0),
        Counts {
            good: 20.0,
            total: 25.0
        }
    );
    let checkout: Vec<Counts> = r
        .instances("avail")
        .filter(|(k, _)| k.labels.get("faas_name").map(String::as_str) == Some("checkout"))
        .map(|(_, s)| s.counts(minute(0), minute(1)))
        .collect();
    assert_eq!(
        checkout,
        vec![Counts {
            good: 1.0,
            total: 1.0
        }]
    );
}

#[tokio::test]
async fn snapshot_round_trip_and_sql_rows() {
    let rows = vec![
        inv("checkout", 1, 0, 50.0, true, 0),
        inv("checkout", 2, 0, 50.0, false, 0),
    ];
    let ctx = catalogue(&[(Table::Spans, rows)], &CatalogueSettings::default());
    let mut r = Rollups::new(slos(YAML));
    r.update(&ctx, at(3, 0.0)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    persist::save(&r, dir.path()).unwrap();
    let mut back = Rollups::new(slos(YAML));
    assert!(persist::load(&mut back, dir.path()).unwrap());
    assert_eq!(back.series, r.series);
    assert_eq!(back.watermark_ns, r.watermark_ns);
    // An SLO removed from the config drops its series on load.
    let mut fewer = Rollups::new(slos(
        "slos:\n  - { name: avail, sli: availability, objective: 0.99 }\n",
    ));
    persist::load(&mut fewer, dir.path()).unwrap();
    assert!(fewer.series().keys().all(|k| k.slo == "avail"));
    let batch = persist::to_batch(r.series()).unwrap();
    assert_eq!(batch.schema(), persist::schema());
    assert!(batch.num_rows() >= 4);
}

#[tokio::test]
async fn workflow_success_and_latency_per_workflow() {
    // The catalogue's executions (by hand, see catalogue/tests/workflows.rs), all ending in
    // minute 0: Step Functions `fulfil` e1 succeeded in 5.1 s (e2 still running: not counted);
    // Temporal `Order` failed in 1.4 s; Durable `Refund` a1 succeeded in ~2.0 s, a2 failed in 1 s.
    let yaml = r#"
slos:
  - { name: wf-ok, sli: workflow_success, objective: 0.99 }
  - { name: wf-fast, sli: workflow_latency, threshold: 1500ms, objective: 0.99 }
"#;
    let ctx = catalogue(
        &[(Table::Spans, crate::catalogue::tests::workflows::workflow_spans())],
        &CatalogueSettings::default(),
    );
    let mut r = Rollups::new(slos(yaml));
    r.update(&ctx, at(15, 0.0)).await.unwrap();
    let by_workflow = |slo: &str| -> Vec<(String, Counts)> {
        let mut v: Vec<(String, Counts)> = r
            .instances(slo)
            .map(|(k, s)| (k.labels["workflow"].clone(), s.counts(minute(0), minute(1))))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let c = |good: f64, total: f64| Counts { good, total };
    assert_eq!(
        by_workflow("wf-ok"),
        [
            ("Order".to_string(), c(0.0, 1.0)),
            ("Refund".into(), c(1.0, 2.0)),
            ("fulfil".into(), c(1.0, 1.0))
        ]
    );
    // ≤ 1.5 s: Order (1.4 s) and Refund a2 (1.0 s); not fulfil (5.1 s) nor Refund a1 (2.0 s).
    assert_eq!(
        by_workflow("wf-fast"),
        [
            ("Order".to_string(), c(1.0, 1.0)),
            ("Refund".into(), c(1.0, 2.0)),
            ("fulfil".into(), c(0.0, 1.0))
        ]
    );
}

/// The workflow rollups read the spans of `WORKFLOW_LOOKBACK` before a recomputed range, not
/// every retained span: an execution whose first step ran 7 hours before its last one (in
/// minute 0) is derived from its spans in those 6 hours — here the last step alone, 100 ms.
#[tokio::test]
async fn workflow_rollups_read_only_the_lookback_before_the_range() {
    use crate::catalogue::tests::workflows::{sf_task, workflow_spans};
    const OLD: &str = "arn:aws:states:eu-west-1:1:execution:fulfil:old";
    let yaml = r#"
slos:
  - { name: wf-ok, sli: workflow_success, objective: 0.99 }
  - { name: wf-fast, sli: workflow_latency, threshold: 1500ms, objective: 0.99 }
"#;
    let mut spans = workflow_spans();
    spans.push(sf_task(41, -7.0 * 3600.0, OLD, "Reserve", false));
    spans.push(sf_task(42, 10.0, OLD, "Ship", false));
    let ctx = catalogue(&[(Table::Spans, spans)], &CatalogueSettings::default());
    let mut r = Rollups::new(slos(yaml));
    r.update(&ctx, at(15, 0.0)).await.unwrap();
    let fulfil = |slo: &str| {
        r.instances(slo)
            .find(|(k, _)| k.labels["workflow"] == "fulfil")
            .map(|(_, s)| s.counts(minute(0), minute(1)))
    };
    // e1 (5.1 s) and the old execution both succeeded in minute 0; only the old one is
    // ≤ 1.5 s as seen from the lookback (read whole, it took 7 hours).
    assert_eq!(
        fulfil("wf-ok"),
        Some(Counts {
            good: 2.0,
            total: 2.0
        })
    );
    assert_eq!(
        fulfil("wf-fast"),
        Some(Counts {
            good: 1.0,
            total: 2.0
        })
    );
}

#[tokio::test]
async fn dlq_minutes_with_depth_at_most_max() {
    use crate::catalogue::tests::metrics::point;
    let depth = |q: &'static str, series, m: i64, v: f64| {
        with(
            point("ApproximateNumberOfMessagesVisible", series, m, v, "gauge"),
            vec![("attributes", V::Map(vec![("QueueName", q.into())]))],
        )
    };
    // orders-dlq: minute 0 depth 5 (bad), minute 1 depth 0 (good), minute 2 depth 1 (bad for
    // max 0, good for max 2). `orders` is not a DLQ and never counts.
    let points = vec![
        depth("orders-dlq", 1, 0, 5.0),
        depth("orders-dlq", 1, 1, 0.0),
        depth("orders-dlq", 1, 2, 1.0),
        depth("orders", 2, 0, 40.0),
    ];
    let yaml = r#"
slos:
  - { name: dlq-empty, sli: dlq, objective: 0.99 }
  - { name: dlq-small, sli: dlq, max_depth: 2, objective: 0.99, selector: { queue: "orders-*" } }
"#;
    let ctx = catalogue(&[(Table::MetricPoints, points)], &CatalogueSettings::default());
    let mut r = Rollups::new(slos(yaml));
    r.update(&ctx, at(5, 0.0)).await.unwrap();
    let queues: Vec<String> = r
        .instances("dlq-empty")
        .map(|(k, _)| k.labels["queue"].clone())
        .collect();
    assert_eq!(queues, ["orders-dlq"]);
    let sum = |slo: &str| {
        r.instances(slo)
            .map(|(_, s)| s.counts(minute(0), minute(3)))
            .next()
            .unwrap_or_default()
    };
    assert_eq!(
        sum("dlq-empty"),
        Counts {
            good: 1.0,
            total: 3.0
        }
    );
    assert_eq!(
        sum("dlq-small"),
        Counts {
            good: 2.0,
            total: 3.0
        }
    );
}

#[tokio::test]
async fn custom_sql_with_label_columns_and_cold_starts_from_spans() {
    // checkout minute 0: 3 invocations, 1 error, 1 reported cold start; search: 1 ok, cold.
    let rows = vec![
        with(
            inv("checkout", 1, 0, 10.0, false, 0),
            vec![("faas_coldstart", V::B(true))],
        ),
        with(
            inv("checkout", 2, 0, 10.0, true, 0),
            vec![("faas_coldstart", V::B(false))],
        ),
        with(
            inv("checkout", 3, 0, 10.0, false, 0),
            vec![("faas_coldstart", V::B(false))],
        ),
        with(
            inv("search", 4, 0, 10.0, false, 0),
            vec![("faas_coldstart", V::B(true))],
        ),
    ];
    let yaml = r#"
slos:
  - name: ok-by-fn
    sli: custom
    objective: 0.9
    sql: >-
      SELECT date_trunc('minute', start_time) AS minute, faas_name AS fn,
             count(*) FILTER (WHERE NOT is_error) AS good, count(*) AS total
      FROM spans WHERE is_invocation GROUP BY 1, 2
  - { name: warm, sli: cold_start, objective: 0.95 }
"#;
    let ctx = catalogue(&[(Table::Spans, rows)], &CatalogueSettings::default());
    let mut r = Rollups::new(slos(yaml));
    r.update(&ctx, at(5, 0.0)).await.unwrap();
    let custom: Vec<(String, Counts)> = r
        .instances("ok-by-fn")
        .map(|(k, s)| (k.labels["fn"].clone(), s.counts(minute(0), minute(1))))
        .collect();
    assert_eq!(
        custom,
        [
            (
                "checkout".to_string(),
                Counts {
                    good: 2.0,
                    total: 3.0
                }
            ),
            (
                "search".into(),
                Counts {
                    good: 1.0,
                    total: 1.0
                }
            )
        ]
    );
    assert_eq!(
        counts(&r, "warm", &fn_labels("checkout"), 0),
        Counts {
            good: 2.0,
            total: 3.0
        }
    );
    assert_eq!(
        counts(&r, "warm", &fn_labels("search"), 0),
        Counts {
            good: 0.0,
            total: 1.0
        }
    );
}

#[tokio::test]
async fn a_custom_sli_without_its_columns_is_skipped_not_fatal() {
    let rows = vec![
        inv("checkout", 1, 0, 10.0, true, 0),
        inv("checkout", 2, 0, 10.0, false, 0),
    ];
    let yaml = r#"
slos:
  - { name: broken, sli: custom, objective: 0.9, sql: "SELECT date_trunc('minute', start_time) AS minute, count(*) AS n FROM spans GROUP BY 1" }
  - { name: avail, sli: availability, objective: 0.99 }
"#;
    let ctx = catalogue(&[(Table::Spans, rows)], &CatalogueSettings::default());
    let mut r = Rollups::new(slos(yaml));
    r.update(&ctx, at(5, 0.0)).await.unwrap();
    assert_eq!(r.instances("broken").count(), 0);
    assert_eq!(
        counts(&r, "avail", &fn_labels("checkout"), 0),
        Counts {
            good: 1.0,
            total: 2.0
        }
    );
}

/// Latency from `faas.invoke_duration` histograms where no span describes the function:
/// bounds 0.1, 0.25, 0.5, 1 s and counts 10, 5, 3, 1, 1 (20 invocations) in minute 0.
/// At 250 ms (a bound) 15 are good, exactly; at 300 ms 15 + 3 × 50/250 = 15.6 (linear
/// inside the 250-500 ms bucket); the overflow bucket is never good. Spans win: "checkout"
/// has spans and a histogram in minute 0, and only its span counts.
#[tokio::test]
async fn latency_from_duration_histograms_where_no_span_describes_the_function() {
    use crate::catalogue::tests::metrics::histogram;
    let yaml = r#"
slos:
  - { name: p250, sli: latency, threshold: 250ms, objective: 0.99 }
  - { name: p300, sli: latency, threshold: 300ms, objective: 0.99 }
"#;
    let dists = vec![
        histogram("hist-only", 1, 0, "delta", vec![10, 5, 3, 1, 1], 5.0),
        histogram("checkout", 2, 0, "delta", vec![10, 5, 3, 1, 1], 5.0),
    ];
    let spans = vec![inv("checkout", 1, 0, 400.0, false, 0)];
    let ctx = catalogue(
        &[(Table::Spans, spans), (Table::MetricDistributions, dists)],
        &CatalogueSettings::default(),
    );
    let mut r = Rollups::new(slos(yaml));
    r.update(&ctx, at(5, 0.0)).await.unwrap();
    let of = |slo: &str, f: &str| -> Vec<Counts> {
        r.instances(slo)
            .filter(|(k, _)| k.labels.get("faas_name").map(String::as_str) == Some(f))
            .map(|(_, s)| s.counts(minute(0), minute(1)))
            .collect()
    };
    assert_eq!(
        of("p250", "hist-only"),
        vec![Counts {
            good: 15.0,
            total: 20.0
        }]
    );
    let p300 = of("p300", "hist-only");
    assert_eq!(p300.len(), 1);
    assert!(
        (p300[0].good - 15.6).abs() < 1e-9 && p300[0].total == 20.0,
        "{p300:?}"
    );
    // checkout's one span took 400 ms: bad at both thresholds; its histogram is ignored.
    assert_eq!(
        of("p250", "checkout"),
        vec![Counts {
            good: 0.0,
            total: 1.0
        }]
    );
    assert_eq!(
        of("p300", "checkout"),
        vec![Counts {
            good: 0.0,
            total: 1.0
        }]
    );
}

/// Workflow success from Step Functions' `AWS/States` counters where no execution span
/// describes the workflow: `orders` (metrics only) finished 8 + 2 executions in minute 0, 8
/// succeeded. `fulfil` has spans in minute 0 (one success) and a counter of 50: spans win.
#[tokio::test]
async fn workflow_success_from_orchestrator_counters_where_no_span_describes_it() {
    let yaml = "slos:\n  - { name: wf-ok, sli: workflow_success, objective: 0.99 }\n";
    let arn = |sm: &str| {
        vec![(
            "StateMachineArn",
            format!("arn:aws:states:eu-west-1:123456789012:stateMachine:{sm}"),
        )]
    };
    let dists = vec![
        cw(
            "amazonaws.com/AWS/States/ExecutionsSucceeded",
            1,
            0,
            arn("orders"),
            (1, 8.0, 1.0),
        ),
        cw(
            "amazonaws.com/AWS/States/ExecutionsFailed",
            2,
            0,
            arn("orders"),
            (1, 2.0, 1.0),
        ),
        cw(
            "amazonaws.com/AWS/States/ExecutionsSucceeded",
            3,
            0,
            arn("fulfil"),
            (1, 50.0, 1.0),
        ),
    ];
    let ctx = catalogue(
        &[
            (Table::Spans, crate::catalogue::tests::workflows::workflow_spans()),
            (Table::MetricDistributions, dists),
        ],
        &CatalogueSettings::default(),
    );
    let mut r = Rollups::new(slos(yaml));
    r.update(&ctx, at(15, 0.0)).await.unwrap();
    let of = |w: &str| -> Vec<Counts> {
        r.instances("wf-ok")
            .filter(|(k, _)| k.labels.get("workflow").map(String::as_str) == Some(w))
            .map(|(_, s)| s.counts(minute(0), minute(1)))
            .collect()
    };
    assert_eq!(
        of("orders"),
        vec![Counts {
            good: 8.0,
            total: 10.0
        }]
    );
    assert_eq!(
        of("fulfil"),
        vec![Counts {
            good: 1.0,
            total: 1.0
        }]
    );
}

/// Workflow latency from Temporal's `temporal_workflow_endtoend_latency` histogram where no
/// execution span describes the workflow type: bounds 0.1, 0.25, 0.5, 1 s, counts 10, 5, 3,
/// 1, 1 in minute 0 — at 500 ms (a bound) 18 of 20 executions are fast enough.
#[tokio::test]
async fn workflow_latency_from_temporal_histograms_where_no_span_describes_it() {
    use crate::catalogue::tests::metrics::histogram;
    let yaml = "slos:\n  - { name: wf-fast, sli: workflow_latency, threshold: 500ms, objective: 0.99 }\n";
    let h = with(
        histogram("temporal-worker", 1, 0, "delta", vec![10, 5, 3, 1, 1], 5.0),
        vec![
            ("metric_name", V::S("temporal_workflow_endtoend_latency")),
            (
                "attributes",
                V::Map(vec![("workflow_type", "Shipping".to_string())]),
            ),
        ],
    );
    let ctx = catalogue(
        &[(Table::MetricDistributions, vec![h])],
        &CatalogueSettings::default(),
    );
    let mut r = Rollups::new(slos(yaml));
    r.update(&ctx, at(5, 0.0)).await.unwrap();
    let got: Vec<(String, Counts)> = r
        .instances("wf-fast")
        .map(|(k, s)| (k.labels["workflow"].clone(), s.counts(minute(0), minute(1))))
        .collect();
    assert_eq!(
        got,
        vec![(
            "Shipping".to_string(),
            Counts {
                good: 18.0,
                total: 20.0
            }
        )]
    );
}
