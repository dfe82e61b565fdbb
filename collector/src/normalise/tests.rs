//! Expected values come from the OTel semantic conventions and the producers' behaviour recorded
//! in `shared/reference/serverless-telemetry.md` (section numbers in the comments), not from
//! this module's output.

use super::*;

#[test]
fn canonical_key_maps_every_renamed_key_and_leaves_others_alone() {
    let cases = [
        // Old FaaS invocation id (Java < 1.x, Node aws-sdk `Lambda.Invoke`).
        ("faas.execution", "faas.invocation_id"),
        // Old function ARN key.
        ("faas.id", "cloud.resource_id"),
        // HTTP semconv before 1.21.
        ("http.status_code", "http.response.status_code"),
        ("http.method", "http.request.method"),
        // Resource key renamed in semconv 1.27.
        ("deployment.environment", "deployment.environment.name"),
        // Messaging keys before 1.24 / 1.26.
        ("messaging.destination", "messaging.destination.name"),
        ("messaging.operation", "messaging.operation.type"),
        // ADOT spells Step Functions without the underscore (§2.1, §4.2).
        (
            "aws.stepfunctions.state_machine.arn",
            "aws.step_functions.state_machine.arn",
        ),
        (
            "aws.stepfunctions.activity.arn",
            "aws.step_functions.activity.arn",
        ),
        (
            "aws.stepfunctions.execution.arn",
            "aws.step_functions.execution.arn",
        ),
        // An `aws.stepfunctions.*` key without a known new name stays as sent.
        ("aws.stepfunctions.something", "aws.stepfunctions.something"),
        // Canonical keys map to themselves.
        ("faas.invocation_id", "faas.invocation_id"),
        ("http.response.status_code", "http.response.status_code"),
        // Unrelated keys are unchanged, including ones sharing a prefix with an alias.
        ("order.id", "order.id"),
        ("http.status_code_class", "http.status_code_class"),
        ("messaging.destination.name", "messaging.destination.name"),
    ];
    for (key, want) in cases {
        assert_eq!(canonical_key(key), want, "key {key:?}");
    }
}

#[test]
fn canonical_value_renames_old_enum_values_of_the_right_slot_only() {
    let cases = [
        // Azure's old platform value (semconv < 1.22) becomes today's `azure.functions`.
        (Slot::CloudPlatform, "azure_functions", "azure.functions"),
        // Current values stay.
        (Slot::CloudPlatform, "azure.functions", "azure.functions"),
        (Slot::CloudPlatform, "aws_lambda", "aws_lambda"),
        // The rename applies to cloud.platform only, not to the same text in another slot.
        (Slot::FaasName, "azure_functions", "azure_functions"),
    ];
    for (slot, value, want) in cases {
        assert_eq!(canonical_value(slot, value), want, "{slot:?} = {value:?}");
    }
}

#[test]
fn memory_mb_reads_bytes_or_megabytes() {
    let cases = [
        // Node's resource detector sends bytes: 268435456 B = 256 MiB (§2.1).
        (268_435_456.0, Some(256)),
        // The spec's unit is bytes too: 10240 MiB, the Lambda maximum.
        (10_737_418_240.0, Some(10240)),
        // Python's detector sends MB as an int (§2.1).
        (512.0, Some(512)),
        (128.0, Some(128)),
        // The Lambda layer sends an MB string; the caller parses it to a number first (§2.2).
        ("1024".parse::<f64>().unwrap(), Some(1024)),
        // Exactly 1 MiB is taken as bytes, i.e. 1 MB.
        (1_048_576.0, Some(1)),
        // No memory, or nonsense: no value rather than a wrong one.
        (0.0, None),
        (-512.0, None),
        (f64::NAN, None),
        (f64::INFINITY, None),
    ];
    for (value, want) in cases {
        assert_eq!(memory_mb(value), want, "faas.max_memory = {value}");
    }
}

#[test]
fn is_throttle_recognises_each_kind_of_evidence() {
    let none = ThrottleEvidence::default;
    let cases: Vec<(&str, ThrottleEvidence<'_>, bool)> = vec![
        // HTTP 429 Too Many Requests (RFC 6585; §3.1).
        (
            "http 429",
            ThrottleEvidence {
                http_status: Some(429),
                ..none()
            },
            true,
        ),
        // error.type is the status code as a string on HTTP client spans (§1.5, §3.1).
        (
            "error.type 429",
            ThrottleEvidence {
                error_type: Some("429"),
                ..none()
            },
            true,
        ),
        // gRPC RESOURCE_EXHAUSTED is code 8 (older int attribute)…
        (
            "grpc 8",
            ThrottleEvidence {
                grpc_status: Some("8"),
                ..none()
            },
            true,
        ),
        // …or its name (newer string attribute).
        (
            "grpc RESOURCE_EXHAUSTED",
            ThrottleEvidence {
                grpc_status: Some("RESOURCE_EXHAUSTED"),
                ..none()
            },
            true,
        ),
        // botocore puts str(ClientError) in the status description (§3.1).
        (
            "botocore status message",
            ThrottleEvidence {
                status_message: Some(
                    "An error occurred (TooManyRequestsException) when calling the Invoke operation",
                ),
                ..none()
            },
            true,
        ),
        // The exception type recorded on the `exception` event.
        (
            "exception type",
            ThrottleEvidence {
                exception_type: Some("ThrottlingException"),
                ..none()
            },
            true,
        ),
        // AWS's "Rate exceeded" message.
        (
            "exception message",
            ThrottleEvidence {
                exception_message: Some("Rate exceeded"),
                ..none()
            },
            true,
        ),
        // SQS's error.type value for throttling (§3.1).
        (
            "error.type RequestThrottled",
            ThrottleEvidence {
                error_type: Some("RequestThrottled"),
                ..none()
            },
            true,
        ),
        // A 500 is an error, not a throttle.
        (
            "http 500",
            ThrottleEvidence {
                http_status: Some(500),
                error_type: Some("500"),
                ..none()
            },
            false,
        ),
        // 503 alone is not taken as a throttle: without a marker it is an outage.
        (
            "http 503 without markers",
            ThrottleEvidence {
                http_status: Some(503),
                status_message: Some("Service Unavailable"),
                exception_type: Some("ServiceUnavailable"),
                ..none()
            },
            false,
        ),
        // gRPC UNAVAILABLE (14) is not RESOURCE_EXHAUSTED.
        (
            "grpc 14",
            ThrottleEvidence {
                grpc_status: Some("14"),
                ..none()
            },
            false,
        ),
        // No evidence at all.
        ("nothing", none(), false),
    ];
    for (name, evidence, want) in cases {
        assert_eq!(is_throttle(&evidence), want, "{name}");
    }
}

#[test]
fn invocation_picks_one_span_per_function_invocation() {
    const INTERNAL: i32 = 1;
    const PRODUCER: i32 = 4;
    // (name, has faas.invocation_id, kind, serverless resource, has parent, flags, expected)
    let cases = [
        // faas.invocation_id marks an invocation whatever else is true.
        (
            "invocation id on internal span",
            true,
            INTERNAL,
            false,
            true,
            0x100,
            true,
        ),
        // The Lambda invocation span is SERVER on a serverless resource (§1.4).
        (
            "serverless server root",
            false,
            KIND_SERVER,
            true,
            false,
            0x100,
            true,
        ),
        // …also when its parent is remote (API Gateway traceparent, python-lambda traces-2).
        (
            "serverless server, remote parent",
            false,
            KIND_SERVER,
            true,
            true,
            0x300,
            true,
        ),
        // A SERVER span of a plain service is an HTTP request, not a function invocation.
        (
            "server, not serverless",
            false,
            KIND_SERVER,
            false,
            false,
            0x100,
            false,
        ),
        // A CONSUMER root on serverless compute is the invocation (pubsub trigger).
        (
            "serverless consumer root",
            false,
            KIND_CONSUMER,
            true,
            false,
            0x100,
            true,
        ),
        // The per-message CONSUMER child of an SQS batch invocation has a local parent.
        (
            "consumer, local parent",
            false,
            KIND_CONSUMER,
            true,
            true,
            0x100,
            false,
        ),
        // Node sets the sampled bit too (257): still a local parent.
        (
            "consumer, local parent, sampled",
            false,
            KIND_CONSUMER,
            true,
            true,
            0x101,
            false,
        ),
        // Remoteness unknown (flags 0): a child is not taken as an invocation.
        (
            "consumer, parent of unknown remoteness",
            false,
            KIND_CONSUMER,
            true,
            true,
            0,
            false,
        ),
        // IS_REMOTE without HAS_IS_REMOTE is meaningless (OTLP trace.proto SpanFlags).
        (
            "consumer, is-remote bit alone",
            false,
            KIND_CONSUMER,
            true,
            true,
            0x200,
            false,
        ),
        // HAS_IS_REMOTE | IS_REMOTE: the trigger's context crossed a process boundary.
        (
            "consumer, remote parent",
            false,
            KIND_CONSUMER,
            true,
            true,
            0x300,
            true,
        ),
        // A CONSUMER span outside serverless compute is a plain queue consumer.
        (
            "consumer, not serverless",
            false,
            KIND_CONSUMER,
            false,
            false,
            0x100,
            false,
        ),
        // Outgoing calls and internal work are never invocations.
        (
            "serverless client root",
            false,
            KIND_CLIENT,
            true,
            false,
            0x100,
            false,
        ),
        ("serverless internal", false, INTERNAL, true, true, 0x100, false),
        ("serverless producer", false, PRODUCER, true, true, 0x100, false),
    ];
    for (name, has_id, kind, serverless, has_parent, flags, want) in cases {
        assert_eq!(
            invocation(has_id, kind, serverless, has_parent, flags),
            want,
            "{name}"
        );
    }
}

#[test]
fn is_error_follows_status_and_http_semantics() {
    const UNSET: i32 = 0;
    const OK: i32 = 1;
    const ERROR: i32 = 2;
    // (name, status code, has error.type, kind, http status, expected)
    let cases = [
        // Status ERROR is an error on any kind.
        ("status error", ERROR, false, KIND_SERVER, None, true),
        // error.type is only set on failure (semconv recording-errors).
        ("error.type", UNSET, true, KIND_SERVER, None, true),
        // A server answering 5xx failed even if the instrumentation left status unset (§1.5).
        ("server 500", UNSET, false, KIND_SERVER, Some(500), true),
        // A server answering 4xx did its job: the client was wrong (http-spans §Status).
        ("server 404", UNSET, false, KIND_SERVER, Some(404), false),
        ("server 429", UNSET, false, KIND_SERVER, Some(429), false),
        // For a client, 4xx is an error.
        ("client 404", UNSET, false, KIND_CLIENT, Some(404), true),
        // 2xx is success for both.
        ("server 200", UNSET, false, KIND_SERVER, Some(200), false),
        ("client 200", UNSET, false, KIND_CLIENT, Some(200), false),
        // Nothing says failure.
        ("unset, no http", UNSET, false, KIND_SERVER, None, false),
        // Trace API §Set Status: "Analysis tools SHOULD respond to an Ok status by suppressing
        // any errors they would otherwise generate."
        (
            "status ok suppresses server 500",
            OK,
            false,
            KIND_SERVER,
            Some(500),
            false,
        ),
        (
            "status ok suppresses client 404",
            OK,
            false,
            KIND_CLIENT,
            Some(404),
            false,
        ),
    ];
    for (name, status, error_type, kind, http, want) in cases {
        assert_eq!(is_error(status, error_type, kind, http), want, "{name}");
    }
}

#[test]
fn workflow_identity_from_span_names_and_attributes() {
    // (name, span name, canonical attributes, expected name, execution id, step)
    type Case = (
        &'static str,
        &'static str,
        Vec<(&'static str, &'static str)>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        // Temporal client start: workflow type after the colon, id from temporalWorkflowID (§4.4).
        (
            "temporal start",
            "StartWorkflow:OrderWorkflow",
            vec![("temporalWorkflowID", "order-1-39a37818")],
            Some("OrderWorkflow"),
            Some("order-1-39a37818"),
            None,
        ),
        // Temporal worker run of the same workflow.
        (
            "temporal run",
            "RunWorkflow:OrderWorkflow",
            vec![
                ("temporalWorkflowID", "order-1-39a37818"),
                ("temporalRunID", "01a20b59-8abc-7959-9f97-55617849e49a"),
            ],
            Some("OrderWorkflow"),
            Some("order-1-39a37818"),
            None,
        ),
        // Temporal activity: a step of the workflow whose id it carries.
        (
            "temporal activity",
            "RunActivity:charge_card",
            vec![
                ("temporalActivityID", "1"),
                ("temporalWorkflowID", "order-2-0f3974ce"),
            ],
            None,
            Some("order-2-0f3974ce"),
            Some("charge_card"),
        ),
        // Durable Functions orchestration run; instance id is the execution id (§4.3).
        (
            "durable orchestration",
            "orchestration:ProcessOrder",
            vec![("durabletask.task.instance_id", "abc123")],
            Some("ProcessOrder"),
            Some("abc123"),
            None,
        ),
        // Durable client scheduling with a version suffix `(@<ver>)` (§4.3).
        (
            "durable create with version",
            "create_orchestration:ProcessOrder(@1.0)",
            vec![("durabletask.task.instance_id", "abc123")],
            Some("ProcessOrder"),
            Some("abc123"),
            None,
        ),
        // Durable activity: a step.
        (
            "durable activity",
            "activity:ChargeCard",
            vec![("durabletask.task.instance_id", "abc123")],
            None,
            Some("abc123"),
            Some("ChargeCard"),
        ),
        // Durable timer spans `orchestration:<name>:timer` belong to the orchestration <name>.
        (
            "durable timer",
            "orchestration:ProcessOrder:timer",
            vec![("durabletask.task.instance_id", "abc123")],
            Some("ProcessOrder"),
            Some("abc123"),
            None,
        ),
        // Step Functions caller span: the name is the last ARN field, the state machine name.
        (
            "step functions arn",
            "SFN.StartExecution",
            vec![(
                "aws.step_functions.state_machine.arn",
                "arn:aws:states:eu-west-1:123456789012:stateMachine:OrderFlow",
            )],
            Some("OrderFlow"),
            None,
            None,
        ),
        // Proposed workflow.* keys (semantic-conventions PR #2387, §4.1).
        (
            "proposed workflow keys",
            "run",
            vec![
                ("workflow.definition.name", "nightly-billing"),
                ("workflow.execution.id", "run-42"),
                ("workflow.task.name", "aggregate"),
            ],
            Some("nightly-billing"),
            Some("run-42"),
            Some("aggregate"),
        ),
        // workflow.execution.id wins over a Temporal id on the same span (priority order).
        (
            "execution key priority",
            "RunWorkflow:OrderWorkflow",
            vec![
                ("temporalWorkflowID", "temporal-id"),
                ("workflow.execution.id", "semconv-id"),
            ],
            Some("OrderWorkflow"),
            Some("semconv-id"),
            None,
        ),
        // A plain span is not part of a workflow, even with a colon in its name.
        (
            "plain span",
            "GET /orders",
            vec![("http.route", "/orders")],
            None,
            None,
            None,
        ),
        ("colon, unknown prefix", "db:query", vec![], None, None, None),
    ];
    for (case, span_name, attrs, name, execution_id, step) in cases {
        let attr = |k: &str| {
            attrs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };
        let want = Workflow {
            name: name.map(str::to_string),
            execution_id: execution_id.map(str::to_string),
            step: step.map(str::to_string),
        };
        assert_eq!(workflow(span_name, &attr), want, "{case}");
    }
}
