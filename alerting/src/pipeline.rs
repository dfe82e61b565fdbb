//! The stages composed, Alertmanager's order: conditions → alert state → dispatch (route and
//! group, group timers) → inhibit → silence → dedup against the notification log → the
//! notifications to journal and send. [`Pipeline::tick`] is called once per SLO evaluation
//! (and on a timer for group flushes); it never sends anything itself, so it is tested with
//! explicit times, no sleeps, and the caller owns the outbox and the HTTP client.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use slod_slo::condition::AlertCondition;

use crate::dedup::{NflogEntry, Reason, needs_update};
use crate::dispatch::{Alert, Dispatcher};
use crate::inhibit::{InhibitRule, is_inhibited};
use crate::labels::LabelSet;
use crate::outbox::Notification;
use crate::route::Route;
use crate::silence::Silence;
use crate::state::AlertStates;
use crate::webhook;

/// Per-receiver settings the pipeline needs.
#[derive(Debug, Clone)]
pub struct ReceiverOpts {
    pub send_resolved: bool,
    /// 0 = every alert.
    pub max_alerts: usize,
}

impl Default for ReceiverOpts {
    fn default() -> Self {
        ReceiverOpts {
            send_resolved: true,
            max_alerts: 0,
        }
    }
}

/// A decided notification and why.
#[derive(Debug, Clone)]
pub struct Decided {
    pub notification: Notification,
    pub reason: Reason,
    pub message: webhook::WebhookMessage,
    /// `false`: nothing to tell the receiver (every alert resolved and `send_resolved` is
    /// off). Record it in the notification log without calling the receiver, as Alertmanager
    /// does, so the same alerts firing again later count as new.
    pub send: bool,
}

#[derive(Debug)]
pub struct Pipeline {
    states: AlertStates,
    dispatcher: Dispatcher,
    inhibit: Vec<InhibitRule>,
    receivers: BTreeMap<String, ReceiverOpts>,
    external_url: String,
}

impl Pipeline {
    pub fn new(
        route: Route,
        inhibit: Vec<InhibitRule>,
        receivers: BTreeMap<String, ReceiverOpts>,
        for_: Duration,
        hold_down: Duration,
        external_url: &str,
    ) -> Pipeline {
        Pipeline {
            states: AlertStates::new(for_, hold_down, external_url),
            dispatcher: Dispatcher::new(route),
            inhibit,
            receivers,
            external_url: external_url.to_string(),
        }
    }

    /// Adds a `dashboard` annotation (`alerting.dashboard_url`, `{label}` placeholders).
    pub fn with_dashboard_url(mut self, template: Option<String>) -> Pipeline {
        self.states.set_dashboard_url(template);
        self
    }

    /// The aggregation groups, with their receivers and alerts.
    pub fn groups(&self) -> impl Iterator<Item = &crate::dispatch::Group> {
        self.dispatcher.groups()
    }

    /// The label sets of the alerts firing at `now_ns` (the sources inhibition looks at).
    pub fn firing_labels(&self, now_ns: i64) -> Vec<LabelSet> {
        self.dispatcher
            .alerts()
            .values()
            .filter(|a| !a.is_resolved(now_ns))
            .map(|a| a.labels.clone())
            .collect()
    }

    /// The inhibition rules.
    pub fn inhibit_rules(&self) -> &[InhibitRule] {
        &self.inhibit
    }

    /// The alerts in the aggregation groups (for `GET /api/v1/alerts`).
    pub fn alerts(&self) -> Vec<Alert> {
        self.dispatcher.alerts().into_values().cloned().collect()
    }

    /// Takes one evaluation's conditions (or none: a timer tick), and returns the notifications
    /// due at `now_ns`. `last` reads the notification log; `new_id` makes a fresh id.
    pub fn tick(
        &mut self,
        conditions: Option<&[AlertCondition]>,
        silences: &[Silence],
        last: &dyn Fn(&str, &str) -> Option<NflogEntry>,
        new_id: &mut dyn FnMut() -> String,
        now_ns: i64,
    ) -> Vec<Decided> {
        if let Some(conditions) = conditions {
            for alert in self.states.update(conditions, now_ns) {
                self.dispatcher.insert(alert, now_ns);
            }
        }
        let firing = self.firing_labels(now_ns);
        let mut out = Vec::new();
        for flush in self.dispatcher.due(now_ns) {
            // Muted alerts are left out of this notification (they stay in the group).
            let alerts: Vec<Alert> = flush
                .alerts
                .iter()
                .filter(|a| {
                    a.is_resolved(now_ns)
                        || !(is_inhibited(&self.inhibit, &a.labels, firing.iter())
                            || silences.iter().any(|s| s.mutes(&a.labels, now_ns)))
                })
                .cloned()
                .collect();
            let receiver = flush.opts.receiver.clone();
            let opts = self.receivers.get(&receiver).cloned().unwrap_or_default();
            let fire: BTreeSet<u64> = alerts
                .iter()
                .filter(|a| !a.is_resolved(now_ns))
                .map(Alert::fingerprint)
                .collect();
            let resolved: BTreeSet<u64> = alerts
                .iter()
                .filter(|a| a.is_resolved(now_ns))
                .map(Alert::fingerprint)
                .collect();
            let prev = last(&receiver, &flush.group_key);
            let reason = needs_update(
                prev.as_ref(),
                &fire,
                &resolved,
                opts.send_resolved,
                flush.opts.repeat_interval,
                now_ns,
            );
            if let Some(reason) = reason {
                // Without send_resolved, resolved alerts are not listed, and a notification
                // left with no alert is only logged.
                let listed: Vec<Alert> = if opts.send_resolved {
                    alerts.clone()
                } else {
                    alerts
                        .iter()
                        .filter(|a| !a.is_resolved(now_ns))
                        .cloned()
                        .collect()
                };
                let send = !listed.is_empty();
                let message = webhook::message(
                    &receiver,
                    &flush.group_key,
                    &flush.group_labels,
                    if send { &listed } else { &alerts },
                    &self.external_url,
                    opts.max_alerts,
                    now_ns,
                );
                let body = serde_json::to_string(&message).unwrap_or_default();
                out.push(Decided {
                    notification: Notification {
                        id: new_id(),
                        receiver,
                        group_key: flush.group_key.clone(),
                        body,
                        firing: fire,
                        resolved,
                        created_at_ns: now_ns,
                        integration: 0,
                    },
                    reason,
                    message,
                    send,
                });
            }
            self.dispatcher.flushed(&flush, now_ns);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use slod_slo::condition::ConditionState;

    use super::*;
    use crate::labels::labels;
    use crate::route::RouteConfig;
    use crate::silence::ApiMatcher;

    const S: i64 = 1_000_000_000;

    /// The default route of DESIGN §8: one page notification per SLO and service.
    fn pipeline() -> Pipeline {
        let c: RouteConfig = serde_yaml::from_str(
            "receiver: default\ngroup_by: [alertname, slo, service, workflow]\n\
             routes:\n  - matchers: ['severity=\"ticket\"']\n    receiver: tickets\n",
        )
        .unwrap();
        Pipeline::new(
            Route::from_config(&c).unwrap(),
            vec![InhibitRule::page_inhibits_ticket()],
            BTreeMap::new(),
            Duration::ZERO,
            Duration::from_secs(300),
            "http://127.0.0.1:8080",
        )
    }

    fn cond(function: &str, severity: &str, state: ConditionState, now: i64) -> AlertCondition {
        AlertCondition {
            labels: labels([
                ("alertname", "SLOBurnRate"),
                ("severity", severity),
                ("slo", "availability"),
                ("service", "orders"),
                ("faas_name", function),
            ]),
            annotations: [("summary".to_string(), format!("{function} burns its budget"))].into(),
            state,
            active_since_ns: now,
            evaluated_at_ns: now,
            value: 20.0,
            burn_rates: BTreeMap::new(),
            error_budget_remaining: Some(0.9),
            objective: Some(0.999),
        }
    }

    /// Runs ticks every 30 s like the SLO loop, with a notification log fed by "delivery".
    struct Harness {
        p: Pipeline,
        log: RefCell<BTreeMap<(String, String), NflogEntry>>,
        sent: Vec<Decided>,
        ids: u64,
    }

    impl Harness {
        fn new() -> Harness {
            Harness {
                p: pipeline(),
                log: RefCell::default(),
                sent: Vec::new(),
                ids: 0,
            }
        }

        fn tick(&mut self, conditions: &[AlertCondition], silences: &[Silence], now: i64) -> Vec<Decided> {
            let log = &self.log;
            let last = |r: &str, g: &str| log.borrow().get(&(r.to_string(), g.to_string())).cloned();
            let mut ids = self.ids;
            let mut new_id = || {
                ids += 1;
                format!("id-{ids}")
            };
            let out = self.p.tick(Some(conditions), silences, &last, &mut new_id, now);
            self.ids = ids;
            for d in &out {
                let n = &d.notification;
                log.borrow_mut().insert(
                    (n.receiver.clone(), n.group_key.clone()),
                    NflogEntry {
                        timestamp_ns: now,
                        firing: n.firing.clone(),
                        resolved: n.resolved.clone(),
                    },
                );
            }
            self.sent.extend(out.iter().cloned());
            out
        }
    }

    fn all_firing(n: usize, severity: &str, now: i64) -> Vec<AlertCondition> {
        (0..n)
            .map(|i| cond(&format!("fn-{i}"), severity, ConditionState::Firing, now))
            .collect()
    }

    #[test]
    fn a_burst_across_twenty_functions_is_one_page_then_one_resolution() {
        let mut h = Harness::new();
        let mut t = 1000 * S;
        // Burst: 20 functions fire over three evaluations; group_wait collects them.
        for k in 0..3 {
            assert!(
                h.tick(
                    &all_firing(7 * (k + 1), "page", t)
                        .into_iter()
                        .take(20)
                        .collect::<Vec<_>>(),
                    &[],
                    t
                )
                .is_empty()
            );
            t += 10 * S;
        }
        let mut firing_notes = Vec::new();
        while t < 1000 * S + 900 * S {
            firing_notes.extend(h.tick(&all_firing(20, "page", t), &[], t));
            t += 30 * S;
        }
        assert_eq!(firing_notes.len(), 1, "one grouped page, not 20 nor a repeat");
        let m = &firing_notes[0].message;
        assert_eq!(
            (m.status, m.alerts.len(), firing_notes[0].reason),
            ("firing", 20, Reason::FirstNotification)
        );
        assert_eq!(
            m.group_labels,
            labels([
                ("alertname", "SLOBurnRate"),
                ("service", "orders"),
                ("slo", "availability")
            ])
        );
        assert_eq!(m.common_labels["severity"], "page");
        // Recovery: conditions resolve; after hold-down (5 min) and the next group flush,
        // exactly one resolved notification listing all 20.
        let resolved: Vec<AlertCondition> = (0..20)
            .map(|i| cond(&format!("fn-{i}"), "page", ConditionState::Resolved, t))
            .collect();
        let mut after = h.tick(&resolved, &[], t);
        let end = t + 1200 * S;
        while t < end {
            t += 30 * S;
            after.extend(h.tick(&[], &[], t));
        }
        assert_eq!(
            after.len(),
            1,
            "{:?}",
            after.iter().map(|d| d.reason).collect::<Vec<_>>()
        );
        assert_eq!(
            (after[0].message.status, after[0].reason),
            ("resolved", Reason::AllAlertsResolved)
        );
        assert_eq!(after[0].message.alerts.len(), 20);
        assert!(
            after[0]
                .message
                .alerts
                .iter()
                .all(|a| a.ends_at != webhook::ZERO_TIME)
        );
        assert!(h.p.alerts().is_empty());
    }

    #[test]
    fn without_send_resolved_the_resolution_is_logged_not_sent() {
        let mut h = Harness::new();
        h.p.receivers.insert(
            "default".into(),
            ReceiverOpts {
                send_resolved: false,
                max_alerts: 0,
            },
        );
        let mut t = 0;
        let mut out = Vec::new();
        while t < 300 * S {
            out.extend(h.tick(&all_firing(2, "page", t), &[], t));
            t += 30 * S;
        }
        assert_eq!(out.len(), 1);
        assert!(out[0].send);
        let mut after = Vec::new();
        while t < 1500 * S {
            after.extend(h.tick(&[], &[], t));
            t += 30 * S;
        }
        assert_eq!(after.len(), 1);
        assert_eq!(
            (after[0].reason, after[0].send),
            (Reason::AllAlertsResolved, false)
        );
        // Logged: the same alerts firing again are a first notification, sent.
        let mut again = Vec::new();
        while t < 1700 * S {
            again.extend(h.tick(&all_firing(2, "page", t), &[], t));
            t += 30 * S;
        }
        assert_eq!(again.len(), 1);
        assert_eq!(
            (again[0].reason, again[0].send),
            (Reason::FirstNotification, true)
        );
    }

    #[test]
    fn a_firing_page_inhibits_the_ticket_of_the_same_slo_and_function() {
        let mut h = Harness::new();
        let mut out = Vec::new();
        for k in 0..20 {
            let t = k * 30 * S;
            out.extend(h.tick(
                &[
                    cond("a", "page", ConditionState::Firing, t),
                    cond("a", "ticket", ConditionState::Firing, t),
                    cond("b", "ticket", ConditionState::Firing, t),
                ],
                &[],
                t,
            ));
        }
        let receivers: Vec<(String, usize)> = out
            .iter()
            .map(|d| (d.notification.receiver.clone(), d.message.alerts.len()))
            .collect();
        // The page goes out; the ticket group carries only function b's ticket.
        assert!(receivers.contains(&("default".into(), 1)), "{receivers:?}");
        let ticket: Vec<&Decided> = out
            .iter()
            .filter(|d| d.notification.receiver == "tickets")
            .collect();
        assert_eq!(ticket.len(), 1);
        assert_eq!(ticket[0].message.alerts[0].labels["faas_name"], "b");
    }

    #[test]
    fn a_silence_stops_notifications_until_it_expires() {
        let mut h = Harness::new();
        let silence = Silence {
            id: "s".into(),
            matchers: vec![ApiMatcher {
                name: "slo".into(),
                value: "availability".into(),
                is_regex: false,
                is_equal: true,
            }],
            starts_at_ns: 0,
            ends_at_ns: 600 * S,
            created_by: "oncall".into(),
            comment: "deploy window".into(),
            updated_at_ns: 0,
        };
        let mut during = Vec::new();
        let mut t = 0;
        while t < 600 * S {
            during.extend(h.tick(&all_firing(3, "page", t), std::slice::from_ref(&silence), t));
            t += 30 * S;
        }
        assert!(during.is_empty(), "{} sent while silenced", during.len());
        let mut after = Vec::new();
        while t < 1000 * S {
            after.extend(h.tick(&all_firing(3, "page", t), std::slice::from_ref(&silence), t));
            t += 30 * S;
        }
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].message.alerts.len(), 3);
    }

    #[test]
    fn a_workflow_execution_failing_in_many_steps_is_one_alert() {
        let mut h = Harness::new();
        // The rule emits one condition per execution id, whatever the number of failed steps;
        // re-reporting it on every evaluation (as steps keep failing) is the same alert.
        let exec = |t: i64| AlertCondition {
            labels: labels([
                ("alertname", "WorkflowExecutionFailed"),
                ("severity", "page"),
                ("workflow", "order-fulfilment"),
                ("workflow_execution_id", "exec-42"),
            ]),
            annotations: BTreeMap::new(),
            state: ConditionState::Firing,
            active_since_ns: 0,
            evaluated_at_ns: t,
            value: 7.0,
            burn_rates: BTreeMap::new(),
            error_budget_remaining: None,
            objective: None,
        };
        let mut out = Vec::new();
        for k in 0..20 {
            let t = k * 30 * S;
            out.extend(h.tick(&[exec(t), exec(t)], &[], t));
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].message.alerts.len(), 1);
        assert_eq!(
            out[0].message.alerts[0].labels["workflow_execution_id"],
            "exec-42"
        );
    }
}
