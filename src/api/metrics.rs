//! `GET /metrics`: Prometheus text, behind the admin endpoint's Basic credentials (a scraper is
//! configured with them; the numbers describe every tenant's protection, so they are not public).

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;
use super::error::ApiError;

/// The metrics route; the caller applies the admin credentials.
pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Every metric, as of now.
async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let text = crate::metrics::render(&state.store).await?;
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    ))
}
