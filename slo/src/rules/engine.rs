//! Rule evaluation: every tick each rule's SQL runs with `$__now` = the evaluation minute; each
//! row is an instance (its label columns) with a `value`. An instance whose value meets the
//! condition is *pending* until it has held for the rule's `for`, then *firing*; a firing
//! instance that no longer meets it, or is no longer returned, is *resolved* once. A rule
//! whose query fails keeps its state (nothing resolves because a query failed), re-emits its
//! firing conditions, and is reported in [`RuleOutput::failed`]; other rules and the SLOs are
//! unaffected.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use serde::Serialize;
use tracing::warn;

use super::RuleSpec;
use super::minutes::{MinuteCache, MinuteUpdate};
use super::sql::{evaluation_minute, substitute};
use crate::condition::{AlertCondition, ConditionState};

/// Where an instance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// Meets the condition, not yet for the rule's `for`.
    Pending,
    Firing,
    /// Was firing, stopped at this tick (reported once).
    Resolved,
}

impl InstanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Firing => "firing",
            InstanceState::Resolved => "resolved",
        }
    }
}

/// One row of `slo_rules`: a pending, firing or just-resolved rule instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleInstance {
    pub rule: String,
    /// Every label of the alert: the row's label columns, the rule's labels, `alertname`,
    /// `severity`.
    pub labels: BTreeMap<String, String>,
    pub state: InstanceState,
    pub value: f64,
    /// When it started to meet the condition (unix s).
    pub active_since: i64,
    /// The evaluation minute (unix s).
    pub evaluated_at: i64,
}

/// The last evaluation of one rule (`GET /api/v1/rules`).
#[derive(Debug, Clone, Serialize)]
pub struct RuleStatus {
    pub rule: RuleSpec,
    /// `ok` or `error`.
    pub health: &'static str,
    pub last_error: Option<String>,
    /// Rows the query returned.
    pub rows: usize,
    pub duration_ms: u64,
    pub evaluated_at: i64,
}

/// What one tick of the rules produced.
#[derive(Debug, Clone, Default)]
pub struct RuleOutput {
    /// Firing conditions, plus those resolved at this tick.
    pub conditions: Vec<AlertCondition>,
    /// Pending, firing and just-resolved instances.
    pub instances: Vec<RuleInstance>,
    pub statuses: Vec<RuleStatus>,
    /// Names of the rules whose evaluation failed at this tick.
    pub failed: Vec<String>,
    /// What updating the cached per-minute view did, and how long it took.
    pub minutes: Option<(MinuteUpdate, Duration)>,
}

/// One row of a rule's result: its label columns and its value (`None` for NULL).
pub type Row = (BTreeMap<String, String>, Option<f64>);

#[derive(Debug, Clone)]
struct Active {
    since_ns: i64,
    firing: bool,
    value: f64,
}

/// Rules and their instances' state across ticks.
#[derive(Debug)]
pub struct RuleEngine {
    rules: Vec<RuleSpec>,
    /// Per rule: row labels → state.
    active: Vec<HashMap<BTreeMap<String, String>, Active>>,
    timeout: Duration,
    minutes: MinuteCache,
}

impl RuleEngine {
    /// `timeout` bounds each rule's query.
    pub fn new(rules: Vec<RuleSpec>, timeout: Duration) -> RuleEngine {
        let active = rules.iter().map(|_| HashMap::new()).collect();
        RuleEngine {
            minutes: MinuteCache::new(&rules),
            rules,
            active,
            timeout,
        }
    }

    /// Derives `invocations` through `shared` (see [`crate::shared`]).
    pub fn share(&mut self, shared: crate::shared::SharedInvocations) {
        self.minutes.share(shared);
    }

    pub fn rules(&self) -> &[RuleSpec] {
        &self.rules
    }

    /// Evaluates every rule at `now_ns`.
    pub async fn tick(&mut self, ctx: &SessionContext, now_ns: i64) -> RuleOutput {
        let mut out = RuleOutput::default();
        let started = Instant::now();
        match self.minutes.update(ctx, now_ns, self.timeout).await {
            Ok(u) => out.minutes = Some((u, started.elapsed())),
            Err(e) => warn!(
                error = %e.strip_backtrace(),
                "cannot update the cached {}; rules derive it from raw spans at this tick",
                super::minutes::VIEW
            ),
        }
        // One scoped context per distinct lookback, built when first needed in this tick.
        let mut scoped: Vec<(Duration, Result<SessionContext, String>)> = Vec::new();
        for i in 0..self.rules.len() {
            let started = Instant::now();
            let rule = &self.rules[i];
            let rule_ctx = match rule.lookback {
                None => Ok(ctx),
                Some(lookback) => {
                    if !scoped.iter().any(|(l, _)| *l == lookback) {
                        let from = evaluation_minute(now_ns) - lookback.as_secs() as i64;
                        let c = async {
                            let overrides = self.minutes.overrides(lookback, from)?;
                            super::scope::scoped_with(ctx, from, None, &overrides, None).await
                        }
                        .await
                        .map_err(|e| {
                            format!(
                                "cannot restrict the tables to the lookback: {}",
                                e.strip_backtrace()
                            )
                        });
                        scoped.push((lookback, c));
                    }
                    match scoped.iter().find(|(l, _)| *l == lookback) {
                        Some((_, Ok(c))) => Ok(c),
                        Some((_, Err(e))) => Err(e.clone()),
                        None => Err("internal: no scoped context".to_string()),
                    }
                }
            };
            let result = match rule_ctx {
                Err(e) => Err(e),
                Ok(rule_ctx) => {
                    match tokio::time::timeout(self.timeout, query(rule_ctx, rule, now_ns)).await {
                        Ok(r) => r,
                        Err(_) => Err(format!(
                            "query timed out after {}s (limits.query_timeout)",
                            self.timeout.as_secs()
                        )),
                    }
                }
            };
            let rows = result.as_ref().map_or(0, Vec::len);
            let error = self.advance(i, result, now_ns, &mut out).err();
            if let Some(e) = &error {
                warn!(rule = %self.rules[i].name, error = %e, "rule evaluation failed; its alerts keep their state");
                out.failed.push(self.rules[i].name.clone());
            }
            out.statuses.push(RuleStatus {
                rule: self.rules[i].clone(),
                health: if error.is_some() { "error" } else { "ok" },
                last_error: error,
                rows,
                duration_ms: started.elapsed().as_millis() as u64,
                evaluated_at: evaluation_minute(now_ns),
            });
        }
        out
    }

    /// Moves rule `i`'s instances on by one evaluation given its query result, appending
    /// conditions and instances to `out`. Returns the failure, if any.
    pub fn advance(
        &mut self,
        i: usize,
        result: Result<Vec<Row>, String>,
        now_ns: i64,
        out: &mut RuleOutput,
    ) -> Result<(), String> {
        let (Some(rule), Some(active)) = (self.rules.get(i), self.active.get_mut(i)) else {
            return Err(format!("internal: no rule {i}"));
        };
        let rows = match result.and_then(|rows| unique(rule, rows)) {
            Ok(rows) => rows,
            Err(e) => {
                // Keep every instance as it was; firing ones stay firing.
                for (labels, a) in active.iter() {
                    emit(
                        rule,
                        labels,
                        a,
                        now_ns,
                        out,
                        a.firing.then_some(ConditionState::Firing),
                    );
                }
                return Err(e);
            }
        };
        let mut next = HashMap::new();
        let mut values = HashMap::new();
        for (labels, value) in rows {
            let Some(v) = value else { continue };
            values.insert(labels.clone(), v);
            let holds = rule.condition.is_none_or(|c| c.holds(v));
            if !holds {
                continue;
            }
            let since = active.get(&labels).map_or(now_ns, |a| a.since_ns);
            let held = Duration::from_nanos(u64::try_from(now_ns - since).unwrap_or(0));
            let a = Active {
                since_ns: since,
                firing: held >= rule.for_,
                value: v,
            };
            emit(
                rule,
                &labels,
                &a,
                now_ns,
                out,
                a.firing.then_some(ConditionState::Firing),
            );
            next.insert(labels, a);
        }
        for (labels, a) in active.drain() {
            if a.firing && !next.contains_key(&labels) {
                let mut last = a.clone();
                if let Some(v) = values.get(&labels) {
                    last.value = *v;
                }
                emit(rule, &labels, &last, now_ns, out, Some(ConditionState::Resolved));
            }
        }
        *active = next;
        Ok(())
    }
}

/// Refuses a result in which two rows have the same labels (which instance would it be?).
fn unique(rule: &RuleSpec, rows: Vec<Row>) -> Result<Vec<Row>, String> {
    let mut seen = std::collections::HashSet::new();
    for (labels, _) in &rows {
        if !seen.insert(labels) {
            return Err(format!(
                "the query returned two rows with the labels {}: add a label column or aggregate (rule {})",
                describe(labels),
                rule.name
            ));
        }
    }
    Ok(rows)
}

fn describe(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// The alert's labels: the row's, then the rule's, then `alertname` and `severity`.
pub fn alert_labels(rule: &RuleSpec, row: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut labels = row.clone();
    labels.extend(rule.labels.clone());
    labels.insert("alertname".into(), rule.name.clone());
    labels.insert("severity".into(), rule.severity.clone());
    labels
}

/// Records one instance in `out`: always as a table row; as a condition when `state` is set.
fn emit(
    rule: &RuleSpec,
    row: &BTreeMap<String, String>,
    a: &Active,
    now_ns: i64,
    out: &mut RuleOutput,
    state: Option<ConditionState>,
) {
    let labels = alert_labels(rule, row);
    out.instances.push(RuleInstance {
        rule: rule.name.clone(),
        labels: labels.clone(),
        state: match state {
            None => InstanceState::Pending,
            Some(ConditionState::Firing) => InstanceState::Firing,
            Some(ConditionState::Resolved) => InstanceState::Resolved,
        },
        value: a.value,
        active_since: a.since_ns.div_euclid(1_000_000_000),
        evaluated_at: evaluation_minute(now_ns),
    });
    let Some(state) = state else { return };
    let mut annotations: BTreeMap<String, String> = rule
        .annotations
        .iter()
        .map(|(k, t)| (k.clone(), t.render(&labels, a.value)))
        .collect();
    annotations.entry("summary".into()).or_insert_with(|| {
        let condition = rule.condition.map(|c| format!(" ({c})")).unwrap_or_default();
        format!(
            "{} {}: value {}{condition}",
            rule.name,
            describe(row),
            super::template::format_value(a.value)
        )
    });
    if let Some(url) = &rule.runbook_url {
        annotations.insert("runbook_url".into(), url.clone());
    }
    annotations.insert(
        "query".into(),
        substitute(rule.sql.trim(), evaluation_minute(now_ns)),
    );
    out.conditions.push(AlertCondition {
        labels,
        annotations,
        state,
        active_since_ns: a.since_ns,
        evaluated_at_ns: now_ns,
        value: a.value,
        burn_rates: BTreeMap::new(),
        error_budget_remaining: None,
        objective: None,
    });
}

/// Runs a rule's SQL (read-only) at `now_ns` and turns the result into rows.
async fn query(ctx: &SessionContext, rule: &RuleSpec, now_ns: i64) -> Result<Vec<Row>, String> {
    let sql = substitute(&rule.sql, evaluation_minute(now_ns));
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = ctx
        .sql_with_options(&sql, options)
        .await
        .map_err(|e| e.strip_backtrace())?;
    let batches = df.collect().await.map_err(|e| e.strip_backtrace())?;
    rows(&batches)
}

/// Label columns as text (NULL: no such label), `value` as a float.
pub fn rows(batches: &[RecordBatch]) -> Result<Vec<Row>, String> {
    let mut out = Vec::new();
    for b in batches {
        let schema = b.schema();
        let Some(vi) = schema.fields().iter().position(|f| f.name() == "value") else {
            return Err("the query returned no `value` column".into());
        };
        let values = cast(b.column(vi), &DataType::Float64).map_err(|e| format!("`value`: {e}"))?;
        let values = values.as_primitive::<Float64Type>();
        let mut labels = Vec::new();
        for (i, f) in schema.fields().iter().enumerate() {
            if i != vi {
                let text =
                    cast(b.column(i), &DataType::Utf8).map_err(|e| format!("column {}: {e}", f.name()))?;
                labels.push((f.name().clone(), text));
            }
        }
        for r in 0..b.num_rows() {
            let mut l = BTreeMap::new();
            for (name, text) in &labels {
                let s = text.as_string::<i32>();
                if s.is_valid(r) {
                    l.insert(name.clone(), s.value(r).to_string());
                }
            }
            let v = values
                .is_valid(r)
                .then(|| values.value(r))
                .filter(|v| !v.is_nan());
            out.push((l, v));
        }
    }
    Ok(out)
}
