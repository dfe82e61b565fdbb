//! The SRE Workbook's numbers (ch. 5, "Alerting on SLOs"), reproduced by simulating the burn-rate
//! code itself: 1-second buckets, a `ManualClock` stepping one second at a time, no sleeps.
//! Expected values are the workbook's (or, where the workbook has an erratum, the corrected
//! value with the formula beside it). Detection is tested with a tolerance of one step, as the
//! workbook itself allows for discrete evaluation.

use std::time::Duration;

use slod_storage::{Clock, ManualClock};

use super::*;
use crate::policy::{Policy, Severity, Tier};

const DAY: i64 = 86_400;
const PERIOD_30D: f64 = 30.0 * 86_400.0;
const SLO: f64 = 0.999;

/// Constant traffic of `rps` requests per second, with error ratio `e(t)` for t ≥ 0 and 3 days of
/// clean history before t = 0 (so every window is full when the incident starts).
fn series(rps: f64, until: i64, e: impl Fn(i64) -> f64) -> DenseSeries {
    let origin = -3 * DAY;
    DenseSeries::new(
        origin,
        Duration::from_secs(1),
        (origin..until).map(|t| {
            let err = if t >= 0 { e(t) } else { 0.0 };
            Counts {
                good: rps * (1.0 - err),
                total: rps,
            }
        }),
    )
}

/// Steps a manual clock from 1 s to `until`, evaluating `tier` at each second; returns the
/// periods `(fired_at, resolved_at)` in seconds since the incident started.
fn periods(
    src: &DenseSeries,
    objective: f64,
    tier: &Tier,
    guard: Guard,
    until: i64,
) -> Vec<(i64, Option<i64>)> {
    let clock = ManualClock::new(0);
    let mut out: Vec<(i64, Option<i64>)> = Vec::new();
    let mut firing = false;
    while clock.now_ns() < until * 1_000_000_000 {
        clock.advance(Duration::from_secs(1));
        let now = clock.now_ns() / 1_000_000_000;
        let holds = evaluate_tier(src, now, objective, tier, guard).holds(firing);
        if holds && !firing {
            out.push((now, None));
        } else if !holds
            && firing
            && let Some(last) = out.last_mut()
        {
            last.1 = Some(now);
        }
        firing = holds;
    }
    out
}

fn first_fire(src: &DenseSeries, objective: f64, tier: &Tier, until: i64) -> Option<i64> {
    periods(src, objective, tier, Guard::default(), until)
        .first()
        .map(|p| p.0)
}

fn tiers() -> Vec<Tier> {
    Policy::default().tiers
}

/// The workbook's detection-time formula: ((1 − SLO) / error ratio) × window × burn rate.
fn workbook_detection(e: f64, tier: &Tier) -> f64 {
    (1.0 - SLO) / e * tier.long.as_secs_f64() * tier.burn_rate
}

#[test]
fn table_5_8_budget_consumed_and_factors() {
    let expected = [
        ("page", "1h/5m", 14.4, 0.02),
        ("page", "6h/30m", 6.0, 0.05),
        ("ticket", "3d/6h", 1.0, 0.10),
    ];
    let period = Duration::from_secs(30 * 86_400);
    for (tier, (sev, windows, burn, budget)) in tiers().iter().zip(expected) {
        assert_eq!(tier.severity.0, sev);
        assert_eq!(tier.windows(), windows);
        assert!((tier.burn_rate - burn).abs() < 1e-12);
        assert!((tier.budget_consumed(period) - budget).abs() < 1e-12, "{windows}");
        // And the factor back from the budget share (Sloth's formula).
        assert!((Tier::factor_for(budget, tier.long, period) - burn).abs() < 1e-9);
        // Short window = long / 12, as the workbook recommends.
        assert_eq!(tier.short * 12, tier.long);
    }
    // Table 5-6 alternative and the 5 %-in-1h rule of approach 4: 36×.
    assert!((Tier::factor_for(0.05, Duration::from_secs(3600), period) - 36.0).abs() < 1e-9);
    // Sloth's 28-day factors (V18).
    let p28 = Duration::from_secs(28 * 86_400);
    for (budget, long, want) in [
        (0.02, 1, 13.44),
        (0.05, 6, 5.6),
        (0.10, 24, 2.8),
        (0.10, 72, 0.9333),
    ] {
        let f = Tier::factor_for(budget, Duration::from_secs(long * 3600), p28);
        assert!((f - want).abs() < 1e-4, "{budget} over {long}h: {f}");
    }
}

#[test]
fn table_5_4_time_to_exhaustion() {
    // Burn rate → error ratio for a 99.9 % SLO → time to exhaust a 30-day budget.
    for (burn, error_rate, hours) in [
        (1.0, 0.001, 720.0),
        (2.0, 0.002, 360.0),
        (10.0, 0.01, 72.0),
        (1000.0, 1.0, 0.72),
    ] {
        let c = Counts {
            good: 1.0 - error_rate,
            total: 1.0,
        };
        let b = c.burn_rate(SLO).unwrap();
        assert!((b - burn).abs() < 1e-6, "{error_rate}: {b}");
        assert!((PERIOD_30D / b / 3600.0 - hours).abs() < 1e-3);
    }
}

#[test]
fn detection_time_and_budget_spent_per_error_rate() {
    // For each tier and error ratio: the simulated first firing equals the workbook formula
    // (within one 1-s step), and the budget spent at that moment is the tier's fixed share —
    // independent of the error ratio (V17). Tiers whose factor exceeds e/(1−SLO) never fire.
    let rows: &[(f64, [Option<f64>; 3])] = &[
        // e,      page 1h/5m (s), page 6h/30m (s), ticket 3d/6h (s)
        (1.0, [Some(51.84), Some(129.6), Some(259.2)]),
        (0.1, [Some(518.4), Some(1296.0), Some(2592.0)]),
        (0.02, [Some(2592.0), Some(6480.0), Some(12960.0)]),
        (0.0072, [None, Some(18_000.0), Some(36_000.0)]), // V10: only the 6h rule pages, at 5 h
        (0.002, [None, None, Some(129_600.0)]),           // V11: ticket at 36 h
        (0.001, [None, None, None]),                      // burn exactly 1: never above 1×
    ];
    let budget = [0.02, 0.05, 0.10];
    for (e, expected) in rows {
        let until = expected.iter().flatten().fold(0.0f64, |a, b| a.max(*b)) as i64 + 120;
        let until = until.max(4 * 3600);
        let src = series(1000.0, until, |_| *e);
        for (i, tier) in tiers().iter().enumerate() {
            let got = first_fire(&src, SLO, tier, until);
            match expected[i] {
                None => assert_eq!(got, None, "e={e} tier {} must never fire", tier.windows()),
                Some(want) => {
                    assert!((workbook_detection(*e, tier) - want).abs() < 1e-6);
                    let got =
                        got.unwrap_or_else(|| panic!("e={e} tier {} never fired", tier.windows())) as f64;
                    assert!(
                        got >= want && got <= want + 1.0,
                        "e={e} {}: fired at {got}s, workbook {want}s",
                        tier.windows()
                    );
                    let spent = e * got / ((1.0 - SLO) * PERIOD_30D);
                    assert!(
                        (spent - budget[i]).abs() < 0.0005,
                        "e={e} {}: spent {spent}",
                        tier.windows()
                    );
                }
            }
        }
    }
}

#[test]
fn figure_5_6_short_window_resets_quickly() {
    // V12: 15 % errors for 10 minutes against 14.4× over 1h and 5m. Fires when the long window
    // crosses (5.76 min), stops 4.52 min after the errors stop; the long window alone would
    // stay above for 54.24 min after (the workbook rounds to "5" and "60" minutes).
    let page = &tiers()[0];
    let src = series(1000.0, 2 * 3600, |t| if t < 600 { 0.15 } else { 0.0 });
    let p = periods(&src, SLO, page, Guard::default(), 2 * 3600);
    assert_eq!(p.len(), 1, "{p:?}");
    let (fired, resolved) = (p[0].0 as f64, p[0].1.unwrap_or(i64::MAX) as f64);
    assert!((345.6..=346.6).contains(&fired), "fired at {fired}");
    assert!((871.2..=872.2).contains(&resolved), "resolved at {resolved}");
    // The long window alone (a single-window rule).
    let long_only = Tier::new(Severity::page(), "1h", "1h", 14.4);
    let mut last_above = 0;
    for now in 600..5000 {
        if evaluate_tier(&src, now, SLO, &long_only, Guard::default())
            .long
            .burn_rate
            .unwrap_or(0.0)
            > 14.4
        {
            last_above = now;
        }
    }
    assert!(
        (3853..=3855).contains(&last_above),
        "long window above until {last_above}"
    );
}

#[test]
fn total_outage_resets_within_five_minutes_of_recovery() {
    // V13: e = 1 for 30 minutes: fires at 51.84 s, clears when the 5m window holds < 4.32 s of
    // errors, i.e. 4 min 55.68 s after recovery (approach 5 alone would hold ~59 min more).
    let page = &tiers()[0];
    let src = series(1000.0, 3 * 3600, |t| if t < 1800 { 1.0 } else { 0.0 });
    let p = periods(&src, SLO, page, Guard::default(), 3 * 3600);
    assert_eq!(p.len(), 1);
    assert!((51..=53).contains(&p[0].0));
    let resolved = p[0].1.unwrap_or(0) - 1800;
    assert!(
        (295..=297).contains(&resolved),
        "resolved {resolved}s after recovery"
    );
}

#[test]
fn low_traffic_one_failure_does_not_page_but_an_outage_does() {
    // V14: 10 requests per hour, one failure: hourly error ratio 10 %, burn 100× (the workbook's
    // "1,000x" is an erratum: 0.1/0.001 = 100), 13.9 % of a 30-day budget.
    let origin = -3 * DAY;
    let mut buckets = vec![Counts::default(); (3 * DAY + 7200) as usize];
    for t in (origin..7200).step_by(360) {
        buckets[(t - origin) as usize] = Counts {
            good: 1.0,
            total: 1.0,
        };
    }
    let one_bad = |t: i64| (t - origin) as usize;
    let mut single = buckets.clone();
    single[one_bad(720)] = Counts {
        good: 0.0,
        total: 1.0,
    };
    let src = DenseSeries::new(origin, Duration::from_secs(1), single);
    let page = &tiers()[0];
    let at = evaluate_tier(&src, 1000, SLO, page, Guard::default());
    assert!((at.long.burn_rate.unwrap() - 100.0).abs() < 1e-9);
    assert!((1.0 * 3600.0 / (0.001 * 10.0 * PERIOD_30D) - 0.139).abs() < 0.001);
    assert_eq!(at.state, TierState::LowTraffic, "a single failure must not page");
    for tier in tiers() {
        assert!(
            periods(&src, SLO, &tier, Guard::default(), 7200).is_empty(),
            "{}",
            tier.windows()
        );
    }
    // Without the guard the same single failure pages at once: the reason the guard exists.
    assert!(!periods(&src, SLO, page, Guard { min_bad_events: 1.0 }, 7200).is_empty());

    // A total outage of the same low-traffic function pages at its third failed request.
    let mut outage = buckets;
    for t in (0..7200).step_by(360) {
        outage[(t - origin) as usize] = Counts {
            good: 0.0,
            total: 1.0,
        };
    }
    let src = DenseSeries::new(origin, Duration::from_secs(1), outage);
    let p = periods(&src, SLO, page, Guard::default(), 7200);
    assert_eq!(p.first().map(|p| p.0), Some(721), "{p:?}");
    // Requests arrive every 6 minutes, so the 5m short window is often empty: that is not
    // evidence of recovery, and the alert must not flap.
    assert_eq!(p.len(), 1, "one page for the whole outage: {p:?}");
    assert_eq!(p[0].1, None);
}

#[test]
fn low_objective_tier_can_never_fire() {
    // V15: a 90 % SLO under a 14.4× page: a 100 % outage burns only 10×, 1.39 % of the budget per hour.
    let src = series(10.0, 3600, |_| 1.0);
    assert_eq!(first_fire(&src, 0.9, &tiers()[0], 3600), None);
    assert!((3600.0 / (0.1 * PERIOD_30D) - 0.0139).abs() < 0.0001);
    // A tier can fire only while burn × (1 − SLO) < 1: 93.06 % still pages, 93.05 % never can.
    assert!(first_fire(&src, 0.9306, &tiers()[0], 3600).is_some());
    assert_eq!(first_fire(&src, 0.9305, &tiers()[0], 3600), None);
}

#[test]
fn no_traffic_is_no_data_never_good() {
    let src = DenseSeries::new(0, Duration::from_secs(60), vec![Counts::default(); 600]);
    for tier in tiers() {
        let t = evaluate_tier(&src, 36_000, SLO, &tier, Guard::default());
        assert_eq!(t.state, TierState::NoData);
        assert!(!t.holds(true), "no data never keeps an alert firing");
        assert_eq!(t.long.sli, None);
        assert_eq!(t.long.burn_rate, None);
    }
    assert_eq!(budget_remaining(Counts::default(), SLO), None);
    // Budget: 1 − consumed; negative when overspent.
    let half = Counts {
        good: 9995.0,
        total: 10_000.0,
    };
    assert!((budget_remaining(half, SLO).unwrap() - 0.5).abs() < 1e-9);
    let over = Counts {
        good: 9980.0,
        total: 10_000.0,
    };
    assert!((budget_remaining(over, SLO).unwrap() + 1.0).abs() < 1e-9);
}

#[test]
fn very_high_objective_exhausts_in_seconds() {
    // V16: 99.999 % over 30 days: a 100 % outage exhausts the budget after 25.92 s; at a 1 %
    // canary, after 43.2 minutes.
    let src = series(100.0, 60, |_| 1.0);
    let spent = |secs: i64| src.counts(0, secs).bad() / (1e-5 * 100.0 * PERIOD_30D);
    assert!(spent(25) < 1.0 && spent(26) > 1.0);
    assert!((25.92_f64 / 0.01 / 60.0 - 43.2).abs() < 1e-9);
}

#[test]
fn dense_series_window_edges() {
    let s = DenseSeries::new(
        100,
        Duration::from_secs(60),
        (0..5).map(|i| Counts {
            good: i as f64,
            total: 10.0,
        }),
    );
    assert_eq!(s.end(), 400);
    assert_eq!(
        s.counts(100, 400),
        Counts {
            good: 10.0,
            total: 50.0
        }
    );
    assert_eq!(
        s.counts(160, 280),
        Counts {
            good: 3.0,
            total: 20.0
        }
    ); // buckets 1, 2
    assert_eq!(s.counts(0, 100), Counts::default());
    assert_eq!(s.counts(390, 1000), Counts::default()); // bucket 4 starts at 340 < 390
    assert_eq!(
        s.counts(340, 1000),
        Counts {
            good: 4.0,
            total: 10.0
        }
    );
}
