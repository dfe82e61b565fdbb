//! The HTTP API: `POST /api/v1/sql`, SLOs, rules, alerts and silences, `GET /metrics`,
//! `/healthz`, `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::registry::Registry;

use crate::engine::QueryEngine;
use crate::error::QueryError;
use crate::format::{Format, encode};
use crate::metrics::{ApiMetrics, QueryLabels};

/// What the HTTP handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub engine: QueryEngine,
    pub registry: Arc<Registry>,
    pub metrics: Arc<ApiMetrics>,
    /// Bearer token required on the query API, when set.
    pub query_token: Option<Arc<str>>,
    /// False while starting up and once shutdown has begun.
    pub ready: Arc<AtomicBool>,
    /// The SLO engine's latest evaluation.
    pub slo: slod_slo::tables::SloHandle,
    /// Alerts, notifications and silences.
    pub alerting: slod_alerting::service::AlertingHandle,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/sql", post(sql))
        .route("/api/v1/slos", get(crate::slos::list))
        .route("/api/v1/slos/{name}", get(crate::slos::one))
        .route("/api/v1/rules", get(crate::slos::rules))
        .route("/api/v1/alerts", get(crate::alerts::alerts))
        .route("/api/v1/notifications", get(crate::alerts::notifications))
        .route(
            "/api/v1/silences",
            get(crate::alerts::list_silences).post(crate::alerts::post_silence),
        )
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(crate::alerts::expire_silence),
        )
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: see README.md for the HTTP API\n",
            )
        })
        .with_state(state)
}

async fn readyz(State(state): State<ApiState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let mut out = String::new();
    match prometheus_client::encoding::text::encode(&mut out, &state.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            out,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not encode metrics: {e}\n"),
        )
            .into_response(),
    }
}

/// The SQL text of a request: the body itself, or `{"sql": "..."}` when it is JSON.
fn sql_text(headers: &HeaderMap, body: &Bytes) -> Result<String, QueryError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let text =
        std::str::from_utf8(body).map_err(|_| QueryError::Syntax("request body is not UTF-8".into()))?;
    if is_json || text.trim_start().starts_with('{') {
        #[derive(serde::Deserialize)]
        struct Body {
            sql: String,
        }
        let b: Body = serde_json::from_str(text)
            .map_err(|e| QueryError::Syntax(format!("JSON body must be {{\"sql\": \"SELECT ...\"}}: {e}")))?;
        return Ok(b.sql);
    }
    Ok(text.to_string())
}

/// Checks the query API's bearer token (when one is configured).
pub(crate) fn authorized(state: &ApiState, headers: &HeaderMap) -> Result<(), QueryError> {
    if let Some(expected) = &state.query_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented != Some(expected.as_ref()) {
            return Err(QueryError::Unauthenticated);
        }
    }
    Ok(())
}

async fn sql(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = authorized(&state, &headers) {
        return error_response(e);
    }
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let result = match sql_text(&headers, &body) {
        Ok(text) => state.engine.query(&text).await,
        Err(e) => Err(e),
    };
    let outcome = if result.is_ok() { "ok" } else { "error" };
    let labels = QueryLabels {
        interface: "http",
        outcome,
    };
    state.metrics.queries.get_or_create(&labels).inc();
    match result {
        Ok(r) => {
            state
                .metrics
                .query_seconds
                .get_or_create(&labels)
                .observe(r.elapsed.as_secs_f64());
            match encode(format, &r) {
                Ok(bytes) => {
                    let mut resp = ([(header::CONTENT_TYPE, format.content_type())], bytes).into_response();
                    let h = resp.headers_mut();
                    if let Ok(v) = HeaderValue::from_str(&r.rows.to_string()) {
                        h.insert("x-slod-rows", v);
                    }
                    if let Ok(v) = HeaderValue::from_str(&format!("{:.3}", r.elapsed.as_secs_f64() * 1000.0))
                    {
                        h.insert("x-slod-execution-time-ms", v);
                    }
                    resp
                }
                Err(e) => error_response(QueryError::Execution(format!("could not encode the result: {e}"))),
            }
        }
        Err(e) => error_response(e),
    }
}

/// The single mapping of query errors to HTTP responses: `{"error": "..."}` with a status.
pub fn error_response(err: QueryError) -> Response {
    let status = match &err {
        QueryError::Syntax(_)
        | QueryError::ReadOnly(_)
        | QueryError::FileAccess(_)
        | QueryError::Plan(_)
        | QueryError::Memory(_) => StatusCode::BAD_REQUEST,
        QueryError::Execution(_) => StatusCode::BAD_REQUEST,
        QueryError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        QueryError::Unauthenticated => StatusCode::UNAUTHORIZED,
        QueryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if matches!(err, QueryError::Internal(_)) {
        tracing::error!(error = %err, "query failed with an internal error");
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"error": err.to_string()}).to_string(),
    )
        .into_response()
}
