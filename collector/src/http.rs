//! OTLP/HTTP receiver: `POST /v1/traces`, `/v1/metrics`, `/v1/logs`, protobuf or JSON by
//! `Content-Type`, gzip/deflate/zstd by `Content-Encoding`, chunked bodies, responses per the
//! OTLP spec (`partial_success`, `google.rpc.Status` errors, 429/503 with `Retry-After`).

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

use crate::body::decompress;
use crate::error::IngestError;
use crate::ingest::{Encoding, Ingest, Outcome};
use crate::rpc;
use crate::signal::Signal;

/// The OTLP/HTTP routes.
pub fn router(ingest: Ingest) -> Router {
    Router::new()
        .route("/v1/traces", post(|s, h, b| handle(s, Signal::Traces, h, b)))
        .route("/v1/metrics", post(|s, h, b| handle(s, Signal::Metrics, h, b)))
        .route("/v1/logs", post(|s, h, b| handle(s, Signal::Logs, h, b)))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: OTLP/HTTP paths are POST /v1/traces, /v1/metrics and /v1/logs\n",
            )
        })
        // Limits are enforced below, after decompression, with OTLP-shaped errors.
        .layer(DefaultBodyLimit::disable())
        .with_state(ingest)
}

async fn handle(State(ingest): State<Ingest>, signal: Signal, headers: HeaderMap, body: Body) -> Response {
    let encoding = match content_type(&headers) {
        Ok(e) => e,
        Err(err) => return error_response(Encoding::Protobuf, err),
    };
    if let Err(err) = ingest.authorize(bearer(&headers)) {
        return error_response(encoding, err);
    }
    let result = async {
        let raw = read_body(body, ingest.max_request_bytes).await?;
        let content_encoding = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok());
        let body = decompress(content_encoding, raw, ingest.max_request_bytes)?;
        ingest.export(signal, encoding, "http", body).await
    }
    .await;
    match result {
        Ok(outcome) => success_response(signal, encoding, &outcome),
        Err(err) => error_response(encoding, err),
    }
}

fn content_type(headers: &HeaderMap) -> Result<Encoding, IngestError> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(IngestError::UnsupportedMediaType(raw.to_string())),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
}

/// Reads a (possibly chunked) body, refusing more than `limit` compressed bytes.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, IngestError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(IngestError::TooLarge { limit }),
        Err(err) => Err(IngestError::BadRequest(format!(
            "could not read request body: {err}"
        ))),
    }
}

fn mime(encoding: Encoding) -> HeaderValue {
    HeaderValue::from_static(match encoding {
        Encoding::Protobuf => "application/x-protobuf",
        Encoding::Json => "application/json",
    })
}

fn success_response(signal: Signal, encoding: Encoding, outcome: &Outcome) -> Response {
    let rejected = outcome.rejected.count;
    let message = outcome.rejected.first.clone().unwrap_or_default();
    let body: Vec<u8> = match encoding {
        Encoding::Json => {
            // OTLP JSON: lowerCamelCase keys, int64 as a decimal string.
            let key = match signal {
                Signal::Traces => "rejectedSpans",
                Signal::Metrics => "rejectedDataPoints",
                Signal::Logs => "rejectedLogRecords",
            };
            let v = if rejected > 0 {
                serde_json::json!({"partialSuccess": {key: rejected.to_string(), "errorMessage": message}})
            } else {
                serde_json::json!({})
            };
            v.to_string().into_bytes()
        }
        Encoding::Protobuf => match (signal, rejected > 0) {
            (_, false) => Vec::new(),
            (Signal::Traces, true) => ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans: rejected as i64,
                    error_message: message,
                }),
            }
            .encode_to_vec(),
            (Signal::Metrics, true) => ExportMetricsServiceResponse {
                partial_success: Some(ExportMetricsPartialSuccess {
                    rejected_data_points: rejected as i64,
                    error_message: message,
                }),
            }
            .encode_to_vec(),
            (Signal::Logs, true) => ExportLogsServiceResponse {
                partial_success: Some(ExportLogsPartialSuccess {
                    rejected_log_records: rejected as i64,
                    error_message: message,
                }),
            }
            .encode_to_vec(),
        },
    };
    ([(header::CONTENT_TYPE, mime(encoding))], body).into_response()
}

/// The single mapping of ingest errors to OTLP/HTTP responses.
fn error_response(encoding: Encoding, err: IngestError) -> Response {
    let (status, grpc_code) = match &err {
        IngestError::BadRequest(_) => (StatusCode::BAD_REQUEST, 3),
        IngestError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, 8),
        IngestError::UnsupportedMediaType(_) | IngestError::UnsupportedEncoding(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, 3)
        }
        IngestError::Unauthenticated => (StatusCode::UNAUTHORIZED, 16),
        IngestError::Backpressure { .. } => (StatusCode::TOO_MANY_REQUESTS, 14),
        IngestError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, 14),
        IngestError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, 13),
    };
    if matches!(err, IngestError::Internal(_)) {
        tracing::error!(error = %err, "ingest failed");
    }
    let message = err.to_string();
    let body = match encoding {
        Encoding::Json => serde_json::json!({"code": grpc_code, "message": message})
            .to_string()
            .into_bytes(),
        Encoding::Protobuf => rpc::Status {
            code: grpc_code,
            message,
            details: vec![],
        }
        .encode_to_vec(),
    };
    let mut resp = (status, [(header::CONTENT_TYPE, mime(encoding))], body).into_response();
    if let IngestError::Backpressure { retry_after } = &err
        && let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    if matches!(err, IngestError::Unavailable(_)) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    resp
}
