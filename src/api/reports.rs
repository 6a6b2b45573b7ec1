//! Failover and drill reports, built from the jobs' own records ([`crate::report`]):
//!
//! - `GET /admin/reports[?subscription=&kind=&from=&to=&after=&limit=]`: the reports of failover
//!   jobs, newest first (`from`/`to`: RFC 3339 times the job was created between; `after`: the
//!   last `JobId` of the previous page; `limit` 1..1000, default 100);
//! - `GET /admin/reports/{jobId}`: one report; `GET /admin/reports/{jobId}/html`: the same as a
//!   self-contained HTML page for the audit file;
//! - the tenant's `GET /tenant/subscriptions/{subid}/reports[...]`, `/reports/{jobId}` and
//!   `/reports/{jobId}/html`, which know only that subscription's jobs (anyone else's is 404).
//!
//! A report is an audit document with a nested, open shape, so it is answered as JSON (or HTML)
//! whatever the `Accept` header says; errors are WAP `Error`s as everywhere.

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::report::{failover_report, html::report_html};
use crate::store::{RunFilter, RunRecord};
use crate::workflows::FAILOVER;

use super::AppState;
use super::error::ApiError;
use super::tenant::TenantSubscription;
use super::wire::{limit_param, query_param};

/// The admin routes, relative to `/admin`.
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_list))
        .routes(routes!(admin_report))
        .routes(routes!(admin_report_html))
}

/// The tenant routes, relative to `/tenant/subscriptions/{subid}` (inside its guard).
pub fn tenant_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tenant_list))
        .routes(routes!(tenant_report))
        .routes(routes!(tenant_report_html))
}

/// What a report list asks for.
struct ListQuery {
    subscription: Option<String>,
    kind: Option<String>,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
    after: Option<Uuid>,
    limit: usize,
}

fn time_param(raw: Option<&str>, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    query_param(raw, name)
        .map(|v| {
            OffsetDateTime::parse(&v, &time::format_description::well_known::Rfc3339)
                .map_err(|_| ApiError::BadRequest(format!("{name} '{v}' is not an RFC 3339 time.")))
        })
        .transpose()
}

impl ListQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let kind = query_param(raw, "kind");
        if let Some(kind) = &kind {
            if !crate::domain::FailoverKind::NAMES
                .iter()
                .any(|k| k.eq_ignore_ascii_case(kind))
            {
                return Err(ApiError::BadRequest(format!(
                    "kind '{kind}' is not one of {}.",
                    crate::domain::FailoverKind::NAMES.join(", ")
                )));
            }
        }
        let subscription = query_param(raw, "subscription")
            .map(|s| {
                crate::domain::SubscriptionId::parse(&s)
                    .map(|id| id.to_string())
                    .map_err(|_| ApiError::BadRequest(format!("subscription '{s}' is not a GUID.")))
            })
            .transpose()?;
        Ok(Self {
            subscription,
            kind,
            from: time_param(raw, "from")?,
            to: time_param(raw, "to")?,
            after: query_param(raw, "after")
                .map(|v| {
                    Uuid::parse_str(&v)
                        .map_err(|_| ApiError::BadRequest(format!("after '{v}' is not a job id.")))
                })
                .transpose()?,
            limit: limit_param(raw)?.unwrap_or(100) as usize,
        })
    }
}

/// One line of a report list.
fn summary(run: &RunRecord) -> Value {
    let rfc = |t: Option<OffsetDateTime>| t.map(crate::clock::rfc3339);
    json!({
        "JobId": run.id.to_string(),
        "Kind": run.params["kind"],
        "SubscriptionId": run.subscription_id,
        "RecoveryPlanId": run.params["planId"],
        "SiteJobId": run.params["siteJobId"],
        "State": run.state.as_str(),
        "StartedBy": run.started_by,
        "Trigger": run.trigger,
        "Reason": run.reason,
        "CreatedAt": rfc(Some(run.created_at)),
        "FinishedAt": rfc(run.finished_at),
    })
}

/// Failover jobs matching `query`, newest first, paging through the store as needed.
async fn list(state: &AppState, query: &ListQuery) -> Result<Vec<RunRecord>, ApiError> {
    let mut found = Vec::new();
    let mut after = query.after;
    loop {
        let page = state
            .store
            .list_runs(&RunFilter {
                state: None,
                workflow: Some(FAILOVER.into()),
                subscription_id: query.subscription.clone(),
                parent_id: None,
                after,
                limit: Some(1000),
            })
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.id);
        let full = page.len() == 1000;
        for run in page {
            if query.from.is_some_and(|from| run.created_at < from) {
                // Newest first: everything further is older still.
                return Ok(found);
            }
            let in_range = query.to.is_none_or(|to| run.created_at <= to);
            let kind_ok = query.kind.as_deref().is_none_or(|k| {
                run.params["kind"]
                    .as_str()
                    .is_some_and(|have| have.eq_ignore_ascii_case(k))
            });
            if in_range && kind_ok {
                found.push(run);
                if found.len() == query.limit {
                    return Ok(found);
                }
            }
        }
        if !full {
            break;
        }
    }
    Ok(found)
}

fn json_reply(value: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        value.to_string(),
    )
        .into_response()
}

/// A failover job's report, or 404 (also for a job of another subscription than `only`).
async fn report_of(state: &AppState, job: &str, only: Option<&str>) -> Result<Value, ApiError> {
    let not_found = || ApiError::NotFound(format!("No report of job '{job}' is known."));
    let id = Uuid::parse_str(job.trim()).map_err(|_| not_found())?;
    let run = state
        .store
        .get_run(id)
        .await?
        .filter(|run| run.workflow == FAILOVER)
        .filter(|run| only.is_none_or(|s| run.subscription_id.as_deref() == Some(s)))
        .ok_or_else(not_found)?;
    let steps = state.store.run_steps(id).await?;
    Ok(failover_report(&run, &steps))
}

fn html_reply(report: &Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page is self-contained: forbid it to load or run anything.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        report_html(report),
    )
        .into_response()
}

#[utoipa::path(get, path = "/reports", operation_id = "list_reports", params(("subscription" = Option<String>, Query, description = "A subscription id."), ("kind" = Option<String>, Query, description = "The operation."), ("from" = Option<String>, Query, description = "RFC 3339 time."), ("to" = Option<String>, Query, description = "RFC 3339 time."), ("after" = Option<String>, Query, description = "The last id of the previous page."), ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000.")), responses((status = 200, description = "Failover reports, newest first.", body = super::schemas::ReportList)))]
async fn admin_list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = ListQuery::parse(raw.as_deref())?;
    let runs = list(&state, &query).await?;
    Ok(json_reply(
        json!({ "Reports": runs.iter().map(summary).collect::<Vec<_>>() }),
    ))
}

#[utoipa::path(get, path = "/reports/{job}", params(("job" = String, Path, description = "The failover job (a GUID).")), responses((status = 200, description = "The report.", body = super::schemas::Report)))]
async fn admin_report(
    State(state): State<AppState>,
    Path(job): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json_reply(report_of(&state, &job, None).await?))
}

#[utoipa::path(get, path = "/reports/{job}/html", params(("job" = String, Path, description = "The failover job (a GUID).")), responses((status = 200, description = "The report as a self-contained page.", content_type = "text/html", body = String)))]
async fn admin_report_html(
    State(state): State<AppState>,
    Path(job): Path<String>,
) -> Result<Response, ApiError> {
    Ok(html_reply(&report_of(&state, &job, None).await?))
}

#[utoipa::path(get, path = "/reports", operation_id = "list_reports", params(("kind" = Option<String>, Query, description = "The operation."), ("from" = Option<String>, Query, description = "RFC 3339 time."), ("to" = Option<String>, Query, description = "RFC 3339 time."), ("after" = Option<String>, Query, description = "The last id of the previous page."), ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000.")), responses((status = 200, description = "Failover reports, newest first.", body = super::schemas::ReportList)))]
async fn tenant_list(
    State(state): State<AppState>,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut query = ListQuery::parse(raw.as_deref())?;
    // The tenant sees its own subscription's reports, whatever it asks for.
    query.subscription = Some(sub.id.to_string());
    let runs = list(&state, &query).await?;
    Ok(json_reply(
        json!({ "Reports": runs.iter().map(summary).collect::<Vec<_>>() }),
    ))
}

#[utoipa::path(get, path = "/reports/{job}", params(("job" = String, Path, description = "The failover job (a GUID).")), responses((status = 200, description = "The report.", body = super::schemas::Report)))]
async fn tenant_report(
    State(state): State<AppState>,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
    Path((_, job)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = sub.id.to_string();
    Ok(json_reply(report_of(&state, &job, Some(&id)).await?))
}

#[utoipa::path(get, path = "/reports/{job}/html", params(("job" = String, Path, description = "The failover job (a GUID).")), responses((status = 200, description = "The report as a self-contained page.", content_type = "text/html", body = String)))]
async fn tenant_report_html(
    State(state): State<AppState>,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
    Path((_, job)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = sub.id.to_string();
    Ok(html_reply(&report_of(&state, &job, Some(&id)).await?))
}
