//! The alerting API: `GET /api/v1/alerts` (the alerts in their groups, Alertmanager v2's alert
//! shape), `GET /api/v1/notifications` (recent notifications and how their delivery goes), and
//! silences: `GET /api/v1/silences`, `POST /api/v1/silences` (Alertmanager v2's postable
//! silence; answers the id), `DELETE /api/v1/silences/{id}` (expires it). Answers use the
//! same envelope as the rest of the API: `{"status": "success", "data": ...}`, errors
//! `{"status": "error", "error": "..."}` with 400 (bad input) or 404 (unknown id).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use slod_alerting::silence::{ExpireError, PostableSilence};

use crate::http::{ApiState, authorized, error_response};

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "status": "error", "error": message }))).into_response()
}

fn success(data: impl serde::Serialize) -> Response {
    Json(json!({ "status": "success", "data": data })).into_response()
}

pub(crate) async fn alerts(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if let Err(e) = authorized(&state, &headers) {
        return error_response(e);
    }
    success(&*state.alerting.alerts())
}

pub(crate) async fn notifications(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if let Err(e) = authorized(&state, &headers) {
        return error_response(e);
    }
    success(&*state.alerting.notifications())
}

pub(crate) async fn list_silences(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if let Err(e) = authorized(&state, &headers) {
        return error_response(e);
    }
    success(state.alerting.gettable_silences())
}

pub(crate) async fn post_silence(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = authorized(&state, &headers) {
        return error_response(e);
    }
    let silence: PostableSilence = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "a silence is JSON like {{\"matchers\": [{{\"name\": \"slo\", \"value\": \"availability\", \"isRegex\": false}}], \"endsAt\": \"2026-12-05T20:00:00Z\", \"createdBy\": \"you\", \"comment\": \"why\"}}: {e}"
                ),
            );
        }
    };
    match state.alerting.post_silence(silence) {
        Ok(id) => success(json!({ "silenceID": id })),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

pub(crate) async fn expire_silence(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(e) = authorized(&state, &headers) {
        return error_response(e);
    }
    match state.alerting.expire_silence(&id) {
        Ok(()) => success(json!({ "silenceID": id })),
        Err(e @ ExpireError::NotFound(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ ExpireError::AlreadyExpired(_)) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}
