//! Jobs and long-running-operation polling: the `replicationJobs` resources (with their task
//! lists), `operationresults` (202 while running, then the resource or the error) and
//! `replicationOperationStatus` (`Azure-AsyncOperation`), each with `Retry-After` while a job runs.
//!
//! Polling only reads: a job's effects happen when the job runs (see `jobs`), never here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::bodies::{item_json, policy_json};
use super::jobs::{Job, JobState, Op, tasks_json};
use super::resources::{list, not_found, ok};
use super::{Ctx, accepted, arm_error, arm_time, plans};
use crate::lab::LabState;
use crate::lab::world::World;

/// `GET replicationJobs`: every job, in submission order.
pub(super) fn list_jobs(ctx: &Ctx, world: &World, now: OffsetDateTime) -> Response {
    let mut jobs: Vec<&Job> = world.vault.jobs.values().collect();
    jobs.sort_by_key(|j| (j.queued_at, j.id));
    list(jobs.iter().map(|j| job_json(ctx, j, now)).collect())
}

/// `GET replicationJobs/{id}`.
pub(super) fn get_job(ctx: &Ctx, world: &World, now: OffsetDateTime, id: &str) -> Response {
    match Uuid::parse_str(id)
        .ok()
        .and_then(|id| world.vault.jobs.get(&id))
    {
        Some(job) => ok(job_json(ctx, job, now)),
        None => not_found("The job"),
    }
}

/// `GET replicationOperationStatus/{id}`: the `Azure-AsyncOperation` status of a job.
pub(super) fn operation_status(state: &LabState, ctx: &Ctx, world: &World, id: &str) -> Response {
    match Uuid::parse_str(id)
        .ok()
        .and_then(|id| world.vault.jobs.get(&id))
    {
        Some(job) => {
            let status = match job.state {
                JobState::NotStarted | JobState::InProgress => "InProgress",
                JobState::Succeeded => "Succeeded",
                JobState::Failed => "Failed",
            };
            let error = job
                .errors
                .first()
                .map(|(c, m)| json!({"code": c, "message": m}));
            let mut response = ok(json!({
                "id": format!("{}/replicationOperationStatus/{}", ctx.vault_id, job.id),
                "name": job.id, "status": status,
                "startTime": arm_time(job.started_at.unwrap_or(job.queued_at)),
                "endTime": job.ended_at.map(arm_time), "error": error,
            }));
            if !job.state.is_terminal() {
                let retry = state
                    .clock
                    .real_seconds_until(job.expected_end(ctx.operation_seconds));
                if let Ok(v) = retry.to_string().parse() {
                    response.headers_mut().insert("retry-after", v);
                }
            }
            response
        }
        None => not_found("The operation"),
    }
}

fn job_json(ctx: &Ctx, job: &Job, now: OffsetDateTime) -> Value {
    let errors: Vec<Value> = job
        .errors
        .iter()
        .map(|(c, m)| json!({"serviceErrorDetails": {"code": c, "message": m, "possibleCauses": m, "recommendedAction": "Resolve the cause and retry the operation."}, "errorLevel": "Error", "creationTime": job.ended_at.map(arm_time)}))
        .collect();
    let state = job.state.name();
    json!({
        "id": format!("{}/replicationJobs/{}", ctx.vault_id, job.id), "name": job.id,
        "type": "Microsoft.RecoveryServices/vaults/replicationJobs",
        "status": state,
        "error": job.errors.first().map(|(c, m)| json!({"code": c, "message": m})),
        "startTime": job.started_at.map(arm_time), "endTime": job.ended_at.map(arm_time),
        "properties": {
            "activityId": format!("{} ActivityId: {}", job.id, job.id),
            "scenarioName": job.scenario, "friendlyName": job.friendly,
            "state": state, "stateDescription": match job.state { JobState::Succeeded => "Completed", JobState::Failed => "Failed", JobState::InProgress => "InProgress", JobState::NotStarted => "NotStarted" },
            "startTime": job.started_at.map(arm_time), "endTime": job.ended_at.map(arm_time),
            "targetObjectId": job.target.0, "targetObjectName": job.target.1, "targetInstanceType": job.target.2,
            "allowedActions": if job.state.is_terminal() { json!([]) } else { json!(["Cancel"]) },
            "tasks": tasks_json(job, now, &arm_time),
            "errors": errors,
            "childJobs": job.children.iter().map(|c| format!("{}/replicationJobs/{c}", ctx.vault_id)).collect::<Vec<_>>(),
            "customDetails": {"instanceType": match job.op { Op::PlannedFailover | Op::UnplannedFailover { .. } | Op::CancelFailover => "FailoverJobDetails", Op::TestFailover { .. } => "TestFailoverJobDetails", _ => "AsrJobDetails" }, "affectedObjectDetails": {}},
        }
    })
}

/// `GET replicationJobs/{id}/operationresults/{id}`: 202 while the job runs, then its outcome.
pub(super) fn operation_result(
    state: &LabState,
    ctx: &Ctx,
    world: &World,
    now: OffsetDateTime,
    id: &str,
) -> Response {
    let Some(job) = Uuid::parse_str(id)
        .ok()
        .and_then(|id| world.vault.jobs.get(&id))
    else {
        return not_found("The operation");
    };
    match job.state {
        JobState::NotStarted | JobState::InProgress => {
            accepted(state, ctx, job.id, job.expected_end(ctx.operation_seconds))
        }
        JobState::Failed => {
            let (code, message) = job
                .errors
                .first()
                .cloned()
                .unwrap_or_else(|| ("OperationFailed".into(), "The operation failed.".into()));
            arm_error(StatusCode::BAD_REQUEST, &code, message)
        }
        JobState::Succeeded => {
            let path: Vec<String> = job
                .resource_path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let item = job.item.and_then(|i| world.vault.items.get(&i));
            match (item, path.first().map(|s| s.to_ascii_lowercase())) {
                (Some(item), _) => ok(item_json(ctx, world, item, now)),
                (None, Some(first)) if first == "replicationpolicies" => {
                    match world.vault.policies.get(&path[1].to_ascii_lowercase()) {
                        Some(p) => ok(policy_json(ctx, p)),
                        None => StatusCode::OK.into_response(),
                    }
                }
                (None, Some(first)) if first == "replicationrecoveryplans" => {
                    plans::plan_result(ctx, world, &path[1], now)
                }
                _ => StatusCode::OK.into_response(),
            }
        }
    }
}
