//! Multiwindow, multi-burn-rate alerting policy (SRE Workbook ch. 5, "Alerting on SLOs").
//!
//! A policy is a list of tiers. A tier holds when the burn rate over its long window **and**
//! over its short window are both at or above its factor (and the low-traffic guard is met):
//! the long window proves the budget is being spent, the short one that it still is, so the
//! alert resets minutes after recovery instead of hours.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::duration;

/// How urgent a tier's alert is; becomes the `severity` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Severity(pub String);

impl Severity {
    pub fn page() -> Self {
        Severity("page".into())
    }
    pub fn ticket() -> Self {
        Severity("ticket".into())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One row of the policy table: alert at `severity` when burn ≥ `burn_rate` over both windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tier {
    pub severity: Severity,
    #[serde(serialize_with = "ser_duration")]
    pub long: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub short: Duration,
    pub burn_rate: f64,
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&duration::format(*d))
}

impl Tier {
    pub fn new(severity: Severity, long: &str, short: &str, burn_rate: f64) -> Tier {
        Tier {
            severity,
            long: duration::parse(long).unwrap_or_default(),
            short: duration::parse(short).unwrap_or_default(),
            burn_rate,
        }
    }

    /// `1h/5m`: how windows are named in labels, metrics and backtest output.
    pub fn windows(&self) -> String {
        format!("{}/{}", duration::format(self.long), duration::format(self.short))
    }

    /// Fraction of the budget of an SLO `period` spent when this tier first fires under a
    /// constant error ratio (workbook: `burn rate × alerting window / period`).
    pub fn budget_consumed(&self, period: Duration) -> f64 {
        self.burn_rate * self.long.as_secs_f64() / period.as_secs_f64()
    }

    /// The factor that spends `budget_fraction` of a `period` budget in `long` (Sloth's
    /// formula; 2 % of 30 d in 1 h → 14.4).
    pub fn factor_for(budget_fraction: f64, long: Duration, period: Duration) -> f64 {
        budget_fraction * period.as_secs_f64() / long.as_secs_f64()
    }
}

/// The tiers evaluated for an SLO, most urgent first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Policy {
    pub tiers: Vec<Tier>,
}

impl Default for Policy {
    /// The workbook's Table 5-8: page at 14.4× over 1h & 5m (2 % of a 30-day budget), page at
    /// 6× over 6h & 30m (5 %), ticket at 1× over 3d & 6h (10 %).
    fn default() -> Self {
        Policy {
            tiers: vec![
                Tier::new(Severity::page(), "1h", "5m", 14.4),
                Tier::new(Severity::page(), "6h", "30m", 6.0),
                Tier::new(Severity::ticket(), "3d", "6h", 1.0),
            ],
        }
    }
}

impl Policy {
    /// Every problem with the tiers, each as a sentence that says how to fix it.
    pub fn problems(&self) -> Vec<String> {
        self.problems_by_tier().into_iter().map(|(_, p)| p).collect()
    }

    /// [`Policy::problems`] with the index of the tier each is about (`None`: the whole list).
    pub fn problems_by_tier(&self) -> Vec<(Option<usize>, String)> {
        let mut out = Vec::new();
        if self.tiers.is_empty() {
            out.push((
                None,
                "policy has no tiers: list at least one {severity, long, short, burn_rate}".into(),
            ));
        }
        for (i, t) in self.tiers.iter().enumerate() {
            let at = format!("policy[{i}]");
            let mut out = Tagged(i, &mut out);
            if t.severity.0.trim().is_empty() {
                out.push(format!(
                    "{at}.severity is empty: use page, ticket or your own severity name"
                ));
            }
            if t.long.is_zero() || t.short.is_zero() {
                out.push(format!(
                    "{at}: windows must be positive durations such as 1h and 5m"
                ));
            } else if t.short >= t.long {
                out.push(format!(
                    "{at}: short window {} must be shorter than long window {} (the workbook uses long/12)",
                    duration::format(t.short),
                    duration::format(t.long)
                ));
            }
            if t.long.as_secs() % 60 != 0 || t.short.as_secs() % 60 != 0 {
                out.push(format!(
                    "{at}: windows must be whole minutes (rollups are per minute)"
                ));
            }
            if !(t.burn_rate.is_finite() && t.burn_rate > 0.0) {
                out.push(format!("{at}.burn_rate must be a positive number, e.g. 14.4"));
            }
        }
        out
    }

    /// The longest window any tier reads.
    pub fn longest_window(&self) -> Duration {
        self.tiers.iter().map(|t| t.long).max().unwrap_or_default()
    }
}

/// Pushes problems tagged with a tier index.
struct Tagged<'a>(usize, &'a mut Vec<(Option<usize>, String)>);

impl Tagged<'_> {
    fn push(&mut self, problem: String) {
        self.1.push((Some(self.0), problem));
    }
}
