//! Resources exactly as each exporter sends them (`collector/testdata/README.md`,
//! `reference/serverless-telemetry.md` §2–4).

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::fleet::{Function, Platform, Runtime, Workflow};
use crate::otlp::{i, s, strings};

/// One execution environment of a function: a Lambda sandbox, an Azure host instance, a
/// Cloud Run container.
#[derive(Debug, Clone)]
pub(crate) struct InstanceIds {
    /// `faas.instance`: the Lambda log stream name, the Azure instance id, the Cloud Run
    /// instance id.
    pub faas_instance: String,
    /// `service.instance.id` (a uuid per SDK process; Node's Lambda detector sends none).
    pub service_instance: String,
    pub version: String,
}

/// `(year, month, day)` of a Unix time in nanoseconds (Howard Hinnant's civil-from-days).
pub(crate) fn civil_date(ns: u64) -> (i64, u32, u32) {
    let z = (ns / 86_400_000_000_000) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The Lambda log stream name: `2026/11/24/[12]7c0d…` (date, executed version, 32 hex).
pub(crate) fn log_stream(started_ns: u64, version: &str, hex32: &str) -> String {
    let (y, m, d) = civil_date(started_ns);
    format!("{y:04}/{m:02}/{d:02}/[{version}]{hex32}")
}

/// Cloud Run revision name for a version number.
pub(crate) fn cloud_run_revision(f: &Function, version: &str) -> String {
    let n: u64 = version.parse().unwrap_or(1);
    format!(
        "{}-{n:05}-{}",
        f.name,
        &["qaz", "wsx", "edc", "rfv"][(n % 4) as usize]
    )
}

/// `service.version` for platforms that report the app version rather than `faas.version`.
pub(crate) fn app_version(version: &str) -> String {
    format!("1.{version}.0")
}

fn python_sdk() -> [KeyValue; 3] {
    [
        s("telemetry.sdk.language", "python"),
        s("telemetry.sdk.name", "opentelemetry"),
        s("telemetry.sdk.version", "1.45.1"),
    ]
}

/// The resource of one instance's spans and SDK logs.
pub(crate) fn function_resource(f: &Function, ids: &InstanceIds) -> Resource {
    let mut a = Vec::with_capacity(14);
    match (f.platform, f.runtime) {
        // python-lambda/: AwsLambdaResourceDetector + OTEL_SERVICE_NAME; memory in MB.
        (Platform::AwsLambda, Runtime::Python) => {
            a.extend(python_sdk());
            a.extend([
                s("service.instance.id", &ids.service_instance),
                s("service.name", &f.name),
                s("cloud.provider", "aws"),
                s("cloud.platform", "aws_lambda"),
                s("cloud.region", f.region),
                s("faas.name", &f.name),
                s("faas.version", &ids.version),
                s("faas.instance", &ids.faas_instance),
                i("faas.max_memory", f.memory_mb),
            ]);
        }
        // node-lambda/: awsLambdaDetector replaces the default resource: no telemetry.sdk.*,
        // no service.instance.id; memory in bytes; log group names as a string array.
        (Platform::AwsLambda, _) => {
            let group = format!("/aws/lambda/{}", f.name);
            a.extend([
                s("cloud.provider", "aws"),
                s("cloud.platform", "aws_lambda"),
                s("cloud.region", f.region),
                s("faas.name", &f.name),
                s("faas.version", &ids.version),
                i("faas.max_memory", f.memory_mb * 1_048_576),
                strings("aws.log.group.names", &[group.as_str()]),
                s("faas.instance", &ids.faas_instance),
                s("service.name", &f.name),
            ]);
        }
        // Azure Functions host, OpenTelemetry mode: the old `azure_functions` value, the app
        // version as service.version, the site as cloud.resource_id.
        (Platform::AzureFunctions, _) => {
            a.extend([
                s("service.name", &f.name),
                s("service.version", app_version(&ids.version)),
                s("cloud.provider", "azure"),
                s("cloud.platform", "azure_functions"),
                s("cloud.region", f.region),
                s("cloud.resource_id", azure_site(f)),
                s("faas.instance", &ids.faas_instance),
                i("process.pid", 20 + (ids.faas_instance.len() as i64 * 7) % 900),
                s("ai.sdk.prefix", "azurefunctions"),
                s("deployment.environment.name", "prod"),
            ]);
        }
        // GCP resource detector (K_SERVICE, K_REVISION, metadata-server instance id) + the
        // Python SDK.
        (Platform::GcpCloudRun, _) => {
            a.extend(python_sdk());
            a.extend([
                s("service.instance.id", &ids.service_instance),
                s("service.name", &f.name),
                s("service.version", app_version(&ids.version)),
                s("cloud.provider", "gcp"),
                s("cloud.platform", "gcp_cloud_run"),
                s("cloud.account.id", "acme-prod-4711"),
                s("cloud.region", f.region),
                s("faas.name", &f.name),
                s("faas.version", cloud_run_revision(f, &ids.version)),
                s("faas.instance", &ids.faas_instance),
                s("deployment.environment.name", "prod"),
            ]);
        }
    }
    Resource {
        attributes: a,
        ..Default::default()
    }
}

pub(crate) fn azure_site(f: &Function) -> String {
    format!(
        "/subscriptions/7d0c4a52-3b1e-4f9a-9c2d-5e6f7a8b9c0d/resourceGroups/{}-rg/providers/Microsoft.Web/sites/{}",
        f.service, f.name
    )
}

/// The opentelemetry-lambda collector extension layer's telemetry-API receiver: its own
/// resource, with `faas.max_memory` as an MB *string* (§2.2).
pub(crate) fn lambda_layer(f: &Function, version: &str) -> Resource {
    Resource {
        attributes: vec![
            s("service.name", &f.name),
            s("faas.name", &f.name),
            s("faas.version", version),
            s("faas.max_memory", f.memory_mb.to_string()),
            s("faas.invoked_provider", "aws"),
            s("faas.invoked_region", f.region),
            s("cloud.provider", "aws"),
            s("cloud.platform", "aws_lambda"),
            s("cloud.region", f.region),
        ],
        ..Default::default()
    }
}

/// CloudWatch Metric Streams (OpenTelemetry 1.0 format): no service.name (§2.6).
pub(crate) fn cloudwatch(region: &str, account: &str) -> Resource {
    Resource {
        attributes: vec![
            s("cloud.provider", "aws"),
            s("cloud.account.id", account),
            s("cloud.region", region),
            s(
                "aws.exporter.arn",
                format!("arn:aws:cloudwatch:{region}:{account}:metric-stream/slod"),
            ),
        ],
        ..Default::default()
    }
}

/// The queue monitor: a Python SDK process polling SQS `GetQueueAttributes` into a gauge, as
/// in `python-sdk/` (gzip, cumulative, `faas.*` from the Lambda detector).
pub(crate) fn queue_monitor(region: &str) -> Resource {
    let mut a: Vec<KeyValue> = python_sdk().into();
    a.extend([
        s("service.name", "queue-monitor"),
        s("service.version", "1.4.2"),
        s("deployment.environment.name", "prod"),
        s("cloud.provider", "aws"),
        s("cloud.platform", "aws_lambda"),
        s("cloud.region", region),
        s("faas.name", "queue-monitor"),
        s("faas.version", "12"),
        i("faas.max_memory", 128),
    ]);
    Resource {
        attributes: a,
        ..Default::default()
    }
}

/// The Temporal worker (Python SDK + `TracingInterceptor`), as in `temporal/traces-1`.
pub(crate) fn temporal_worker(instance: &str) -> Resource {
    let mut a: Vec<KeyValue> = python_sdk().into();
    a.extend([
        s("service.instance.id", instance),
        s("service.name", "orders-temporal-worker"),
    ]);
    Resource {
        attributes: a,
        ..Default::default()
    }
}

/// The Temporal Rust core's metrics exporter, as in `temporal/metrics-*`.
pub(crate) fn temporal_core() -> Resource {
    Resource {
        attributes: vec![
            s("service.name", "temporal-core-sdk"),
            s("telemetry.sdk.language", "rust"),
            s("telemetry.sdk.name", "opentelemetry"),
            s("telemetry.sdk.version", "0.32.1"),
        ],
        ..Default::default()
    }
}

/// The Durable Functions app hosting an orchestration.
pub(crate) fn durable_app(w: &Workflow, instance: &str) -> Resource {
    let app = format!("{}-app", w.name.to_ascii_lowercase());
    Resource {
        attributes: vec![
            s("service.name", &app),
            s("service.version", "2.3.0"),
            s("cloud.provider", "azure"),
            s("cloud.platform", "azure_functions"),
            s("cloud.region", w.region),
            s(
                "cloud.resource_id",
                format!(
                    "/subscriptions/{}/resourceGroups/refunds-rg/providers/Microsoft.Web/sites/{app}",
                    w.account
                ),
            ),
            s("faas.instance", instance),
        ],
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        // 1970-01-01, 2000-02-29 (leap day), 2026-11-24 (the capture day).
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(951_782_400 * 1_000_000_000), (2000, 2, 29));
        assert_eq!(civil_date(1_795_486_740 * 1_000_000_000), (2026, 11, 24));
        assert_eq!(
            log_stream(1_795_486_740 * 1_000_000_000, "$LATEST", "7c0d"),
            "2026/11/24/[$LATEST]7c0d"
        );
    }
}
