//! The routing tree, as Alertmanager's: every alert enters at the root (which matches all),
//! descends into the first matching child (and further siblings while a matching child has
//! `continue: true`), and is handled by the deepest matching routes. Children inherit what they
//! leave unset. The config keys are Alertmanager's, so a user's `route:` block pastes in.

use std::time::Duration;

use serde::Deserialize;

use crate::labels::LabelSet;
use crate::matcher::{MatchOp, Matcher, MatcherError, Matchers};

/// Alertmanager's defaults.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// A `route:` block as written in the config.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub receiver: Option<String>,
    pub group_by: Option<Vec<String>>,
    #[serde(rename = "continue", default)]
    pub continue_: bool,
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Deprecated in Alertmanager, still accepted: equality matchers.
    #[serde(rename = "match", default)]
    pub match_eq: std::collections::BTreeMap<String, String>,
    /// Deprecated in Alertmanager, still accepted: regex matchers.
    #[serde(default)]
    pub match_re: std::collections::BTreeMap<String, String>,
    pub group_wait: Option<String>,
    pub group_interval: Option<String>,
    pub repeat_interval: Option<String>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// How alerts of a route are grouped into notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `group_by: ['...']`: every distinct label set is its own group.
    All,
    /// These labels (those an alert lacks are left out of its group labels).
    Labels(Vec<String>),
}

impl GroupBy {
    /// The labels that name an alert's group.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        match self {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }
}

/// What a matched route decides for an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOpts {
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
}

/// A resolved route.
#[derive(Debug, Clone)]
pub struct Route {
    pub matchers: Matchers,
    pub continue_: bool,
    pub opts: RouteOpts,
    /// Alertmanager's `Route.Key()`: the matchers of every route from the root, `/`-joined.
    pub key: String,
    pub routes: Vec<Route>,
}

/// A route block that cannot be used, with where it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteError {
    #[error("{path}: {source}")]
    Matcher { path: String, source: MatcherError },
    #[error("{path}.{field}: {value:?} is not a duration (write e.g. 30s, 5m, 4h)")]
    Duration {
        path: String,
        field: &'static str,
        value: String,
    },
    #[error("{path}: the root route needs a receiver")]
    NoReceiver { path: String },
    #[error("route: the root route must match every alert; move its matchers into a child route")]
    RootMatchers,
    #[error("{path}.group_by: '...' groups by every label and cannot be combined with label names")]
    GroupByAll { path: String },
}

fn duration(
    path: &str,
    field: &'static str,
    v: &Option<String>,
    inherited: Duration,
) -> Result<Duration, RouteError> {
    match v {
        None => Ok(inherited),
        Some(s) => humantime::parse_duration(s).map_err(|_| RouteError::Duration {
            path: path.to_string(),
            field,
            value: s.clone(),
        }),
    }
}

impl Route {
    /// Resolves the root `route:` block (defaults: Alertmanager's timers, no grouping labels).
    pub fn from_config(c: &RouteConfig) -> Result<Route, RouteError> {
        if !c.matchers.is_empty() || !c.match_eq.is_empty() || !c.match_re.is_empty() {
            return Err(RouteError::RootMatchers);
        }
        let receiver = c
            .receiver
            .clone()
            .ok_or_else(|| RouteError::NoReceiver { path: "route".into() })?;
        let parent = RouteOpts {
            receiver,
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
        };
        Route::resolve(c, &parent, None, "route")
    }

    fn resolve(
        c: &RouteConfig,
        parent: &RouteOpts,
        parent_key: Option<&str>,
        path: &str,
    ) -> Result<Route, RouteError> {
        let at = |source: MatcherError| RouteError::Matcher {
            path: path.to_string(),
            source,
        };
        let mut list = Matchers::parse(&c.matchers).map_err(at)?;
        for (k, v) in &c.match_eq {
            list.0.push(Matcher::new(k, MatchOp::Equal, v).map_err(at)?);
        }
        for (k, v) in &c.match_re {
            list.0.push(Matcher::new(k, MatchOp::Regex, v).map_err(at)?);
        }
        let group_by = match &c.group_by {
            None => parent.group_by.clone(),
            Some(names) if names.iter().any(|n| n == "...") => {
                if names.len() > 1 {
                    return Err(RouteError::GroupByAll {
                        path: path.to_string(),
                    });
                }
                GroupBy::All
            }
            Some(names) => GroupBy::Labels(names.clone()),
        };
        let opts = RouteOpts {
            receiver: c.receiver.clone().unwrap_or_else(|| parent.receiver.clone()),
            group_by,
            group_wait: duration(path, "group_wait", &c.group_wait, parent.group_wait)?,
            group_interval: duration(path, "group_interval", &c.group_interval, parent.group_interval)?,
            repeat_interval: duration(
                path,
                "repeat_interval",
                &c.repeat_interval,
                parent.repeat_interval,
            )?,
        };
        let key = match parent_key {
            Some(p) => format!("{p}/{list}"),
            None => list.to_string(),
        };
        let routes = c
            .routes
            .iter()
            .enumerate()
            .map(|(i, child)| Route::resolve(child, &opts, Some(&key), &format!("{path}.routes[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Route {
            matchers: list,
            continue_: c.continue_,
            opts,
            key,
            routes,
        })
    }

    /// The routes that handle `labels` (Alertmanager's `Route.Match`): the deepest matching
    /// routes, stopping at the first matching child unless it has `continue: true`.
    pub fn matches(&self, labels: &LabelSet) -> Vec<&Route> {
        if !self.matchers.matches(labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let m = child.matches(labels);
            let matched = !m.is_empty();
            all.extend(m);
            if matched && !child.continue_ {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::labels;

    fn tree(yaml: &str) -> Route {
        Route::from_config(&serde_yaml::from_str(yaml).unwrap()).unwrap()
    }

    const TREE: &str = r#"
receiver: default
group_by: [alertname, slo, service]
routes:
  - matchers: ['severity="ticket"']
    receiver: tickets
    group_wait: 1m
  - matchers: ['team=~"payments|billing"']
    receiver: payments
    continue: true
    routes:
      - matchers: ['severity="page"']
        receiver: payments-pager
        group_by: ['...']
  - matchers: ['cloud_provider="aws"']
    receiver: aws
    repeat_interval: 1h
"#;

    #[test]
    fn alerts_take_the_deepest_matching_routes_and_inherit_the_rest() {
        let root = tree(TREE);
        let receivers = |l: LabelSet| -> Vec<String> {
            root.matches(&l).iter().map(|r| r.opts.receiver.clone()).collect()
        };
        // No child matches: the root handles it.
        assert_eq!(receivers(labels([("severity", "page")])), ["default"]);
        // First matching child, no continue: stop there (aws is not tried).
        assert_eq!(
            receivers(labels([("severity", "ticket"), ("cloud_provider", "aws")])),
            ["tickets"]
        );
        // continue: true goes on to the next siblings; the nested page route wins inside.
        assert_eq!(
            receivers(labels([
                ("team", "payments"),
                ("severity", "page"),
                ("cloud_provider", "aws")
            ])),
            ["payments-pager", "aws"]
        );
        assert_eq!(receivers(labels([("team", "billing")])), ["payments"]);

        let r = root.matches(&labels([("severity", "ticket")]))[0];
        assert_eq!(r.opts.group_wait, Duration::from_secs(60));
        assert_eq!(r.opts.group_interval, DEFAULT_GROUP_INTERVAL); // inherited default
        assert_eq!(
            r.opts.group_by,
            GroupBy::Labels(vec!["alertname".into(), "slo".into(), "service".into()])
        );
        let aws = root.matches(&labels([("cloud_provider", "aws")]))[0];
        assert_eq!(aws.opts.repeat_interval, Duration::from_secs(3600));
        let pager = root.matches(&labels([("team", "payments"), ("severity", "page")]))[0];
        assert_eq!(pager.opts.group_by, GroupBy::All);
    }

    #[test]
    fn route_keys_are_alertmanagers() {
        let root = tree(TREE);
        assert_eq!(root.key, "{}");
        assert_eq!(root.routes[0].key, r#"{}/{severity="ticket"}"#);
        assert_eq!(
            root.routes[1].routes[0].key,
            r#"{}/{team=~"payments|billing"}/{severity="page"}"#
        );
    }

    #[test]
    fn group_labels_keep_only_the_labels_an_alert_has() {
        let by = GroupBy::Labels(vec!["alertname".into(), "slo".into(), "service".into()]);
        let l = labels([
            ("alertname", "SLOBurnRate"),
            ("service", "checkout"),
            ("faas_name", "a"),
        ]);
        assert_eq!(
            by.group_labels(&l),
            labels([("alertname", "SLOBurnRate"), ("service", "checkout")])
        );
        assert_eq!(GroupBy::All.group_labels(&l), l);
    }

    #[test]
    fn bad_routes_are_refused_with_where_and_why() {
        for (yaml, want) in [
            ("group_by: [a]", "the root route needs a receiver"),
            (
                "receiver: x\nmatchers: ['a=\"b\"']",
                "root route must match every alert",
            ),
            (
                "receiver: x\nroutes: [{group_wait: soon}]",
                "route.routes[0].group_wait: \"soon\" is not a duration",
            ),
            (
                "receiver: x\nroutes: [{matchers: ['a=~\"(\"']}]",
                "route.routes[0]: matcher",
            ),
            ("receiver: x\ngroup_by: ['...', a]", "cannot be combined"),
        ] {
            let c: RouteConfig = serde_yaml::from_str(yaml).unwrap();
            let e = Route::from_config(&c).unwrap_err().to_string();
            assert!(e.contains(want), "{yaml}: {e}");
        }
        assert!(serde_yaml::from_str::<RouteConfig>("receiver: x\nmute_time_intervals: [a]").is_err());
    }
}
