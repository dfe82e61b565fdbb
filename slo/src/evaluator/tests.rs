//! The evaluator over real catalogue views: an error-rate jump fires the page tiers, recovery
//! resolves them, and the results read back through `slo_status` and `slo_history`.

use slod_storage::Table;

use super::*;
use crate::catalogue::CatalogueSettings;
use crate::catalogue::tests::{V, at, catalogue, invocation, num, rows, with};
use crate::condition::ConditionState;
use crate::spec::parse_file;
use crate::tables::{SloHandle, Snapshot, history_batch, status_batch};

/// checkout: 20 invocations a minute for 100 minutes; minutes 70..80 fail half of them.
fn traffic() -> Vec<crate::catalogue::tests::Row> {
    let mut out = Vec::new();
    for m in 0..100i64 {
        for i in 0..20u64 {
            let id = (m as u64) * 100 + i;
            let error = (70..80).contains(&m) && i % 2 == 0;
            out.push(with(
                invocation("checkout", id, m as f64 * 60.0 + i as f64, 20.0),
                vec![("is_error", V::B(error)), ("ingest_time", V::T(at(m, i as f64)))],
            ));
        }
    }
    out
}

#[tokio::test]
async fn error_jump_fires_pages_and_recovery_resolves_them() {
    let (slos, errors) = parse_file(
        "t.yaml",
        "slos:\n  - { name: checkout-availability, sli: availability, objective: 0.999, runbook_url: https://rb }\n",
    );
    assert!(errors.is_empty());
    let ctx = catalogue(&[(Table::Spans, traffic())], &CatalogueSettings::default());
    let handle = SloHandle::default();
    handle.register(&ctx).unwrap();
    let mut ev = Evaluator::new(slos, EvalSettings::default());

    let out = ev.tick(&ctx, at(60, 0.0)).await.unwrap();
    assert_eq!(out.statuses.len(), 1);
    let s = &out.statuses[0];
    assert_eq!(s.state, SloState::Ok);
    assert_eq!((s.good, s.total), (1200.0, 1200.0));
    assert_eq!(s.burn_rates["1h"], Some(0.0));
    assert!(out.conditions.is_empty());

    // Minute 75: five minutes at 50 %: 50 bad of 1500 since the start (and of 1200 in 1h).
    let out = ev.tick(&ctx, at(75, 0.0)).await.unwrap();
    let s = &out.statuses[0];
    assert_eq!(s.state, SloState::Firing);
    assert_eq!(s.severity.as_deref(), Some("page"));
    // 1h: 50/1200 = 4.17 % → burn 41.67; 5m: 50 % → 500.
    assert!((s.burn_rates["1h"].unwrap() - 50.0 / 1200.0 / 0.001).abs() < 1e-6);
    assert!((s.burn_rates["5m"].unwrap() - 500.0).abs() < 1e-6);
    // Budget over the 30-day window: 1 − (50/1500)/0.001 = −32.3 (overspent).
    assert!((s.error_budget_remaining.unwrap() - (1.0 - 50.0 / 1500.0 / 0.001)).abs() < 1e-6);
    let windows: Vec<&str> = out
        .conditions
        .iter()
        .map(|c| c.labels["long_window"].as_str())
        .collect();
    assert_eq!(windows, ["1h", "6h", "3d"], "every tier holds");
    let page = &out.conditions[0];
    assert_eq!(page.state, ConditionState::Firing);
    assert_eq!(page.labels["alertname"], "SLOBurnRate");
    assert_eq!(page.labels["severity"], "page");
    assert_eq!(page.labels["slo"], "checkout-availability");
    assert_eq!(page.labels["faas_name"], "checkout");
    assert_eq!(page.annotations["runbook_url"], "https://rb");
    assert!(page.annotations["query"].contains("FROM sli_rollup WHERE slo = 'checkout-availability'"));
    assert_eq!(page.active_since_ns, at(75, 0.0));

    // The same through SQL.
    handle.publish(Snapshot {
        status: status_batch(&out.statuses).unwrap(),
        history: history_batch(ev.history()).unwrap(),
        rollup: std::sync::Arc::new(crate::tables::RollupView::new(ev.rollups.series().clone())),
        statuses: out.statuses.clone(),
        conditions: out.conditions.clone(),
        ..Snapshot::default()
    });
    let r = rows(
        &ctx,
        "SELECT state, severity, labels['faas_name'], round(burn_rates['5m'], 3) FROM slo_status",
    )
    .await;
    assert_eq!(r, vec![vec!["firing", "page", "checkout", "500.0"]]);
    let n = num(&ctx, "SELECT count(*) FROM slo_history WHERE state = 'firing'").await;
    assert_eq!(n, Some(3.0));
    let bad = num(
        &ctx,
        "SELECT sum(total - good) FROM sli_rollup WHERE tier = 'minute' AND slo = 'checkout-availability'",
    )
    .await;
    // Rollups cover minutes up to the current one (70..=75): 6 minutes × 10 failures.
    assert_eq!(bad, Some(60.0));

    // Minute 86: 6 clean minutes → the 5m window is clean: the 1h/5m page resolves; the
    // 6h/30m page (30m window still holds the failures) keeps firing.
    let out = ev.tick(&ctx, at(86, 0.0)).await.unwrap();
    let resolved: Vec<(&str, ConditionState)> = out
        .conditions
        .iter()
        .map(|c| (c.labels["long_window"].as_str(), c.state))
        .collect();
    assert_eq!(
        resolved,
        [
            ("6h", ConditionState::Firing),
            ("3d", ConditionState::Firing),
            ("1h", ConditionState::Resolved)
        ]
    );
    // The 6h/30m page started at minute 75 and still carries that start.
    assert_eq!(out.conditions[0].active_since_ns, at(75, 0.0));
}

#[tokio::test]
async fn an_slo_matching_nothing_is_no_data_not_good() {
    let (slos, _) = parse_file(
        "t.yaml",
        "slos:\n  - { name: ghost, sli: availability, objective: 0.99, selector: { faas_name: ghost }, alert_on_no_data: true }\n",
    );
    let ctx = catalogue(&[(Table::Spans, traffic())], &CatalogueSettings::default());
    let mut ev = Evaluator::new(slos, EvalSettings::default());
    let out = ev.tick(&ctx, at(30, 0.0)).await.unwrap();
    assert_eq!(out.statuses.len(), 1);
    assert_eq!(out.statuses[0].state, SloState::NoData);
    assert_eq!(out.statuses[0].sli, None);
    assert!(out.conditions.is_empty(), "no instance, nothing to alert on");
}
