//! Failover of one DR subscription: the provider's `POST /admin/subscriptions/{id}/failover` and
//! the tenant's `POST /tenant/subscriptions/{subid}/failover`, both with
//! `{"kind": "test"|"testCleanup"|"planned"|"unplanned"|"commit"|"reprotect"|"failback",
//! "recoveryPoint": "latest"|"latestAppConsistent"|<time>, "sourceDown": bool, "reason": "..."}`
//! → 202 with the `JobId` of the `failover` run.
//!
//! The rules are the domain's ([`FailoverState::check`]): an operation already running → 409
//! naming its job; not allowed in the current phase → 409 naming the phase and what is allowed;
//! unplanned without `"sourceDown": true` → 400. Starting claims the subscription's failover
//! record (optimistic version, one run per version), so two requests never both start.

use axum::Extension;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tracing::instrument;
use uuid::Uuid;

use crate::contract::{ContractError, FromWire, Node, Out, ToWire};
use crate::domain::{
    DrPhase, DrSubscription, FailoverKind, FailoverRefusal, FailoverState, RecoveryPointChoice,
    RunningFailover, SelfService, SubscriptionId, switch_target,
};
use crate::engine::{StartRequest, start_run};
use crate::store::{RunState, StoreError};
use crate::workflows::{FAILOVER, failover_params};

use super::AppState;
use super::auth::principal;
use super::dr::known_subscription;
use super::error::ApiError;
use super::notification::parse_id;
use super::tenant::TenantSubscription;
use super::wire::{Negotiated, Reply, WapBody};

/// How often the claim is retried when the record changed between reading and saving it.
const SAVE_ATTEMPTS: usize = 5;

/// The admin route, relative to `/admin`.
pub fn admin_routes() -> Router<AppState> {
    Router::new().route("/subscriptions/{id}/failover", post(admin_failover))
}

/// The tenant route, relative to `/tenant/subscriptions/{subid}` (inside its guard).
pub fn tenant_routes() -> Router<AppState> {
    Router::new().route("/failover", post(tenant_failover))
}

/// The body of a failover request.
pub struct FailoverInput {
    kind: String,
    recovery_point: Option<String>,
    source_down: Option<bool>,
    reason: Option<String>,
}

impl FromWire for FailoverInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            kind: node.required_str(&["kind", "Kind"])?,
            recovery_point: node.optional_str(&["recoveryPoint", "RecoveryPoint"])?,
            source_down: node.optional_bool(&["sourceDown", "SourceDown"])?,
            reason: node.optional_str(&["reason", "Reason"])?,
        })
    }
}

impl FailoverInput {
    /// The operation asked for; 400 for an unknown kind or options the kind does not take.
    fn kind(&self) -> Result<FailoverKind, ApiError> {
        let point = match &self.recovery_point {
            Some(text) => RecoveryPointChoice::parse(text).map_err(ApiError::BadRequest)?,
            None => RecoveryPointChoice::Latest,
        };
        let kind = FailoverKind::from_name(&self.kind, point).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "kind '{}' is not one of {}.",
                self.kind,
                FailoverKind::NAMES.join(", ")
            ))
        })?;
        let unplanned = matches!(kind, FailoverKind::UnplannedFailover { .. });
        if !unplanned && self.recovery_point.is_some() {
            return Err(ApiError::BadRequest(
                "recoveryPoint applies to an unplanned failover only.".into(),
            ));
        }
        if !unplanned && self.source_down == Some(true) {
            return Err(ApiError::BadRequest(
                "sourceDown applies to an unplanned failover only.".into(),
            ));
        }
        Ok(kind)
    }
}

/// The answer: the job started for the operation.
pub struct FailoverStarted {
    subscription_id: SubscriptionId,
    kind: FailoverKind,
    job_id: Uuid,
}

impl ToWire for FailoverStarted {
    const XML_ROOT: &'static str = "Failover";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("SubscriptionId", Out::Str(self.subscription_id.to_string())),
            ("Kind", Out::Str(self.kind.as_str().into())),
            ("JobId", Out::Str(self.job_id.to_string())),
        ])
    }
}

/// `POST /admin/subscriptions/{id}/failover`: any operation the rules allow.
#[instrument(skip_all, fields(subscription_id = %path_id), err(Debug))]
async fn admin_failover(
    State(state): State<AppState>,
    format: Negotiated,
    headers: HeaderMap,
    Path(path_id): Path<String>,
    WapBody(input): WapBody<FailoverInput>,
) -> Result<Reply<FailoverStarted>, ApiError> {
    let id: SubscriptionId = parse_id(&path_id)?;
    let kind = input.kind()?;
    known_subscription(&state, &path_id).await?;
    let by = principal(&headers).unwrap_or_else(|| "admin".into());
    let started = start_failover(&state, id, kind, &input, by).await?;
    Ok(Reply::with_status(StatusCode::ACCEPTED, format, started))
}

/// `POST /tenant/subscriptions/{subid}/failover`: a drill and its cleanup when the plan's
/// SelfService is Drill; every operation but an unplanned failover when it is Full; 403
/// otherwise, and while the subscription is not active.
#[instrument(skip_all, fields(subscription_id = %sub.id), err(Debug))]
async fn tenant_failover(
    State(state): State<AppState>,
    format: Negotiated,
    headers: HeaderMap,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
    WapBody(input): WapBody<FailoverInput>,
) -> Result<Reply<FailoverStarted>, ApiError> {
    let kind = input.kind()?;
    let drill_only = match sub.effective_quota()?.self_service {
        SelfService::None => {
            return Err(ApiError::Forbidden(
                "Your plan does not allow you to run failovers yourself; ask your provider.".into(),
            ));
        }
        SelfService::Drill => true,
        SelfService::Full => false,
    };
    if !kind.tenant_may_start(drill_only) {
        return Err(ApiError::Forbidden(format!(
            "Your plan allows you {}; '{}' is for your provider.",
            if drill_only {
                "DR drills (test and testCleanup) only"
            } else {
                "every operation but an unplanned failover"
            },
            kind.as_str()
        )));
    }
    if !sub.tenant_may_act() {
        return Err(ApiError::Forbidden(
            "The subscription is not active: failovers are not allowed.".into(),
        ));
    }
    let by = principal(&headers).unwrap_or_else(|| sub.admin_id.clone());
    let started = start_failover(&state, sub.id, kind, &input, by).await?;
    Ok(Reply::with_status(StatusCode::ACCEPTED, format, started))
}

impl From<FailoverRefusal> for ApiError {
    fn from(refusal: FailoverRefusal) -> Self {
        match refusal {
            FailoverRefusal::SourceNotFenced => Self::BadRequest(refusal.to_string()),
            other => Self::Conflict(other.to_string()),
        }
    }
}

/// Checks the rules, claims the subscription's failover record and starts the run.
async fn start_failover(
    state: &AppState,
    id: SubscriptionId,
    kind: FailoverKind,
    input: &FailoverInput,
    by: String,
) -> Result<FailoverStarted, ApiError> {
    let dr = state
        .store
        .get_dr_subscription(id)
        .await?
        .filter(|dr| dr.phase != DrPhase::Disabled)
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "Disaster recovery is not enabled for subscription {id}."
            ))
        })?;
    if dr.phase != DrPhase::Enabled {
        return Err(ApiError::Conflict(format!(
            "Disaster recovery of subscription {id} is {}: failover needs it Enabled.",
            dr.phase.as_str()
        )));
    }
    let (source, _) = switch_target(
        dr.primary_stamp_id,
        dr.recovery_stamp_id,
        dr.active_stamp_id,
    )
    .map_err(ApiError::Conflict)?;
    let on_recovery = Some(source) == dr.recovery_stamp_id;
    let mut record = state
        .store
        .get_failover(id)
        .await?
        .unwrap_or_else(|| FailoverState::new(id));
    let running = last_job_running(state, &record).await?;
    record.check(kind, running, on_recovery, input.source_down == Some(true))?;
    let reason = input.reason.clone().filter(|r| !r.trim().is_empty());
    let request = StartRequest {
        workflow: FAILOVER.into(),
        params: failover_params(id, kind),
        trigger: "api".into(),
        started_by: by.clone(),
        reason: Some(
            reason
                .clone()
                .unwrap_or_else(|| format!("{} requested", kind.as_str())),
        ),
        // One run per version of the record: of two requests racing on the same version, the
        // second finds the first's run and is refused.
        dedupe_key: Some(format!("{FAILOVER}:{id}:v{}", record.version)),
    };
    let created = start_run(&state.store, &state.registry, request)
        .await
        .map_err(ApiError::from)?;
    if !created.created {
        return Err(FailoverRefusal::Running {
            kind: "failover".into(),
            job_id: created.id,
        }
        .into());
    }
    let started_at = state.store.database_now().await?;
    for _ in 0..SAVE_ATTEMPTS {
        record.running = Some(RunningFailover {
            kind: kind.as_str().into(),
            job_id: created.id,
            requested_by: by.clone(),
            reason: reason.clone(),
            started_at,
        });
        match state.store.save_failover(&record).await {
            Ok(_) => break,
            // The run's own steps wrote the record meanwhile: record the job on the new version.
            Err(StoreError::Conflict) => {
                record = state
                    .store
                    .get_failover(id)
                    .await?
                    .unwrap_or_else(|| FailoverState::new(id));
            }
            Err(other) => return Err(other.into()),
        }
    }
    tracing::info!(subscription_id = %id, kind = kind.as_str(), job_id = %created.id, by = %by, "failover started");
    Ok(FailoverStarted {
        subscription_id: id,
        kind,
        job_id: created.id,
    })
}

/// Whether the job recorded as the subscription's last operation is still under way.
async fn last_job_running(state: &AppState, record: &FailoverState) -> Result<bool, ApiError> {
    let Some(running) = &record.running else {
        return Ok(false);
    };
    Ok(state
        .store
        .get_run(running.job_id)
        .await?
        .is_some_and(|run| {
            !matches!(
                run.state,
                RunState::Succeeded | RunState::Failed | RunState::Cancelled
            )
        }))
}

/// Where failover stands, for the DR views: the phase, what may start now, the last operation
/// and its job, and the work left pending (a subscription that never failed over is
/// `Replicating`); null when DR is off.
pub(super) fn failover_view(dr: Option<&DrSubscription>, state: Option<&FailoverState>) -> Out {
    let Some(dr) = dr else {
        return Out::Null;
    };
    let on_recovery = dr.active_stamp_id.is_some() && dr.active_stamp_id == dr.recovery_stamp_id;
    let state = state
        .cloned()
        .unwrap_or_else(|| FailoverState::new(dr.subscription_id));
    let running = state.running.as_ref();
    let list = |item, items: Vec<String>| Out::List {
        item,
        items: items.into_iter().map(Out::Str).collect(),
    };
    Out::Obj(vec![
        ("Phase", Out::Str(state.phase.as_str().into())),
        (
            "Allowed",
            list(
                "Operation",
                state
                    .phase
                    .allowed(on_recovery)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            ),
        ),
        (
            "LastOperation",
            running.map_or(Out::Null, |r| Out::Str(r.kind.clone())),
        ),
        (
            "LastJobId",
            running.map_or(Out::Null, |r| Out::Str(r.job_id.to_string())),
        ),
        ("Pending", list("Note", state.pending.clone())),
    ])
}
