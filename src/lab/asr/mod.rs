//! The ASR vault over ARM REST (`schemas/fabric-http.md` §3).

pub mod jobs;
pub mod model;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;

use super::LabState;

/// The ARM router.
pub fn router(state: Arc<LabState>) -> Router {
    let _ = state;
    Router::new().fallback(|| async { StatusCode::NOT_IMPLEMENTED })
}
