//! The Alertmanager webhook payload (version 4), field for field as Alertmanager 0.25 sends
//! it, so existing webhook consumers work unchanged.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::dispatch::Alert;
use crate::labels::{LabelSet, fingerprint_hex};

/// Go's zero `time.Time`, which Alertmanager sends as the `endsAt` of firing alerts.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `time.Time.MarshalJSON`: RFC 3339 in UTC with the fraction's trailing zeros cut.
pub fn go_time(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(t) => {
            let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            if nanos == 0 {
                format!("{base}Z")
            } else {
                let frac = format!("{nanos:09}");
                format!("{base}.{}Z", frac.trim_end_matches('0'))
            }
        }
        None => ZERO_TIME.to_string(),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a path segment or query
/// value).
pub fn url_component(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Fills `{label}` placeholders of a URL template with the labels' values, percent-encoded
/// (a missing label is empty): `alerting.dashboard_url`.
pub fn fill_url(template: &str, labels: &LabelSet) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        let name = &rest[open + 1..open + close];
        out.push_str(&url_component(labels.get(name).map_or("", String::as_str)));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: &'static str,
    pub labels: LabelSet,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// `notify/webhook.Message`: `template.Data`, then `version`, `groupKey`, `truncatedAlerts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMessage {
    pub receiver: String,
    pub status: &'static str,
    pub alerts: Vec<WebhookAlert>,
    pub group_labels: LabelSet,
    pub common_labels: LabelSet,
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub version: &'static str,
    pub group_key: String,
    pub truncated_alerts: u64,
}

/// The pairs every map has with the same value.
fn common(maps: &[&BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let Some((first, rest)) = maps.split_first() else {
        return BTreeMap::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The message for one group's notification. `max_alerts` (0 = all) truncates the list, as
/// Alertmanager does, counting the rest in `truncatedAlerts`; common labels and annotations
/// are computed over every alert, as in Alertmanager.
pub fn message(
    receiver: &str,
    group_key: &str,
    group_labels: &LabelSet,
    alerts: &[Alert],
    external_url: &str,
    max_alerts: usize,
    now_ns: i64,
) -> WebhookMessage {
    let mut sorted: Vec<&Alert> = alerts.iter().collect();
    sorted.sort_by(|a, b| a.labels.cmp(&b.labels));
    let firing = sorted.iter().any(|a| !a.is_resolved(now_ns));
    let labels: Vec<&BTreeMap<String, String>> = sorted.iter().map(|a| &a.labels).collect();
    let annotations: Vec<&BTreeMap<String, String>> = sorted.iter().map(|a| &a.annotations).collect();
    let keep = if max_alerts == 0 {
        sorted.len()
    } else {
        max_alerts.min(sorted.len())
    };
    WebhookMessage {
        receiver: receiver.to_string(),
        status: if firing { "firing" } else { "resolved" },
        alerts: sorted[..keep]
            .iter()
            .map(|a| {
                let resolved = a.is_resolved(now_ns);
                WebhookAlert {
                    status: if resolved { "resolved" } else { "firing" },
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    starts_at: go_time(a.starts_at_ns),
                    ends_at: match (resolved, a.ends_at_ns) {
                        (true, Some(e)) => go_time(e),
                        _ => ZERO_TIME.to_string(),
                    },
                    generator_url: a.generator_url.clone(),
                    fingerprint: fingerprint_hex(&a.labels),
                }
            })
            .collect(),
        group_labels: group_labels.clone(),
        common_labels: common(&labels),
        common_annotations: common(&annotations),
        external_url: external_url.to_string(),
        version: "4",
        group_key: group_key.to_string(),
        truncated_alerts: (sorted.len() - keep) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::labels;

    const S: i64 = 1_000_000_000;

    #[test]
    fn dashboard_urls_take_label_values_percent_encoded() {
        let l = labels([("slo", "checkout avail"), ("faas_name", "a/b")]);
        assert_eq!(
            fill_url("https://g/d/x?var-slo={slo}&var-fn={faas_name}&w={workflow}", &l),
            "https://g/d/x?var-slo=checkout%20avail&var-fn=a%2Fb&w="
        );
        assert_eq!(fill_url("https://g/{unclosed", &l), "https://g/{unclosed");
    }

    fn alert(function: &str, ends: Option<i64>) -> Alert {
        Alert {
            labels: labels([
                ("alertname", "SLOBurnRate"),
                ("severity", "page"),
                ("faas_name", function),
            ]),
            annotations: [("summary".to_string(), format!("{function} burns"))].into(),
            starts_at_ns: 1_795_478_400 * S + 500_000_000,
            ends_at_ns: ends,
            generator_url: "http://127.0.0.1:8080/api/v1/slos/x".into(),
            updated_at_ns: 0,
        }
    }

    #[test]
    fn times_are_go_rfc3339nano() {
        assert_eq!(go_time(1_795_478_400 * S), "2026-11-24T00:00:00Z");
        assert_eq!(go_time(1_795_478_400 * S + 500_000_000), "2026-11-24T00:00:00.5Z");
        assert_eq!(go_time(1_795_478_400 * S + 123), "2026-11-24T00:00:00.000000123Z");
    }

    #[test]
    fn the_message_has_alertmanagers_fields_in_alertmanagers_order() {
        let now = 1_795_479_000 * S;
        let alerts = [alert("b", None), alert("a", Some(now - S))];
        let m = message(
            "oncall",
            "{}:{alertname=\"SLOBurnRate\"}",
            &labels([("alertname", "SLOBurnRate")]),
            &alerts,
            "http://127.0.0.1:8080",
            0,
            now,
        );
        let json = serde_json::to_string(&m).unwrap();
        let keys: Vec<&str> = [
            "\"receiver\"",
            "\"status\"",
            "\"alerts\"",
            "\"groupLabels\"",
            "\"commonLabels\"",
            "\"commonAnnotations\"",
            "\"externalURL\"",
            "\"version\"",
            "\"groupKey\"",
            "\"truncatedAlerts\"",
        ]
        .to_vec();
        let positions: Vec<usize> = keys.iter().map(|k| json.find(k).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert_eq!(m.status, "firing");
        assert_eq!(m.alerts[0].labels["faas_name"], "a"); // sorted by labels
        assert_eq!(m.alerts[0].status, "resolved");
        assert_eq!(m.alerts[0].ends_at, go_time(now - S));
        assert_eq!(m.alerts[1].ends_at, ZERO_TIME);
        assert_eq!(
            m.common_labels,
            labels([("alertname", "SLOBurnRate"), ("severity", "page")])
        );
        assert!(m.common_annotations.is_empty());
        assert_eq!(
            m.alerts[1].fingerprint,
            crate::labels::fingerprint_hex(&alerts[0].labels)
        );

        let truncated = message("oncall", "k", &LabelSet::new(), &alerts, "", 1, now);
        assert_eq!((truncated.alerts.len(), truncated.truncated_alerts), (1, 1));
        assert_eq!(truncated.common_labels.len(), 2); // over every alert, not just those sent
        let all_resolved = message(
            "oncall",
            "k",
            &LabelSet::new(),
            &[alert("a", Some(now - S))],
            "",
            0,
            now,
        );
        assert_eq!(all_resolved.status, "resolved");
    }
}
