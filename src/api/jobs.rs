//! The admin API's jobs: list workflow runs with filters, show one with its steps and timings,
//! cancel one, and acknowledge a step that waits for an operator.
//!
//! Handlers only read and record through the store; they never run a step themselves.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::contract::{Format, Out, ToWire};
use crate::store::{AckOutcome, CancelOutcome, RunFilter, RunRecord, RunState, StepRecord};

use super::AppState;
use super::error::ApiError;
use super::wire::{Negotiated, Reply, limit_param, query_param, request_format};

/// The job routes, relative to `/admin`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(cancel_job))
        .routes(routes!(acknowledge_step))
}

/// One job (a workflow run), with its steps when shown in detail.
pub struct JobView {
    run: RunRecord,
    steps: Option<Vec<StepRecord>>,
}

/// A page of jobs, newest first.
pub struct JobList(Vec<JobView>);

impl JobList {
    /// The page of `runs`, shown without their steps.
    pub(super) fn of(runs: Vec<RunRecord>) -> Self {
        Self(
            runs.into_iter()
                .map(|run| JobView { run, steps: None })
                .collect(),
        )
    }
}

/// An optional time: null when absent.
pub(super) fn opt_time(time: Option<OffsetDateTime>) -> Out {
    time.map_or(Out::Null, Out::Time)
}

/// Milliseconds between two optional times, when both are known.
fn elapsed_ms(start: Option<OffsetDateTime>, end: Option<OffsetDateTime>) -> Out {
    match (start, end) {
        (Some(start), Some(end)) => {
            Out::Int(i64::try_from((end - start).whole_milliseconds()).unwrap_or(i64::MAX))
        }
        _ => Out::Null,
    }
}

fn step_to_wire(step: &StepRecord) -> Out {
    Out::Obj(vec![
        ("Id", Out::Int(step.id)),
        ("Stage", Out::Int(step.stage)),
        ("Name", Out::Str(step.name.clone())),
        ("Kind", Out::Str(step.kind.clone())),
        ("State", Out::Str(step.state.as_str().into())),
        ("Attempts", Out::Int(step.attempt)),
        ("Retries", Out::Int(step.retries)),
        ("AtLeastOnce", Out::Bool(step.at_least_once)),
        (
            "WaitingFor",
            step.wait.map_or(Out::Null, |w| Out::Str(w.as_str().into())),
        ),
        ("AckPrompt", Out::opt_str(&step.ack_prompt)),
        ("AcknowledgedBy", Out::opt_str(&step.acknowledged_by)),
        ("AckComment", Out::opt_str(&step.ack_comment)),
        ("AcknowledgedAt", opt_time(step.acknowledged_at)),
        ("LeaseOwner", Out::opt_str(&step.lease_owner)),
        ("LeaseExpiresAt", opt_time(step.lease_expires_at)),
        ("NotBefore", opt_time(step.not_before)),
        ("Error", Out::opt_str(&step.error)),
        ("Input", Out::Str(step.input.to_string())),
        (
            "Output",
            step.output
                .as_ref()
                .map_or(Out::Null, |o| Out::Str(o.to_string())),
        ),
        ("StartedAt", opt_time(step.started_at)),
        ("FinishedAt", opt_time(step.finished_at)),
        ("DurationMs", elapsed_ms(step.started_at, step.finished_at)),
    ])
}

impl ToWire for JobView {
    const XML_ROOT: &'static str = "Job";

    fn to_wire(&self) -> Out {
        let run = &self.run;
        let mut members = vec![
            ("Id", Out::Str(run.id.to_string())),
            ("Workflow", Out::Str(run.workflow.clone())),
            ("State", Out::Str(run.state.as_str().into())),
            ("Trigger", Out::Str(run.trigger.clone())),
            ("StartedBy", Out::Str(run.started_by.clone())),
            ("Reason", Out::opt_str(&run.reason)),
            ("SubscriptionId", Out::opt_str(&run.subscription_id)),
            (
                "ParentJobId",
                run.parent_id.map_or(Out::Null, |p| Out::Str(p.to_string())),
            ),
            ("Error", Out::opt_str(&run.error)),
            ("Parameters", Out::Str(run.params.to_string())),
            ("CurrentStage", Out::Int(run.current_stage)),
            ("CreatedAt", Out::Time(run.created_at)),
            ("StartedAt", opt_time(run.started_at)),
            ("FinishedAt", opt_time(run.finished_at)),
            ("DurationMs", elapsed_ms(run.started_at, run.finished_at)),
        ];
        if let Some(steps) = &self.steps {
            members.push((
                "Steps",
                Out::List {
                    item: "Step",
                    items: steps.iter().map(step_to_wire).collect(),
                },
            ));
        }
        Out::Obj(members)
    }
}

impl ToWire for JobList {
    const XML_ROOT: &'static str = "Jobs";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "Job",
            items: self.0.iter().map(ToWire::to_wire).collect(),
        }
    }
}

/// A job with its steps, or 404.
pub(super) async fn job_detail(state: &AppState, id: Uuid) -> Result<JobView, ApiError> {
    let run = state
        .store
        .get_run(id)
        .await?
        .ok_or_else(|| not_found(&id.to_string()))?;
    let steps = state.store.run_steps(id).await?;
    Ok(JobView {
        run,
        steps: Some(steps),
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Job {id} is not known."))
}

fn parse_job_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| not_found(id))
}

/// Reads an optional JSON body into `T` (an empty body is `T::default()`); 415 for a body of
/// another type, 400 naming the problem for invalid JSON.
pub(super) fn json_body<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    // These routes read JSON only: XML or any other type is refused, never guessed at.
    if request_format(headers, body)? != Format::Json {
        return Err(ApiError::UnsupportedMediaType(
            "This route takes a JSON body: send application/json.".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("The request body is not valid: {e}.")))
}

/// `GET /admin/jobs?state=&workflow=&subscription=&parent=&limit=&after=`: jobs newest first
/// (`parent`: the jobs a job started, such as a site failover's); pass the last id of a page as
/// `after` for the next.
#[utoipa::path(get, path = "/jobs", params(("state" = Option<String>, Query, description = "The job state."), ("workflow" = Option<String>, Query, description = "The workflow kind."), ("subscription" = Option<String>, Query, description = "A subscription id."), ("parent" = Option<String>, Query, description = "The job that started them."), ("after" = Option<String>, Query, description = "The last id of the previous page."), ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000.")), responses((status = 200, description = "Jobs, newest first.", body = Vec<super::schemas::Job>)))]
async fn list_jobs(
    State(state): State<AppState>,
    format: Negotiated,
    RawQuery(query): RawQuery,
) -> Result<Reply<JobList>, ApiError> {
    let query = query.as_deref();
    let filter = RunFilter {
        state: match query_param(query, "state") {
            Some(v) => Some(RunState::from_name(&v).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "state '{v}' is not one of Pending, Running, Waiting, Succeeded, Failed, Cancelled."
                ))
            })?),
            None => None,
        },
        workflow: query_param(query, "workflow"),
        subscription_id: query_param(query, "subscription").map(|s| s.to_ascii_lowercase()),
        parent_id: match query_param(query, "parent") {
            Some(v) => Some(Uuid::parse_str(&v).map_err(|_| {
                ApiError::BadRequest(format!("parent '{v}' is not a job id."))
            })?),
            None => None,
        },
        after: match query_param(query, "after") {
            Some(v) => Some(Uuid::parse_str(&v).map_err(|_| {
                ApiError::BadRequest(format!("after '{v}' is not a job id."))
            })?),
            None => None,
        },
        limit: limit_param(query)?,
    };
    let runs = state.store.list_runs(&filter).await?;
    Ok(Reply::ok(
        format,
        JobList(
            runs.into_iter()
                .map(|run| JobView { run, steps: None })
                .collect(),
        ),
    ))
}

/// `GET /admin/jobs/{id}`: one job with its steps (stage, state, attempts, timings, errors).
#[utoipa::path(get, path = "/jobs/{id}", params(("id" = String, Path, description = "The job (a GUID).")), responses((status = 200, description = "The job with its steps.", body = super::schemas::Job)))]
async fn get_job(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<JobView>, ApiError> {
    let id = parse_job_id(&id)?;
    Ok(Reply::ok(format, job_detail(&state, id).await?))
}

/// The optional body of a cancel.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CancelBody {
    by: Option<String>,
}

/// `POST /admin/jobs/{id}/cancel` (`{"by": "..."}` optional): stops the job; running steps see it
/// at their next heartbeat. 409 when the job has already ended.
#[utoipa::path(post, path = "/jobs/{id}/cancel", params(("id" = String, Path, description = "The job (a GUID).")), request_body = super::schemas::Cancellation, responses((status = 200, description = "The job.", body = super::schemas::Job)))]
async fn cancel_job(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply<JobView>, ApiError> {
    let id = parse_job_id(&id)?;
    let body: CancelBody = json_body(&headers, &body)?;
    let by = body.by.unwrap_or_else(|| "admin".into());
    match state.store.cancel_run(id, &by).await? {
        CancelOutcome::Cancelled => {
            let job = job_detail(&state, id).await?;
            crate::metrics::job_ended(&job.run);
            Ok(Reply::ok(format, job))
        }
        CancelOutcome::AlreadyFinal(run_state) => Err(ApiError::Conflict(format!(
            "Job {id} has already ended ({}).",
            run_state.as_str()
        ))),
        CancelOutcome::NotFound => Err(not_found(&id.to_string())),
    }
}

/// The body of an acknowledgement.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct AcknowledgeBody {
    pub(super) by: String,
    pub(super) comment: Option<String>,
}

/// `POST /admin/jobs/{id}/steps/{step}/acknowledge` with `{"by": "...", "comment": "..."}`:
/// completes a step waiting for an operator. 409 when the step is not waiting.
#[utoipa::path(post, path = "/jobs/{id}/steps/{step}/acknowledge", params(("id" = String, Path, description = "The job (a GUID)."), ("step" = String, Path, description = "The step number.")), request_body = super::schemas::Acknowledgement, responses((status = 200, description = "The job.", body = super::schemas::Job)))]
async fn acknowledge_step(
    State(state): State<AppState>,
    format: Negotiated,
    Path((id, step)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply<JobView>, ApiError> {
    let id = parse_job_id(&id)?;
    let body: AcknowledgeBody = json_body(&headers, &body)?;
    if body.by.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "by (who acknowledges) is required.".into(),
        ));
    }
    let job = acknowledge(&state, id, &step, body.by.trim(), body.comment.as_deref()).await?;
    Ok(Reply::ok(format, job))
}

/// Acknowledges step `step` (its number, as text) of job `id` for `by`; the job afterwards.
/// 404 for a step the job does not have, 409 when it is not waiting for an acknowledgement.
pub(super) async fn acknowledge(
    state: &AppState,
    id: Uuid,
    step: &str,
    by: &str,
    comment: Option<&str>,
) -> Result<JobView, ApiError> {
    let step_id: i64 = step
        .parse()
        .map_err(|_| ApiError::NotFound(format!("Job {id} has no step {step}.")))?;
    match state
        .store
        .acknowledge_step(id, step_id, by, comment)
        .await?
    {
        AckOutcome::Acknowledged { run_ended } => {
            let job = job_detail(state, id).await?;
            if run_ended {
                crate::metrics::job_ended(&job.run);
            }
            Ok(job)
        }
        AckOutcome::NotWaiting(step_state) => Err(ApiError::Conflict(format!(
            "Step {step_id} of job {id} is not waiting for an acknowledgement (it is {}).",
            step_state.as_str()
        ))),
        AckOutcome::NotFound => Err(ApiError::NotFound(format!(
            "Job {id} has no step {step_id}."
        ))),
    }
}
