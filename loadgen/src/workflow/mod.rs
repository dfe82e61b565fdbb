//! Workflow executions: each engine's shape lives in its own module; this one paces
//! executions, decides which fail, and keeps the engines' platform counters.
//!
//! Every execution has one id shared by all its step spans (`temporalWorkflowID`,
//! `aws.step_functions.execution.arn`, `durabletask.task.instance_id`). A failing execution
//! retries its failing step before giving up; healthy executions see occasional transient
//! step failures that a retry absorbs.

mod durable;
mod step_functions;
mod temporal;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::fleet::{Engine, Workflow};
use crate::metrics::{self, Hist, Summaries, TEMPORAL_BOUNDS, cw_point};
use crate::otlp::s;
use crate::outbox::{ResId, Resources};
use crate::resource;
use crate::rng::Rng;
use crate::scope::Scope;
use crate::sim::{SEC, Simulation, WORKFLOW_SHARE};

pub(crate) use step_functions::task_functions;

/// Spans an execution produces on average.
const SPANS_PER_EXECUTION: f64 = 9.0;

/// How one execution should go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fate {
    /// The step that fails for good, if any.
    pub fail_step: Option<usize>,
    /// Chance that an attempt of any other step fails transiently.
    pub transient: f64,
    /// Temporal only: the workflow task fails on replay (non-determinism) after this many
    /// steps and the execution stalls — no further spans, never completed.
    pub stall_after: Option<usize>,
}

/// Step Functions `AWS/States` counts of the current minute.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatesMinute {
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Execution times, ms.
    pub times: Vec<f64>,
}

/// Temporal core's cumulative counters since the worker started.
#[derive(Debug, Clone)]
pub(crate) struct TemporalTotals {
    pub completed: u64,
    pub failed: u64,
    pub activity_failed: u64,
    pub latency: Hist,
}

/// Workflow engines' state.
#[derive(Debug)]
pub(crate) struct WorkflowState {
    pub temporal_worker: ResId,
    pub durable_app: ResId,
    pub temporal: TemporalTotals,
    pub states: StatesMinute,
    pub seq: u64,
}

impl WorkflowState {
    pub(crate) fn new(seed: u64, res: &mut Resources) -> WorkflowState {
        let mut rng = Rng::derive(seed, &[3]);
        let wfs = crate::fleet::workflows();
        let durable = wfs.iter().find(|w| w.engine == Engine::DurableFunctions);
        WorkflowState {
            temporal_worker: res.add(resource::temporal_worker(&rng.uuid())),
            durable_app: res
                .add(durable.map_or_else(Resource::default, |w| resource::durable_app(w, &rng.hex(64)))),
            temporal: TemporalTotals {
                completed: 0,
                failed: 0,
                activity_failed: 0,
                latency: Hist::new(&TEMPORAL_BOUNDS),
            },
            states: StatesMinute::default(),
            seq: 0,
        }
    }

    /// `AWS/States` points for the minute (Metric Streams), then a fresh minute.
    pub(crate) fn states_metrics(
        &mut self,
        out: &mut Summaries,
        workflows: &[Workflow],
        region: &str,
        w: (u64, u64),
    ) {
        let Some(sm) = workflows
            .iter()
            .find(|x| x.engine == Engine::StepFunctions && x.region == region)
        else {
            return;
        };
        let m = std::mem::take(&mut self.states);
        let ns = "AWS/States";
        let dims = || vec![s("StateMachineArn", sm.state_machine_arn())];
        let count = |n: u64| (n, n as f64, 1.0, 1.0);
        if m.started > 0 {
            out.add(
                ns,
                "ExecutionsStarted",
                "{Count}",
                cw_point(ns, "ExecutionsStarted", dims(), w, count(m.started)),
            );
        }
        if m.succeeded > 0 {
            out.add(
                ns,
                "ExecutionsSucceeded",
                "{Count}",
                cw_point(ns, "ExecutionsSucceeded", dims(), w, count(m.succeeded)),
            );
        }
        if m.failed > 0 {
            out.add(
                ns,
                "ExecutionsFailed",
                "{Count}",
                cw_point(ns, "ExecutionsFailed", dims(), w, count(m.failed)),
            );
        }
        if !m.times.is_empty() {
            let n = m.times.len() as u64;
            let sum: f64 = m.times.iter().sum();
            let min = m.times.iter().copied().fold(f64::INFINITY, f64::min);
            let max = m.times.iter().copied().fold(0.0, f64::max);
            out.add(
                ns,
                "ExecutionTime",
                "ms",
                cw_point(ns, "ExecutionTime", dims(), w, (n, sum, min, max)),
            );
        }
    }

    /// Temporal core's cumulative metrics (temporal/metrics-*), every minute.
    pub(crate) fn temporal_metrics(
        &self,
        workflows: &[Workflow],
        start: u64,
        t1: u64,
    ) -> Vec<(Resource, Scope, Vec<Metric>)> {
        let Some(w) = workflows.iter().find(|w| w.engine == Engine::Temporal) else {
            return Vec::new();
        };
        let labels = || {
            vec![
                s("namespace", "default"),
                s("service_name", "temporal-core-sdk"),
                s("task_queue", "orders"),
                s("workflow_type", &w.name),
            ]
        };
        let t = &self.temporal;
        let window = (start, t1);
        let metrics = vec![
            metrics::cumulative("temporal_workflow_completed", labels(), t.completed, window),
            metrics::cumulative("temporal_workflow_failed", labels(), t.failed, window),
            metrics::cumulative(
                "temporal_activity_execution_failed",
                labels(),
                t.activity_failed,
                window,
            ),
            metrics::histogram(
                "temporal_workflow_endtoend_latency",
                "s",
                vec![t.latency.point(start, t1, labels())],
                AggregationTemporality::Cumulative,
            ),
        ];
        vec![(resource::temporal_core(), Scope::TemporalCore, metrics)]
    }
}

/// Function index of the first task function of each Step Functions workflow.
fn task_base(sim: &Simulation, wi: usize) -> usize {
    sim.organic
        + sim.workflows[..wi]
            .iter()
            .filter(|w| w.engine == Engine::StepFunctions)
            .map(|w| w.steps.len() + 1)
            .sum::<usize>()
}

impl Simulation {
    /// Starts the executions of the second beginning at `t0`.
    pub(crate) fn workflows_tick(&mut self, t0: u64) {
        let weights: f64 = self.workflows.iter().map(|w| w.weight).sum::<f64>().max(1e-9);
        let failing = self.plan.workflows_failing(t0);
        let stalling = self.plan.workflows_stalling(t0);
        for wi in 0..self.workflows.len() {
            let mut rng = Rng::derive(self.cfg.seed, &[2, wi as u64, (t0 - self.cfg.start_ns) / SEC]);
            let w = self.workflows[wi].clone();
            let rate = self.cfg.volume * WORKFLOW_SHARE / SPANS_PER_EXECUTION * w.weight / weights;
            let n = rng.poisson(rate * crate::traffic::diurnal(t0));
            let mut starts: Vec<u64> = (0..n).map(|_| t0 + rng.range(0, SEC)).collect();
            starts.sort_unstable();
            for start in starts {
                // Healthy: 0.3 % of executions fail for good, 0.5 % of step attempts fail and
                // are retried (Lambda.ServiceException, throttled tasks).
                let fail = rng.chance(if failing { 0.4 } else { 0.003 });
                let fate = Fate {
                    fail_step: fail.then(|| rng.range(0, w.steps.len() as u64) as usize),
                    transient: if failing { 0.15 } else { 0.005 },
                    stall_after: (stalling && !fail && w.engine == Engine::Temporal && rng.chance(0.3))
                        .then(|| rng.range(0, w.steps.len() as u64) as usize),
                };
                self.wf.seq += 1;
                match w.engine {
                    Engine::Temporal => temporal::execution(self, &w, start, fate, &mut rng),
                    Engine::StepFunctions => {
                        let base = task_base(self, wi);
                        step_functions::execution(self, &w, base, start, fate, &mut rng)
                    }
                    Engine::DurableFunctions => durable::execution(self, &w, start, fate, &mut rng),
                }
            }
        }
    }
}

/// Attempts of one step: `(start, end, failed)` per attempt, retrying up to `max_attempts`
/// with exponential backoff from `backoff_ns`.
pub(crate) fn attempts(
    start: u64,
    fails_for_good: bool,
    transient: f64,
    max_attempts: u32,
    backoff_ns: u64,
    median_ms: f64,
    rng: &mut Rng,
) -> Vec<(u64, u64, bool)> {
    let mut out = Vec::new();
    let mut t = start;
    for a in 0..max_attempts {
        let d = (rng.lognormal(median_ms, 0.5) * 1e6) as u64;
        let failed = fails_for_good || rng.chance(transient);
        out.push((t, t + d, failed));
        if !failed {
            break;
        }
        t += d + (backoff_ns << a);
    }
    out
}

/// A workflow step's name for functions and ids (`ChargePayment` → `charge-payment`).
/// Spans of one workflow trace: shared trace id, fresh span ids, flags by parent.
pub(crate) struct TraceSpans {
    pub trace_id: Vec<u8>,
    /// Span flags for a root span and for a span with a parent.
    pub flags: (u32, u32),
}

impl TraceSpans {
    pub(crate) fn span(
        &self,
        name: String,
        kind: i32,
        parent: &[u8],
        (t0, t1): (u64, u64),
        attributes: Vec<KeyValue>,
        rng: &mut Rng,
    ) -> Span {
        Span {
            trace_id: self.trace_id.clone(),
            span_id: rng.id::<8>(),
            parent_span_id: parent.to_vec(),
            name,
            kind,
            start_time_unix_nano: t0,
            end_time_unix_nano: t1,
            attributes,
            flags: if parent.is_empty() {
                self.flags.0
            } else {
                self.flags.1
            },
            ..Default::default()
        }
    }
}

pub(crate) fn kebab(s: &str) -> String {
    let mut out = String::new();
    for (k, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && k > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out.replace('_', "-")
}
