//! AWS Step Functions executions. Step Functions sends no OTLP itself (reference §4.2): what
//! arrives is the caller's `SFN.StartExecution` CLIENT span (with
//! `aws.step_functions.state_machine.arn`) and each Lambda task state as its own invocation
//! trace. The task handlers here record the execution context the state machine passes in
//! (`$$.Execution.Id`, `$$.State.Name`) as `aws.step_functions.execution.arn` and
//! `aws.step_functions.state.name` span attributes, so every step shares the execution id. A
//! `Retry` policy re-invokes a failed task twice with backoff; `AWS/States` metrics come
//! through Metric Streams.

use super::{Fate, kebab};
use crate::downstream;
use crate::fleet::{Engine, Function, Platform, Runtime, Trigger, Workflow};
use crate::invocation::Failure;
use crate::otlp::s;
use crate::rng::Rng;
use crate::sim::Simulation;
use crate::traffic::Request;

const TRANSITION_NS: u64 = 40_000_000;
const RETRY_BACKOFF_NS: u64 = 2_000_000_000;

/// The functions Step Functions workflows need, per workflow: its starter API, then one
/// task function per state.
pub(crate) fn task_functions(workflows: &[Workflow]) -> Vec<Function> {
    let mut out = Vec::new();
    for w in workflows.iter().filter(|w| w.engine == Engine::StepFunctions) {
        let base = |name: String, runtime, trigger, median_ms| Function {
            service: w.name.clone(),
            route: "/fulfilments".into(),
            name,
            platform: Platform::AwsLambda,
            region: w.region,
            account: w.account,
            memory_mb: 256,
            version: "4".into(),
            runtime,
            trigger,
            timeout_ms: 15_000,
            median_ms,
            weight: 0.0,
            queue: None,
            dlq: None,
            table: "fulfilments".into(),
            invokes: None,
        };
        out.push(base(
            format!("{}-api", w.name),
            Runtime::Node,
            Trigger::Http,
            60.0,
        ));
        for step in &w.steps {
            out.push(base(
                format!("{}-{}", w.name, kebab(step)),
                Runtime::Python,
                Trigger::Direct,
                150.0,
            ));
        }
    }
    out
}

/// One execution: the starter invocation, then each task state with retries.
pub(crate) fn execution(
    sim: &mut Simulation,
    w: &Workflow,
    base: usize,
    start: u64,
    fate: Fate,
    rng: &mut Rng,
) {
    let sm_arn = w.state_machine_arn();
    let exec_arn = format!(
        "arn:aws:states:{}:{}:execution:{}:{}",
        w.region,
        w.account,
        w.name,
        rng.uuid()
    );
    let more = vec![downstream::start_execution(&sim.fns[base], &sm_arn)];
    let Some(api) = sim.invoke(
        base,
        Request {
            start,
            succeed: true,
            more,
            ..Default::default()
        },
        rng,
    ) else {
        return;
    };
    sim.wf.states.started += 1;
    let mut t = api.end + TRANSITION_NS;
    let mut failed = false;
    for (k, step) in w.steps.iter().enumerate() {
        let for_good = fate.fail_step == Some(k);
        for attempt in 0..3u32 {
            let fail = for_good || rng.chance(fate.transient);
            let failure = if for_good {
                Failure {
                    ty: "PaymentDeclinedError",
                    message: "payment declined by issuer".into(),
                    downstream: false,
                }
            } else {
                Failure {
                    ty: "botocore.exceptions.ReadTimeoutError",
                    message: "Read timeout on endpoint URL: \"https://warehouse.internal.example/\"".into(),
                    downstream: false,
                }
            };
            let req = Request {
                start: t,
                fail: fail.then_some(failure),
                succeed: !fail,
                extra: vec![
                    s("aws.step_functions.state_machine.arn", &sm_arn),
                    s("aws.step_functions.execution.arn", &exec_arn),
                    s("aws.step_functions.state.name", step),
                ],
                ..Default::default()
            };
            let end = sim.invoke(base + 1 + k, req, rng).map_or(t, |r| r.end);
            t = end + TRANSITION_NS;
            if !fail {
                break;
            }
            if attempt < 2 {
                t += RETRY_BACKOFF_NS << attempt;
            }
        }
        if for_good {
            failed = true;
            break;
        }
    }
    let m = &mut sim.wf.states;
    if failed {
        m.failed += 1;
    } else {
        m.succeeded += 1;
    }
    m.times.push((t - start) as f64 / 1e6);
}
