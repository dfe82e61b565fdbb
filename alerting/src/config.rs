//! The `alerting:` section of `slod.yaml`, shaped like Alertmanager's own config so a team can
//! paste its `route:`, `inhibit_rules:` and `receivers:` in. Alertmanager keys slod does not use
//! (`global`, `templates`, `time_intervals`, `mute_time_intervals`) are accepted and reported
//! as ignored; any other unknown key is an error. [`AlertingConfig::resolve`] checks it all and
//! reports every problem with its key path.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

use crate::inhibit::{InhibitRule, InhibitRuleConfig};
use crate::route::{Route, RouteConfig};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Links in notifications point here (slod's HTTP API).
    pub external_url: Option<String>,
    /// A dashboard link added to every alert as the `dashboard` annotation; `{label}`
    /// placeholders take the alert's label values, e.g.
    /// `https://grafana.example/d/slod-slo?var-slo={slo}&var-function={faas_name}`.
    pub dashboard_url: Option<String>,
    pub route: Option<RouteConfig>,
    #[serde(default)]
    pub inhibit_rules: Option<Vec<InhibitRuleConfig>>,
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    // Alertmanager keys slod accepts and ignores.
    pub global: Option<serde_yaml::Value>,
    pub templates: Option<serde_yaml::Value>,
    pub time_intervals: Option<serde_yaml::Value>,
    pub mute_time_intervals: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
    #[serde(default)]
    pub alertmanager_configs: Vec<AlertmanagerConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// 0 = every alert of the group.
    #[serde(default)]
    pub max_alerts: usize,
    /// Default 10s.
    pub timeout: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Environment variable holding a bearer token.
    pub bearer_token_env: Option<String>,
    /// Environment variable holding the HMAC secret for `X-Slod-Signature`.
    pub hmac_secret_env: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL; alerts go to `<url>/api/v2/alerts`.
    pub url: String,
    pub timeout: Option<String>,
}

fn yes() -> bool {
    true
}

/// A webhook ready to call.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub target: crate::deliver::WebhookTarget,
    pub send_resolved: bool,
    pub max_alerts: usize,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Alerting {
    pub external_url: String,
    pub dashboard_url: Option<String>,
    pub route: Route,
    pub inhibit: Vec<InhibitRule>,
    pub webhooks: BTreeMap<String, Vec<Webhook>>,
    /// Alertmanager base URLs and timeouts, per receiver.
    pub alertmanagers: BTreeMap<String, Vec<(String, Duration)>>,
    /// Keys accepted but not used (say so at start-up).
    pub ignored: Vec<&'static str>,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl AlertingConfig {
    /// slod's defaults where the section leaves something out: grouping by alert name, SLO,
    /// service and workflow, and a firing page inhibiting the ticket of the same SLO and
    /// function or workflow.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Alerting, Vec<String>> {
        let mut errors = Vec::new();
        let mut names = BTreeSet::new();
        for (i, r) in self.receivers.iter().enumerate() {
            if r.name.trim().is_empty() {
                errors.push(format!("alerting.receivers[{i}].name: a receiver needs a name"));
            } else if !names.insert(r.name.clone()) {
                errors.push(format!(
                    "alerting.receivers[{i}].name: {:?} is defined twice",
                    r.name
                ));
            }
        }
        // Without receivers nor a route, alerts are tracked (the API lists them) and their
        // notifications only logged, by an implicit receiver `default` without integrations.
        if self.receivers.is_empty() && self.route.is_none() {
            names.insert("default".to_string());
        }
        let mut route_config = self.route.clone().unwrap_or_else(|| RouteConfig {
            receiver: Some(
                self.receivers
                    .first()
                    .map_or_else(|| "default".to_string(), |r| r.name.clone()),
            ),
            ..RouteConfig::default()
        });
        if route_config.group_by.is_none() {
            route_config.group_by = Some(
                ["alertname", "slo", "service", "workflow"]
                    .map(String::from)
                    .to_vec(),
            );
        }
        let route = match Route::from_config(&route_config) {
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(format!("alerting.{e}"));
                None
            }
        };
        if let Some(route) = &route {
            let mut stack = vec![route];
            while let Some(r) = stack.pop() {
                if !names.contains(&r.opts.receiver) {
                    errors.push(format!(
                        "alerting.route: receiver {:?} (route {}) is not defined under alerting.receivers",
                        r.opts.receiver, r.key
                    ));
                }
                stack.extend(r.routes.iter());
            }
        }
        let inhibit = match &self.inhibit_rules {
            None => vec![InhibitRule::page_inhibits_ticket()],
            Some(rules) => rules
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    InhibitRule::from_config(c)
                        .map_err(|e| errors.push(format!("alerting.inhibit_rules[{i}]: {e}")))
                        .ok()
                })
                .collect(),
        };
        let duration = |path: String, v: &Option<String>, errors: &mut Vec<String>| match v {
            None => DEFAULT_TIMEOUT,
            Some(s) => humantime::parse_duration(s).unwrap_or_else(|_| {
                errors.push(format!("{path}: {s:?} is not a duration (write e.g. 10s)"));
                DEFAULT_TIMEOUT
            }),
        };
        let mut webhooks = BTreeMap::new();
        let mut alertmanagers = BTreeMap::new();
        for (i, r) in self.receivers.iter().enumerate() {
            for (j, w) in r.webhook_configs.iter().enumerate() {
                let path = format!("alerting.receivers[{i}].webhook_configs[{j}]");
                if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                    errors.push(format!("{path}.url: {:?} is not an http(s) URL", w.url));
                }
                let secret = |field: &str, var: &Option<String>, errors: &mut Vec<String>| {
                    var.as_ref().and_then(|v| {
                        let value = env(v);
                        if value.is_none() {
                            errors.push(format!("{path}.{field}: the environment variable {v} is not set"));
                        }
                        value
                    })
                };
                for (k, v) in &w.headers {
                    if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                        errors.push(format!("{path}.headers: {k:?} is not a valid HTTP header name"));
                    } else if reqwest::header::HeaderValue::from_str(v).is_err() {
                        errors.push(format!(
                            "{path}.headers.{k}: the value has characters an HTTP header cannot carry"
                        ));
                    }
                }
                let hmac = secret("hmac_secret_env", &w.hmac_secret_env, &mut errors);
                let bearer = secret("bearer_token_env", &w.bearer_token_env, &mut errors);
                let timeout = duration(format!("{path}.timeout"), &w.timeout, &mut errors);
                webhooks
                    .entry(r.name.clone())
                    .or_insert_with(Vec::new)
                    .push(Webhook {
                        target: crate::deliver::WebhookTarget {
                            url: w.url.clone(),
                            timeout,
                            headers: w.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                            bearer_token: bearer,
                            hmac_secret: hmac.map(String::into_bytes),
                        },
                        send_resolved: w.send_resolved,
                        max_alerts: w.max_alerts,
                    });
            }
            for (j, a) in r.alertmanager_configs.iter().enumerate() {
                let path = format!("alerting.receivers[{i}].alertmanager_configs[{j}]");
                if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
                    errors.push(format!("{path}.url: {:?} is not an http(s) URL", a.url));
                }
                let timeout = duration(format!("{path}.timeout"), &a.timeout, &mut errors);
                alertmanagers
                    .entry(r.name.clone())
                    .or_insert_with(Vec::new)
                    .push((a.url.trim_end_matches('/').to_string(), timeout));
            }
        }
        let ignored: Vec<&'static str> = [
            ("global", self.global.is_some()),
            ("templates", self.templates.is_some()),
            ("time_intervals", self.time_intervals.is_some()),
            ("mute_time_intervals", self.mute_time_intervals.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        match route {
            Some(route) if errors.is_empty() => Ok(Alerting {
                external_url: self
                    .external_url
                    .clone()
                    .unwrap_or_else(|| "http://127.0.0.1:8080".into()),
                dashboard_url: self.dashboard_url.clone(),
                route,
                inhibit,
                webhooks,
                alertmanagers,
                ignored,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "SLOD_WEBHOOK_SECRET").then(|| "hook-key".to_string())
    }

    /// DESIGN §8's example, as a user would paste it.
    const EXAMPLE: &str = r#"
external_url: http://127.0.0.1:8080
global: { resolve_timeout: 5m }
route: { receiver: default, group_by: [alertname, slo, service], group_wait: 30s,
         group_interval: 5m, repeat_interval: 4h, routes: [ { matchers: ['severity="ticket"'], receiver: tickets } ] }
inhibit_rules: [ { source_matchers: ['severity="page"'], target_matchers: ['severity="ticket"'], equal: [slo, faas_name, workflow] } ]
receivers:
  - { name: default, webhook_configs: [ { url: http://127.0.0.1:9000/hook, hmac_secret_env: SLOD_WEBHOOK_SECRET } ] }
  - { name: tickets, alertmanager_configs: [ { url: http://127.0.0.1:9093 } ] }
"#;

    #[test]
    fn the_design_example_resolves() {
        let c: AlertingConfig = serde_yaml::from_str(EXAMPLE).unwrap();
        let a = c.resolve(&env).unwrap();
        assert_eq!(a.route.opts.receiver, "default");
        assert_eq!(a.route.routes[0].opts.receiver, "tickets");
        assert_eq!(a.inhibit.len(), 1);
        let hook = &a.webhooks["default"][0];
        assert_eq!(hook.target.hmac_secret.as_deref(), Some(&b"hook-key"[..]));
        assert_eq!(hook.target.timeout, DEFAULT_TIMEOUT);
        assert!(hook.send_resolved);
        assert_eq!(a.alertmanagers["tickets"][0].0, "http://127.0.0.1:9093");
        assert_eq!(a.ignored, ["global"]);
    }

    #[test]
    fn defaults_group_by_slo_and_service_and_inhibit_tickets() {
        let c: AlertingConfig = serde_yaml::from_str(
            "receivers: [ { name: hook, webhook_configs: [ { url: 'http://127.0.0.1:1/x' } ] } ]",
        )
        .unwrap();
        let a = c.resolve(&env).unwrap();
        assert_eq!(a.route.opts.receiver, "hook");
        assert_eq!(
            a.route.opts.group_by,
            crate::route::GroupBy::Labels(
                ["alertname", "slo", "service", "workflow"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert_eq!(a.inhibit.len(), 1);
    }

    #[test]
    fn no_section_tracks_alerts_for_an_implicit_receiver() {
        let a = AlertingConfig::default().resolve(&env).unwrap();
        assert_eq!(a.route.opts.receiver, "default");
        assert!(a.webhooks.is_empty() && a.alertmanagers.is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let c: AlertingConfig = serde_yaml::from_str(
            r#"
route: { receiver: nowhere, routes: [ { matchers: ['a=~"("'] } ] }
inhibit_rules: [ { source_matchers: ['sev'] } ]
receivers:
  - { name: x, webhook_configs: [ { url: ftp://h/x, timeout: soon, bearer_token_env: NOT_SET, headers: { "bad name": v, X-Ok: "a\nb" } } ] }
  - { name: x }
"#,
        )
        .unwrap();
        let errors = c.resolve(&env).unwrap_err();
        let all = errors.join("\n");
        for want in [
            "alerting.receivers[1].name: \"x\" is defined twice",
            "alerting.route.routes[0]: matcher",
            "alerting.inhibit_rules[0]: matcher \"sev\"",
            "alerting.receivers[0].webhook_configs[0].url: \"ftp://h/x\" is not an http(s) URL",
            "alerting.receivers[0].webhook_configs[0].timeout: \"soon\" is not a duration",
            "bearer_token_env: the environment variable NOT_SET is not set",
            "webhook_configs[0].headers: \"bad name\" is not a valid HTTP header name",
            "webhook_configs[0].headers.X-Ok: the value has characters",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
        let c: AlertingConfig =
            serde_yaml::from_str("route: { receiver: ghost }\nreceivers: [ { name: real } ]").unwrap();
        let all = c.resolve(&env).unwrap_err().join("\n");
        assert!(
            all.contains("receiver \"ghost\" (route {}) is not defined"),
            "{all}"
        );
        assert!(serde_yaml::from_str::<AlertingConfig>("routes: []").is_err());
    }
}
