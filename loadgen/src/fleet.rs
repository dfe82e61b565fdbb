//! The functions and workflows traffic is generated for.
//!
//! A fleet cycles through ten archetypes, chosen so that even three functions cover the
//! exporters with and without `faas.coldstart` and both queue and HTTP triggers; each
//! archetype names the real exporter whose shape it imitates (`collector/testdata/`).

/// Where a function runs; decides its resource attributes' shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    AwsLambda,
    AzureFunctions,
    GcpCloudRun,
}

/// Which instrumentation exports the function's spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `@opentelemetry/instrumentation-aws-lambda` 0.75 (sends `faas.coldstart`, bytes memory,
    /// no `http.*` on HTTP events).
    Node,
    /// `opentelemetry-instrumentation-aws-lambda` 0.66b1 (no `faas.coldstart`, MB memory,
    /// old `http.*` names).
    Python,
    /// The Azure Functions host in OpenTelemetry mode (`faas.coldstart` on specialization).
    AzureHost,
    /// An OTel SDK HTTP server instrumentation behind Cloud Run (no `faas.coldstart`).
    CloudRun,
}

/// What invokes the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// API Gateway / HTTP trigger.
    Http,
    /// An SQS (or, on Azure, queue) event source mapping, batches of messages.
    Sqs,
    /// A schedule (EventBridge rule, Azure timer): one invocation per minute.
    Schedule,
    /// A DynamoDB stream: reports `IteratorAge`.
    Stream,
    /// Invoked directly by an orchestrator (Step Functions task states).
    Direct,
}

/// One function of the synthetic fleet.
#[derive(Debug, Clone)]
pub struct Function {
    pub service: String,
    pub name: String,
    pub platform: Platform,
    pub region: &'static str,
    pub account: &'static str,
    pub memory_mb: i64,
    /// The version deployed when the window starts (Lambda version number; Cloud Run revision
    /// and `service.version` are derived from it).
    pub version: String,
    pub route: String,
    pub runtime: Runtime,
    pub trigger: Trigger,
    /// Configured timeout.
    pub timeout_ms: u64,
    /// Median handler duration when healthy.
    pub median_ms: f64,
    /// Relative share of the fleet's traffic.
    pub weight: f64,
    /// Source queue (SQS-triggered functions).
    pub queue: Option<String>,
    /// Dead-letter queue: the source queue's redrive target, or where HTTP handlers park
    /// requests they cannot process.
    pub dlq: Option<String>,
    /// DynamoDB table the handler reads.
    pub table: String,
    /// Index of a fleet function this one calls with `Lambda.Invoke`.
    pub invokes: Option<usize>,
}

impl Function {
    /// Does the exporter say `faas.coldstart`? (Node and the Azure host do; Python and Cloud
    /// Run leave it to slod's first-invocation-per-instance derivation.)
    pub fn sends_coldstart(&self) -> bool {
        matches!(self.runtime, Runtime::Node | Runtime::AzureHost)
    }

    pub fn is_python(&self) -> bool {
        matches!(self.runtime, Runtime::Python | Runtime::CloudRun)
    }
}

struct Archetype {
    service: &'static str,
    name: &'static str,
    platform: Platform,
    runtime: Runtime,
    trigger: Trigger,
    median_ms: f64,
    timeout_ms: u64,
    weight: f64,
    table: &'static str,
}

#[allow(clippy::too_many_arguments)] // a table row: one argument per column
const fn arch(
    service: &'static str,
    name: &'static str,
    platform: Platform,
    runtime: Runtime,
    trigger: Trigger,
    median_ms: f64,
    timeout_ms: u64,
    weight: f64,
    table: &'static str,
) -> Archetype {
    Archetype {
        service,
        name,
        platform,
        runtime,
        trigger,
        median_ms,
        timeout_ms,
        weight,
        table,
    }
}

use Platform::*;
use Runtime::*;
use Trigger::*;

const ARCHETYPES: [Archetype; 10] = [
    arch(
        "orders",
        "orders-api",
        AwsLambda,
        Python,
        Http,
        80.0,
        10_000,
        3.0,
        "orders",
    ),
    arch(
        "orders",
        "orders-worker",
        AwsLambda,
        Node,
        Sqs,
        120.0,
        30_000,
        2.0,
        "orders",
    ),
    arch(
        "checkout",
        "checkout-api",
        AwsLambda,
        Node,
        Http,
        150.0,
        15_000,
        3.0,
        "carts",
    ),
    arch(
        "payments",
        "payments-func",
        AzureFunctions,
        AzureHost,
        Http,
        110.0,
        30_000,
        2.0,
        "payments",
    ),
    arch(
        "notifications",
        "notifications-run",
        GcpCloudRun,
        CloudRun,
        Http,
        60.0,
        60_000,
        2.0,
        "templates",
    ),
    arch(
        "payments",
        "payments-authorize",
        AwsLambda,
        Python,
        Http,
        90.0,
        6_000,
        2.0,
        "payments",
    ),
    arch(
        "reports",
        "reports-nightly",
        AwsLambda,
        Python,
        Schedule,
        900.0,
        60_000,
        0.0,
        "reports",
    ),
    arch(
        "inventory",
        "inventory-sync",
        AwsLambda,
        Node,
        Stream,
        70.0,
        20_000,
        1.5,
        "inventory",
    ),
    arch(
        "billing",
        "billing-reconcile",
        AzureFunctions,
        AzureHost,
        Schedule,
        400.0,
        60_000,
        0.0,
        "invoices",
    ),
    arch(
        "notifications",
        "email-sender",
        AwsLambda,
        Python,
        Sqs,
        200.0,
        30_000,
        1.5,
        "templates",
    ),
];

const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-southeast-2"];
const AZURE_REGIONS: [&str; 2] = ["westeurope", "eastus"];
const GCP_REGIONS: [&str; 2] = ["europe-west1", "us-central1"];

/// `n` functions spread over services, platforms, runtimes and triggers (deterministic; the
/// seed only decides ids, timing and incident targets).
pub fn fleet(n: usize) -> Vec<Function> {
    let mut out: Vec<Function> = (0..n)
        .map(|i| {
            let a = &ARCHETYPES[i % ARCHETYPES.len()];
            let cycle = i / ARCHETYPES.len();
            let name = if cycle == 0 {
                a.name.to_string()
            } else {
                format!("{}-{}", a.name, cycle + 1)
            };
            let region = match a.platform {
                AwsLambda => REGIONS[cycle % REGIONS.len()],
                AzureFunctions => AZURE_REGIONS[cycle % AZURE_REGIONS.len()],
                GcpCloudRun => GCP_REGIONS[cycle % GCP_REGIONS.len()],
            };
            let queue = (a.trigger == Sqs).then(|| format!("{name}-queue"));
            // One DLQ uses the "dead-letter" spelling so both name patterns are exercised.
            let dlq = match (a.trigger, i % ARCHETYPES.len()) {
                (Sqs, 9) => Some(format!("{name}-dead-letter")),
                (Sqs, _) | (Http, _) if a.platform == AwsLambda => Some(format!("{name}-dlq")),
                _ => None,
            };
            Function {
                service: a.service.to_string(),
                route: format!("/{}/{{id}}", a.service),
                name,
                platform: a.platform,
                region,
                account: "123456789012",
                memory_mb: [512, 256, 1024, 1536, 512, 256, 2048, 512, 1024, 256][i % 10],
                version: format!("{}", 3 + (i * 7) % 11),
                runtime: a.runtime,
                trigger: a.trigger,
                timeout_ms: a.timeout_ms,
                median_ms: a.median_ms,
                weight: a.weight,
                queue,
                dlq,
                table: a.table.to_string(),
                invokes: None,
            }
        })
        .collect();
    // checkout-api authorizes payments with a direct `Lambda.Invoke` of payments-authorize.
    for (i, f) in out.iter_mut().enumerate() {
        if i % ARCHETYPES.len() == 2 && i + 3 < n {
            f.invokes = Some(i + 3);
        }
    }
    out
}

/// The orchestrator that runs a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Temporal with the Python SDK's `TracingInterceptor` (`collector/testdata/temporal`).
    Temporal,
    /// AWS Step Functions with Lambda task states.
    StepFunctions,
    /// Azure Durable Functions (Durable Task tracing V2).
    DurableFunctions,
}

/// One workflow definition.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub name: String,
    pub engine: Engine,
    /// Step (activity / state) names in execution order.
    pub steps: Vec<String>,
    pub region: &'static str,
    pub account: &'static str,
    /// Executions per second at the default volume.
    pub weight: f64,
}

impl Workflow {
    /// The Step Functions state machine ARN.
    pub fn state_machine_arn(&self) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{}",
            self.region, self.account, self.name
        )
    }
}

/// The workflows of every fleet: one per engine.
pub fn workflows() -> Vec<Workflow> {
    let steps = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
    vec![
        Workflow {
            name: "OrderWorkflow".into(),
            engine: Engine::Temporal,
            steps: steps(&["charge_card", "reserve_stock", "ship_order"]),
            region: "eu-west-1",
            account: "123456789012",
            weight: 1.0,
        },
        Workflow {
            name: "order-fulfilment".into(),
            engine: Engine::StepFunctions,
            steps: steps(&["ValidateOrder", "ChargePayment", "ShipOrder"]),
            region: "eu-west-1",
            account: "123456789012",
            weight: 1.0,
        },
        Workflow {
            name: "ProcessRefund".into(),
            engine: Engine::DurableFunctions,
            steps: steps(&["ValidateRefund", "IssueRefund", "NotifyCustomer"]),
            region: "westeurope",
            account: "7d0c4a52-3b1e-4f9a-9c2d-5e6f7a8b9c0d",
            weight: 0.5,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_fleets_already_mix_runtimes_and_triggers() {
        let f = fleet(3);
        // Python (no faas.coldstart) and Node (faas.coldstart) are both present.
        assert!(f.iter().any(|x| x.sends_coldstart()) && f.iter().any(|x| !x.sends_coldstart()));
        // A queue consumer with a DLQ is present.
        assert!(f.iter().any(|x| x.trigger == Trigger::Sqs && x.dlq.is_some()));
    }

    #[test]
    fn names_are_unique_and_invoke_targets_exist() {
        let f = fleet(25);
        let mut names: Vec<_> = f.iter().map(|x| x.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 25);
        for x in &f {
            if let Some(t) = x.invokes {
                assert_eq!(f[t].platform, Platform::AwsLambda);
            }
        }
    }
}
