//! Site failover: one operation on every DR subscription of a stamp, tier by tier
//! (`POST /admin/stamps/{id}/failover` with `{"kind", "recoveryPoint", "sourceDown", "reason"}`
//! → 202 with the `JobId` of the `site_failover` run, whose children are the subscriptions'
//! own failover jobs: `GET /admin/jobs?parent={JobId}`).
//!
//! Refusals: an unknown stamp → 404; an unplanned failover of a stamp neither confirmed down
//! (`"sourceDown": true`) nor judged Down by the site heartbeat → 400; another site operation of
//! the stamp still running → 409 naming its job. Commit windows and drill cleanup come from each
//! subscription's failover settings, so the request cannot set them (400).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use tracing::instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::contract::{Out, ToWire};
use crate::domain::FailoverKind;
use crate::workflows::{SiteStartError, start_site_operation};

use super::AppState;
use super::auth::principal;
use super::error::ApiError;
use super::failover::FailoverInput;
use super::wire::{Negotiated, Reply, WapBody};

/// The admin route, relative to `/admin`.
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(site_failover))
}

/// The answer: the site job started.
pub struct SiteStarted {
    stamp_id: Uuid,
    kind: FailoverKind,
    job_id: Uuid,
}

impl ToWire for SiteStarted {
    const XML_ROOT: &'static str = "SiteFailover";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("StampId", Out::Str(self.stamp_id.to_string())),
            ("Kind", Out::Str(self.kind.as_str().into())),
            ("JobId", Out::Str(self.job_id.to_string())),
        ])
    }
}

impl From<SiteStartError> for ApiError {
    fn from(err: SiteStartError) -> Self {
        match err {
            SiteStartError::UnknownStamp(_) => Self::NotFound(err.to_string()),
            SiteStartError::NotFenced(_) => Self::BadRequest(err.to_string()),
            SiteStartError::Running { .. } => Self::Conflict(err.to_string()),
            SiteStartError::Store(store) => store.into(),
            SiteStartError::Engine(engine) => engine.into(),
        }
    }
}

/// `POST /admin/stamps/{id}/failover`.
#[utoipa::path(post, path = "/stamps/{id}/failover", params(("id" = String, Path, description = "The stamp (its id, a GUID).")), request_body = super::schemas::FailoverRequest, responses((status = 202, description = "Started: the job doing it.", body = super::schemas::SiteFailover)))]
#[instrument(skip_all, fields(stamp = %path_id), err(Debug))]
async fn site_failover(
    State(state): State<AppState>,
    format: Negotiated,
    headers: HeaderMap,
    Path(path_id): Path<String>,
    WapBody(input): WapBody<FailoverInput>,
) -> Result<Reply<SiteStarted>, ApiError> {
    let stamp_id = Uuid::parse_str(path_id.trim())
        .map_err(|_| ApiError::NotFound(format!("Stamp '{path_id}' is not known.")))?;
    let kind = input.kind()?;
    if input.has_window_options() {
        return Err(ApiError::BadRequest(
            "A site operation uses each subscription's failover settings for commit windows and drill cleanup; set them with PUT /admin/subscriptions/{id}/failover-settings.".into(),
        ));
    }
    let by = principal(&headers).unwrap_or_else(|| "admin".into());
    let job_id = start_site_operation(
        &state.store,
        &state.registry,
        stamp_id,
        kind,
        input.source_down(),
        input.reason(),
        &by,
        "api",
        None,
    )
    .await?;
    Ok(Reply::with_status(
        StatusCode::ACCEPTED,
        format,
        SiteStarted {
            stamp_id,
            kind,
            job_id,
        },
    ))
}
