//! `slod backtest`: replay an SLO's alert policy over recorded per-minute counts, without a
//! server, with exactly the burn-rate code the daemon runs.
//!
//! Input: CSV with header `minute,good,total` (RFC 3339 UTC minute, counts). Minutes missing
//! from the file have no events (no data). The policy is evaluated every `step` from the first
//! minute until the end of the last one; each alert condition (one per policy tier) yields the
//! periods in which it held.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::burn::{Counts, DenseSeries, Guard, evaluate_tier};
use crate::policy::Policy;
use crate::spec::SloSpec;

/// One period in which an alert condition held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    pub slo: String,
    /// The SLO instance's labels (`--from-store`: the function, workflow or queue).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub severity: String,
    /// `long/short`, e.g. `1h/5m`.
    pub windows: String,
    pub fired_at: String,
    /// `null` when still firing at the end of the input.
    pub resolved_at: Option<String>,
    /// Highest long-window burn rate while the condition held.
    pub max_burn_rate: f64,
}

/// Parses the events CSV; errors name the line and say how to fix it.
pub fn read_csv(text: &str) -> Result<Vec<(i64, Counts)>, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h.trim().replace(' ', "") == "minute,good,total" => {}
        Some((_, h)) => {
            return Err(format!(
                "line 1: header is {h:?}; the first line must be `minute,good,total`"
            ));
        }
        None => {
            return Err(
                "the file is empty; write a `minute,good,total` header and one row per minute".into(),
            );
        }
    }
    let mut by_minute: BTreeMap<i64, Counts> = BTreeMap::new();
    for (i, line) in lines {
        let n = i + 1;
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [minute, good, total] = cols.as_slice() else {
            return Err(format!(
                "line {n}: expected 3 columns minute,good,total, found {}",
                cols.len()
            ));
        };
        let t = DateTime::parse_from_rfc3339(minute)
            .map_err(|e| {
                format!("line {n}: {minute:?} is not an RFC 3339 time ({e}); write e.g. 2026-01-01T10:00:00Z")
            })?
            .timestamp();
        if t % 60 != 0 {
            return Err(format!(
                "line {n}: {minute} is not the start of a minute (seconds must be :00)"
            ));
        }
        let num = |v: &str, what: &str| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("line {n}: {what} {v:?} is not a non-negative number"))
        };
        let (g, tot) = (num(good, "good")?, num(total, "total")?);
        if g > tot {
            return Err(format!("line {n}: good ({g}) exceeds total ({tot})"));
        }
        if by_minute.insert(t, Counts { good: g, total: tot }).is_some() {
            return Err(format!("line {n}: minute {minute} appears twice"));
        }
    }
    if by_minute.is_empty() {
        return Err("no rows after the header".into());
    }
    Ok(by_minute.into_iter().collect())
}

pub fn rfc3339(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Replays `spec`'s policy (or `default_policy`) over the events, evaluating every `step`.
pub fn run(
    spec: &SloSpec,
    default_policy: &Policy,
    default_guard: Guard,
    events: &[(i64, Counts)],
    step: Duration,
) -> Vec<Period> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Vec::new();
    };
    let origin = first.0;
    let minutes = ((last.0 - origin) / 60 + 1) as usize;
    let mut buckets = vec![Counts::default(); minutes];
    for (t, c) in events {
        buckets[((t - origin) / 60) as usize] = *c;
    }
    let series = DenseSeries::new(origin, Duration::from_secs(60), buckets);
    let policy = spec.policy.as_ref().unwrap_or(default_policy);
    let guard = spec.guard(default_guard);
    let step = i64::try_from(step.as_secs()).unwrap_or(60).max(1);
    let mut out = Vec::new();
    for tier in &policy.tiers {
        let mut open: Option<Period> = None;
        let mut now = origin + step;
        while now <= series.end() {
            let eval = evaluate_tier(&series, now, spec.objective, tier, guard);
            let burn = eval.long.burn_rate.unwrap_or(0.0);
            let holds = eval.holds(open.is_some());
            match (&mut open, holds) {
                (None, true) => {
                    open = Some(Period {
                        slo: spec.name.clone(),
                        labels: BTreeMap::new(),
                        severity: tier.severity.0.clone(),
                        windows: tier.windows(),
                        fired_at: rfc3339(now),
                        resolved_at: None,
                        max_burn_rate: burn,
                    })
                }
                (Some(p), true) => p.max_burn_rate = p.max_burn_rate.max(burn),
                (Some(p), false) => {
                    p.resolved_at = Some(rfc3339(now));
                    out.extend(open.take());
                }
                (None, false) => {}
            }
            now += step;
        }
        out.extend(open);
    }
    for p in &mut out {
        p.max_burn_rate = (p.max_burn_rate * 1000.0).round() / 1000.0;
    }
    out
}

/// Renders periods as an aligned text table.
pub fn table(periods: &[Period]) -> String {
    let mut rows = vec![[
        "SLO".to_string(),
        "SEVERITY".into(),
        "WINDOWS".into(),
        "FIRED AT".into(),
        "RESOLVED AT".into(),
        "MAX BURN".into(),
    ]];
    for p in periods {
        let labels: Vec<String> = p.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        rows.push([
            if labels.is_empty() {
                p.slo.clone()
            } else {
                format!("{}{{{}}}", p.slo, labels.join(","))
            },
            p.severity.clone(),
            p.windows.clone(),
            p.fired_at.clone(),
            p.resolved_at.clone().unwrap_or_else(|| "(still firing)".into()),
            format!("{:.1}", p.max_burn_rate),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if periods.is_empty() {
        out.push_str("(no alert condition held)\n");
    }
    out
}
