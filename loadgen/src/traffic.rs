//! Function traffic: how many invocations each second, how each one ends under the active
//! incidents, which environment runs it (cold or warm), and the spans, logs and metric
//! counts it leaves behind.

use opentelemetry_proto::tonic::common::v1::KeyValue;

use crate::fleet::{Function, Platform, Runtime, Trigger};
use crate::instances::Instance;
use crate::invocation::{self, Call, Failure, Message, Outcome};
use crate::logs::{self, Report};
use crate::resource::{self, InstanceIds};
use crate::rng::Rng;
use crate::scenario::{Incident, IncidentKind, Plan};
use crate::scope::Scope;
use crate::sim::{MINUTE, SEC, Simulation};

const HOUR: u64 = 60 * MINUTE;
/// Background rates when nothing is wrong: a healthy fleet stays inside the default 99.9 %
/// availability objective (0.06 % failed invocations), so between incidents SLOs are quiet.
/// Denied requests (401/403) are client errors, not failures of the function.
const BASE_ERROR_RATE: f64 = 0.0005;
const BASE_TIMEOUT_RATE: f64 = 0.0001;
const DENIED_RATE: f64 = 0.006;

/// What the active incidents do to one function at one moment.
#[derive(Debug, Default)]
struct Effects {
    traffic: f64,
    slow: f64,
    burst: bool,
    recycle: Option<u64>,
    throttle: f64,
    poison: f64,
    late: bool,
    deploy: Option<Incident>,
}

impl Effects {
    fn at(plan: &Plan, fi: usize, t: u64) -> Effects {
        use IncidentKind::*;
        let on = |k| plan.active(k, fi, t);
        let storm = on(ColdStartStorm).is_some();
        let throttle = on(ThrottleStorm).is_some();
        // A recursive loop: every invocation re-sends its message, so the rate doubles every
        // round trip (about 12 s) until the concurrency or the queue's throughput caps it.
        let looping = on(RecursiveLoop).map(|i| {
            2f64.powf(t.saturating_sub(i.start_ns) as f64 / (12 * SEC) as f64)
                .min(30.0)
        });
        Effects {
            traffic: if let Some(factor) = looping {
                factor
            } else if throttle {
                3.0
            } else if storm {
                2.0
            } else {
                1.0
            },
            slow: if on(LatencyRegression).is_some() { 4.0 } else { 1.0 },
            burst: on(ErrorBurst).is_some(),
            recycle: storm.then_some(5 * SEC),
            throttle: if throttle { 0.5 } else { 0.0 },
            poison: if on(DlqBacklog).is_some() { 0.3 } else { 0.0 },
            late: on(LateData).is_some(),
            deploy: on(BadDeploy).cloned(),
        }
    }
}

/// Daily traffic cycle: peak mid-afternoon UTC, trough at night.
pub(crate) fn diurnal(t: u64) -> f64 {
    let hour = (t % (24 * HOUR)) as f64 / HOUR as f64;
    1.0 + 0.4 * (2.0 * std::f64::consts::PI * (hour - 8.0) / 24.0).sin()
}

/// One invocation to run.
#[derive(Debug, Default)]
pub(crate) struct Request {
    pub start: u64,
    /// The handler fails this way (a workflow step that must fail).
    pub fail: Option<Failure>,
    /// Never fails (a workflow step that must succeed).
    pub succeed: bool,
    pub extra: Vec<KeyValue>,
    pub more: Vec<crate::downstream::Child>,
    /// Exported hours late by a thawed sandbox.
    pub late: bool,
}

/// How a run went, for workflow engines.
#[derive(Debug)]
pub(crate) struct Ran {
    pub end: u64,
}

fn base_failure(f: &Function, rng: &mut Rng) -> Failure {
    let id = rng.range(1000, 99_999);
    let (ty, message) = match f.runtime {
        Runtime::Python | Runtime::CloudRun => ("ValueError", format!("order {id} does not exist")),
        Runtime::Node => ("Error", format!("order {id} does not exist")),
        Runtime::AzureHost => (
            "System.InvalidOperationException",
            format!("payment {id} is in an invalid state"),
        ),
    };
    Failure {
        ty,
        message,
        downstream: false,
    }
}

fn burst_failure(f: &Function) -> Failure {
    let (ty, message) = match f.runtime {
        Runtime::Python | Runtime::CloudRun => (
            "requests.exceptions.HTTPError",
            "503 Server Error: Service Unavailable for url: https://inventory.internal.example/v1/items/42",
        ),
        Runtime::Node => ("Error", "inventory service unavailable (HTTP 503)"),
        Runtime::AzureHost => (
            "System.Net.Http.HttpRequestException",
            "Response status code does not indicate success: 503 (Service Unavailable).",
        ),
    };
    Failure {
        ty,
        message: message.into(),
        downstream: true,
    }
}

fn deploy_failure(f: &Function) -> Failure {
    let (ty, message) = match f.runtime {
        Runtime::Python | Runtime::CloudRun => ("KeyError", "'customer_tier'"),
        Runtime::Node => (
            "TypeError",
            "Cannot read properties of undefined (reading 'tier')",
        ),
        Runtime::AzureHost => (
            "System.NullReferenceException",
            "Object reference not set to an instance of an object.",
        ),
    };
    Failure {
        ty,
        message: message.into(),
        downstream: false,
    }
}

fn poison_failure(f: &Function) -> Failure {
    let (ty, message) = match f.runtime {
        Runtime::Node => ("SyntaxError", "Unexpected token < in JSON at position 0"),
        _ => (
            "json.decoder.JSONDecodeError",
            "Expecting value: line 1 column 1 (char 0)",
        ),
    };
    Failure {
        ty,
        message: message.into(),
        downstream: false,
    }
}

fn new_ids(f: &Function, t: u64, version: &str, rng: &mut Rng) -> InstanceIds {
    let faas_instance = match f.platform {
        Platform::AwsLambda => resource::log_stream(t, version, &rng.hex(32)),
        Platform::AzureFunctions => rng.hex(64),
        Platform::GcpCloudRun => format!("00f46b92{}", rng.hex(56)),
    };
    InstanceIds {
        faas_instance,
        service_instance: rng.uuid(),
        version: version.to_string(),
    }
}

impl Simulation {
    /// The organic traffic of function `fi` in the second starting at `t0`.
    pub(crate) fn function_tick(&mut self, fi: usize, t0: u64) {
        let mut rng = Rng::derive(self.cfg.seed, &[1, fi as u64, (t0 - self.cfg.start_ns) / SEC]);
        let fx = Effects::at(&self.plan, fi, t0);
        let (trigger, late) = (self.fns[fi].trigger, fx.late);
        let mut n = match trigger {
            Trigger::Schedule => u64::from(t0.is_multiple_of(MINUTE)),
            _ => rng.poisson(self.states[fi].rate * fx.traffic * diurnal(t0)),
        };
        if trigger == Trigger::Sqs && n == 0 && self.states[fi].queue.retries_due(t0) {
            n = 1;
        }
        let mut starts: Vec<u64> = (0..n).map(|_| t0 + rng.range(0, SEC)).collect();
        starts.sort_unstable();
        for start in starts {
            self.invoke(
                fi,
                Request {
                    start,
                    ..Default::default()
                },
                &mut rng,
            );
        }
        // A sandbox frozen hours ago thaws and exports what it buffered.
        if late && rng.chance(0.3) {
            let lag = rng.range(HOUR, 3 * HOUR);
            for _ in 0..rng.range(1, 4) {
                let start = t0.saturating_sub(lag) + rng.range(0, SEC);
                self.invoke(
                    fi,
                    Request {
                        start,
                        late: true,
                        ..Default::default()
                    },
                    &mut rng,
                );
            }
        }
    }

    /// Runs one invocation of function `fi`; `None` when the platform throttled it.
    pub(crate) fn invoke(&mut self, fi: usize, req: Request, rng: &mut Rng) -> Option<Ran> {
        let fns = std::mem::take(&mut self.fns);
        let ran = self.run(&fns, fi, req, rng);
        self.fns = fns;
        ran
    }

    fn run(&mut self, fns: &[Function], fi: usize, req: Request, rng: &mut Rng) -> Option<Ran> {
        let f = &fns[fi];
        let start = req.start;
        let fx = Effects::at(&self.plan, fi, start);
        let forced = req.fail.is_some() || req.succeed;
        // Version: benign rollouts, and a bad deploy's traffic shift (10 % → 100 %).
        let mut version = self.plan.base_version(fi, &f.version, start).to_string();
        let mut bad = false;
        if let Some(inc) = &fx.deploy
            && let Some((_, new)) = &inc.versions
        {
            let progress = (start - inc.start_ns) as f64 / (inc.end_ns - inc.start_ns).max(1) as f64;
            if rng.chance((0.1 + 1.8 * progress).min(1.0)) {
                version = new.clone();
                bad = true;
            }
        }
        let st = &mut self.states[fi];
        if !forced && !req.late && rng.chance(fx.throttle) {
            st.minute.throttles += 1;
            return None;
        }
        let mut dur_ms = rng.lognormal(f.median_ms * fx.slow, 0.45).max(1.0);
        let timeout = !forced && rng.chance(BASE_TIMEOUT_RATE + if fx.slow > 1.0 { 0.02 } else { 0.0 });
        if timeout || dur_ms > f.timeout_ms as f64 {
            dur_ms = f.timeout_ms as f64;
        }
        let messages: Vec<Message> = if f.trigger == Trigger::Sqs {
            let new = rng.range(1, 4) as usize;
            st.queue.batch(start, new, fx.poison, rng)
        } else {
            Vec::new()
        };
        let error_rate = BASE_ERROR_RATE + if fx.burst { 0.35 } else { 0.0 } + if bad { 0.25 } else { 0.0 };
        let outcome = if let Some(fail) = req.fail {
            Outcome::Error(fail)
        } else if req.succeed {
            Outcome::Ok
        } else if dur_ms >= f.timeout_ms as f64 {
            Outcome::Timeout
        } else if f.trigger == Trigger::Http && rng.chance(DENIED_RATE) {
            Outcome::Denied(if rng.chance(0.5) { 401 } else { 403 })
        } else if fx.throttle > 0.0 && rng.chance(0.3) {
            Outcome::Throttled
        } else if messages.iter().any(|m| m.poison) {
            Outcome::Error(poison_failure(f))
        } else if rng.chance(error_rate) {
            Outcome::Error(if fx.burst && rng.chance(0.9) {
                burst_failure(f)
            } else if bad && rng.chance(0.9) {
                deploy_failure(f)
            } else {
                base_failure(f, rng)
            })
        } else {
            Outcome::Ok
        };
        let dur = (dur_ms * 1e6) as u64;

        // The environment: warm from the pool, or a cold start.
        let lambda = f.platform == Platform::AwsLambda;
        let init_ms = if f.platform == Platform::AzureFunctions {
            rng.lognormal(1800.0, 0.3)
        } else {
            rng.lognormal(if f.runtime == Runtime::Node { 250.0 } else { 420.0 }, 0.3)
        };
        let (inst, cold) = if req.late {
            let ids = new_ids(f, start.saturating_sub(HOUR), &version, rng);
            let res = self.res.add(resource::function_resource(f, &ids));
            (Instance::new(res, ids, start, 0.5, f.memory_mb / 3), false)
        } else {
            match st.pool.acquire(start, dur, &version, fx.recycle) {
                Some(i) => (i.clone(), false),
                None => {
                    let ids = new_ids(f, start, &version, rng);
                    let res = self.res.add(resource::function_resource(f, &ids));
                    let base = (f.memory_mb as f64 * rng.uniform(0.2, 0.4)) as i64;
                    let i = Instance::new(res, ids, start, rng.f64(), base);
                    let busy = dur + if lambda { (init_ms * 1e6) as u64 } else { 0 };
                    (st.pool.add(i, start, busy).clone(), true)
                }
            }
        };
        let init_ns = if cold && !lambda {
            (init_ms * 1e6) as u64
        } else {
            0
        };
        let dur = dur + init_ns;
        let invoke = f
            .invokes
            .and_then(|ti| fns.get(ti).map(|target| (ti, target)))
            .map(|(ti, target)| {
                let storm = self.plan.active(IncidentKind::ThrottleStorm, ti, start);
                (target, storm.is_some() && rng.chance(0.5))
            });
        let failed = matches!(outcome, Outcome::Error(_) | Outcome::Timeout);
        let dlq_send = f.dlq.is_some()
            && f.trigger == Trigger::Http
            && (invoke.is_some_and(|(_, t)| t)
                || matches!(outcome, Outcome::Error(_) | Outcome::Throttled) && rng.chance(0.5));
        let invocation_id = rng.uuid();
        let trace_id = rng.id::<16>();
        let memory_mb = (inst.base_memory_mb + rng.range(5, 40) as i64).min(f.memory_mb);

        // Lambda kills the sandbox at the timeout before the SDK flushes: no spans, only the
        // platform's record of it.
        let mut root_span = Vec::new();
        if !(lambda && outcome == Outcome::Timeout) {
            let call = Call {
                f,
                trace_id: trace_id.clone(),
                start,
                duration: dur,
                cold,
                init_ns,
                outcome: outcome.clone(),
                invocation_id: invocation_id.clone(),
                messages: &messages,
                slow: fx.slow,
                invoke,
                dlq_send,
                extra: req.extra,
                more: req.more,
            };
            for b in invocation::build(&call, rng) {
                if root_span.is_empty() {
                    root_span = b.span.span_id.clone();
                }
                self.out.span(inst.res, b.scope, b.span);
            }
        }
        self.logs(
            f,
            fi,
            &inst,
            &version,
            (start, dur),
            cold.then_some(init_ms),
            memory_mb,
            &outcome,
            &invocation_id,
            (&trace_id, &root_span),
        );

        let st = &mut self.states[fi];
        let before = st.dlq_depth;
        if dlq_send {
            st.dlq_depth += 1;
        }
        if failed && !messages.is_empty() {
            st.dlq_depth += st.queue.failed(start + dur, &messages);
        }
        if st.dlq_depth > before {
            st.dlq_last_add = start;
        }
        if !req.late {
            let m = &mut st.minute;
            m.invocations += 1;
            m.errors += u64::from(failed);
            m.timeouts += u64::from(outcome == Outcome::Timeout);
            m.coldstarts += u64::from(cold);
            m.duration.record(dur as f64 / 1e9);
            if cold && lambda {
                m.init.record(init_ms / 1e3);
            }
            m.memory.record(memory_mb as f64 * 1e6);
            m.max_concurrency = m.max_concurrency.max(st.pool.busy(start));
            if f.trigger == Trigger::Stream {
                let age = rng.uniform(50.0, 400.0) * fx.slow * if failed { 20.0 } else { 1.0 };
                m.iterator_age_ms = m.iterator_age_ms.max(age);
            }
        }
        Some(Ran { end: start + dur })
    }

    /// The invocation's log records: the Lambda layer's platform records, handler errors.
    #[allow(clippy::too_many_arguments)] // one call site; the values are the invocation's
    fn logs(
        &mut self,
        f: &Function,
        fi: usize,
        inst: &Instance,
        version: &str,
        (start, dur): (u64, u64),
        init_ms: Option<f64>,
        memory_mb: i64,
        outcome: &Outcome,
        invocation_id: &str,
        (trace_id, span_id): (&[u8], &[u8]),
    ) {
        if f.platform == Platform::AwsLambda {
            let layer = self.layer_resource(fi, f, version);
            let report = Report {
                request_id: invocation_id,
                version,
                start,
                duration_ms: dur as f64 / 1e6,
                memory_size_mb: f.memory_mb,
                max_memory_used_mb: memory_mb,
                init_ms,
                timeout: *outcome == Outcome::Timeout,
            };
            for rec in logs::lambda_platform(&report) {
                self.out.log(layer, Scope::TelemetryApi, rec);
            }
            let text = match outcome {
                Outcome::Error(e) => Some(format!("{}: {}", e.ty, e.message)),
                Outcome::Timeout => Some(format!(
                    "Task timed out after {:.2} seconds",
                    f.timeout_ms as f64 / 1e3
                )),
                _ => None,
            };
            if let Some(text) = text {
                let rec = logs::lambda_function_error(start + dur, invocation_id, &text);
                self.out.log(layer, Scope::TelemetryApi, rec);
            }
        } else if let Outcome::Error(e) = outcome
            && !span_id.is_empty()
        {
            let rec = logs::sdk_error(start + dur / 2, trace_id, span_id, e.ty, &e.message);
            self.out.log(inst.res, Scope::HandlerLogs, rec);
        }
    }

    /// The layer's resource for a function version (created once per version).
    fn layer_resource(&mut self, fi: usize, f: &Function, version: &str) -> crate::outbox::ResId {
        if let Some((_, _, id)) = self.layers.iter().find(|(k, v, _)| *k == fi && v == version) {
            return *id;
        }
        let id = self.res.add(resource::lambda_layer(f, version));
        self.layers.push((fi, version.to_string(), id));
        id
    }
}
