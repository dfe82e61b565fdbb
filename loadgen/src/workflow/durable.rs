//! Azure Durable Functions orchestrations with Durable Task distributed tracing V2 (reference
//! §4.3): `create_orchestration:<name>` PRODUCER from the HTTP starter, the
//! `orchestration:<name>` SERVER span covering the run (status ERROR when it fails), and per
//! activity attempt an `activity:<name>` CLIENT (schedule) with its `activity:<name>` SERVER
//! (run) child. `durabletask.task.instance_id` is the execution id on every span.

use opentelemetry_proto::tonic::common::v1::KeyValue;

use super::{Fate, TraceSpans, attempts};
use crate::fleet::Workflow;
use crate::otlp::{CLIENT, FLAGS_PYTHON, PRODUCER, SERVER, error_status, exception_event, i, s};
use crate::rng::Rng;
use crate::scope::Scope;
use crate::sim::Simulation;

pub(crate) fn execution(sim: &mut Simulation, w: &Workflow, start: u64, fate: Fate, rng: &mut Rng) {
    let trace_id = rng.id::<16>();
    let instance_id = rng.hex(32);
    let attrs = |ty: &str, name: &str| -> Vec<KeyValue> {
        vec![
            s("durabletask.type", ty),
            s("durabletask.task.name", name),
            s("durabletask.task.instance_id", &instance_id),
        ]
    };
    let trace = TraceSpans {
        trace_id: trace_id.clone(),
        flags: (FLAGS_PYTHON, FLAGS_PYTHON),
    };
    let mk = |name: String,
              kind: i32,
              parent: &[u8],
              t0: u64,
              t1: u64,
              attributes: Vec<KeyValue>,
              rng: &mut Rng| { trace.span(name, kind, parent, (t0, t1), attributes, rng) };
    let mut spans = Vec::with_capacity(10);
    let create = mk(
        format!("create_orchestration:{}", w.name),
        PRODUCER,
        &[],
        start,
        start + 4_000_000,
        attrs("orchestration", &w.name),
        rng,
    );
    let create_id = create.span_id.clone();
    spans.push(create);
    let run_start = start + (rng.uniform(20.0, 80.0) * 1e6) as u64;
    let orch_id = rng.id::<8>();
    let mut t = run_start + 5_000_000;
    let mut failed_step = None;
    for (k, step) in w.steps.iter().enumerate() {
        let for_good = fate.fail_step == Some(k);
        for (a0, a1, bad) in attempts(t, for_good, fate.transient, 3, 1_500_000_000, 250.0, rng) {
            let mut a = attrs("activity", step);
            a.push(i("durabletask.task.task_id", k as i64));
            let schedule = mk(
                format!("activity:{step}"),
                CLIENT,
                &orch_id,
                a0,
                a1 + 3_000_000,
                a.clone(),
                rng,
            );
            let mut run = mk(
                format!("activity:{step}"),
                SERVER,
                &schedule.span_id,
                a0 + 2_000_000,
                a1,
                a,
                rng,
            );
            if bad {
                let msg =
                    format!("Activity function '{step}' failed: the refund provider rejected the request");
                run.status = error_status(&msg);
                run.events.push(exception_event(
                    a1,
                    "System.InvalidOperationException",
                    &msg,
                    false,
                ));
            }
            spans.push(schedule);
            spans.push(run);
            t = a1 + 10_000_000;
        }
        if for_good {
            failed_step = Some(step.clone());
            break;
        }
    }
    let mut a = attrs("orchestration", &w.name);
    a.push(s("durabletask.task.execution_id", rng.hex(32)));
    let mut orch = mk(
        format!("orchestration:{}", w.name),
        SERVER,
        &create_id,
        run_start,
        t,
        a,
        rng,
    );
    orch.span_id = orch_id;
    if let Some(step) = failed_step {
        let msg = format!(
            "Orchestrator function '{}' failed: Activity function '{step}' failed",
            w.name
        );
        orch.status = error_status(&msg);
        orch.events.push(exception_event(
            t,
            "Microsoft.DurableTask.TaskFailedException",
            &msg,
            false,
        ));
    }
    spans.push(orch);
    for sp in spans {
        sim.out.span(sim.wf.durable_app, Scope::DurableTask, sp);
    }
}
