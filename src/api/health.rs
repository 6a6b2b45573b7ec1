//! Liveness and readiness probes for load balancers and service managers (no credentials).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;

/// `/health` and `/health/ready`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(live))
        .route("/health/ready", get(ready))
}

/// The process answers.
async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The store answers too.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|err| ApiError::Unavailable(err.into()))?;
    Ok(Json(
        json!({ "status": "ready", "store": state.store.backend() }),
    ))
}
