//! SLO specifications: the model every format parses into, and its validation.
//!
//! Two file formats, mixed freely in `slo.files`: slod's native YAML ([`native`]) and
//! OpenSLO v1 ([`openslo`]). Every problem is reported with `file:line:column`, a message and
//! a hint, and a file with several problems reports all of them (one per SLO entry at least).

pub(crate) mod error;
pub(crate) mod files;
pub mod native;
pub mod openslo;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

pub use error::{Location, SpecError};
pub use files::{LoadedSpecs, load_files, parse_file};

use crate::burn::Guard;
use crate::duration;
use crate::policy::Policy;

/// What an SLO measures: good events over valid events.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sli {
    /// Invocations that did not fail.
    Availability,
    /// Invocations with duration ≤ threshold (`None`: the function's `latency_threshold`).
    Latency {
        #[serde(serialize_with = "ser_opt_duration")]
        threshold: Option<Duration>,
    },
    /// Warm invocations.
    ColdStart,
    /// Invocations that were not throttled.
    Throttling,
    /// Minutes in which the dead-letter queue depth stayed ≤ `max_depth`.
    Dlq { max_depth: f64 },
    /// Workflow executions that succeeded.
    WorkflowSuccess,
    /// Workflow executions that finished within `threshold` end to end.
    WorkflowLatency {
        #[serde(serialize_with = "ser_opt_duration")]
        threshold: Option<Duration>,
    },
    /// User SQL returning `minute`, `good`, `total` (and optional label columns) per minute.
    Custom { sql: String },
}

fn ser_opt_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&duration::format(*d)),
        None => s.serialize_none(),
    }
}

impl Sli {
    pub fn name(&self) -> &'static str {
        match self {
            Sli::Availability => "availability",
            Sli::Latency { .. } => "latency",
            Sli::ColdStart => "cold_start",
            Sli::Throttling => "throttling",
            Sli::Dlq { .. } => "dlq",
            Sli::WorkflowSuccess => "workflow_success",
            Sli::WorkflowLatency { .. } => "workflow_latency",
            Sli::Custom { .. } => "custom",
        }
    }

    /// The entity one SLO instance is about.
    pub fn subject(&self) -> Subject {
        match self {
            Sli::WorkflowSuccess | Sli::WorkflowLatency { .. } => Subject::Workflow,
            Sli::Dlq { .. } => Subject::Queue,
            Sli::Custom { .. } => Subject::Custom,
            _ => Subject::Function,
        }
    }

    pub const KINDS: &'static [&'static str] = &[
        "availability",
        "latency",
        "cold_start",
        "throttling",
        "dlq",
        "workflow_success",
        "workflow_latency",
        "custom",
    ];
}

/// What a selector matches and what label each instance gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Function,
    Workflow,
    Queue,
    Custom,
}

impl Subject {
    /// Selector keys this subject understands (canonical names).
    pub fn selector_keys(self) -> &'static [&'static str] {
        match self {
            Subject::Function => &[
                "service_name",
                "faas_name",
                "cloud_provider",
                "cloud_platform",
                "cloud_region",
                "faas_trigger",
            ],
            Subject::Workflow => &["workflow_name", "service_name", "cloud_provider", "cloud_region"],
            Subject::Queue => &["queue", "cloud_provider", "cloud_region"],
            Subject::Custom => &[],
        }
    }
}

/// Canonical name of a selector key (`service` → `service_name`, `function` → `faas_name`,
/// `workflow` → `workflow_name`).
pub fn canonical_key(key: &str) -> &str {
    match key {
        "service" => "service_name",
        "function" => "faas_name",
        "workflow" => "workflow_name",
        "provider" => "cloud_provider",
        "region" => "cloud_region",
        other => other,
    }
}

/// The SLO window: rolling (`30d`) or calendar (`month`, `week`, both UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SloWindow {
    Rolling(Duration),
    CalendarMonth,
    CalendarWeek,
}

impl SloWindow {
    /// The nominal period used to size budgets and burn factors (a month counts as 30 days).
    pub fn period(self) -> Duration {
        match self {
            SloWindow::Rolling(d) => d,
            SloWindow::CalendarMonth => Duration::from_secs(30 * 86_400),
            SloWindow::CalendarWeek => Duration::from_secs(7 * 86_400),
        }
    }

    /// Start of the window that contains `now` (unix seconds, UTC).
    pub fn start(self, now: i64) -> i64 {
        use chrono::{Datelike, TimeZone, Utc};
        match self {
            SloWindow::Rolling(d) => now - i64::try_from(d.as_secs()).unwrap_or(0),
            SloWindow::CalendarMonth => Utc
                .timestamp_opt(now, 0)
                .single()
                .and_then(|t| Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0).single())
                .map(|t| t.timestamp())
                .unwrap_or(now),
            SloWindow::CalendarWeek => {
                // ISO weeks start on Monday; 1970-01-01 was a Thursday.
                let day = now.div_euclid(86_400);
                let monday = day - (day + 3).rem_euclid(7);
                monday * 86_400
            }
        }
    }

    pub fn describe(self) -> String {
        match self {
            SloWindow::Rolling(d) => duration::format(d),
            SloWindow::CalendarMonth => "calendar month".into(),
            SloWindow::CalendarWeek => "calendar week".into(),
        }
    }
}

impl Serialize for SloWindow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.describe())
    }
}

/// One SLO as configured (a template when its selector matches many functions).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloSpec {
    pub name: String,
    pub description: Option<String>,
    pub sli: Sli,
    /// Canonical key → glob pattern (`*`, `?`, `[..]`); empty = everything of the subject.
    pub selector: BTreeMap<String, String>,
    pub objective: f64,
    pub window: SloWindow,
    pub labels: BTreeMap<String, String>,
    pub runbook_url: Option<String>,
    /// `None`: the configured default policy (`slo.policy`).
    pub policy: Option<Policy>,
    /// `None`: the configured `slo.min_bad_events`.
    pub min_bad_events: Option<f64>,
    /// Raise an alert when the SLI has had no data for `slo.no_data_after` (default off:
    /// serverless functions scale to zero).
    pub alert_on_no_data: bool,
    #[serde(skip)]
    pub origin: Location,
}

impl SloSpec {
    pub fn guard(&self, default: Guard) -> Guard {
        self.min_bad_events
            .map(|m| Guard { min_bad_events: m })
            .unwrap_or(default)
    }

    /// A default template (active when no SLO is configured).
    fn template(name: &str, sli: Sli, objective: f64, description: &str) -> SloSpec {
        SloSpec {
            name: name.into(),
            description: Some(description.into()),
            sli,
            selector: BTreeMap::new(),
            objective,
            window: SloWindow::Rolling(Duration::from_secs(30 * 86_400)),
            labels: BTreeMap::new(),
            runbook_url: None,
            policy: None,
            min_bad_events: None,
            alert_on_no_data: false,
            origin: Location::builtin(),
        }
    }

    /// The default templates: availability 99.9 %, latency (each function's threshold) 99 %,
    /// cold starts < 5 %, throttling 99.9 %, DLQ depth 0 in 99.9 % of minutes; every function
    /// (or queue) seen gets one instance of each.
    pub fn default_templates() -> Vec<SloSpec> {
        vec![
            SloSpec::template(
                "function-availability",
                Sli::Availability,
                0.999,
                "99.9 % of invocations succeed",
            ),
            SloSpec::template(
                "function-latency",
                Sli::Latency { threshold: None },
                0.99,
                "99 % of invocations finish within the function's latency_threshold",
            ),
            SloSpec::template(
                "function-cold-starts",
                Sli::ColdStart,
                0.95,
                "fewer than 5 % of invocations are cold starts",
            ),
            SloSpec::template(
                "function-throttling",
                Sli::Throttling,
                0.999,
                "99.9 % of invocations are not throttled",
            ),
            SloSpec::template(
                "dlq-empty",
                Sli::Dlq { max_depth: 0.0 },
                0.999,
                "dead-letter queues stay empty in 99.9 % of minutes",
            ),
        ]
    }
}

/// Checks the rules every format shares; `at` locates each field for the message.
pub(crate) struct Checks<'a> {
    pub(crate) errors: &'a mut Vec<SpecError>,
}

impl Checks<'_> {
    pub(crate) fn objective(&mut self, v: f64, at: Location) -> f64 {
        if !(v > 0.0 && v < 1.0) {
            self.errors.push(SpecError::new(
                at,
                format!("objective {v} is outside (0, 1)"),
                "write a fraction such as 0.999 (99.9 %); 1.0 leaves no error budget to alert on",
            ));
        }
        v
    }

    pub(crate) fn name(&mut self, name: &str, at: Location) {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.')
            && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !ok {
            self.errors.push(SpecError::new(
                at,
                format!("SLO name {name:?} is not a valid name"),
                "use 1-63 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit",
            ));
        }
    }

    pub(crate) fn selector(&mut self, sli: &Sli, key: &str, pattern: &str, at: Location) {
        let subject = sli.subject();
        let canonical = canonical_key(key);
        if subject == Subject::Custom {
            self.errors.push(SpecError::new(
                at.clone(),
                "a custom SLI takes no selector".into(),
                "filter inside its SQL and return label columns to get one instance per label set",
            ));
        } else if !subject.selector_keys().contains(&canonical) {
            self.errors.push(SpecError::new(
                at.clone(),
                format!("selector key {key:?} does not apply to sli: {}", sli.name()),
                format!("use one of: {}", subject.selector_keys().join(", ")),
            ));
        }
        if let Err(e) = globset::Glob::new(pattern) {
            self.errors.push(SpecError::new(
                at,
                format!("selector pattern {pattern:?} is not a valid glob: {}", e.kind()),
                "use *, ? and [abc] wildcards, or an exact name",
            ));
        }
    }
}

#[cfg(test)]
mod tests;
