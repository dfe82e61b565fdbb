//! Grouping, as Alertmanager's dispatcher: each alert goes to the aggregation group of every
//! route that handles it (route key + group labels). A new group waits `group_wait` before its
//! first flush (so alerts of one incident arrive together) — at once if the alert is already
//! older than that — then flushes every `group_interval`. A flush hands the group's alerts to
//! the notify pipeline; resolved alerts leave the group once a notification carried them, and
//! an empty group is dropped. Time is passed in (unix ns): the same calls in tests replay any
//! schedule exactly.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::labels::{LabelSet, fingerprint, label_set_string};
use crate::ns;
use crate::route::{Route, RouteOpts};

/// One alert as the alerting pipeline sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub labels: LabelSet,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ns: i64,
    /// When it resolved; `None` while firing.
    pub ends_at_ns: Option<i64>,
    pub generator_url: String,
    /// Last change (unix ns): a resolved alert updated after a flush stays in its group.
    pub updated_at_ns: i64,
}

impl Alert {
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }

    pub fn is_resolved(&self, now_ns: i64) -> bool {
        self.ends_at_ns.is_some_and(|e| e <= now_ns)
    }
}

/// One aggregation group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Alertmanager's group key: `<route key>:<group labels>`.
    pub key: String,
    pub labels: LabelSet,
    pub opts: RouteOpts,
    pub alerts: BTreeMap<u64, Alert>,
    pub next_flush_ns: i64,
    pub flushed: bool,
}

/// A group's alerts at a flush.
#[derive(Debug, Clone, PartialEq)]
pub struct Flush {
    pub group_key: String,
    pub group_labels: LabelSet,
    pub opts: RouteOpts,
    pub alerts: Vec<Alert>,
}

/// Every aggregation group of one routing tree.
#[derive(Debug)]
pub struct Dispatcher {
    route: Route,
    groups: BTreeMap<String, Group>,
}

impl Dispatcher {
    pub fn new(route: Route) -> Dispatcher {
        Dispatcher {
            route,
            groups: BTreeMap::new(),
        }
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Adds or updates an alert in the groups of every route that handles it.
    pub fn insert(&mut self, alert: Alert, now_ns: i64) {
        let fp = alert.fingerprint();
        for route in self.route.matches(&alert.labels) {
            let labels = route.opts.group_by.group_labels(&alert.labels);
            let key = format!("{}:{}", route.key, label_set_string(&labels));
            let group = self.groups.entry(key.clone()).or_insert_with(|| Group {
                key,
                labels,
                opts: route.opts.clone(),
                alerts: BTreeMap::new(),
                next_flush_ns: now_ns.saturating_add(ns(route.opts.group_wait)),
                flushed: false,
            });
            // An alert older than group_wait need not wait for company.
            if !group.flushed && alert.starts_at_ns.saturating_add(ns(group.opts.group_wait)) < now_ns {
                group.next_flush_ns = group.next_flush_ns.min(now_ns);
            }
            match group.alerts.get_mut(&fp) {
                // Keep when it first started; take everything else from the newer report.
                Some(existing) => {
                    let starts = existing.starts_at_ns.min(alert.starts_at_ns);
                    *existing = Alert {
                        starts_at_ns: starts,
                        ..alert.clone()
                    };
                }
                None => {
                    group.alerts.insert(fp, alert.clone());
                }
            }
        }
    }

    /// The groups whose timer is due at `now_ns`, each with its alerts; their timers move
    /// on by `group_interval`.
    pub fn due(&mut self, now_ns: i64) -> Vec<Flush> {
        let mut out = Vec::new();
        for g in self.groups.values_mut() {
            if g.next_flush_ns > now_ns {
                continue;
            }
            g.next_flush_ns = now_ns.saturating_add(ns(g.opts.group_interval));
            g.flushed = true;
            if g.alerts.is_empty() {
                continue;
            }
            out.push(Flush {
                group_key: g.key.clone(),
                group_labels: g.labels.clone(),
                opts: g.opts.clone(),
                alerts: g.alerts.values().cloned().collect(),
            });
        }
        out
    }

    /// After a flush was handled (notified, or found to need no notification): resolved
    /// alerts that were part of it and have not changed since leave the group; empty groups go.
    pub fn flushed(&mut self, flush: &Flush, now_ns: i64) {
        if let Some(g) = self.groups.get_mut(&flush.group_key) {
            for a in &flush.alerts {
                let fp = a.fingerprint();
                if a.is_resolved(now_ns)
                    && g.alerts
                        .get(&fp)
                        .is_some_and(|cur| cur.updated_at_ns == a.updated_at_ns)
                {
                    g.alerts.remove(&fp);
                }
            }
            if g.alerts.is_empty() {
                self.groups.remove(&flush.group_key);
            }
        }
    }

    /// Every alert held in any group, once (for inhibition: only firing ones inhibit).
    pub fn alerts(&self) -> BTreeMap<u64, &Alert> {
        self.groups
            .values()
            .flat_map(|g| g.alerts.iter().map(|(fp, a)| (*fp, a)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::labels;
    use crate::route::RouteConfig;

    const S: i64 = 1_000_000_000;

    fn dispatcher() -> Dispatcher {
        let c: RouteConfig = serde_yaml::from_str(
            "receiver: default\ngroup_by: [alertname, slo, service]\ngroup_wait: 30s\ngroup_interval: 5m\n\
             routes:\n  - matchers: ['severity=\"ticket\"']\n    receiver: tickets\n",
        )
        .unwrap();
        Dispatcher::new(Route::from_config(&c).unwrap())
    }

    fn alert(function: &str, severity: &str, starts: i64) -> Alert {
        Alert {
            labels: labels([
                ("alertname", "SLOBurnRate"),
                ("slo", "availability"),
                ("service", "orders"),
                ("faas_name", function),
                ("severity", severity),
            ]),
            annotations: BTreeMap::new(),
            starts_at_ns: starts,
            ends_at_ns: None,
            generator_url: String::new(),
            updated_at_ns: starts,
        }
    }

    #[test]
    fn twenty_functions_of_one_service_make_one_group_flushed_after_group_wait() {
        let mut d = dispatcher();
        for i in 0..20 {
            d.insert(
                alert(&format!("fn-{i}"), "page", 1000 * S + i * S),
                1000 * S + i * S,
            );
        }
        assert_eq!(d.groups().count(), 1);
        assert!(d.due(1029 * S).is_empty()); // group_wait runs from the first alert
        let f = d.due(1030 * S);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].alerts.len(), 20);
        assert_eq!(
            f[0].group_key,
            r#"{}:{alertname="SLOBurnRate", service="orders", slo="availability"}"#
        );
        assert_eq!(f[0].opts.receiver, "default");
        // Then every group_interval.
        assert!(d.due(1030 * S + 299 * S).is_empty());
        assert_eq!(d.due(1330 * S).len(), 1);
    }

    #[test]
    fn routes_split_groups_and_old_alerts_skip_group_wait() {
        let mut d = dispatcher();
        d.insert(alert("a", "page", 100 * S), 100 * S);
        d.insert(alert("a", "ticket", 100 * S), 100 * S);
        let keys: Vec<String> = d
            .groups()
            .map(|g| format!("{} -> {}", g.key, g.opts.receiver))
            .collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(
            keys.iter()
                .any(|k| k.starts_with(r#"{}/{severity="ticket"}:"#) && k.ends_with("tickets"))
        );

        // An alert that started long ago (a restart, a late evaluation) flushes at once.
        let mut d = dispatcher();
        d.insert(alert("b", "page", 0), 500 * S);
        assert_eq!(d.due(500 * S).len(), 1);
    }

    #[test]
    fn resolved_alerts_leave_after_their_notification_and_empty_groups_go() {
        let mut d = dispatcher();
        d.insert(alert("a", "page", 0), 0);
        d.insert(alert("b", "page", 0), 0);
        let f = d.due(30 * S);
        d.flushed(&f[0], 30 * S);
        assert_eq!(d.alerts().len(), 2);
        let mut resolved = alert("a", "page", 0);
        resolved.ends_at_ns = Some(100 * S);
        resolved.updated_at_ns = 100 * S;
        d.insert(resolved, 100 * S);
        let f = d.due(330 * S);
        assert_eq!(f[0].alerts.iter().filter(|a| a.is_resolved(330 * S)).count(), 1);
        d.flushed(&f[0], 330 * S);
        assert_eq!(d.alerts().len(), 1);
        let mut b = alert("b", "page", 0);
        b.ends_at_ns = Some(400 * S);
        b.updated_at_ns = 400 * S;
        d.insert(b, 400 * S);
        let f = d.due(630 * S);
        d.flushed(&f[0], 630 * S);
        assert_eq!(d.groups().count(), 0);
    }

    #[test]
    fn a_re_report_keeps_the_first_start() {
        let mut d = dispatcher();
        d.insert(alert("a", "page", 10 * S), 10 * S);
        let mut again = alert("a", "page", 50 * S);
        again.annotations.insert("summary".into(), "newer".into());
        d.insert(again, 50 * S);
        let a = d.alerts().values().next().copied().cloned().unwrap();
        assert_eq!(a.starts_at_ns, 10 * S);
        assert_eq!(a.annotations["summary"], "newer");
    }
}
