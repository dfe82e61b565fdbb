//! Semantic-convention normalisation, in one table-driven place (DESIGN §2,
//! `reference/serverless-telemetry.md`).
//!
//! * [`canonical_key`]: renamed attribute keys map to today's name (`faas.execution` →
//!   `faas.invocation_id`, `http.status_code` → `http.response.status_code`, …).
//! * [`Slot`]: the keys promoted to typed columns. A promoted key is stored in its column and
//!   not repeated in the `attributes` / `resource_attributes` maps.
//! * Derivations ([`is_throttle`], [`invocation`], [`workflow`], [`memory_mb`]) turn several
//!   producers' shapes into one column each.
//!
//! Cold start: `faas_coldstart` holds what the telemetry says (`faas.coldstart` on the span or
//! resource, e.g. Node's Lambda instrumentation, the Azure host, the Lambda layer's `init`
//! span). Producers that never say (the Python Lambda instrumentation) leave it NULL; the SLO
//! catalogue then counts the first invocation of each new `faas.instance` as cold. Doing that
//! at query time keeps it deterministic across restarts and WAL replay, which an in-memory
//! "instances seen" set at ingest would not be.

/// Renamed keys → canonical keys. Old names keep arriving from older or other libraries.
pub(crate) fn canonical_key(key: &str) -> &str {
    match key {
        "faas.execution" => "faas.invocation_id",
        "faas.id" => "cloud.resource_id",
        "http.status_code" => "http.response.status_code",
        "http.method" => "http.request.method",
        "deployment.environment" => "deployment.environment.name",
        "messaging.destination" => "messaging.destination.name",
        "messaging.operation" => "messaging.operation.type",
        k if k.starts_with("aws.stepfunctions.") => match k {
            "aws.stepfunctions.state_machine.arn" => "aws.step_functions.state_machine.arn",
            "aws.stepfunctions.activity.arn" => "aws.step_functions.activity.arn",
            "aws.stepfunctions.execution.arn" => "aws.step_functions.execution.arn",
            "aws.stepfunctions.state.name" => "aws.step_functions.state.name",
            _ => k,
        },
        k => k,
    }
}

/// Renamed enum values of promoted keys.
pub(crate) fn canonical_value(slot: Slot, value: &str) -> &str {
    match (slot, value) {
        (Slot::CloudPlatform, "azure_functions") => "azure.functions",
        _ => value,
    }
}

/// A promoted column. Resource slots come first; their order matches
/// `slod_storage::RESOURCE_COLUMNS` after `ServiceName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    ServiceName,
    ServiceVersion,
    DeploymentEnvironment,
    CloudProvider,
    CloudPlatform,
    CloudRegion,
    CloudAccountId,
    CloudResourceId,
    FaasName,
    FaasVersion,
    FaasInstance,
    FaasMaxMemory,
    // span-level
    FaasTrigger,
    FaasInvocationId,
    FaasColdstart,
    HttpRoute,
    HttpRequestMethod,
    HttpResponseStatusCode,
    MessagingSystem,
    MessagingDestinationName,
    MessagingOperation,
    ErrorType,
}

/// Number of resource slots (`ServiceName` ..= `FaasMaxMemory`).
pub(crate) const RESOURCE_SLOTS: usize = 12;
pub(crate) const ALL_SLOTS: usize = 22;

impl Slot {
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The promoted slot of a canonical key, if any.
pub(crate) fn slot_of(key: &str) -> Option<Slot> {
    Some(match key {
        "service.name" => Slot::ServiceName,
        "service.version" => Slot::ServiceVersion,
        "deployment.environment.name" => Slot::DeploymentEnvironment,
        "cloud.provider" => Slot::CloudProvider,
        "cloud.platform" => Slot::CloudPlatform,
        "cloud.region" => Slot::CloudRegion,
        "cloud.account.id" => Slot::CloudAccountId,
        "cloud.resource_id" => Slot::CloudResourceId,
        "faas.name" => Slot::FaasName,
        "faas.version" => Slot::FaasVersion,
        "faas.instance" => Slot::FaasInstance,
        "faas.max_memory" => Slot::FaasMaxMemory,
        "faas.trigger" => Slot::FaasTrigger,
        "faas.invocation_id" => Slot::FaasInvocationId,
        "faas.coldstart" => Slot::FaasColdstart,
        "http.route" => Slot::HttpRoute,
        "http.request.method" => Slot::HttpRequestMethod,
        "http.response.status_code" => Slot::HttpResponseStatusCode,
        "messaging.system" => Slot::MessagingSystem,
        "messaging.destination.name" => Slot::MessagingDestinationName,
        "messaging.operation.type" => Slot::MessagingOperation,
        "error.type" => Slot::ErrorType,
        _ => return None,
    })
}

/// `cloud.platform` values that mark serverless compute.
pub(crate) fn is_serverless_platform(platform: &str) -> bool {
    matches!(
        platform,
        "aws_lambda"
            | "gcp_cloud_run"
            | "gcp_cloud_functions"
            | "azure.functions"
            | "azure_functions"
            | "alibaba_cloud_fc"
            | "tencent_cloud_scf"
    )
}

/// `faas.max_memory` in MB. The spec and Node send bytes, Python sends MB, the Lambda
/// layer's telemetry receiver an MB string: values of 1 MiB or more are bytes (no function
/// has a terabyte of memory), smaller ones MB.
pub(crate) fn memory_mb(value: f64) -> Option<i64> {
    if !value.is_finite() || value <= 0.0 {
        return None;
    }
    if value >= 1_048_576.0 {
        Some((value / 1_048_576.0).round() as i64)
    } else {
        Some(value.round() as i64)
    }
}

/// Messages and exception types that mean "throttled" (AWS SDK errors, botocore status
/// descriptions, Step Functions).
const THROTTLE_MARKERS: [&str; 6] = [
    "TooManyRequestsException",
    "ThrottlingException",
    "Rate exceeded",
    "RequestThrottled",
    "ProvisionedThroughputExceededException",
    "Throttling",
];

/// What throttle detection looks at.
#[derive(Debug, Default)]
pub(crate) struct ThrottleEvidence<'a> {
    pub http_status: Option<i32>,
    pub error_type: Option<&'a str>,
    pub status_message: Option<&'a str>,
    pub exception_type: Option<&'a str>,
    pub exception_message: Option<&'a str>,
    /// `rpc.grpc.status_code` (int) or `rpc.status_code` (string).
    pub grpc_status: Option<&'a str>,
}

pub(crate) fn is_throttle(e: &ThrottleEvidence<'_>) -> bool {
    let marked = |s: Option<&str>| s.is_some_and(|s| THROTTLE_MARKERS.iter().any(|m| s.contains(m)));
    e.http_status == Some(429)
        || e.error_type == Some("429")
        || matches!(e.grpc_status, Some("8" | "RESOURCE_EXHAUSTED"))
        || marked(e.error_type)
        || marked(e.status_message)
        || marked(e.exception_type)
        || marked(e.exception_message)
}

/// Span kinds (OTLP enum).
pub(crate) const KIND_SERVER: i32 = 2;
pub(crate) const KIND_CLIENT: i32 = 3;
pub(crate) const KIND_CONSUMER: i32 = 5;

/// Span flag bits (OTLP): the parent context's remoteness is known / is remote.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;

/// Is this span one function invocation? (DESIGN §2)
/// A span with `faas.invocation_id` is; so is a SERVER or CONSUMER span of serverless compute
/// (`cloud.platform` or `faas.name`), except a CONSUMER span under a local parent — the
/// per-message child of an invocation (SQS batch processing).
pub(crate) fn invocation(
    has_invocation_id: bool,
    kind: i32,
    serverless: bool,
    has_parent: bool,
    flags: u32,
) -> bool {
    if has_invocation_id {
        return true;
    }
    match kind {
        KIND_SERVER => serverless,
        KIND_CONSUMER => {
            let remote_parent = flags & FLAG_HAS_IS_REMOTE != 0 && flags & FLAG_IS_REMOTE != 0;
            serverless && (!has_parent || remote_parent)
        }
        _ => false,
    }
}

/// An error span: ERROR status, an `error.type`, a 5xx answer of a server or a 4xx/5xx
/// answer to a client (HTTP semconv: 4xx is not a server error). An explicit OK status
/// suppresses the derived errors (trace API, Set Status: "Analysis tools SHOULD respond to an
/// Ok status by suppressing any errors they would otherwise generate").
pub(crate) fn is_error(status_code: i32, error_type: bool, kind: i32, http_status: Option<i32>) -> bool {
    const STATUS_OK: i32 = 1;
    const STATUS_ERROR: i32 = 2;
    if status_code == STATUS_OK {
        return false;
    }
    status_code == STATUS_ERROR
        || error_type
        || match (kind, http_status) {
            (KIND_CLIENT, Some(s)) => s >= 400,
            (_, Some(s)) => s >= 500,
            _ => false,
        }
}

/// Workflow identity of a span.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Workflow {
    pub name: Option<String>,
    pub execution_id: Option<String>,
    pub step: Option<String>,
}

/// Attribute keys that carry a workflow execution id, in priority order. Extra keys come
/// from `telemetry.workflow_keys` in the config.
pub(crate) const EXECUTION_KEYS: [&str; 5] = [
    "workflow.execution.id",
    "temporalWorkflowID",
    "durabletask.task.instance_id",
    "aws.step_functions.execution.arn",
    "cicd.pipeline.run.id",
];

/// Whether a (canonical) span attribute key feeds a derivation ([`workflow`], gRPC throttle
/// status), so the converter can keep just those aside in its single pass.
pub(crate) fn is_derivation_input(key: &str) -> bool {
    EXECUTION_KEYS.contains(&key)
        || matches!(
            key,
            "workflow.definition.name"
                | "workflow.task.name"
                | "aws.step_functions.state_machine.arn"
                | "aws.step_functions.state.name"
                | "rpc.grpc.status_code"
                | "rpc.status_code"
        )
}

/// Derives workflow name and step from the span name and attributes. `attr` looks up a
/// canonical span attribute as a string.
pub(crate) fn workflow(span_name: &str, attr: &dyn Fn(&str) -> Option<String>) -> Workflow {
    let mut w = Workflow {
        execution_id: EXECUTION_KEYS.iter().find_map(|k| attr(k)),
        ..Default::default()
    };
    // Temporal: StartWorkflow:<T>, RunWorkflow:<T>, CompleteWorkflow:<T>, RunActivity:<A>.
    // Durable Functions: orchestration:<name>, activity:<name>.
    if let Some((prefix, rest)) = span_name.split_once(':') {
        let rest = rest.split("(@").next().unwrap_or(rest).trim();
        match prefix {
            "StartWorkflow"
            | "RunWorkflow"
            | "CompleteWorkflow"
            | "SignalWithStartWorkflow"
            | "create_orchestration" => {
                w.name = Some(rest.to_string());
            }
            // `orchestration:<name>:timer` is a timer of the orchestration <name>.
            "orchestration" => w.name = Some(rest.strip_suffix(":timer").unwrap_or(rest).to_string()),
            "RunActivity" | "StartActivity" | "activity" => w.step = Some(rest.to_string()),
            _ => {}
        }
    }
    if w.name.is_none() {
        w.name = attr("workflow.definition.name").or_else(|| {
            attr("aws.step_functions.state_machine.arn")
                .map(|arn| arn.rsplit(':').next().unwrap_or(&arn).to_string())
        });
    }
    if w.step.is_none() {
        w.step = attr("workflow.task.name").or_else(|| attr("aws.step_functions.state.name"));
    }
    w
}

#[cfg(test)]
mod tests;
