//! The admin API's runbooks (list, show, enable/disable, reschedule, start now) and the runbook
//! webhook a provider's SMA schedule calls.
//!
//! The webhook is not behind the admin Basic credentials: it accepts only the runbook's own
//! token (header `x-wapdr-webhook-token` or `?token=`), so handing it to an SMA runbook gives
//! away nothing else. A refused call changes nothing.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contract::{Out, ToWire};
use crate::engine::{EngineError, RunbookView};

use super::AppState;
use super::auth::secrets_match;
use super::error::ApiError;
use super::jobs::{JobView, job_detail, json_body, opt_time};
use super::wire::{Negotiated, Reply, query_param};

/// The header a webhook call carries its token in.
pub const WEBHOOK_TOKEN_HEADER: &str = "x-wapdr-webhook-token";

/// The query parameter a webhook's token may come in instead (SMA schedules call plain URLs).
const WEBHOOK_TOKEN_QUERY: &str = "token";

/// Query parameters that carry secrets, redacted from the request log.
pub(super) const SECRET_QUERY_PARAMETERS: &[&str] = &[WEBHOOK_TOKEN_QUERY];

/// The runbook routes, relative to `/admin`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_runbooks))
        .routes(routes!(get_runbook, update_runbook))
        .routes(routes!(start_runbook))
}

/// The webhook routes, at the root, authenticated by each runbook's token.
pub fn webhook_routes() -> Router<AppState> {
    Router::new().route("/webhooks/runbooks/{name}", post(runbook_webhook))
}

/// A runbook as the admin API shows it; the webhook token only in detail.
pub struct RunbookWire {
    view: RunbookView,
    detail: bool,
}

/// Every runbook.
pub struct RunbookList(Vec<RunbookWire>);

impl ToWire for RunbookWire {
    const XML_ROOT: &'static str = "Runbook";

    fn to_wire(&self) -> Out {
        let view = &self.view;
        let definition = &view.definition;
        let mut members = vec![
            ("Name", Out::Str(definition.name.clone())),
            ("Description", Out::Str(definition.description.clone())),
            ("Workflow", Out::Str(definition.workflow.clone())),
            ("Enabled", Out::Bool(view.enabled)),
            ("Schedule", Out::opt_str(&view.schedule)),
            ("Events", Out::StrList(definition.events.clone())),
            ("Parameters", Out::Str(definition.parameters.to_string())),
            ("Available", Out::Bool(view.available)),
            ("UnavailableReason", Out::opt_str(&view.unavailable_reason)),
            ("LastTick", opt_time(view.last_tick)),
            ("NextTick", opt_time(view.next_tick)),
        ];
        if self.detail {
            members.push(("WebhookToken", Out::Str(view.webhook_token.clone())));
        }
        Out::Obj(members)
    }
}

impl ToWire for RunbookList {
    const XML_ROOT: &'static str = "Runbooks";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "Runbook",
            items: self.0.iter().map(ToWire::to_wire).collect(),
        }
    }
}

/// `GET /admin/runbooks`: every runbook with what is in force and whether it can run.
#[utoipa::path(get, path = "/runbooks", responses((status = 200, description = "The runbooks.", body = Vec<super::schemas::Runbook>)))]
async fn list_runbooks(
    State(state): State<AppState>,
    format: Negotiated,
) -> Result<Reply<RunbookList>, ApiError> {
    let views = state.runbooks.list().await?;
    Ok(Reply::ok(
        format,
        RunbookList(
            views
                .into_iter()
                .map(|view| RunbookWire {
                    view,
                    detail: false,
                })
                .collect(),
        ),
    ))
}

/// `GET /admin/runbooks/{name}`: one runbook, with its webhook token.
#[utoipa::path(get, path = "/runbooks/{name}", params(("name" = String, Path, description = "The runbook name.")), responses((status = 200, description = "The runbook.", body = super::schemas::Runbook)))]
async fn get_runbook(
    State(state): State<AppState>,
    format: Negotiated,
    Path(name): Path<String>,
) -> Result<Reply<RunbookWire>, ApiError> {
    let view = state.runbooks.get(&name).await?;
    Ok(Reply::ok(format, RunbookWire { view, detail: true }))
}

/// The body of a runbook update: what is named changes; `"schedule": null` removes the schedule.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RunbookUpdate {
    enabled: Option<bool>,
    #[serde(deserialize_with = "present")]
    schedule: Option<Option<String>>,
}

/// Tells a member given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(de).map(Some)
}

/// `PUT /admin/runbooks/{name}` with `{"enabled": bool, "schedule": "cron" | null}`; kept across
/// restarts. An invalid cron expression is a 400 naming it, and changes nothing.
#[utoipa::path(put, path = "/runbooks/{name}", params(("name" = String, Path, description = "The runbook name.")), request_body = super::schemas::RunbookSettings, responses((status = 200, description = "The runbook.", body = super::schemas::Runbook)))]
async fn update_runbook(
    State(state): State<AppState>,
    format: Negotiated,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply<RunbookWire>, ApiError> {
    let update: RunbookUpdate = json_body(&headers, &body)?;
    let view = state
        .runbooks
        .update(&name, update.enabled, update.schedule)
        .await?;
    Ok(Reply::ok(format, RunbookWire { view, detail: true }))
}

/// The optional body of a start: parameters over the runbook's defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct StartBody {
    parameters: Option<Value>,
}

/// `POST /admin/runbooks/{name}/start` with `{"parameters": {...}}`: starts it now (202 with the
/// job). A runbook whose workflow this build lacks is refused with 409.
#[utoipa::path(post, path = "/runbooks/{name}/start", params(("name" = String, Path, description = "The runbook name.")), request_body = super::schemas::RunbookStart, responses((status = 202, description = "Started: the job doing it.", body = super::schemas::Job)))]
async fn start_runbook(
    State(state): State<AppState>,
    format: Negotiated,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply<JobView>, ApiError> {
    let body: StartBody = json_body(&headers, &body)?;
    let created = state
        .runbooks
        .start(&name, body.parameters, "api", "admin")
        .await?;
    let job = job_detail(&state, created.id).await?;
    Ok(Reply::with_status(StatusCode::ACCEPTED, format, job))
}

/// `POST /webhooks/runbooks/{name}` with the runbook's token: starts it (202 with the job).
/// 401 without a token, 403 with a wrong one, 409 when disabled or unavailable.
async fn runbook_webhook(
    State(state): State<AppState>,
    format: Negotiated,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Reply<JobView>, ApiError> {
    let view = state.runbooks.get(&name).await?;
    let token = headers
        .get(WEBHOOK_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query_param(query.as_deref(), WEBHOOK_TOKEN_QUERY));
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(ApiError::Unauthorized { realm: "webhook" });
    };
    if !secrets_match(&view.webhook_token, &token) {
        return Err(ApiError::Forbidden(format!(
            "The token is not runbook '{name}''s webhook token."
        )));
    }
    if !view.enabled {
        return Err(ApiError::Conflict(format!("Runbook '{name}' is disabled.")));
    }
    let body: StartBody = json_body(&headers, &body)?;
    let created = state
        .runbooks
        .start(
            &name,
            body.parameters,
            "webhook",
            &format!("webhook {name}"),
        )
        .await?;
    let job = job_detail(&state, created.id).await?;
    Ok(Reply::with_status(StatusCode::ACCEPTED, format, job))
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::UnknownWorkflow(_) => Self::Conflict(err.to_string()),
            EngineError::InvalidParameters { .. } | EngineError::InvalidSchedule { .. } => {
                Self::BadRequest(err.to_string())
            }
            EngineError::UnknownRunbook(_) => Self::NotFound(err.to_string()),
            EngineError::RunbookFile { .. } => Self::Internal(err.into()),
            EngineError::Store(store) => store.into(),
        }
    }
}
