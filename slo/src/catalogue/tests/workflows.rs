//! `workflow_executions` and `workflow_minute`: one execution per engine, by hand.

use slod_storage::Table;

use super::metrics::cw;
use super::*;
use crate::catalogue::CatalogueSettings;

const SF_EXEC: &str = "arn:aws:states:eu-west-1:1:execution:fulfil:e1";

/// A Step Functions task state: a Lambda invocation carrying the execution context.
pub(crate) fn sf_task(id: u64, s: f64, exec: &'static str, step: &'static str, failed: bool) -> Row {
    with(
        invocation("fulfil-task", id, s, 100.0),
        vec![
            ("faas_max_memory_mb", V::I(256)),
            ("is_error", V::B(failed)),
            ("workflow_name", V::S("fulfil")),
            ("workflow_execution_id", V::S(exec)),
            ("workflow_step", V::S(step)),
            (
                "attributes",
                V::Map(vec![("aws.step_functions.execution.arn", exec.to_string())]),
            ),
        ],
    )
}

/// A non-invocation span of a workflow engine's worker.
fn wf_span(
    name: &'static str,
    id: u64,
    kind: i64,
    s: f64,
    ms: f64,
    key: &'static str,
    exec: &'static str,
) -> Row {
    let start = at(0, s);
    let dur = (ms * 1e6) as i64;
    vec![
        ("trace_id", V::Id(id / 100)),
        ("span_id", V::Id(id)),
        ("start_time", V::T(start)),
        ("end_time", V::T(start + dur)),
        ("duration_ns", V::I(dur)),
        ("name", V::S(name)),
        ("kind", V::I(kind)),
        ("service_name", V::S("orders-worker")),
        ("workflow_execution_id", V::S(exec)),
        ("attributes", V::Map(vec![(key, exec.to_string())])),
    ]
}

fn temporal(name: &'static str, id: u64, kind: i64, s: f64, ms: f64) -> Row {
    let r = wf_span(name, id, kind, s, ms, "temporalWorkflowID", "order-1");
    if let Some(step) = name.strip_prefix("RunActivity:") {
        with(r, vec![("workflow_step", V::S(step))])
    } else {
        with(r, vec![("workflow_name", V::S("Order"))])
    }
}

pub(crate) fn durable(name: &'static str, id: u64, kind: i64, s: f64, ms: f64, exec: &'static str) -> Row {
    let r = wf_span(name, id, kind, s, ms, "durabletask.task.instance_id", exec);
    if let Some(step) = name.strip_prefix("activity:") {
        with(r, vec![("workflow_step", V::S(step))])
    } else {
        with(r, vec![("workflow_name", V::S("Refund"))])
    }
}

pub(crate) fn workflow_spans() -> Vec<Row> {
    vec![
        // Step Functions e1: Reserve, Charge (fails, retried), Ship; 0 s → 5.1 s.
        sf_task(1, 0.0, SF_EXEC, "Reserve", false),
        sf_task(2, 1.0, SF_EXEC, "Charge", true),
        sf_task(3, 3.0, SF_EXEC, "Charge", false),
        sf_task(4, 5.0, SF_EXEC, "Ship", false),
        // Step Functions e2: one step at 9:00, the store's last span ends at 10:00 → running.
        with(
            sf_task(5, 540.0, "arn:e2", "Reserve", false),
            vec![("workflow_name", V::S("fulfil"))],
        ),
        with(
            invocation("other", 6, 600.0, 0.0),
            vec![("is_invocation", V::B(false))],
        ),
        // Temporal order-1: the activity fails twice; CompleteWorkflow carries the exception
        // event (status stays UNSET), at 1.4 s.
        temporal("StartWorkflow:Order", 100, 3, 0.0, 20.0),
        temporal("RunWorkflow:Order", 101, 2, 0.022, 0.0),
        with(
            temporal("RunActivity:charge", 102, 2, 0.03, 100.0),
            vec![("is_error", V::B(true))],
        ),
        with(
            temporal("RunActivity:charge", 103, 2, 1.2, 100.0),
            vec![("is_error", V::B(true))],
        ),
        with(
            temporal("CompleteWorkflow:Order", 104, 1, 1.4, 0.0),
            vec![
                ("exception_type", V::S("temporalio.exceptions.ActivityError")),
                ("events", V::Events(vec!["exception"])),
            ],
        ),
        // Durable a1: create → orchestration 0.05–2.0 s, one activity, succeeds.
        durable("create_orchestration:Refund", 200, 4, 0.0, 4.0, "a1"),
        durable("orchestration:Refund", 201, 2, 0.05, 1950.0, "a1"),
        durable("activity:notify", 202, 3, 0.1, 400.0, "a1"),
        durable("activity:notify", 203, 2, 0.102, 398.0, "a1"),
        // Durable a2: the orchestrator itself fails (its activity succeeded), 10–11 s.
        with(
            durable("orchestration:Refund", 301, 2, 10.0, 1000.0, "a2"),
            vec![("is_error", V::B(true))],
        ),
        durable("activity:notify", 303, 2, 10.1, 300.0, "a2"),
    ]
}

#[tokio::test]
async fn executions_of_step_functions_temporal_and_durable() {
    let ctx = spans(workflow_spans());
    let r = rows(
        &ctx,
        "SELECT workflow_execution_id, workflow_name, engine, status, succeeded, duration_ms, steps, step_attempts,
                failed_steps, retries, orchestrator_errors, transitions
         FROM workflow_executions ORDER BY start_time, workflow_execution_id",
    )
    .await;
    let want: Vec<Vec<&str>> = vec![
        // Durable a1: create at 0 → orchestration end at 2.0 s.
        vec![
            "a1",
            "Refund",
            "durable_functions",
            "succeeded",
            "true",
            "2000.0",
            "1",
            "1",
            "0",
            "0",
            "0",
            "1",
        ],
        // 3 steps in 4 attempts, 1 failed, 1 retry; done 5 minutes of data later: succeeded.
        vec![
            SF_EXEC,
            "fulfil",
            "step_functions",
            "succeeded",
            "true",
            "5100.0",
            "3",
            "4",
            "1",
            "1",
            "0",
            "4",
        ],
        // Temporal: both attempts failed; the completion's exception is explained by the
        // failed step, so no orchestrator error. 0 → 1.4 s.
        vec![
            "order-1", "Order", "temporal", "failed", "false", "1400.0", "1", "2", "2", "1", "0", "2",
        ],
        // Durable a2: failed with no failed step → an orchestrator error.
        vec![
            "a2",
            "Refund",
            "durable_functions",
            "failed",
            "false",
            "1000.0",
            "1",
            "1",
            "0",
            "0",
            "1",
            "1",
        ],
        // e2 is still running: no end, no verdict.
        vec![
            "arn:e2",
            "fulfil",
            "step_functions",
            "running",
            "NULL",
            "NULL",
            "1",
            "1",
            "0",
            "0",
            "0",
            "1",
        ],
    ];
    assert_eq!(r, want);
    // e1 cost: 4 task invocations of 100 ms at 256 MB (0.025 GB-s each) + 4 transitions.
    let cost = num(
        &ctx,
        &format!("SELECT cost FROM workflow_executions WHERE workflow_execution_id = '{SF_EXEC}'"),
    )
    .await;
    assert_close(
        cost,
        4.0 * (0.025 * 0.000_016_666_7 + 0.000_000_2) + 4.0 * 0.000_025,
    );
}

#[tokio::test]
async fn workflow_minutes_from_spans_and_from_orchestrator_metrics() {
    let sm = |m: &'static str| {
        vec![(
            "StateMachineArn",
            format!("arn:aws:states:eu-west-1:1:stateMachine:{m}"),
        )]
    };
    let dists = vec![
        // Another state machine seen only through AWS/States metrics: 4 succeeded, 1 failed.
        cw(
            "amazonaws.com/AWS/States/ExecutionsSucceeded",
            1,
            0,
            sm("billing"),
            (4, 4.0, 1.0),
        ),
        cw(
            "amazonaws.com/AWS/States/ExecutionsFailed",
            2,
            0,
            sm("billing"),
            (1, 1.0, 1.0),
        ),
        cw(
            "amazonaws.com/AWS/States/ExecutionTime",
            3,
            0,
            sm("billing"),
            (5, 10_000.0, 3000.0),
        ),
        // fulfil's metrics for minute 0: its spans win.
        cw(
            "amazonaws.com/AWS/States/ExecutionsSucceeded",
            4,
            0,
            sm("fulfil"),
            (7, 7.0, 1.0),
        ),
    ];
    let ctx = catalogue(
        &[
            (Table::Spans, workflow_spans()),
            (Table::MetricDistributions, dists),
        ],
        &CatalogueSettings::default(),
    );
    let r = rows(
        &ctx,
        "SELECT workflow_name, source, executions, succeeded, failed, success_rate, p50_ms, step_failure_rate, retry_rate,
                orchestrator_errors
         FROM workflow_minute WHERE minute = to_timestamp_nanos(1767607200000000000) ORDER BY workflow_name",
    )
    .await;
    let want: Vec<Vec<&str>> = vec![
        vec![
            "Order", "spans", "1.0", "0.0", "1.0", "0.0", "1400.0", "1.0", "0.5", "0.0",
        ],
        // a1 and a2: 1 of 2 succeeded; P50 of 2000 and 1000 = 1500.
        vec![
            "Refund", "spans", "2.0", "1.0", "1.0", "0.5", "1500.0", "0.0", "0.0", "1.0",
        ],
        // metrics only: 4 + 1 executions, avg ExecutionTime 10000 / 5 = 2000 ms.
        vec![
            "billing", "metrics", "5.0", "4.0", "1.0", "0.8", "2000.0", "NULL", "NULL", "NULL",
        ],
        // spans: 1 execution (e1); 1 failed attempt of 4, 1 retry of 4.
        vec![
            "fulfil", "spans", "1.0", "1.0", "0.0", "1.0", "5100.0", "0.25", "0.25", "0.0",
        ],
    ];
    assert_eq!(r, want);
}
