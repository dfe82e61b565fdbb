//! The simulation: a fleet's traffic, second by second, over a window of simulated time.
//!
//! Everything is a function of (seed, scenario, start, duration, period, volume, fleet size):
//! no wall clock is read, so a test or `--backfill` can regenerate the same bytes. Each
//! function and second draws from its own random stream, keyed by the second's offset in the
//! window, so one function's incident never shifts another function's data, and the same
//! seed at another start gives the same traffic shifted in time (except for the daily cycle,
//! which follows the clock hour).

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

use crate::fleet::{Function, Platform, Trigger, Workflow, fleet, workflows};
use crate::instances::Pool;
use crate::metrics::{self, FnMinute, Summaries};
use crate::outbox::{Outbox, Resources};
use crate::queue::Queue;
use crate::resource;
use crate::rng::Rng;
use crate::scenario::{Plan, Scenario};
use crate::scope::Scope;
use crate::workflow::WorkflowState;

pub(crate) const SEC: u64 = 1_000_000_000;
pub(crate) const MINUTE: u64 = 60 * SEC;
/// How long a DLQ keeps its messages after the last one arrived before an operator redrives it.
pub(crate) const DLQ_REDRIVE_AFTER: u64 = 30 * MINUTE;
/// Spans an invocation produces on average (invocation, handler, database, some calls).
const SPANS_PER_INVOCATION: f64 = 4.0;
/// Share of the volume that workflows produce.
pub(crate) const WORKFLOW_SHARE: f64 = 0.12;

/// What a run simulates.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub scenario: Scenario,
    /// Start of the simulated window, Unix nanoseconds.
    pub start_ns: u64,
    pub duration: Duration,
    /// Incidents repeat every period (default: one cycle over the whole window).
    pub period: Option<Duration>,
    /// Steady-state spans per simulated second across the fleet (incidents add to it).
    pub volume: f64,
    /// Number of functions (workflows come on top).
    pub functions: usize,
}

/// What one simulated second produced, ready to export.
#[derive(Debug, Default, Clone)]
pub struct Tick {
    pub start_ns: u64,
    pub end_ns: u64,
    pub traces: Option<ExportTraceServiceRequest>,
    pub metrics: Option<ExportMetricsServiceRequest>,
    pub logs: Option<ExportLogsServiceRequest>,
}

/// Item counts of a tick or request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub spans: u64,
    pub points: u64,
    pub records: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.spans + self.points + self.records
    }
}

/// Spans in a traces request.
pub fn span_count(r: &ExportTraceServiceRequest) -> u64 {
    r.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

/// Data points in a metrics request.
pub fn point_count(r: &ExportMetricsServiceRequest) -> u64 {
    r.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        } as u64)
        .sum()
}

/// Log records in a logs request.
pub fn record_count(r: &ExportLogsServiceRequest) -> u64 {
    r.resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len() as u64)
        .sum()
}

impl Tick {
    pub fn counts(&self) -> Counts {
        Counts {
            spans: self.traces.as_ref().map_or(0, span_count),
            points: self.metrics.as_ref().map_or(0, point_count),
            records: self.logs.as_ref().map_or(0, record_count),
        }
    }
}

/// One function's running state.
#[derive(Debug, Default)]
pub(crate) struct FnState {
    pub pool: Pool,
    pub minute: FnMinute,
    pub queue: Queue,
    /// Messages in the function's DLQ (redrives and handler sends).
    pub dlq_depth: i64,
    /// When a message last landed in the DLQ (unix ns): an operator redrives the DLQ
    /// [`DLQ_REDRIVE_AFTER`] later.
    pub dlq_last_add: u64,
    /// Invocations per simulated second when healthy.
    pub rate: f64,
}

/// The generator. Iterate it (or call [`Simulation::next_tick`]) for one [`Tick`] per
/// simulated second; the last tick also carries spans still open at the window's end.
#[derive(Debug)]
pub struct Simulation {
    pub(crate) cfg: SimConfig,
    pub(crate) plan: Plan,
    /// The fleet, then the functions workflows invoke (Step Functions tasks and starter).
    pub(crate) fns: Vec<Function>,
    pub(crate) organic: usize,
    pub(crate) states: Vec<FnState>,
    pub(crate) workflows: Vec<Workflow>,
    pub(crate) wf: WorkflowState,
    pub(crate) res: Resources,
    pub(crate) out: Outbox,
    /// The Lambda layer's resource per (function, version).
    pub(crate) layers: Vec<(usize, String, crate::outbox::ResId)>,
    tick: u64,
    total: u64,
    done: bool,
}

impl Simulation {
    pub fn new(cfg: SimConfig) -> Simulation {
        let fleet = fleet(cfg.functions);
        let workflows = workflows();
        let end = cfg.start_ns + cfg.duration.as_nanos() as u64;
        let period = cfg.period.map(|p| p.as_nanos() as u64);
        let plan = Plan::new(
            cfg.scenario,
            cfg.seed,
            &fleet,
            &workflows,
            cfg.start_ns,
            end,
            period,
        );
        let organic = fleet.len();
        let mut fns = fleet;
        fns.extend(crate::workflow::task_functions(&workflows));
        let weights: f64 = fns[..organic].iter().map(|f| f.weight).sum::<f64>().max(1e-9);
        let per_invocation = cfg.volume * (1.0 - WORKFLOW_SHARE) / SPANS_PER_INVOCATION;
        let states = fns
            .iter()
            .enumerate()
            .map(|(k, f)| FnState {
                rate: if k < organic {
                    per_invocation * f.weight / weights
                } else {
                    0.0
                },
                ..Default::default()
            })
            .collect();
        let mut res = Resources::default();
        let wf = WorkflowState::new(cfg.seed, &mut res);
        Simulation {
            total: cfg.duration.as_secs().max(1),
            cfg,
            plan,
            fns,
            organic,
            states,
            workflows,
            wf,
            res,
            out: Outbox::default(),
            layers: Vec::new(),
            tick: 0,
            done: false,
        }
    }

    /// The incidents and rollouts of this run.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The fleet (without the workflows' task functions).
    pub fn fleet(&self) -> &[Function] {
        &self.fns[..self.organic]
    }

    /// Seconds (ticks) in the window.
    pub fn ticks(&self) -> u64 {
        self.total
    }

    /// The next simulated second; `None` after the window.
    pub fn next_tick(&mut self) -> Option<Tick> {
        if self.done {
            return None;
        }
        let t0 = self.cfg.start_ns + self.tick * SEC;
        let t1 = t0 + SEC;
        for fi in 0..self.organic {
            self.function_tick(fi, t0);
        }
        self.workflows_tick(t0);
        self.tick += 1;
        let last = self.tick >= self.total;
        let metrics = if t1.is_multiple_of(MINUTE) || last {
            self.minute_metrics(t1)
        } else {
            None
        };
        let (traces, logs) = self.out.drain((!last).then_some(t1), &self.res);
        self.done = last;
        Some(Tick {
            start_ns: t0,
            end_ns: t1,
            traces,
            metrics,
            logs,
        })
    }

    /// Platform metrics for the minute ending at `t1`; resets the minute counters.
    fn minute_metrics(&mut self, t1: u64) -> Option<ExportMetricsServiceRequest> {
        let w = ((t1 - 1) / MINUTE * MINUTE, t1);
        let w = (w.0.max(self.cfg.start_ns), w.1);
        let mut groups = Vec::new();
        // CloudWatch per region (Metric Streams are regional).
        let mut regions: Vec<(&str, &str)> = self
            .fns
            .iter()
            .filter(|f| f.platform == Platform::AwsLambda)
            .map(|f| (f.region, f.account))
            .collect();
        regions.sort();
        regions.dedup();
        for (region, account) in regions {
            let mut cw = Summaries::default();
            for (f, st) in self.fns.iter().zip(&self.states) {
                if f.platform == Platform::AwsLambda && f.region == region {
                    metrics::lambda_cloudwatch(&mut cw, &f.name, &st.minute, w, f.trigger == Trigger::Stream);
                }
            }
            self.wf.states_metrics(&mut cw, &self.workflows, region, w);
            groups.push((resource::cloudwatch(region, account), Scope::None, cw.finish()));
        }
        // The Lambda layer, per function.
        for (fi, (f, st)) in self.fns.iter().zip(&self.states).enumerate() {
            if f.platform == Platform::AwsLambda && st.minute.invocations > 0 {
                let version = self.plan.base_version(fi, &f.version, w.0);
                groups.push((
                    resource::lambda_layer(f, version),
                    Scope::TelemetryApi,
                    metrics::lambda_layer(&st.minute, w),
                ));
            }
        }
        // An operator redrives a DLQ once the incident that filled it is over: left alone
        // since `DLQ_REDRIVE_AFTER`, it is empty from the next poll on.
        for st in &mut self.states {
            if st.dlq_depth > 0 && t1.saturating_sub(st.dlq_last_add) >= DLQ_REDRIVE_AFTER {
                st.dlq_depth = 0;
            }
        }
        // Queue depths, polled by the queue monitor in each region.
        let mut rng = Rng::derive(self.cfg.seed, &[0x9d, (t1 - self.cfg.start_ns) / SEC]);
        let mut by_region: Vec<(&str, Vec<(String, i64)>)> = Vec::new();
        for (f, st) in self.fns[..self.organic].iter().zip(&self.states) {
            let mut depths = Vec::new();
            if let Some(q) = &f.queue {
                depths.push((q.clone(), st.queue.depth(&mut rng)));
            }
            if let Some(d) = &f.dlq {
                depths.push((d.clone(), st.dlq_depth));
            }
            if depths.is_empty() {
                continue;
            }
            match by_region.iter_mut().find(|(r, _)| *r == f.region) {
                Some((_, v)) => v.extend(depths),
                None => by_region.push((f.region, depths)),
            }
        }
        for (region, depths) in by_region {
            groups.push((
                resource::queue_monitor(region),
                Scope::QueueMonitor,
                vec![metrics::queue_depth(&depths, t1)],
            ));
        }
        groups.extend(self.wf.temporal_metrics(&self.workflows, self.cfg.start_ns, t1));
        for st in &mut self.states {
            st.minute = FnMinute::default();
        }
        metrics::request(groups)
    }
}

impl Iterator for Simulation {
    type Item = Tick;
    fn next(&mut self) -> Option<Tick> {
        self.next_tick()
    }
}

#[cfg(test)]
mod tests;
