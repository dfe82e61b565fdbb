//! Instrumentation scopes of the exporters imitated, so spans and logs carry the scope name,
//! version and schema URL their real instrumentation library sends.

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;

use crate::otlp::scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    /// `opentelemetry-instrumentation-aws-lambda` 0.66b1 (python-lambda/).
    PythonLambda,
    /// `@opentelemetry/instrumentation-aws-lambda` 0.75.0 (node-lambda/).
    NodeLambda,
    /// The handler's own tracer (`validate order` in both Lambda captures).
    Handler,
    /// botocore instrumentation (Python AWS SDK calls).
    Botocore,
    /// `@opentelemetry/instrumentation-aws-sdk` (Node AWS SDK v3 calls).
    AwsSdkJs,
    /// requests instrumentation (Python HTTP client).
    Requests,
    /// undici instrumentation (Node fetch).
    Undici,
    /// ASP.NET Core activity source the Azure Functions host forwards.
    AspNetCore,
    /// The Azure Functions host itself (its `init` span on specialization).
    AzureHost,
    /// .NET HttpClient activity source.
    HttpClient,
    /// Flask instrumentation (the Cloud Run service).
    Flask,
    /// `temporalio.contrib.opentelemetry` TracingInterceptor (temporal/).
    Temporal,
    /// Durable Task tracing (Durable Functions, tracing schema V2).
    DurableTask,
    /// The opentelemetry-lambda collector layer's telemetry-API receiver (logs and metrics).
    TelemetryApi,
    /// Python `LoggingHandler` records of a handler module.
    HandlerLogs,
    /// The queue monitor's meter (python-sdk/ style).
    QueueMonitor,
    /// The Temporal Rust core's meter.
    TemporalCore,
    /// CloudWatch Metric Streams send an empty scope.
    None,
}

impl Scope {
    pub(crate) fn message(self) -> (InstrumentationScope, &'static str) {
        let (name, version, schema) = match self {
            Scope::PythonLambda => (
                "opentelemetry.instrumentation.aws_lambda",
                "0.66b1",
                "https://opentelemetry.io/schemas/1.11.0",
            ),
            Scope::NodeLambda => ("@opentelemetry/instrumentation-aws-lambda", "0.75.0", ""),
            Scope::Handler => ("orders.handler", "1.0.0", ""),
            Scope::Botocore => ("opentelemetry.instrumentation.botocore", "0.66b1", ""),
            Scope::AwsSdkJs => ("@opentelemetry/instrumentation-aws-sdk", "0.58.0", ""),
            Scope::Requests => (
                "opentelemetry.instrumentation.requests",
                "0.66b1",
                "https://opentelemetry.io/schemas/1.21.0",
            ),
            Scope::Undici => ("@opentelemetry/instrumentation-undici", "0.14.0", ""),
            Scope::AspNetCore => ("Microsoft.AspNetCore", "", ""),
            Scope::AzureHost => ("Microsoft.Azure.Functions.Host", "4.1038.0", ""),
            Scope::HttpClient => ("System.Net.Http", "", ""),
            Scope::Flask => (
                "opentelemetry.instrumentation.flask",
                "0.66b1",
                "https://opentelemetry.io/schemas/1.11.0",
            ),
            Scope::Temporal => ("temporalio.contrib.opentelemetry._interceptor", "", ""),
            Scope::DurableTask => ("DurableTask.Core", "3.1.0", ""),
            Scope::TelemetryApi => (
                "github.com/open-telemetry/opentelemetry-lambda/collector/receiver/telemetryapi",
                "0.1.0",
                "",
            ),
            Scope::HandlerLogs => ("orders.worker", "", ""),
            Scope::QueueMonitor => ("queue.monitor", "", ""),
            Scope::TemporalCore => ("temporal-core-sdk", "", ""),
            Scope::None => ("", "", ""),
        };
        (scope(name, version), schema)
    }
}
