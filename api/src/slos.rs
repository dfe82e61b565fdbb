//! `GET /api/v1/slos` and `GET /api/v1/slos/{name}`: the SLO engine's latest evaluation as JSON.
//! `GET /api/v1/rules`: every SQL alert rule's last evaluation and its active instances.
//!
//! The list has one entry per SLO instance (SLO × label set); `{name}` returns that SLO's
//! instances and its firing alert conditions, or 404 naming the SLOs that exist.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::http::{ApiState, authorized, error_response};

pub(crate) async fn list(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if let Err(e) = authorized(&state, &headers) {
        return error_response(e);
    }
    let snap = state.slo.get();
    Json(json!({ "status": "success", "data": snap.statuses })).into_response()
}

pub(crate) async fn one(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if let Err(e) = authorized(&state, &headers) {
        return error_response(e);
    }
    let snap = state.slo.get();
    let instances: Vec<_> = snap.statuses.iter().filter(|s| s.slo == name).collect();
    if instances.is_empty() {
        let mut known: Vec<&str> = snap.statuses.iter().map(|s| s.slo.as_str()).collect();
        known.dedup();
        return (
            StatusCode::NOT_FOUND,
            Json(json!({
                "status": "error",
                "error": format!("no SLO named {name:?}; known SLOs: {}", known.join(", ")),
            })),
        )
            .into_response();
    }
    let conditions: Vec<_> = snap
        .conditions
        .iter()
        .filter(|c| c.labels.get("slo") == Some(&name))
        .collect();
    Json(json!({ "status": "success", "data": { "instances": instances, "conditions": conditions } }))
        .into_response()
}

/// `{"data": {"rules": [{rule, health, last_error, rows, duration_ms, evaluated_at}],
/// "instances": [...pending, firing, resolved...], "conditions": [...rule conditions...]}}`.
pub(crate) async fn rules(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if let Err(e) = authorized(&state, &headers) {
        return error_response(e);
    }
    let snap = state.slo.get();
    let conditions: Vec<_> = snap.conditions.iter().filter(|c| c.objective.is_none()).collect();
    Json(json!({
        "status": "success",
        "data": { "rules": snap.rules, "instances": snap.rule_instances, "conditions": conditions },
    }))
    .into_response()
}
