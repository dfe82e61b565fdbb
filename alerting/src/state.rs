//! Alert state from the SLO engine's alert conditions: pending → firing (after an optional
//! `for`) → resolved, with a hold-down so a flapping burn rate does not re-page. Identity is
//! the fingerprint of the labels.
//!
//! - A condition that holds starts **pending**; it **fires** once it has held for `for`
//!   (zero by default: SLO burn-rate tiers already require two windows). A condition that
//!   stops holding while pending is dropped: it never paged.
//! - A firing alert whose condition stops holding stays firing for `hold_down`; if the
//!   condition holds again meanwhile, it is the same alert still firing (no new page). After
//!   `hold_down` it is **resolved**, with `endsAt` = when the condition stopped holding.
//! - A resolved alert is reported once more (so the resolution is notified), then forgotten.

use std::collections::BTreeMap;
use std::time::Duration;

use slod_slo::condition::{AlertCondition, ConditionState};

use crate::dispatch::Alert;
use crate::labels::{LabelSet, fingerprint};
use crate::ns;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Holding since, not yet for long enough.
    Pending { since_ns: i64 },
    /// Firing since `since_ns`; `quiet_since_ns` is when its condition last stopped holding
    /// (hold-down running), `None` while it holds.
    Firing {
        since_ns: i64,
        quiet_since_ns: Option<i64>,
    },
    /// Resolved at `at_ns`; reported once, then forgotten.
    Resolved { since_ns: i64, at_ns: i64 },
}

#[derive(Debug, Clone)]
struct Tracked {
    labels: LabelSet,
    annotations: BTreeMap<String, String>,
    phase: Phase,
    updated_at_ns: i64,
}

/// Every alert known from the conditions, by fingerprint.
#[derive(Debug)]
pub struct AlertStates {
    for_: Duration,
    hold_down: Duration,
    generator_url: String,
    /// `alerting.dashboard_url`: a `dashboard` annotation filled from each alert's labels.
    dashboard_url: Option<String>,
    alerts: BTreeMap<u64, Tracked>,
}

impl AlertStates {
    pub fn new(for_: Duration, hold_down: Duration, generator_url: &str) -> AlertStates {
        AlertStates {
            for_,
            hold_down,
            generator_url: generator_url.to_string(),
            dashboard_url: None,
            alerts: BTreeMap::new(),
        }
    }

    /// Adds a `dashboard` annotation to every alert: `template` with `{label}` placeholders.
    pub fn set_dashboard_url(&mut self, template: Option<String>) {
        self.dashboard_url = template;
    }

    /// The phase of the alert with these labels.
    pub fn phase(&self, labels: &LabelSet) -> Option<Phase> {
        self.alerts.get(&fingerprint(labels)).map(|t| t.phase)
    }

    /// Applies one evaluation's conditions at `now_ns`; returns the alerts to route: every
    /// firing alert and each alert that resolved at this evaluation.
    pub fn update(&mut self, conditions: &[AlertCondition], now_ns: i64) -> Vec<Alert> {
        let mut holding: BTreeMap<u64, &AlertCondition> = BTreeMap::new();
        for c in conditions {
            if c.state == ConditionState::Firing {
                holding.insert(fingerprint(&c.labels), c);
            }
        }
        // Forget what was reported resolved last time.
        self.alerts
            .retain(|_, t| !matches!(t.phase, Phase::Resolved { .. }));
        for (fp, c) in &holding {
            let t = self.alerts.entry(*fp).or_insert_with(|| Tracked {
                labels: c.labels.clone(),
                annotations: c.annotations.clone(),
                phase: Phase::Pending {
                    since_ns: c.active_since_ns.min(now_ns),
                },
                updated_at_ns: now_ns,
            });
            t.annotations = c.annotations.clone();
            t.phase = match t.phase {
                Phase::Pending { since_ns } if now_ns.saturating_sub(since_ns) >= ns(self.for_) => {
                    t.updated_at_ns = now_ns;
                    Phase::Firing {
                        since_ns: now_ns.min(since_ns.saturating_add(ns(self.for_))),
                        quiet_since_ns: None,
                    }
                }
                Phase::Firing { since_ns, .. } => Phase::Firing {
                    since_ns,
                    quiet_since_ns: None,
                },
                other => other,
            };
        }
        let hold = ns(self.hold_down);
        let mut gone = Vec::new();
        for (fp, t) in self.alerts.iter_mut() {
            if holding.contains_key(fp) {
                continue;
            }
            match t.phase {
                Phase::Pending { .. } => gone.push(*fp),
                Phase::Firing {
                    since_ns,
                    quiet_since_ns,
                } => {
                    let quiet = quiet_since_ns.unwrap_or(now_ns);
                    t.phase = if now_ns.saturating_sub(quiet) >= hold {
                        t.updated_at_ns = now_ns;
                        Phase::Resolved {
                            since_ns,
                            at_ns: quiet,
                        }
                    } else {
                        Phase::Firing {
                            since_ns,
                            quiet_since_ns: Some(quiet),
                        }
                    };
                }
                Phase::Resolved { .. } => {}
            }
        }
        for fp in gone {
            self.alerts.remove(&fp);
        }
        self.alerts
            .values()
            .filter_map(|t| {
                let (starts, ends) = match t.phase {
                    Phase::Pending { .. } => return None,
                    Phase::Firing { since_ns, .. } => (since_ns, None),
                    Phase::Resolved { since_ns, at_ns } => (since_ns, Some(at_ns)),
                };
                let mut annotations = t.annotations.clone();
                if let Some(template) = &self.dashboard_url {
                    annotations.insert("dashboard".into(), crate::webhook::fill_url(template, &t.labels));
                }
                Some(Alert {
                    labels: t.labels.clone(),
                    annotations,
                    starts_at_ns: starts,
                    ends_at_ns: ends,
                    generator_url: generator_url(&self.generator_url, &t.labels),
                    updated_at_ns: t.updated_at_ns,
                })
            })
            .collect()
    }
}

/// Where an alert comes from, on slod's HTTP API: the SLO's status (`/api/v1/slos/{slo}`) for
/// SLO alerts, the rules' (`/api/v1/rules`) for SQL rules.
fn generator_url(base: &str, labels: &LabelSet) -> String {
    let base = base.trim_end_matches('/');
    match labels.get("slo") {
        Some(slo) => format!("{base}/api/v1/slos/{}", crate::webhook::url_component(slo)),
        None => format!("{base}/api/v1/rules"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::labels;

    const S: i64 = 1_000_000_000;

    fn cond(function: &str, state: ConditionState, since: i64, now: i64) -> AlertCondition {
        AlertCondition {
            labels: labels([
                ("alertname", "SLOBurnRate"),
                ("severity", "page"),
                ("faas_name", function),
            ]),
            annotations: BTreeMap::new(),
            state,
            active_since_ns: since,
            evaluated_at_ns: now,
            value: 20.0,
            burn_rates: BTreeMap::new(),
            error_budget_remaining: Some(0.5),
            objective: Some(0.999),
        }
    }

    #[test]
    fn without_for_a_condition_fires_at_once_and_resolves_after_hold_down() {
        let mut st = AlertStates::new(Duration::ZERO, Duration::from_secs(300), "http://x");
        let out = st.update(&[cond("a", ConditionState::Firing, 100 * S, 100 * S)], 100 * S);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].starts_at_ns, out[0].ends_at_ns), (100 * S, None));
        // The condition resolves at 200 s: still firing during the 5 min hold-down.
        let out = st.update(&[cond("a", ConditionState::Resolved, 100 * S, 200 * S)], 200 * S);
        assert_eq!(out[0].ends_at_ns, None);
        let out = st.update(&[], 499 * S);
        assert_eq!(out[0].ends_at_ns, None);
        // Hold-down over: resolved, with endsAt when the condition stopped; reported once.
        let out = st.update(&[], 500 * S);
        assert_eq!(out[0].ends_at_ns, Some(200 * S));
        assert!(st.update(&[], 530 * S).is_empty());
        assert_eq!(st.phase(&out[0].labels), None);
    }

    #[test]
    fn a_flapping_condition_stays_one_firing_alert() {
        let mut st = AlertStates::new(Duration::ZERO, Duration::from_secs(300), "");
        st.update(&[cond("a", ConditionState::Firing, 0, 0)], 0);
        for t in [30, 60, 90, 120, 150, 180] {
            // holds every other evaluation
            let cs = if t % 60 == 0 {
                vec![cond("a", ConditionState::Firing, t * S, t * S)]
            } else {
                vec![]
            };
            let out = st.update(&cs, t * S);
            assert_eq!(out.len(), 1);
            assert_eq!((out[0].starts_at_ns, out[0].ends_at_ns), (0, None), "at {t}s");
        }
    }

    #[test]
    fn with_for_a_short_failure_never_fires() {
        let mut st = AlertStates::new(Duration::from_secs(120), Duration::from_secs(300), "");
        assert!(
            st.update(&[cond("a", ConditionState::Firing, 0, 0)], 0)
                .is_empty()
        );
        assert!(matches!(
            st.phase(&cond("a", ConditionState::Firing, 0, 0).labels),
            Some(Phase::Pending { .. })
        ));
        assert!(
            st.update(&[cond("a", ConditionState::Firing, 0, 60 * S)], 60 * S)
                .is_empty()
        );
        // Stops holding while pending: dropped, never notified.
        assert!(st.update(&[], 90 * S).is_empty());
        assert_eq!(st.phase(&cond("a", ConditionState::Firing, 0, 0).labels), None);
        // Holds for the whole `for`: fires, starting when `for` was reached.
        st.update(&[cond("b", ConditionState::Firing, 100 * S, 100 * S)], 100 * S);
        let out = st.update(&[cond("b", ConditionState::Firing, 100 * S, 220 * S)], 220 * S);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].starts_at_ns, 220 * S);
    }
}
