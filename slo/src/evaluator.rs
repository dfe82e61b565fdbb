//! The evaluation loop's core: rollups → burn rates, budgets and states per SLO instance →
//! alert conditions. One [`Evaluator::tick`] per `slo.evaluation_interval`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use datafusion::error::Result as DfResult;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::burn::{Counts, Guard, TierState, WindowCounts, budget_remaining, evaluate_tier};
use crate::condition::{AlertCondition, ConditionState};
use crate::duration;
use crate::policy::Policy;
use crate::rollup::{Rollups, SeriesKey, UpdateStats};
use crate::spec::{SloSpec, Subject};

/// `slo:` settings the evaluator needs.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    pub policy: Policy,
    pub guard: Guard,
    /// An instance without valid events for this long is reported (and, when its SLO asks,
    /// alerted) as no data.
    pub no_data_after: Duration,
}

impl Default for EvalSettings {
    fn default() -> Self {
        EvalSettings {
            policy: Policy::default(),
            guard: Guard::default(),
            no_data_after: Duration::from_secs(600),
        }
    }
}

/// Overall state of one SLO instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SloState {
    Ok,
    /// A tier holds (the most urgent one names the severity).
    Firing,
    /// No valid events for `no_data_after`: never reported as good.
    NoData,
}

impl SloState {
    pub fn as_str(self) -> &'static str {
        match self {
            SloState::Ok => "ok",
            SloState::Firing => "firing",
            SloState::NoData => "no_data",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TierStatus {
    pub severity: String,
    pub windows: String,
    pub burn_rate_threshold: f64,
    pub state: TierState,
    pub firing: bool,
    pub long_burn_rate: Option<f64>,
    pub short_burn_rate: Option<f64>,
}

/// One row of `slo_status`.
#[derive(Debug, Clone, Serialize)]
pub struct SloStatus {
    pub slo: String,
    pub labels: BTreeMap<String, String>,
    pub sli_kind: String,
    pub objective: f64,
    pub window: String,
    pub state: SloState,
    /// Most urgent firing severity.
    pub severity: Option<String>,
    /// SLI over the SLO window; `None` without valid events.
    pub sli: Option<f64>,
    pub error_budget_remaining: Option<f64>,
    pub good: f64,
    pub total: f64,
    /// SLI and burn rate per policy window (`5m`, `1h`, …).
    pub sli_per_window: BTreeMap<String, Option<f64>>,
    pub burn_rates: BTreeMap<String, Option<f64>>,
    pub tiers: Vec<TierStatus>,
    pub last_data_at: Option<i64>,
    pub evaluated_at: i64,
}

/// One state change of one tier (`slo_history`).
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub time: i64,
    pub slo: String,
    pub labels: BTreeMap<String, String>,
    pub severity: String,
    pub windows: String,
    pub state: ConditionState,
    pub burn_rate: f64,
    pub error_budget_remaining: Option<f64>,
}

/// What one tick produced.
#[derive(Debug, Clone, Default)]
pub struct TickOutput {
    pub statuses: Vec<SloStatus>,
    /// Every firing condition, plus those resolved at this tick.
    pub conditions: Vec<AlertCondition>,
    pub rollup: UpdateStats,
}

/// History entries kept in memory (the `slo_history` table).
const HISTORY: usize = 10_000;

#[derive(Debug)]
pub struct Evaluator {
    pub rollups: Rollups,
    settings: EvalSettings,
    /// (instance, tier index) → firing since (unix ns).
    firing: HashMap<(SeriesKey, usize), i64>,
    history: VecDeque<HistoryEntry>,
}

impl Evaluator {
    pub fn new(slos: Vec<SloSpec>, settings: EvalSettings) -> Evaluator {
        Evaluator {
            rollups: Rollups::new(slos),
            settings,
            firing: HashMap::new(),
            history: VecDeque::new(),
        }
    }

    pub fn history(&self) -> impl Iterator<Item = &HistoryEntry> {
        self.history.iter()
    }

    /// Updates the rollups from `ctx`, then evaluates.
    pub async fn tick(&mut self, ctx: &SessionContext, now_ns: i64) -> DfResult<TickOutput> {
        let rollup = self.rollups.update(ctx, now_ns).await?;
        let mut out = self.evaluate(now_ns);
        out.rollup = rollup;
        Ok(out)
    }

    /// Evaluates every SLO instance at `now_ns` from the current rollups.
    pub fn evaluate(&mut self, now_ns: i64) -> TickOutput {
        // Evaluate at the last complete minute: the current one is still filling.
        let now = now_ns.div_euclid(1_000_000_000).div_euclid(60) * 60;
        let mut out = TickOutput::default();
        let specs: Vec<SloSpec> = self.rollups.slos().cloned().collect();
        let mut still_firing = HashMap::new();
        let mut records = Vec::new();
        for spec in &specs {
            let mut any = false;
            for (key, series) in self.rollups.instances(&spec.name) {
                any = true;
                let ctx = InstanceCtx {
                    settings: &self.settings,
                    firing: &self.firing,
                    now,
                    now_ns,
                };
                let status = ctx.evaluate(spec, key, series, &mut out, &mut still_firing, &mut records);
                out.statuses.push(status);
            }
            if !any {
                out.statuses.push(no_instance(spec, now));
            }
        }
        for (c, key, tier) in records {
            self.record(&c, &key, &tier);
        }
        // Tiers that were firing and no longer are (or whose instance disappeared): resolved.
        let previous = std::mem::replace(&mut self.firing, still_firing);
        for ((key, tier), since) in previous {
            if self.firing.contains_key(&(key.clone(), tier)) {
                continue;
            }
            if let Some(spec) = specs.iter().find(|s| s.name == key.slo) {
                let policy = spec
                    .policy
                    .clone()
                    .unwrap_or_else(|| self.settings.policy.clone());
                if let Some(t) = policy.tiers.get(tier) {
                    let status = out
                        .statuses
                        .iter()
                        .find(|s| s.slo == key.slo && s.labels == key.labels);
                    let mut c = condition(spec, &key, t, status, since, now_ns);
                    c.state = ConditionState::Resolved;
                    self.record(&c, &key, t);
                    out.conditions.push(c);
                }
            }
        }
        out
    }

    fn record(&mut self, c: &AlertCondition, key: &SeriesKey, tier: &crate::policy::Tier) {
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(HistoryEntry {
            time: c.evaluated_at_ns / 1_000_000_000,
            slo: key.slo.clone(),
            labels: key.labels.clone(),
            severity: tier.severity.0.clone(),
            windows: tier.windows(),
            state: c.state,
            burn_rate: c.value,
            error_budget_remaining: c.error_budget_remaining,
        });
    }
}

/// What evaluating one instance needs from the evaluator, borrowed (no copy of the series).
struct InstanceCtx<'a> {
    settings: &'a EvalSettings,
    firing: &'a HashMap<(SeriesKey, usize), i64>,
    now: i64,
    now_ns: i64,
}

impl InstanceCtx<'_> {
    fn evaluate(
        &self,
        spec: &SloSpec,
        key: &SeriesKey,
        series: &crate::rollup::TieredSeries,
        out: &mut TickOutput,
        still_firing: &mut HashMap<(SeriesKey, usize), i64>,
        records: &mut Vec<(AlertCondition, SeriesKey, crate::policy::Tier)>,
    ) -> SloStatus {
        let (now, now_ns) = (self.now, self.now_ns);
        let policy = spec.policy.as_ref().unwrap_or(&self.settings.policy).clone();
        let guard = spec.guard(self.settings.guard);
        let window = series.counts(spec.window.start(now), now);
        let mut sli_per_window = BTreeMap::new();
        let mut burn_rates = BTreeMap::new();
        let mut tiers = Vec::new();
        let mut severity: Option<(usize, String)> = None;
        let last = series.last_data();
        let no_data_after = self.settings.no_data_after.as_secs() as i64;
        let no_data = last.is_none_or(|t| now - t > no_data_after);
        let mut pending = Vec::new();
        for (i, tier) in policy.tiers.iter().enumerate() {
            let eval = evaluate_tier(series, now, spec.objective, tier, guard);
            for w in [&eval.long, &eval.short] {
                let name = duration::format(w.window);
                sli_per_window.insert(name.clone(), w.sli);
                burn_rates.insert(name, w.burn_rate);
            }
            let was = self.firing.get(&(key.clone(), i)).copied();
            let holds = eval.holds(was.is_some());
            if holds {
                let since = was.unwrap_or(now_ns);
                still_firing.insert((key.clone(), i), since);
                if severity.is_none() {
                    severity = Some((i, tier.severity.0.clone()));
                }
                pending.push((i, since, was.is_none()));
            }
            tiers.push(TierStatus {
                severity: tier.severity.0.clone(),
                windows: tier.windows(),
                burn_rate_threshold: tier.burn_rate,
                state: eval.state,
                firing: holds,
                long_burn_rate: eval.long.burn_rate,
                short_burn_rate: eval.short.burn_rate,
            });
        }
        let state = if severity.is_some() {
            SloState::Firing
        } else if no_data {
            SloState::NoData
        } else {
            SloState::Ok
        };
        let status = SloStatus {
            slo: spec.name.clone(),
            labels: key.labels.clone(),
            sli_kind: spec.sli.name().into(),
            objective: spec.objective,
            window: spec.window.describe(),
            state,
            severity: severity.map(|s| s.1),
            sli: window.sli(),
            error_budget_remaining: budget_remaining(window, spec.objective),
            good: window.good,
            total: window.total,
            sli_per_window,
            burn_rates,
            tiers,
            last_data_at: last,
            evaluated_at: now,
        };
        for (i, since, new) in pending {
            let c = condition(spec, key, &policy.tiers[i], Some(&status), since, now_ns);
            if new {
                records.push((c.clone(), key.clone(), policy.tiers[i].clone()));
            }
            out.conditions.push(c);
        }
        if no_data && spec.alert_on_no_data {
            out.conditions.push(no_data_condition(spec, key, last, now_ns));
        }
        status
    }
}

fn no_instance(spec: &SloSpec, now: i64) -> SloStatus {
    SloStatus {
        slo: spec.name.clone(),
        labels: BTreeMap::new(),
        sli_kind: spec.sli.name().into(),
        objective: spec.objective,
        window: spec.window.describe(),
        state: SloState::NoData,
        severity: None,
        sli: None,
        error_budget_remaining: None,
        good: 0.0,
        total: 0.0,
        sli_per_window: BTreeMap::new(),
        burn_rates: BTreeMap::new(),
        tiers: Vec::new(),
        last_data_at: None,
        evaluated_at: now,
    }
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.2} %", v * 100.0))
        .unwrap_or_else(|| "n/a".into())
}

/// The SQL that shows an instance's per-minute SLI (ready to paste in psql or Grafana).
fn drill_query(spec: &SloSpec, key: &SeriesKey) -> String {
    let filter: Vec<String> = key
        .labels
        .iter()
        .map(|(k, v)| format!("labels['{k}'] = '{}'", v.replace('\'', "''")))
        .collect();
    let mut sql = format!(
        "SELECT minute, good, total, good / total AS sli FROM sli_rollup WHERE slo = '{}' AND tier = 'minute'",
        spec.name.replace('\'', "''")
    );
    for f in filter {
        sql.push_str(" AND ");
        sql.push_str(&f);
    }
    sql.push_str(" ORDER BY minute");
    sql
}

fn base_labels(spec: &SloSpec, key: &SeriesKey, alertname: &str, severity: &str) -> BTreeMap<String, String> {
    let mut labels = spec.labels.clone();
    labels.extend(key.labels.clone());
    labels.insert("alertname".into(), alertname.into());
    labels.insert("severity".into(), severity.into());
    labels.insert("slo".into(), spec.name.clone());
    labels
}

fn subject(spec: &SloSpec, key: &SeriesKey) -> String {
    let get = |k: &str| key.labels.get(k).cloned().unwrap_or_default();
    match spec.sli.subject() {
        Subject::Function => format!("function {}", get("faas_name")),
        Subject::Workflow => format!("workflow {}", get("workflow")),
        Subject::Queue => format!("queue {}", get("queue")),
        Subject::Custom => "custom SLI".into(),
    }
}

fn condition(
    spec: &SloSpec,
    key: &SeriesKey,
    tier: &crate::policy::Tier,
    status: Option<&SloStatus>,
    since: i64,
    now_ns: i64,
) -> AlertCondition {
    let mut labels = base_labels(spec, key, "SLOBurnRate", &tier.severity.0);
    labels.insert("long_window".into(), duration::format(tier.long));
    labels.insert("short_window".into(), duration::format(tier.short));
    let burn = |w: std::time::Duration| {
        status
            .and_then(|s| s.burn_rates.get(&duration::format(w)).copied().flatten())
            .unwrap_or(0.0)
    };
    let (long, short) = (burn(tier.long), burn(tier.short));
    let budget = status.and_then(|s| s.error_budget_remaining);
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "summary".into(),
        format!(
            "{}: {} is burning its error budget {:.1}x too fast",
            spec.name,
            subject(spec, key),
            long
        ),
    );
    annotations.insert(
        "description".into(),
        format!(
            "SLO {} ({} {:.3} % over {}): burn rate {:.2} over {} and {:.2} over {} (threshold {}); error budget left {}.",
            spec.name,
            spec.sli.name(),
            spec.objective * 100.0,
            spec.window.describe(),
            long,
            duration::format(tier.long),
            short,
            duration::format(tier.short),
            tier.burn_rate,
            pct(budget)
        ),
    );
    annotations.insert("query".into(), drill_query(spec, key));
    if let Some(url) = &spec.runbook_url {
        annotations.insert("runbook_url".into(), url.clone());
    }
    AlertCondition {
        labels,
        annotations,
        state: ConditionState::Firing,
        active_since_ns: since,
        evaluated_at_ns: now_ns,
        value: long,
        burn_rates: [
            (duration::format(tier.long), long),
            (duration::format(tier.short), short),
        ]
        .into(),
        error_budget_remaining: budget,
        objective: Some(spec.objective),
    }
}

fn no_data_condition(spec: &SloSpec, key: &SeriesKey, last: Option<i64>, now_ns: i64) -> AlertCondition {
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "summary".into(),
        format!("{}: no data for {}", spec.name, subject(spec, key)),
    );
    annotations.insert(
        "description".into(),
        match last {
            Some(t) => format!("last valid event at {}", crate::backtest::rfc3339(t)),
            None => "no valid event seen".into(),
        },
    );
    AlertCondition {
        labels: base_labels(spec, key, "SLONoData", "ticket"),
        annotations,
        state: ConditionState::Firing,
        active_since_ns: last.map(|t| t * 1_000_000_000).unwrap_or(now_ns),
        evaluated_at_ns: now_ns,
        value: 0.0,
        burn_rates: BTreeMap::new(),
        error_budget_remaining: None,
        objective: Some(spec.objective),
    }
}

/// Counts over a window of a status row's series (for tests and tools).
pub fn window_counts(series: &dyn WindowCounts, now: i64, w: Duration) -> Counts {
    series.counts(now - w.as_secs() as i64, now)
}

#[cfg(test)]
mod tests;
