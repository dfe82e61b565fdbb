//! slod's native SLO format (`config/slos/*.yaml`, DESIGN §8):
//!
//! ```yaml
//! slos:
//!   - name: checkout-availability
//!     sli: availability          # availability | latency | cold_start | throttling | dlq |
//!                                # workflow_success | workflow_latency | custom
//!     selector: { faas_name: checkout }   # globs; a template when it matches many
//!     objective: 0.999           # or objective_percent: 99.9
//!     window: 30d                # rolling; or calendar: month | week
//!     threshold: 800ms           # latency, workflow_latency (default: the function's latency_threshold)
//!     max_depth: 0               # dlq
//!     sql: SELECT minute, good, total FROM ...   # custom
//!     labels: { team: payments }
//!     runbook_url: https://runbooks.example/checkout
//!     policy: [ { severity: page, long: 1h, short: 5m, burn_rate: 14.4 } ]  # overrides slo.policy
//!     min_bad_events: 3          # overrides slo.min_bad_events
//!     alert_on_no_data: false
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use marked_yaml::{Node, Spanned};
use serde::Deserialize;

use super::error::from_serde;
use super::{Checks, Location, Sli, SloSpec, SloWindow, SpecError};
use crate::duration;
use crate::policy::{Policy, Severity, Tier};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    name: Spanned<String>,
    description: Option<String>,
    sli: Spanned<String>,
    selector: Option<HashMap<Spanned<String>, Spanned<String>>>,
    objective: Option<Spanned<f64>>,
    objective_percent: Option<Spanned<f64>>,
    window: Option<Spanned<String>>,
    calendar: Option<Spanned<String>>,
    threshold: Option<Spanned<String>>,
    max_depth: Option<Spanned<f64>>,
    sql: Option<Spanned<String>>,
    labels: Option<BTreeMap<String, String>>,
    runbook_url: Option<String>,
    policy: Option<Spanned<Vec<Spanned<RawTier>>>>,
    min_bad_events: Option<Spanned<f64>>,
    alert_on_no_data: Option<bool>,
}

/// One policy tier as written: `burn_rate`, or the share of the SLO window's budget the tier
/// may spend (`budget_consumed: 0.02` → 14.4 for 1h of 30d).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTier {
    severity: String,
    long: String,
    short: String,
    burn_rate: Option<f64>,
    budget_consumed: Option<f64>,
}

/// Builds a policy from raw tiers; problems are returned as sentences with the tier's index.
pub(crate) fn policy_from(
    raw: &[Spanned<RawTier>],
    period: Duration,
) -> Result<Policy, Vec<(Option<usize>, String)>> {
    let mut problems = Vec::new();
    let mut tiers = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let long = duration::parse(&t.long);
        let short = duration::parse(&t.short);
        for (key, v, d) in [("long", &t.long, long), ("short", &t.short, short)] {
            if d.is_none() {
                problems.push((
                    Some(i),
                    format!("policy[{i}].{key}: {v:?} is not a duration such as 5m, 1h or 3d"),
                ));
            }
        }
        let burn = match (t.burn_rate, t.budget_consumed) {
            (Some(b), None) => Some(b),
            (None, Some(share)) => long.map(|l| Tier::factor_for(share, l, period)),
            _ => {
                problems.push((
                    Some(i),
                    format!("policy[{i}]: give exactly one of burn_rate or budget_consumed"),
                ));
                None
            }
        };
        if let (Some(long), Some(short), Some(burn_rate)) = (long, short, burn) {
            tiers.push(Tier {
                severity: Severity(t.severity.clone()),
                long,
                short,
                burn_rate,
            });
        }
    }
    let policy = Policy { tiers };
    // Indices of valid tiers shift when earlier tiers were dropped: map them back.
    let kept: Vec<usize> = (0..raw.len())
        .filter(|i| !problems.iter().any(|(j, _)| *j == Some(*i)))
        .collect();
    for (i, p) in policy.problems_by_tier() {
        let original = i.and_then(|i| kept.get(i).copied());
        let p = match (i, original) {
            (Some(i), Some(o)) if i != o => p.replacen(&format!("policy[{i}]"), &format!("policy[{o}]"), 1),
            _ => p,
        };
        problems.push((original, p));
    }
    if problems.is_empty() {
        Ok(policy)
    } else {
        Err(problems)
    }
}

/// Parses a native SLO file's root node; appends every problem to `errors`.
pub(crate) fn parse(file: &str, root: &Node, errors: &mut Vec<SpecError>) -> Vec<SloSpec> {
    let top = Location::of(file, root.span(), 0);
    let Some(map) = root.as_mapping() else {
        errors.push(SpecError::new(
            top,
            "expected a mapping with a `slos:` list".into(),
            "start the file with `slos:`",
        ));
        return Vec::new();
    };
    for (key, node) in map.iter() {
        if key.as_str() != "slos" {
            errors.push(SpecError::new(
                Location::of(file, node.span(), 0),
                format!("unknown top-level key {:?}", key.as_str()),
                "an SLO file has one key, `slos:` (OpenSLO files start with `apiVersion: openslo/v1`)",
            ));
        }
    }
    let Some(list) = map.get_sequence("slos") else {
        let (at, message) = match map.get_node("slos") {
            Some(node) => (
                Location::of(file, node.span(), 0),
                "`slos:` must be a list of SLOs",
            ),
            None => (top, "missing `slos:` list"),
        };
        errors.push(SpecError::new(
            at,
            message.into(),
            "write `slos:` then one `- name: ...` entry per SLO",
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in list.iter() {
        let at = Location::of(file, item.span(), 0);
        match marked_yaml::from_node::<RawSlo>(item) {
            Ok(raw) => {
                if let Some(spec) = convert(file, raw, at, errors) {
                    out.push(spec);
                }
            }
            Err(e) => errors.push(from_serde(file, &e, 0, &at)),
        }
    }
    out
}

fn loc(file: &str, span: &marked_yaml::Span) -> Location {
    Location::of(file, span, 0)
}

fn convert(file: &str, raw: RawSlo, at: Location, errors: &mut Vec<SpecError>) -> Option<SloSpec> {
    let before = errors.len();
    let mut checks = Checks { errors };
    checks.name(&raw.name, loc(file, raw.name.span()));

    let objective = match (&raw.objective, &raw.objective_percent) {
        (Some(o), None) => checks.objective(**o, loc(file, o.span())),
        (None, Some(p)) => checks.objective(**p / 100.0, loc(file, p.span())),
        (Some(o), Some(_)) => {
            checks.errors.push(SpecError::new(
                loc(file, o.span()),
                "both objective and objective_percent are set".into(),
                "keep one: objective: 0.999 or objective_percent: 99.9",
            ));
            0.0
        }
        (None, None) => {
            checks.errors.push(SpecError::new(
                at.clone(),
                format!("SLO {:?} has no objective", raw.name.as_str()),
                "add objective: 0.999 (a fraction) or objective_percent: 99.9",
            ));
            0.0
        }
    };

    let window = match (&raw.window, &raw.calendar) {
        (Some(w), None) => match duration::parse(w) {
            Some(d) if d >= Duration::from_secs(3600) && d.as_secs() % 60 == 0 => Some(SloWindow::Rolling(d)),
            _ => {
                checks.errors.push(SpecError::new(
                    loc(file, w.span()),
                    format!("window {:?} is not a rolling window of at least 1h", w.as_str()),
                    "write a duration such as 28d or 30d, or use calendar: month",
                ));
                None
            }
        },
        (None, Some(c)) => match c.as_str() {
            "month" => Some(SloWindow::CalendarMonth),
            "week" => Some(SloWindow::CalendarWeek),
            other => {
                checks.errors.push(SpecError::new(
                    loc(file, c.span()),
                    format!("calendar {other:?} is not supported"),
                    "use calendar: month or calendar: week (UTC)",
                ));
                None
            }
        },
        (Some(w), Some(_)) => {
            checks.errors.push(SpecError::new(
                loc(file, w.span()),
                "both window and calendar are set".into(),
                "a window is rolling (window: 30d) or calendar (calendar: month), not both",
            ));
            None
        }
        (None, None) => Some(SloWindow::Rolling(Duration::from_secs(30 * 86_400))),
    };

    let threshold = raw.threshold.as_ref().and_then(|t| match duration::parse(t) {
        Some(d) if !d.is_zero() => Some(d),
        _ => {
            checks.errors.push(SpecError::new(
                loc(file, t.span()),
                format!("threshold {:?} is not a duration", t.as_str()),
                "write a duration such as 800ms, 2s or 5m",
            ));
            None
        }
    });
    let sli = match raw.sli.as_str() {
        "availability" => Some(Sli::Availability),
        "latency" => Some(Sli::Latency { threshold }),
        "cold_start" => Some(Sli::ColdStart),
        "throttling" => Some(Sli::Throttling),
        "dlq" => {
            let max_depth = raw.max_depth.as_ref().map(|m| **m).unwrap_or(0.0);
            if max_depth < 0.0 || !max_depth.is_finite() {
                let span = raw
                    .max_depth
                    .as_ref()
                    .map(|m| loc(file, m.span()))
                    .unwrap_or(at.clone());
                checks.errors.push(SpecError::new(
                    span,
                    "max_depth must be ≥ 0".into(),
                    "e.g. max_depth: 0",
                ));
            }
            Some(Sli::Dlq { max_depth })
        }
        "workflow_success" => Some(Sli::WorkflowSuccess),
        "workflow_latency" => Some(Sli::WorkflowLatency { threshold }),
        "custom" => match &raw.sql {
            Some(sql) if !sql.trim().is_empty() => Some(Sli::Custom {
                sql: sql.as_str().to_string(),
            }),
            _ => {
                checks.errors.push(SpecError::new(
                    at.clone(),
                    "a custom SLI needs `sql:`".into(),
                    "sql: SELECT minute, good, total FROM ... (one row per minute, optional label columns)",
                ));
                None
            }
        },
        other => {
            checks.errors.push(SpecError::new(
                loc(file, raw.sli.span()),
                format!("unknown SLI kind {other:?}"),
                format!("use one of: {}", Sli::KINDS.join(", ")),
            ));
            None
        }
    };
    if let Some(sli) = &sli {
        let misplaced = [
            (
                "threshold",
                raw.threshold.as_ref().map(|s| s.span()),
                matches!(sli, Sli::Latency { .. } | Sli::WorkflowLatency { .. }),
            ),
            (
                "max_depth",
                raw.max_depth.as_ref().map(|s| s.span()),
                matches!(sli, Sli::Dlq { .. }),
            ),
            (
                "sql",
                raw.sql.as_ref().map(|s| s.span()),
                matches!(sli, Sli::Custom { .. }),
            ),
        ];
        for (key, span, allowed) in misplaced {
            if let (Some(span), false) = (span, allowed) {
                checks.errors.push(SpecError::new(
                    loc(file, span),
                    format!("`{key}` does not apply to sli: {}", sli.name()),
                    "remove it, or change `sli:`",
                ));
            }
        }
    }

    let mut selector = BTreeMap::new();
    for (k, v) in raw.selector.iter().flatten() {
        if let Some(sli) = &sli {
            checks.selector(sli, k, v, loc(file, k.span()));
        }
        selector.insert(super::canonical_key(k).to_string(), v.as_str().to_string());
    }

    let period = window
        .map(SloWindow::period)
        .unwrap_or(Duration::from_secs(30 * 86_400));
    let policy = raw.policy.as_ref().and_then(|p| match policy_from(p, period) {
        Ok(policy) => Some(policy),
        Err(problems) => {
            for (i, problem) in problems {
                let span = i.and_then(|i| p.get(i)).map(|t| t.span()).unwrap_or(p.span());
                checks.errors.push(SpecError::new(
                    loc(file, span),
                    problem,
                    "see docs/slo.md, \"Policy\"",
                ));
            }
            None
        }
    });
    let min_bad_events = raw.min_bad_events.as_ref().map(|m| {
        if **m < 1.0 {
            checks.errors.push(SpecError::new(
                loc(file, m.span()),
                format!("min_bad_events {} must be at least 1", **m),
                "1 disables the low-traffic guard; the default is 3",
            ));
        }
        **m
    });

    if errors.len() > before {
        return None;
    }
    Some(SloSpec {
        name: raw.name.as_str().to_string(),
        description: raw.description,
        sli: sli?,
        selector,
        objective,
        window: window?,
        labels: raw.labels.unwrap_or_default(),
        runbook_url: raw.runbook_url,
        policy,
        min_bad_events,
        alert_on_no_data: raw.alert_on_no_data.unwrap_or(false),
        origin: at,
    })
}
