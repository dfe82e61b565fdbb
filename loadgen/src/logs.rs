//! Log records: the Lambda layer's telemetry-API records (reference §2.2: `type`,
//! `faas.invocation_id`, CloudWatch-style bodies, `Init Duration` only on cold starts) and
//! handler error logs sent through the SDK's `LoggingHandler` (python-sdk/logs-1).

use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;

use crate::otlp::s;

/// What a `REPORT` line says about one invocation.
#[derive(Debug, Clone)]
pub(crate) struct Report<'a> {
    pub request_id: &'a str,
    pub version: &'a str,
    pub start: u64,
    pub duration_ms: f64,
    pub memory_size_mb: i64,
    pub max_memory_used_mb: i64,
    /// Cold starts only.
    pub init_ms: Option<f64>,
    pub timeout: bool,
}

fn body(text: String) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::StringValue(text)),
    })
}

fn platform(ty: &str, time: u64, request_id: &str, text: String) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: body(text),
        attributes: vec![s("type", ty), s("faas.invocation_id", request_id)],
        ..Default::default()
    }
}

/// `platform.start` and `platform.report` for one invocation.
pub(crate) fn lambda_platform(r: &Report<'_>) -> [LogRecord; 2] {
    let end = r.start + (r.duration_ms * 1e6) as u64;
    let mut report = format!(
        "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
        r.request_id,
        r.duration_ms,
        r.duration_ms.ceil() as u64,
        r.memory_size_mb,
        r.max_memory_used_mb
    );
    if let Some(init) = r.init_ms {
        report.push_str(&format!("\tInit Duration: {init:.2} ms"));
    }
    if r.timeout {
        report.push_str("\tStatus: timeout");
    }
    [
        platform(
            "platform.start",
            r.start,
            r.request_id,
            format!("START RequestId: {} Version: {}", r.request_id, r.version),
        ),
        platform("platform.report", end + 1_000_000, r.request_id, report),
    ]
}

/// A handler's error line as the telemetry API forwards function output (`type=function`).
pub(crate) fn lambda_function_error(time: u64, request_id: &str, text: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: body(format!("[ERROR]\t{text}")),
        attributes: vec![s("type", "function"), s("faas.invocation_id", request_id)],
        ..Default::default()
    }
}

/// An SDK log record inside a span (trace context set, flags 3 as Python sends).
pub(crate) fn sdk_error(time: u64, trace_id: &[u8], span_id: &[u8], ty: &str, message: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: body(format!("request failed: {message}")),
        attributes: vec![s("exception.type", ty), s("exception.message", message)],
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        flags: 3,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &LogRecord) -> String {
        match r.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(Value::StringValue(s)) => s.clone(),
            _ => String::new(),
        }
    }

    #[test]
    fn report_lines_read_like_cloudwatch() {
        let r = Report {
            request_id: "3f1c",
            version: "12",
            start: 1_000_000_000,
            duration_ms: 102.13,
            memory_size_mb: 512,
            max_memory_used_mb: 87,
            init_ms: Some(312.456),
            timeout: false,
        };
        let [start, report] = lambda_platform(&r);
        assert_eq!(text(&start), "START RequestId: 3f1c Version: 12");
        // Billed duration rounds up to the millisecond; Init Duration only on cold starts.
        assert_eq!(
            text(&report),
            "REPORT RequestId: 3f1c\tDuration: 102.13 ms\tBilled Duration: 103 ms\tMemory Size: 512 MB\tMax Memory Used: 87 MB\tInit Duration: 312.46 ms"
        );
        let warm = lambda_platform(&Report {
            init_ms: None,
            timeout: true,
            ..r
        });
        assert!(text(&warm[1]).ends_with("Max Memory Used: 87 MB\tStatus: timeout"));
    }
}
