//! Temporal executions exactly as the Python SDK's legacy `TracingInterceptor` sends them
//! (`collector/testdata/temporal/traces-1`): `StartWorkflow:<T>` CLIENT root with
//! `temporalWorkflowID`; `RunWorkflow:<T>`, `StartActivity:<A>` and `CompleteWorkflow:<T>`
//! as 0 ms siblings under it; `RunActivity:<A>` SERVER under its `StartActivity` with the real
//! duration, one per attempt (same `temporalActivityID`). A failed execution's
//! `CompleteWorkflow` carries an `exception` event but its status stays UNSET. A workflow task
//! that fails on replay (non-determinism, `Fate::stall_after`) leaves an errored
//! `RunWorkflow` span and then nothing: Temporal retries the task forever.

use opentelemetry_proto::tonic::common::v1::KeyValue;

use super::{Fate, TraceSpans, attempts};
use crate::fleet::Workflow;
use crate::otlp::{
    CLIENT, FLAGS_PYTHON, FLAGS_PYTHON_REMOTE, INTERNAL, SERVER, error_status, exception_event, s,
};
use crate::rng::Rng;
use crate::scope::Scope;
use crate::sim::Simulation;

pub(crate) fn execution(sim: &mut Simulation, w: &Workflow, start: u64, fate: Fate, rng: &mut Rng) {
    let trace_id = rng.id::<16>();
    let workflow_id = format!("order-{}-{}", sim.wf.seq, rng.hex(8));
    let run_id = rng.uuid();
    let ids = || vec![s("temporalWorkflowID", &workflow_id), s("temporalRunID", &run_id)];
    let root_id = rng.id::<8>();
    let rpc = (rng.uniform(15.0, 30.0) * 1e6) as u64;
    let trace = TraceSpans {
        trace_id: trace_id.clone(),
        flags: (FLAGS_PYTHON, FLAGS_PYTHON_REMOTE),
    };
    let span = |name: String,
                kind: i32,
                parent: &[u8],
                t0: u64,
                t1: u64,
                attributes: Vec<KeyValue>,
                rng: &mut Rng| { trace.span(name, kind, parent, (t0, t1), attributes, rng) };
    let mut spans = Vec::with_capacity(10);
    let mut root = span(
        format!("StartWorkflow:{}", w.name),
        CLIENT,
        &[],
        start,
        start + rpc,
        vec![s("temporalWorkflowID", &workflow_id)],
        rng,
    );
    root.span_id = root_id.clone();
    spans.push(root);
    let t_run = start + rpc + 2_000_000;
    spans.push(span(
        format!("RunWorkflow:{}", w.name),
        SERVER,
        &root_id,
        t_run,
        t_run,
        ids(),
        rng,
    ));
    let mut t = t_run + 3_000_000;
    let mut failed = false;
    let mut activity_failures = 0;
    for (k, step) in w.steps.iter().enumerate() {
        if fate.stall_after == Some(k) {
            // The worker replays the history with changed code and fails the workflow task.
            let msg = format!(
                "[TMPRL1100] Nondeterminism error: activity type of scheduled event 'StartActivity:{step}' does not match"
            );
            let mut task = span(
                format!("RunWorkflow:{}", w.name),
                SERVER,
                &root_id,
                t,
                t + 4_000_000,
                ids(),
                rng,
            );
            task.status = error_status(&format!("NondeterminismError: {msg}"));
            task.events.push(exception_event(
                t + 4_000_000,
                "temporalio.workflow.NondeterminismError",
                &msg,
                true,
            ));
            spans.push(task);
            for sp in spans {
                sim.out.span(sim.wf.temporal_worker, Scope::Temporal, sp);
            }
            sim.wf.temporal.activity_failed += activity_failures;
            return;
        }
        let start_activity = span(
            format!("StartActivity:{step}"),
            CLIENT,
            &root_id,
            t,
            t,
            ids(),
            rng,
        );
        let parent = start_activity.span_id.clone();
        spans.push(start_activity);
        let for_good = fate.fail_step == Some(k);
        // CardDeclined-style failures are non-retryable (one attempt); others retry 3 times.
        let non_retryable = for_good && rng.chance(0.5);
        let max = if non_retryable { 1 } else { 3 };
        for (a0, a1, bad) in attempts(
            t + 1_000_000,
            for_good,
            fate.transient,
            max,
            1_000_000_000,
            180.0,
            rng,
        ) {
            let mut attrs = vec![s("temporalActivityID", (k + 1).to_string())];
            attrs.extend(ids());
            let mut run = span(format!("RunActivity:{step}"), SERVER, &parent, a0, a1, attrs, rng);
            if bad {
                activity_failures += 1;
                let (ty, msg) = if non_retryable {
                    ("CardDeclined", "card declined")
                } else {
                    ("UpstreamTimeout", "warehouse API did not answer")
                };
                let text = format!("ApplicationError: {ty}: {msg}");
                run.status = error_status(&text);
                run.events.push(exception_event(
                    a1,
                    "temporalio.exceptions.ApplicationError",
                    msg,
                    true,
                ));
            }
            spans.push(run);
            t = a1 + 2_000_000;
        }
        if for_good {
            failed = true;
            break;
        }
    }
    let mut complete = span(
        format!("CompleteWorkflow:{}", w.name),
        INTERNAL,
        &root_id,
        t,
        t,
        ids(),
        rng,
    );
    if failed {
        complete.events.push(exception_event(
            t,
            "temporalio.exceptions.ActivityError",
            "Activity task failed",
            true,
        ));
    }
    spans.push(complete);
    for sp in spans {
        sim.out.span(sim.wf.temporal_worker, Scope::Temporal, sp);
    }
    let totals = &mut sim.wf.temporal;
    totals.activity_failed += activity_failures;
    if failed {
        totals.failed += 1;
    } else {
        totals.completed += 1;
    }
    totals.latency.record((t - start) as f64 / 1e9);
}
