//! A tenant's own jobs: the history of its subscription's DR work with live progress, and the
//! manual steps of its failovers it may acknowledge.
//!
//! - `GET /tenant/subscriptions/{subid}/jobs[?limit=&after=]`: the subscription's jobs, newest
//!   first;
//! - `GET .../jobs/{jobId}`: one with its steps (another subscription's is 404, as if unknown);
//! - `POST .../jobs/{jobId}/steps/{step}/acknowledge` with `{"comment": "..."}`: completes a
//!   manual step of the subscription's failover job, in the name of the caller
//!   (`x-ms-principal-id`); 403 when the plan's `SelfService` is `None` or the subscription is
//!   not active, 409 when the step is not waiting.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::domain::SelfService;
use crate::store::{RunFilter, RunRecord};
use crate::workflows::FAILOVER;

use super::AppState;
use super::auth::principal;
use super::error::ApiError;
use super::jobs::{AcknowledgeBody, JobList, JobView, acknowledge, job_detail, json_body};
use super::tenant::TenantSubscription;
use super::wire::{Negotiated, Reply, limit_param, query_param};

/// The tenant routes, relative to `/tenant/subscriptions/{subid}` (inside its guard).
pub fn tenant_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(detail))
        .routes(routes!(ack))
}

/// Job `job` when it is a job of subscription `subscription`, else 404.
async fn own_job(state: &AppState, subscription: &str, job: &str) -> Result<RunRecord, ApiError> {
    let not_found = || ApiError::NotFound(format!("Job {job} is not known."));
    let id = Uuid::parse_str(job.trim()).map_err(|_| not_found())?;
    state
        .store
        .get_run(id)
        .await?
        .filter(|run| run.subscription_id.as_deref() == Some(subscription))
        .ok_or_else(not_found)
}

#[utoipa::path(get, path = "/jobs", operation_id = "list_jobs", params(("after" = Option<String>, Query, description = "The last id of the previous page."), ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000.")), responses((status = 200, description = "The subscription's jobs, newest first.", body = Vec<super::schemas::Job>)))]
async fn list(
    State(state): State<AppState>,
    format: Negotiated,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
    RawQuery(query): RawQuery,
) -> Result<Reply<JobList>, ApiError> {
    let query = query.as_deref();
    let after = query_param(query, "after")
        .map(|v| {
            Uuid::parse_str(&v)
                .map_err(|_| ApiError::BadRequest(format!("after '{v}' is not a job id.")))
        })
        .transpose()?;
    let runs = state
        .store
        .list_runs(&RunFilter {
            subscription_id: Some(sub.id.to_string()),
            after,
            limit: limit_param(query)?,
            ..RunFilter::default()
        })
        .await?;
    Ok(Reply::ok(format, JobList::of(runs)))
}

#[utoipa::path(get, path = "/jobs/{job}", params(("job" = String, Path, description = "The job (a GUID).")), responses((status = 200, description = "The job.", body = super::schemas::Job)))]
async fn detail(
    State(state): State<AppState>,
    format: Negotiated,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
    Path((_, job)): Path<(String, String)>,
) -> Result<Reply<JobView>, ApiError> {
    let run = own_job(&state, &sub.id.to_string(), &job).await?;
    Ok(Reply::ok(format, job_detail(&state, run.id).await?))
}

#[utoipa::path(post, path = "/jobs/{job}/steps/{step}/acknowledge", params(("job" = String, Path, description = "The job (a GUID)."), ("step" = String, Path, description = "The step number.")), request_body = super::schemas::Acknowledgement, responses((status = 200, description = "The job.", body = super::schemas::Job)))]
async fn ack(
    State(state): State<AppState>,
    format: Negotiated,
    headers: HeaderMap,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
    Path((_, job, step)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Reply<JobView>, ApiError> {
    // The body is read first, as on the admin route: bad input gets the same answer anywhere.
    let body: AcknowledgeBody = json_body(&headers, &body)?;
    let run = own_job(&state, &sub.id.to_string(), &job).await?;
    if run.workflow != FAILOVER {
        return Err(ApiError::Forbidden(
            "Only the manual steps of your failovers and drills are yours to acknowledge.".into(),
        ));
    }
    if sub.effective_quota()?.self_service == SelfService::None || !sub.tenant_may_act() {
        return Err(ApiError::Forbidden(
            "Your plan does not let you act on failovers; ask your provider to acknowledge it."
                .into(),
        ));
    }
    let by = principal(&headers).unwrap_or_else(|| sub.admin_id.clone());
    let job = acknowledge(&state, run.id, &step, &by, body.comment.as_deref()).await?;
    Ok(Reply::ok(format, job))
}
