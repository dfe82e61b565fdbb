//! Alert conditions: what the SLO engine (burn-rate tiers and SQL rules) hands to the
//! alerting crate. The alerting crate depends on this type, never the reverse (DESIGN §1).

use std::collections::BTreeMap;

use serde::Serialize;

/// Whether a condition holds at this evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionState {
    Firing,
    /// Held at the previous evaluation, no longer does (sent once).
    Resolved,
}

/// One alert condition at one evaluation. Identity = its labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertCondition {
    /// SLO tiers: `alertname` (`SLOBurnRate`), `severity`, `slo`, `service`, `faas_name` or
    /// `workflow` (or `queue`), `cloud_provider`, `cloud_region`, `long_window`,
    /// `short_window`, and the SLO's own labels. SQL rules: `alertname` (the rule's name),
    /// `severity`, the query's label columns and the rule's labels.
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`, `runbook_url` (when configured) and `query` (SQL to drill in).
    pub annotations: BTreeMap<String, String>,
    pub state: ConditionState,
    /// When the condition started to hold (unix ns).
    pub active_since_ns: i64,
    /// This evaluation (unix ns).
    pub evaluated_at_ns: i64,
    /// SLO tiers: the long window's burn rate; SQL rules: the query's `value`.
    pub value: f64,
    /// Burn rate per window (`1h`, `5m`).
    pub burn_rates: BTreeMap<String, f64>,
    pub error_budget_remaining: Option<f64>,
    /// The SLO's objective; `None` for SQL rules.
    pub objective: Option<f64>,
}
