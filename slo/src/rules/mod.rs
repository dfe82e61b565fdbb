//! SQL alert rules (DESIGN §4): symptoms no SLO covers, written as SQL over the signal
//! catalogue. A rule's query returns one row per alert instance — label columns and a numeric
//! `value` — and a condition on `value` decides which instances hold. An instance that holds
//! for the rule's `for` fires; one that stops holding (or disappears) is resolved once. Rule
//! conditions are [`AlertCondition`](crate::condition::AlertCondition)s, the same type the
//! SLO burn-rate tiers produce.
//!
//! - [`file`]: rule files (`config/rules/*.yaml`), parsed with file:line:column errors;
//! - [`sql`]: the `$__now` placeholder and read-only validation (parse, then plan against
//!   the catalogue);
//! - [`template`]: `{{ $labels.x }}` / `{{ $value }}` annotations;
//! - [`defaults`]: the built-in rules;
//! - [`engine`]: evaluation every tick, pending/`for` state, resolution;
//! - [`minutes`]: `function_minute` kept across ticks, recomputing only what can have changed;
//! - [`output`]: the `slo_rules` table and the `slod_rule_*` metrics.

pub mod defaults;
pub mod engine;
pub mod file;
pub mod minutes;
pub mod output;
pub mod scope;
pub mod sql;
pub mod template;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

pub use engine::{InstanceState, RuleEngine, RuleInstance, RuleOutput};
pub use file::{LoadedRules, load_effective, load_rule_files, parse_rule_file};
pub use template::Template;

use crate::spec::Location;

/// A comparison of the `value` column with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    pub const ALL: [Op; 6] = [Op::Ge, Op::Le, Op::Eq, Op::Ne, Op::Gt, Op::Lt];

    pub fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// `value <op> <threshold>`; NaN never holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Condition {
    pub op: Op,
    pub threshold: f64,
}

impl Condition {
    pub fn holds(&self, value: f64) -> bool {
        let t = self.threshold;
        match self.op {
            Op::Gt => value > t,
            Op::Ge => value >= t,
            Op::Lt => value < t,
            Op::Le => value <= t,
            Op::Eq => value == t,
            Op::Ne => value != t && !value.is_nan(),
        }
    }

    /// Parses `value > 10`, `> 10`, `value >= 0.8` (the left side, when written, must be
    /// `value`).
    pub fn parse(text: &str) -> Option<Condition> {
        let t = text.trim();
        let t = t.strip_prefix("value").map(str::trim_start).unwrap_or(t);
        let op = Op::ALL.into_iter().find(|op| t.starts_with(op.symbol()))?;
        let threshold: f64 = t[op.symbol().len()..].trim().parse().ok()?;
        threshold.is_finite().then_some(Condition { op, threshold })
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "value {} {}", self.op.symbol(), self.threshold)
    }
}

/// One SQL alert rule, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSpec {
    /// The `alertname` label.
    pub name: String,
    /// SQL over the catalogue; `$__now` stands for the evaluation time.
    pub sql: String,
    /// `None`: every row the query returns is an active instance.
    pub condition: Option<Condition>,
    /// How long an instance must hold before it fires (pending until then).
    #[serde(rename = "for", serialize_with = "ser_duration")]
    pub for_: Duration,
    /// How far back the query may read raw telemetry: the storage tables it sees (and the
    /// catalogue views over them) hold only rows of `[now − lookback, now]`, so a rule over
    /// the last 15 minutes does not scan every retained span. `None`: all retained data.
    #[serde(serialize_with = "ser_opt_duration")]
    pub lookback: Option<Duration>,
    pub severity: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, Template>,
    pub runbook_url: Option<String>,
    /// Built into slod (see [`defaults`]) rather than read from a file.
    pub builtin: bool,
    #[serde(skip)]
    pub origin: Location,
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::duration::format(*d))
}

fn ser_opt_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

/// Default severity of a rule that names none.
pub const DEFAULT_SEVERITY: &str = "ticket";

#[cfg(test)]
mod tests;
